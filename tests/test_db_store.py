"""The DuckDB store: migrations, label history, model moves vs coach edits, locking, read-only SQL, export."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, synthetic, table_counts

from cruxlab.errors import DatabaseBusyError, DatabaseError, InputError
from cruxlab.labels import Move
from db import SCHEMA_VERSION, connect, store, transaction
from db.connection import migrations
from db.query import QueryError, run_readonly_query


def _attempt(con, name="a1", seed=11, climber="Janja"):
    sk = synthetic(seed, "mild", fps=30, duration_s=30).skeleton
    with transaction(con):
        aid = store.insert_attempt(con, store.AttemptRecord(name=name, climber=climber, skeleton=sk,
                                                            source_kind="skeleton", source_path="x.npz",
                                                            key=f"key-{name}"))
    return aid, sk


MODEL_MOVES = (Move(10, 30, "reach", "left_hand", 0.9), Move(40, 60, "foot-move", "left_foot", 0.8),
               Move(70, 90, "match", "right_hand", 0.8))


def _attempt_with_moves(con, n: int, version: str = "v1") -> tuple[int, list[int]]:
    """An attempt whose model (`version`) stored the first n of MODEL_MOVES: (attempt_id, their move ids)."""
    aid, _ = _attempt(con)
    with transaction(con):
        store.replace_model_moves(con, aid, list(MODEL_MOVES[:n]), version)
    return aid, store.current_moves(con, aid).move_id.tolist()


def test_migrations_apply_once_each_and_are_recorded(db_path):
    with connect(db_path) as con:
        rows = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    assert [r[1] for r in rows] == [m.name for m in migrations()]
    with connect(db_path) as con:  # a second open applies nothing
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION


def _store_at_version_1_with_a_climber(db_path) -> None:
    first = migrations()[0]
    con = duckdb.connect(str(db_path))
    con.execute(first.sql)
    con.execute("INSERT INTO schema_migrations VALUES (1, ?, now())", [first.name])
    con.execute("INSERT INTO climbers (name) VALUES ('Adam')")
    con.close()


def test_older_schema_is_migrated_on_open_and_keeps_its_data(db_path):
    _store_at_version_1_with_a_climber(db_path)
    with connect(db_path, read_only=True) as con:  # a reader brings it up to date through a brief writer
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION
        assert con.execute("SELECT name FROM climbers").fetchall() == [("Adam",)]
        assert con.execute("SELECT count(*) FROM moves_current").fetchone()[0] == 0


def test_a_failing_migration_leaves_the_schema_as_it_was(db_path, monkeypatch):
    """The pending migrations apply in one transaction: when one fails, none of them is applied (the store
    stays at its old version with its data)."""
    from db import connection

    _store_at_version_1_with_a_climber(db_path)
    broken = connection.Migration(SCHEMA_VERSION, "broken", "CREATE TABLE no_such_thing AS SELECT * FROM missing")
    monkeypatch.setattr(connection, "migrations", lambda: migrations()[:-1] + [broken])
    with pytest.raises(duckdb.Error):
        with connect(db_path):
            pass
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 1
    assert con.execute("SELECT name FROM climbers").fetchall() == [("Adam",)]
    assert not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'moves_current'"
                           ).fetchone()[0]
    con.close()


def test_missing_or_foreign_database_gives_a_clear_message(tmp_path):
    with pytest.raises(DatabaseError, match="no database at .*analyze VIDEO"):
        with connect(tmp_path / "none.duckdb", read_only=True):
            pass
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database" * 100)
    with pytest.raises(DatabaseError, match="not a DuckDB database"):
        with connect(junk):
            pass
    with pytest.raises(DatabaseError, match="writable folder"):
        with connect(tmp_path / "no" / "such" / "dir" / "x.duckdb"):
            pass


def test_skeleton_round_trip_through_arrow(db_path):
    with connect(db_path) as con:
        aid, sk = _attempt(con)
        back = store.read_skeleton(con, aid)
    np.testing.assert_array_equal(back.keypoints, sk.keypoints)  # NaN positions included
    np.testing.assert_array_equal(back.confidence, sk.confidence)
    np.testing.assert_allclose(back.wall_normal, sk.wall_normal)


def test_arrow_columns_from_buffers_equal_pa_array():
    """The store builds its Arrow columns from NumPy buffers (pa.array would import pandas into every writer):
    the same arrays pa.array makes, for every type the store writes, nulls and empty columns included."""
    import pyarrow as pa

    for values, dtype, typ in [([3, -1, 7], np.int32, pa.int32()), ([0.5, np.nan, 1e-8], np.float32, pa.float32()),
                               ([1.0, 2.5], np.float64, pa.float64()), ([0, 255, 9], np.uint8, pa.uint8()),
                               ([True, False, True] * 5, bool, pa.bool_()), ([], np.int32, pa.int32())]:
        made, ref = store._numbers(values, dtype), pa.array(np.asarray(values, dtype=dtype), type=typ)
        made.validate(full=True)
        assert made.type == ref.type and made.null_count == ref.null_count == 0
        np.testing.assert_array_equal(made.to_numpy(zero_copy_only=False), ref.to_numpy(zero_copy_only=False))
    for texts in (["reach", "flag", "rock-over", "ü"], ["x", None, "", None], []):
        made = store._strings(texts)
        made.validate(full=True)
        assert made.equals(pa.array(texts, type=pa.string())), (texts, made)
    grid = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    assert store._fixed_list(grid, 4, 3).to_pylist() == grid.tolist()


def test_edit_history_is_append_only_and_current_state_is_latest_edit(db_path):
    with connect(db_path) as con:
        aid, (m1, m2) = _attempt_with_moves(con, 2, "rules-test")
        with transaction(con):
            e1 = store.edit_move(con, m1, editor="coach A", source="dashboard", label="cross-over")
            e2 = store.edit_move(con, m1, editor="coach A", source="dashboard", start_frame=12, end_frame=33)
            e3 = store.edit_move(con, m2, editor="coach B", source="dashboard", delete=True)
            added = store.add_move(con, aid, label="flag", limb="right_foot", start_frame=70, end_frame=90,
                                   editor="coach B", source="dashboard")
        assert store.edit_move(con, m1, editor="coach A", source="dashboard", label="cross-over") is None  # no-op
        cur = store.current_moves(con, aid).set_index("move_id")
        assert cur.loc[m1, "label"] == "cross-over" and cur.loc[m1, "original_label"] == "reach"
        assert (cur.loc[m1, "start_frame"], cur.loc[m1, "end_frame"]) == (12, 33)
        assert m2 not in cur.index and added in cur.index
        hist = store.label_history(con, aid)
        assert hist.action.tolist() == ["add", "delete", "retime", "relabel"]
        assert hist.editor.tolist() == ["coach B", "coach B", "coach A", "coach A"]
        # undo the last edit of coach A: the retime goes, the relabel stays; nothing is erased
        with transaction(con):
            store.undo_last_edit(con, editor="coach A")
        cur = store.current_moves(con, aid).set_index("move_id")
        assert (cur.loc[m1, "start_frame"], cur.loc[m1, "label"]) == (10, "cross-over")
        assert len(store.label_history(con, aid)) == 5
        # undo coach B's addition removes the added move
        with transaction(con):
            store.undo_last_edit(con, editor="coach B")
        assert added not in store.current_moves(con, aid).move_id.tolist()
        assert {e1, e2, e3} <= set(store.label_history(con, aid).edit_id)


def test_corrections_count_net_of_undos(db_path):
    """A relabel and its undo is no correction; a delete of a model move is one; an added move is one until it
    is undone; a retime back to the model's frames is none (the move has history, but says what the model said)."""
    with connect(db_path) as con:
        aid, (m1, m2, m3) = _attempt_with_moves(con, 3)

        def corrected() -> tuple[int, list[int]]:
            cur = store.current_moves(con, aid, include_deleted=True)
            return store.count_corrections(con), sorted(cur.move_id[cur.corrected].tolist())

        with transaction(con):
            store.edit_move(con, m1, editor="c", source="dashboard", label="cross-over")
            store.undo_last_edit(con, editor="c")
        assert corrected() == (0, [])
        with transaction(con):
            store.edit_move(con, m3, editor="c", source="dashboard", start_frame=72)
            store.edit_move(con, m3, editor="c", source="dashboard", start_frame=70)
        assert corrected() == (0, [])
        with transaction(con):
            store.edit_move(con, m2, editor="c", source="dashboard", delete=True)
            added = store.add_move(con, aid, label="flag", limb="right_foot", start_frame=95, end_frame=120,
                                   editor="c", source="dashboard")
        assert corrected() == (2, sorted([m2, added]))
        assert store.current_moves(con, aid).set_index("move_id").corrected.to_dict() == {
            m1: False, m3: False, added: True}
        with transaction(con):
            store.undo_last_edit(con, editor="c")   # the addition
        assert corrected() == (1, [m2])
        assert con.execute("SELECT count(*) FROM label_edits WHERE attempt_id = ?", [aid]).fetchone()[0] == 7


