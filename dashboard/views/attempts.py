"""Climbers & attempts: pick a climber, filter and sort their attempts, open one."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import data

ss = st.session_state
df = data.attempts()

st.title("Climbers & attempts")
climbers = sorted(df["climber"].unique())
everyone = "Everyone"
climber = st.pills("Climber", [everyone, *climbers], default=everyone, key="climber_pick",
                   persist_state="session") or everyone
mine = df if climber == everyone else df[df["climber"] == climber]

c = st.columns(5)
c[0].metric("Attempts", len(mine))
c[1].metric("Tops", int((mine["outcome"] == "top").sum()),
            help="Attempts whose outcome is 'top'")
c[2].metric("Time on the wall", f"{mine['duration_s'].sum() / 60:.1f} min")
c[3].metric("Moves", int(mine["n_moves"].sum()))
rate = mine["n_moves"].sum() * 60 / mine["duration_s"].sum() if mine["duration_s"].sum() else 0.0
c[4].metric("Moves per minute", f"{rate:.1f}")

f1, f2, f3, f4 = st.columns([3, 2, 3, 2])
problems = sorted(p for p in mine["problem"].dropna().unique())
chosen = f1.multiselect("Problem", problems, placeholder="all problems", key="problem_filter")
outcomes = sorted(mine["outcome"].fillna("unknown").unique())
outcome = f2.multiselect("Outcome", outcomes, placeholder="any outcome", key="outcome_filter")
search = f3.text_input("Search", placeholder="attempt name, problem or wall", key="attempt_search")
SORTS = {"Newest first": ("date", False), "Oldest first": ("date", True), "Longest first": ("duration_s", False),
         "Most moves first": ("n_moves", False), "Name": ("attempt", True)}
order = f4.selectbox("Sort", list(SORTS), key="attempt_sort")

view = mine
if chosen:
    view = view[view["problem"].isin(chosen)]
if outcome:
    view = view[view["outcome"].fillna("unknown").isin(outcome)]
if search:
    text = (view["attempt"] + " " + view["problem"].fillna("") + " " + view["wall"].fillna("")).str.lower()
    view = view[text.str.contains(search.lower(), regex=False)]
col, asc = SORTS[order]
view = view.sort_values(col, ascending=asc, kind="stable").reset_index(drop=True)

if view.empty:
    st.info("No attempt matches these filters.", icon=":material/filter_alt_off:")
    st.stop()

table = pd.DataFrame({
    "date": view["date"], "attempt": view["attempt"], "climber": view["climber"],
    "problem": view["problem"].fillna("—") + view["grade"].map(lambda g: f" ({g})" if isinstance(g, str) else ""),
    "wall": view["wall"].fillna("—"), "duration": view["duration_s"], "moves": view["n_moves"],
    "moving": view["moving_fraction"].fillna(0.0) * 100,
    "outcome": view["outcome"].fillna("—"),
    "source": np.where(view["video_on_disk"], "video", np.where(view["video_path"].notna(), "video missing",
                                                                 "skeleton")),
})
event = st.dataframe(
    table, hide_index=True, on_select="rerun", selection_mode="single-row", key="attempt_table",
    height="auto" if len(table) <= 14 else 560,
    column_config={
        "date": st.column_config.DatetimeColumn("date", format="D MMM YYYY, HH:mm"),
        "duration": st.column_config.NumberColumn("duration", format="%.1f s"),
        "moves": st.column_config.ProgressColumn("moves", format="%d", min_value=0,
                                                 max_value=max(1, int(df["n_moves"].max()))),
        "moving": st.column_config.ProgressColumn("moving", format="%.0f %%", min_value=0, max_value=100,
                                                  help="Share of the attempt spent in (non-static) moves"),
    },
)
rows = event.selection.rows if event is not None else []
if rows:
    ui.select_attempt(int(view.iloc[rows[0]]["attempt_id"]))
ids = view["attempt_id"].astype(int).tolist()
labels = dict(zip(ids, view["attempt"]))
if ss.get("attempt_id") not in ids:
    ui.select_attempt(ids[0])
ss["open_pick"] = ss["attempt_id"]
left, right = st.columns([3, 2], vertical_alignment="bottom")
left.selectbox("Selected attempt", ids, format_func=labels.get, key="open_pick",
               on_change=lambda: ui.select_attempt(ss["open_pick"]),
               help="Click a row in the table or pick here")
if right.button("Open attempt", type="primary", icon=":material/play_circle:"):
    st.switch_page("views/attempt.py")
with st.expander(f"Edit the details of {labels[ss['attempt_id']]}", icon=":material/edit:"):
    ui.show_flash()  # inside: a message above the expander would move it, and the browser would close it
    ui.metadata_editor(ss["attempt_id"], key="meta_attempts")
