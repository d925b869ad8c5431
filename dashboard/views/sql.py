"""SQL: read-only queries over the store, results as a table with CSV download, saved examples."""

import streamlit as st

from dashboard import data
from db.query import QueryError

ss = st.session_state
EXAMPLES = {
    "Moves per label": "SELECT label, n_moves, n_attempts, round(mean_duration_s, 2) AS mean_s,\n"
                       "       round(mean_confidence, 2) AS confidence\nFROM moves_per_label ORDER BY n_moves DESC",
    "How long are each climber's moves on steep walls?":
        "SELECT climber, label, count(*) AS moves, round(avg(duration_s), 2) AS mean_s\nFROM move_details\n"
        "WHERE wall_angle_deg >= 30\nGROUP BY ALL ORDER BY climber, moves DESC",
    "What did coaches correct?":
        "SELECT original_label AS model_said, label AS coach_says, count(*) AS n\nFROM moves_current\n"
        "WHERE edited AND original_label <> label\nGROUP BY ALL ORDER BY n DESC",
    "Slowest moves": "SELECT attempt, climber, label, limb, round(duration_s, 2) AS seconds\nFROM move_details\n"
                     "ORDER BY duration_s DESC LIMIT 20",
    "Time moving vs still per attempt":
        "SELECT attempt, climber, round(total_s, 1) AS total_s, round(moving_s, 1) AS moving_s,\n"
        "       round(100 * moving_fraction) AS moving_pct\nFROM attempt_activity ORDER BY moving_fraction DESC",
    "Latest label edits": "SELECT edited_at, editor, source, action, prev_label, label, move_id, note\n"
                          "FROM label_edits ORDER BY edited_at DESC LIMIT 50",
}

st.title("SQL")
st.caption("Ask the store anything with DuckDB SQL. Queries run on a read-only, sandboxed snapshot of the store: "
           "whatever is typed, nothing in the database (or on disk) can change, and analyses and label edits "
           "carry on meanwhile. Each query has a time, memory and row limit (see the README, \"Limits\").")
ss.setdefault("sql_text", EXAMPLES["Moves per label"])


def _use_example() -> None:
    if ss.get("sql_example"):
        ss["sql_text"] = EXAMPLES[ss["sql_example"]]


left, right = st.columns([3, 1])
with right:
    st.selectbox("Saved examples", list(EXAMPLES), index=None, key="sql_example", on_change=_use_example,
                 placeholder="pick an example")
    with st.expander("Tables and views"):
        for r in data.schema().itertuples():
            st.markdown(f"**{r.name}** <small>({r.kind.lower()})</small>  \n<small>{r.columns}</small>",
                        unsafe_allow_html=True)
with left:
    st.text_area("Query", key="sql_text", height=160)
    run = st.button("Run query", type="primary", icon=":material/play_arrow:", shortcut="ctrl+enter")

if run or "sql_result" not in ss:
    try:
        ss["sql_result"] = ("ok", data.run_sql(ss["sql_text"]))
    except QueryError as exc:
        ss["sql_result"] = ("error", str(exc))
kind, result = ss["sql_result"]
if kind == "error":
    st.error(result, icon=":material/block:")
else:
    rows = result.rows
    note = " (cut at the row limit: add LIMIT or WHERE to see the rest)" if result.truncated else ""
    st.caption(f"{len(rows)} row{'s' if len(rows) != 1 else ''}{note} · {result.seconds:.2f} s")
    st.dataframe(rows, hide_index=True)
    st.download_button("Download CSV", rows.to_csv(index=False).encode(), file_name="cruxlab-query.csv",
                       mime="text/csv", icon=":material/download:")
