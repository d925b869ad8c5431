"""The dashboard's one data module: every read and write of the store goes through here.

Rules (DuckDB lets a writing process exclude every other process, readers included):
- every query opens a short-lived connection (`db.connect(read_only=True)`) and closes it at once;
- results are cached with `st.cache_data`, keyed on the database file's stamp (size and modification time of
  the file and its WAL), so a new attempt from `cruxlab analyze` shows up by itself and an edit made here
  invalidates what it changed (the caches are also cleared explicitly after every edit);
- when another process holds the lock, reads wait `read_timeout()` and then fall back to the last result
  they got (the page says the data may be stale); with nothing to fall back on, `DatabaseBusyError` reaches
  the app, which says so and retries;
- label edits use exactly the functions the Label Studio import uses: db.store.edit_move / add_move /
  undo_last_edit, one transaction each.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from cruxlab.camera import CameraTrack, WallPoints
from cruxlab.errors import DatabaseBusyError, DatabaseError
from cruxlab.skeleton import Skeleton
from db import connect, store, transaction
from db.store import AttemptInfo

DB_ENV = "CRUXLAB_DB"
#: Env vars: seconds a read waits for another process's write lock before falling back / reporting busy, and
#: seconds a label edit waits before telling the coach to try again.
READ_TIMEOUT_ENV, WRITE_TIMEOUT_ENV = "CRUXLAB_DASHBOARD_READ_TIMEOUT", "CRUXLAB_DASHBOARD_WRITE_TIMEOUT"
EDIT_SOURCE = "dashboard"
T = TypeVar("T")


def db_path() -> Path:
    """The store this dashboard shows: $CRUXLAB_DB (set by `cruxlab dashboard --db`), else ./cruxlab.duckdb."""
    return Path(os.environ.get(DB_ENV) or "cruxlab.duckdb").expanduser().resolve()


def db_stamp(path: Path | None = None) -> tuple[int, int, int, int]:
    """Cheap identity of the database's current content (no connection, no lock): size and mtime of the file
    and of its write-ahead log."""
    path = path or db_path()
    out: list[int] = []
    for p in (path, Path(f"{path}.wal")):
        try:
            s = p.stat()
            out += [s.st_size, s.st_mtime_ns]
        except FileNotFoundError:
            out += [-1, -1]
    return tuple(out)  # type: ignore[return-value]


# --------------------------------------------------------------------------------- busy fallback
_LAST_GOOD: OrderedDict[tuple, Any] = OrderedDict()
_LAST_GOOD_MAX = 64
_LOCK = threading.Lock()
_BUSY_KEY = "_cruxlab_busy_message"


def _read(fn: Callable[..., T], *args: Any, use_stamp: bool = True) -> T:
    """Call a cached reader with the current path (and stamp, unless the data never changes once stored);
    when the database is busy, return the last result this reader gave for the same arguments."""
    path = str(db_path())
    key = (fn.__name__, path, args)
    try:
        value = fn(path, db_stamp(Path(path)) if use_stamp else (), *args)
    except DatabaseBusyError as exc:
        global _busy_until
        _busy_until = time.monotonic() + 2.0
        with _LOCK:
            if key in _LAST_GOOD:
                st.session_state[_BUSY_KEY] = str(exc)
                return _LAST_GOOD[key]
        raise
    with _LOCK:
        _LAST_GOOD[key] = value
        _LAST_GOOD.move_to_end(key)
        while len(_LAST_GOOD) > _LAST_GOOD_MAX:
            _LAST_GOOD.popitem(last=False)
    return value


def busy_message() -> str | None:
    """Set when this run showed cached data because the database was busy; cleared by reading it."""
    return st.session_state.pop(_BUSY_KEY, None)


_busy_until = 0.0  # after a busy read, further reads fail fast for a moment instead of each waiting again


def read_timeout() -> float:
    return 0.05 if time.monotonic() < _busy_until else float(os.environ.get(READ_TIMEOUT_ENV, "2"))


def write_timeout() -> float:
    return float(os.environ.get(WRITE_TIMEOUT_ENV, "5"))


def _ro(path: str):
    return connect(path, read_only=True, timeout_s=read_timeout())


# ----------------------------------------------------------------------------------------- status
@dataclass(frozen=True)
class StoreStatus:
    """What the store holds. state: 'missing' (no file), 'empty' (no attempt yet), 'ready', or 'error'
    (unreadable, or a newer schema) with a message saying what to do."""

    path: str
    state: str
    message: str = ""
    n_attempts: int = 0
    n_climbers: int = 0
    n_problems: int = 0
    n_moves: int = 0
    n_corrections: int = 0  # moves a coach changed from the model's, net of undos (move_state.corrected)


@st.cache_data(show_spinner=False, max_entries=8)
def _status(path: str, stamp: tuple) -> StoreStatus:
    if not Path(path).exists():
        return StoreStatus(path, "missing")
    try:
        with _ro(path) as con:
            counts = con.execute(
                """SELECT (SELECT count(*) FROM attempts), (SELECT count(*) FROM climbers),
                          (SELECT count(*) FROM problems), (SELECT count(*) FROM moves_current)"""
            ).fetchall()[0] + (store.count_corrections(con),)
    except DatabaseBusyError:
        raise
    except DatabaseError as exc:
        return StoreStatus(path, "error", str(exc))
    state = "ready" if counts[0] else "empty"
    return StoreStatus(path, state, "", *map(int, counts))


def status() -> StoreStatus:
    return _read(_status)


def database_free() -> bool:
    """True when no other process holds the write lock right now (opens and closes a connection at once)."""
    try:
        with connect(db_path(), read_only=True, timeout_s=0.0):
            return True
    except DatabaseBusyError:
        return False
    except DatabaseError:
        return True  # not busy: the next run reports whatever else is wrong


# --------------------------------------------------------------------------------------- attempts
@st.cache_data(show_spinner=False, max_entries=8)
def _attempts(path: str, stamp: tuple) -> pd.DataFrame:
    with _ro(path) as con:
        df = store.list_attempts(con)
        activity = con.execute("SELECT attempt_id, moving_fraction, moving_s, still_s FROM attempt_activity").df()
    df = df.merge(activity, on="attempt_id", how="left")
    df["video_on_disk"] = [isinstance(p, str) and os.path.exists(p) for p in df["video_path"]]
    df["date"] = pd.to_datetime(df["date"])
    df["recorded_at"] = pd.to_datetime(df["recorded_at"])
    return df


def attempts() -> pd.DataFrame:
    """One row per attempt: attempt_id, attempt, climber, problem, wall, grade, source_kind, n_frames, fps,
    duration_s, outcome, date (recorded_at, else when stored), recorded_at, video_path, camera_model, n_moves,
    moving_fraction, moving_s, still_s (attempt_activity), video_on_disk."""
    return _read(_attempts)


@st.cache_data(show_spinner=False, max_entries=64)
def _attempt_info(path: str, stamp: tuple, attempt_id: int) -> AttemptInfo:
    with _ro(path) as con:
        return store.attempt_info(con, attempt_id)


def attempt_info(attempt_id: int) -> AttemptInfo:
    return _read(_attempt_info, int(attempt_id))


def _identity(attempt_id: int) -> tuple:
    """What makes an attempt's per-frame data unique in this file (ids are never reused, but a test or a
    user may replace the whole file): name, frame count and source."""
    info = attempt_info(attempt_id)
    return (info.name, info.n_frames, info.source_path)


@st.cache_data(show_spinner=False, max_entries=16)
def _skeleton(path: str, stamp: tuple, attempt_id: int, identity: tuple) -> Skeleton:
    with _ro(path) as con:
        return store.read_skeleton(con, attempt_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _cameras(path: str, stamp: tuple, attempt_id: int, identity: tuple) -> CameraTrack | None:
    with _ro(path) as con:
        return store.read_cameras(con, attempt_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _wall_points(path: str, stamp: tuple, attempt_id: int, identity: tuple) -> WallPoints | None:
    with _ro(path) as con:
        return store.read_wall_points(con, attempt_id)


def _per_attempt(fn: Callable[..., T], attempt_id: int) -> T:
    """Per-frame data never changes once stored, so it is keyed on the attempt's identity, not the stamp."""
    return _read(fn, int(attempt_id), _identity(attempt_id), use_stamp=False)


