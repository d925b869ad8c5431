"""`cruxlab analyze` with many videos: inputs (files, folders, globs, manifests), a process pool, a bad video
among good ones, resume, and the same run on a local Ray instance giving the same attempts."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, table_counts
from cruxlab.errors import InputError
from reconstruction.inputs import expand_inputs, parse_time, read_manifest
from reconstruction.pipeline import AnalyzeOptions


def _touch(path: Path, data: bytes = b"not decoded by the input expansion") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------ inputs
def test_files_folders_globs_and_manifests_expand_in_order(tmp_path):
    a = _touch(tmp_path / "session" / "a.mp4")
    b = _touch(tmp_path / "session" / "sub" / "b.MOV")
    _touch(tmp_path / "session" / "notes.txt")
    _touch(tmp_path / "session" / ".partial.mp4")
    c1 = _touch(tmp_path / "other" / "c1.mp4")
    c2 = _touch(tmp_path / "other" / "c2.webm")
    _touch(tmp_path / "other" / "c3.txt")
    manifest = tmp_path / "lists" / "gym.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "Video;Climber;Problem;Grade;Outcome;Height;Start;End;Name;Date\n"
        "../other/c1.mp4;Ada;Blue 7;7a;Top;1.64;0:01.5;3;c1-first;2026-11-20 18:30\n"
        f"{c1};;Blue 7;;fall;;3;1:02;;\n"
        "\n", encoding="utf-8")
    defaults = AnalyzeOptions(climber="Tommy", fps=12.5)
    tasks = expand_inputs([str(a), str(tmp_path / "session"), str(tmp_path / "other" / "*"), str(manifest)], defaults)

    assert [t.video for t in tasks] == [a.resolve(), b.resolve(), c1.resolve(), c2.resolve(), c1.resolve(),
                                        c1.resolve()]
    assert [t.options for t in tasks[:4]] == [defaults] * 4          # a.mp4 given twice is analysed once
    first, second = tasks[4].options, tasks[5].options
    assert (first.climber, first.problem, first.grade, first.outcome, first.height_m, first.start_s, first.end_s,
            first.name, first.fps) == ("Ada", "Blue 7", "7A", "top", 1.64, 1.5, 3.0, "c1-first", 12.5)
    assert first.recorded_at == datetime(2026, 11, 20, 18, 30)
    assert (second.climber, second.outcome, second.start_s, second.end_s, second.name, second.height_m) == (
        "Tommy", "fall", 3.0, 62.0, None, defaults.height_m)        # empty cells take the command line's
    assert tasks[4].origin == "gym.csv line 2" and tasks[5].label == "c1.mp4 [3s-62s]"

    json_manifest = tmp_path / "lists" / "gym.json"
    json_manifest.write_text(json.dumps({"videos": [{"video": "../session/a.mp4", "height_m": 1.8, "start": 2}]}))
    (task,) = read_manifest(json_manifest, defaults)
    assert task.video == a.resolve() and task.options.height_m == 1.8 and task.options.start_s == 2.0


def test_inputs_that_name_nothing_are_all_reported_before_any_work(tmp_path):
    (tmp_path / "empty").mkdir()
    _touch(tmp_path / "docs" / "readme.txt")
    with pytest.raises(InputError) as err:
        expand_inputs([str(tmp_path / "nope.mp4"), str(tmp_path / "empty"), str(tmp_path / "docs" / "*"),
                       str(tmp_path / "none-*.mp4")], AnalyzeOptions(climber="T"))
    text = str(err.value)
    assert "nope.mp4: no such file or folder" in text
    assert "folder holds no video" in text
    assert "matches 1 file(s) but no video" in text and "none-*.mp4: the pattern matches no file" in text


def test_times_in_seconds_or_minutes():
    assert parse_time("12.5") == 12.5 and parse_time("1:05.5") == 65.5 and parse_time("1:00:02") == 3602.0
    for bad in ("1:75", "-3", "a", "1::2"):
        with pytest.raises(InputError, match="not a time"):
            parse_time(bad)


@pytest.fixture()
def no_work(monkeypatch):
    """Fail the test if any video would be analysed."""
    import reconstruction.batch
    import reconstruction.pipeline

    def boom(*args, **kwargs):
        raise AssertionError("work started although the input should have been refused first")

    monkeypatch.setattr(reconstruction.batch, "analyze_many", boom)
    monkeypatch.setattr(reconstruction.pipeline, "compute_attempt", boom)


def test_manifest_with_bad_rows_is_refused_before_any_work(tmp_path, no_work):
    good = _touch(tmp_path / "good.mp4")
    manifest = tmp_path / "gym.csv"
    manifest.write_text(
        "video,climber,height,outcome,start,end,problem,grade\n"
        "good.mp4,Janja,1.64,top,,,,\n"
        "missing.mp4,Janja,,,,,,\n"
        "good.mp4,,,,,,,\n"
        'good.mp4,Janja,"1,75",,,,,\n'
        "good.mp4,Janja,,sent,,,,\n"
        "good.mp4,Janja,,,0:05,0:03,,\n"
        "good.mp4,Janja,17,,,,,\n"
        "good.mp4,Janja,,,,,,7A\n"
        "good.mp4,Janja,,,,,Roof,7Z\n")
    db = tmp_path / "s.duckdb"
    code, out, err = run_cli("--db", str(db), "analyze", str(manifest), str(good), "--jobs", "2")
    assert code == 2 and out == ""
    assert "8 of 9 rows cannot be analysed" in err
    assert "line 3: video 'missing.mp4' not found" in err
    assert "line 4: no climber; fill the climber column or pass --climber" in err
    assert "line 5: height_m '1,75' is not a number (write 1.75" in err
    assert "line 6: outcome 'sent' is not one of top, fall, unknown" in err
    assert "line 7: end (3.0 s) must be after start (5.0 s)" in err
    assert "line 8: height_m 17.0 is not a climber's height" in err
    assert "line 9: grade '7A' is a problem's grade; fill the problem column" in err
    assert "line 10: grade '7Z' is neither a V grade" in err
    assert "line 2" not in err                                      # the good row is not blamed
    assert not db.exists()

    manifest.write_text("video,climer\ngood.mp4,Janja\n")
    code, _, err = run_cli("--db", str(db), "analyze", str(manifest))
    assert code == 2 and "unknown column(s) 'climer'" in err and "climber" in err
    manifest.write_text("video,climber,problem,grade\ngood.mp4,A,Roof,7A\ngood.mp4,B,Roof,7B\n")
    code, _, err = run_cli("--db", str(db), "analyze", str(manifest))
    assert code == 2 and "'Roof' is given 7A and 7B" in err
    manifest.write_text("video,climber,name\ngood.mp4,A,first\ngood.mp4,B,first\n")
    code, _, err = run_cli("--db", str(db), "analyze", str(manifest), "--start", "1")
    assert code == 2 and "name 'first' is given to 2 videos (gym.csv line 2; gym.csv line 3)" in err
    other = _touch(tmp_path / "other.mp4")
    code, _, err = run_cli("--db", str(db), "analyze", str(good), str(other), "--name", "x", "--climber", "A")
    assert code == 2 and "name 'x' is given to 2 videos" in err
    assert not db.exists()


# ------------------------------------------------------------------------------------------ end to end
def _layout(root: Path, clips: dict[str, Path], broken: bool = True) -> list[str]:
    """A folder (with a broken video when `broken`), a glob and a manifest over the short clips."""
    folder, globbed = root / "folder", root / "glob"
    folder.mkdir(parents=True, exist_ok=True)
    globbed.mkdir(exist_ok=True)
    shutil.copy(clips["flag-a"], folder / "flag-a.mp4")
    if broken:
        (folder / "broken.mp4").write_text("this is a text file, not a video\n" * 20)
    shutil.copy(clips["feet-b"], globbed / "feet-b.mp4")
    (root / "gym.csv").write_text(f"video,climber,problem,grade,outcome,height_m\n{clips['pan-c']},Ada,Roof,7A,fall,1.60\n")
    return [str(folder), str(globbed / "*.mp4"), str(root / "gym.csv")]


COMMON = ("--climber", "Tommy", "--fps", "12.5", "-q")


@pytest.fixture(scope="module")
def pool_run(short_clips, tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    inputs = _layout(root / "in", short_clips)
    db = root / "pool.duckdb"
    code, out, err = run_cli("--db", str(db), "analyze", *inputs, *COMMON, "--jobs", "2",
                             "--cache-dir", str(root / "cache"))
    return root, inputs, db, code, out, err


def _attempts(db: Path) -> dict[str, dict]:
    from db import store
    from db.connection import connect

    out = {}
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT a.attempt_id, a.name, c.name, p.name, p.grade, a.outcome, a.climber_height_m, a.n_frames "
            "FROM attempts a JOIN climbers c USING (climber_id) LEFT JOIN problems p USING (problem_id)").fetchall()
        for aid, name, climber, problem, grade, outcome, height, n in rows:
            moves = con.execute("SELECT start_frame, end_frame, label, limb FROM moves WHERE attempt_id = ? "
                                "ORDER BY 1, 2, 3, 4", [aid]).fetchall()
            out[name] = dict(meta=(climber, problem, grade, outcome, height, n), moves=moves,
                             skeleton=store.read_skeleton(con, aid).keypoints,
                             kp2d=store.read_keypoints2d(con, aid).keypoints)
    return out


@pytest.mark.slow
def test_bad_video_among_good_ones_is_reported_at_the_end_and_the_rest_stored(pool_run):
    root, _, db, code, out, err = pool_run
    assert code == 1, err
    lines = out.strip().splitlines()
    assert sum(line.startswith("ok ") for line in lines) == 3
    assert "3 analysed" in out and "1 failed" in out
    failed = out[out.index("\nfailed:\n"):]                        # the failures come last, with the fix
    assert "broken.mp4" in failed and "not a readable video" in failed and "give an mp4" in failed
    stored = _attempts(db)
    assert sorted(stored) == ["feet-b", "flag-a", "pan-c"]
    assert stored["pan-c"]["meta"] == ("Ada", "Roof", "7A", "fall", pytest.approx(1.60), 25)
    assert stored["flag-a"]["meta"][:4] == ("Tommy", None, None, None) and stored["feet-b"]["meta"][5] == 25
    counts = table_counts(db)
    assert counts["attempts"] == 3 and counts["skeleton_frames"] == 75 and counts["keypoints2d"] == 75


@pytest.mark.slow
def test_second_run_skips_every_stored_video_and_changes_nothing(pool_run):
    root, inputs, db, *_ = pool_run
    before = table_counts(db)
    fresh_cache = root / "cache-resume"
    code, out, err = run_cli("--db", str(db), "analyze", *inputs, *COMMON, "--jobs", "2",
                             "--cache-dir", str(fresh_cache))
    assert code == 1                                               # the broken video still fails
    assert out.count("skip  ") == 3 and "0 analysed" in out and "3 already stored" in out
    assert table_counts(db) == before
    assert not fresh_cache.exists()                                # no stage ran: nothing was computed


@pytest.mark.slow
def test_ray_local_run_stores_the_same_attempts_as_the_process_pool(pool_run):
    root, inputs, pool_db, *_ = pool_run                            # the same inputs, the bad video too
    ray_db = root / "ray.duckdb"
    code, out, err = run_cli("--db", str(ray_db), "analyze", *inputs, *COMMON, "--ray", "local", "--jobs", "2",
                             "--cache-dir", str(root / "cache-ray"))
    assert code == 1 and "Ray local, 2 CPUs" in out and "3 analysed" in out
    assert "broken.mp4" in out[out.index("\nfailed:\n"):]
    pool, ray = _attempts(pool_db), _attempts(ray_db)
    assert sorted(ray) == sorted(pool)
    assert sum(len(a["moves"]) for a in pool.values()) > 0          # the comparison below is not empty
    for name in pool:
        p, r = pool[name], ray[name]
        assert r["meta"] == p["meta"]
        assert r["moves"] == p["moves"], name
        np.testing.assert_allclose(r["kp2d"], p["kp2d"], atol=1e-3)  # pixels: the same pose on the same frames
        # metres: SfM's threads may round differently from run to run (< 1 mm seen)
        np.testing.assert_allclose(r["skeleton"], p["skeleton"], atol=2e-3)
        assert np.array_equal(np.isnan(r["skeleton"]), np.isnan(p["skeleton"]))
