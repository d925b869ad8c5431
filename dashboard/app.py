"""cruxlab coach dashboard: `cruxlab dashboard [--db PATH] [--port N]` (or `streamlit run dashboard/app.py --
--db PATH`). The entry file only lays out navigation, the sidebar and error states; pages render;
`dashboard.data` is the one module that reads or writes the store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

# `streamlit run app.py` puts this folder, not the project, on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cruxlab.errors import DatabaseBusyError  # noqa: E402
from dashboard import components as ui  # noqa: E402
from dashboard import data  # noqa: E402

if "--db" in sys.argv[1:-1]:  # `streamlit run dashboard/app.py -- --db PATH`
    os.environ[data.DB_ENV] = sys.argv[sys.argv.index("--db") + 1]

st.set_page_config(page_title="cruxlab", page_icon="🧗", layout="wide", initial_sidebar_state="auto")  # auto: collapsed on a phone
# Page scripts live in views/, not pages/: Streamlit treats a `pages/` folder beside the entry file as a
# legacy multipage app and runs those files without this entry (no navigation, no sidebar).
HERE = Path(__file__).resolve().parent


def busy_page(exc: DatabaseBusyError) -> None:
    """The database is locked by a writer and nothing cached can stand in: say so and keep retrying."""
    st.warning(f"**The database is busy.** {exc}\n\nThis page checks again every 3 seconds and carries on by "
               "itself as soon as the writer is done.", icon=":material/hourglass_top:")

    @st.fragment(run_every=3)
    def poll() -> None:
        if not data.database_free():
            st.caption("still busy…")
            return
        st.rerun(scope="app")

    poll()
    st.button("Retry now", icon=":material/refresh:")


def sidebar(status: data.StoreStatus) -> None:
    st.session_state[ui.FULL_PAGE_KEY] = True
    with st.sidebar:
        st.text_input("Coach", key="coach", placeholder="your name, signs every correction",
                      help="Every label correction is recorded in the history with this name and the time.")
        st.caption(f"Database `{status.path}`")
        if status.state == "ready":
            st.caption(f"{status.n_attempts} attempts · {status.n_climbers} climbers · {status.n_moves} moves · "
                       f"{status.n_corrections} corrections")
        if st.button("Refresh data", icon=":material/refresh:", help="Re-read everything from the database"):
            data.refresh()


try:
    status = data.status()
except DatabaseBusyError as exc:
    busy_page(exc)
    st.stop()

UPLOAD = st.Page(HERE / "views/upload.py", title="Upload a video", icon=":material/upload:", url_path="upload")
if status.state == "ready":
    pages = {
        "Browse": [
            st.Page(HERE / "views/attempts.py", title="Climbers & attempts", icon=":material/groups:", default=True),
            st.Page(HERE / "views/attempt.py", title="Attempt", icon=":material/play_circle:", url_path="attempt"),
            st.Page(HERE / "views/labels.py", title="Correct labels", icon=":material/edit_note:",
                    url_path="labels"),
            UPLOAD,
        ],
        "Analyse": [
            st.Page(HERE / "views/climber.py", title="Climber", icon=":material/trending_up:", url_path="climber"),
            st.Page(HERE / "views/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
            st.Page(HERE / "views/statistics.py", title="Statistics", icon=":material/bar_chart:",
                    url_path="statistics"),
            st.Page(HERE / "views/sql.py", title="SQL", icon=":material/database:", url_path="sql"),
        ],
    }
elif status.state in ("missing", "empty"):  # a first video can come from the browser too
    pages = [st.Page(HERE / "views/start.py", title="Welcome", icon=":material/waving_hand:", default=True), UPLOAD]
else:
    pages = [st.Page(HERE / "views/start.py", title="Welcome", icon=":material/waving_hand:", default=True)]

page = st.navigation(pages)
# The attempt page draws the sidebar after itself: the browser fetches each kind of widget's code on first use
# (a dozen small files for the coach's text box) and, in a new browser, the player's code, data and video then
# come first instead of queueing behind them (benchmarks/bench_player.py: page ready); on a session's first
# page it even waits for the player's first frame (views/attempt.py). The sidebar keeps its place on screen.
# Pages that may st.stop() draw it first (nothing is drawn after a stop).
SIDEBAR_LAST = {"attempt"}
if page.url_path not in SIDEBAR_LAST:
    sidebar(status)
# the attempt page's first paint (player only) stops the run: no sidebar in that run either
first_paint = page.url_path == "attempt" and not st.session_state.get(ui.FULL_PAGE_KEY)
banner = st.container()
try:
    page.run()
except DatabaseBusyError as exc:
    busy_page(exc)
finally:
    if page.url_path in SIDEBAR_LAST and not first_paint:
        sidebar(status)
message = data.busy_message()
if message:
    banner.info(f"Showing the data as last read: {message}", icon=":material/hourglass_top:")
