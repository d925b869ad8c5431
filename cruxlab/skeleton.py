"""The skeleton sequence and its interchange file (DESIGN.md, "Skeleton interchange file").

A `.npz` with
    keypoints    float32 (T, J, 3)  metres, wall frame (y up, x along the wall, z out of the wall), NaN = missing
    joint_names  str (J,)           matched by name; any subset/order containing the COCO-17 body works
    fps          float              frames per second, > 0
    confidence   float32 (T, J)     optional, 0..1
    wall_normal  float (3,)         optional, unit normal of the wall plane pointing away from the wall
    wall_point   float (3,)         optional, a point on the wall plane
Loading validates everything and raises `InputError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cruxlab.errors import InputError
from cruxlab.joints import COCO17, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from cruxlab.limits import MAX_ABS_COORD_M, MIN_DURATION_S, check_fps, max_import_frames
from cruxlab.npz import Member, read_npz

REQUIRED_KEYS = ("keypoints", "joint_names", "fps")
OPTIONAL_KEYS = ("confidence", "wall_normal", "wall_point")


@dataclass(frozen=True)
class Skeleton:
    """A climber's 3D skeleton over time in the canonical joint order.

    keypoints:   (T, 21, 3) float32, metres, wall frame, NaN = missing joint.
    fps:         frames per second (> 0).
    confidence:  (T, 21) float32 in [0, 1]; 1 where the source gave none, 0 where the joint is missing.
    wall_normal: (3,) unit normal of the wall plane (pointing out of the wall, toward the viewer), or None
                 meaning the vertical wall z = 0 with normal +z.
    wall_point:  (3,) a point on the wall plane, or None meaning the origin.
    """

    keypoints: np.ndarray
    fps: float
    confidence: np.ndarray = field(default=None)  # type: ignore[assignment]
    wall_normal: np.ndarray | None = None
    wall_point: np.ndarray | None = None

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        object.__setattr__(self, "keypoints", kp)
        if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
            raise InputError(f"keypoints must have shape (T, {NUM_JOINTS}, 3), got {kp.shape}")
        conf = self.confidence
        if conf is None:
            conf = np.where(np.isnan(kp).any(axis=2), 0.0, 1.0)
        conf = np.asarray(conf, dtype=np.float32)
        if conf.shape != kp.shape[:2]:
            raise InputError(f"confidence must have shape {kp.shape[:2]}, got {conf.shape}")
        object.__setattr__(self, "confidence", conf)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"fps must be a positive number, got {self.fps!r}")
        object.__setattr__(self, "fps", float(self.fps))
        for name in ("wall_normal", "wall_point"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=np.float64).reshape(-1)
                if v.shape != (3,) or not np.isfinite(v).all():
                    raise InputError(f"{name} must be 3 finite numbers, got {getattr(self, name)!r}")
                if name == "wall_normal":
                    norm = np.linalg.norm(v)
                    if norm < 1e-9:
                        raise InputError("wall_normal must not be the zero vector")
                    v = v / norm
                object.__setattr__(self, name, v)

    @property
    def n_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def normal(self) -> np.ndarray:
        """Wall normal, defaulting to +z (vertical wall)."""
        return np.array([0.0, 0.0, 1.0]) if self.wall_normal is None else self.wall_normal

    @property
    def point(self) -> np.ndarray:
        """A point on the wall, defaulting to the origin."""
        return np.zeros(3) if self.wall_point is None else self.wall_point

    def save(self, path: str | Path) -> Path:
        """Write the interchange file (canonical joint order)."""
        return save_npz(self, path)


def save_npz(skeleton: Skeleton, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, np.ndarray] = {
        "keypoints": skeleton.keypoints.astype(np.float32),
        "joint_names": np.array(JOINT_NAMES),
        "fps": np.float64(skeleton.fps),
        "confidence": skeleton.confidence.astype(np.float32),
    }
    if skeleton.wall_normal is not None:
        payload["wall_normal"] = skeleton.wall_normal
    if skeleton.wall_point is not None:
        payload["wall_point"] = skeleton.wall_point
    with open(path, "wb") as fh:  # np.savez would append ".npz" to names without it
        np.savez_compressed(fh, **payload)
    return path


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_order(names: np.ndarray, n_joints: int, fail) -> np.ndarray:
    """Canonical indices (J,) of a file's `joint_names`; `fail(problem)` builds the error for bad names
    (wrong count, unknown, duplicated, COCO-17 body incomplete)."""
    if names.ndim != 1 or names.shape[0] != n_joints:
        raise fail(f"joint_names must have one name per joint (J={n_joints}), got shape {names.shape}")
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in JOINT_INDEX]
    if unknown:
        raise fail(f"unknown joint name(s) {unknown}; known names are {list(JOINT_NAMES)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise fail(f"duplicate joint name(s) {dup}")
    absent = [n for n in COCO17 if n not in names]
    if absent:
        raise fail(f"lacks the COCO-17 body joint(s) {absent}")
    return np.array([JOINT_INDEX[n] for n in names])


def plane_vectors(arrays: dict[str, np.ndarray], fail) -> dict[str, np.ndarray]:
    """Optional `wall_normal` / `wall_point` of a file as 3-vectors (validated, not normalised)."""
    extras = {}
    for key in ("wall_normal", "wall_point"):
        if key in arrays:
            v = np.asarray(arrays[key], dtype=np.float64).reshape(-1)
            if v.shape != (3,) or not np.isfinite(v).all():
                raise fail(f"{key} must be 3 finite numbers, got shape {arrays[key].shape}")
            extras[key] = v
    return extras


def _check_skeleton_headers(members: dict[str, Member], fail) -> None:
    """Shapes and types of a skeleton file from its headers, before any array is decompressed."""
    kp = members["keypoints"]
    if kp.dtype.kind not in "iuf":
        raise fail(f"keypoints must be real numbers (float32 metres), got dtype {kp.dtype}")
    if len(kp.shape) != 3 or kp.shape[2] != 3:
        raise fail(f"keypoints must have shape (T, J, 3), got {kp.shape}")
    T, J = kp.shape[:2]
    if T == 0:
        raise fail("has zero frames; record at least one frame")
    if J > NUM_JOINTS:
        raise fail(f"keypoints has {J} joints; cruxlab knows {NUM_JOINTS} ({', '.join(JOINT_NAMES)})")
    limit = max_import_frames()
    if T > limit:
        raise fail(f"holds {T:,} frames, more than the import limit of {limit:,} (CRUXLAB_MAX_FRAMES); split the "
                   "session into attempts or raise the limit")
    names = members["joint_names"]
    if names.dtype.kind not in "US" or len(names.shape) != 1:
        raise fail(f"joint_names must be a 1-D array of strings, got dtype {names.dtype} shape {names.shape}")
    for key in ("fps", "confidence", "wall_normal", "wall_point"):
        m = members.get(key)
        if m is not None and m.dtype.kind not in "iuf":
            raise fail(f"{key} must be real numbers, got dtype {m.dtype}")
    if "confidence" in members and members["confidence"].shape != (T, J):
        raise fail(f"confidence must have shape {(T, J)} (T, J), got {members['confidence'].shape}")


def load_npz(path: str | Path) -> Skeleton:
    """Read and validate a skeleton interchange file; raise `InputError` naming the file and the problem.
    Sizes are checked from the headers before loading (limits in `cruxlab.limits`), values after: fps within
    MIN_FPS..MAX_FPS, coordinates within MAX_ABS_COORD_M metres, confidence within 0..1, at least
    MIN_DURATION_S seconds."""
    path = Path(path)

    def fail(problem: str) -> InputError:
        return InputError(f"{path}: {problem}")

    arrays = read_npz(path, REQUIRED_KEYS, "a skeleton file", optional=OPTIONAL_KEYS, check=_check_skeleton_headers)

    kp = arrays["keypoints"]
    order = canonical_order(arrays["joint_names"], kp.shape[1], fail)
    fps_raw = np.asarray(arrays["fps"]).reshape(-1)
    if fps_raw.size != 1:
        raise fail(f"fps must be one number, got {fps_raw.size} values")
    fps = check_fps(fps_raw[0], f"{path}: fps")
    with np.errstate(over="ignore", invalid="ignore"):  # too large for float32 becomes inf, refused just below
        kp = kp.astype(np.float32)
    finite = np.isfinite(kp)
    if np.isinf(kp).any():
        raise fail("keypoints contain infinite values (or numbers too large for float32); use NaN for missing "
                   "joints")
    if not finite.any():
        raise fail("every joint in every frame is NaN; there is nothing to analyse")
    biggest = float(np.abs(kp[finite]).max())
    if biggest > MAX_ABS_COORD_M:
        raise fail(f"keypoints reach {biggest:.3g} m from the origin (limit {MAX_ABS_COORD_M:g} m); the file must "
                   "hold metres in the wall frame - were they saved in millimetres or pixels?")
    duration = kp.shape[0] / fps
    if duration < MIN_DURATION_S:
        raise fail(f"is too short: {kp.shape[0]} frame(s) at {fps:g} fps = {duration:.2f} s; cruxlab stores "
                   f"attempts of at least {MIN_DURATION_S:g} s")

    keypoints = np.full((kp.shape[0], NUM_JOINTS, 3), np.nan, dtype=np.float32)
    keypoints[:, order] = kp
    confidence = None
    if "confidence" in arrays:
        with np.errstate(over="ignore", invalid="ignore"):
            c = arrays["confidence"].astype(np.float32)
        given = c[~np.isnan(c)]
        if given.size and not ((given >= 0) & (given <= 1)).all():
            raise fail(f"confidence must lie in 0..1 (NaN = missing), got values from {given.min():.3g} to "
                       f"{given.max():.3g}")
        confidence = np.zeros((kp.shape[0], NUM_JOINTS), dtype=np.float32)
        confidence[:, order] = np.nan_to_num(c, nan=0.0)
        confidence[np.isnan(keypoints).any(axis=2)] = 0.0
    extras = plane_vectors(arrays, fail)
    if "wall_point" in extras and np.abs(extras["wall_point"]).max() > MAX_ABS_COORD_M:
        raise fail(f"wall_point lies more than {MAX_ABS_COORD_M:g} m from the origin; give it in metres")
    try:
        return Skeleton(keypoints=keypoints, fps=fps, confidence=confidence, **extras)
    except InputError as exc:
        raise fail(str(exc)) from None
