"""The climber's body as data: default height, segment lengths as fractions of standing height, the head's
keypoints around the shoulders, and the two kinematic helpers the synthetic climbers are built with.

One copy for the lifting prior (`reconstruction.lift.template_pose`, `bone_prior`), the camera-test climber
(`reconstruction.synthetic`) and the labelled-move climber (`moves.synthetic`).
"""

from __future__ import annotations

import numpy as np

#: Standing height assumed when none is given (metres): the metric-scale prior of `cruxlab analyze`.
DEFAULT_HEIGHT_M = 1.70
#: Standing heights a climber can have (metres); a value outside is a typo (centimetres, feet ...).
HEIGHT_RANGE_M = (0.8, 2.5)

#: Segment lengths as fractions of standing height (after Drillis & Contini / Winter's anthropometry, with
#: shoulder and hip widths between the keypoints pose detectors place, not the bony landmarks).
SEGMENT_RATIOS: dict[str, float] = {
    "shoulder_width": 0.200, "hip_width": 0.120, "torso": 0.288, "upper_arm": 0.186, "forearm": 0.146,
    "thigh": 0.245, "shank": 0.246, "foot": 0.115, "heel": 0.035,
}

#: Head keypoints relative to the shoulder centre as fractions of height: (toward the climber's right, up,
#: forward = the way the face points).
HEAD_TEMPLATE: dict[str, tuple[float, float, float]] = {
    "nose": (0.0, 0.092, 0.06), "left_eye": (-0.02, 0.107, 0.05), "right_eye": (0.02, 0.107, 0.05),
    "left_ear": (-0.045, 0.097, 0.0), "right_ear": (0.045, 0.097, 0.0),
}


def check_height(height_m: float, what: str = "--height-m") -> float:
    """`height_m` as a float, or InputError naming `what` when it is not a climber's height in metres."""
    from cruxlab.errors import InputError

    lo, hi = HEIGHT_RANGE_M
    if not (np.isfinite(height_m) and lo <= height_m <= hi):
        raise InputError(f"{what} {height_m} is not a climber's height in metres ({lo:g}..{hi:g})")
    return float(height_m)


def segment_lengths(height_m: float = DEFAULT_HEIGHT_M) -> dict[str, float]:
    """SEGMENT_RATIOS in metres for a climber `height_m` tall."""
    return {k: v * height_m for k, v in SEGMENT_RATIOS.items()}


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile 10 t^3 - 15 t^4 + 6 t^5 of normalised time (clipped to [0, 1]): 0 -> 1 with zero
    velocity and acceleration at both ends."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau ** 3 * (10 - 15 * tau + 6 * tau ** 2)


def two_bone_ik(root: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Middle joint (elbow/knee) and reached end, (T, 3) each, of a two-bone chain of lengths l1, l2 (metres)
    from `root` toward `target` (T, 3), bent toward the `pole` direction (T, 3). A target out of reach is
    clamped to the stretched limb (0.1 mm short), one too close to the folded limb."""
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-9)
    dist_c = np.clip(dist, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    a = (l1 ** 2 - l2 ** 2 + dist_c ** 2) / (2 * dist_c)
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))
    v = pole - np.sum(pole * u, axis=-1, keepdims=True) * u
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    return root + a * u + h * v, root + dist_c * u


_LIMB_BONES = (("left_shoulder", "left_elbow", "upper_arm"), ("right_shoulder", "right_elbow", "upper_arm"),
               ("left_elbow", "left_wrist", "forearm"), ("right_elbow", "right_wrist", "forearm"),
               ("left_hip", "left_knee", "thigh"), ("right_hip", "right_knee", "thigh"),
               ("left_knee", "left_ankle", "shank"), ("right_knee", "right_ankle", "shank"))


def body_scale(keypoints: np.ndarray) -> float:
    """Body size of a (T, 21, 3) metric skeleton relative to a DEFAULT_HEIGHT_M climber: the median over frames
    of its arm and leg bone lengths against SEGMENT_RATIOS (1.0 when nothing is measurable). Thresholds in
    body units (written for a DEFAULT_HEIGHT_M climber) are multiplied by it."""
    from cruxlab.joints import JOINT_INDEX

    step = max(1, len(keypoints) // 5000)
    kp = np.asarray(keypoints[::step], dtype=np.float64)
    a = np.array([JOINT_INDEX[b[0]] for b in _LIMB_BONES])
    b = np.array([JOINT_INDEX[b[1]] for b in _LIMB_BONES])
    ref = sum(SEGMENT_RATIOS[b[2]] for b in _LIMB_BONES) * DEFAULT_HEIGHT_M
    total = np.linalg.norm(kp[:, a] - kp[:, b], axis=-1).sum(axis=1)     # NaN where a bone is missing
    with np.errstate(all="ignore"):
        ratio = np.nanmedian(total / ref) if np.isfinite(total).any() else np.nan
    return float(ratio) if np.isfinite(ratio) and ratio > 0.3 else 1.0
