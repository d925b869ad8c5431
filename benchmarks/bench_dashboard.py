"""Dashboard speed: attempt page for a 3 000-frame attempt (with video) and the statistics page over 10 000
attempts, timed as Streamlit AppTest script runs (the server-side work of one page view; the browser then
draws what it got).

    .venv/bin/python -m benchmarks.bench_dashboard [--attempts 10000] [--frames 3000] [--rebuild]

Targets (issue 4): attempt page ready <= 2 s, statistics page <= 2 s. The databases are built once into
cache/bench_dashboard/ (the 10k store takes a few minutes) and reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

CACHE = Path("cache/bench_dashboard")
APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def build_long_attempt(root: Path, n_frames: int) -> Path:
    """One attempt of n_frames with a rendered video, cameras and wall points (plus a short warm-up one)."""
    from dashboard.demo_data import build_demo_db

    db = root / f"long_{n_frames}.duckdb"
    if not db.exists():
        t = time.perf_counter()
        build_demo_db(db, root / "media", climbers=("Bench",), attempts_per_climber=1, n_frames=n_frames,
                      n_video=1, video_size=(540, 720))
        print(f"built {db} in {time.perf_counter() - t:.0f} s")
    if not (root / "warmup.duckdb").exists():
        build_demo_db(root / "warmup.duckdb", root / "media_warmup", climbers=("Warm",), attempts_per_climber=1,
                      n_frames=50, n_video=0)
    return db


def build_many_attempts(root: Path, n_attempts: int, n_templates: int = 40) -> Path:
    """n_attempts skeleton attempts (12 s each, stored at 2.5 fps to keep the file small) by 60 climbers on
    80 problems, with the generator's scripted moves (model_version synthetic-truth: no detector runs at
    2.5 fps) and coach corrections on 2 % of them."""
    from tqdm import tqdm

    from dashboard.demo_data import TRUTH_VERSION, resample_moves, subsample, synth_attempt
    from db import connect, store, transaction

    db = root / f"many_{n_attempts}.duckdb"
    if db.exists():
        return db
    t = time.perf_counter()
    tmp = db.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    rng = np.random.default_rng(0)
    step = 10
    templates = []
    for k in range(n_templates):
        s = synth_attempt(300, 25.0, seed=k, wall_angle_deg=float(k % 3) * 20)
        sk = subsample(s.skeleton, 0, step, 30)
        templates.append((sk, resample_moves(s.moves, 0, step, sk.n_frames)))
    with connect(tmp) as con:
        for i in tqdm(range(0, n_attempts, 200), desc="attempts (x200)"):
            with transaction(con):
                for k in range(i, min(i + 200, n_attempts)):
                    sk, moves = templates[k % n_templates]
                    aid = store.insert_attempt(con, store.AttemptRecord(
                        name=f"attempt-{k:05d}", climber=f"climber-{k % 60:02d}", skeleton=sk,
                        source_kind="skeleton", source_path=f"synthetic://{k}", key=f"bench-{k}",
                        problem=f"problem-{k % 80:02d}", outcome="top" if rng.random() < 0.6 else "fall"))
                    store.replace_model_moves(con, aid, moves, TRUTH_VERSION)
        ids = [r[0] for r in con.execute("SELECT move_id FROM moves ORDER BY random() LIMIT ?",
                                         [n_attempts * 12 // 50]).fetchall()]
        with transaction(con):
            for move_id in ids:
                store.edit_move(con, move_id, editor="bench", source="cli", label="cross-over")
    tmp.rename(db)
    print(f"built {db} ({db.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s")
    return db


def timed_runs(db: Path, page: str, repeats: int) -> tuple[float, list[float]]:
    """(cold, warm runs) seconds of AppTest runs of `page` on `db`: cold = first view with empty data caches."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["CRUXLAB_DB"] = str(db.resolve())
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()  # registers the navigation (and renders the default page)
    at.switch_page(f"views/{page}.py")
    st.cache_data.clear()
    t = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    warm = []
    for _ in range(repeats):
        t = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t)
    return cold, warm


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attempts", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=3_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached benchmark databases")
    args = ap.parse_args(argv)
    if args.rebuild:
        shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    long_db = build_long_attempt(CACHE, args.frames)
    many_db = build_many_attempts(CACHE, args.attempts)

    timed_runs(CACHE / "warmup.duckdb", "attempt", 0)  # imports (streamlit, plotly, cv2, ...) out of the way

    os.environ["CRUXLAB_DB"] = str(long_db.resolve())
    cold, warm = timed_runs(long_db, "attempt", args.repeats)
    print(f"attempt page, {args.frames} frames with video: cold {cold:.2f} s, warm median "
          f"{statistics.median(warm):.2f} s (target <= 2 s; playback and stepping happen in the browser: "
          "benchmarks/bench_player.py)")

    cold, warm = timed_runs(many_db, "statistics", args.repeats)
    print(f"statistics page, {args.attempts} attempts: cold {cold:.2f} s, warm median {statistics.median(warm):.2f} s "
          f"(target <= 2 s)")
    cold, warm = timed_runs(many_db, "attempt", args.repeats)
    print(f"attempt page in a store of {args.attempts} attempts: cold {cold:.2f} s, warm median "
          f"{statistics.median(warm):.2f} s")
    cold, warm = timed_runs(many_db, "attempts", args.repeats)
    print(f"climbers & attempts page, {args.attempts} attempts: cold {cold:.2f} s, warm median "
          f"{statistics.median(warm):.2f} s")


if __name__ == "__main__":
    main()
