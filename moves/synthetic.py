"""Synthetic climbing attempts with known moves, for tests, tuning and the accuracy report.

A scripted climber moves on a planar wall (vertical to 45° overhang): a random programme of actions -
reach, cross-over, match, foot-move, flag (side or back flag, held while a hand moves), rock-over (foot on a
high hold, knee deeply bent, then the pelvis rises over it), dyno (crouch, ballistic flight, catch) and
unlabelled stand-ups and rests - writes trajectories for the hands, toes and pelvis. A body with
anthropometric segment lengths (`cruxlab.body`: Drillis & Contini fractions of the climber's height) is
built around them by two-bone IK, in wall coordinates, then rotated to the wall's angle. Ground-truth intervals come from the
script (lift-off to arrival, take-off to catch, the pelvis rise) and, for flags, from evaluating DESIGN.md's
definition on the clean skeleton; every scripted move is checked against its definition in the world frame
and a programme whose moves fail it is redrawn, so the labels are "by the definitions".

Noise profiles (`NOISE`): clean; mild (1 cm jitter, short dropouts, 2 % scale, 1° wall normal); hard (3 cm
jitter + 1.5 cm drift, half-second wrist dropouts, 2 % random NaN, 5 % scale, 3° wall normal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cruxlab.body import SEGMENT_RATIOS, min_jerk, two_bone_ik
from cruxlab.joints import (
    EFFECTOR_LIMBS, FOOT_LIMBS, HAND_LIMBS, JOINT_INDEX, L_ANKLE, L_ELBOW, L_HEEL, L_HIP, L_KNEE, L_SHOULDER, L_TOE,
    L_WRIST, NOSE, NUM_JOINTS, R_ANKLE, R_ELBOW, R_HEEL, R_HIP, R_KNEE, R_SHOULDER, R_TOE, R_WRIST,
)
from cruxlab.labels import Move
from cruxlab.skeleton import Skeleton

G = 9.81
FLOOR_CLEARANCE = 0.35  # m: the lowest foot of a synthetic attempt is this far above the floor (y = 0)
RULE_LABELS = frozenset({"reach", "cross-over", "match", "foot-move", "flag", "rock-over", "dyno"})
SIDE = {"left_hand": -1.0, "right_hand": 1.0, "left_foot": -1.0, "right_foot": 1.0}  # own side along x


@dataclass(frozen=True)
class NoiseProfile:
    """How a reconstruction degrades the clean skeleton (metres, seconds)."""

    name: str
    jitter_m: float = 0.0          # iid Gaussian per coordinate and frame
    drift_m: float = 0.0           # low-frequency (~1 Hz) correlated error per joint
    dropouts_per_10s: float = 0.0  # wrist/ankle NaN runs
    dropout_s: tuple[float, float] = (0.2, 0.5)
    random_nan: float = 0.0        # fraction of joints NaN in random frames
    scale_error: float = 0.0       # global scale error drawn from +-this
    normal_error_deg: float = 0.0  # error of the reported wall normal


NOISE: dict[str, NoiseProfile] = {
    "clean": NoiseProfile("clean"),
    "mild": NoiseProfile("mild", jitter_m=0.01, drift_m=0.005, dropouts_per_10s=0.5, dropout_s=(0.1, 0.3),
                         scale_error=0.02, normal_error_deg=1.0),
    "hard": NoiseProfile("hard", jitter_m=0.03, drift_m=0.015, dropouts_per_10s=2.0, dropout_s=(0.3, 0.5),
                         random_nan=0.02, scale_error=0.05, normal_error_deg=3.0),
}


@dataclass(frozen=True)
class Body:
    """Segment lengths (metres) of a climber `height` m tall (`cruxlab.body.SEGMENT_RATIOS`)."""

    height: float

    def _len(self, segment: str) -> float:
        return SEGMENT_RATIOS[segment] * self.height

    @property
    def upper_arm(self) -> float: return self._len("upper_arm")
    @property
    def forearm(self) -> float: return self._len("forearm")
    @property
    def thigh(self) -> float: return self._len("thigh")
    @property
    def shank(self) -> float: return self._len("shank")
    @property
    def torso(self) -> float: return self._len("torso")      # mid-hip to mid-shoulder
    @property
    def hip_half(self) -> float: return self._len("hip_width") / 2
    @property
    def shoulder_half(self) -> float: return self._len("shoulder_width") / 2
    @property
    def arm(self) -> float: return self.upper_arm + self.forearm
    @property
    def leg(self) -> float: return self.thigh + self.shank


@dataclass(frozen=True)
class SyntheticAttempt:
    """A generated attempt: the noisy skeleton a pipeline would deliver, the clean one, the true moves."""

    skeleton: Skeleton
    clean: Skeleton
    moves: list[Move]
    contacts: np.ndarray          # (T, 4) bool true contact state (scripted), EFFECTOR order L/R hand, L/R foot
    wall_angle_deg: float
    height_m: float
    seed: int
    noise: str
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ kinematics
def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def build_skeleton(body: Body, pelvis: np.ndarray, hands: np.ndarray, toes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton (T, 21, 3) in wall coordinates of a vertical wall (x along, y up, z out of the wall) from the
    pelvis (T, 3), wrists (T, 2, 3) and toes (T, 2, 3). Returns the joints and the (T, 4) reach error of the
    effectors (0 where the IK reached its target)."""
    T = len(pelvis)
    facing = np.array([0.0, 0.0, -1.0])
    lean = np.clip(0.35 * (hands[:, :, 0].mean(axis=1) - pelvis[:, 0]), -0.35, 0.35)
    up = _normalize(np.stack([lean, np.ones(T), np.zeros(T)], axis=1))
    right = _normalize(np.cross(facing, up))
    kp = np.zeros((T, NUM_JOINTS, 3))
    kp[:, L_HIP] = pelvis - right * body.hip_half
    kp[:, R_HIP] = pelvis + right * body.hip_half
    chest = pelvis + up * body.torso + facing * 0.04
    kp[:, L_SHOULDER] = chest - right * body.shoulder_half
    kp[:, R_SHOULDER] = chest + right * body.shoulder_half
    head = chest + up * 0.1 * body.height
    kp[:, NOSE] = head + facing * 0.06
    for side, (eye, ear) in ((-1, ("left_eye", "left_ear")), (1, ("right_eye", "right_ear"))):
        kp[:, JOINT_INDEX[eye]] = head + facing * 0.05 + up * 0.03 + side * right * 0.03
        kp[:, JOINT_INDEX[ear]] = head - facing * 0.03 + up * 0.01 + side * right * 0.075
    err = np.zeros((T, 4))
    for k, (sh, el, wr, side) in enumerate(((L_SHOULDER, L_ELBOW, L_WRIST, -1), (R_SHOULDER, R_ELBOW, R_WRIST, 1))):
        pole = -up + side * 0.5 * right - facing * 0.4
        mid, end = two_bone_ik(kp[:, sh], hands[:, k], body.upper_arm, body.forearm, pole)
        kp[:, el], kp[:, wr] = mid, end
        err[:, k] = np.linalg.norm(end - hands[:, k], axis=1)
    foot_back = -facing * 0.10 + up * 0.06          # toe -> ankle
    for k, (hip, knee, ankle, heel, toe, side) in enumerate(
        ((L_HIP, L_KNEE, L_ANKLE, L_HEEL, L_TOE, -1), (R_HIP, R_KNEE, R_ANKLE, R_HEEL, R_TOE, 1))
    ):
        target = toes[:, k] + foot_back
        pole = side * right + facing * 0.35 + up * 0.25
        mid, end = two_bone_ik(kp[:, hip], target, body.thigh, body.shank, pole)
        kp[:, knee], kp[:, ankle] = mid, end
        kp[:, toe] = end - foot_back
        kp[:, heel] = end - facing * 0.05 - up * 0.05
        err[:, 2 + k] = np.linalg.norm(end - target, axis=1)
    return kp, err


