"""The canonical skeleton: 21 joints, COCO-17 body + heels and big toes (DESIGN.md, "Joints").

Joint metadata is data: names, left/right swap partners, which joints are end-effectors of which limb,
and the bones used for drawing. Every backend maps its own keypoint set onto these names; a joint a
backend lacks is NaN.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_big_toe", "right_big_toe",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}
COCO17: tuple[str, ...] = JOINT_NAMES[:17]


def _j(name: str) -> int:
    return JOINT_INDEX[name]


NOSE = _j("nose")
L_SHOULDER, R_SHOULDER = _j("left_shoulder"), _j("right_shoulder")
L_ELBOW, R_ELBOW = _j("left_elbow"), _j("right_elbow")
L_WRIST, R_WRIST = _j("left_wrist"), _j("right_wrist")
L_HIP, R_HIP = _j("left_hip"), _j("right_hip")
L_KNEE, R_KNEE = _j("left_knee"), _j("right_knee")
L_ANKLE, R_ANKLE = _j("left_ankle"), _j("right_ankle")
L_HEEL, R_HEEL = _j("left_heel"), _j("right_heel")
L_TOE, R_TOE = _j("left_big_toe"), _j("right_big_toe")

#: Mirror partner of every joint (index -> index), for left/right flips and augmentation.
FLIP_INDEX: np.ndarray = np.array(
    [JOINT_INDEX[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")] for n in JOINT_NAMES],
    dtype=np.int64,
)

#: The four limbs and body, as stored in `moves.limb`.
LIMBS: tuple[str, ...] = ("left_hand", "right_hand", "left_foot", "right_foot", "body")

#: Joint that represents each limb's end-effector (the point that touches a hold).
LIMB_EFFECTOR: dict[str, int] = {
    "left_hand": L_WRIST, "right_hand": R_WRIST, "left_foot": L_ANKLE, "right_foot": R_ANKLE,
}

#: Bones for drawing (pairs of joint indices).
BONES: tuple[tuple[int, int], ...] = tuple(
    (JOINT_INDEX[a], JOINT_INDEX[b]) for a, b in (
        ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
        ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("left_ankle", "left_heel"), ("left_ankle", "left_big_toe"), ("left_heel", "left_big_toe"),
        ("right_ankle", "right_heel"), ("right_ankle", "right_big_toe"), ("right_heel", "right_big_toe"),
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
    )
)

#: Standing height (metres) that body-unit thresholds are written for: a threshold of 0.10 m means 0.10 m for
#: a 1.70 m climber and scales with the climber's size (`body_scale`).
REFERENCE_HEIGHT_M = 1.70

#: Segment lengths as fractions of standing height (after Drillis & Contini / Winter's anthropometry, with
#: shoulder and hip widths between the keypoints pose detectors place, not the bony landmarks).
BODY_RATIOS: dict[str, float] = {
    "shoulder_width": 0.200, "hip_width": 0.120, "torso": 0.288, "upper_arm": 0.186, "forearm": 0.146,
    "thigh": 0.245, "shank": 0.246, "foot": 0.115, "heel": 0.035,
}

_LIMB_BONES = ((L_SHOULDER, L_ELBOW, "upper_arm"), (R_SHOULDER, R_ELBOW, "upper_arm"),
               (L_ELBOW, L_WRIST, "forearm"), (R_ELBOW, R_WRIST, "forearm"),
               (L_HIP, L_KNEE, "thigh"), (R_HIP, R_KNEE, "thigh"), (L_KNEE, L_ANKLE, "shank"),
               (R_KNEE, R_ANKLE, "shank"))


def body_scale(keypoints: np.ndarray) -> float:
    """Body size of a (T, 21, 3) metric skeleton relative to a REFERENCE_HEIGHT_M climber: the median over
    frames of its arm and leg bone lengths against the BODY_RATIOS template (1.0 when nothing is measurable)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    step = max(1, len(kp) // 5000)
    a = np.array([b[0] for b in _LIMB_BONES])
    b = np.array([b[1] for b in _LIMB_BONES])
    ref = np.array([BODY_RATIOS[b[2]] * REFERENCE_HEIGHT_M for b in _LIMB_BONES])
    length = np.linalg.norm(kp[::step, a] - kp[::step, b], axis=-1)          # (T', 8)
    with np.errstate(all="ignore"):
        ratio = np.nanmedian(length.sum(axis=1) / ref.sum()) if np.isfinite(length).all(axis=1).any() else np.nan
    return float(ratio) if np.isfinite(ratio) and ratio > 0.3 else 1.0
