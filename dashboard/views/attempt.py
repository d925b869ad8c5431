"""Attempt: the video with the skeleton drawn over it (or a rendered view), the 3D skeleton in the wall frame,
frame slider and playback in sync with both, the move timeline (click a move to jump to it), the joint angles
of the selected move, and its correction."""

import time

import numpy as np
import streamlit as st

from dashboard import components as ui
from dashboard import data
from dashboard import figures as fg
from dashboard.figures import LIMB_TITLES

ss = st.session_state
TICK_S = 0.35          # playback refresh period (the frame itself follows the wall clock)
TRAIL_S = 1.0          # effector trails: the last second
SPEEDS = (0.25, 0.5, 1.0, 2.0)

df = data.attempts()
head_l, head_r = st.columns([3, 2], vertical_alignment="bottom")
with head_r:
    aid = ui.attempt_picker(df, key="attempt_pick_view")
row = df[df["attempt_id"] == aid].iloc[0]
info = data.attempt_info(aid)
sk = data.skeleton(aid)
cams = data.cameras(aid)
wall = data.wall_points(aid)
moves = data.moves(aid)
T, fps = sk.n_frames, sk.fps
bounds = fg.scene_bounds(sk.keypoints, None if wall is None else wall.xyz)
video_ok = data.video_exists(info.video_path)

with head_l:
    st.title(info.name)
    problem = ui.problem_title(info.problem, row["grade"], row["wall"])
    outcome = ui.OUTCOME_BADGES.get(info.outcome or "unknown", info.outcome)
    st.markdown(f"**{info.climber}** · {problem} · {outcome} · {row['date']:%d %b %Y %H:%M}")
m = st.columns(5)
m[0].metric("Duration", f"{T / fps:.1f} s", help=f"{T} frames at {fps:g} fps")
m[1].metric("Moves", len(moves))
m[2].metric("Moving", f"{100 * np.nan_to_num(row['moving_fraction']):.0f} %", help="Share of time in (non-static) moves")
m[3].metric("Camera", {"sfm": "SfM", "rotation-only": "rotation only"}.get(info.camera_model, "none"),
            help="How the cameras were recovered (none for imported skeletons)")
m[4].metric("Corrections", int(data.moves(aid, include_deleted=True)["corrected"].sum()),
            help="Moves a coach relabelled, retimed, deleted or added (net of undos)")
if info.video_path and not video_ok:
    st.info(f"The video `{info.video_path}` is not on disk any more; showing the rendered skeleton instead. "
            "Move the file back to see the overlay.", icon=":material/videocam_off:")

# ------------------------------------------------------------------------------------ player state
ss.setdefault("cur_frame", 0)
ss.setdefault("playing", False)
ss.setdefault("speed", 1.0)
ss["cur_frame"] = int(min(max(ss["cur_frame"], 0), T - 1))
move_ids = moves["move_id"].astype(int).tolist()
if ss.get("move_id") not in move_ids + [None]:
    deleted = data.moves(aid, include_deleted=True)
    if ss.get("move_id") not in deleted["move_id"].tolist():
        ss["move_id"] = None


def _app_rerun() -> None:
    ss["_app_rerun"] = True


def _seek(frame: int) -> None:
    ss["cur_frame"] = int(min(max(frame, 0), T - 1))
    if ss["playing"]:
        ss["_anchor"] = (time.monotonic(), ss["cur_frame"])


def _play() -> None:
    if ss["playing"]:
        ss["playing"] = False
    else:
        if ss["cur_frame"] >= T - 1:
            ss["cur_frame"] = 0
        ss["playing"] = True
        ss["_anchor"] = (time.monotonic(), ss["cur_frame"])
    _app_rerun()  # the playback timer is set when the page (not the fragment) runs


def _select_move(move_id: int | None, start: int | None) -> None:
    ss["move_id"] = move_id
    if start is not None:
        _seek(start)
    _app_rerun()  # the editor below the player shows the selected move


def _clicked() -> None:
    hit = fg.move_from_selection(ss.get("timeline", {}).get("selection"))
    if hit is not None:
        ss["playing"] = False
        _select_move(*hit)


def _neighbour_move(direction: int) -> None:
    starts = moves.sort_values(["start_frame", "move_id"])
    cur = ss["cur_frame"]
    pick = starts[starts["start_frame"] > cur] if direction > 0 else starts[starts["start_frame"] < cur]
    if len(pick):
        r = pick.iloc[0] if direction > 0 else pick.iloc[-1]
        _select_move(int(r["move_id"]), int(r["start_frame"]))


def _advance() -> None:
    """While playing, the frame follows the wall clock (so playback runs in real time at any render speed)."""
    if not ss["playing"]:
        return
    t0, f0 = ss.get("_anchor", (time.monotonic(), ss["cur_frame"]))
    frame = f0 + int((time.monotonic() - t0) * fps * ss["speed"])
    if frame >= T - 1:
        frame = T - 1
        ss["playing"] = False
        _app_rerun()
    ss["cur_frame"] = frame


def _frame_image(frame: int) -> tuple[np.ndarray, str]:
    trails = fg.effector_trails(sk.keypoints, frame, int(TRAIL_S * fps))
    if video_ok and cams is not None:
        vf = info.video_start_frame + frame * info.video_frame_step
        got = data.video_frame(info.video_path, vf, max_height=640)
        if got is not None:
            img, scale = got
            over = fg.overlay_frame(img, sk.keypoints[frame], sk.confidence[frame], cams.K[frame], cams.R[frame],
                                    cams.t[frame], scale)
            flag = "" if cams.registered[frame] else " · camera interpolated"
            return over, f"video frame {vf}{flag}"
    return fg.skeleton_view(wall_view(), sk.keypoints[frame], sk.confidence[frame], trails=trails), \
        "rendered view of the wall (no video)"


