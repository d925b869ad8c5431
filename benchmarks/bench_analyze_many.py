"""Many videos: `cruxlab analyze` on 16 short clips with --jobs 1, --jobs 2 and a local Ray instance.

    .venv/bin/python -m benchmarks.bench_analyze_many [--clips 16] [--seconds 2] [--max-side 720] [--fps 12.5]
                                                      [--modes jobs1,jobs2,ray]

The clips are cut from the two bundled videos (alternately, windows spread over each; every clip its own
file and sha256, so its own attempt), re-encoded at --max-side pixels. Each mode analyses all of them into a
fresh store with no stage cache (every stage runs) and prints videos per minute of wall time, start-up
included (worker processes spawning, Ray starting), and the CPU seconds spent per video (this process and
its finished worker processes; not known for Ray's workers). The machine's load average is printed before
and after each mode: on a machine that others load, every mode gets a share of the cores and videos/min say
little about parallelism; the CPU-s per video still show each mode's overhead.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "data" / "climbing" / "warp-fixed-input.mp4", ROOT / "data" / "climbing" / "warp-dynamic-input.mp4")


def cut_clips(out: Path, n: int, seconds: float, max_side: int | None) -> list[Path]:
    """`n` clips of `seconds`, alternating between the bundled videos, start times spread over each."""
    from reconstruction.video import cut_video, probe

    durations = [probe(s, with_hash=False).duration_s for s in SOURCES]
    clips = []
    for i in range(n):
        k = i % len(SOURCES)
        j, per_source = i // len(SOURCES), (n + len(SOURCES) - 1 - k) // len(SOURCES)
        span = max(durations[k] - seconds - 0.1, 0.0)
        start = round(span * j / max(per_source - 1, 1), 2)
        clips.append(cut_video(SOURCES[k], out / f"clip{i:02d}-{SOURCES[k].stem}-{start:g}s.mp4", start,
                               start + seconds, max_side=max_side))
    return clips


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished descendants (the pool's workers once it is shut
    down; Ray's workers once the local instance has stopped)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    return "load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    from reconstruction.batch import analyze_many
    from reconstruction.inputs import VideoTask
    from reconstruction.pipeline import AnalyzeOptions

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each clip")
    ap.add_argument("--max-side", type=int, default=720, help="longest side of the cut clips (0: as filmed)")
    ap.add_argument("--fps", type=float, default=12.5, help="analysis frame rate")
    ap.add_argument("--modes", default="jobs1,jobs2,ray", help="comma-separated: jobs1, jobs2, ray")
    args = ap.parse_args([] if argv is None else argv)   # `python -m benchmarks` calls main() without args

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="cruxlab-bench-many-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        clips = cut_clips(tmp / "clips", args.clips, args.seconds, args.max_side or None)
        print(f"{len(clips)} clips of {args.seconds:g} s at {args.max_side or 'full'} px cut in "
              f"{time.perf_counter() - t0:.1f} s; analysed at {args.fps:g} fps, no stage cache; "
              f"{os.cpu_count()} cores")
        options = AnalyzeOptions(climber="bench", fps=args.fps, cache_dir=None)
        tasks = [VideoTask(c.resolve(), options, str(c)) for c in clips]
        rates: dict[str, float] = {}
        for mode in modes:
            if mode == "ray":
                try:
                    import ray  # noqa: F401
                except ImportError:
                    print(f"  {'Ray local (2 CPUs)':<22} skipped: Ray is not installed (scripts/setup.sh ray)")
                    continue
            kwargs = {"jobs1": dict(jobs=1), "jobs2": dict(jobs=2), "ray": dict(jobs=2, ray="local")}[mode]
            label = {"jobs1": "--jobs 1", "jobs2": "--jobs 2", "ray": "Ray local (2 CPUs)"}[mode]
            before, cpu0 = _load(), _cpu_s()
            report = analyze_many(tmp / f"{mode}.duckdb", tasks, progress=False, echo=lambda line: None, **kwargs)
            cpu = (_cpu_s() - cpu0) / max(len(report.analysed), 1)
            # Ray's workers are the raylet's children, outside this process's accounting
            cpu_text = "CPU-s n/a" if mode == "ray" else f"{cpu:.1f} CPU-s per video"
            rates[mode] = report.videos_per_min
            failed = f", {len(report.failed)} FAILED: {report.failed[0][1]}" if report.failed else ""
            print(f"  {label:<22} {report.videos_per_min:6.2f} videos/min  ({len(report.analysed)} videos in "
                  f"{report.seconds:.1f} s, {cpu_text}; {before} before, {_load()} after{failed})",
                  flush=True)
        if "jobs1" in rates and rates["jobs1"] > 0:
            print("  speed-up over --jobs 1: " + ", ".join(
                f"{m} x{r / rates['jobs1']:.2f}" for m, r in rates.items() if m != "jobs1"))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
