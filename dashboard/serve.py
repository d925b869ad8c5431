"""`python -m dashboard.serve run dashboard/app.py ...`: `streamlit run`, with the dashboard's heavy imports
made while the server starts instead of during the first page a coach opens.

Streamlit imports a page's modules only when the first browser session runs the script, so on a new server the
first page waited ~1-2 s for pandas, DuckDB, Plotly and the store's modules (2 busy cores) before it sent
anything. A background thread imports them now, in parallel with the server's own start-up; the page's imports
then find them in sys.modules. Only modules that do not touch Streamlit's runtime are warmed here: dashboard
modules that register a component or create caches are imported by the page, inside the runtime, as before.
A module that fails to import here is left for the page to import (and to report the error) as it always did.

Started by `cruxlab dashboard` (PREPARE_ENV set), the server also makes the playback files that attempts stored by
`cruxlab analyze` lack, in a nice-10 child process (dashboard.player.prepare), so their first view plays at once.
"""

from __future__ import annotations

import atexit
import importlib
import os
import subprocess
import sys
import threading

#: Heavy modules every dashboard page imports (numpy/pandas/DuckDB through dashboard.data; Plotly through
#: dashboard.figures), then the project's own store/drawing modules, none of which imports streamlit
#: (dashboard.player is not here: its package registers the player component).
WARM_MODULES = (
    "numpy", "pandas", "duckdb", "pyarrow", "plotly.graph_objects",
    "db", "db.store", "cruxlab.camera", "cruxlab.skeleton", "cruxlab.draw", "cruxlab.labels", "cruxlab.metadata",
    "cruxlab.joints", "moves.calibration", "dashboard.figures",
)


def warm(modules: tuple[str, ...] = WARM_MODULES) -> list[str]:
    """Import `modules`; returns those that failed (the page imports them itself and shows the error)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page's own import reports it where the coach sees it
            failed.append(name)
    return failed


#: Set by `cruxlab dashboard` to the store's path: the server then makes the missing playback files in a
#: low-priority child process (dashboard.player.prepare) so CLI-analysed attempts open without transcoding.
PREPARE_ENV = "CRUXLAB_PREPARE_PLAYBACK"


#: The preparer's entry: dashboard.player's package imports Streamlit, whose caches log "No runtime found" once
#: per cached function outside a server; those warnings say nothing to a coach, so logging is muted below errors.
_PREPARER = ("import logging, os, sys; os.nice(10); logging.disable(logging.WARNING); "
             "from dashboard.player.prepare import main; sys.exit(main(sys.argv[1:]))")


def start_playback_preparer(db: str) -> threading.Thread:
    """Run dashboard.player.prepare for `db` at nice 10 as a child of this (the server's) process; a thread
    waits for it (no zombie) and the child stops at exit or when this process is gone."""
    proc = subprocess.Popen([sys.executable, "-c", _PREPARER, "--db", db, "--parent", str(os.getpid())],
                            stdin=subprocess.DEVNULL)  # it lowers its own priority: no preexec_fn in a threaded server
    atexit.register(lambda: proc.poll() is None and proc.terminate())
    waiter = threading.Thread(target=proc.wait, name="cruxlab-playback-preparer", daemon=True)
    waiter.start()
    return waiter


def main(argv: list[str] | None = None) -> None:
    # streamlit first, in this thread: its import builds Plotly theme objects, and Plotly probes pandas through
    # sys.modules, where a pandas half-imported by the warming thread would be found (and fail).
    from streamlit.web import cli

    threading.Thread(target=warm, name="cruxlab-warm-imports", daemon=True).start()
    if os.environ.get(PREPARE_ENV):
        start_playback_preparer(os.environ[PREPARE_ENV])
    sys.argv = ["streamlit", *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
