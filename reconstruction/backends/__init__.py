"""Model backends behind one interface (base.py), each in its own lazily imported module.

    backend = get_pose_backend("mediapipe")            # the offline default
    masks = get_mask_backend("sam2", checkpoint=...)   # weights the user supplies

Options are passed to the backend class; weight paths and devices come from CLI flags, environment
variables or `cruxlab.toml` (see reconstruction/backends/config.py).
"""

from __future__ import annotations

import importlib

from cruxlab.errors import InputError
from reconstruction.backends.base import MaskBackend, PoseBackend, PoseBatch

POSE_BACKENDS: dict[str, str] = {
    "mediapipe": "reconstruction.backends.mediapipe_backend:MediaPipePose",
    "openmmlab": "reconstruction.backends.openmmlab:OpenMMLabPose",
    "onnx": "reconstruction.backends.onnx_rtmpose:OnnxRTMPose",
}
MASK_BACKENDS: dict[str, str] = {
    "mediapipe": "reconstruction.backends.mediapipe_backend:MediaPipeMasks",
    "sam2": "reconstruction.backends.sam2_backend:Sam2Masks",
}


def _load(registry: dict[str, str], kind: str, name: str):
    if name not in registry:
        raise InputError(f"unknown {kind} backend {name!r}; choose one of {', '.join(registry)}")
    module, cls = registry[name].split(":")
    return getattr(importlib.import_module(module), cls)


def get_pose_backend(name: str = "mediapipe", **options) -> PoseBackend:
    """Instantiate a pose backend by name (imports its packages only now)."""
    return _load(POSE_BACKENDS, "pose", name)(**options)


def get_mask_backend(name: str = "mediapipe", **options) -> MaskBackend:
    """Instantiate a mask backend by name (imports its packages only now)."""
    return _load(MASK_BACKENDS, "mask", name)(**options)


__all__ = ["MASK_BACKENDS", "POSE_BACKENDS", "MaskBackend", "PoseBackend", "PoseBatch", "get_mask_backend",
           "get_pose_backend"]
