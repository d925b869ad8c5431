"""Helpers the heavy backends share: frame checks, keypoint-set choice, strict torch weight loading, threads.

torch is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np

from cruxlab.errors import InputError
from reconstruction.keypoints import KEYPOINT_SETS

log = logging.getLogger(__name__)


def require_modules(backend: str, modules: tuple[str, ...], fix: str) -> None:
    """Import each module (torch first, usually); BackendUnavailableError naming the missing one and the fix."""
    import importlib

    from cruxlab.errors import BackendUnavailableError

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise BackendUnavailableError(f"{backend} backend: {exc.name or name} is not installed; {fix}") from exc


def as_frames(frames: np.ndarray, backend: str) -> np.ndarray:
    """Check a pose batch: (B, H, W, 3) uint8 RGB, else InputError."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError(f"{backend} backend: frames must be (B, H, W, 3) uint8 RGB, got {frames.shape} "
                         f"{frames.dtype}")
    return frames


def keypoint_set_for(k: int, requested: str | None = None) -> str:
    """The keypoint set of a K-joint model output (coco17, halpe26, coco_wholebody133) or the requested one."""
    if requested:
        if requested not in KEYPOINT_SETS:
            raise InputError(f"keypoint_set {requested!r} is not one of {', '.join(KEYPOINT_SETS)}")
        if len(KEYPOINT_SETS[requested]) != k:
            raise InputError(f"keypoint_set {requested} has {len(KEYPOINT_SETS[requested])} joints but the "
                             f"pose model outputs {k}; drop the option or export the matching model")
        return requested
    by_size = {len(v): name for name, v in KEYPOINT_SETS.items() if name != "mediapipe33"}
    if k not in by_size:
        raise InputError(f"the pose model outputs {k} keypoints; supported: "
                         f"{', '.join(f'{n} ({s})' for s, n in by_size.items())}")
    return by_size[k]


def read_torch_file(path: Path, what: str, backend: str, full_unpickle: bool = False) -> object:
    """torch.load a checkpoint on the CPU; truncated/foreign files are an InputError naming the file.

    Weights-only first; with `full_unpickle`, a file whose metadata needs more (OpenMMLab checkpoints carry
    config/message-hub objects) is then unpickled in full - only ever a file the user configured."""
    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if not full_unpickle or "weights" not in str(exc).lower():
                raise
            log.info("%s: %s %s holds non-tensor metadata; loading it in full", backend, what, path)
            return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # zip / pickle errors of a truncated or foreign file
        raise InputError(f"{backend} backend: {what} {path} could not be read ({type(exc).__name__}: "
                         f"{str(exc).strip()[:200]}); is the download complete? Re-copy the file") from exc


def load_state_strict(model, state: dict, backend: str, fix: str) -> None:
    """model.load_state_dict that reports every mismatch: shape mismatches, missing and unexpected keys, as an
    InputError starting with `fix` (what the user should do)."""
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:   # size mismatches
        raise InputError(f"{backend} backend: {fix}. {str(exc).strip()[:600]}") from exc
    if result.missing_keys or result.unexpected_keys:
        def show(keys: list[str]) -> str:
            return f"{len(keys)} ({', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''})"
        raise InputError(f"{backend} backend: {fix}. Missing keys: {show(result.missing_keys)}; "
                         f"unexpected keys: {show(result.unexpected_keys)}")


def set_torch_threads(threads: int) -> int | None:
    """Set torch's intra-op threads when `threads` > 0; returns the previous count to restore (None: unchanged)."""
    if threads <= 0:
        return None
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before


def restore_torch_threads(before: int | None) -> None:
    if before is not None:
        import torch

        torch.set_num_threads(before)
