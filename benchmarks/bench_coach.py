"""The coach's pages and jobs: upload -> analysed time of a real clip through the background job the upload
page starts (dashboard.jobs), per-move clip export (MP4, GIF), and the climber / compare / upload pages as
Streamlit AppTest runs (the server-side work of one page view).

    .venv/bin/python -m benchmarks.bench_coach [--full] [--repeats 5]

--full also uploads the whole 12 s tripod clip at every frame (what `make demo` analyses). Uses the stores
benchmarks/bench_dashboard.py builds (cache/bench_dashboard/, built on first use).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_dashboard import CACHE, build_long_attempt, build_many_attempts, timed_runs
from benchmarks.timing import best_of

DATA = Path(__file__).resolve().parent.parent / "data" / "climbing"


def upload_to_analysed(video: Path, request, work: Path) -> tuple[float, dict]:
    """Seconds from submit (the upload saved) to the job's final status; and that status. A fresh stage cache."""
    import os

    from dashboard import jobs

    os.environ["CRUXLAB_CACHE"] = str(work / "cache")
    db = work / "store.duckdb"
    t = time.perf_counter()
    with open(video, "rb") as f:
        job = jobs.submit(work / "uploads", db, f, video.name, request)
    while not (status := jobs.read_status(job)).final:
        time.sleep(0.1)
    elapsed = time.perf_counter() - t
    if status.state != "done":
        raise RuntimeError(f"the analysis failed: {status.message}\n{jobs.log_tail(job)}")
    return elapsed, json.loads((job / "status.json").read_text())


def bench_upload(full: bool) -> None:
    from dashboard.jobs import AnalysisRequest
    from reconstruction.video import cut_video

    with tempfile.TemporaryDirectory(prefix="bench-coach-") as tmp:
        tmp = Path(tmp)
        clip = cut_video(DATA / "warp-fixed-input.mp4", tmp / "clip.mp4", 6.0, 8.0, max_side=720)
        cases = [("2 s trim of the tripod clip (the browser test's), analysed at 12.5 fps", clip,
                  AnalysisRequest(climber="Bench", name="bench-trim", fps=12.5))]
        if full:
            cases.append(("whole 12 s tripod clip, every frame", DATA / "warp-fixed-input.mp4",
                          AnalysisRequest(climber="Bench", name="bench-full")))
        for title, video, request in cases:
            work = tmp / request.name
            work.mkdir()
            elapsed, status = upload_to_analysed(video, request, work)
            from db import connect, store

            with connect(work / "store.duckdb", read_only=True) as con:
                report = store.attempt_info(con, status["attempt_id"]).report
            from datetime import datetime

            at = {k: datetime.fromisoformat(status[k]) for k in ("submitted_at", "started_at", "analysis_started_at",
                                                                 "analysed_at", "finished_at")}
            span = lambda a, b: (at[b] - at[a]).total_seconds()  # noqa: E731
            stages = ", ".join(f"{k} {v:.1f}" for k, v in report.get("timings_s", {}).items())
            print(f"upload -> analysed, {title}: {elapsed:.1f} s for {report['frames']} frames = job process up "
                  f"{span('submitted_at', 'started_at'):.1f} s + importing the pipeline "
                  f"{span('started_at', 'analysis_started_at'):.1f} s + analyze() "
                  f"{span('analysis_started_at', 'analysed_at'):.1f} s ({stages}, the rest: reading/hashing the "
                  f"video, loading models, storing) + the browser's playback file "
                  f"{span('analysed_at', 'finished_at'):.1f} s")


def bench_clips(long_db: Path) -> None:
    from dashboard.clips import clip_frames, move_clip
    from db import connect, store

    with connect(long_db, read_only=True) as con:
        aid = store.resolve_attempts(con)[0][0]
        rd = store.read_render_data(con, aid)
        moves = store.current_moves(con, aid).sort_values("start_frame")
    T, fps = rd.skeleton.n_frames, rd.skeleton.fps
    for where, m in (("first", moves.iloc[0]), ("last", moves.iloc[-1])):
        frames = clip_frames(int(m.start_frame), int(m.end_frame), T, fps)
        for fmt in ("mp4", "gif"):
            size = len(move_clip(rd, frames, fmt))
            secs = best_of(lambda fmt=fmt: move_clip(rd, frames, fmt), 2)
            print(f"clip of the {where} move ({m.label}, frames {frames[0]}-{frames[-1]} of {T}) as {fmt.upper()}: "
                  f"{secs:.2f} s, {size / 1e3:.0f} kB")


def bench_pages(long_db: Path, many_db: Path, repeats: int) -> None:
    import os

    os.environ["CRUXLAB_UPLOADS"] = str(CACHE / "uploads-empty")
    timed_runs(CACHE / "warmup.duckdb", "climber", 0)   # imports out of the way
    for db, what in ((many_db, f"{many_db.stem.split('_')[1]} attempts"),):
        for page in ("climber", "compare", "upload"):
            cold, warm = timed_runs(db, page, repeats)
            print(f"{page} page, {what}: cold {cold:.2f} s, warm median {statistics.median(warm):.2f} s")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also upload the whole 12 s clip at every frame")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--attempts", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=3_000)
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    long_db = build_long_attempt(CACHE, args.frames)
    many_db = build_many_attempts(CACHE, args.attempts)
    bench_upload(args.full)
    bench_clips(long_db)
    bench_pages(long_db, many_db, args.repeats)


if __name__ == "__main__":
    main()