def rotation_x(angle_deg: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


# -------------------------------------------------------------------------------------------- the script
class _Script:
    """Writes trajectories action by action, in time order, in wall coordinates (vertical wall)."""

    HAND_OFF = 0.06     # wrist distance from the wall when holding
    TOE_OFF = 0.025     # toe distance from the wall when standing on a hold
    FOOT_MOVE_MIN = 0.16  # a foot-move goes to another hold, farther than a foot hold is wide

    def __init__(self, rng: np.random.Generator, body: Body, fps: float, duration_s: float):
        self.rng, self.body, self.fps = rng, body, fps
        self.T = int(round(duration_s * fps))
        T = self.T
        self.hands = np.zeros((T, 2, 3))
        self.toes = np.zeros((T, 2, 3))
        self.pelvis = np.zeros((T, 3))
        self.contact = np.ones((T, 4), dtype=bool)
        self.moves: list[Move] = []
        self.flags: list[tuple[str, int, int]] = []   # (limb, start, end) windows whose posture defines the flag
        self.rockovers: list[tuple[str, int, int]] = []
        self.dynos: list[tuple[int, int]] = []
        self.cursor = 0
        b = body
        # Start: feet low apart, hands above the shoulders.
        p0 = np.array([0.0, 0.55 * b.height, 0.30])
        self._set(self.pelvis, 0, p0)
        sh_y = p0[1] + b.torso
        self._set(self.hands[:, 0], 0, np.array([-0.25, sh_y + 0.35, self.HAND_OFF]))
        self._set(self.hands[:, 1], 0, np.array([0.22, sh_y + 0.40, self.HAND_OFF]))
        self._set(self.toes[:, 0], 0, np.array([-0.22, p0[1] - 0.70 * b.leg, self.TOE_OFF]))
        self._set(self.toes[:, 1], 0, np.array([0.20, p0[1] - 0.66 * b.leg, self.TOE_OFF]))

    # ----------------------------------------------------------------------------- low level writers
    def f(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))

    @staticmethod
    def _set(arr: np.ndarray, start: int, value: np.ndarray) -> None:
        arr[start:] = value

    def _path(self, arr: np.ndarray, f0: int, f1: int, target: np.ndarray, arc: np.ndarray | None = None) -> None:
        """Min-jerk from the value at f0 to target at f1 (inclusive), held afterwards."""
        start = arr[f0].copy()
        n = f1 - f0 + 1
        tau = np.arange(n) / max(n - 1, 1)
        s = min_jerk(tau)[:, None]
        seg = start + s * (target - start)
        if arc is not None:
            seg = seg + np.sin(np.pi * tau)[:, None] * arc
        arr[f0:f1 + 1] = seg
        arr[f1 + 1:] = target

    def now(self, channel: np.ndarray) -> np.ndarray:
        return channel[min(self.cursor, self.T - 1)].copy()

    def limb_pos(self, limb: str) -> np.ndarray:
        k = EFFECTOR_LIMBS.index(limb)
        return self.now(self.hands[:, k] if k < 2 else self.toes[:, k - 2])

    def channel(self, limb: str) -> np.ndarray:
        k = EFFECTOR_LIMBS.index(limb)
        return self.hands[:, k] if k < 2 else self.toes[:, k - 2]

    def fits(self, seconds: float) -> bool:
        return self.cursor + self.f(seconds) < self.T - self.f(0.5)

    # ---------------------------------------------------------------------------------- body balance
    def stance_pelvis(self, hands: np.ndarray, toes: np.ndarray) -> np.ndarray:
        """A comfortable pelvis for given holds: between the feet and under the hands, shoulders ~0.3 m below
        the higher hand, legs bent."""
        b = self.body
        x = 0.5 * hands[:, 0].mean() + 0.5 * toes[:, 0].mean()
        y_hand = hands[:, 1].max() - 0.30 - b.torso
        y_foot = toes[:, 1].min() + 0.78 * b.leg
        return np.array([x, min(y_hand, y_foot), 0.30])

    def pelvis_for(self, hands: np.ndarray, toes: np.ndarray) -> np.ndarray | None:
        """Pelvis for new holds that moves the body as little as needed: keep the height if every limb can
        stay on, else go half-way to the stance, else all the way (None when even that fails)."""
        cur = self.now(self.pelvis)
        stance = self.stance_pelvis(hands, toes)
        keep = np.array([0.6 * cur[0] + 0.4 * stance[0], cur[1], 0.30])
        for cand in (keep, 0.5 * (keep + stance), stance):
            if self.reachable(cand, hands, toes):
                return cand
        return None

    def reachable(self, pelvis: np.ndarray, hands: np.ndarray, toes: np.ndarray, slack: float = 0.96) -> bool:
        b = self.body
        kp, err = build_skeleton(b, pelvis[None], hands[None], toes[None])
        return bool(err.max() < 1e-3 and np.all(np.linalg.norm(kp[0, [L_WRIST, R_WRIST]] - kp[0, [L_SHOULDER, R_SHOULDER]],
                                                                  axis=1) < slack * b.arm)
                    and np.all(np.linalg.norm(kp[0, [L_ANKLE, R_ANKLE]] - kp[0, [L_HIP, R_HIP]], axis=1) < slack * b.leg))

    def holds(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.stack([self.limb_pos("left_hand"), self.limb_pos("right_hand")]),
                np.stack([self.limb_pos("left_foot"), self.limb_pos("right_foot")]))

    # ------------------------------------------------------------------------------------- actions
    def rest(self, lo: float = 0.3, hi: float = 1.0) -> None:
        self.cursor += self.f(self.rng.uniform(lo, hi))

    def settle(self) -> bool:
        """Unlabelled pelvis shift to the stance for the current holds (a stand-up or a sag)."""
        hands, toes = self.holds()
        target = self.stance_pelvis(hands, toes)
        if target[1] < self.now(self.pelvis)[1] - 0.05 or not self.reachable(target, hands, toes):
            return False
        dur = self.rng.uniform(0.5, 1.0)
        f0 = self.cursor
        f1 = min(f0 + self.f(dur), self.T - 1)
        self._path(self.pelvis, f0, f1, target)
        self.cursor = f1 + 1
        return True

    def limb_move(self, limb: str, target: np.ndarray, label: str | None, dur: float,
                  pelvis_target: np.ndarray | None = None) -> tuple[int, int]:
        ch = self.channel(limb)
        f0 = self.cursor
        f1 = min(f0 + self.f(dur), self.T - 1)
        k = EFFECTOR_LIMBS.index(limb)
        arc = np.array([0.0, 0.0, self.rng.uniform(0.06, 0.12)])
        self._path(ch, f0, f1, target, arc)
        self.contact[f0:f1 + 1, k] = False
        if pelvis_target is not None:
            self._path(self.pelvis, f0, min(f1 + self.f(0.2), self.T - 1), pelvis_target)
        if label:
            self.moves.append(Move(f0, f1, label, limb, 1.0))
        self.cursor = f1 + 1
        return f0, f1

    def try_hand(self, kind: str) -> bool:
        """kind: reach | cross-over | match."""
        rng = self.rng
        hands, toes = self.holds()
        # The lower hand usually moves; a crossed pair is uncrossed by the hand underneath (a reach).
        crossed = hands[0, 0] > hands[1, 0]
        k = int(np.argmin(hands[:, 1])) if rng.random() < 0.8 else int(rng.integers(2))
        limb = HAND_LIMBS[k]
        other = hands[1 - k]
        s = SIDE[limb]
        if kind == "match":
            target = other + np.array([rng.uniform(-0.04, 0.04), rng.uniform(-0.03, 0.03), 0.0])
            target[2] = self.HAND_OFF
        elif kind == "cross-over":
            if crossed:
                return False
            # beyond the other hand by 15-35 cm along x (>= 5 cm by definition, with margin for noise)
            target = np.array([other[0] - s * rng.uniform(0.12, 0.28), other[1] + rng.uniform(-0.05, 0.25),
                               self.HAND_OFF])
        else:
            if crossed and rng.random() < 0.9:
                # the under hand uncrosses to its own side
                target = np.array([other[0] + s * rng.uniform(0.20, 0.40), other[1] + rng.uniform(0.05, 0.30),
                                   self.HAND_OFF])
            else:
                target = np.array([other[0] + s * rng.uniform(0.20, 0.55), hands[:, 1].max() + rng.uniform(0.10, 0.35),
                                   self.HAND_OFF])
            if np.linalg.norm(target[:2] - other[:2]) < 0.20:
                return False
        if kind != "match" and np.linalg.norm(target[:2] - other[:2]) < 0.20:
            return False
        new_hands = hands.copy()
        new_hands[k] = target
        pelvis = self.pelvis_for(new_hands, toes)
        if pelvis is None or not self.reachable(pelvis, hands, toes, slack=0.99):
            return False
        if kind == "cross-over" and not (hands[k, 0] - other[0]) * s > 0:
            return False
        self.limb_move(limb, target, kind, rng.uniform(0.5, 0.9), pelvis)
        return True

    def try_foot(self) -> bool:
        rng = self.rng
        hands, toes = self.holds()
        k = int(np.argmin(toes[:, 1])) if rng.random() < 0.75 else int(rng.integers(2))
        limb = FOOT_LIMBS[k]
        pel = self.now(self.pelvis)
        s = SIDE[limb]
        target = np.array([pel[0] + s * rng.uniform(0.08, 0.28), toes[k, 1] + rng.uniform(0.12, 0.40), self.TOE_OFF])
        # stay clearly below "high foot" (rock-over) territory
        target[1] = min(target[1], pel[1] - 0.40)
        if np.linalg.norm(target[:2] - toes[k, :2]) < self.FOOT_MOVE_MIN:  # a shuffle on the hold, not a move
            return False
        new_toes = toes.copy()
        new_toes[k] = target
        if not self.reachable(pel, hands, new_toes):
            return False
        self.limb_move(limb, target, "foot-move", rng.uniform(0.4, 0.7))
        return True

    def shuffle(self) -> bool:
        """Unlabelled nuisance seen on real footage: a foot readjusts on its hold (2-6 cm and settles) while
        the climber rests."""
        rng = self.rng
        k = int(rng.integers(2))
        _, toes = self.holds()
        step = np.array([rng.uniform(-0.04, 0.04), rng.uniform(0.0, 0.05), 0.0])
        step[:2] *= rng.uniform(0.02, 0.06) / max(np.linalg.norm(step[:2]), 1e-6)
        self.limb_move(FOOT_LIMBS[k], toes[k] + step, None, rng.uniform(0.3, 0.5))
        return True

    def try_flag(self) -> bool:
        """A foot leaves its hold into a flag (side or back), holds it while a hand moves, returns to a hold."""
        rng, b = self.rng, self.body
        hands, toes = self.holds()
        k = int(rng.integers(2))
        limb = FOOT_LIMBS[k]
        s = SIDE[limb]
        back = rng.random() < 0.3
        tin, tout = rng.uniform(0.25, 0.4), rng.uniform(0.25, 0.4)
        hold = rng.uniform(0.7, 1.6)
        if not self.fits(tin + hold + tout + 0.3):
            return False
        f0 = self.cursor
        f_in = f0 + self.f(tin)
        f_hold_end = f_in + self.f(hold)
        f_end = min(f_hold_end + self.f(tout), self.T - 1)
        # While the flag is held, the other hand may reach: choose a reachable one now.
        pel0 = self.now(self.pelvis)
        reach = None
        hk = int(np.argmin(hands[:, 1]))
        hs = SIDE[HAND_LIMBS[hk]]
        tgt = np.array([hands[1 - hk, 0] + hs * rng.uniform(0.2, 0.45), hands[:, 1].max() + rng.uniform(0.05, 0.25),
                        self.HAND_OFF])
        new_hands = hands.copy()
        new_hands[hk] = tgt
        if self.reachable(pel0, new_hands, toes) and np.linalg.norm(tgt[:2] - hands[1 - hk, :2]) > 0.2:
            reach = (HAND_LIMBS[hk], tgt)
        # Flag ankle relative to the hip: leg at 0.975 of its length (knee ~154 deg).
        L = 0.975 * b.leg
        if back:   # crossed behind the other leg, away from the wall
            sx, sz = -s * rng.uniform(0.30, 0.45), rng.uniform(0.30, 0.45)
        else:      # out to its own side
            sx, sz = s * rng.uniform(0.58, 0.78), rng.uniform(0.0, 0.12)
        sy = -np.sqrt(max(1 - sx ** 2 - sz ** 2, 0.05))
        direction = np.array([sx, sy, sz]) / np.linalg.norm([sx, sy, sz])
        hip_off = np.array([s * b.hip_half, 0.0, 0.0])
        foot_back = np.array([0.0, 0.06, 0.10])
        offset = hip_off + L * direction - foot_back   # pelvis -> toe
        # the foot must stay clear of the wall so it is visibly off every hold
        ch = self.channel(limb)
        start = ch[f0].copy()
        self.contact[f0:f_end + 1, 2 + k] = False
        # optional reach during the hold
        if reach is not None:
            fr0 = f_in + self.f(rng.uniform(0.05, 0.2))
            dur = min(rng.uniform(0.5, 0.8), (f_hold_end - fr0) / self.fps - 0.05)
            if dur > 0.35:
                self.cursor = fr0
                pel_t = pel0 + np.array([0.3 * (reach[1][0] - pel0[0]), 0.05, 0.0])
                lbl = "cross-over" if (reach[1][0] - hands[1 - hk, 0]) * hs < 0 else "reach"
                self.limb_move(reach[0], reach[1], lbl, dur, pel_t)
        pel = self.pelvis
        idx = np.arange(f0, f_end + 1)
        flag_pos = pel[idx] + offset
        flag_pos[:, 2] = np.maximum(flag_pos[:, 2], 0.22)
        # return hold: near the old one, a bit higher
        ret = start + np.array([s * rng.uniform(0.0, 0.1), rng.uniform(0.0, 0.15), 0.0])
        ret[1] = min(ret[1], pel[f_end, 1] - 0.40)
        n_in = f_in - f0
        tau_in = min_jerk(np.arange(n_in + 1) / max(n_in, 1))[:, None]
        ch[f0:f_in + 1] = start + tau_in * (flag_pos[: n_in + 1] - start)
        ch[f_in:f_hold_end + 1] = flag_pos[n_in: f_hold_end - f0 + 1]
        n_out = f_end - f_hold_end
        tau_out = min_jerk(np.arange(n_out + 1) / max(n_out, 1))[:, None]
        fh = flag_pos[f_hold_end - f0]
        ch[f_hold_end:f_end + 1] = fh + tau_out * (ret - fh)
        ch[f_end + 1:] = ret
        self.flags.append((limb, f0, f_end))
        self.cursor = f_end + 1
        return True

    def try_rockover(self) -> bool:
        """Foot-move onto a high hold, then stand up over it; the trailing foot follows."""
        rng, b = self.rng, self.body
        hands, toes = self.holds()
        k = int(rng.integers(2))
        limb = FOOT_LIMBS[k]
        s = SIDE[limb]
        pel = self.now(self.pelvis)
        high = np.array([pel[0] + s * rng.uniform(0.15, 0.28), pel[1] - rng.uniform(0.0, 0.07), self.TOE_OFF])
        new_toes = toes.copy()
        new_toes[k] = high
        if not self.reachable(pel, hands, new_toes, slack=0.99):
            return False
        if not self.fits(0.6 + 1.8 + 0.8 + 0.3):
            return False
        # final pelvis over the foot with the knee extended (hip-ankle ~0.98 leg)
        ankle = high + np.array([0.0, 0.06, 0.10])
        end_x = 0.4 * pel[0] + 0.6 * high[0]
        hip_x = end_x + s * b.hip_half
        reach = b.leg * rng.uniform(0.975, 0.99)   # knee ~155-165 deg at the top
        dy = np.sqrt(max(reach ** 2 - (0.30 - ankle[2]) ** 2 - (hip_x - ankle[0]) ** 2, 0.0))
        end_pel = np.array([end_x, ankle[1] + dy, 0.30])
        trailing = new_toes.copy()
        # hands and the rocking foot must stay on at the top (the trailing foot may come off)
        kp, err = build_skeleton(b, end_pel[None], hands[None], new_toes[None])
        if err[0, [0, 1, 2 + k]].max() > 1e-3:
            return False
        self.limb_move(limb, high, "foot-move", rng.uniform(0.5, 0.8))
        self.rest(0.15, 0.4)
        f0 = self.cursor
        f1 = min(f0 + self.f(rng.uniform(1.0, 1.6)), self.T - 1)
        self._path(self.pelvis, f0, f1, end_pel)
        # the trailing foot hangs free when out of reach, then steps up to a hold
        other = FOOT_LIMBS[1 - k]
        ch = self.channel(other)
        self.rockovers.append((limb, f0, f1))
        self.moves.append(Move(f0, f1, "rock-over", limb, 1.0))
        self.cursor = f1 + 1
        tgt = np.array([end_pel[0] - s * rng.uniform(0.1, 0.25), end_pel[1] - 0.62 * b.leg, self.TOE_OFF])
        trailing[1 - k] = tgt
        kp_prev, err_prev = build_skeleton(b, self.pelvis[f0:f1 + 1], self.hands[f0:f1 + 1], self.toes[f0:f1 + 1])
        lost = err_prev[:, 3 - k] > 1e-3
        if lost.any():  # the trailing foot comes off as the body rises: it follows the hip until it re-steps
            first = f0 + int(np.argmax(lost))
            self.contact[first:f1 + 1, 3 - k] = False
            hang = self.pelvis[first:f1 + 1] + (ch[first] - self.pelvis[first]) * np.array([1, 0, 1]) + \
                np.array([0.0, -0.9 * b.leg, 0.0])
            hang[:, 1] = np.maximum(hang[:, 1], ch[first, 1])
            # it swings clear of the wall (a dangling foot, not a smear)
            swing = min_jerk(np.arange(len(hang)) / max(self.f(0.25), 1))
            hang[:, 2] = ch[first, 2] + swing * (0.22 - ch[first, 2])
            ch[first:f1 + 1] = hang
            ch[f1 + 1:] = hang[-1]
            self.contact[f1 + 1:, 3 - k] = True
            self.cursor = f1 + 1
            _, f_land = self.limb_move(other, tgt, None, rng.uniform(0.4, 0.6))
            # one flight of the trailing foot from its lift-off during the rise to the new hold
            self.contact[first:f_land + 1, 3 - k] = False
            self.moves.append(Move(first, f_land, "foot-move", other, 1.0))
        else:
            self.limb_move(other, tgt, "foot-move", rng.uniform(0.4, 0.6))
        return True

    def try_dyno(self, wall_angle_deg: float) -> bool:
        rng, b = self.rng, self.body
        hands, toes = self.holds()
        if not self.fits(0.5 + 0.4 + 1.5 + 1.5):
            return False
        pel = self.now(self.pelvis)
        # crouch
        crouch = pel + np.array([0.0, -0.08, 0.04])
        if not self.reachable(crouch, hands, toes, slack=0.99):
            return False
        fc = self.cursor
        fc1 = fc + self.f(rng.uniform(0.35, 0.5))
        self._path(self.pelvis, fc, fc1, crouch)
        f0 = fc1 + 1
        tf = rng.uniform(0.25, 0.35)
        rise = rng.uniform(0.30, 0.45)
        # ballistic in the world: gravity expressed in vertical-wall coordinates of the rotated scene
        a = np.radians(wall_angle_deg)
        g_wall = np.array([0.0, -G * np.cos(a), G * np.sin(a)])
        v0 = np.array([rng.uniform(-0.3, 0.3), (rise + 0.5 * G * np.cos(a) * tf ** 2) / tf,
                       -0.5 * g_wall[2] * tf])  # z: leave and return to the same distance from the wall
        n = self.f(tf)
        t = np.arange(n + 1) / self.fps
        traj = crouch + v0 * t[:, None] + 0.5 * g_wall * t[:, None] ** 2
        f1 = f0 + n
        if f1 + self.f(2.0) >= self.T:
            return False
        catch_pel = traj[-1]
        sh_y = catch_pel[1] + b.torso
        new_hands = np.array([[catch_pel[0] - rng.uniform(0.15, 0.3), sh_y + rng.uniform(0.25, 0.35), self.HAND_OFF],
                              [catch_pel[0] + rng.uniform(0.15, 0.3), sh_y + rng.uniform(0.25, 0.35), self.HAND_OFF]])
        if new_hands[:, 1].min() < hands[:, 1].max() + 0.10:
            return False
        self.pelvis[f0:f1 + 1] = traj
        self.pelvis[f1 + 1:] = catch_pel
        for k in range(2):
            start = self.hands[f0, k].copy()
            tau = np.arange(n + 1) / n
            self.hands[f0:f1 + 1, k] = start + min_jerk(tau)[:, None] ** 0.8 * (new_hands[k] - start)
            self.hands[f1 + 1:, k] = new_hands[k]
        # feet swing free with the body: follow the pelvis at their offset, then re-step
        for k in range(2):
            off = self.toes[f0, k] - crouch
            self.toes[f0:f1 + 1, k] = traj + off
        self.contact[f0:f1 + 1, :] = False
        self.moves.append(Move(f0, f1, "dyno", "body", 1.0))
        self.dynos.append((f0, f1))
        # after the catch the body settles under the new holds; feet hang, then step onto new holds
        settle_end = min(f1 + self.f(0.6), self.T - 1)
        new_toes = np.array([[catch_pel[0] - 0.18, catch_pel[1] - 0.55 * b.leg, self.TOE_OFF],
                             [catch_pel[0] + 0.18, catch_pel[1] - 0.52 * b.leg, self.TOE_OFF]])
        target = self.stance_pelvis(new_hands, new_toes)
        self._path(self.pelvis, f1, settle_end, target)
        for k in range(2):
            hang = self.pelvis[f1:settle_end + 1] + (self.toes[f1, k] - traj[-1])
            hang[:, 2] = np.maximum(hang[:, 2], 0.25)
            self.toes[f1:settle_end + 1, k] = hang
            self.toes[settle_end + 1:, k] = hang[-1]
            self.contact[f1:settle_end + 1, 2 + k] = False
        self.cursor = settle_end + 1
        # feet land on new holds; their flights started at take-off, so they belong to the dyno
        for k in range(2):
            self.limb_move(FOOT_LIMBS[k], new_toes[k], None, rng.uniform(0.35, 0.55))
            self.contact[f0:self.cursor, 2 + k] = False
        return True