def skeleton(attempt_id: int) -> Skeleton:
    """The stored skeleton: keypoints (T, 21, 3) metres in the wall frame, confidence (T, 21), fps."""
    return _per_attempt(_skeleton, attempt_id)


def cameras(attempt_id: int) -> CameraTrack | None:
    """Per-frame K, R, t (world->camera, OpenCV) or None for skeleton-only attempts."""
    return _per_attempt(_cameras, attempt_id)


def wall_points(attempt_id: int) -> WallPoints | None:
    return _per_attempt(_wall_points, attempt_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _joint_angles(path: str, stamp: tuple, attempt_id: int, identity: tuple) -> tuple[tuple[str, ...], np.ndarray]:
    from moves.features import ANGLE_NAMES, joint_angles as angles_of

    return tuple(ANGLE_NAMES), angles_of(skeleton(attempt_id).keypoints)


def joint_angles(attempt_id: int) -> tuple[tuple[str, ...], np.ndarray]:
    """(angle names, (T, A) degrees) from moves.features.joint_angles (180 = straight limb)."""
    return _per_attempt(_joint_angles, attempt_id)


def prefetch_attempt(attempt_id: int) -> None:
    """Read what the attempt page needs of one attempt into the caches at once, in parallel (DuckDB reads
    outside the GIL): a first view of an attempt made seven reads one after another, ~0.25 s on 2 busy cores
    (~0.1 s this way). Errors are left for the page's own call of the same reader to raise (cached or not)."""
    from concurrent.futures import ThreadPoolExecutor

    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    try:
        attempt_info(attempt_id)  # the per-frame readers key on its identity
    except Exception:  # noqa: BLE001 - the page's own attempt_info() raises it where the coach sees it
        return
    ctx = get_script_run_ctx(suppress_warning=True)
    readers = (lambda: moves(attempt_id, include_deleted=True), lambda: skeleton(attempt_id),
               lambda: cameras(attempt_id), lambda: wall_points(attempt_id), lambda: review_state(attempt_id),
               lambda: wall_interval(attempt_id))

    def run(reader: Callable[[], Any]) -> None:
        if ctx is not None:  # the session's context: its caches, and session state for the busy fallback
            add_script_run_ctx(threading.current_thread(), ctx)
        try:
            reader()
        except Exception:  # noqa: BLE001 - see above
            pass

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="cruxlab-prefetch") as pool:
        list(pool.map(run, readers))