def test_bad_edits_are_refused_without_writing(db_path):
    with connect(db_path) as con:
        aid, sk = _attempt(con)
        with transaction(con):
            store.replace_model_moves(con, aid, [Move(10, 30, "reach", "left_hand", 0.9)], "rules-test")
        mid = int(store.current_moves(con, aid).move_id[0])
        for kwargs, msg in [({"label": "crimp-slap"}, "unknown label"), ({"end_frame": 10_000}, "valid interval"),
                            ({"start_frame": 40}, "valid interval"), ({"limb": "tail"}, "unknown limb")]:
            with pytest.raises(InputError, match=msg):
                with transaction(con):
                    store.edit_move(con, mid, editor="coach", source="dashboard", **kwargs)
        with pytest.raises(InputError, match="editor"):
            store.edit_move(con, mid, editor=" ", source="dashboard", label="match")
        assert con.execute("SELECT count(*) FROM label_edits").fetchone()[0] == 0
        # an unknown label from an external tool is kept when asked to (Label Studio)
        with transaction(con):
            store.edit_move(con, mid, editor="ls", source="label-studio", label="campus", allow_unknown_label=True,
                            external_key="ann-1/r1")
            assert store.edit_move(con, mid, editor="ls", source="label-studio", label="campus",
                                   allow_unknown_label=True, external_key="ann-1/r1") is None
        assert store.current_moves(con, aid).label.tolist() == ["campus"]


