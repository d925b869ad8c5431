"""Lifting throughput (reconstruction.lift) on synthetic handheld views, and the camera stage on rendered
keyframes.

    .venv/bin/python -m benchmarks.bench_lift          # or: make bench  (runs every benchmark)

Prints frames/s of `lift` for attempts of 250, 500 and 1000 frames (wall clock and CPU), with and without the
monocular 3D cue, plus the accuracy reached, and the seconds `solve_cameras` needs for 12 keyframes.
Target (issue 3): the whole pipeline >= 10 frames/s on 2 cores, so lifting should stay well above that.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np


def bench_lift() -> None:
    from reconstruction.lift import lift
    from reconstruction.synthetic import make_view

    print(f"{'frames':>7} {'mono':>5} {'wall s':>7} {'cpu s':>6} {'frames/s':>9} {'cpu frames/s':>13} {'MPJPE mm':>9}")
    lift(*_args(make_view("handheld", n_frames=60, seed=9)), fps=25.0)            # warm-up (imports)
    for n in (250, 500, 1000):
        v = make_view("handheld", n_frames=n, noise_px=4.0, seed=n)
        for mono in (False, True):
            t, c = time.perf_counter(), time.process_time()
            res = lift(*_args(v), fps=v.fps, wall_normal=v.truth.wall_normal, image_size=v.image_size,
                       keypoints3d=v.keypoints3d_mono if mono else None)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            err = 1000 * np.nanmean(np.linalg.norm(res.keypoints - v.truth.keypoints, axis=-1))
            print(f"{n:7d} {str(mono):>5} {wall:7.2f} {cpu:6.2f} {n / wall:9.0f} {n / cpu:13.0f} {err:9.1f}",
                  flush=True)


def _args(v):
    return v.keypoints2d, v.confidence, v.K, v.R, v.t


def bench_cameras() -> None:
    from reconstruction.sfm import SfmOptions, solve_cameras
    from reconstruction.synthetic import render_wall_views

    for motion in ("handheld", "pan"):
        rw = render_wall_views(12, motion, image_size=(384, 512), n_frames=300, seed=2)
        with tempfile.TemporaryDirectory() as d:
            t, c = time.perf_counter(), time.process_time()
            sol = solve_cameras(list(rw.images), rw.frame_indices, rw.masks, 300, d,
                                options=SfmOptions(max_features=2048))
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        r = sol.report
        print(f"cameras, 12 keyframes 384x512, {motion}: {sol.model}, {wall:.1f} s wall ({cpu:.1f} s CPU in this "
              f"process; extract {r['extract_s']} s, match {r['match_s']} s, mapping {r.get('mapping_s', 0)} s)")


def main() -> None:
    bench_lift()
    bench_cameras()


if __name__ == "__main__":
    main()