# ------------------------------------------------------------------------------------------ moves
@st.cache_data(show_spinner=False, max_entries=32)
def _moves(path: str, stamp: tuple, attempt_id: int) -> pd.DataFrame:
    with _ro(path) as con:
        return store.current_moves(con, attempt_id, include_deleted=True)


def moves(attempt_id: int, include_deleted: bool = False) -> pd.DataFrame:
    """Moves of an attempt as they stand after every edit; model originals in original_* columns."""
    df = _read(_moves, int(attempt_id))
    return df if include_deleted else df[~df["deleted"]].reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=32)
def _history(path: str, stamp: tuple, attempt_id: int | None) -> pd.DataFrame:
    with _ro(path) as con:
        return store.label_history(con, attempt_id=attempt_id)


def history(attempt_id: int | None = None) -> pd.DataFrame:
    """The append-only label history (newest first), of one attempt or of all."""
    return _read(_history, None if attempt_id is None else int(attempt_id))


# ------------------------------------------------------------------------------------- statistics
@st.cache_data(show_spinner=False, max_entries=16)
def _views(path: str, stamp: tuple, names: tuple[str, ...]) -> list[pd.DataFrame]:
    unknown = [n for n in names if n not in _VIEWS]
    if unknown:
        raise ValueError(f"unknown statistics table(s) {unknown}; known: {sorted(_VIEWS)}")
    with _ro(path) as con:  # one connection for the lot: opening one costs about as much as a query
        return [con.execute(_VIEWS[n]).df() for n in names]


