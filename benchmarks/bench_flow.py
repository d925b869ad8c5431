"""The analysis's flow stage: the hands' and feet's image patches tracked against the wall on the bundled clips.

    .venv/bin/python -m benchmarks.bench_flow [--max-side 960]

For each bundled clip: decoding alone at the working size (the part of the stage the pose pass also pays),
then the whole stage (`reconstruction.pipeline.run_flow`: decoding + `moves.evidence.effector_flow`), in
seconds per clip and milliseconds per frame. The climber's 2D detections are a fixed stand-in (four patches
and legs of the real climber's size in the middle of the frame): the tracking cost does not depend on where
the patches are. The load average is printed: on a machine others load, the seconds grow with it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("warp-fixed-input.mp4", "warp-dynamic-input.mp4")


def stand_in_pose(T: int, width: int, height: int):
    """(keypoints (T, 21, 2), confidence (T, 21), boxes (T, 4)) of a climber standing in the frame's middle,
    legs a fifth of the frame height long (hip-knee-ankle), both hands up."""
    from cruxlab.joints import (
        L_ANKLE, L_HEEL, L_HIP, L_KNEE, L_TOE, L_WRIST, NUM_JOINTS, R_ANKLE, R_HEEL, R_HIP, R_KNEE, R_TOE, R_WRIST,
    )

    cx, cy, leg = width / 2, height / 2, height / 5
    kp = np.full((T, NUM_JOINTS, 2), np.nan, np.float32)
    conf = np.zeros((T, NUM_JOINTS), np.float32)
    for side, (hip, knee, ankle, heel, toe, wrist) in ((-1, (L_HIP, L_KNEE, L_ANKLE, L_HEEL, L_TOE, L_WRIST)),
                                                       (1, (R_HIP, R_KNEE, R_ANKLE, R_HEEL, R_TOE, R_WRIST))):
        x = cx + side * leg / 4
        for j, y in ((hip, cy), (knee, cy + leg / 2), (ankle, cy + leg), (heel, cy + leg * 1.05),
                     (toe, cy + leg * 1.05), (wrist, cy - leg * 1.2)):
            kp[:, j] = (x + (side * leg / 8 if j in (toe,) else 0), y)
            conf[:, j] = 0.9
    boxes = np.tile(np.array([cx - leg / 2, cy - 1.4 * leg, cx + leg / 2, cy + 1.1 * leg], np.float32), (T, 1))
    return kp, conf, boxes


def main(argv: list[str] | None = None) -> None:
    from reconstruction.pipeline import AnalyzeOptions, run_flow
    from reconstruction.pose2d import Pose2D
    from reconstruction.video import iter_batches, probe, select_frames, working_size

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-side", type=int, default=AnalyzeOptions.max_side)
    args = ap.parse_args(argv if argv is not None else [])
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    for name in CLIPS:
        info = probe(ROOT / "data" / "climbing" / name, with_hash=False)
        frames = select_frames(info)
        w, h, _ = working_size(info, args.max_side)
        t = time.perf_counter()
        for _ in iter_batches(info, frames, max_side=args.max_side):
            pass
        decode = time.perf_counter() - t
        kp, conf, boxes = stand_in_pose(frames.count, info.width, info.height)
        pose = Pose2D(kp, conf, None, boxes, (info.width, info.height), frames.fps, "stand-in")
        t = time.perf_counter()
        flow = run_flow(info, frames, pose, AnalyzeOptions(climber="bench", max_side=args.max_side))
        total = time.perf_counter() - t
        known = np.isfinite(flow.rel[:-1, :, 0]).mean()
        print(f"{name}: {frames.count} frames at {w}x{h}: flow stage {total:.1f} s ({total / frames.count * 1e3:.1f} "
              f"ms/frame), of which decoding {decode:.1f} s; patches tracked in {known:.0%} of frame pairs")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
