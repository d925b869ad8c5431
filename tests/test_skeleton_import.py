"""Skeleton interchange files: validation errors name the file and the problem; the store stays unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli, synthetic, table_counts

from cruxlab.errors import InputError
from cruxlab.joints import COCO17, JOINT_NAMES
from cruxlab.skeleton import load_npz


def _write(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _good(T=40):
    kp = synthetic(11, "mild", fps=30, duration_s=30).skeleton.keypoints[:T]
    return dict(keypoints=kp, joint_names=np.array(JOINT_NAMES), fps=30.0)


def test_round_trip_keeps_values_and_maps_joints_by_name(tmp_path):
    a = synthetic(11, "mild", fps=30, duration_s=30)
    path = a.skeleton.save(tmp_path / "s.npz")
    back = load_npz(path)
    np.testing.assert_array_equal(back.keypoints, a.skeleton.keypoints)
    assert back.fps == a.skeleton.fps
    np.testing.assert_allclose(back.wall_normal, a.skeleton.wall_normal)
    # a file with only the COCO-17 body, in reversed order, maps by name; missing joints are NaN
    order = list(reversed(COCO17))
    idx = [JOINT_NAMES.index(n) for n in order]
    sub = _write(tmp_path / "coco.npz", keypoints=a.skeleton.keypoints[:, idx], joint_names=np.array(order), fps=25)
    s = load_npz(sub)
    np.testing.assert_array_equal(s.keypoints[:, :17], a.skeleton.keypoints[:, :17])
    assert np.isnan(s.keypoints[:, 17:]).all() and (s.confidence[:, 17:] == 0).all()


@pytest.mark.parametrize("case, expected", [
    ("not_npz", "not a readable .npz"),
    ("missing_keys", "missing key(s) ['fps']"),
    ("wrong_shape", "shape (T, J, 3)"),
    ("names_mismatch", "one name per joint"),
    ("all_nan", "every joint in every frame is NaN"),
    ("zero_frames", "zero frames"),
    ("fps_zero", "fps must be > 0"),
    ("fps_negative", "fps must be > 0"),
    ("unknown_joint", "unknown joint name(s) ['left_pinky']"),
    ("no_coco_body", "lacks the COCO-17 body"),
    ("inf_values", "infinite"),
    ("bad_confidence", "confidence must have shape"),
    ("fps_huge", "fps 1e+300 is outside the 1..1000 frames per second"),
    ("fps_tiny", "fps 1e-300 is outside the 1..1000 frames per second"),
    ("huge_coordinates", "keypoints reach 1e+30 m"),
    ("negative_confidence", "confidence must lie in 0..1"),
    ("complex_values", "keypoints must be real numbers"),
    ("too_short", "is too short: 9 frame(s) at 30 fps = 0.30 s"),
    ("renamed_npy", "is a single .npy array, not an .npz archive"),
    ("object_array", "hold Python objects"),
    ("folder", "is a folder"),
])
def test_bad_files_raise_clear_errors_naming_file(tmp_path, case, expected):
    g = _good()
    path = tmp_path / f"{case}.npz"
    if case == "not_npz":
        path.write_text("this is a csv, not numpy")
    elif case == "missing_keys":
        _write(path, keypoints=g["keypoints"], joint_names=g["joint_names"])
    elif case == "wrong_shape":
        _write(path, **{**g, "keypoints": g["keypoints"][..., :2]})
    elif case == "names_mismatch":
        _write(path, **{**g, "joint_names": g["joint_names"][:5]})
    elif case == "all_nan":
        _write(path, **{**g, "keypoints": np.full_like(g["keypoints"], np.nan)})
    elif case == "zero_frames":
        _write(path, **{**g, "keypoints": g["keypoints"][:0]})
    elif case == "fps_zero":
        _write(path, **{**g, "fps": 0.0})
    elif case == "fps_negative":
        _write(path, **{**g, "fps": -25.0})
    elif case == "unknown_joint":
        names = g["joint_names"].copy().astype("<U20")
        names[-1] = "left_pinky"
        _write(path, **{**g, "joint_names": names})
    elif case == "no_coco_body":
        _write(path, keypoints=g["keypoints"][:, :10], joint_names=g["joint_names"][:10], fps=30.0)
    elif case == "inf_values":
        kp = g["keypoints"].copy()
        kp[3, 4, 1] = np.inf
        _write(path, **{**g, "keypoints": kp})
    elif case == "bad_confidence":
        _write(path, **g, confidence=np.ones((3, 21), np.float32))
    elif case in ("fps_huge", "fps_tiny"):
        _write(path, **{**g, "fps": 1e300 if case == "fps_huge" else 1e-300})
    elif case == "huge_coordinates":
        kp = g["keypoints"].copy()
        kp[5, 0, 0] = 1e30
        _write(path, **{**g, "keypoints": kp})
    elif case == "negative_confidence":
        _write(path, **g, confidence=-np.ones(g["keypoints"].shape[:2], np.float32))
    elif case == "complex_values":
        _write(path, **{**g, "keypoints": g["keypoints"] + 1j})
    elif case == "too_short":
        _write(path, **{**g, "keypoints": g["keypoints"][:9]})
    elif case == "renamed_npy":
        with open(path, "wb") as fh:
            np.save(fh, g["keypoints"])
    elif case == "object_array":
        _write(path, **{**g, "joint_names": np.array(list(g["joint_names"]), dtype=object)})
    elif case == "folder":
        path.mkdir()
    with pytest.raises(InputError) as err:
        load_npz(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_bad_file_in_a_batch_leaves_database_unchanged(tmp_path, db_path, skeleton_file):
    code, out, _ = run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "Janja")
    assert code == 0, out
    before = table_counts(db_path)
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    good2 = synthetic(12, "mild", fps=30, duration_s=30).skeleton.save(tmp_path / "second.npz")
    code, out, err = run_cli("--db", str(db_path), "import-skeleton", str(good2), str(bad), "--climber", "Janja")
    assert code == 2
    assert str(bad) in err and "Traceback" not in err
    assert table_counts(db_path) == before  # the valid file in the same batch was not imported either


def test_reimport_is_a_noop_and_names_follow_the_stem(db_path, skeleton_file):
    code, out, _ = run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "Janja")
    assert code == 0 and "as attempt 'janja-attempt-1'" in out
    before = table_counts(db_path)
    assert before["skeleton_frames"] == synthetic(11, "mild", fps=30, duration_s=30).skeleton.n_frames
    assert before["moves"] > 0
    code, out, _ = run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "Janja")
    assert code == 0 and "already imported" in out
    assert table_counts(db_path) == before


def test_name_clash_with_another_file_is_refused(tmp_path, db_path, skeleton_file):
    run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "Janja")
    before = table_counts(db_path)
    other = synthetic(12, "mild", fps=30, duration_s=30).skeleton.save(tmp_path / "x" / "janja-attempt-1.npz")
    code, _, err = run_cli("--db", str(db_path), "import-skeleton", str(other), "--climber", "Janja")
    assert code == 2 and "--name" in err
    assert table_counts(db_path) == before
    code, out, _ = run_cli("--db", str(db_path), "import-skeleton", str(other), "--climber", "Janja",
                           "--name", "janja-attempt-2")
    assert code == 0 and "janja-attempt-2" in out


def test_moves_detect_takes_several_attempt_names(tmp_path, db_path):
    files = [synthetic(s, "mild", fps=30, duration_s=30).skeleton.save(tmp_path / f"a{s}.npz") for s in (11, 12, 13)]
    assert run_cli("--db", str(db_path), "import-skeleton", *map(str, files), "--climber", "Janja")[0] == 0
    code, out, _ = run_cli("--db", str(db_path), "moves", "detect", "--attempt", "a11", "a12")
    assert code == 0 and out.count("moves (rules") == 2 and "a13" not in out
    code, out, _ = run_cli("--db", str(db_path), "moves", "detect", "--attempt", "a11", "--attempt", "a13")
    assert code == 0 and "a11" in out and "a13" in out and "a12" not in out
    code, _, err = run_cli("--db", str(db_path), "moves", "detect", "--attempt", "nope")
    assert code == 2 and "unknown attempt(s) ['nope']" in err


def test_ingest_attempt_writes_attempt_and_moves_in_one_transaction(db_path, monkeypatch):
    """The one home of insert-then-detect: a detection that fails leaves no attempt behind, a repeated ingest
    is a no-op, and a stored attempt carries the moves of the active classifier."""
    import moves.service
    from db import connect, store
    from moves.ingest import ingest_attempt

    sk = synthetic(11, "mild", fps=30, duration_s=30).skeleton
    record = store.AttemptRecord(name="a", climber="Janja", skeleton=sk, source_kind="skeleton",
                                 source_path="a.npz", key="key-a")

    def broken(*args, **kwargs):
        raise RuntimeError("classifier exploded")

    with connect(db_path):  # a migrated, empty store
        pass
    before = table_counts(db_path)
    with monkeypatch.context() as m:
        m.setattr(moves.service, "detect_and_store", broken)
        with connect(db_path) as con, pytest.raises(RuntimeError, match="exploded"):
            ingest_attempt(con, record)
    assert table_counts(db_path) == before  # the attempt's rows were rolled back with the failed detection
    with connect(db_path) as con:
        done = ingest_attempt(con, record)
        again = ingest_attempt(con, record)
        assert done.created and done.n_moves == len(store.current_moves(con, done.attempt_id)) > 0
        assert done.model_version.startswith("rules")
        assert not again.created and again.attempt_id == done.attempt_id and again.n_moves is None
    after = table_counts(db_path)
    assert after["attempts"] == 1 and after["skeleton_frames"] == sk.n_frames


def test_zip_bomb_is_refused_from_its_headers(tmp_path, db_path, skeleton_file):
    """A 2 MB .npz declaring 8 M frames (1.6 GB of keypoints) is refused before anything is decompressed:
    the import takes a few MB, not 9 GB, and the database stays byte-identical."""
    import tracemalloc

    from benchmarks.hostile import zip_bomb

    assert run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "Janja")[0] == 0
    before = db_path.read_bytes()
    bomb = zip_bomb(tmp_path / "bomb.npz", 8_000_000)
    assert bomb.stat().st_size < 3_000_000
    tracemalloc.start()
    code, _, err = run_cli("--db", str(db_path), "import-skeleton", str(bomb), "--climber", "Janja")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2 and "holds 8,000,000 frames, more than the import limit of 1,000,000" in err
    assert "CRUXLAB_MAX_FRAMES" in err and "Traceback" not in err
    assert peak < 20e6, f"refusing the bomb allocated {peak / 1e6:.0f} MB"
    assert db_path.read_bytes() == before


def test_import_limits_are_configurable(tmp_path, monkeypatch):
    from benchmarks.hostile import zip_bomb

    bomb = zip_bomb(tmp_path / "zeros.npz", 3000)                 # a genuine (all-zero) 3000-frame file
    monkeypatch.setenv("CRUXLAB_MAX_FRAMES", "2000")
    with pytest.raises(InputError, match="3,000 frames, more than the import limit of 2,000"):
        load_npz(bomb)
    monkeypatch.setenv("CRUXLAB_MAX_FRAMES", "5000")
    monkeypatch.setenv("CRUXLAB_MAX_NPZ_MB", "0.5")                # 3000 x 17 x 3 float32 = 0.58 MB
    with pytest.raises(InputError, match="above the limit of 0.5 MB.*CRUXLAB_MAX_NPZ_MB"):
        load_npz(bomb)
    monkeypatch.setenv("CRUXLAB_MAX_NPZ_MB", "1")
    assert load_npz(bomb).n_frames == 3000
    monkeypatch.setenv("CRUXLAB_MAX_FRAMES", "lots")
    with pytest.raises(InputError, match="CRUXLAB_MAX_FRAMES='lots' is not a whole number"):
        load_npz(bomb)


def test_rolled_back_big_import_does_not_grow_the_file(tmp_path, db_path, monkeypatch):
    """More frames than a DuckDB row group (122,880) in a transaction that fails: the file keeps its size
    (bulk appends are not written ahead of the commit) and its content."""
    import moves.service

    sk = synthetic(11, "mild", fps=30, duration_s=30).skeleton
    kp = np.concatenate([sk.keypoints] * 150)[:130_000]
    path = _write(tmp_path / "long-session.npz", keypoints=kp, joint_names=np.array(JOINT_NAMES), fps=30.0)
    with __import__("db").connect(db_path):
        pass
    size, before = db_path.stat().st_size, table_counts(db_path)

    def broken(*args, **kwargs):
        raise InputError("classifier refused")

    monkeypatch.setattr(moves.service, "detect_and_store", broken)
    code, _, err = run_cli("--db", str(db_path), "import-skeleton", str(path), "--climber", "Janja")
    assert code == 2 and "classifier refused" in err
    assert table_counts(db_path) == before
    assert db_path.stat().st_size == size