def test_redetection_keeps_coach_touched_moves(db_path):
    with connect(db_path) as con:
        aid, (m1, _) = _attempt_with_moves(con, 2)
        with transaction(con):
            store.edit_move(con, m1, editor="coach", source="dashboard", label="match")
        with transaction(con):
            n = store.replace_model_moves(con, aid, [Move(11, 31, "reach", "left_hand", 0.9),   # overlaps edited
                                                     Move(41, 61, "foot-move", "left_foot", 0.7)], "v2")
        assert n == 1
        cur = store.current_moves(con, aid)
        assert sorted(zip(cur.label, cur.model_version)) == [("foot-move", "v2"), ("match", "v1")]


def test_statistics_views(db_path):
    with connect(db_path) as con:
        aid, sk = _attempt(con)
        with transaction(con):
            store.replace_model_moves(con, aid, [Move(0, 29, "reach", "left_hand", 0.9),
                                                 Move(15, 44, "foot-move", "left_foot", 0.8),
                                                 Move(100, 159, "flag", "right_foot", 0.8)], "v1")
        per_label = con.execute("SELECT label, n_moves, mean_duration_s FROM moves_per_label ORDER BY label").fetchall()
        assert per_label == [("flag", 1, pytest.approx(2.0)), ("foot-move", 1, pytest.approx(1.0)),
                             ("reach", 1, pytest.approx(1.0))]
        # moving = union of [0, 44] (45 frames), the flag is a held position
        act = con.execute("SELECT total_s, moving_s, still_s FROM attempt_activity").fetchone()
        assert act == (pytest.approx(sk.n_frames / 30), pytest.approx(45 / 30), pytest.approx((sk.n_frames - 45) / 30))
        per_attempt = con.execute(
            "SELECT n_moves, n_reach, n_foot_move, n_flag, n_cross_over, n_other FROM moves_per_attempt").fetchone()
        assert per_attempt == (3, 1, 1, 1, 0, 0)
        assert con.execute("SELECT climber, n_moves FROM moves_per_climber WHERE label = 'flag'").fetchone() == ("Janja", 1)


def test_writer_lock_gives_busy_error_then_succeeds_after_release(db_path):
    with connect(db_path):
        pass
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time, sys
        con = duckdb.connect({str(db_path)!r})
        print("locked", flush=True)
        time.sleep(2.5)
        con.close()
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(DatabaseBusyError, match="busy.*process"):
        with connect(db_path, read_only=True, timeout_s=0.3):
            pass
    t = time.monotonic()
    with connect(db_path, read_only=True, timeout_s=15) as con:  # retries until the writer lets go
        assert con.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0
    assert time.monotonic() - t > 0.5
    holder.wait(5)


