"""Keypoint sets of the pose backends, as data, and their mapping onto the canonical 21 joints by name.

Sets: MediaPipe-33 (BlazePose), COCO-17, Halpe-26, COCO-WholeBody-133 (also RTMW and RTMPose3D output).
A canonical joint a set lacks comes out NaN with confidence 0.

    kp21, conf21 = to_canonical(kp, conf, "mediapipe33")
"""

from __future__ import annotations

import numpy as np

from cruxlab.joints import JOINT_INDEX, NUM_JOINTS

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

HALPE26_NAMES: tuple[str, ...] = COCO17_NAMES + (
    "head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
    "left_heel", "right_heel",
)


def _hand(side: str) -> tuple[str, ...]:
    fingers = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
    return (f"{side}_hand_root",) + tuple(f"{side}_{f}{i}" for f in fingers for i in range(1, 5))


# Order as in mmpose configs/_base_/datasets/coco_wholebody.py.
COCO_WHOLEBODY133_NAMES: tuple[str, ...] = (
    COCO17_NAMES
    + ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
    + tuple(f"face-{i}" for i in range(68))
    + _hand("left")
    + _hand("right")
)

#: Names in a source set that mean a canonical joint under another name.
ALIASES: dict[str, str] = {
    "left_foot_index": "left_big_toe",    # MediaPipe's foot index landmark is the tip of the big toe
    "right_foot_index": "right_big_toe",
}

KEYPOINT_SETS: dict[str, tuple[str, ...]] = {
    "coco17": COCO17_NAMES,
    "mediapipe33": MEDIAPIPE33_NAMES,
    "halpe26": HALPE26_NAMES,
    "coco_wholebody133": COCO_WHOLEBODY133_NAMES,
}


def canonical_index(names: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(source indices, canonical indices) of the joints a keypoint set shares with the canonical 21."""
    src, dst = [], []
    for i, name in enumerate(names):
        canon = ALIASES.get(name, name)
        if canon in JOINT_INDEX:
            src.append(i)
            dst.append(JOINT_INDEX[canon])
    return np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)


def to_canonical(
    keypoints: np.ndarray, confidence: np.ndarray | None, keypoint_set: str | tuple[str, ...] | list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Map (..., K, D) keypoints and (..., K) confidences of a named set onto (..., 21, D) and (..., 21).

    Missing canonical joints are NaN with confidence 0; so are joints whose source value is NaN.
    """
    names = KEYPOINT_SETS[keypoint_set] if isinstance(keypoint_set, str) else tuple(keypoint_set)
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.shape[-2] != len(names):
        raise ValueError(f"keypoints have {keypoints.shape[-2]} joints but the set has {len(names)}")
    src, dst = canonical_index(names)
    lead = keypoints.shape[:-2]
    out = np.full(lead + (NUM_JOINTS, keypoints.shape[-1]), np.nan, dtype=np.float32)
    out[..., dst, :] = keypoints[..., src, :]
    conf = np.zeros(lead + (NUM_JOINTS,), dtype=np.float32)
    if confidence is None:
        conf[..., dst] = 1.0
    else:
        conf[..., dst] = np.asarray(confidence, dtype=np.float32)[..., src]
    missing = np.isnan(out).any(axis=-1)
    conf[missing] = 0.0
    return out, conf
