"""Widgets shared by several pages: the attempt picker, the label editor, undo and the label history.

They render and call `dashboard.data`; nothing here opens a connection. Edits run in widget callbacks, so
the page that renders afterwards already shows the corrected moves; the outcome is shown once as a
"flash" message. Every edit needs the coach's name (sidebar), recorded in the label history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dt_time

import pandas as pd
import streamlit as st

from cruxlab.errors import CruxlabError
from cruxlab.metadata import EARLIEST_DATE, OUTCOMES
from cruxlab.paths import safe_filename
from cruxlab.joints import LIMB_TITLES, LIMBS
from cruxlab.labels import MOVE_LABELS
from dashboard import data

ss = st.session_state
COACH_KEY = "coach"
#: Session state: this session has had a whole page (sidebar and all). Until then the attempt page draws only its
#: player and the rest once the player shows its first frame (views/attempt.py: first paint).
FULL_PAGE_KEY = "_cruxlab_full_page"
#: Markdown badges for attempt outcomes (tables show the plain word).
OUTCOME_BADGES = {"top": ":green-badge[:material/flag: top]", "fall": ":red-badge[:material/south: fall]",
                  "unknown": ":gray-badge[outcome unknown]"}


# ------------------------------------------------------------------------------------------ messages
def flash(message: str, kind: str = "success") -> None:
    """Show `message` once, at the next show_flash() (edits happen in callbacks, before the page renders)."""
    ss["_flash"] = (kind, message)


def show_flash(as_toast: bool = False) -> None:
    """Show the pending message: in the page, or as a toast (pages where nothing may shift the layout)."""
    kind, message = ss.pop("_flash", (None, None))
    if as_toast and kind is not None:
        st.toast(message, icon={"success": ":material/check_circle:", "error": ":material/error:"}.get(
            kind, ":material/info:"), duration="long" if kind == "error" else "short")
        return
    if kind == "success":
        st.success(message, icon=":material/check_circle:")
    elif kind == "error":
        st.error(message, icon=":material/error:")
    elif kind == "info":
        st.info(message, icon=":material/info:")


def problem_title(problem: str | None, grade: str | None = None, wall: str | None = None) -> str:
    """"Red 5 (6B+, cave)", "Red 5 (6B+)", "Red 5", or "no problem set": missing details are left out."""
    if not present(problem):
        return "no problem set"
    details = ", ".join(str(v) for v in (grade, wall) if present(v))
    return f"{problem} ({details})" if details else str(problem)


def present(value) -> bool:
    """False for None, NaN/NA and blank text (what a missing database value arrives as in pandas)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    return not bool(pd.isna(value)) if pd.api.types.is_scalar(value) else True


def coach() -> str:
    return (ss.get(COACH_KEY) or "").strip()


# --------------------------------------------------------------------------------------- selection
def attempt_labels(df: pd.DataFrame) -> dict[int, str]:
    """attempt_id -> "name — climber · problem · date" for pickers (vectorised: stores hold 10k attempts)."""
    text = (df["attempt"] + " — " + df["climber"] + " · " + df["problem"].fillna("no problem") + " · "
            + df["date"].dt.strftime("%d %b %Y").fillna(""))
    return dict(zip(df["attempt_id"].astype(int), text))


def select_attempt(attempt_id: int) -> None:
    """Make `attempt_id` the current attempt of every page and reset the player."""
    if ss.get("attempt_id") != attempt_id:
        ss["attempt_id"] = int(attempt_id)
        ss["cur_frame"] = 0
        ss["move_id"] = None
        ss["playing"] = False


def current_attempt(df: pd.DataFrame) -> int:
    """The attempt shown by the Attempt and Labels pages: the session's choice, else ?attempt= from the URL,
    else the most recent attempt."""
    ids = set(df["attempt_id"].tolist())
    cur = ss.get("attempt_id")
    if cur not in ids:
        try:
            cur = int(st.query_params.get("attempt", ""))
        except ValueError:
            cur = None
        if cur not in ids:
            cur = int(df.sort_values("date").iloc[-1]["attempt_id"])
        select_attempt(cur)
    return int(cur)


