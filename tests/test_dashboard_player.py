"""The attempt player's Python half: the playback video (frames, keyframes, cache, bad input), the per-frame
payload the browser draws from (projection onto the video, quantisation round trip), and the moves it is sent.
The browser half is driven in tests/test_dashboard_browser.py."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import on_wristband

from cruxlab.errors import InputError
from cruxlab.joints import L_WRIST, R_WRIST
from dashboard.player import Track, moves_rows, payload
from dashboard.player.media import KEYFRAME_INTERVAL, FrameSelection, cached_playback, make_playback



@pytest.fixture
def data(template, monkeypatch, tmp_path):
    from dashboard import data as data_module

    monkeypatch.setenv("CRUXLAB_DB", str(template.db_path))
    monkeypatch.setenv("CRUXLAB_CACHE", str(tmp_path / "cache"))
    data_module.refresh()
    return data_module


def _decode(path) -> tuple[list[np.ndarray], list[float], list[bool]]:
    import av

    with av.open(str(path)) as c:
        frames, times, key = [], [], []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.time))
            key.append(bool(f.key_frame))
    return frames, times, key


def test_playback_video_holds_exactly_the_attempt_frames_and_the_overlay_lands_on_them(template, data):
    """The subsampled attempt (video frames 3 + 2 i): the playback file's frame i at time i / fps is attempt
    frame i, so the projected wrists land on the wristband marks of that frame; shifted by one attempt frame
    they do not. Keyframes are close together so seeking stays cheap."""
    from dashboard.player import attempt_track

    aid = template.attempt_ids[1]
    track = attempt_track(aid, show_progress=False)
    assert track.media is not None and track.media.suffix == ".webm"
    frames, times, key = _decode(track.media)
    assert len(frames) == track.n_frames == 300
    assert np.allclose(times, np.arange(300) / track.fps, atol=1e-3)
    gaps = np.diff(np.flatnonzero(key))
    assert len(gaps) and gaps.max() <= KEYFRAME_INTERVAL
    h, w = frames[0].shape[:2]
    scale = w / track.size[0]
    assert abs(h / track.size[1] - scale) < 0.02, "aspect kept"

    def hit_rate(shift: int) -> float:
        hits = [on_wristband(frames[min(i + shift, 299)], track.points2d[i, [L_WRIST, R_WRIST]] * scale, tol=70)
                for i in range(0, 300, 3)]
        return float(np.mean(hits))

    right, shifted = hit_rate(0), hit_rate(12)  # half a second off: the hands have moved
    assert right > 0.95, right
    assert shifted < right - 0.1, (right, shifted)


def test_playback_is_made_once_and_bad_video_caches_nothing(template, tmp_path):
    src = template.video_paths[template.attempt_ids[0]]
    sel = FrameSelection(start=0, step=1, n_frames=40, fps=25.0)
    cache = tmp_path / "c"
    assert cached_playback(src, sel, cache_dir=cache) is None
    calls = []
    out = make_playback(src, sel, cache_dir=cache, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (40, 40)
    mtime = out.stat().st_mtime_ns
    assert make_playback(src, sel, cache_dir=cache) == out and out.stat().st_mtime_ns == mtime, "cached"
    assert cached_playback(src, sel, cache_dir=cache) == out
    other = FrameSelection(start=3, step=2, n_frames=40, fps=12.5)
    assert make_playback(src, other, cache_dir=cache) != out, "another frame selection is another file"

    too_long = FrameSelection(start=0, step=1, n_frames=10_000, fps=25.0)
    with pytest.raises(InputError, match="analyse it again"):
        make_playback(src, too_long, cache_dir=cache)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(InputError):
        make_playback(broken, sel, cache_dir=cache)
    leftovers = [p.name for p in (cache / "playback").iterdir() if "partial" in p.name]
    assert not leftovers and len(list((cache / "playback").glob("*.webm"))) == 2


def _unpack(doc: dict, key: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(doc[key]), dtype=dtype)


def test_payload_round_trips_within_quantisation():
    rng = np.random.default_rng(3)
    T, J = 50, 21
    p2 = rng.uniform(0, 1900, (T, J, 2))
    p2[5, 3] = np.nan
    p3 = rng.normal(0, 1.5, (T, J, 3))
    p3[7] = np.nan
    wall = rng.normal(0, 2, (30, 3))
    track = Track(name="t", fps=30.0, n_frames=T, media=None, background=np.zeros((10, 10, 3), np.uint8),
                  size=(1920, 1080), points2d=p2, keypoints3d=p3, wall_xyz=wall,
                  wall_rgb=np.full((30, 3), 9, np.uint8), wall_normal=np.array([0, 0, 1.0]),
                  wall_point=np.zeros(3))
    doc = json.loads(payload(track))
    assert (doc["n_frames"], doc["n_joints"], doc["fps"], doc["size"]) == (T, J, 30.0, [1920, 1080])
    q2 = _unpack(doc, "p2", "<i2").reshape(T, J, 2)
    missing = q2 == np.iinfo(np.int16).min
    assert (missing == np.isnan(p2)).all()
    assert np.abs(q2[~missing] / 4.0 - p2[~missing]).max() <= 0.125 + 1e-9, "quarter-pixel precision"
    q3 = _unpack(doc, "p3", "<i2").reshape(T, J, 3)
    assert (q3[7] == np.iinfo(np.int16).min).all()
    ok = ~np.isnan(p3)
    assert np.abs(q3[ok] / 1000.0 - p3[ok]).max() <= 0.0005 + 1e-9, "millimetre precision"
    assert _unpack(doc, "wall", "<i2").size == 90 and doc["n_wall"] == 30
    assert len(doc["bones"]) > 10 and doc["effectors"]["left_hand"] == L_WRIST

    with pytest.raises(ValueError, match="either a playback video"):
        Track(**{**track.__dict__, "media": "x.webm"})
    with pytest.raises(ValueError, match="points2d"):
        Track(**{**track.__dict__, "points2d": p2[:10]})


def test_moves_rows_mark_status_and_skip_deleted():
    df = pd.DataFrame({
        "move_id": [1, 2, 3, 4, 5], "label": ["reach", "flag", "dyno", "match", "reach"],
        "limb": ["left_hand", "left_foot", "body", "right_hand", "left_hand"],
        "start_frame": [0, 10, 20, 30, 40], "end_frame": [5, 15, 25, 35, 45],
        "confidence": [0.9, 0.3, 1.0, 0.8, 0.7], "source": ["model", "model", "dashboard", "model", "model"],
        "edited": [False, True, True, False, False], "confirmed": [False, False, False, True, False],
        "deleted": [False, False, False, False, True],
    })
    rows = moves_rows(df)
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert [r[6] for r in rows] == ["model", "edited", "added", "confirmed"]
    assert rows[1][1:6] == ["flag", "left_foot", 10, 15, 0.3]


def test_missing_or_unreadable_video_gives_the_rendered_wall(template, data, tmp_path):
    from dashboard.player import attempt_track

    skeleton_only = template.attempt_ids[-1]
    t = attempt_track(skeleton_only, show_progress=False)
    assert t.media is None and t.background is not None and "no video" in t.source
    assert np.isfinite(t.points2d).any(axis=(1, 2)).mean() > 0.9, "the skeleton is drawn on the rendered wall"
    w, h = t.size
    uv = t.points2d[np.isfinite(t.points2d).all(axis=2)]
    assert (uv[:, 0] >= 0).all() and (uv[:, 0] < w).all() and (uv[:, 1] >= 0).all() and (uv[:, 1] < h).all()

    aid = template.attempt_ids[0]
    video = template.video_paths[aid]
    moved = tmp_path / "moved.mp4"
    shutil.move(video, moved)
    try:
        data.refresh()
        t = attempt_track(aid, show_progress=False)
        assert t.media is None and "video not on disk" in t.source
    finally:
        shutil.move(moved, video)


def test_dashboard_makes_missing_playback_files_in_the_background_newest_first(template, tmp_path):
    """Attempts stored without a playback file (as `cruxlab analyze` leaves them) get one from
    dashboard.player.prepare, newest first, so their first view does not transcode; a video that cannot be
    read is reported and skipped without stopping the others; nothing is made twice; a preparer whose
    dashboard is gone makes nothing."""
    import subprocess
    import sys

    from db import connect
    from dashboard.player.prepare import missing_playback, prepare

    db = tmp_path / "store.duckdb"
    shutil.copy(template.db_path, db)
    cache = tmp_path / "cache"
    with_video = sorted((a for a in template.attempt_ids if template.video_paths.get(a)), reverse=True)
    assert len(with_video) >= 2
    pending = missing_playback(db, cache_dir=cache)
    assert [p.attempt_id for p in pending] == with_video

    gone = subprocess.run([sys.executable, "-m", "dashboard.player.prepare", "--db", str(db), "--parent", "1"],
                          env={**__import__("os").environ, "CRUXLAB_CACHE": str(cache)}, capture_output=True,
                          text=True, timeout=120)
    assert gone.returncode == 0, gone.stderr
    assert not (cache / "playback").exists(), "its dashboard (pid 1 is not its parent) is gone: nothing made"

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with connect(db) as con:
        con.execute("UPDATE videos SET path = ? WHERE video_id = (SELECT video_id FROM attempts WHERE attempt_id = ?)",
                    [str(broken), with_video[0]])
    log: list[str] = []
    made = prepare(db, cache_dir=cache, log=log.append)
    assert len(made) == 1 and any("no playback" in line and "its page will say why" in line for line in log), log
    good = [p for p in missing_playback(template.db_path, cache_dir=cache) if p.attempt_id != with_video[0]]
    assert not good, "every readable video's playback file is where the attempt page looks for it"
    assert cached_playback(template.video_paths[with_video[1]], pending[1].frames, cache_dir=cache) == made[0]
    mtime = made[0].stat().st_mtime_ns
    assert prepare(db, cache_dir=cache, log=log.append) == [] and made[0].stat().st_mtime_ns == mtime
