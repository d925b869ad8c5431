"""Read-only SQL for users (CLI `sql`, dashboard SQL page): sandboxed, bounded, and never in a writer's way.

- **Sandboxed**: read-only connection, external file access off, configuration locked: whatever the text
  says, neither the store nor any other file changes.
- **Bounded** (`QueryLimits`, env CRUXLAB_SQL_TIMEOUT / CRUXLAB_SQL_MEMORY_MB / CRUXLAB_SQL_MAX_ROWS): a
  statement timeout (the query is interrupted, not the process), a memory limit with spilling capped at the
  same size, and a row limit (the result is cut and says so). Ctrl-C interrupts the query the same way.
- **Out of the writers' way**: DuckDB lets nobody write a file while anyone reads it, so a long query on the
  store itself would stall `analyze`, `import-skeleton` and the dashboard's edits. Queries therefore run on a
  snapshot: a copy of the file taken under a brief read lock (a reflink where the file system has them, e.g.
  btrfs/XFS, else a plain copy at disk speed, ~1 s per GB) and reused until the store changes. It sits beside
  the store (`.<name>.sql-snapshot/`, same file system, mode 700). A store larger than CRUXLAB_SQL_SNAPSHOT_MB
  (default 4096) is queried in place instead; writers then wait at most the statement timeout.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from cruxlab.errors import CruxlabError
from cruxlab.limits import sql_max_rows, sql_memory_mb, sql_snapshot_mb, sql_timeout_s
from db.connection import connect, default_timeout


class QueryError(CruxlabError):
    """The user's SQL failed, ran out of its limits, or tried to change something."""


class QueryCancelled(QueryError):
    """The user pressed Ctrl-C while the query ran; it was interrupted and nothing changed."""


@dataclass(frozen=True)
class QueryLimits:
    """timeout_s: seconds before the query is interrupted; memory_mb: DuckDB memory (and spill) limit;
    max_rows: rows returned at most (the result says when it was cut)."""

    timeout_s: float
    memory_mb: int
    max_rows: int

    @classmethod
    def configured(cls, timeout_s: float | None = None, memory_mb: int | None = None,
                   max_rows: int | None = None) -> QueryLimits:
        """The given values, else the environment's, else the defaults (cruxlab.limits)."""
        return cls(sql_timeout_s() if timeout_s is None else float(timeout_s),
                   sql_memory_mb() if memory_mb is None else int(memory_mb),
                   sql_max_rows() if max_rows is None else int(max_rows))


@dataclass(frozen=True)
class QueryResult:
    """rows: at most limits.max_rows rows; truncated: more rows existed; source: 'snapshot' or 'store';
    seconds: time spent in the query (after the snapshot)."""

    rows: pd.DataFrame
    truncated: bool
    source: str
    seconds: float


# ------------------------------------------------------------------------------------------- snapshot
def _stamp(path: Path) -> list:
    """What identifies one state of the store file (and its write-ahead log)."""
    out = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = p.stat()
            out.append([st.st_ino, st.st_size, st.st_mtime_ns])
        except FileNotFoundError:
            out.append(None)
    return out


def _clone(src: Path, dst: Path) -> None:
    """Copy a file, as a reflink (instant, shares blocks) when the file system can."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), 0x40049409, fin.fileno())  # FICLONE
            return
        except OSError:
            pass
        shutil.copyfileobj(fin, fout, 16 << 20)


def snapshot_dir(path: Path) -> Path:
    return path.with_name(f".{path.name}.sql-snapshot")


def snapshot(path: str | Path, timeout_s: float | None = None) -> Path | None:
    """An up-to-date read-only copy of the store for queries, or None where none can be made (folder not
    writable, store larger than CRUXLAB_SQL_SNAPSHOT_MB): then the caller queries the store itself."""
    path = Path(path).resolve()
    if path.stat().st_size > sql_snapshot_mb() * 2**20:
        return None
    folder = snapshot_dir(path)
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        lock = open(folder / "lock", "a")
    except OSError:
        return None
    target = folder / "store.duckdb"
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one refresh at a time; others then find it fresh
        stamp_file = folder / "stamp"
        if target.is_file() and stamp_file.is_file() and stamp_file.read_text() == repr(_stamp(path)):
            return target
        # A read-only connection holds DuckDB's shared lock: no writer changes the file while it is copied.
        # Copy the WAL first: closing our descriptor of the store file releases this process's locks on it.
        tmp, tmp_wal = folder / f"store.{os.getpid()}.tmp", folder / f"store.{os.getpid()}.tmp.wal"
        wal = path.with_name(path.name + ".wal")
        with connect(path, read_only=True, timeout_s=default_timeout() if timeout_s is None else timeout_s):
            stamp = repr(_stamp(path))
            try:
                if wal.is_file():
                    _clone(wal, tmp_wal)
                _clone(path, tmp)
            except OSError:
                tmp.unlink(missing_ok=True)
                tmp_wal.unlink(missing_ok=True)
                return None
        if tmp_wal.is_file():  # fold a left-over log into the private copy: the snapshot is one file, replaced
            fold = duckdb.connect(str(tmp))  # atomically, never a file and a log a reader could see apart
            fold.execute("CHECKPOINT")
            fold.close()
        os.replace(tmp, target)
        stamp_file.write_text(stamp)
    return target


# ------------------------------------------------------------------------------------------- running
@contextmanager
def sandboxed(path: Path, limits: QueryLimits, timeout_s: float | None = None, spill: Path | None = None
              ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection with the limits set (spilling into `spill`, else DuckDB's default folder),
    external access off and the configuration locked."""
    with connect(path, read_only=True, timeout_s=timeout_s) as con:
        con.execute(f"SET memory_limit = '{int(limits.memory_mb)}MB'")
        con.execute(f"SET max_temp_directory_size = '{int(limits.memory_mb)}MB'")
        if spill is not None:
            con.execute("SET temp_directory = '{}'".format(str(spill).replace("'", "''")))
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con


