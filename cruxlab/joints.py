"""The canonical skeleton: 21 joints, COCO-17 body + heels and big toes (DESIGN.md, "Joints").

Joint metadata is data: names, which joints are end-effectors of which limb, and the bones used for
drawing. Every backend maps its own keypoint set onto these names; a joint a backend lacks is NaN.
"""

from __future__ import annotations

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

#: The four limbs and body, as stored in `moves.limb`.
LIMBS: tuple[str, ...] = ("left_hand", "right_hand", "left_foot", "right_foot", "body")
#: The four limbs that touch holds, in the order of every (T, 4) per-limb array (contacts, effectors).
EFFECTOR_LIMBS: tuple[str, ...] = LIMBS[:4]
HAND_LIMBS: tuple[str, ...] = LIMBS[:2]
FOOT_LIMBS: tuple[str, ...] = LIMBS[2:4]
#: How pages and pictures name a limb.
LIMB_TITLES: dict[str, str] = {"left_hand": "Left hand", "right_hand": "Right hand", "left_foot": "Left foot",
                               "right_foot": "Right foot", "body": "Body"}

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
