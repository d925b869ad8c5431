"""User SQL is bounded (time, memory, rows), stoppable with Ctrl-C, and never in a writer's way; a busy store
names who holds it and whether that process reads or writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_cli, table_counts

from cruxlab.errors import DatabaseBusyError
from db import connect, transaction
from db.connection import lock_holder
from db.query import QueryError, QueryLimits, run_readonly_query, snapshot_dir

RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
CROSS = "SELECT count(*) FROM range(1000000000) a, range(100000) b WHERE a.range + b.range = -1"


@pytest.fixture
def store_db(db_path):
    with connect(db_path) as con, transaction(con):
        con.execute("INSERT INTO climbers (name) VALUES ('Janja'), ('Adam')")
    return db_path


@pytest.mark.parametrize("sql", [RUNAWAY, CROSS])
def test_runaway_queries_stop_at_the_timeout(store_db, sql):
    t = time.monotonic()
    with pytest.raises(QueryError, match=r"query stopped after 1 s, its time limit.*CRUXLAB_SQL_TIMEOUT"):
        run_readonly_query(store_db, sql, limits=QueryLimits(timeout_s=1.0, memory_mb=256, max_rows=100))
    assert time.monotonic() - t < 10


def test_memory_and_row_limits(store_db, monkeypatch):
    grow = ("WITH RECURSIVE r(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || s FROM r WHERE n < 40) "
            "SELECT max(length(s)) FROM r")
    with pytest.raises(QueryError, match="more than its 128 MB of memory.*CRUXLAB_SQL_MEMORY_MB"):
        run_readonly_query(store_db, grow, limits=QueryLimits(timeout_s=30, memory_mb=128, max_rows=10))
    res = run_readonly_query(store_db, "SELECT * FROM range(1000)", limits=QueryLimits(30, 256, 10))
    assert len(res.rows) == 10 and res.truncated and res.source == "snapshot"
    res = run_readonly_query(store_db, "SELECT * FROM range(10)", limits=QueryLimits(30, 256, 10))
    assert len(res.rows) == 10 and not res.truncated
    monkeypatch.setenv("CRUXLAB_SQL_MAX_ROWS", "3")
    code, out, err = run_cli("--db", str(store_db), "sql", "SELECT * FROM range(100)", "--format", "csv")
    assert code == 0 and out.split() == ["range", "0", "1", "2"] and "first 3 rows" in err
    code, out, err = run_cli("--db", str(store_db), "sql", RUNAWAY, "--timeout", "0.5")
    assert code == 2 and "stopped after 0.5 s" in err and "Traceback" not in err


def test_snapshot_is_reused_until_the_store_changes(store_db):
    q = "SELECT count(*) AS n FROM climbers"
    assert run_readonly_query(store_db, q).rows.n[0] == 2
    snap = snapshot_dir(store_db.resolve()) / "store.duckdb"
    first = snap.stat().st_mtime_ns
    assert run_readonly_query(store_db, q).rows.n[0] == 2
    assert snap.stat().st_mtime_ns == first                    # nothing changed: no copy
    with connect(store_db) as con, transaction(con):
        con.execute("INSERT INTO climbers (name) VALUES ('Shauna')")
    assert run_readonly_query(store_db, q).rows.n[0] == 3       # a change: a fresh snapshot
    assert oct(snapshot_dir(store_db.resolve()).stat().st_mode & 0o777) == "0o700"


def _start_sql(db, sql, env_extra=None):
    env = {**os.environ, "CRUXLAB_SQL_TIMEOUT": "60", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "cruxlab.cli", "--db", str(db), "sql", sql], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_reading(proc, path, seconds=60):
    """Until the child holds DuckDB's read lock on `path` (its query runs there)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if path.exists() and lock_holder(path) == ("reading", proc.pid):
            return
        time.sleep(0.1)
    raise AssertionError("the query never started")


def test_writer_works_while_a_long_query_runs_and_ctrl_c_stops_it(store_db, skeleton_file, monkeypatch):
    proc = _start_sql(store_db, RUNAWAY)
    try:
        _wait_reading(proc, snapshot_dir(store_db.resolve()) / "store.duckdb")
        monkeypatch.setenv("CRUXLAB_DB_TIMEOUT", "5")
        code, out, err = run_cli("--db", str(store_db), "import-skeleton", str(skeleton_file), "--climber", "Janja",
                                 "--no-detect")
        assert code == 0, err                                   # the store was free: the query reads a snapshot
        assert table_counts(store_db)["attempts"] == 1
        t = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - t < 10
        assert proc.returncode == 130 and "query cancelled (Ctrl-C)" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_busy_message_names_a_reader_as_a_reader(store_db, skeleton_file, monkeypatch):
    """A store too big to snapshot is queried in place; a writer then waits and is told a *reader* (this
    `cruxlab sql`) holds the store, not that it 'is writing'."""
    proc = _start_sql(store_db, RUNAWAY, {"CRUXLAB_SQL_SNAPSHOT_MB": "0"})
    try:
        _wait_reading(proc, store_db)
        monkeypatch.setenv("CRUXLAB_DB_TIMEOUT", "0.5")
        before = store_db.read_bytes()
        code, _, err = run_cli("--db", str(store_db), "import-skeleton", str(skeleton_file), "--climber", "Janja")
        assert code == 2
        assert f"process {proc.pid} (cruxlab sql) is reading it" in err and "nobody write" in err
        assert store_db.read_bytes() == before
    finally:
        proc.kill()
        proc.wait()


def test_busy_message_names_a_writer_as_a_writer(store_db):
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(store_db)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseBusyError, match=rf"process {holder.pid} \(python\S* -c import.*\) is writing to it"):
            with connect(store_db, read_only=True, timeout_s=0.3):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_snapshot_includes_a_left_over_write_ahead_log(store_db):
    """A writer that died after COMMIT but before its checkpoint leaves rows only in the .wal file: the snapshot
    holds them too, as one file (the log folded in)."""
    code = ("import duckdb, os, sys; c = duckdb.connect(sys.argv[1]); c.execute(\"SET checkpoint_threshold = '1GB'\"); "
            "c.execute(\"INSERT INTO climbers (name) VALUES ('Shauna')\"); os._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(store_db)], check=True)
    assert store_db.with_name(store_db.name + ".wal").is_file()
    res = run_readonly_query(store_db, "SELECT name FROM climbers ORDER BY name")
    assert list(res.rows.name) == ["Adam", "Janja", "Shauna"] and res.source == "snapshot"
    assert sorted(p.name for p in snapshot_dir(store_db.resolve()).iterdir()) == ["lock", "stamp", "store.duckdb"]
