"""Per-frame features of a skeleton sequence, vectorised over frames.

Everything is in the wall frame (metres, y up, x along the wall, z out of the wall; DESIGN.md) and in
seconds, so thresholds do not depend on the frame rate. The pipeline:

1. gap filling: NaN runs up to `max_gap_s` are linearly interpolated per coordinate (a wrist lost for half a
   second), longer gaps stay NaN;
2. smoothing: a centred triangular moving average over `smooth_s` (two box filters via cumulative sums,
   O(T) per coordinate) that removes centimetre jitter without shifting events in time;
3. kinematics: joint angles, pelvis, centre of mass (segment-mass model), end-effector velocity and speed,
   distance of every joint to the wall plane, hand order along the wall;
4. contacts (`cruxlab.contacts`, the one contact detector): an end-effector is "on a hold" when it is still
   along the wall and near it, with hysteresis, minimum dwell and noise-adaptive thresholds in body units;
   contacts are clustered into holds, so a move is a change of hold.

The skeleton may be a lifted one or, better, its image evidence (`moves.evidence`: joints where the video
saw them, camera motion and depth noise removed); features do not care which.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from cruxlab.body import body_scale
from cruxlab.contacts import ContactParams, Contacts, detect_contacts, grip_points
from cruxlab.joints import (
    L_ANKLE, L_ELBOW, L_HEEL, L_HIP, L_KNEE, L_SHOULDER, L_TOE, L_WRIST, NOSE, NUM_JOINTS,
    R_ANKLE, R_ELBOW, R_HEEL, R_HIP, R_KNEE, R_SHOULDER, R_TOE, R_WRIST,
)
from cruxlab.intervals import runs
from cruxlab.signal import central_difference
from cruxlab.skeleton import Skeleton

#: End-effector order used by every (T, 4) array: the four limbs of cruxlab.joints.LIMBS.
HANDS = (0, 1)
FEET = (2, 3)

#: (name, a, b, c): the angle at joint b between segments b->a and b->c, in degrees (180 = straight).
ANGLES: tuple[tuple[str, int, int, int], ...] = (
    ("left_knee", L_HIP, L_KNEE, L_ANKLE), ("right_knee", R_HIP, R_KNEE, R_ANKLE),
    ("left_hip", L_SHOULDER, L_HIP, L_KNEE), ("right_hip", R_SHOULDER, R_HIP, R_KNEE),
    ("left_elbow", L_SHOULDER, L_ELBOW, L_WRIST), ("right_elbow", R_SHOULDER, R_ELBOW, R_WRIST),
    ("left_shoulder", L_HIP, L_SHOULDER, L_ELBOW), ("right_shoulder", R_HIP, R_SHOULDER, R_ELBOW),
)
ANGLE_NAMES: tuple[str, ...] = tuple(a[0] for a in ANGLES)
ANGLE_INDEX: dict[str, int] = {n: i for i, n in enumerate(ANGLE_NAMES)}


def _com_weights() -> np.ndarray:
    """Joint weights whose weighted mean is the whole-body centre of mass (de Leva 1996 segment masses,
    each segment's mass split between its end joints at its COM ratio)."""
    w = np.zeros(NUM_JOINTS)
    mid_sh, mid_hip = (L_SHOULDER, R_SHOULDER), (L_HIP, R_HIP)
    segments = [  # (mass fraction, proximal joints, distal joints, COM distance from proximal as a fraction)
        (0.0694, mid_sh, (NOSE,), 0.50),           # head + neck
        (0.4346, mid_sh, mid_hip, 0.56),           # trunk
        (0.0271, (L_SHOULDER,), (L_ELBOW,), 0.58), (0.0271, (R_SHOULDER,), (R_ELBOW,), 0.58),  # upper arms
        (0.0162, (L_ELBOW,), (L_WRIST,), 0.46), (0.0162, (R_ELBOW,), (R_WRIST,), 0.46),        # forearms
        (0.0061, (L_WRIST,), (L_WRIST,), 0.0), (0.0061, (R_WRIST,), (R_WRIST,), 0.0),          # hands
        (0.1416, (L_HIP,), (L_KNEE,), 0.41), (0.1416, (R_HIP,), (R_KNEE,), 0.41),              # thighs
        (0.0433, (L_KNEE,), (L_ANKLE,), 0.44), (0.0433, (R_KNEE,), (R_ANKLE,), 0.44),          # shanks
        (0.0137, (L_ANKLE,), (L_ANKLE,), 0.0), (0.0137, (R_ANKLE,), (R_ANKLE,), 0.0),          # feet
    ]
    for mass, prox, dist, r in segments:
        for j in prox:
            w[j] += mass * (1 - r) / len(prox)
        for j in dist:
            w[j] += mass * r / len(dist)
    return w / w.sum()


COM_WEIGHTS = _com_weights()


@dataclass(frozen=True)
class FeatureParams:
    """Smoothing of the skeleton (metres, seconds) and the contact thresholds (`cruxlab.contacts`)."""

    max_gap_s: float = 0.6        # interpolate NaN gaps up to this long (a lost wrist for half a second)
    smooth_s: float = 0.2         # width of the triangular smoothing kernel
    velocity_span_s: float = 0.12  # central-difference span of velocities
    adaptive: bool = True         # widen smoothing to the measured jitter
    smooth_per_jitter: float = 8.0  # extra smoothing seconds per metre of jitter (0.03 m -> +0.24 s)
    max_smooth_s: float = 0.45
    planar_motion: bool = False   # contacts from motion along the wall only (image evidence: its distance
                                  # from the wall is a smoothed guess, not a measurement)
    contact: ContactParams = field(default_factory=ContactParams)


#: Joints the rules read on every call; the others are smoothed only when asked for (angles, COM, plots).
CORE_JOINTS: tuple[int, ...] = (L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_WRIST, R_WRIST, L_TOE, R_TOE,
                                L_HEEL, R_HEEL)
_CORE_POS = {j: i for i, j in enumerate(CORE_JOINTS)}


@dataclass(frozen=True)
class Features:
    """Per-frame features of one attempt (T frames).

    core:          (T, 12, 3) float32 gap-filled, smoothed CORE_JOINTS, wall frame, NaN where unknown;
                   `joint(j)` reads any joint, `keypoints` (T, 21, 3) all of them (smoothed on first use).
    angles:        (T, 8) float32 joint angles in degrees, columns ANGLE_NAMES (180 = straight); computed
                   on first use, like `com` (T, 3), the whole-body centre of mass (de Leva segment masses).
    knee_angles:   (T, 2) left and right knee angles (what the rules need, computed eagerly).
    pelvis:        (T, 3) mid-hip position; pelvis_velocity (T, 3) m/s.
    effectors:     (T, 4, 3) contact points of cruxlab.joints.EFFECTOR_LIMBS (wrists; toe, else ankle, for feet).
    velocity:      (T, 4, 3) m/s of the effectors; speed (T, 4) their magnitude.
    effector_wall_distance: (T, 4) distance of each effector's contact point to the wall.
    wall_distance: (T, 21) signed distance of every joint to the wall plane (positive = away from the wall),
                   on first use; `joint_wall_distance(j)` for one joint.
    hand_order:    (T,) x of the right hand minus x of the left hand (negative = hands crossed).
    contact:       (T, 4) bool, effector on a hold (still and near the wall, with hysteresis and dwell).
    contacts:      the detector's full result: hold index per frame and effector, hold positions, thresholds.
    effector_confidence: (T, 4) the source's confidence in each effector (2D detection confidence for image
                   evidence, 0 where not seen; 1 for skeletons without confidences).
    noise_ratio:   (4,) how much the clip's noise raised each effector's stillness threshold (1 = not at all).
    motion:        (T, 4, 3) the trajectories `velocity` and the contacts' stillness come from: `effectors`,
                   or for effectors whose image patch was tracked, that flow relative to the wall fused with
                   their positions (`measured_motion`; drifts slowly, so only its changes mean anything).
    scale:         body size relative to a 1.70 m climber (body-unit thresholds are multiplied by it).
    """

    fps: float
    core: np.ndarray
    knee_angles: np.ndarray
    pelvis: np.ndarray
    pelvis_velocity: np.ndarray
    effectors: np.ndarray
    velocity: np.ndarray
    speed: np.ndarray
    effector_wall_distance: np.ndarray
    hand_order: np.ndarray
    contact: np.ndarray
    wall_normal: np.ndarray
    wall_point: np.ndarray
    raw: np.ndarray = field(repr=False)
    contacts: Contacts | None = field(default=None, repr=False)
    effector_confidence: np.ndarray | None = field(default=None, repr=False)
    noise_ratio: np.ndarray | None = None
    motion: np.ndarray | None = field(default=None, repr=False)
    scale: float = 1.0
    smooth_s: float = 0.2
    params: FeatureParams = field(default_factory=FeatureParams)

    @property
    def n_frames(self) -> int:
        return int(self.core.shape[0])

    def joint(self, j: int) -> np.ndarray:
        """(T, 3) smoothed position of joint j."""
        pos = _CORE_POS.get(j)
        return self.core[:, pos] if pos is not None else self.keypoints[:, j]

    def joint_wall_distance(self, j: int) -> np.ndarray:
        return self.joint(j) @ self.wall_normal - np.float32(self.wall_point @ self.wall_normal)

    @cached_property
    def keypoints(self) -> np.ndarray:
        return smooth(self.raw, self.fps, self.smooth_s, max_gap=max(1, int(round(self.params.max_gap_s * self.fps))))

    @cached_property
    def valid(self) -> np.ndarray:
        """(T, 21) bool: joint observed or interpolated (not inside a long gap)."""
        return ~np.isnan(self.keypoints).any(axis=2)

    @cached_property
    def wall_distance(self) -> np.ndarray:
        return self.keypoints @ self.wall_normal - np.float32(self.wall_point @ self.wall_normal)

    @cached_property
    def angles(self) -> np.ndarray:
        return joint_angles(self.keypoints)

    @cached_property
    def com(self) -> np.ndarray:
        return centre_of_mass(self.keypoints, self.valid)

    def angle(self, name: str) -> np.ndarray:
        return self.angles[:, ANGLE_INDEX[name]]


# ------------------------------------------------------------------------------------------ array helpers
def _fill_rows(cols: np.ndarray, max_gap: int) -> np.ndarray | None:
    """In place: linearly interpolate NaN runs of at most max_gap frames along axis 1 of (C, T) data (runs
    touching either end stay NaN); return the mask of NaNs that remain (None when none remain)."""
    nan = np.isnan(cols)
    rows = np.flatnonzero(nan.any(axis=1))
    if len(rows) == 0:
        return None
    T = cols.shape[1]
    for c in rows:  # per coordinate row with gaps, vectorised over its NaN runs (no per-frame loop)
        r = runs(nan[c])
        length = r[:, 1] - r[:, 0] + 1
        r = r[(r[:, 0] > 0) & (r[:, 1] < T - 1) & (length <= max_gap)]
        if len(r) == 0:
            continue
        length = r[:, 1] - r[:, 0] + 1
        left, right = r[:, 0] - 1, r[:, 1] + 1
        pos = np.repeat(r[:, 0], length) + (np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length))
        lo, hi = np.repeat(left, length), np.repeat(right, length)
        w = ((pos - lo) / (hi - lo)).astype(np.float32)
        cols[c, pos] = cols[c, lo] * (1 - w) + cols[c, hi] * w
        nan[c, pos] = False
    return nan if nan[rows].any() else None