_VIEWS = {
    "moves_per_label": "SELECT * FROM moves_per_label ORDER BY n_moves DESC",
    "moves_per_climber": "SELECT * FROM moves_per_climber ORDER BY climber, label",
    "moves_per_problem": "SELECT * FROM moves_per_problem ORDER BY problem, label",
    "duration_quantiles": """
        SELECT label, min(duration_s) AS min_s, quantile_cont(duration_s, 0.25) AS q1_s,
               median(duration_s) AS median_s, quantile_cont(duration_s, 0.75) AS q3_s, max(duration_s) AS max_s,
               count(*) AS n_moves
        FROM move_details GROUP BY label ORDER BY label""",
    "climber_summary": """
        SELECT c.name AS climber, count(*) AS attempts, count(*) FILTER (WHERE a.outcome = 'top') AS tops,
               sum(a.n_frames / a.fps) AS climbing_s, sum(pa.n_moves) AS moves,
               sum(pa.n_moves) * 60.0 / sum(a.n_frames / a.fps) AS moves_per_minute,
               avg(act.moving_fraction) AS moving_fraction
        FROM attempts a JOIN climbers c USING (climber_id)
        JOIN moves_per_attempt pa USING (attempt_id) JOIN attempt_activity act USING (attempt_id)
        GROUP BY c.name ORDER BY c.name""",
    "labels_per_climber": """
        SELECT climber, label, count(*) AS n_moves, count(DISTINCT attempt_id) AS n_attempts,
               avg(duration_s) AS mean_duration_s, avg(confidence) AS mean_confidence
        FROM move_details GROUP BY ALL ORDER BY climber, label""",
    "corrections": """
        SELECT original_label, label, count(*) AS n
        FROM moves_current WHERE edited AND original_label <> label GROUP BY ALL ORDER BY n DESC""",
}


def views(*names: str) -> list[pd.DataFrame]:
    """Statistics tables, read together: moves_per_label, moves_per_climber, moves_per_problem,
    duration_quantiles, climber_summary, labels_per_climber, corrections."""
    return _read(_views, tuple(names))


@st.cache_data(show_spinner=False, max_entries=32)
def _move_details(path: str, stamp: tuple, attempt_id: int) -> pd.DataFrame:
    with _ro(path) as con:
        return con.execute("SELECT * FROM move_details WHERE attempt_id = ? ORDER BY start_frame",
                           [attempt_id]).df()


def move_details(attempt_id: int) -> pd.DataFrame:
    """Current moves of one attempt with climber, problem and times in seconds (the move_details view)."""
    return _read(_move_details, int(attempt_id))


# --------------------------------------------------------------------------------------------- SQL
def run_sql(sql: str):
    """A user's query on a sandboxed read-only snapshot of the store (db.query), within the configured time,
    memory and row limits: it cannot change the store, touch files or block a writer. Returns a
    db.query.QueryResult; raises db.query.QueryError with DuckDB's explanation or the limit that stopped it."""
    from db.query import run_readonly_query

    return run_readonly_query(db_path(), sql, timeout_s=read_timeout())


@st.cache_data(show_spinner=False, max_entries=4)
def _schema(path: str, stamp: tuple) -> pd.DataFrame:
    with _ro(path) as con:
        return con.execute(
            """SELECT t.table_name AS name, t.table_type AS kind,
                      string_agg(c.column_name, ', ' ORDER BY c.ordinal_position) AS columns
               FROM information_schema.tables t JOIN information_schema.columns c USING (table_name)
               WHERE t.table_schema = 'main' AND t.table_name <> 'schema_migrations'
               GROUP BY ALL ORDER BY kind DESC, name"""
        ).df()


