"""Per-stage speed of `cruxlab analyze` on the bundled 1080x1440 tripod clip (and optionally the handheld one).

    .venv/bin/python -m benchmarks.bench_reconstruction [--clip PATH] [--fps N] [--max-side PX]

Prints frames per second of every stage (decode alone, pose incl. decode, masks, cameras, lift, store) and
of the whole pipeline, with the process's CPU time (all its threads), so a busy machine shows up as
wall >> CPU: on an otherwise idle 2-core machine the wall time lies between CPU/2 and CPU.
Target (issue 3): the whole pipeline at >= 10 frames/s on 2 cores with the default MediaPipe backend.
Nothing is cached: every stage runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "data" / "climbing" / "warp-fixed-input.mp4"


def main(argv: list[str] | None = None) -> None:
    from reconstruction.pipeline import AnalyzeOptions, analyze
    from reconstruction.video import iter_batches, probe, select_frames

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--fps", type=float, default=None, help="analyse at this frame rate (default: every frame)")
    ap.add_argument("--max-side", type=int, default=960)
    args = ap.parse_args([] if argv is None else argv)   # `python -m benchmarks` calls main() without args

    info = probe(args.clip)
    frames = select_frames(info, fps=args.fps)
    print(f"clip {args.clip.name}: {info.width}x{info.height}, {info.n_frames} frames @ {info.fps:g} fps; "
          f"analysing {frames.count} frames @ {frames.fps:g} fps on {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(len(b.index) for b in iter_batches(info, frames, max_side=args.max_side))
    dt = time.perf_counter() - t0
    print(f"  decode @ {args.max_side} px   {n / dt:7.1f} frames/s  ({dt:.1f} s, cpu {time.process_time() - c0:.1f} s)")

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        r = analyze(Path(tmp) / "bench.duckdb", args.clip,
                    AnalyzeOptions(climber="bench", fps=args.fps, max_side=args.max_side, cache_dir=None),
                    progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for stage, sec in r.report["timings_s"].items():
        cpu_s = r.report["cpu_s"][stage]
        if sec < 0.05:
            print(f"  {stage:<20}       -           ({sec:.2f} s: nothing to do)")
            continue
        print(f"  {stage:<20} {r.n_frames / sec:7.1f} frames/s  ({sec:.1f} s wall, {cpu_s:.1f} s cpu; "
              f"{r.n_frames / max(cpu_s, 1e-9):.1f} frames per cpu-second)")
    print(f"  {'whole pipeline':<20} {r.n_frames / wall:7.1f} frames/s  ({wall:.1f} s wall, {cpu:.1f} s cpu of this "
          f"process; target >= 10 frames/s)")
    print("\n".join(r.summary().splitlines()[1:-1]))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
