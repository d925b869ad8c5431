"""Statistics: move counts and durations per label, per climber and per problem (two attempts side by side are
on the Compare page). Only the open tab is computed."""

import streamlit as st

from dashboard import data
from dashboard import figures as fg

status = data.status()
st.title("Statistics")
c = st.columns(5)
c[0].metric("Attempts", status.n_attempts)
c[1].metric("Climbers", status.n_climbers)
c[2].metric("Problems", status.n_problems)
c[3].metric("Moves", status.n_moves)
c[4].metric("Coach corrections", status.n_corrections,
            help="Moves a coach relabelled, retimed, deleted or added (net of undos)")
if status.n_moves == 0:
    st.info("No moves yet: detect moves with `cruxlab moves detect` or add them on the Correct labels page.",
            icon=":material/info:")
    st.stop()

tab_label, tab_climber, tab_problem = st.tabs(["Per label", "Per climber", "Per problem"], key="stats_tab",
                                             on_change="rerun")
st.page_link("views/compare.py", label="Compare two attempts side by side", icon=":material/compare:")

if tab_label.open:
    with tab_label:
        per_label, quantiles, corrections = data.views("moves_per_label", "duration_quantiles", "corrections")
        left, right = st.columns(2)
        left.markdown("**How many moves of each kind**")
        left.plotly_chart(fg.label_counts_figure(per_label), key="stat_counts", config=fg.STATIC)
        right.markdown("**How long they take** (box: middle half; whiskers: shortest and longest)")
        right.plotly_chart(fg.duration_box_figure(quantiles), key="stat_durations", config=fg.STATIC)
        if len(corrections):
            st.markdown("**What coaches corrected** (model label → coach label)")
            st.dataframe(corrections.rename(columns={"original_label": "model said", "label": "coach says",
                                                     "n": "moves"}), hide_index=True)

if tab_climber.open:
    with tab_climber:
        summary, per_climber = data.views("climber_summary", "moves_per_climber")
        st.dataframe(summary, hide_index=True, column_config={
            "climbing_s": st.column_config.NumberColumn("time on wall", format="%.0f s"),
            "moves_per_minute": st.column_config.NumberColumn("moves / min", format="%.1f"),
            "moving_fraction": st.column_config.ProgressColumn("moving", min_value=0.0, max_value=1.0,
                                                               format="%.2f"),
        })
        left, right = st.columns(2)
        left.markdown("**Moves per label**")
        left.plotly_chart(fg.heatmap_figure(per_climber, "climber", "label", "n_moves"), key="stat_climber_counts")
        right.markdown("**Mean duration (s)**")
        right.plotly_chart(fg.heatmap_figure(per_climber, "climber", "label", "mean_duration_s", fmt=".2f",
                                             colorscale="Oranges"), key="stat_climber_durations")

if tab_problem.open:
    with tab_problem:
        (per_problem,) = data.views("moves_per_problem")
        per_problem = per_problem.assign(problem=per_problem["problem"].fillna("(no problem)"))
        left, right = st.columns(2)
        left.markdown("**Moves per label**")
        left.plotly_chart(fg.heatmap_figure(per_problem, "problem", "label", "n_moves", colorscale="Greens"),
                          key="stat_problem_counts")
        right.markdown("**Mean duration (s)**")
        right.plotly_chart(fg.heatmap_figure(per_problem, "problem", "label", "mean_duration_s", fmt=".2f",
                                             colorscale="Oranges"), key="stat_problem_durations")
        st.dataframe(per_problem, hide_index=True)
