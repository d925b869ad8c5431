"""Shared fixtures: a fresh database path, synthetic attempts (cached per session), a skeleton file."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cruxlab.duckdb"


@functools.lru_cache(maxsize=64)
def synthetic(seed: int, noise: str = "mild", **kwargs):
    """A synthetic attempt with known moves (cached: generation takes ~0.2 s)."""
    from moves.synthetic import generate_attempt

    return generate_attempt(seed, noise, **kwargs)


@pytest.fixture
def skeleton_file(tmp_path: Path) -> Path:
    """A valid skeleton interchange file with known moves (seed 11, mild noise, 30 fps)."""
    a = synthetic(11, "mild", fps=30, duration_s=30)
    return a.skeleton.save(tmp_path / "janja-attempt-1.npz")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def table_counts(db: Path) -> dict[str, int]:
    """Row counts of every table: a fingerprint to prove a failed command wrote nothing."""
    import duckdb

    if not db.exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def on_wristband(frame_rgb, uv, tol: float):
    """For pixels uv (N, 2) of a demo video frame (H, W, 3) RGB: does it show the wristband mark there
    (colour within `tol` of WRISTBAND_RGB, within a pixel)? NaN points are False."""
    import numpy as np

    from dashboard.demo_data import WRISTBAND_RGB

    h, w = frame_rgb.shape[:2]
    ok = np.isfinite(uv).all(axis=1)
    px = np.clip(np.nan_to_num(uv).round().astype(int), 1, [w - 2, h - 2])
    best = np.full(len(px), np.inf)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            colours = frame_rgb[px[:, 1] + dy, px[:, 0] + dx].astype(int)
            best = np.minimum(best, np.linalg.norm(colours - np.array(WRISTBAND_RGB), axis=1))
    return ok & (best < tol)


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the cruxlab CLI in-process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    from cruxlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()



#: (name, bundled clip, start s, end s) of the short clips `short_clips` cuts: moments with moves in them.
SHORT_CLIPS = (
    ("flag-a", "warp-fixed-input.mp4", 5.4, 7.4),
    ("feet-b", "warp-fixed-input.mp4", 7.0, 9.0),
    ("pan-c", "warp-dynamic-input.mp4", 2.6, 4.6),
)


@pytest.fixture(scope="session")
def short_clips(tmp_path_factory) -> dict[str, Path]:
    """Short clips cut once per session from the bundled videos (2 s, 720 px, 25 fps; each its own file and
    sha256, so each its own attempt), by name. Analyse them with --fps 12.5 for 25 frames each."""
    from reconstruction.video import cut_video

    out = tmp_path_factory.mktemp("short-clips")
    return {name: cut_video(REPO / "data" / "climbing" / clip, out / f"{name}.mp4", start, end, max_side=720)
            for name, clip, start, end in SHORT_CLIPS}


@pytest.fixture(scope="session")
def bundled_store(tmp_path_factory) -> Path:
    """Both bundled clips analysed whole (native frame rate, default options) into one store, once per
    session (~1 min on an idle 2-core machine): the real-footage checks of moves, holds and the on-the-wall
    interval read it (and may add their own attempts beside them)."""
    from reconstruction.pipeline import AnalyzeOptions, analyze

    tmp = tmp_path_factory.mktemp("bundled")
    db = tmp / "bundled.duckdb"
    for clip in ("warp-fixed-input.mp4", "warp-dynamic-input.mp4"):
        analyze(db, REPO / "data" / "climbing" / clip, AnalyzeOptions(climber="Tommy", cache_dir=tmp / "cache"),
                progress=False)
    return db


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """The dashboard's demo store (dashboard.demo_data: 6 attempts, 3 climbers, 2 problems, 2 with rendered
    videos; 300 frames each), built once per session. Read it only: tests that edit take `demo`."""
    from dashboard.demo_data import cached_demo_db

    return cached_demo_db(tmp_path_factory.getbasetemp(), n_frames=300)


@pytest.fixture
def demo(template, tmp_path, monkeypatch):
    """A private copy of the template store (tests edit it), shown by the dashboard: (template, db path)."""
    import shutil

    db = tmp_path / "demo.duckdb"
    shutil.copy(template.db_path, db)
    monkeypatch.setenv("CRUXLAB_DB", str(db))
    monkeypatch.setenv("CRUXLAB_DASHBOARD_READ_TIMEOUT", "0.5")
    return template, db