def attempt_picker(df: pd.DataFrame, key: str, label: str = "Attempt") -> int:
    """A selectbox of attempts synced with the session's current attempt (and the URL's ?attempt=)."""
    cur = current_attempt(df)
    labels = attempt_labels(df)
    ss[key] = cur

    def picked() -> None:
        select_attempt(ss[key])

    st.selectbox(label, list(labels), format_func=labels.get, key=key, on_change=picked)
    st.query_params["attempt"] = str(cur)
    return cur


# ------------------------------------------------------------------------------------------ metadata
NO_PROBLEM = "(no problem)"
_FIELD_TITLES = {"climber": "climber", "problem": "problem", "grade": "grade", "outcome": "outcome",
                 "recorded_at": "date"}


def _shown(value) -> str:
    if not present(value):
        return "—"
    return f"{value:%d %b %Y %H:%M}" if hasattr(value, "strftime") else str(value)


def _save_metadata(attempt_id: int, form_key: str, initial_grade: str) -> None:
    v = {f: ss.get(f"{form_key}-{f}") for f in ("climber", "problem", "grade", "outcome", "day", "time")}
    when = None
    if v["day"] is not None:
        when = datetime.combine(v["day"], v["time"] or dt_time(0, 0))
    fields = dict(climber=v["climber"], problem=None if v["problem"] in (None, NO_PROBLEM) else v["problem"],
                  outcome=None if v["outcome"] == "—" else v["outcome"], recorded_at=when)
    if (v["grade"] or "").strip() != initial_grade:  # untouched: a newly chosen problem keeps its own grade
        fields["grade"] = v["grade"]
    try:
        changes = data.update_attempt(attempt_id, **fields)
    except CruxlabError as exc:
        flash(f"Not saved: {exc}", "error")
        return
    if not changes:
        flash("Nothing changed: the attempt already has these details.", "info")
    else:
        flash("Saved: " + "; ".join(f"{_FIELD_TITLES[c.field]} {_shown(c.before)} → {_shown(c.after)}"
                                    for c in changes))


def metadata_editor(attempt_id: int, key: str) -> None:
    """Edit who climbed, the problem and its grade, the outcome and the date of an attempt. The form always
    starts from the stored values (its key changes with them), errors say what to enter, nothing half-saved."""
    row = data.attempts().set_index("attempt_id").loc[int(attempt_id)]
    climbers, problems = (list(d) for d in data.names())
    problem = row["problem"] if present(row["problem"]) else None
    grade = row["grade"] if present(row["grade"]) else ""
    outcome = row["outcome"] if present(row["outcome"]) else "—"
    when = row["recorded_at"] if present(row.get("recorded_at")) else None
    stamp = abs(hash((row["climber"], problem, grade, outcome, str(when)))) % 10**8
    form_key = f"{key}-{int(attempt_id)}-{stamp}"
    with st.form(form_key, border=False):
        c1, c2, c3 = st.columns([3, 3, 2])
        c1.selectbox("Climber", climbers, index=climbers.index(row["climber"]), accept_new_options=True,
                     key=f"{form_key}-climber", help="Pick one, or type a new name")
        choices = [NO_PROBLEM, *problems]
        c2.selectbox("Problem", choices, index=choices.index(problem) if problem else 0, accept_new_options=True,
                     key=f"{form_key}-problem", help="Pick one, or type a new problem's name")
        c3.text_input("Grade", value=grade, key=f"{form_key}-grade", placeholder="e.g. V5 or 6B+",
                      help="The problem's grade (V or Font scale): every attempt of the problem shows it")
        c4, c5, c6 = st.columns([3, 3, 2])
        outcomes = ["—", *OUTCOMES]
        c4.selectbox("Outcome", outcomes, index=outcomes.index(outcome) if outcome in outcomes else 0,
                     key=f"{form_key}-outcome")
        c5.date_input("Date climbed", value=None if when is None else when.date(), min_value=EARLIEST_DATE,
                      max_value=date.today() + timedelta(days=1), key=f"{form_key}-day", format="YYYY-MM-DD")
        c6.time_input("Time", value=None if when is None else when.time(), key=f"{form_key}-time", step=60)
        st.form_submit_button("Save details", type="primary", icon=":material/save:", on_click=_save_metadata,
                              args=(int(attempt_id), form_key, grade))


# ------------------------------------------------------------------------------------------ moves
def move_title(m: pd.Series, fps: float) -> str:
    return (f"{m['label']} · {LIMB_TITLES.get(m['limb'], m['limb'])} · "
            f"{m['start_frame'] / fps:.1f}–{(m['end_frame'] + 1) / fps:.1f} s")