def _flag_posture(kp: np.ndarray, contact_foot: np.ndarray, limb: str, wall_dist: np.ndarray) -> np.ndarray:
    """DESIGN.md's flag posture per frame on a clean skeleton: foot off every hold, knee > 140 deg, ankle
    >= 0.30 m from the pelvis centre along x to its own side, or crossed behind the other leg."""
    from moves.features import joint_angle

    s = SIDE[limb]
    hip, knee, ankle, o_ankle = (L_HIP, L_KNEE, L_ANKLE, R_ANKLE) if s < 0 else (R_HIP, R_KNEE, R_ANKLE, L_ANKLE)
    pel_x = 0.5 * (kp[:, L_HIP, 0] + kp[:, R_HIP, 0])
    knee_ang = joint_angle(kp[:, hip], kp[:, knee], kp[:, ankle])
    side = s * (kp[:, ankle, 0] - pel_x) >= 0.30
    crossed = (s * (kp[:, ankle, 0] - kp[:, o_ankle, 0]) < -0.05) & (wall_dist[:, ankle] > wall_dist[:, o_ankle] + 0.05)
    return (~contact_foot) & (knee_ang > 140) & (side | crossed)


def _program(rng: np.random.Generator, script: _Script, wall_angle: float, plan: list[str]) -> None:
    """Run a programme of actions until the time is used up."""
    actions = {
        "reach": lambda: script.try_hand("reach"), "cross-over": lambda: script.try_hand("cross-over"),
        "match": lambda: script.try_hand("match"), "foot-move": script.try_foot, "flag": script.try_flag,
        "rock-over": script.try_rockover, "dyno": lambda: script.try_dyno(wall_angle),
    }
    weights = {"reach": 3.0, "cross-over": 1.2, "match": 0.8, "foot-move": 2.5, "flag": 1.2, "rock-over": 0.7,
               "dyno": 0.35}
    names = list(weights)
    probs = np.array([weights[n] for n in names])
    probs /= probs.sum()
    queue = list(plan)
    failures = 0
    while script.fits(1.5) and failures < 200:
        script.rest(0.25, 0.9)
        if not script.fits(1.5):
            break
        name = queue[0] if queue else names[rng.choice(len(names), p=probs)]
        if rng.random() < 0.25:
            script.shuffle()
            script.rest(0.1, 0.3)
        ok = actions[name]()
        if ok:
            if queue and queue[0] == name:
                queue.pop(0)
            failures = 0
            if rng.random() < 0.55:
                script.rest(0.1, 0.4)
                script.settle()
        else:
            failures += 1
            if queue and failures % 6 == 0:  # make room: move feet/hands up, then try again
                queue.append(queue.pop(0))
            # a foot move or settle usually makes the next action feasible
            (script.try_foot() if rng.random() < 0.5 else script.settle())


