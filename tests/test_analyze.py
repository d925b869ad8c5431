"""`cruxlab analyze` end to end: real clip trims through pose, SfM, lift and store; caching; idempotency;
bad input that must fail early and leave the database as it was."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cruxlab.cli import main as cli
from cruxlab.errors import DatabaseError, InputError
from db import store
from db.connection import connect
from reconstruction import pipeline
from reconstruction.pipeline import AnalyzeOptions, analyze
from reconstruction.video import write_video

DATA = Path(__file__).resolve().parents[1] / "data" / "climbing"
FIXED = DATA / "warp-fixed-input.mp4"
DYNAMIC = DATA / "warp-dynamic-input.mp4"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _tables(path: Path) -> dict[str, int]:
    with connect(path, read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in ("attempts", "skeleton_frames", "cameras", "wall_points", "keypoints2d", "moves", "videos")}


HEARD: list[pipeline.StageProgress] = []  # what short_fixed's analysis reported as it went


@pytest.fixture(scope="module")
def short_fixed(tmp_path_factory):
    """A 2 s trim of the tripod clip at 12.5 fps analysed into a fresh store (shared by several tests)."""
    tmp = tmp_path_factory.mktemp("analyze")
    db = tmp / "store.duckdb"
    opts = AnalyzeOptions(climber="Tommy", start_s=6.0, end_s=8.0, fps=12.5, cache_dir=tmp / "cache",
                          problem="Red 5", grade="6b+", outcome="fall", recorded_at=datetime(2026, 11, 20, 18, 30))
    HEARD.clear()
    result = analyze(db, FIXED, opts, progress=False, on_progress=HEARD.append)
    return db, opts, result


def test_progress_is_reported_stage_by_stage(short_fixed):
    """What a status file or a UI progress bar hears: every stage in order from 0 to 1, the pose stage
    frame by frame (25 frames in batches of 16), and an overall fraction that never goes back."""
    heard = HEARD
    stages = list(dict.fromkeys(p.stage for p in heard))
    assert stages == list(pipeline.STAGE_WEIGHTS)
    for name in stages:
        mine = [p.fraction for p in heard if p.stage == name]
        assert mine[0] == 0.0 and mine[-1] == 1.0 and mine == sorted(mine), name
    pose = [p.fraction for p in heard if p.stage == "pose"]
    assert pose == [0.0, pytest.approx(16 / 25), 1.0, 1.0]
    overall = [p.overall for p in heard]
    assert overall == sorted(overall) and overall[0] == 0.0 and overall[-1] == pytest.approx(1.0)


def test_short_trim_is_analysed_and_stored(short_fixed):
    db, _, r = short_fixed
    assert r.created and r.n_frames == 25 and r.fps == pytest.approx(12.5)
    assert r.frames_detected == 25 and r.frames_with_skeleton >= 20
    assert r.camera_model in ("sfm", "rotation-only")
    registered, keyframes = r.keyframes
    assert keyframes == 8 and registered >= 6 and r.registered == registered
    counts = _tables(db)
    assert counts["attempts"] == 1 and counts["skeleton_frames"] == 25 and counts["cameras"] == 25
    assert counts["keypoints2d"] == 25
    with connect(db, read_only=True) as con:
        info = store.attempt_info(con, r.attempt_id)
        sk = store.read_skeleton(con, r.attempt_id)
        cams = store.read_cameras(con, r.attempt_id)
        kp2d = store.read_keypoints2d(con, r.attempt_id)
    assert (info.video_start_frame, info.video_frame_step, info.climber) == (150, 2, "Tommy")
    with connect(db, read_only=True) as con:
        meta = store.list_attempts(con).set_index("attempt_id").loc[r.attempt_id]
    assert (meta.problem, meta.grade, meta.outcome, meta.date) == ("Red 5", "6B+", "fall",
                                                                    pd.Timestamp("2026-11-20 18:30"))
    assert info.report["pose"]["frames_detected"] == 25 and "timings_s" in info.report
    # A metric skeleton in the wall frame: standing height scale, y up (head above the feet).
    ok = np.isfinite(sk.keypoints).all(-1)
    from cruxlab.joints import L_ANKLE, L_SHOULDER, NOSE

    both = ok[:, NOSE] & ok[:, L_ANKLE]
    assert both.sum() > 10
    assert np.all(sk.keypoints[both, NOSE, 1] > sk.keypoints[both, L_ANKLE, 1])
    arm_span = np.linalg.norm(sk.keypoints[:, L_SHOULDER] - sk.keypoints[:, NOSE], axis=-1)
    assert 0.1 < np.nanmedian(arm_span) < 0.5
    # The stored skeleton projects back onto the stored 2D detections (cameras and skeleton agree).
    from cruxlab.draw import project

    uv = project(sk.keypoints.astype(np.float64), cams.K, cams.R, cams.t)
    err = np.linalg.norm(uv - kp2d.keypoints, axis=-1)
    good = np.isfinite(err) & (kp2d.confidence > 0.5)
    assert np.median(err[good]) < 0.03 * 1440


def test_rerun_changes_nothing(short_fixed, monkeypatch):
    db, opts, first = short_fixed
    before = _tables(db)

    def no_work(*args, **kwargs):
        raise AssertionError("a re-run with the same parameters must not run the pipeline")

    monkeypatch.setattr(pipeline, "run_pose", no_work)
    again = analyze(db, FIXED, opts, progress=False)
    assert not again.created and again.attempt_id == first.attempt_id
    assert again.frames_with_skeleton == first.frames_with_skeleton and again.registered == first.registered
    assert _tables(db) == before


def test_new_height_reuses_the_cached_pose_and_masks(short_fixed, monkeypatch, tmp_path):
    db, opts, first = short_fixed
    calls = []
    monkeypatch.setattr(pipeline, "run_pose", lambda *a, **k: calls.append("pose"))
    monkeypatch.setattr(pipeline, "run_masks", lambda *a, **k: calls.append("masks"))
    r = analyze(db, FIXED, AnalyzeOptions(**{**opts.__dict__, "height_m": 1.80}), progress=False)
    assert calls == [] and r.created and r.attempt_id != first.attempt_id
    assert r.name != first.name                               # the default name stays unique
    from cruxlab.joints import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER

    def torso(attempt_id: int) -> float:
        with connect(db, read_only=True) as con:
            kp = store.read_skeleton(con, attempt_id).keypoints
        mid = lambda a, b: (kp[:, a] + kp[:, b]) / 2  # noqa: E731
        return float(np.nanmedian(np.linalg.norm(mid(L_SHOULDER, R_SHOULDER) - mid(L_HIP, R_HIP), axis=-1)))

    # The height prior sets the metric scale: a 1.80 m climber's torso comes out ~1.80 / 1.70 as long.
    assert torso(r.attempt_id) / torso(first.attempt_id) == pytest.approx(1.80 / 1.70, rel=0.04)


def test_given_wall_angle_sets_gravity_and_reuses_cameras(short_fixed, monkeypatch):
    """A fixed camera cannot see an overhang's angle; --wall-angle supplies it and only the lift reruns."""
    db, opts, first = short_fixed
    calls = []
    monkeypatch.setattr(pipeline, "run_pose", lambda *a, **k: calls.append("pose"))
    monkeypatch.setattr(pipeline, "run_cameras", lambda *a, **k: calls.append("cameras"))
    r = analyze(db, FIXED, AnalyzeOptions(**{**opts.__dict__, "wall_angle_deg": 30.0}), progress=False)
    assert calls == [] and r.created and r.attempt_id != first.attempt_id
    with connect(db, read_only=True) as con:
        angle = con.execute("SELECT wall_angle_deg FROM attempts WHERE attempt_id = ?", [r.attempt_id]).fetchall()[0][0]
        base = con.execute("SELECT wall_angle_deg FROM attempts WHERE attempt_id = ?", [first.attempt_id]).fetchall()[0][0]
        sk = store.read_skeleton(con, r.attempt_id)
    assert angle == pytest.approx(30.0, abs=1.0) and abs(base) < 25.0
    assert r.report["geometry"]["up_source"] == "given wall angle"
    # the wall normal of a 30° overhang points out and down
    assert sk.wall_normal[1] == pytest.approx(-np.sin(np.radians(30.0)), abs=0.02)
    with pytest.raises(InputError, match="overhang angle"):
        analyze(db, FIXED, AnalyzeOptions(**{**opts.__dict__, "wall_angle_deg": 120.0}), progress=False)