def schema() -> pd.DataFrame:
    """Tables and views with their columns, for the SQL page's reference."""
    return _read(_schema)


# ------------------------------------------------------------------------------------------ video
def video_exists(video_path: str | None) -> bool:
    return bool(video_path) and Path(video_path).is_file()


# ------------------------------------------------------------------------------------------ edits
def _write(fn: Callable[..., T]) -> T:
    """Run one edit in its own short write transaction, then drop every cached result it may change."""
    with connect(db_path(), create=False, timeout_s=write_timeout()) as con, transaction(con):
        result = fn(con)
    clear_after_edit()
    return result


def clear_after_edit() -> None:
    for fn in (_status, _attempts, _attempt_info, _names, _moves, _history, _views, _move_details, _review_state):
        fn.clear()


def update_attempt(attempt_id: int, **fields: Any) -> list[store.MetadataChange]:
    """Change an attempt's climber / problem / grade / outcome / recorded_at (db.store.update_attempt: all
    validated before anything is written; InputError says what to enter). Returns what changed."""
    return _write(lambda con: store.update_attempt(con, int(attempt_id), **fields))


@st.cache_data(show_spinner=False, max_entries=4)
def _names(path: str, stamp: tuple) -> tuple[dict[str, float | None], dict[str, str | None]]:
    with _ro(path) as con:
        climbers = dict(con.execute("SELECT name, height_m FROM climbers ORDER BY name").fetchall())
        problems = dict(con.execute("SELECT name, grade FROM problems ORDER BY name").fetchall())
    return climbers, problems


def names() -> tuple[dict[str, float | None], dict[str, str | None]]:
    """({climber: stored height in metres or None}, {problem: grade or None}) for pickers, sorted by name."""
    return _read(_names)


def edit_move(move_id: int, editor: str, *, label: str | None = None, limb: str | None = None,
              start_frame: int | None = None, end_frame: int | None = None, delete: bool = False,
              restore: bool = False, note: str | None = None) -> int | None:
    """Correct a move (db.store.edit_move); returns the new edit_id, or None when nothing changed."""
    return _write(lambda con: store.edit_move(
        con, int(move_id), editor=editor, source=EDIT_SOURCE, label=label, limb=limb, start_frame=start_frame,
        end_frame=end_frame, delete=delete, restore=restore, note=note))


def add_move(attempt_id: int, editor: str, *, label: str, limb: str, start_frame: int, end_frame: int,
             note: str | None = None) -> int | None:
    """Add a move the model missed (db.store.add_move); returns its move_id."""
    return _write(lambda con: store.add_move(
        con, int(attempt_id), label=label, limb=limb, start_frame=int(start_frame), end_frame=int(end_frame),
        editor=editor, source=EDIT_SOURCE, note=note))


def confirm_move(move_id: int, editor: str) -> int | None:
    """A coach vouches for a move as it stands (db.store.confirm_move); None when it already was confirmed."""
    return _write(lambda con: store.confirm_move(con, int(move_id), editor=editor, source=EDIT_SOURCE))


def review_attempt(attempt_id: int, editor: str, reviewed: bool = True) -> int | None:
    """Mark an attempt reviewed, or withdraw that (db.store.review_attempt); None when nothing changed."""
    return _write(lambda con: store.review_attempt(con, int(attempt_id), editor=editor, source=EDIT_SOURCE,
                                                   reviewed=reviewed))


@st.cache_data(show_spinner=False, max_entries=32)
def _wall_interval(path: str, stamp: tuple, attempt_id: int) -> store.WallInterval | None:
    with _ro(path) as con:
        return store.read_wall_interval(con, attempt_id)


