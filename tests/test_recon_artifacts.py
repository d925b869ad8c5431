"""Stage-cache files: every artifact kind comes back from its file as it went in (reconstruction.artifacts)."""

from __future__ import annotations

import numpy as np
import pytest

from cruxlab.camera import CameraTrack, WallPoints
from cruxlab.joints import NUM_JOINTS
from reconstruction.artifacts import KINDS
from reconstruction.pipeline import StageCache
from reconstruction.pose2d import Keyframes, Pose2D
from reconstruction.sfm import CameraSolution
from reconstruction.wall import WallReconstruction

RNG = np.random.default_rng(0)
T, N = 6, 9


def _pose(with_3d: bool) -> Pose2D:
    kp = RNG.uniform(0, 100, (T, NUM_JOINTS, 2)).astype(np.float32)
    kp[2] = np.nan
    return Pose2D(kp, RNG.uniform(0, 1, (T, NUM_JOINTS)).astype(np.float32),
                  RNG.normal(size=(T, NUM_JOINTS, 3)).astype(np.float32) if with_3d else None,
                  np.zeros((T, 4), np.float32), (640, 480), 12.5, "mediapipe",
                  {"frames": T, "stats": {"acquired": 2, "speed": 1.5}})


def _cameras() -> CameraSolution:
    return CameraSolution(
        K=np.diag([800.0, 800.0, 1.0]), R=np.repeat(np.eye(3)[None], T, 0), t=RNG.normal(size=(T, 3)),
        registered=np.array([1, 0, 1, 1, 0, 1], bool), keyframes=np.array([0, 2, 5]),
        keyframe_registered=np.array([True, True, False]), model="sfm", points3d=RNG.normal(size=(N, 3)),
        rgb=RNG.integers(0, 255, (N, 3)).astype(np.uint8), point_error=RNG.uniform(0, 2, N),
        reprojection_error=0.7, image_size=(1080, 1920), report={"keyframes": 3, "note": "ok"})


def _geometry(rgb: bool) -> WallReconstruction:
    return WallReconstruction(
        keypoints=RNG.normal(size=(T, NUM_JOINTS, 3)).astype(np.float32),
        confidence=RNG.uniform(0, 1, (T, NUM_JOINTS)).astype(np.float32), contacts=RNG.uniform(size=(T, 4)) > 0.5,
        cameras=CameraTrack.shared_intrinsics(np.diag([800.0, 800.0, 1.0]), np.repeat(np.eye(3)[None], T, 0),
                                              RNG.normal(size=(T, 3)), np.ones(T, bool)),
        wall_points=WallPoints(RNG.normal(size=(N, 3)).astype(np.float32),
                               RNG.integers(0, 255, (N, 3)).astype(np.uint8) if rgb else None,
                               RNG.uniform(0, 2, N).astype(np.float32) if rgb else None),
        wall_normal=np.array([0.0, 0.0, 1.0]), wall_point=np.zeros(3), camera_model="rotation-only",
        report={"plane_source": "contacts", "scale": {"source": "body prior"}})


def _same(a, b) -> None:
    """Dataclasses equal field by field (arrays exactly, NaN = NaN; nested dataclasses recursively)."""
    import dataclasses

    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(x):
            _same(x, y)
        elif isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray) and x.dtype == y.dtype, f.name
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        else:
            assert x == y and type(x) is type(y), f.name


@pytest.mark.parametrize("kind, value", [
    ("pose", _pose(with_3d=False)), ("pose", _pose(with_3d=True)),
    ("keyframes", Keyframes(np.array([0, 5]), RNG.integers(0, 255, (2, 5, 13, 3)).astype(np.uint8),
                            RNG.uniform(size=(2, 5, 13)) > 0.5, 2.0)),
    ("keyframes", Keyframes(np.array([0, 5]), np.zeros((2, 5, 13, 3), np.uint8), None, 1.0)),
    ("cameras", _cameras()), ("lift", _geometry(rgb=True)), ("lift", _geometry(rgb=False)),
], ids=["pose", "pose-3d", "keyframes-masks", "keyframes", "cameras", "lift", "lift-no-colour"])
def test_every_artifact_kind_round_trips(tmp_path, kind, value):
    back = KINDS[kind].load(KINDS[kind].save(tmp_path / f"{kind}.npz", value))
    assert type(back) is type(value)
    _same(value, back)


def test_masks_round_trip_whatever_their_width(tmp_path):
    for width in (1, 8, 13):
        masks = RNG.uniform(size=(3, 4, width)) > 0.5
        back = KINDS["masks"].load(KINDS["masks"].save(tmp_path / f"m{width}.npz", masks))
        assert back.dtype == bool and np.array_equal(back, masks)


def test_stage_cache_saves_and_loads_through_the_artifact_kinds(tmp_path):
    cache = StageCache(tmp_path, "ab" * 32)
    assert cache.load("cameras", "k1") is None
    cams = _cameras()
    cache.save("cameras", "k1", cams)
    assert cache.has("cameras", "k1") and not list(cache.dir.glob("*.tmp*"))
    _same(cams, cache.load("cameras", "k1"))
    off = StageCache(None, "ab" * 32)
    off.save("cameras", "k1", cams)                      # no cache: nothing written, nothing read
    assert off.load("cameras", "k1") is None