def test_cli_analyze_prints_the_summary_and_renders(short_fixed, tmp_path, capsys):
    db, _, _ = short_fixed
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    out = tmp_path / "sheet.png"
    code = cli(["--db", str(copy), "analyze", str(FIXED), "--climber", "Tommy", "--start", "6", "--end", "8",
                "--fps", "12.5", "--cache-dir", str(Path(db).parent / "cache"), "-q"])
    text = capsys.readouterr().out
    assert code == 0 and "already analysed" in text and "registered cameras" in text
    code = cli(["--db", str(copy), "render", "warp-fixed-input", "--out", str(out), "--frames", "4"])
    assert code == 0 and out.is_file() and out.stat().st_size > 10_000


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture()
def guarded(monkeypatch):
    """Fail the test if the expensive stages start."""
    def boom(*args, **kwargs):
        raise AssertionError("the pipeline ran although the input should have been refused first")

    monkeypatch.setattr(pipeline, "run_pose", boom)


def test_not_a_video(tmp_path, guarded, capsys):
    bad = tmp_path / "clip.mp4"
    bad.write_text("hello\n" * 100)
    assert cli(["--db", str(tmp_path / "s.duckdb"), "analyze", str(bad), "--climber", "A", "-q"]) == 2
    assert "not a readable video" in capsys.readouterr().err
    assert not (tmp_path / "s.duckdb").exists()


