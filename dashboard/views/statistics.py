"""Statistics: move counts and durations per label, per climber, per problem, and two attempts of the same
problem compared side by side in the wall frame. Only the open tab is computed."""

import numpy as np
import pandas as pd
import streamlit as st

from cruxlab.joints import LIMB_EFFECTOR
from dashboard import data
from dashboard import figures as fg

STATIC = {"displayModeBar": False}
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

tab_label, tab_climber, tab_problem, tab_compare = st.tabs(
    ["Per label", "Per climber", "Per problem", "Compare two attempts"], key="stats_tab", on_change="rerun")

if tab_label.open:
    with tab_label:
        per_label, quantiles, corrections = data.views("moves_per_label", "duration_quantiles", "corrections")
        left, right = st.columns(2)
        left.markdown("**How many moves of each kind**")
        left.plotly_chart(fg.label_counts_figure(per_label), key="stat_counts", config=STATIC)
        right.markdown("**How long they take** (box: middle half; whiskers: shortest and longest)")
        right.plotly_chart(fg.duration_box_figure(quantiles), key="stat_durations", config=STATIC)
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

if tab_compare.open:
    with tab_compare:
        attempts = data.attempts()
        counts = attempts.dropna(subset=["problem"]).groupby("problem")["attempt_id"].count()
        problems = sorted(counts[counts >= 2].index)
        if not problems:
            st.info("Comparison needs two attempts of the same problem; none has two yet.", icon=":material/info:")
            st.stop()
        problem = st.selectbox("Problem", problems, key="compare_problem")
        cand = attempts[attempts["problem"] == problem].sort_values("date", ascending=False)
        labels = {int(r.attempt_id): f"{r.attempt} — {r.climber}, {r.date:%d %b %Y}" for r in cand.itertuples()}
        ids = list(labels)
        pa, pb = st.columns(2)
        a_id = pa.selectbox("Attempt A", ids, index=0, format_func=labels.get, key="compare_a")
        b_id = pb.selectbox("Attempt B", ids, index=1, format_func=labels.get, key="compare_b")
        hands_only = st.toggle("Hands only", value=True, key="compare_hands")
        limbs = {k: j for k, j in LIMB_EFFECTOR.items() if k.endswith("hand") or not hands_only}
        ska, skb = data.skeleton(a_id), data.skeleton(b_id)
        bounds = fg.scene_bounds(np.concatenate([ska.keypoints, skb.keypoints]), None, margin=0.3)
        ma, mb = data.move_details(a_id), data.move_details(b_id)
        rows = attempts.set_index("attempt_id")
        for side, col, aid, sk, mv in (("a", pa, a_id, ska, ma), ("b", pb, b_id, skb, mb)):
            r = rows.loc[aid]
            k = col.columns(3)
            k[0].metric("Duration", f"{sk.duration_s:.1f} s")
            k[1].metric("Moves", len(mv))
            k[2].metric("Moving", f"{100 * np.nan_to_num(r['moving_fraction']):.0f} %")
            w = data.wall_points(aid)
            col.plotly_chart(fg.trajectories_figure({k: sk.keypoints[:, j] for k, j in limbs.items()}, sk.fps, bounds,
                                                    wall_xyz=None if w is None else w.xyz,
                                                    title=f"{r['attempt']} ({r['climber']})"),
                             key=f"compare_traj_{side}")
        st.markdown("**Move durations side by side**")
        name_a, name_b = rows.loc[a_id, "attempt"], rows.loc[b_id, "attempt"]
        st.plotly_chart(fg.duration_comparison_figure(ma, mb, name_a, name_b), key="compare_durations")
        with st.expander("Every move of both attempts"):
            cols = ["attempt", "label", "limb", "start_s", "duration_s"]
            st.dataframe(pd.concat([ma.assign(attempt=name_a)[cols], mb.assign(attempt=name_b)[cols]]),
                         hide_index=True)