def generate_attempt(
    seed: int,
    noise: str | NoiseProfile = "mild",
    *,
    duration_s: float | None = None,
    fps: float | None = None,
    wall_angle_deg: float | None = None,
    height_m: float | None = None,
    require_all_labels: bool = True,
) -> SyntheticAttempt:
    """One synthetic attempt. Unspecified parameters are drawn from the seed: fps in {24, 25, 30, 50, 60},
    wall angle 0-45°, height 1.55-1.90 m, duration 35-55 s. With `require_all_labels` every label of the
    rule model (reach, cross-over, match, foot-move, flag, rock-over, dyno) appears at least once."""
    profile = NOISE[noise] if isinstance(noise, str) else noise
    master = np.random.default_rng(seed)
    fps = float(fps if fps is not None else master.choice([24, 25, 30, 50, 60]))
    wall_angle = float(wall_angle_deg if wall_angle_deg is not None else master.uniform(0, 45))
    height = float(height_m if height_m is not None else master.uniform(1.55, 1.90))
    duration = float(duration_s if duration_s is not None else master.uniform(35, 55))
    body = Body(height)
    plan = ["reach", "cross-over", "reach", "foot-move", "flag", "match", "reach", "rock-over", "dyno", "flag",
            "cross-over"] if require_all_labels else []
    rejections: dict[str, int] = {}
    for attempt in range(50):
        rng = np.random.default_rng([seed, attempt])
        script = _Script(rng, body, fps, duration)
        _program(rng, script, wall_angle, list(rng.permutation(plan)) if plan else [])
        result = _finish(script, body, fps, wall_angle, height, seed, profile, master)
        if isinstance(result, str):
            rejections[result] = rejections.get(result, 0) + 1
            continue
        missing = RULE_LABELS - {m.label for m in result.moves}
        if require_all_labels and missing:
            key = f"missing {sorted(missing)}"
            rejections[key] = rejections.get(key, 0) + 1
            continue
        return result
    raise RuntimeError(f"could not generate a valid attempt for seed {seed}: {rejections}")