def test_zero_frames_and_truncated(tmp_path, guarded):
    import av

    zero = tmp_path / "zero.mkv"
    with av.open(str(zero), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height = 64, 48
        c.start_encoding()
    with pytest.raises(InputError, match="zero video frames"):
        analyze(tmp_path / "s.duckdb", zero, AnalyzeOptions(climber="A"), progress=False)
    cut = tmp_path / "cut.mp4"
    with av.open(str(cut), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(40):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 5, np.uint8), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 2 // 3])
    with pytest.raises(InputError, match="truncated.*--end"):
        analyze(tmp_path / "s.duckdb", cut, AnalyzeOptions(climber="A"), progress=False)
    assert not (tmp_path / "s.duckdb").exists()


def test_unwritable_database_fails_before_any_work(tmp_path, guarded):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DatabaseError, match="is a file, not a folder"):
        analyze(tmp_path / "afile" / "s.duckdb", FIXED, AnalyzeOptions(climber="A", end_s=1), progress=False)
    with pytest.raises(DatabaseError, match="does not exist"):
        analyze(tmp_path / "nope" / "s.duckdb", FIXED, AnalyzeOptions(climber="A", end_s=1), progress=False)
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(DatabaseError, match="not a DuckDB database"):
        analyze(garbage, FIXED, AnalyzeOptions(climber="A", end_s=1), progress=False)
    assert garbage.read_bytes() == b"not a database" * 100


def test_bad_arguments_fail_early(tmp_path, guarded):
    with pytest.raises(InputError, match="height"):
        analyze(tmp_path / "s.duckdb", FIXED, AnalyzeOptions(climber="A", height_m=17.0), progress=False)
    with pytest.raises(InputError, match="climber"):
        analyze(tmp_path / "s.duckdb", FIXED, AnalyzeOptions(climber=" "), progress=False)
    with pytest.raises(InputError, match="past the end"):
        analyze(tmp_path / "s.duckdb", FIXED, AnalyzeOptions(climber="A", start_s=99), progress=False)
    with pytest.raises(InputError, match="neither a V grade"):
        analyze(tmp_path / "s.duckdb", FIXED, AnalyzeOptions(climber="A", problem="P", grade="5.12a"), progress=False)
    with pytest.raises(InputError, match="name the problem"):
        analyze(tmp_path / "s.duckdb", FIXED, AnalyzeOptions(climber="A", grade="V3"), progress=False)
    assert cli(["--db", str(tmp_path / "s.duckdb"), "analyze", str(FIXED), "--climber", "A", "--date", "2999-01-01",
                "-q"]) == 2
    assert not (tmp_path / "s.duckdb").exists()


