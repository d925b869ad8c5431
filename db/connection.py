"""Short-lived DuckDB connections, schema migrations and transactions.

DuckDB lets one process write a database file and then excludes every other process, readers included.
So every caller opens a connection for one short job and closes it: `with connect(path) as con: ...`.
When another process holds the lock we retry with backoff for `timeout_s` seconds (env
`CRUXLAB_DB_TIMEOUT`, default 15) and then raise `DatabaseBusyError` naming the holder.

Migrations are the numbered `db/migrations/NNN_name.sql` files; each is applied once, in its own
transaction, and recorded in `schema_migrations`. Write connections migrate on open; read-only connections
migrate through a brief write connection when the file is behind, so an older database keeps working.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

from cruxlab.errors import DatabaseBusyError, DatabaseError
from cruxlab.processes import describe

DEFAULT_DB = "cruxlab.duckdb"
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """All migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("db.migrations").iterdir():
        m = re.fullmatch(r"(\d{3})_(\w+)\.sql", entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration numbers must run 1..N without gaps, got {versions}")
    return found


SCHEMA_VERSION = len(migrations())


def default_timeout() -> float:
    return float(os.environ.get("CRUXLAB_DB_TIMEOUT", "15"))


def _is_lock_error(exc: Exception) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


def lock_holder(path: Path) -> tuple[str, int] | None:
    """("reading" | "writing", PID) of the process whose lock on `path` stops a writer, or None. DuckDB holds a
    shared fcntl lock while reading and an exclusive one while writing; F_GETLK reports the conflicting one.
    Only call this when this process holds no lock on `path` (closing any descriptor of a file drops this
    process's fcntl locks on it), i.e. after DuckDB refused to open it."""
    import fcntl
    import struct

    layout = "hhqqi4x"  # struct flock on Linux: type, whence, start, len, pid
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(layout, fcntl.F_WRLCK, 0, 0, 0, 0))
        kind, _, _, _, pid = struct.unpack(layout, answer)
    except (OSError, struct.error):
        return None
    finally:
        os.close(fd)
    if kind == fcntl.F_UNLCK:
        return None
    return ("reading" if kind == fcntl.F_RDLCK else "writing"), pid


def busy_message(path: Path, duckdb_message: str, read_only: bool, timeout_s: float) -> str:
    """Who holds the database and why that stops us, from the lock itself (not guessed from our own role)."""
    if "different configuration" in duckdb_message:
        who, doing = "another connection of this process", "using it"
    else:
        holder = None if read_only else lock_holder(path)  # a reader is only ever stopped by a writer
        if holder is None:
            found = re.search(r"\(PID (\d+)\)", duckdb_message)
            pid = int(found.group(1)) if found else None
            reading = "would be able to open this database in read-only mode" in duckdb_message
            holder = ("reading" if reading else "writing", pid) if pid is not None else None
        if holder is None:
            who, doing = "another process", "writing to it"
        else:
            kind, pid = holder
            name = describe(pid)
            who = f"process {pid}" + (f" ({name})" if name else "")
            doing = "reading it" if kind == "reading" else "writing to it"
    if doing == "reading it":
        why = "DuckDB lets nobody write while another process reads"
    else:
        why = "DuckDB allows one writer and no other readers meanwhile"
    return (f"{path} is busy: {who} is {doing} ({why}). Waited {timeout_s:.0f} s; try again when it finishes, "
            "or raise CRUXLAB_DB_TIMEOUT.")


def _open(path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            msg = str(exc)
            # ConnectionException "different configuration": another thread of this process (a second dashboard
            # session) has the file open read-only while this one wants to write, or the other way round;
            # it clears as soon as that short-lived connection closes, like another process's lock.
            if _is_lock_error(exc) or "different configuration" in msg:
                if time.monotonic() >= deadline:
                    raise DatabaseBusyError(busy_message(path, msg, read_only, timeout_s)) from None
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
                continue
            if "not a valid DuckDB database" in msg:
                raise DatabaseError(f"{path} is not a DuckDB database; pass another --db path") from None
            if "No such file or directory" in msg or "Permission denied" in msg or "Read-only file" in msg:
                raise DatabaseError(
                    f"cannot open {path} for writing ({msg.split(':', 1)[-1].strip()}); "
                    "choose a --db path in a writable folder"
                ) from None
            raise DatabaseError(f"cannot open {path}: {msg}") from None


def _applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return set()
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    applied = _applied_versions(con)
    return max(applied) if applied else 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every pending migration, all in one transaction (a failing one leaves the schema as it was;
    a new store's 9 took ~50 ms as 9 transactions, ~27 ms as one); return the versions applied."""
    applied = _applied_versions(con)
    if applied and max(applied) > SCHEMA_VERSION:
        raise DatabaseError(
            f"this database has schema version {max(applied)}, newer than this cruxlab knows "
            f"({SCHEMA_VERSION}); upgrade cruxlab"
        )
    pending = [mig for mig in migrations() if mig.version not in applied]
    if pending:
        with transaction(con):
            for mig in pending:
                con.execute(mig.sql)
                con.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())",
                    [mig.version, mig.name],
                )
    return [mig.version for mig in pending]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (nothing half-written)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def rolled_back(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... ROLLBACK whatever happens: writes made inside show what they would do and leave nothing
    (dry runs)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    finally:
        con.execute("ROLLBACK")


@contextmanager
def connect(
    path: str | Path = DEFAULT_DB,
    *,
    read_only: bool = False,
    timeout_s: float | None = None,
    create: bool = True,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the store for one short job and close it afterwards.

    Write connections create the file (unless `create=False`) and apply pending migrations. Read-only
    connections require an existing file and bring an older schema up to date first.
    """
    path = Path(path)
    timeout_s = default_timeout() if timeout_s is None else timeout_s
    if read_only or not create:
        if not path.exists():
            raise DatabaseError(
                f"no database at {path}. Analyse a first video with `cruxlab --db {path} analyze VIDEO "
                f"--climber NAME` or import a skeleton with `cruxlab --db {path} import-skeleton FILE.npz "
                "--climber NAME`"
            )
    if read_only:
        con = _open(path, True, timeout_s)
        try:
            version = schema_version(con)
        except BaseException:
            con.close()
            raise
        if version != SCHEMA_VERSION:
            con.close()
            if version > SCHEMA_VERSION:
                raise DatabaseError(
                    f"{path} has schema version {version}, newer than this cruxlab ({SCHEMA_VERSION}); upgrade cruxlab"
                )
            with connect(path, timeout_s=timeout_s):  # migrates
                pass
            con = _open(path, True, timeout_s)
    else:
        con = _open(path, False, timeout_s)
        try:
            # Bulk appends stay in memory until COMMIT instead of being written into the file ahead of it, so a
            # rolled-back or killed import leaves the file its old size (DuckDB never gives freed blocks back).
            con.execute("SET enable_optimistic_write = false")
            migrate(con)
        except BaseException:
            con.close()
            raise
    try:
        yield con
    finally:
        con.close()