def smooth_frames(x: np.ndarray, widths: list[int], max_gap: int = 0) -> np.ndarray:
    """Cascade of centred moving averages (odd widths, frames) along axis 0 of (T, ...) data, NaN-aware,
    after interpolating NaN gaps of at most `max_gap` frames. Works on one (columns, T) float32 copy with
    scipy's C filter: O(T) per column, a handful of passes over the data."""
    T = x.shape[0]
    cols = np.ascontiguousarray(x.reshape(T, -1).T, dtype=np.float32)
    return _smooth_rows(cols, widths, max_gap).T.reshape(x.shape)


def _smooth_rows(cols: np.ndarray, widths: list[int], max_gap: int) -> np.ndarray:
    """smooth_frames on (C, T) float32 rows, in place where possible."""
    from scipy.ndimage import uniform_filter1d

    nan = _fill_rows(cols, max_gap) if max_gap > 0 else (np.isnan(cols) if np.isnan(cols).any() else None)
    rows = np.flatnonzero(nan.any(axis=1)) if nan is not None else np.zeros(0, dtype=np.int64)
    if len(rows):  # only rows that still hold NaN (long gaps, edges) need the normalising weights
        nan = nan[rows]
        sub = cols[rows]
        sub[nan] = 0.0
        cols[rows] = sub
        weight = (~nan).astype(np.float32)
    for w in widths:
        if w > 1:
            cols = uniform_filter1d(cols, w, axis=1, mode="nearest")
            if len(rows):
                weight = uniform_filter1d(weight, w, axis=1, mode="nearest")
    if len(rows):
        with np.errstate(invalid="ignore", divide="ignore"):
            sub = cols[rows] / weight
        sub[nan] = np.nan  # never invent values where the input had none
        cols[rows] = sub
    return cols