def test_no_person_in_any_frame_stores_nothing(tmp_path):
    rng = np.random.default_rng(0)
    frames = [np.clip(rng.normal(128, 30, (240, 320, 3)), 0, 255).astype(np.uint8) for _ in range(12)]
    video = write_video(tmp_path / "empty_wall.mp4", frames, 12)
    db = tmp_path / "s.duckdb"
    with connect(db):
        pass                                                    # an existing, empty store
    with pytest.raises(InputError, match="no person found in any of the 12 frames"):
        analyze(db, video, AnalyzeOptions(climber="A", cache_dir=None), progress=False)
    assert _tables(db) == {t: 0 for t in ("attempts", "skeleton_frames", "cameras", "wall_points", "keypoints2d",
                                          "moves", "videos")}


def test_name_taken_by_another_analysis_is_refused_before_work(short_fixed, tmp_path, guarded):
    db, _, first = short_fixed
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    with pytest.raises(InputError, match="already exists"):
        analyze(copy, FIXED, AnalyzeOptions(climber="A", end_s=1, name=first.name), progress=False)


# ------------------------------------------------------------------------------------------ the real clips
@pytest.mark.slow
def test_real_handheld_clip_end_to_end(tmp_path):
    """The handheld, panning overhang clip with a crowd below, at 12.5 fps: the climber is found in nearly
    every frame, cameras are solved for the keyframes, a skeleton comes out; contact sheet to artifacts/."""
    db = tmp_path / "store.duckdb"
    r = analyze(db, DYNAMIC, AnalyzeOptions(climber="Tommy", fps=12.5, cache_dir=tmp_path / "cache"), progress=False)
    assert r.n_frames == 90
    assert r.frames_detected >= 0.9 * r.n_frames
    assert r.frames_with_skeleton >= 0.85 * r.n_frames
    registered, keyframes = r.keyframes
    assert registered >= 0.8 * keyframes
    with connect(db, read_only=True) as con:
        kp2d = store.read_keypoints2d(con, r.attempt_id)
    # In the first two seconds a spectator stands at the left (x ~ 220 px) while the climber starts on the
    # roof at x ~ 700 px: every climber box must be the climber's.
    centre_x = (kp2d.boxes[:25, 0] + kp2d.boxes[:25, 2]) / 2
    assert np.nanmin(centre_x) > 500
    from reconstruction.render import contact_sheet

    ARTIFACTS.mkdir(exist_ok=True)
    with connect(db, read_only=True) as con:
        data = store.read_render_data(con, r.attempt_id)
    sheet = contact_sheet(data, ARTIFACTS / "test_analyze_handheld.png", n=8, tile_height=300)
    assert sheet.stat().st_size > 50_000


def test_climber_leaving_the_frame_is_stored_as_missing_joints(tmp_path):
    """Real frames with the climber blanked out for 0.8 s in the middle: no error, those frames are stored
    without a skeleton (NaN joints), the others with one."""
    from reconstruction.video import iter_batches, probe, select_frames

    info = probe(FIXED)
    rng = select_frames(info, start_s=6.0, end_s=8.0, fps=12.5)
    frames = np.concatenate([b.frames for b in iter_batches(info, rng, max_side=720)])
    gone = slice(8, 18)
    frames[gone] = frames[gone].mean(axis=(0, 1, 2), keepdims=True).astype(np.uint8)   # an empty gray view
    video = write_video(tmp_path / "leaves.mp4", list(frames), 12.5)
    db = tmp_path / "s.duckdb"
    r = analyze(db, video, AnalyzeOptions(climber="A", cache_dir=None, detect_moves=False), progress=False)
    assert r.created and r.n_frames == 25 and 13 <= r.frames_detected <= 15
    with connect(db, read_only=True) as con:
        sk = store.read_skeleton(con, r.attempt_id)
        kp2d = store.read_keypoints2d(con, r.attempt_id)
    detected = np.isfinite(kp2d.keypoints).all(-1).any(-1)
    assert detected[:8].all() and not detected[gone].any() and detected[20:].all()
    seen = np.isfinite(sk.keypoints).all(-1).any(-1)
    assert not seen[9:17].any() and seen[:7].all() and seen[20:].all()
    assert np.isnan(kp2d.keypoints[gone]).all() and (kp2d.confidence[gone] == 0).all()
    assert (sk.confidence[9:17] == 0).all()