def _execute(con: duckdb.DuckDBPyConnection, sql: str, limits: QueryLimits) -> tuple[pd.DataFrame, bool]:
    """Run `sql` in a worker thread; the calling thread waits, interrupting the query on timeout or Ctrl-C
    (DuckDB does not see signals while it computes, so a query in the main thread would ignore Ctrl-C)."""
    box: dict = {}
    done = threading.Event()

    def work() -> None:
        try:
            rel = con.sql(sql)
            if rel is None:
                box["none"] = True
                return
            box["rows"] = rel.limit(limits.max_rows + 1).df()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    # Wait on an Event, not Thread.join: a KeyboardInterrupt inside join() can leave Python 3.11 believing the
    # thread has ended while DuckDB still runs the query on this connection.
    threading.Thread(target=work, name="cruxlab-sql", daemon=True).start()
    deadline = time.monotonic() + limits.timeout_s
    try:
        while not done.wait(0.05) and time.monotonic() < deadline:
            pass
    except KeyboardInterrupt:
        con.interrupt()
        _finish(done, con)
        raise QueryCancelled("query cancelled (Ctrl-C); nothing changed") from None
    if not done.is_set():
        con.interrupt()
        _finish(done, con)
        raise QueryError(
            f"query stopped after {limits.timeout_s:g} s, its time limit; add WHERE/LIMIT or aggregate to make it "
            "cheaper, or raise the limit (--timeout, CRUXLAB_SQL_TIMEOUT)")
    if "error" in box:
        raise _explain(box["error"], limits) from None
    if box.get("none"):
        raise QueryError("the statement returned no rows (only SELECT-style queries are allowed here)")
    rows = box["rows"]
    truncated = len(rows) > limits.max_rows
    return (rows.iloc[:limits.max_rows] if truncated else rows), truncated


def _finish(done: threading.Event, con: duckdb.DuckDBPyConnection) -> None:
    """Wait for an interrupted query to return (DuckDB checks for interrupts between vectors: milliseconds),
    interrupting again should a Ctrl-C arrive meanwhile."""
    while True:
        try:
            if done.wait(10.0):
                return
        except KeyboardInterrupt:
            pass
        con.interrupt()


def run_readonly_query(db_path: str | Path, sql: str, timeout_s: float | None = None,
                       limits: QueryLimits | None = None) -> QueryResult:
    """Run one query on a sandboxed, bounded, read-only connection to a snapshot of the store (see the module
    docstring) and return its rows. `timeout_s` is how long to wait for a writer to let go of the store (for
    the snapshot); the query's own limits are `limits` (default: `QueryLimits.configured()`). Errors come
    back as QueryError with DuckDB's explanation or the limit that stopped the query."""
    if not sql or not sql.strip():
        raise QueryError("the query is empty; try: SELECT * FROM moves_per_label")
    limits = limits or QueryLimits.configured()
    path = Path(db_path)
    if not path.is_file():
        with connect(path, read_only=True):  # the friendly "no database at ..." error
            pass
    snap = snapshot(path, timeout_s)
    t0 = time.perf_counter()
    spill = None if snap is None else snap.parent / "spill"
    with sandboxed(snap or path, limits, timeout_s, spill) as con:
        rows, truncated = _execute(con, sql, limits)
    return QueryResult(rows, truncated, "store" if snap is None else "snapshot", time.perf_counter() - t0)


_REFUSALS = ("read-only mode", "disabled by configuration", "configuration has been locked",
             "Permission Error")


def _explain(exc: BaseException, limits: QueryLimits) -> QueryError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, duckdb.OutOfMemoryException) or "Out of Memory" in first:
        return QueryError(f"query stopped: it needed more than its {limits.memory_mb} MB of memory ({first}); "
                          "aggregate or filter more, or raise CRUXLAB_SQL_MEMORY_MB")
    if isinstance(exc, duckdb.InterruptException):
        return QueryCancelled("query interrupted; nothing changed")
    if any(marker in first for marker in _REFUSALS):
        return QueryError(f"refused: queries here are read-only and cannot change the store or touch files ({first})")
    if not isinstance(exc, duckdb.Error):
        return QueryError(f"query failed: {type(exc).__name__}: {first}")
    return QueryError(f"query failed: {first}")