@pytest.mark.parametrize("sql", [
    "DELETE FROM attempts", "DROP TABLE moves", "INSERT INTO climbers (name) VALUES ('x')",
    "UPDATE moves SET label = 'dyno'", "COPY attempts TO '/tmp/cruxlab-leak.csv'", "ATTACH '/tmp/other.duckdb'",
    "SET enable_external_access = true", "CREATE TABLE t AS SELECT 1", "SELECT * FROM read_csv('/etc/passwd')",
])
def test_sql_cannot_change_anything(db_path, sql):
    with connect(db_path) as con:
        _attempt(con)
    before = table_counts(db_path)
    with pytest.raises(QueryError, match="refused"):
        run_readonly_query(db_path, sql)
    assert table_counts(db_path) == before
    code, out, err = run_cli("--db", str(db_path), "sql", sql)
    assert code == 2 and "refused" in err


def test_sql_formats(db_path):
    with connect(db_path) as con:
        _attempt(con)
    code, out, _ = run_cli("--db", str(db_path), "sql", "SELECT name, n_frames FROM attempts", "--format", "json")
    assert code == 0
    import json

    assert json.loads(out) == [{"name": "a1", "n_frames": synthetic(11, "mild", fps=30, duration_s=30).skeleton.n_frames}]
    code, out, _ = run_cli("--db", str(db_path), "sql", "SELECT name FROM attempts", "--format", "csv")
    assert out.splitlines() == ["name", "a1"]
    code, _, err = run_cli("--db", str(db_path), "sql", "SELECT nope FROM attempts")
    assert code == 2 and "query failed" in err


def test_sql_table_shows_missing_values_blank(db_path):
    """An attempt without problem or outcome: the table has empty cells where NULLs are (no NaN / None /
    <NA>), numbers keep their formatting, CSV has empty fields and JSON nulls."""
    with connect(db_path) as con:
        _attempt(con)
    sql = ("SELECT a.name, p.grade, a.outcome, a.climber_height_m AS height, NULL::INTEGER AS n, 1.25 AS x "
           "FROM attempts a LEFT JOIN problems p USING (problem_id)")
    code, out, _ = run_cli("--db", str(db_path), "sql", sql)
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split() == ["name", "grade", "outcome", "height", "n", "x"]
    for missing in ("NaN", "None", "<NA>", "nan", "NaT", "NULL"):
        assert missing not in out
    assert row.split() == ["a1", "1.25"]
    code, out, _ = run_cli("--db", str(db_path), "sql", sql, "--format", "csv")
    assert out.splitlines()[1] == "a1,,,,,1.25"
    code, out, _ = run_cli("--db", str(db_path), "sql", sql, "--format", "json")
    import json

    assert json.loads(out) == [{"name": "a1", "grade": None, "outcome": None, "height": None, "n": None, "x": 1.25}]


def test_export_parquet_csv_npz(tmp_path, db_path, skeleton_file):
    run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "Janja")
    code, out, _ = run_cli("--db", str(db_path), "export", "--out", str(tmp_path / "pq"))
    assert code == 0
    moves = pd.read_parquet(tmp_path / "pq" / "moves.parquet")
    skel = pd.read_parquet(tmp_path / "pq" / "skeletons.parquet")
    with connect(db_path, read_only=True) as con:
        n_moves = con.execute("SELECT count(*) FROM moves_current").fetchone()[0]
        T = con.execute("SELECT n_frames FROM attempts").fetchone()[0]
    assert len(moves) == n_moves > 0 and {"duration_s", "climber", "original_label"} <= set(moves.columns)
    assert len(skel) == T * 21 and set(skel.joint) == set(__import__("cruxlab.joints").joints.JOINT_NAMES)
    run_cli("--db", str(db_path), "export", "--out", str(tmp_path / "csv"), "--format", "csv")
    assert len(pd.read_csv(tmp_path / "csv" / "moves.csv")) == n_moves
    run_cli("--db", str(db_path), "export", "--out", str(tmp_path / "npz"), "--format", "npz")
    from cruxlab.skeleton import load_npz

    back = load_npz(tmp_path / "npz" / "janja-attempt-1.npz")
    np.testing.assert_array_equal(back.keypoints, load_npz(skeleton_file).keypoints)