def wall_view() -> fg.WallView:
    if "_wall_view" not in ss or ss["_wall_view"][0] != aid:
        ss["_wall_view"] = (aid, fg.wall_view(sk, 640, None if wall is None else wall.xyz,
                                              None if wall is None else wall.rgb))
    return ss["_wall_view"][1]


@st.fragment(run_every=TICK_S if ss["playing"] else None)
def player() -> None:
    if ss.pop("_app_rerun", False):
        st.rerun(scope="app")
    _advance()
    frame = ss["cur_frame"]
    left, right = st.columns([1, 1])
    img, source = _frame_image(frame)
    with left:
        st.image(img, width="stretch")
        st.caption(f"Frame {frame} / {T - 1} · {frame / fps:.2f} s · {source}")
    with right:
        trails = fg.effector_trails(sk.keypoints, frame, int(TRAIL_S * fps))
        st.plotly_chart(
            fg.skeleton_3d_figure(sk.keypoints[frame], bounds, wall_xyz=None if wall is None else wall.xyz,
                                  wall_rgb=None if wall is None else wall.rgb, wall_normal=sk.wall_normal,
                                  wall_point=sk.wall_point, trails=trails, height=520),
            key="view3d", config={"displaylogo": False})
        st.caption("3D skeleton in the wall frame (drag to orbit) · dotted: hand and foot paths of the last second")

    c = st.columns([1, 1, 1.4, 1, 1, 10, 2.2], vertical_alignment="center")
    c[0].button("", key="to_start", icon=":material/skip_previous:", on_click=_seek, args=(0,), help="First frame")
    c[1].button("", key="prev_move", icon=":material/fast_rewind:", on_click=_neighbour_move, args=(-1,),
                help="Previous move")
    c[2].button("", key="play", icon=":material/pause:" if ss["playing"] else ":material/play_arrow:",
                on_click=_play, type="primary", help="Pause" if ss["playing"] else "Play")
    c[3].button("", key="next_move", icon=":material/fast_forward:", on_click=_neighbour_move, args=(1,),
                help="Next move")
    c[4].button("", key="step", icon=":material/skip_next:", on_click=_seek, args=(frame + 1,), help="Next frame")
    ss["frame_slider"] = frame
    c[5].slider("Frame", 0, T - 1, key="frame_slider", label_visibility="collapsed",
                on_change=lambda: _seek(ss["frame_slider"]))
    c[6].selectbox("Speed", SPEEDS, format_func=lambda s: f"{s:g}×", key="speed", label_visibility="collapsed")

    st.plotly_chart(fg.timeline_figure(moves, T, fps, frame=frame, selected_move=ss.get("move_id")),
                    key="timeline", on_select=_clicked, selection_mode="points", config={"displaylogo": False})
    st.caption("Moves per limb; colour = label, paler = less confident, ✎ = corrected by a coach. "
               "Click a move to jump to it.")

    sel = moves[moves["move_id"] == ss.get("move_id")]
    if len(sel):
        mv = sel.iloc[0]
        s, e = int(mv["start_frame"]), int(mv["end_frame"])
        pad = int(0.5 * fps)
        lo, hi = max(0, s - pad), min(T - 1, e + pad)
        names, angles = data.joint_angles(aid)
        st.markdown(f"**Joint angles around the {mv['label']}** ({LIMB_TITLES.get(mv['limb'], mv['limb'])}, "
                    f"{s / fps:.1f}–{(e + 1) / fps:.1f} s; 180° = straight)")
        st.plotly_chart(fg.angles_figure(angles[lo:hi + 1], names, fps, lo, move=(s, e), frame=frame,
                                         label=mv["label"]), key="angles", config={"displaylogo": False})


player()

# ------------------------------------------------------------------------------------ correction
st.divider()
st.subheader("Selected move")
ui.show_flash()
all_moves = data.moves(aid, include_deleted=True)
titles = {int(r["move_id"]): ui.move_title(r, fps) + (" (deleted)" if r["deleted"] else "")
          for _, r in all_moves.sort_values(["start_frame", "move_id"]).iterrows()}
ss["move_pick"] = ss.get("move_id")
pick_col, undo_col = st.columns([4, 1], vertical_alignment="bottom")
pick_col.selectbox("Move", list(titles), format_func=titles.get, key="move_pick",
                   placeholder="click a move in the timeline, or pick one here",
                   on_change=lambda: _select_move(ss["move_pick"], None if ss["move_pick"] is None else
                                                  int(all_moves.set_index("move_id").loc[ss["move_pick"],
                                                                                         "start_frame"])))
with undo_col:
    ui.undo_button(aid, key="undo_attempt")
sel = all_moves[all_moves["move_id"] == ss.get("move_id")]
if len(sel):
    ui.move_editor(sel.iloc[0], T, fps, key="edit_attempt")
with st.expander("Add a move the model missed", icon=":material/add_circle:"):
    ui.add_move_form(aid, T, fps, ss["cur_frame"], key="add_attempt")
with st.expander("Label history of this attempt", icon=":material/history:"):
    ui.history_table(aid)
