"""Model backends behind one interface (base.py), each in its own lazily imported module.

    backend = get_pose_backend("mediapipe")            # the offline default
    masks = get_mask_backend("sam2", checkpoint=...)   # weights the user supplies

Each backend is a typed builder function (below) that imports its adapter only when called, so listing or
choosing backends loads no model package. A builder also receives what the analysis knows about the attempt
(`AttemptContext`: frame rate, whether its free person masks are wanted) and passes on what its backend uses.
Options are passed to the backend class; weight paths and devices come from CLI flags, environment
variables or `cruxlab.toml` (see reconstruction/backends/config.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cruxlab.errors import InputError
from reconstruction.backends.base import MaskBackend, PoseBackend, PoseBatch


@dataclass(frozen=True)
class AttemptContext:
    """What an analysis knows about the attempt a backend will see: fps (frames per second of the attempt,
    trackers need it); masks_wanted (a pose backend that makes person masks for free should make them)."""

    fps: float
    masks_wanted: bool = False


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: `build(context, options)` makes it; `module` is its adapter (imported by build
    only; its source is hashed into the stage-cache keys, so an upgraded adapter never reuses old files)."""

    name: str
    module: str
    build: Callable[..., PoseBackend | MaskBackend]


def _mediapipe_pose(context: AttemptContext | None, options: dict) -> PoseBackend:
    from reconstruction.backends.mediapipe_backend import MediaPipePose

    given = {} if context is None else {"fps": context.fps, "segmentation": context.masks_wanted}
    return MediaPipePose(**{**given, **options})


def _openmmlab_pose(context: AttemptContext | None, options: dict) -> PoseBackend:
    from reconstruction.backends.openmmlab import OpenMMLabPose

    return OpenMMLabPose(**options)


def _onnx_pose(context: AttemptContext | None, options: dict) -> PoseBackend:
    from reconstruction.backends.onnx_rtmpose import OnnxRTMPose

    return OnnxRTMPose(**options)


def _mediapipe_masks(context: AttemptContext | None, options: dict) -> MaskBackend:
    from reconstruction.backends.mediapipe_backend import MediaPipeMasks

    return MediaPipeMasks(**options)


def _sam2_masks(context: AttemptContext | None, options: dict) -> MaskBackend:
    from reconstruction.backends.sam2_backend import Sam2Masks

    return Sam2Masks(**options)


POSE_BACKENDS: dict[str, BackendEntry] = {e.name: e for e in (
    BackendEntry("mediapipe", "reconstruction.backends.mediapipe_backend", _mediapipe_pose),
    BackendEntry("openmmlab", "reconstruction.backends.openmmlab", _openmmlab_pose),
    BackendEntry("onnx", "reconstruction.backends.onnx_rtmpose", _onnx_pose),
)}
MASK_BACKENDS: dict[str, BackendEntry] = {e.name: e for e in (
    BackendEntry("mediapipe", "reconstruction.backends.mediapipe_backend", _mediapipe_masks),
    BackendEntry("sam2", "reconstruction.backends.sam2_backend", _sam2_masks),
)}


def backend_entry(kind: str, name: str) -> BackendEntry:
    """The registered `kind` ('pose' | 'mask') backend `name`; InputError listing the choices otherwise."""
    registry = POSE_BACKENDS if kind == "pose" else MASK_BACKENDS
    if name not in registry:
        raise InputError(f"unknown {kind} backend {name!r}; choose one of {', '.join(registry)}")
    return registry[name]


def get_pose_backend(name: str = "mediapipe", *, context: AttemptContext | None = None, **options) -> PoseBackend:
    """Instantiate a pose backend by name (imports its packages only now)."""
    return backend_entry("pose", name).build(context, options)


def get_mask_backend(name: str = "mediapipe", *, context: AttemptContext | None = None, **options) -> MaskBackend:
    """Instantiate a mask backend by name (imports its packages only now)."""
    return backend_entry("mask", name).build(context, options)


__all__ = ["MASK_BACKENDS", "POSE_BACKENDS", "AttemptContext", "BackendEntry", "MaskBackend", "PoseBackend",
           "PoseBatch", "backend_entry", "get_mask_backend", "get_pose_backend"]