def smooth(x: np.ndarray, fps: float, width_s: float, max_gap: int = 0) -> np.ndarray:
    """Triangular smoothing (two box filters) of total support ~width_s seconds along axis 0, after
    interpolating gaps of at most max_gap frames."""
    w = max(1, int(round(width_s * fps / 2)) | 1)
    return smooth_frames(x, [w, w], max_gap)


def joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at b (degrees) between b->a and b->c for (..., 3) arrays; NaN where any point is missing."""
    u = a - b
    v = c - b
    num = (u * v).sum(axis=-1)
    den = np.sqrt((u * u).sum(axis=-1) * (v * v).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.clip(num / den, -1.0, 1.0)
    return np.degrees(np.arccos(cos)).astype(np.float32)


def joint_angles(keypoints: np.ndarray) -> np.ndarray:
    """(T, 21, 3) joints -> (T, 8) angles in degrees, columns ANGLE_NAMES."""
    idx = np.array([a[1:] for a in ANGLES])
    return joint_angle(keypoints[:, idx[:, 0]], keypoints[:, idx[:, 1]], keypoints[:, idx[:, 2]])


# --------------------------------------------------------------------------------------------- features
def _wall_frame(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    return skeleton.normal.astype(np.float32), skeleton.point.astype(np.float32)


def compute_features(skeleton: Skeleton, params: FeatureParams | None = None, motion: np.ndarray | None = None
                     ) -> Features:
    """All per-frame features of a skeleton sequence (see module docstring).

    motion: (T, 4, 3) wall-frame trajectories of the effectors (EFFECTOR_LIMBS order) whose changes are their
    motion, where it is measured better than by their positions (moves.evidence: the image patch's flow
    relative to the wall); an all-NaN column = not measured (that effector's motion comes from its smoothed
    position), a NaN frame in a measured column = unknown. Velocity, speed and the contacts' stillness
    tests read it; where the effectors rest (holds, wall distance) still comes from the skeleton."""
    p = params or FeatureParams()
    fps = skeleton.fps
    T = skeleton.n_frames
    raw = skeleton.keypoints
    # one gather straight into (joint, xyz, frame) rows: the layout the temporal filter wants
    rows = np.ascontiguousarray(raw.transpose(1, 2, 0)[list(CORE_JOINTS)], dtype=np.float32).reshape(-1, T)
    # per-joint smoothing: each joint's jitter is measured on the clip (a pose model's ankles jump more
    # than its hips), and its kernel widened to it
    widths_s = np.full(len(CORE_JOINTS), p.smooth_s)
    if p.adaptive:
        jitter = np.array([estimate_jitter(raw, (j,)) for j in CORE_JOINTS])
        widths_s = np.clip(p.smooth_s + p.smooth_per_jitter * np.maximum(jitter - 0.005, 0.0), p.smooth_s, p.max_smooth_s)
    smooth_s = float(np.median(widths_s))
    widths = np.maximum(1, np.round(widths_s * fps / 2).astype(int)) | 1
    max_gap = max(1, int(round(p.max_gap_s * fps)))
    rows = rows.reshape(len(CORE_JOINTS), 3, T)
    for w in np.unique(widths):  # one filter pass per distinct width (usually one or two)
        sel = np.flatnonzero(widths == w)
        rows[sel] = _smooth_rows(rows[sel].reshape(-1, T), [int(w), int(w)], max_gap).reshape(len(sel), 3, T)
    core = rows.transpose(2, 0, 1)
    c = _CORE_POS
    normal, point = _wall_frame(skeleton)
    offset = np.float32(point @ normal)
    pelvis = 0.5 * (core[:, c[L_HIP]] + core[:, c[R_HIP]])
    pelvis_velocity = central_difference(pelvis, fps, p.velocity_span_s)
    knee_angles = joint_angle(core[:, [c[L_HIP], c[R_HIP]]], core[:, [c[L_KNEE], c[R_KNEE]]],
                              core[:, [c[L_ANKLE], c[R_ANKLE]]])

    # Contact points: wrists; for feet the toe, or where it is missing the heel or ankle moved by their
    # typical offset from the toe (so the point does not jump when the detector loses one of them), averaged
    # over what is seen (less noise). Skeletons without toes use the ankle, its wall distance corrected by a
    # typical ankle-to-toe depth so one threshold serves both.
    wrists = core[:, [c[L_WRIST], c[R_WRIST]]]
    ankles = core[:, [c[L_ANKLE], c[R_ANKLE]]]
    toes = core[:, [c[L_TOE], c[R_TOE]]]
    heels = core[:, [c[L_HEEL], c[R_HEEL]]]
    feet, has_toes = foot_points(toes, ankles, heels)
    ankle_wd = ankles @ normal - offset
    toe_wd = toes @ normal - offset
    foot_depth = 0.0 if has_toes else _foot_depth(ankle_wd, toe_wd)
    effectors = np.concatenate([wrists, feet], axis=1)
    eff_wall = effectors @ normal - offset
    eff_wall[:, 2:] -= foot_depth
    moving = effectors if motion is None else measured_motion(effectors, motion)
    velocity = central_difference(moving, fps, p.velocity_span_s)
    speed = np.sqrt((velocity * velocity).sum(axis=2))
    scale = body_scale(raw)
    cp = p.contact if p.adaptive else replace(p.contact, adaptive=False)
    touch = np.concatenate([wrists, feet - foot_depth * normal], axis=1)
    # the holds are where the hands grip, beyond the wrists along the forearms (cruxlab.contacts.grip_points)
    grip = grip_points(touch, raw[:, [L_ELBOW, R_ELBOW]], cp.grip_forearms)
    contacts = detect_contacts(touch, fps, wall_normal=normal, wall_point=point, params=cp, scale=scale,
                               velocity=velocity, planar=p.planar_motion, floor_y=0.0,  # wall frame: floor at y = 0
                               motion=None if motion is None else moving, grip=grip)
    contact = contacts.contact
    conf = skeleton.confidence
    with np.errstate(all="ignore"):
        feet_conf = np.stack([conf[:, [L_TOE, L_HEEL, L_ANKLE]].mean(axis=1), conf[:, [R_TOE, R_HEEL, R_ANKLE]].mean(axis=1)], 1)
    effector_confidence = np.concatenate([conf[:, [L_WRIST, R_WRIST]], feet_conf], axis=1).astype(np.float32)
    noise_ratio = np.asarray(contacts.thresholds["still_disp"]) / (cp.still_disp * scale)
    hand_order = effectors[:, 1, 0] - effectors[:, 0, 0]
    return Features(
        fps=fps, core=core, knee_angles=knee_angles, pelvis=pelvis, pelvis_velocity=pelvis_velocity,
        effectors=effectors, velocity=velocity, speed=speed, effector_wall_distance=eff_wall, contacts=contacts,
        effector_confidence=effector_confidence, noise_ratio=noise_ratio, scale=scale,
        hand_order=hand_order, contact=contact, wall_normal=normal, wall_point=point, raw=raw,
        motion=moving, smooth_s=smooth_s, params=p,
    )


def measured_motion(effectors: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """(T, 4, 3) the effectors' motion trajectories, both cues fused: in a column `motion` measures (any finite
    frame), each frame's step is the larger of its step and the (smoothed) effector's step, so an effector
    counts as still only when its image patch AND its detected position are still (a placed foot pivots and
    smears, a detector's foot point wanders: each cue alone takes the other's noise for a contact or a move);
    where one cue is unknown the other decides. Unmeasured columns are the effectors' positions. The
    trajectory starts where the effector is first seen and is NaN where the effector is not seen."""
    eff = np.asarray(effectors, dtype=np.float64)
    m = np.asarray(motion, dtype=np.float64)
    measured = np.isfinite(m[..., 0]).any(axis=0)                                       # (4,)
    out = eff.copy()
    if len(eff) < 2 or not measured.any():
        return out.astype(np.float32)
    a, b = np.diff(eff, axis=0), np.diff(m, axis=0)                                     # (T-1, 4, 3) steps
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    step = np.where((np.nan_to_num(nb, nan=-1.0) > np.nan_to_num(na, nan=-1.0))[..., None], b, a)
    track = np.concatenate([np.zeros((1, 4, 3)), np.cumsum(np.nan_to_num(step), axis=0)])
    seen = np.isfinite(eff[..., 0])
    first = np.argmax(seen, axis=0)                                                     # (4,) first seen frame
    for k in np.flatnonzero(measured & seen.any(axis=0)):  # four columns
        q = track[:, k] - track[first[k], k] + eff[first[k], k]
        out[:, k] = np.where(seen[:, k, None], q, np.nan)
    return out.astype(np.float32)


def centre_of_mass(kp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(T, 3) whole-body centre of mass from (T, 21, 3) joints; missing joints' weights are redistributed."""
    weights = COM_WEIGHTS.astype(np.float32)
    if valid.all():
        return np.einsum("tjk,j->tk", kp, weights)
    w = np.where(valid, weights[None, :], 0.0).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("tj,tjk->tk", w, np.where(valid[..., None], kp, 0.0)) / w.sum(axis=1, keepdims=True)