def test_single_frame_is_too_short_and_stores_nothing(tmp_path):
    db = tmp_path / "s.duckdb"
    with connect(db):
        pass
    with pytest.raises(InputError, match="too short"):
        analyze(db, FIXED, AnalyzeOptions(climber="A", start_s=6.0, end_s=6.04, cache_dir=None), progress=False)
    assert _tables(db)["attempts"] == 0


def test_folder_short_clips_and_absurd_fps_fail_early_naming_the_file(tmp_path, guarded, capsys):
    db = tmp_path / "s.duckdb"
    with connect(db):
        pass
    before = db.read_bytes()
    (tmp_path / "clips").mkdir()
    with pytest.raises(InputError, match="clips is a folder, not a video file"):
        analyze(db, tmp_path / "clips", AnalyzeOptions(climber="A"), progress=False)
    frame = np.full((96, 128, 3), 90, np.uint8)
    one = write_video(tmp_path / "one-frame.mp4", [frame], 25)
    short = write_video(tmp_path / "blink.mp4", [frame] * 8, 25)                  # 0.32 s
    for video, what in ((one, "0.04 s"), (short, "0.32 s")):
        with pytest.raises(InputError, match=rf"{video.name}: .*too short: {what}.*at least 1 s"):
            analyze(db, video, AnalyzeOptions(climber="A"), progress=False)
    whole = write_video(tmp_path / "whole.mp4", [frame] * 40, 25)          # index at the end of the file ...
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])   # ... lost with the last third
    with pytest.raises(InputError, match="cut.mp4 has no decodable video"):
        analyze(db, cut, AnalyzeOptions(climber="A"), progress=False)
    for fps in ("1e300", "1e-300", "nan", "-5"):
        assert cli(["--db", str(db), "analyze", str(FIXED), "--climber", "A", "--fps", fps, "-q"]) == 2
        err = capsys.readouterr().err
        assert "--fps" in err and "Traceback" not in err
    assert db.read_bytes() == before