def move_status(m: pd.Series) -> str:
    """deleted / added (by a coach) / edited (differs from the model's) / confirmed / reviewed (its attempt
    was) / model (only the model's word: not a training label)."""
    if m.get("deleted"):
        return "deleted"
    if m["source"] != "model":
        return "added"
    if m["corrected"]:
        return "edited"
    return "confirmed" if m["confirmed"] else "reviewed" if m["reviewed"] else "model"


def need_coach() -> bool:
    """True when the sidebar holds a coach name; else flash why the edit was not made."""
    if not coach():
        flash("Enter your name under “Coach” in the sidebar first: every correction is signed.", "error")
        return False
    return True


def run_edit(action, success: str, nothing: str = "Nothing changed: the move already looks like that.") -> None:
    try:
        result = action()
    except CruxlabError as exc:
        flash(f"Not saved: {exc}", "error")
        return
    if result is None:
        flash(nothing, "info")
    else:
        flash(success.format(result=result))


def _save(move: dict, form_key: str) -> None:
    if not need_coach():
        return
    v = {f: ss[f"{form_key}-{f}"] for f in ("label", "limb", "start", "end", "note")}
    changes = []
    if v["label"] != move["label"]:
        changes.append(f"{move['label']} → {v['label']}")
    if v["limb"] != move["limb"]:
        changes.append(f"{LIMB_TITLES[move['limb']]} → {LIMB_TITLES[v['limb']]}")
    if (v["start"], v["end"]) != (move["start_frame"], move["end_frame"]):
        changes.append(f"frames {move['start_frame']}–{move['end_frame']} → {v['start']}–{v['end']}")
    run_edit(lambda: data.edit_move(move["move_id"], coach(), label=v["label"], limb=v["limb"],
                                     start_frame=int(v["start"]), end_frame=int(v["end"]), note=v["note"] or None),
              "Saved edit #{result}: " + ", ".join(changes))


def confirm(move_id: int) -> None:
    """The coach vouches for the move as it stands (a training label from now on)."""
    if not need_coach():
        return
    run_edit(lambda: data.confirm_move(move_id, coach()),
             f"Confirmed move #{move_id} (edit #{{result}}): it counts as a training label.",
             nothing=f"Move #{move_id} was already confirmed.")


def review(attempt_id: int, reviewed: bool) -> None:
    """Mark the attempt reviewed (all its moves right, none missing) or withdraw that."""
    if not need_coach():
        return
    run_edit(lambda: data.review_attempt(attempt_id, coach(), reviewed),
             "Marked the attempt reviewed: all its moves count as training labels."
             if reviewed else "Withdrew the review: only confirmed and corrected moves count now.",
             nothing="Nothing changed: the attempt already is " + ("reviewed." if reviewed else "not reviewed."))


def review_control(attempt_id: int, key: str) -> None:
    """The attempt's review state and the button that marks it reviewed (or reopens it)."""
    rv = data.review_state(attempt_id)
    if rv.reviewed and rv.complete:
        st.caption(f":green[:material/task_alt: Reviewed by {rv.reviewed_by}]: all {rv.n_moves} moves are training "
                   "labels.")
        st.button("Reopen review", key=key, on_click=review, args=(attempt_id, False), icon=":material/undo:",
                  help="Withdraw the review: only confirmed and corrected moves count as training labels")
    else:
        stale = " (moves changed since the review)" if rv.reviewed else ""
        st.caption(f"Not reviewed{stale}: {rv.n_labelled} of {rv.n_moves} moves are training labels (confirmed or "
                   "corrected).")
        st.button("Mark attempt reviewed", key=key, on_click=review, args=(attempt_id, True),
                  icon=":material/task_alt:",
                  help="Every move is right and none is missing: they all count as training labels")


def _delete(move: dict, restore: bool) -> None:
    if not need_coach():
        return
    run_edit(lambda: data.edit_move(move["move_id"], coach(), delete=not restore, restore=restore),
              ("Restored" if restore else "Deleted") + f" the {move['label']} (edit #{{result}}). "
              "Undo brings it back.")