def wall_interval(attempt_id: int) -> store.WallInterval | None:
    """When the climber was on the wall (frames) and how the attempt ended, as move detection found it; None
    for attempts detected before it was stored."""
    return _read(_wall_interval, int(attempt_id))


@st.cache_data(show_spinner=False, max_entries=32)
def _review_state(path: str, stamp: tuple, attempt_id: int) -> store.ReviewState:
    with _ro(path) as con:
        return store.review_state(con, attempt_id)


def review_state(attempt_id: int) -> store.ReviewState:
    """Is the attempt reviewed (and by whom), and how many of its moves count as training labels."""
    return _read(_review_state, int(attempt_id))


def undo_last_edit(attempt_id: int, editor: str | None) -> int | None:
    """Undo this coach's latest edit in this attempt (db.store.undo_last_edit); None when nothing to undo."""
    return _write(lambda con: store.undo_last_edit(con, editor=editor or None, attempt_id=int(attempt_id),
                                                   source=EDIT_SOURCE))


# ------------------------------------------------------------------------------------------ exports
@st.cache_data(show_spinner=False, max_entries=4)
def _render_data(path: str, stamp: tuple, attempt_id: int):
    with _ro(path) as con:
        return store.read_render_data(con, attempt_id)


def render_data(attempt_id: int):
    """Everything a render of the attempt needs (db.store.RenderData: skeleton, cameras, 2D detections,
    current moves, where its video is)."""
    return _read(_render_data, int(attempt_id))


@st.cache_data(show_spinner=False, max_entries=16)
def _move_clip(path: str, stamp: tuple, attempt_id: int, start: int, end: int, fmt: str) -> bytes:
    from dashboard.clips import clip_frames, move_clip

    rd = render_data(attempt_id)
    return move_clip(rd, clip_frames(start, end, rd.skeleton.n_frames, rd.skeleton.fps), fmt)


def move_clip(attempt_id: int, start: int, end: int, fmt: str) -> bytes:
    """The skeleton overlay of frames [start, end] of an attempt with half a second around them, as an MP4 or
    GIF file's bytes (dashboard.clips); cached until the store changes (the band names the current moves)."""
    return _read(_move_clip, int(attempt_id), int(start), int(end), str(fmt))


def export_attempt(attempt_id: int, fmt: str) -> bytes:
    """One attempt exported with db.export (fmt 'csv' or 'parquet': moves, label history and the long-form
    skeleton; 'npz': the skeleton interchange file) and zipped: the bytes of the .zip."""
    import io
    import tempfile
    import zipfile

    from db.export import export

    name = attempt_info(attempt_id).name
    with tempfile.TemporaryDirectory(prefix="cruxlab-export-") as tmp:
        files = export(db_path(), Path(tmp), fmt=fmt, attempts=[name])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, arcname=f.name)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ uploads
def upload_dir() -> Path:
    """Where uploaded videos and their analysis jobs live (dashboard.jobs.upload_root of this store)."""
    from dashboard.jobs import upload_root

    return upload_root(db_path())


def submit_analysis(video, filename: str, request) -> Path:
    """Save an uploaded video (a binary file object) and start its analysis in the background
    (dashboard.jobs.submit); returns the job folder. InputError for a file that is not a video we read."""
    from dashboard.jobs import submit

    return submit(upload_dir(), db_path(), video, filename, request)


def analysis_jobs(limit: int = 8) -> list:
    """The latest upload jobs (dashboard.jobs.Job: folder, request, status), newest first. Reads their
    status files only, never the database."""
    from dashboard.jobs import list_jobs, load_job

    return [load_job(job) for job in list_jobs(upload_dir(), limit)]


def cancel_analysis(job_dir: Path) -> bool:
    from dashboard.jobs import cancel

    return cancel(job_dir)


def refresh() -> None:
    """Forget every cached query result (the 'Refresh' button)."""
    st.cache_data.clear()
    _LAST_GOOD.clear()
