"""Attempt: the video with the skeleton over it, the 3D skeleton in the wall frame and the move timeline, all in
one player that plays and steps in the browser (dashboard.player); edits at the playhead; the selected move's
correction form, joint angles and history below."""

import numpy as np
import streamlit as st

from cruxlab.joints import LIMB_TITLES
from dashboard import components as ui
from dashboard import data
from dashboard import figures as fg
from dashboard.player import PlayerEvent, TrackView, attempt_track, player
from moves.calibration import SURE

ss = st.session_state
PLAYER_KEY = "attempt_player"

# The header (title line, attempt picker) has its place at the top but is drawn after the player: the browser
# fetches each kind of widget's code on first use, and the player's (plus its data and video) then comes first
# instead of queueing behind the picker's on a cold page (benchmarks/bench_player.py: page ready).
header = st.container()
df = data.attempts()
aid = ui.current_attempt(df)
data.prefetch_attempt(aid)
row = df[df["attempt_id"] == aid].iloc[0]
info = data.attempt_info(aid)
T, fps = info.n_frames, info.fps
all_moves = data.moves(aid, include_deleted=True)
moves = all_moves[~all_moves["deleted"]].reset_index(drop=True)

# ------------------------------------------------------------------------------------ player
ss.setdefault("move_id", None)
ss.setdefault("player_rev", 0)
ss.setdefault("seek_nonce", 0)
if ss.get("move_id") not in all_moves["move_id"].tolist():
    ss["move_id"] = None


def _seek_to(frame: int) -> None:
    ss["seek_nonce"] += 1
    ss["player_seek"] = (int(frame), f"{aid}-{ss['seek_nonce']}")


def on_player_event(ev: PlayerEvent) -> None:
    """An action in the player: select a move, or an edit at the playhead (signed with the coach's name)."""
    ss[ui.FULL_PAGE_KEY] = True  # 'ready' (first paint done), or the coach acted before it: draw everything
    if ev.kind == "ready":
        return
    ss["player_frame"] = ev.frame
    ss["player_rev"] += 1
    if ev.kind == "select":
        ss["move_id"] = ev.move_id
        return
    if ev.kind == "add":
        ss["add_open"] = True
        ss["add_attempt-start"] = int(min(ev.frame, T - 1))
        ss["add_attempt-end"] = int(min(ev.frame + round(fps), T - 1))
        ui.flash(f"New move from frame {ev.frame}: choose its label and limb below, then “Add move”.", "info")
        return
    if ev.kind == "review":
        ui.review(aid, bool(ev.reviewed))
        return
    if not ui.need_coach():
        return
    ss["move_id"] = ev.move_id
    if ev.kind == "confirm":
        ui.confirm(ev.move_id)
    elif ev.kind == "retime":
        ui.run_edit(lambda: data.edit_move(ev.move_id, ui.coach(), start_frame=ev.start, end_frame=ev.end),
                    f"Saved edit #{{result}}: move #{ev.move_id} now covers frames {ev.start}–{ev.end}.")
    elif ev.kind == "relabel":
        ui.run_edit(lambda: data.edit_move(ev.move_id, ui.coach(), label=ev.label),
                    f"Saved edit #{{result}}: move #{ev.move_id} is now a {ev.label}.")


flash_slot = st.container()  # always here, so the player below keeps its place on the page (and its playhead)
video_note = st.container()
track = attempt_track(aid)
if info.video_path and track.media is None:
    with video_note:
        reason = "is not on disk any more" if not data.video_exists(info.video_path) else "cannot be played"
        st.info(f"The video `{info.video_path}` {reason}; showing the rendered skeleton on the wall instead. "
                "Move the file back to see the overlay.", icon=":material/videocam_off:")
seek = ss.pop("player_seek", None)
rv = data.review_state(aid)
review = {"reviewed": rv.reviewed, "complete": rv.complete, "by": rv.reviewed_by, "n_moves": rv.n_moves,
          "n_labelled": rv.n_labelled}
wall = data.wall_interval(aid)
on_wall = None if wall is None else (wall.start_frame, wall.end_frame, f"{wall.start_reason} → {wall.end_reason}")
# First paint: a session's first page (a new browser tab opened on an attempt) draws the player and the title,
# and the widgets (attempt and move pickers, forms, the sidebar) once the player shows its first frame (its
# 'ready' event reruns the page). Their code would otherwise be fetched while the player fetches its own code,
# data and video, from a server that answers a few requests at a time: 0.3 s later on 2 busy cores
# (benchmarks/bench_player.py). Nothing is lost by not drawing them: a session's first run has no widget state.
first_paint = not ss.get(ui.FULL_PAGE_KEY)
player([TrackView(track, moves, on_wall=on_wall)], key=PLAYER_KEY, editable=True, selected_move=ss.get("move_id"),
       seek=seek, review=review, low_confidence=SURE, on_event=on_player_event, revision=ss["player_rev"],
       notify_ready=first_paint,
       # a tighter top margin: player controls and timeline stay above the fold on a laptop screen
       page_css="@media (min-width: 700px) {[data-testid='stMainBlockContainer']{padding-top:2.2rem}}")