def test_arrow_readers_work_after_an_unfinished_result(db_path):
    """DuckDB 2.x refuses con.sql() after execute().fetchone(); the store's readers must not care."""
    with connect(db_path) as con:
        aid, sk = _attempt(con)
        con.execute("SELECT attempt_id FROM attempts").fetchone()  # leaves the result unfinished
        np.testing.assert_array_equal(store.read_skeleton(con, aid).keypoints, sk.keypoints)
        con.execute("SELECT count(*) FROM attempts").fetchone()
        assert store.read_cameras(con, aid) is None and store.read_wall_points(con, aid) is None


def test_update_attempt_metadata_validates_everything_before_writing(db_path):
    from datetime import date, datetime

    from cruxlab.metadata import check_grade

    with connect(db_path) as con:
        aid, _ = _attempt(con)
        other, _ = _attempt(con, name="a2", seed=12, climber="Adam")
        with transaction(con):
            store.upsert_problem(con, "Blue 7", grade="V4")
            changes = store.update_attempt(con, aid, problem="  Red   5 ", grade="6b+", outcome="Top",
                                           recorded_at=date(2026, 3, 1))
        assert [(c.field, c.before, c.after) for c in changes] == [
            ("problem", None, "Red 5"), ("grade", None, "6B+"), ("outcome", None, "top"),
            ("recorded_at", None, datetime(2026, 3, 1))]
        row = store.list_attempts(con).set_index("attempt").loc["a1"]
        assert (row.problem, row.grade, row.outcome, row.date) == ("Red 5", "6B+", "top", pd.Timestamp("2026-03-01"))
        with transaction(con):
            assert store.update_attempt(con, aid, problem="Red 5", outcome="top") == []   # nothing changes
            # another problem brings its own grade unless one is given; the climber moves to a (new) name
            store.update_attempt(con, aid, problem="Blue 7", climber="Janja Garnbret")
        info = store.attempt_info(con, aid)
        assert (info.problem, info.climber) == ("Blue 7", "Janja Garnbret")
        assert store.list_attempts(con).set_index("attempt").loc["a1", "grade"] == "V4"
        # the grade is the problem's: every attempt of the problem shows the new one
        with transaction(con):
            store.update_attempt(con, other, problem="Blue 7")
            store.update_attempt(con, aid, grade="V5")
        assert set(store.list_attempts(con)["grade"]) == {"V5"}
        before = con.execute("SELECT * FROM attempts ORDER BY attempt_id").fetchall()
        for kwargs, msg in [({"grade": "5.12a"}, "neither a V grade"), ({"outcome": "flashed"}, "not one of top"),
                            ({"recorded_at": date(2999, 1, 1)}, "in the future"), ({"climber": "  "}, "must not be empty"),
                            ({"recorded_at": "last tuesday"}, "YYYY-MM-DD"), ({"problem": None, "grade": "V3"}, "belongs to a problem"),
                            ({"problem": "x" * 81}, "keep it to 80"), ({"outcome": "top", "grade": "V99"}, "V grade")]:
            with pytest.raises(InputError, match=msg):
                with transaction(con):
                    store.update_attempt(con, aid, **kwargs)
        assert con.execute("SELECT * FROM attempts ORDER BY attempt_id").fetchall() == before
        with transaction(con):   # clearing: no problem, outcome unknown to nobody
            store.update_attempt(con, aid, problem=None, outcome=None, recorded_at=None)
        info = store.attempt_info(con, aid)
        assert (info.problem, info.outcome) == (None, None)
    assert [check_grade(g) for g in ("vb", "V0-", "v17", "4", "5+", "6a", "7C+", "9a")] == [
        "VB", "V0-", "V17", "4", "5+", "6A", "7C+", "9A"]
    for bad in ("V18", "6", "6D", "10A", "A6", "hard"):
        with pytest.raises(InputError):
            check_grade(bad)


def test_rolled_back_writes_leave_nothing(db_path):
    """Dry runs (`cruxlab label status`) write inside db.connection.rolled_back: nothing stays, even on error."""
    from db.connection import rolled_back

    with connect(db_path) as con:
        _attempt(con)
    before = table_counts(db_path)
    with connect(db_path) as con:
        with rolled_back(con):
            store.upsert_climber(con, "Dry Run")
            assert con.execute("SELECT count(*) FROM climbers WHERE name = 'Dry Run'").fetchone()[0] == 1
        with pytest.raises(RuntimeError), rolled_back(con):
            store.upsert_climber(con, "Also Dry")
            raise RuntimeError("stop")
    assert table_counts(db_path) == before