def estimate_jitter(kp: np.ndarray, joints: tuple[int, ...] | None = None) -> float:
    """Per-coordinate jitter (metres) of a (T, J, 3) sequence (optionally only `joints`): robust std of the
    second difference on a few thousand frames, which motion barely touches at video frame rates."""
    if len(kp) < 5:
        return 0.0
    step = max(1, (len(kp) - 2) // 4000)
    mid = np.arange(1, len(kp) - 1, step)
    sel = slice(None) if joints is None else list(joints)
    r = kp[mid][:, sel] - 0.5 * (kp[mid + 1][:, sel] + kp[mid - 1][:, sel])
    r = np.abs(r[np.isfinite(r)])
    return float(1.4826 * np.median(r) / np.sqrt(1.5)) if len(r) else 0.0


def foot_points(toes: np.ndarray, ankles: np.ndarray, heels: np.ndarray) -> tuple[np.ndarray, bool]:
    """(T, 2, 3) contact point of each foot and whether it is toe-based: the mean over the toe, heel and
    ankle that are known in a frame, each moved by its median offset from the reference joint (the toe, or
    the ankle for skeletons without toes), so the point stays put when the detector loses one of them."""
    has_toes = bool(np.isfinite(toes[..., 0]).any())
    ref = toes if has_toes else ankles
    parts = [ref]
    for other in ((ankles, heels) if has_toes else (heels,)):
        d = (other - ref).reshape(-1, 2, 3)[:: max(1, len(ref) // 20000)]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)          # a joint the skeleton never has
            off = np.nanmedian(d, axis=0)                             # (2, 3) per foot
        if np.isfinite(off).all():
            parts.append(other - off)
    stack = np.stack(parts)
    n = np.isfinite(stack[..., 0]).sum(axis=0)                        # (T, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.nansum(stack, axis=0) / n[..., None]
    out[n == 0] = np.nan
    return out.astype(np.float32), has_toes


def _foot_depth(ankle_wd: np.ndarray, toe_wd: np.ndarray) -> float:
    """How much farther from the wall the ankle is than the toe, from frames with both (8 cm when the
    skeleton has no toes)."""
    d = (ankle_wd - toe_wd)[:: max(1, len(ankle_wd) // 20000)].reshape(-1)
    d = d[np.isfinite(d)]
    return float(np.clip(np.median(d), 0.0, 0.2)) if len(d) > 10 else 0.08