def _finish(script: _Script, body: Body, fps: float, wall_angle: float, height: float, seed: int,
            profile: NoiseProfile, master: np.random.Generator) -> SyntheticAttempt | str:
    """The attempt, or the reason the programme is rejected."""
    kp_wall, err = build_skeleton(body, script.pelvis, script.hands, script.toes)
    # contacts the script declared must actually be reached
    if np.any(err[script.contact] > 0.01):
        return "a declared contact is out of reach"
    R = rotation_x(wall_angle)
    kp = kp_wall @ R.T
    normal = R @ np.array([0.0, 0.0, 1.0])
    # the floor is y = 0 (the wall frame's convention): the climb starts on holds, every foot at least
    # FLOOR_CLEARANCE above the mat (a move along the wall plane keeps the plane through the origin)
    lift = FLOOR_CLEARANCE - float(np.min(kp[:, [L_TOE, R_TOE, L_HEEL, R_HEEL, L_ANKLE, R_ANKLE], 1]))
    if lift > 0:
        up_wall = np.array([0.0, 1.0, 0.0]) - normal[1] * normal
        kp = kp + lift / max(up_wall[1], 1e-6) * up_wall
    wall_dist = kp_wall[..., 2]
    moves = [m for m in script.moves if m.label != "flag"]
    from moves.features import joint_angle

    # flags: the definition evaluated on the clean skeleton inside each scripted flag window
    for limb, f0, f1 in script.flags:
        k = 2 + FOOT_LIMBS.index(limb)
        posture = _flag_posture(kp, script.contact[:, k], limb, wall_dist)
        window = np.zeros(len(kp), dtype=bool)
        window[f0:f1 + 1] = True
        on = np.flatnonzero(posture & window)
        if len(on) == 0:
            return "flag posture never reached"
        # the longest run
        from cruxlab.intervals import runs
        r = runs(posture & window)
        s, e = r[np.argmax(r[:, 1] - r[:, 0])]
        if (e - s + 1) / fps < 0.55:   # >= 0.4 s by definition, with margin
            return "flag held too briefly"
        moves.append(Move(int(s), int(e), "flag", limb, 1.0))
    # rock-overs: check the definition in the world frame (gravity y)
    for limb, f0, f1 in script.rockovers:
        s = SIDE[limb]
        hip, knee, ankle = (L_HIP, L_KNEE, L_ANKLE) if s < 0 else (R_HIP, R_KNEE, R_ANKLE)
        pel = 0.5 * (kp[:, L_HIP] + kp[:, R_HIP])
        knee_ang = joint_angle(kp[:, hip], kp[:, knee], kp[:, ankle])
        foot_y = kp[f0, L_TOE if s < 0 else R_TOE, 1]
        ok = (foot_y >= pel[f0, 1] - 0.15 + 0.05 and knee_ang[f0] <= 80 - 5 and knee_ang[f1] >= 140 + 5
              and pel[f1, 1] - pel[f0, 1] >= 0.20 + 0.05
              and abs(pel[f1, 0] - kp[f1, ankle, 0]) < abs(pel[f0, 0] - kp[f0, ankle, 0]))
        if not ok:
            return "rock-over fails its definition"
    # hand moves: cross-over margin >= 5 cm (+3 cm), match <= 8 cm (-3 cm), reaches clear of both
    hands = kp[:, [L_WRIST, R_WRIST]]
    for m in moves:
        if m.limb in HAND_LIMBS:
            k = HAND_LIMBS.index(m.limb)
            s = SIDE[m.limb]
            other_end = hands[m.end_frame, 1 - k]
            beyond = -s * (hands[m.end_frame, k, 0] - other_end[0])
            started_own = s * (hands[m.start_frame, k, 0] - hands[m.start_frame, 1 - k, 0]) > 0
            dist = np.linalg.norm(hands[m.end_frame, k] - other_end)
            if m.label == "cross-over" and not (beyond >= 0.08 and started_own):
                return "cross-over fails its definition"
            if m.label == "match" and not dist <= 0.05:
                return "match fails its definition"
            if m.label == "reach" and not (dist >= 0.15 and not (beyond >= 0.0 and started_own)):
                return "reach is ambiguous"
    for f0, f1 in script.dynos:
        if script.contact[f0:f1 + 1].any():
            return "dyno with a limb on the wall"
    moves.sort()
    clean = Skeleton(kp.astype(np.float32), fps, wall_normal=normal, wall_point=np.zeros(3))
    noisy = apply_noise(clean, profile, np.random.default_rng([seed, 7919]))
    contacts = script.contact.copy()
    return SyntheticAttempt(
        skeleton=noisy, clean=clean, moves=moves, contacts=contacts, wall_angle_deg=wall_angle, height_m=height,
        seed=seed, noise=profile.name, info={"fps": fps, "duration_s": len(kp) / fps},
    )