def move_editor(move: pd.Series, n_frames: int, fps: float, key: str) -> None:
    """Correct one move: label, limb, start/end frames; delete a false move or restore a deleted one.
    The model's original stays visible (and in the moves table) whatever the edits."""
    m = {k: (v.item() if hasattr(v, "item") else v) for k, v in move.to_dict().items()}
    form_key = f"{key}-{m['move_id']}"
    # The form always starts from the stored state: when the store changed under it (an edit here, an undo, a
    # timeline drag, a Label Studio pull) its widgets are set to the stored values, so Save cannot re-apply a
    # label that was undone. (Through session state, which also updates what the browser shows: only dropping
    # the keys would leave the browser's stale value on screen.)
    stored = (m["label"], m["limb"], int(m["start_frame"]), int(m["end_frame"]), bool(m.get("deleted")))
    if ss.get(f"{form_key}-stored") != stored or f"{form_key}-label" not in ss:  # (widget keys go when unshown)
        ss.update({f"{form_key}-label": m["label"], f"{form_key}-limb": m["limb"],
                   f"{form_key}-start": int(m["start_frame"]), f"{form_key}-end": int(m["end_frame"]),
                   f"{form_key}-note": "", f"{form_key}-stored": stored})
    original = (f"{m['original_label']} · {LIMB_TITLES.get(m['original_limb'], m['original_limb'])} · frames "
                f"{m['original_start']}–{m['original_end']}")
    source = ("model " + (m["model_version"] or "")).strip() if m["source"] == "model" else f"added in {m['source']}"
    vouched = {"edited": "corrected", "added": "added by a coach", "confirmed": f"confirmed by {m['last_editor']}",
               "reviewed": "covered by the attempt's review"}.get(move_status(move))
    st.caption(f"Move #{m['move_id']} · {source} said **{original}** · confidence {m['confidence']:.2f}"
               + (f" · last edited by {m['last_editor']}" if m["edited"] else "")
               + (f" · training label ({vouched})" if vouched else " · not yet a training label: confirm or "
                  "correct it"))
    if m.get("deleted"):
        st.warning("This move is deleted: it no longer counts in statistics or training.", icon=":material/delete:")
        st.button("Restore move", key=f"{form_key}-restore", on_click=_delete, args=(m, True),
                  icon=":material/restore:")
        return
    with st.form(form_key, border=False):
        c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
        labels = list(MOVE_LABELS) + ([m["label"]] if m["label"] not in MOVE_LABELS else [])
        c1.selectbox("Label", labels, key=f"{form_key}-label")
        c2.selectbox("Limb", LIMBS, format_func=LIMB_TITLES.get, key=f"{form_key}-limb")
        c3.number_input("Start frame", 0, n_frames - 1, key=f"{form_key}-start")
        c4.number_input("End frame", 0, n_frames - 1, key=f"{form_key}-end")
        st.text_input("Note (optional)", key=f"{form_key}-note", placeholder="why the change, for the history")
        b1, b2, b3 = st.columns([1, 1, 1])
        b1.form_submit_button("Save correction", type="primary", on_click=_save, args=(m, form_key),
                              icon=":material/save:")
        b2.form_submit_button("Confirm as is", on_click=confirm, args=(m["move_id"],), icon=":material/check:",
                              disabled=bool(m.get("confirmed")),
                              help="The move is right as it stands: it counts as a training label (Enter in the "
                                   "player)")
        b3.form_submit_button("Delete move", on_click=_delete, args=(m, False), icon=":material/delete:")


def _add(attempt_id: int, key: str) -> None:
    if not need_coach():
        return
    v = {f: ss[f"{key}-{f}"] for f in ("label", "limb", "start", "end")}

    def action():
        move_id = data.add_move(attempt_id, coach(), label=v["label"], limb=v["limb"], start_frame=int(v["start"]),
                                end_frame=int(v["end"]))
        ss["move_id"] = move_id
        return move_id

    run_edit(action, f"Added move #{{result}}: {v['label']} ({LIMB_TITLES[v['limb']]}, frames "
                      f"{v['start']}–{v['end']})")


