"""Pose of a small climber with short losses (issue 9): frames with a skeleton and agreement with the reference.

    .venv/bin/python -m benchmarks.bench_small_climber [--clip NAME ...] [--keep DIR]

For each bundled clip: the pose at full size (the default 960 px working size) is the reference. The clip is
then shrunk into a 480x854 frame (`reconstruction.degrade`) so the climber is 180 px tall ("plain"), plus grey
frames and a dark box over the climber's torso ("hard"), and the same at 120 px ("tiny"). Printed per
variant: frames with a skeleton among the clear frames (not grey, not occluded) and among the occluded ones,
the longest run of clear frames without one, and the keypoint agreement with the reference on clear frames
(median error and PCK at 10 % of the climber's height, joints the reference is sure of).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = {
    "warp-fixed-input": dict(blank=((100, 111), (300, 305)), occlude=((200, 230),)),
    "warp-dynamic-input": dict(blank=((40, 49),), occlude=((100, 120),)),
}


def _pose(path: Path):
    from reconstruction.backends import get_pose_backend
    from reconstruction.pose2d import estimate_pose
    from reconstruction.video import probe, select_frames

    info = probe(path, with_hash=False)
    frames = select_frames(info)
    with get_pose_backend("mediapipe", fps=frames.fps, segmentation=False) as backend:
        pose, _ = estimate_pose(info, frames, backend, keyframe_index=np.zeros(0, np.int64), progress=False)
    return pose


def _row(name: str, ref, clip, pose) -> str:
    from moves.features import runs
    from reconstruction.degrade import agreement

    clear = ~clip.blanked & ~clip.occluded & ref.detected
    occluded = clip.occluded & ref.detected
    found = pose.detected
    gaps = runs(clear & ~found)
    longest = int((gaps[:, 1] - gaps[:, 0] + 1).max()) if len(gaps) else 0
    a = agreement(pose.keypoints[clear], clip.to_small(ref.keypoints[clear]), ref.confidence[clear])
    occ = f"{found[occluded].sum():3d}/{occluded.sum():<3d}" if occluded.any() else "   -   "
    return (f"  {name:<6}{clip.spec.climber_px:4.0f} px  {found[clear].sum():3d}/{clear.sum():<3d}  {occ}  "
            f"{longest / pose.fps:5.2f} s   {a['median_error']:.3f}   {a['pck']:.3f}   "
            f"{pose.report.get('backend_stats', {})}")


def main(argv: list[str] | None = None) -> None:
    from reconstruction.degrade import SmallClimber, small_climber_clip

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", action="append", choices=list(CLIPS), help="default: both bundled clips")
    ap.add_argument("--keep", type=Path, help="write the degraded clips here (default: a temporary folder)")
    args = ap.parse_args([] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in args.clip or list(CLIPS):
            src = ROOT / "data" / "climbing" / f"{name}.mp4"
            ref = _pose(src)
            height = float(np.nanmedian(ref.boxes[:, 3] - ref.boxes[:, 1]))
            print(f"{name}: reference at full size finds the climber in {ref.detected.sum()}/{len(ref.detected)} "
                  f"frames, median height {height:.0f} px")
            print("  variant climber  clear     occluded  longest  median   PCK@0.1 backend")
            print("                   frames    frames    gap      error")
            variants = {"plain": SmallClimber(), "hard": SmallClimber(**CLIPS[name]),
                        "tiny": SmallClimber(climber_px=120, **CLIPS[name])}
            for variant, spec in variants.items():
                clip = small_climber_clip(src, out_dir / f"{name}-{variant}.mp4", spec, climber_box_px=height,
                                          boxes=ref.boxes)
                print(_row(variant, ref, clip, _pose(clip.path)), flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