@pytest.mark.slow
def test_two_analyses_of_one_clip_share_a_cache(short_fixed, tmp_path):
    """Two processes analyse the same clip with one cache at once: the SfM stage (a COLMAP database in a
    shared folder) runs once, the other process waits for it and reads its result; both store the attempt."""
    import subprocess
    import sys

    db, opts, first = short_fixed
    src = next(opts.cache_dir.iterdir())
    cache = tmp_path / "cache"
    (cache / src.name).mkdir(parents=True)
    for f in src.glob("*.npz"):                              # pose and masks cached, cameras not yet
        if f.name.startswith(("pose-", "keyframes-", "masks-")):
            shutil.copy(f, cache / src.name / f.name)
    cmd = [sys.executable, "-m", "cruxlab.cli", "--db", "{db}", "analyze", str(FIXED), "--climber", "Tommy",
           "--start", "6", "--end", "8", "--fps", "12.5", "--cache-dir", str(cache), "-q"]
    procs = [subprocess.Popen([c.format(db=tmp_path / f"s{i}.duckdb") for c in cmd], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    cams = []
    for i in range(2):
        with connect(tmp_path / f"s{i}.duckdb", read_only=True) as con:
            (attempt_id, _), = store.resolve_attempts(con)
            cams.append(store.read_cameras(con, attempt_id))
    np.testing.assert_array_equal(cams[0].R, cams[1].R)     # one SfM result, read by both
    assert len(list((cache / src.name).glob("cameras-*.npz"))) == 1


# ------------------------------------------------------------------------------------------ determinism
def _stored(db: Path, attempt_id: int):
    with connect(db, read_only=True) as con:
        moves = con.execute(
            "SELECT start_frame, end_frame, label, limb, confidence, model_version FROM moves WHERE attempt_id = ? "
            "ORDER BY start_frame, limb, label", [attempt_id]).fetchall()
        return store.read_skeleton(con, attempt_id).keypoints, store.read_cameras(con, attempt_id).R, moves


def test_an_analysis_repeats_bit_for_bit_without_the_cache(short_fixed, tmp_path):
    """Issue 9: the same video must give the same result. Computed again from the video (no cache, a new
    store), every stage gives identical numbers (COLMAP with two threads did not: ~1e-5 rad apart)."""
    db, opts, first = short_fixed
    again = analyze(tmp_path / "fresh.duckdb", FIXED, AnalyzeOptions(**{**opts.__dict__, "cache_dir": None}),
                    progress=False)
    kp, R, moves = _stored(db, first.attempt_id)
    kp2, R2, moves2 = _stored(tmp_path / "fresh.duckdb", again.attempt_id)
    np.testing.assert_array_equal(R2, R)
    np.testing.assert_array_equal(kp2, kp)
    assert moves2 == moves and again.n_moves == first.n_moves


def test_what_else_the_store_holds_changes_no_move(short_fixed, tmp_path, skeleton_file):
    """Issue 9: the same video gave 7 moves in a store holding other attempts and 9 in a fresh one. Other
    attempts, coach corrections and stored but inactive models change nothing; an active model of the store
    does, and the analysis says so (summary, report, every stored move)."""
    from moves.classify import RULES_VERSION, RuleMoveClassifier
    from moves.ingest import import_skeletons
    from moves.service import save_model
    from db.connection import transaction

    db, opts, first = short_fixed
    populated = tmp_path / "populated.duckdb"
    other = import_skeletons(populated, [skeleton_file], climber="Janja")[0]
    with connect(populated) as con, transaction(con):
        move_id = con.execute("SELECT min(move_id) FROM moves WHERE attempt_id = ?", [other.attempt_id]).fetchone()[0]
        store.edit_move(con, move_id, editor="coach", source="dashboard", delete=True)
        strict = RuleMoveClassifier(flag_min_s=2.0, min_displacement=0.3).fit()
        save_model(con, strict, kind="rules", version=strict.version, activate=False)
    shutil.copy(populated, tmp_path / "active.duckdb")
    r = analyze(populated, FIXED, opts, progress=False)
    assert r.created and r.model_version == first.model_version == RULES_VERSION
    assert _stored(populated, r.attempt_id)[2] == _stored(db, first.attempt_id)[2]
    assert "the built-in rules" in r.summary()

    with connect(tmp_path / "active.duckdb") as con, transaction(con):
        from moves.service import activate_model

        activate_model(con, strict.version)
    r2 = analyze(tmp_path / "active.duckdb", FIXED, opts, progress=False)
    assert r2.model_version == strict.version != RULES_VERSION
    assert f"model {strict.version}: this store's active move model" in r2.summary()
    assert r2.report["move_model"] == strict.version
    assert {m[-1] for m in _stored(tmp_path / "active.duckdb", r2.attempt_id)[2]} <= {strict.version}


def test_an_analysis_found_again_says_what_coaches_changed_since(short_fixed, tmp_path):
    db, opts, first = short_fixed
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    with connect(copy) as con:
        from db.connection import transaction

        with transaction(con):
            store.add_move(con, first.attempt_id, label="reach", limb="left_hand", start_frame=3, end_frame=9,
                           editor="coach", source="dashboard")
    again = analyze(copy, FIXED, opts, progress=False)
    assert not again.created and again.n_moves == (first.n_moves or 0) + 1 and again.moves_corrected == 1
    assert "1 corrected by coaches since" in again.summary()


def test_cameras_solved_beside_the_pose_equal_the_stage_run_after_it(short_fixed, tmp_path):
    """Issue 12: masks and SfM run in a worker process while the pose stage decodes (the fixture's run). From
    a cache holding only the pose, the same stages run one after the other in this process: the same masks
    and the same cameras, K in full-size pixels."""
    from reconstruction.artifacts import KINDS

    db, opts, first = short_fixed
    src = next(opts.cache_dir.iterdir())
    cache = tmp_path / "cache"
    (cache / src.name).mkdir(parents=True)
    for f in src.glob("*.npz"):
        if f.name.startswith(("pose-", "keyframes-")):
            shutil.copy(f, cache / src.name / f.name)
    r = analyze(tmp_path / "s.duckdb", FIXED, AnalyzeOptions(**{**opts.__dict__, "cache_dir": cache}),
                progress=False)
    assert "masks+cameras (worker process)" in first.report["cpu_s"]
    assert "masks+cameras (worker process)" not in r.report["cpu_s"]
    for kind in ("masks", "cameras"):
        (a,), (b,) = list(src.glob(f"{kind}-*.npz")), list((cache / src.name).glob(f"{kind}-*.npz"))
        x, y = KINDS[kind].load(a), KINDS[kind].load(b)
        if kind == "masks":
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_array_equal(x.K, y.K)
            np.testing.assert_array_equal(x.R, y.R)
            assert x.K[0, 2] == pytest.approx(1080 / 2, rel=0.05)      # principal point in full-size pixels


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["cannot start", "dies"])
def test_without_a_camera_worker_the_cameras_are_solved_here_alike(short_fixed, monkeypatch, failure):
    """Issue 12: where the worker process cannot start (process limits of a pool or Ray worker) or dies
    before its result (killed, out of memory), masks and SfM run in this process after the pose stage: the
    analysis still succeeds, with the same skeleton as the fixture's run with the worker."""
    from reconstruction import camera_worker
    from reconstruction.pipeline import compute_attempt, plan_analysis

    db, opts, first = short_fixed
    if failure == "cannot start":
        def refuse(self, *args, **kwargs):
            raise OSError(11, "Resource temporarily unavailable")

        monkeypatch.setattr(camera_worker.CameraWorker, "__init__", refuse)
    else:
        result = camera_worker.CameraWorker.result

        def killed(self, *args):
            self._proc.kill()
            self._proc.wait()
            return result(self, *args)

        monkeypatch.setattr(camera_worker.CameraWorker, "result", killed)
    options = AnalyzeOptions(**{**opts.__dict__, "cache_dir": None})
    computed = compute_attempt(plan_analysis(FIXED, options), options, progress=False)
    assert "masks+cameras (worker process)" not in computed.report["cpu_s"]
    assert "masks+cameras (worker process)" in first.report["cpu_s"]
    with connect(db, read_only=True) as con:
        stored = store.read_skeleton(con, first.attempt_id).keypoints
    np.testing.assert_allclose(computed.skeleton.keypoints, stored, atol=1e-4)   # metres: the same skeleton


def _cached_keyframes(short_fixed, tmp_path):
    """(options, pose, keyframes, CameraJob) of the short tripod analysis's cached pose stage."""
    from reconstruction.artifacts import KINDS
    from reconstruction.camera_worker import CameraJob
    from reconstruction.sfm import SfmOptions

    db, opts, first = short_fixed
    src = next(opts.cache_dir.iterdir())
    (pose_file,), (key_file,) = list(src.glob("pose-*.npz")), list(src.glob("keyframes-*.npz"))
    pose, keyframes = KINDS["pose"].load(pose_file), KINDS["keyframes"].load(key_file)
    job = CameraJob(mask_options={}, sfm_max_side=opts.sfm_max_side, scale=keyframes.scale,
                    sfm=SfmOptions(max_features=opts.sfm_features), workdir=tmp_path / "worker")
    return opts, pose, keyframes, job


def _assert_same_as_the_stages_here(masks, cams, pose, keyframes, opts, tmp_path) -> np.ndarray:
    """The worker's masks and cameras equal the mask and camera stages run in this process; their masks."""
    from reconstruction.pipeline import run_cameras, run_masks

    here = run_masks(pose, keyframes, opts)
    np.testing.assert_array_equal(masks, here)
    alike = run_cameras(keyframes, here, len(pose.keypoints), opts, tmp_path / "here", False)
    np.testing.assert_array_equal(cams.K, alike.K)
    np.testing.assert_array_equal(cams.R, alike.R)
    return here


def test_camera_worker_masks_keyframes_itself_for_a_pose_backend_without_masks(short_fixed, tmp_path):
    """A pose backend that makes no person masks (ONNX, OpenMMLab) hands the camera worker keyframes alone:
    it masks them with the MediaPipe mask backend, as the mask stage would, and solves the same cameras."""
    import dataclasses

    from reconstruction.camera_worker import CameraWorker

    opts, pose, keyframes, job = _cached_keyframes(short_fixed, tmp_path)
    keyframes = dataclasses.replace(keyframes, masks=None)             # as from a backend without masks
    boxes = pose.boxes[keyframes.index] / keyframes.scale
    with CameraWorker(len(keyframes.index), job) as worker:
        for image, box in zip(keyframes.images, boxes):
            worker.add(image, box)
        masks, cams = worker.result(keyframes.index, len(pose.keypoints))
    here = _assert_same_as_the_stages_here(masks, cams, pose, keyframes, opts, tmp_path)
    assert here.any(axis=(1, 2)).all()                                 # every keyframe has its climber masked


def test_camera_worker_starts_on_keyframes_as_they_are_decoded(short_fixed, tmp_path):
    """Issue 12: the pose stage hands every decoded batch to the camera worker, which takes the keyframes
    among them at once (their SIFT runs before the pose stage reaches them); their masks follow with `add`,
    which does not send the images again. The same masks and cameras as the stages one after another."""
    from reconstruction.camera_worker import CameraWorker

    opts, pose, keyframes, job = _cached_keyframes(short_fixed, tmp_path)
    idx, T = keyframes.index, len(pose.keypoints)
    boxes = pose.boxes[idx] / keyframes.scale
    with CameraWorker(len(idx), job, idx) as worker:
        sent = []
        send = worker._send
        worker._send = lambda msg: (sent.append(msg[0] if msg else msg), send(msg))
        for start in range(0, T, 16):                                  # the decoded batches, in order
            batch = np.zeros((min(16, T - start), *keyframes.images.shape[1:]), np.uint8)
            inside = (idx >= start) & (idx < start + 16)
            batch[idx[inside] - start] = keyframes.images[inside]
            worker.decoded(batch)
        assert sent == ["image"] * len(idx)                            # every keyframe, before any mask
        for image, box, mask in zip(keyframes.images, boxes, keyframes.masks):
            worker.add(image, box, mask)
        assert sent == ["image"] * len(idx) + ["mask"] * len(idx)
        masks, cams = worker.result(idx, T)
    _assert_same_as_the_stages_here(masks, cams, pose, keyframes, opts, tmp_path)


def test_a_background_stage_reports_in_order_keeps_its_cpu_apart_and_stops_or_fails_cleanly():
    """Issue 12: the flow stage runs in a thread beside the next stages. Its progress is heard after them,
    from 0 to 1; the CPU it burns is its own, not that of the stage running meanwhile; an error is raised
    where its result is wanted, and a stage no longer wanted stops at its next step."""
    import threading
    import time

    heard = []
    stages = pipeline._Stages(3, False, heard.append)

    def busy(stage):
        t = time.process_time()
        while time.thread_time() < 0.3:       # 0.3 s of this thread's CPU
            stage.advance(min(time.thread_time() / 0.3, 0.99))
        return "flow done", time.process_time() - t

    bg = stages.background("flow", False, busy)
    stages.run("lift", False, lambda: time.sleep(0.5))   # waits; the background burns CPU meanwhile
    result, _ = bg.wait()
    assert result == "flow done"
    assert stages.cpu["flow"] >= 0.3 and stages.cpu["lift"] < 0.15
    names = [p.stage for p in heard]
    assert names.index("flow") > max(i for i, n in enumerate(names) if n == "lift")
    flow = [p.fraction for p in heard if p.stage == "flow"]
    assert flow[0] == 0.0 and flow[-1] == 1.0 and flow == sorted(flow)

    def fails(stage):
        raise InputError("the grey frames ended early")

    with pytest.raises(InputError, match="ended early"):
        stages.background("flow", False, fails).wait()

    steps = []
    release = threading.Event()

    def endless(stage):
        while True:
            steps.append(1)
            release.wait(0.01)
            stage.advance(0.5)

    bg = stages.background("flow", False, endless)
    time.sleep(0.05)
    bg.stop()                                  # returns: the thread stopped at its next step
    n = len(steps)
    time.sleep(0.05)
    assert n > 0 and len(steps) == n and isinstance(bg.error, pipeline._Stopped)


def test_the_command_passes_mains_code_on_and_freezes_what_is_left(monkeypatch):
    """`cruxlab` (the console entry) returns main's exit code and leaves the objects out of the interpreter's
    final garbage collections (the process ends next)."""
    import gc

    import cruxlab.cli as cli

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(argv) or 3)
    gc.unfreeze()
    try:
        assert cli.console(["sql", "SELECT 1"]) == 3
        assert seen == [["sql", "SELECT 1"]]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