with header:
    head_l, head_r = st.columns([3, 2], vertical_alignment="bottom")
    if not first_paint:  # (the picker comes after the first paint; the title holds the header's height meanwhile)
        with head_r:
            ui.attempt_picker(df, key="attempt_pick_view")
    with head_l:
        problem = ui.problem_title(info.problem, row["grade"], row["wall"])
        outcome = ui.OUTCOME_BADGES.get(info.outcome or "unknown", info.outcome)
        st.subheader(info.name, anchor=False)
        st.markdown(f"**{info.climber}** · {problem} · {outcome} · {row['date']:%d %b %Y %H:%M} · "
                    f"{T / fps:.1f} s ({T} frames at {fps:g} fps) · {len(moves)} moves · "
                    f"{100 * np.nan_to_num(row['moving_fraction']):.0f} % moving · "
                    f"{int(all_moves['corrected'].sum())} corrected",
                    help="Corrected: moves a coach relabelled, retimed, deleted or added (net of undos)")
if first_paint:
    st.stop()  # (app.py leaves the sidebar out of this run too)
with flash_slot:
    ui.show_flash(as_toast=True)  # a toast: a message above the player would push the timeline below the fold

# ------------------------------------------------------------------------------------ selected move
titles = {int(r["move_id"]): ui.move_title(r, fps) + (" (deleted)" if r["deleted"] else "")
          for _, r in all_moves.sort_values(["start_frame", "move_id"]).iterrows()}


def _picked() -> None:
    move_id = ss["move_pick"]
    if move_id is not None and move_id not in titles:
        return  # the browser sent a title that changed meanwhile (the move was just relabelled): keep the selection
    ss["move_id"] = move_id
    if move_id is not None:
        _seek_to(int(all_moves.set_index("move_id").loc[move_id, "start_frame"]))


ss["move_pick"] = ss.get("move_id")
pick_col, undo_col = st.columns([4, 1], vertical_alignment="bottom")
pick_col.selectbox("Selected move", list(titles), format_func=titles.get, key="move_pick",
                   placeholder="click a move in the timeline, or pick one here", on_change=_picked)
with undo_col:
    ui.undo_button(aid, key="undo_attempt")
sel = all_moves[all_moves["move_id"] == ss.get("move_id")]
if len(sel):
    mv = sel.iloc[0]
    ui.move_editor(mv, T, fps, key="edit_attempt")
    if not mv["deleted"]:
        s, e = int(mv["start_frame"]), int(mv["end_frame"])
        pad = int(0.5 * fps)
        lo, hi = max(0, s - pad), min(T - 1, e + pad)
        names, angles = data.joint_angles(aid)
        st.markdown(f"**Joint angles around the {mv['label']}** ({LIMB_TITLES.get(mv['limb'], mv['limb'])}, "
                    f"{s / fps:.1f}–{(e + 1) / fps:.1f} s; 180° = straight)")
        st.plotly_chart(fg.angles_figure(angles[lo:hi + 1], names, fps, lo, move=(s, e), label=mv["label"]),
                        key="angles", config={"displaylogo": False})
# Expanders run their content only when open (on_change="rerun"): a closed one sends no widgets, so a cold page
# does not fetch the code of number inputs, tables and download buttons before the coach asks for them.
if ss.pop("add_open", False):  # the player's "add here" opens the form with the playhead's frames
    ss["attempt_add_box"] = True
with st.expander("Add a move the model missed", icon=":material/add_circle:", key="attempt_add_box",
                 on_change="rerun") as box:
    if box.open:
        ui.add_move_form(aid, T, fps, int(ss.get("player_frame", 0)), key="add_attempt")
with st.expander("Label history of this attempt", icon=":material/history:", key="attempt_history_box",
                 on_change="rerun") as box:
    if box.open:
        ui.history_table(aid)
with st.expander("Export: clip of the move, the attempt's data", icon=":material/download:",
                 key="attempt_export_box", on_change="rerun") as box:
    if box.open:
        ui.export_panel(aid, info.name, sel.iloc[0] if len(sel) else None, fps)
