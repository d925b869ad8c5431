"""Finding a small climber and finding them again after short losses (issue 9: skeleton lost for 1-2 s while
a ~180 px climber on a 480x854 board clip was clearly visible).

Material: a 4 s trim of the bundled tripod clip, shrunk so the climber is 120 px tall in a 480x854 frame
(`reconstruction.degrade`), with 8 grey frames (a dropped signal) and a dark box over the climber's torso for
half a second (a spotter walking past). The reference is the pose found on the same trim at full size, mapped
through the known transform.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reconstruction.backends import get_pose_backend
from reconstruction.degrade import SmallClimber, agreement, small_climber_clip
from reconstruction.pose2d import estimate_pose
from reconstruction.video import probe, select_frames

CLIP = Path(__file__).resolve().parents[1] / "data" / "climbing" / "warp-fixed-input.mp4"
TRIM = (8.0, 12.0)
SPEC = SmallClimber(climber_px=120, blank=((20, 27),), occlude=((55, 67),))


def _pose(path: Path, start_s=None, end_s=None, max_side=960):
    info = probe(path, with_hash=False)
    frames = select_frames(info, start_s, end_s)
    with get_pose_backend("mediapipe", fps=frames.fps, segmentation=False) as backend:
        pose, _ = estimate_pose(info, frames, backend, keyframe_index=np.zeros(0, np.int64), max_side=max_side,
                                progress=False)
    return pose


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    ref = _pose(CLIP, *TRIM)
    assert ref.detected.all()
    height = float(np.nanmedian(ref.boxes[:, 3] - ref.boxes[:, 1]))
    clip = small_climber_clip(CLIP, tmp_path_factory.mktemp("small") / "small.mp4", SPEC, climber_box_px=height,
                              boxes=ref.boxes, start_s=TRIM[0], end_s=TRIM[1])
    return ref, clip, _pose(clip.path)


def test_the_degraded_clip_is_what_it_claims(small):
    ref, clip, _ = small
    info = probe(clip.path, with_hash=False)
    assert (info.width, info.height, info.n_frames) == (480, 854, len(ref.keypoints))
    box = clip.to_small(ref.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    assert np.median(box[:, 3] - box[:, 1]) == pytest.approx(120, abs=1)
    assert clip.blanked.sum() == 8 and clip.occluded.sum() == 13


def test_a_small_climber_is_found_at_once_and_again_after_losses(small):
    ref, clip, pose = small
    clear = ~clip.blanked & ~clip.occluded
    found = pose.detected
    assert not found[clip.blanked].any()                    # nobody invented in grey frames
    assert found[clear][:3].all()                           # a climber too small for the whole-frame detector
    after = np.flatnonzero(~clip.blanked & (np.arange(len(found)) > 27))
    assert found[after[:2]].all()                           # found again on the first frames after the loss
    assert found[clear].mean() >= 0.97
    # ... and it is the climber, joint by joint (PCK at 10 % of their height)
    a = agreement(pose.keypoints[clear], clip.to_small(ref.keypoints[clear]), ref.confidence[clear])
    assert a["pck"] >= 0.9 and a["median_error"] < 0.03