def apply_noise(clean: Skeleton, profile: NoiseProfile, rng: np.random.Generator) -> Skeleton:
    """Degrade a clean skeleton like a reconstruction would (see NoiseProfile)."""
    kp = clean.keypoints.astype(np.float64).copy()
    T, J, _ = kp.shape
    fps = clean.fps
    if profile.scale_error:
        kp *= 1.0 + rng.uniform(-profile.scale_error, profile.scale_error)
    if profile.drift_m:
        # ~1 Hz correlated error: white noise through a moving average of 1 s, renormalised
        w = max(1, int(fps))
        white = rng.normal(size=(T + w, J, 3))
        cs = np.cumsum(white, axis=0)
        drift = (cs[w:] - cs[:-w]) / np.sqrt(w)
        kp += profile.drift_m * drift
    if profile.jitter_m:
        kp += rng.normal(scale=profile.jitter_m, size=kp.shape)
    if profile.dropouts_per_10s:
        n = rng.poisson(profile.dropouts_per_10s * T / fps / 10)
        for _ in range(n):
            j = rng.choice([L_WRIST, R_WRIST, L_ANKLE, R_ANKLE, L_ELBOW, R_ELBOW])
            length = int(rng.uniform(*profile.dropout_s) * fps)
            s = int(rng.integers(0, max(1, T - length)))
            kp[s:s + length, j] = np.nan
    if profile.random_nan:
        mask = rng.random((T, J)) < profile.random_nan
        kp[mask] = np.nan
    normal = clean.normal
    if profile.normal_error_deg:
        axis = _normalize(rng.normal(size=3))
        angle = np.radians(rng.uniform(-profile.normal_error_deg, profile.normal_error_deg))
        K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        Rn = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
        normal = Rn @ normal
    return Skeleton(keypoints=kp.astype(np.float32), fps=fps, wall_normal=normal, wall_point=clean.wall_point)


def generate_set(seeds, noise: str = "mild", **kwargs) -> list[SyntheticAttempt]:
    """Attempts for a range of seeds (evaluation sets use seeds the tuning never saw)."""
    return [generate_attempt(int(s), noise, **kwargs) for s in seeds]
