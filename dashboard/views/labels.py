"""Correct labels: every move of an attempt (current label next to the model's original), edit, delete,
restore, add, undo, and the full append-only history."""

import pandas as pd
import streamlit as st

from cruxlab.joints import LIMB_TITLES
from dashboard import components as ui
from dashboard import data
from dashboard import figures as fg

ss = st.session_state
df = data.attempts()
st.title("Correct labels")
top_l, top_m, top_r = st.columns([3, 2, 1], vertical_alignment="bottom")
with top_l:
    aid = ui.attempt_picker(df, key="attempt_pick_labels")
with top_m:
    ui.review_control(aid, key="review_labels")
with top_r:
    ui.undo_button(aid, key="undo_labels")
if not ui.coach():
    st.info("Type your name under **Coach** in the sidebar: every correction is signed with it.",
            icon=":material/badge:")
ui.show_flash()

info = data.attempt_info(aid)
fps, T = info.fps, info.n_frames
all_moves = data.moves(aid, include_deleted=True).sort_values(["start_frame", "limb", "move_id"])
all_moves = all_moves.reset_index(drop=True)
current = all_moves[~all_moves["deleted"]]
st.plotly_chart(fg.timeline_figure(current, T, fps, selected_move=ss.get("move_id"), height=220),
                key="labels_timeline", config={"displaylogo": False})

table = pd.DataFrame({
    "move": all_moves["move_id"],
    "status": all_moves.apply(ui.move_status, axis=1),
    "label": all_moves["label"],
    "model said": all_moves["original_label"].where(all_moves["source"] == "model", "—"),
    "limb": all_moves["limb"].map(LIMB_TITLES),
    "start": all_moves["start_frame"], "end": all_moves["end_frame"],
    "seconds": (all_moves["end_frame"] - all_moves["start_frame"] + 1) / fps,
    "confidence": all_moves["confidence"],
    "last editor": all_moves["last_editor"].fillna(""),
})
event = st.dataframe(
    table, hide_index=True, on_select="rerun", selection_mode="single-row", key="labels_table",
    column_config={
        "move": st.column_config.NumberColumn("move", format="#%d"),
        "seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
        "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="%.2f"),
    },
)
rows = event.selection.rows if event is not None else []
if rows:
    ss["move_id"] = int(all_moves.iloc[rows[0]]["move_id"])

titles = {int(r["move_id"]): f"#{r['move_id']} " + ui.move_title(r, fps) + (" (deleted)" if r["deleted"] else "")
          for _, r in all_moves.iterrows()}
if ss.get("move_id") not in titles:
    ss["move_id"] = None
ss["labels_move_pick"] = ss.get("move_id")
st.selectbox("Move to correct", list(titles), format_func=titles.get, key="labels_move_pick",
             placeholder="select a row above, or pick a move here",
             on_change=lambda: ss.update(move_id=ss["labels_move_pick"]))
sel = all_moves[all_moves["move_id"] == ss.get("move_id")]
if len(sel):
    with st.container(border=True):
        ui.move_editor(sel.iloc[0], T, fps, key="edit_labels")

with st.expander("Add a move the model missed", icon=":material/add_circle:"):
    ui.add_move_form(aid, T, fps, int(ss.get("cur_frame", 0)), key="add_labels")

st.subheader("Label history")
st.caption("Append-only: nothing is overwritten. The current label of a move is its latest entry; "
           "undo adds an entry that restores the previous state.")
scope = st.segmented_control("History of", ["this attempt", "all attempts"], default="this attempt",
                             key="history_scope")
ui.history_table(aid if scope != "all attempts" else None)
