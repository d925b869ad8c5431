"""Climber: one climber's attempts over time (per problem, with outcomes), the moves they make, time on the wall
moving vs still, and progress on a measure of choice per problem."""

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import data
from dashboard import figures as fg

ss = st.session_state
df = data.attempts()
climbers = sorted(df["climber"].unique())
st.title("Climber")
if ss.get("climber_page") not in climbers:  # follow the climber of the attempt the coach is looking at
    current = df.loc[df["attempt_id"] == ss.get("attempt_id"), "climber"]
    ss["climber_page"] = current.iloc[0] if len(current) else climbers[0]
climber = st.pills("Climber", climbers, key="climber_page", label_visibility="collapsed") or climbers[0]
mine = df[df["climber"] == climber].sort_values("date")

tops = int((mine["outcome"] == "top").sum())
on_wall = mine["duration_s"].sum()
k = st.columns(6)
k[0].metric("Attempts", len(mine), help=f"{mine['problem'].nunique()} problems")
k[1].metric("Tops", f"{tops}", help="Attempts whose outcome is 'top'")
k[2].metric("Time on the wall", f"{on_wall / 60:.1f} min")
k[3].metric("Moves", int(mine["n_moves"].sum()))
k[4].metric("Moves per minute", f"{mine['n_moves'].sum() * 60 / on_wall:.1f}" if on_wall else "—")
k[5].metric("Moving", f"{100 * mine['moving_s'].sum() / on_wall:.0f} %" if on_wall else "—",
            help="Share of the time on the wall spent in moves (held positions like flags count as still)")

st.markdown("**Attempts over time** · one row per problem; ★ top, ✕ fall; bigger = more moves")
st.plotly_chart(fg.attempts_over_time_figure(mine), key="climber_timeline", config=fg.STATIC)

left, right = st.columns(2)
(labels,) = data.views("labels_per_climber")
labels = labels[labels["climber"] == climber]
left.markdown("**Moves per label**")
if labels.empty:
    left.info("No moves detected or labelled yet.", icon=":material/info:")
else:
    left.plotly_chart(fg.label_counts_figure(labels), key="climber_labels", config=fg.STATIC)
right.markdown("**Time on the wall: moving vs still**")
right.plotly_chart(fg.activity_figure(mine), key="climber_activity", config=fg.STATIC)

st.markdown("**Progress**")
c1, c2 = st.columns([3, 2])
measure = c1.segmented_control("Measure", list(fg.PROGRESS_MEASURES), format_func=fg.PROGRESS_MEASURES.get,
                               default="moves_per_minute", key="climber_measure", label_visibility="collapsed")
problems = sorted(mine["problem"].dropna().unique())
focus = c2.multiselect("Problems", problems, placeholder="all problems", key="climber_problems",
                       label_visibility="collapsed")
shown = mine[mine["problem"].isin(focus)] if focus else mine
st.plotly_chart(fg.progress_figure(shown, measure or "moves_per_minute"), key="climber_progress", config=fg.STATIC)

st.markdown("**Attempts**")
table = pd.DataFrame({
    "date": mine["date"], "attempt": mine["attempt"],
    "problem": [ui.problem_title(p, g) if ui.present(p) else "—" for p, g in zip(mine["problem"], mine["grade"])],
    "outcome": mine["outcome"].fillna("—"), "duration": mine["duration_s"], "moves": mine["n_moves"],
    "moving": 100 * mine["moving_fraction"].fillna(0.0),
}).iloc[::-1]
event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key="climber_table",
                     column_config={
                         "date": st.column_config.DatetimeColumn("date", format="D MMM YYYY, HH:mm"),
                         "duration": st.column_config.NumberColumn("duration", format="%.1f s"),
                         "moving": st.column_config.ProgressColumn("moving", format="%.0f %%", min_value=0,
                                                                   max_value=100)})
rows = event.selection.rows if event is not None else []
if rows:
    ui.select_attempt(int(mine.iloc[::-1].iloc[rows[0]]["attempt_id"]))
    st.switch_page("views/attempt.py")
st.caption("Click a row to open the attempt.")
