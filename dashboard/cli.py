"""`cruxlab dashboard`: start the coach dashboard (Streamlit) on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from cruxlab.cli import add_command

APP = Path(__file__).resolve().parent / "app.py"
DEMO_DB = Path("cache/demo/cruxlab-demo.duckdb")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "dashboard", "open the coach dashboard (browse attempts, watch skeletons, correct labels, statistics)",
        "Start the Streamlit dashboard on http://127.0.0.1:PORT for the database given by --db (before or after\n"
        "the subcommand). It only reads the store, except for label corrections, which are appended to the\n"
        "label history. Stop it with Ctrl+C.\n\n"
        "  cruxlab --db climbs.duckdb dashboard --port 8600\n"
        "  cruxlab dashboard --demo        # synthetic demo attempts in cache/demo/, built on first use",
    )
    # SUPPRESS: without the option here, the global `cruxlab --db PATH dashboard` value stays.
    p.add_argument("--db", default=argparse.SUPPRESS, help="DuckDB file of the store (same as the global --db)")
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1")
    p.add_argument("--demo", action="store_true",
                   help=f"show synthetic demo attempts ({DEMO_DB}, built when missing) instead of --db")
    p.add_argument("--open", action="store_true", help="also open a browser window")
    p.set_defaults(func=cmd_dashboard)


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> bool:
    """Poll the Streamlit server at `url` (its /_stcore/health answers "ok" once it serves) until it is up
    (True), or until `proc` (the server process) exits or `timeout_s` pass (False)."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return True
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def streamlit_command(db: str | Path, port: int, headless: bool = True) -> list[str]:
    """The command line that serves the dashboard for `db` on 127.0.0.1:port: `streamlit run` through
    dashboard.serve, which imports the pages' heavy modules while the server starts."""
    return [
        sys.executable, "-m", "dashboard.serve", "run", str(APP),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--server.maxUploadSize", "2048",  # MB: phone videos of a long problem in 4K
        "--theme.base", "light", "--client.toolbarMode", "minimal",
        "--", "--db", str(Path(db).resolve()),
    ]


def cmd_dashboard(args: argparse.Namespace) -> int:
    db = Path(args.db)
    if args.demo:
        db = DEMO_DB
        if not db.exists():
            from dashboard.demo_data import build_demo_db

            print(f"building the demo database {db} (synthetic attempts, about half a minute)...", flush=True)
            partial = db.with_suffix(".partial")  # an interrupted build never passes for a finished one
            partial.unlink(missing_ok=True)
            build_demo_db(partial, db.parent / "media", attempts_per_climber=3, n_frames=500)
            partial.rename(db)
    # The server also makes missing playback files in the background (dashboard.serve.PREPARE_ENV), so attempts
    # stored by `cruxlab analyze` open without transcoding on the first view.
    env = dict(os.environ, CRUXLAB_DB=str(db.resolve()), CRUXLAB_PREPARE_PLAYBACK=str(db.resolve()))
    print(f"cruxlab dashboard for {db.resolve()} at http://127.0.0.1:{args.port}  (Ctrl+C stops it)", flush=True)
    cmd = streamlit_command(db, args.port, headless=not args.open)
    # Become the server (same PID): stopping this process stops the dashboard, no orphaned child.
    os.execve(cmd[0], cmd, env)
    return 0  # not reached