def add_move_form(attempt_id: int, n_frames: int, fps: float, start: int, key: str) -> None:
    """Add a move the model missed, starting by default at the current frame and lasting one second."""
    with st.form(key, border=False):
        c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
        c1.selectbox("Label", MOVE_LABELS, key=f"{key}-label")
        c2.selectbox("Limb", LIMBS, format_func=LIMB_TITLES.get, key=f"{key}-limb")
        # defaults only when the player has not just put the playhead's frames there (session state)
        c3.number_input("Start frame", 0, n_frames - 1,
                        None if f"{key}-start" in ss else min(start, n_frames - 1), key=f"{key}-start")
        c4.number_input("End frame", 0, n_frames - 1,
                        None if f"{key}-end" in ss else min(start + int(round(fps)), n_frames - 1), key=f"{key}-end")
        st.form_submit_button("Add move", on_click=_add, args=(attempt_id, key), icon=":material/add:")


def _undo(attempt_id: int) -> None:
    if not need_coach():
        return
    run_edit(lambda: data.undo_last_edit(attempt_id, coach()), "Undid your last edit (undo is edit #{result}).",
              nothing=f"Nothing of yours to undo in this attempt, {coach()}.")


def undo_button(attempt_id: int, key: str) -> None:
    st.button("Undo my last edit", key=key, on_click=_undo, args=(attempt_id,), icon=":material/undo:",
              help="Appends an 'undo' entry that restores the move as it was; the history keeps both.")


def history_table(attempt_id: int | None, height: int | None = None) -> None:
    """The append-only label history: who changed what, when, from where."""
    h = data.history(attempt_id)
    if h.empty:
        st.caption("No corrections yet: every move is as the model labelled it.")
        return
    before = h["prev_label"].fillna("—") + " · " + h["prev_start"].astype("Int64").astype(str) + "–" + \
        h["prev_end"].astype("Int64").astype(str)
    after = h["label"] + " · " + h["start_frame"].astype(str) + "–" + h["end_frame"].astype(str)
    view = pd.DataFrame({
        "when": h["edited_at"], "coach": h["editor"], "source": h["source"], "action": h["action"],
        "move": h["move_id"], "before": before.where(h["action"] != "add", "—"),
        "after": after.where(~h["deleted"], "deleted"), "note": h["note"].fillna(""),
    })
    if attempt_id is None:
        view.insert(1, "attempt", h["attempt"])
    st.dataframe(view, hide_index=True, height=height or "auto", column_config={
        "when": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "move": st.column_config.NumberColumn("move", format="#%d"),
    })


# ------------------------------------------------------------------------------------------ exports
def export_panel(attempt_id: int, attempt: str, move: pd.Series | None, fps: float) -> None:
    """Download buttons: the selected move as a clip (MP4, GIF: the overlay cut to the move +- half a second)
    and the attempt's moves, label history and skeleton (db.export). Files are made when clicked."""
    from dashboard.clips import CLIP_FORMATS, MARGIN_S, clip_name

    if move is not None and not move.get("deleted", False):
        s, e = int(move["start_frame"]), int(move["end_frame"])
        st.markdown(f"**Clip of the selected {move['label']}** ({s / fps:.1f}–{(e + 1) / fps:.1f} s, with "
                    f"{MARGIN_S:g} s before and after)")
        cols = st.columns(len(CLIP_FORMATS) + 2)
        for col, (fmt, mime) in zip(cols, CLIP_FORMATS.items()):
            col.download_button(
                fmt.upper(), data=lambda fmt=fmt: data.move_clip(attempt_id, s, e, fmt), on_click="ignore",
                file_name=clip_name(attempt, move["label"], s, fps, fmt), mime=mime, icon=":material/movie:",
                key=f"clip-{fmt}-{attempt_id}-{s}-{e}", help="The skeleton over the video, cut to this move")
    else:
        st.caption("Select a move (click it in the timeline) to download a clip of it.")
    st.markdown("**This attempt's data** (moves with their original labels, label history, skeleton)")
    cols = st.columns(4)
    for col, (fmt, title) in zip(cols, (("csv", "CSV"), ("parquet", "Parquet"), ("npz", "Skeleton .npz"))):
        col.download_button(title, data=lambda fmt=fmt: data.export_attempt(attempt_id, fmt), on_click="ignore",
                            file_name=safe_filename(attempt, f"-{fmt}.zip", tag=False), mime="application/zip",
                            icon=":material/download:", key=f"export-{fmt}-{attempt_id}",
                            help={"csv": "moves.csv, label_history.csv, skeletons.csv (one row per frame and joint)",
                                  "parquet": "the same three tables as Parquet files",
                                  "npz": "the skeleton interchange file (keypoints, joint names, fps)"}[fmt])

