"""Issue 12: a long attempt's two halves tracked at once by two pose trackers (`pose2d.estimate_pose`), merged as
one pass would give them: frames, keyframes (in order, to the camera worker), grey frames, progress, and the
fall-back to one tracker when the second follows someone else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cruxlab.joints import NUM_JOINTS
from reconstruction.backends.base import PoseBackend, PoseBatch
from reconstruction.pose2d import SPLIT_MIN_S, boxes_agree, choose_keyframes, estimate_pose, split_point
from reconstruction.video import GreyFrames, probe, select_frames, working_size, write_video

FPS = 10.0
N = 60  # 6 s at 10 fps: long enough to split (SPLIT_MIN_S)
W, H = 96, 64
CLIP = Path(__file__).resolve().parents[1] / "data" / "climbing" / "warp-fixed-input.mp4"


def _frame(i: int) -> np.ndarray:
    """A frame whose attempt index i is written in two grey patches (units and fifties), robust to compression."""
    img = np.zeros((H, W, 3), dtype=np.uint8)
    img[:, : W // 2] = 20 + 4 * (i % 50)
    img[:, W // 2:] = 20 + 4 * (i // 50)
    return img


def _index(img: np.ndarray) -> int:
    lo = float(np.median(img[8:-8, 8: W // 2 - 8])) - 20
    hi = float(np.median(img[8:-8, W // 2 + 8: -8])) - 20
    return int(round(lo / 4)) + 50 * int(round(hi / 4))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = write_video(tmp_path_factory.mktemp("split") / "numbered.mp4", [_frame(i) for i in range(N)], FPS)
    info = probe(path)
    frames = select_frames(info)
    assert frames.count == N >= SPLIT_MIN_S * FPS
    return info, frames


class Scripted(PoseBackend):
    """A test double of a tracking backend (no model): the climber's keypoints follow the frame index read from
    the pixels, through a state that forgets its start within a few frames (like a tracker's smoothing), so a
    second instance started later agrees with the first a few frames on. `offset` puts its person elsewhere (a
    twin locked on someone else); `fail_at` raises on that frame."""

    name = "scripted"

    def __init__(self, offset: float = 0.0, twin_offset: float = 0.0, fail_at: int | None = None, twins=True):
        self.offset, self.twin_offset, self.fail_at, self.twins = offset, twin_offset, fail_at, twins
        self.state: np.ndarray | None = None
        self.seen: list[int] = []
        self.mask_frames: set[int] = set()
        self.made: list[Scripted] = []
        self.closed = False
        self.stats = {"frames": 0}

    def twin(self):
        if not self.twins:
            return None
        t = Scripted(self.twin_offset, fail_at=self.fail_at)
        self.made.append(t)
        return t

    def want_masks(self, frames) -> None:
        self.mask_frames = {int(f) for f in frames}

    def process(self, frames: np.ndarray) -> PoseBatch:
        B = len(frames)
        kp = np.zeros((B, NUM_JOINTS, 2), np.float32)
        masks = np.zeros((B, H, W), bool)
        for b, img in enumerate(frames):
            i = _index(img)
            if i == self.fail_at:
                raise RuntimeError(f"scripted failure at frame {i}")
            target = np.stack([np.linspace(10, 40, NUM_JOINTS) + i * 0.5 + self.offset,
                               np.linspace(5, 50, NUM_JOINTS)], -1)
            self.state = target if self.state is None else 0.4 * self.state + 0.6 * target
            kp[b] = self.state
            if len(self.seen) in self.mask_frames:  # counted from the first frame handed in, as MediaPipePose
                masks[b, 10:20, 10 + i % 40: 20 + i % 40] = True
            self.seen.append(i)
            self.stats["frames"] += 1
        boxes = np.concatenate([kp.min(1), kp.max(1)], -1)
        return PoseBatch(keypoints=kp, confidence=np.full((B, NUM_JOINTS), 0.9, np.float32), keypoints3d=None,
                         boxes=boxes, masks=masks)

    def close(self) -> None:
        self.closed = True


def _run(clip, backend, tmp_path, split=None):
    info, frames = clip
    kf = choose_keyframes(frames.count, frames.fps, per_second=1.5)
    handed, progress = [], []
    w, h, scale = working_size(info, None)
    grey = GreyFrames.open(frames.count, w, h, scale, tmp_path, spare_bytes=0)
    pose, keys = estimate_pose(info, frames, backend, keyframe_index=kf, max_side=None, progress=False,
                               batch_size=8, split=split, on_frames=progress.append,
                               on_keyframe=lambda img, box, mask: handed.append((_index(img), box, mask)),
                               on_decoded=grey.write)
    assert grey.complete
    back = np.concatenate([b for _, b in grey.batches()])
    grey.close()
    return pose, keys, handed, progress, back, kf


def test_two_trackers_give_one_pass_frames_keyframes_and_grey_frames(clip, tmp_path):
    one = _run(clip, Scripted(twins=False), tmp_path)
    backend = Scripted()
    two = _run(clip, backend, tmp_path)
    pose1, keys1, handed1, progress1, grey1, kf = one
    pose2, keys2, handed2, progress2, grey2, _ = two
    report = pose2.report["backend_stats"]["split"]
    m, overlap = report["at"], report["overlap"]
    assert "split" not in pose1.report["backend_stats"] and report["fallback"] is False
    assert report["boxes_agree"] == 1.0 and (m, overlap) == (split_point(N, 10), 10)
    # the second tracker was built, saw only its part (from m - overlap on), and was closed
    (twin,) = backend.made
    assert twin.closed and twin.seen == list(range(m - overlap, N)) and backend.seen == list(range(m))
    # the same frames: the first half bit for bit, the rest within a hair once the twin has settled
    assert pose2.keypoints.shape == pose1.keypoints.shape == (N, NUM_JOINTS, 2)
    np.testing.assert_array_equal(pose2.keypoints[:m], pose1.keypoints[:m])
    np.testing.assert_allclose(pose2.keypoints[m:], pose1.keypoints[m:], atol=1e-3)
    np.testing.assert_allclose(pose2.boxes, pose1.boxes, atol=1e-3)
    # the keyframes, handed over once each and in order, with the masks the backend made for them
    assert [i for i, _, _ in handed2] == [i for i, _, _ in handed1] == keys2.index.tolist() == kf.tolist()
    np.testing.assert_array_equal(keys2.images, keys1.images)
    np.testing.assert_array_equal(keys2.masks, keys1.masks)
    assert keys2.masks.reshape(len(kf), -1).any(1).all()
    for (_, box1, _), (_, box2, _) in zip(handed1, handed2, strict=True):
        np.testing.assert_allclose(box2, box1, atol=1e-3)
    # progress counts every frame once; both decoders wrote the grey frames, each frame once, in place
    assert sum(progress2) == sum(progress1) == N
    np.testing.assert_array_equal(grey2, grey1)
    assert [_index(np.repeat(g[..., None], 3, -1)) for g in grey2] == list(range(N))


def test_a_twin_following_someone_else_falls_back_to_one_tracker(clip, tmp_path):
    one = _run(clip, Scripted(twins=False), tmp_path)
    backend = Scripted(twin_offset=200.0)  # the second tracker locks on a person 200 px away
    pose, keys, handed, progress, grey, kf = _run(clip, backend, tmp_path)
    report = pose.report["backend_stats"]["split"]
    assert report["fallback"] is True and report["boxes_agree"] == 0.0
    # the first tracker went on over the second half: exactly the one-pass result, keyframes and masks included
    assert backend.seen == list(range(N))
    np.testing.assert_array_equal(pose.keypoints, one[0].keypoints)
    np.testing.assert_array_equal(keys.images, one[1].images)
    np.testing.assert_array_equal(keys.masks, one[1].masks)
    assert [i for i, _, _ in handed] == kf.tolist()
    assert sum(progress) == N
    np.testing.assert_array_equal(grey, one[4])


def test_one_pass_when_asked_or_short_and_errors_reach_the_caller(clip, tmp_path):
    backend = Scripted()
    pose, *_ = _run(clip, backend, tmp_path, split=False)
    assert backend.made == [] and backend.seen == list(range(N)) and "split" not in pose.report["backend_stats"]
    info, frames = clip
    short = select_frames(info, end_s=SPLIT_MIN_S - 0.5)
    backend = Scripted()
    estimate_pose(info, short, backend, keyframe_index=np.array([0]), max_side=None, progress=False)
    assert backend.made == [] and backend.seen == list(range(short.count))
    # a failure in the second tracker stops both and is raised, whatever thread it happened in
    with pytest.raises(RuntimeError, match="scripted failure at frame 55"):
        _run(clip, Scripted(fail_at=55), tmp_path)


def test_boxes_agree_needs_overlapping_boxes_on_most_frames_both_see():
    a = np.tile(np.array([0, 0, 10, 20], np.float32), (10, 1))
    assert boxes_agree(a, a + 1) == (True, 1.0)
    far = a + 30
    assert boxes_agree(a, far) == (False, 0.0)
    mixed = a.copy()
    mixed[:3] = far[:3]
    assert boxes_agree(a, mixed) == (False, 0.7)
    unseen = np.full_like(a, np.nan)
    assert boxes_agree(a, unseen)[0] is False and boxes_agree(unseen, unseen)[0] is False
    few = unseen.copy()
    few[:4] = a[:4]                               # the second sees someone in under half the first one's frames
    assert boxes_agree(a, few) == (False, 1.0)


def test_mediapipe_twins_track_real_halves_like_one_pass():
    """The real tracker: 5 s of the tripod clip at 12.5 fps, split and not. The first half is the one-pass
    result bit for bit, the climber is found in the same frames, the second half differs by a few pixels."""
    from reconstruction.backends import get_pose_backend

    info = probe(CLIP)
    frames = select_frames(info, start_s=6.0, end_s=11.0, fps=12.5)
    kf = choose_keyframes(frames.count, frames.fps)
    out = {}
    for split in (False, True):
        with get_pose_backend("mediapipe", fps=frames.fps, segmentation=True, split=True) as backend:
            out[split] = estimate_pose(info, frames, backend, keyframe_index=kf, progress=False, split=split)
    (one, keys1), (two, keys2) = out[False], out[True]
    with get_pose_backend("mediapipe", fps=frames.fps) as backend:   # off unless asked (--model-option mediapipe.split=true)
        assert backend.twin() is None
    report = two.report["backend_stats"]["split"]
    m = report["at"]
    assert report["fallback"] is False and report["boxes_agree"] >= 0.8
    np.testing.assert_array_equal(two.keypoints[:m], one.keypoints[:m])
    np.testing.assert_array_equal(two.detected, one.detected)
    assert two.detected.all()
    d = np.linalg.norm(two.keypoints[m:, :17] - one.keypoints[m:, :17], axis=-1)
    body = np.linalg.norm(one.boxes[:, 2:] - one.boxes[:, :2], axis=-1).mean()
    assert np.median(d) < 0.03 * body
    assert keys2.index.tolist() == keys1.index.tolist() == kf.tolist()
    np.testing.assert_array_equal(keys2.images, keys1.images)
    iou = (keys1.masks & keys2.masks).sum((1, 2)) / np.maximum((keys1.masks | keys2.masks).sum((1, 2)), 1)
    assert (iou > 0.8).all()
