"""Which hand or foot is on a hold, and on which one: the contact detector of reconstruction and moves.

    c = detect_contacts(points, fps, wall_normal=n, wall_point=p0, scale=body_scale)
    c.contact (T, 4) bool, c.hold (T, 4) hold index or -1, c.holds (K, 3) hold positions

`points` are the four end-effectors (cruxlab.joints.EFFECTOR_LIMBS order: wrists; a foot point) in a frame
where the wall does not move: the wall frame of a lifted skeleton, or better the image evidence of
moves.evidence (camera motion removed, depth noise removed). An effector is **on a hold** when

1. it is still: its speed and its displacement over `window_s` are below thresholds (hysteresis: it
   leaves only above larger ones); along the wall only with `planar` (image evidence, whose distance from
   the wall is a smoothed guess), else in 3D, and
2. this lasts `min_contact_s` (flights shorter than `min_flight_s` are jitter), and
3. the 3D cue does not veto it: a still stretch whose median distance from the wall plane is beyond `near`
   is an effector held off the wall (a flag), unless it lasts `hand_trust_s` / `foot_trust_s` (a single
   camera's depth wobbles by decimetres while a hand holds still; nobody holds a hand still in the air for
   a second). Skipped when no wall is known, and for feet without `veto_feet`.

Every threshold is in body units: metres for a 1.70 m climber, multiplied by `scale` (climber height / 1.70).
With `adaptive`, thresholds also grow with the noise measured on the clip itself, per kind of effector: the
resting level of the hands' (feet's) speed and displacement (the 25th percentile of the stiller hand or
foot: it rests at least a quarter of the time), and the wall-distance scatter of still effectors (a badly fitted wall plane or a
depth-noisy lift spreads holds by decimetres around it). Where a separate `motion` measures how the
effectors move (moves.evidence: their image patches' flow relative to the wall, fused with their positions),
speed and displacement come from it, and with `noise_per_effector` each effector's own resting level counts
(a foot that smears and pivots on every placement rests at a higher level than one standing on a jug).
An unknown position (NaN: hidden, not detected) decides nothing: the last state carries on, so a hand
hidden behind the body stays on its hold.

**Holds**: each contact run is summarised by where the effector held on, on the wall plane: the median over
the run (the frames where the hand arrives or starts to leave, and a detector's few frames on the other
wrist, do not drag it); for a hand the grip (`grip_points`: the middle of the hand, beyond the wrist along
the forearm) when the caller gives it, since the hold is under the fingers, not the wrist: two hands matched
on one hold have their wrists a hand's width or more apart (forearms converging on the hold from both
sides), their grips closer (the tripod clip's sit start: run centres 11 cm apart by the wrists, 7.7 cm by
the grips; the roof clip's match: 12 -> 7 cm). Runs are clustered in time order (a run within
`hand_hold_radius` / `foot_hold_radius` of a hold's first contact is on that hold; hands and feet
separately), so a contact is "on hold k". A wrist pivots about its grip by up to a hand length, hence the
larger hand radius. A move is a change of hold (`flights`); lifting a foot and putting it back on the same
hold is not one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cruxlab.intervals import cover, runs
from cruxlab.signal import central_difference, drop_short_runs, hysteresis, seg_mean, seg_median, window_displacement

HANDS, FEET = (0, 1), (2, 3)


@dataclass(frozen=True)
class ContactParams:
    """Contact thresholds in metres (for a 1.70 m climber; scaled by body size), m/s and seconds."""

    velocity_span_s: float = 0.12  # central-difference span of the speed
    window_s: float = 0.25         # displacement window: slow but steady motion still leaves the hold
    still_speed: float = 0.20      # slower than this may be on a hold
    move_speed: float = 0.40       # faster than this has left it
    still_disp: float = 0.035      # moved less than this within window_s may be on a hold
    move_disp: float = 0.06        # more than this has left it
    hand_near: float = 0.16        # wrist within this of the wall plane can hold
    foot_near: float = 0.16        # foot point within this of the wall plane can hold
    near_per_frame: bool = False   # the nearness test as a gate in every frame (the lift's), not a veto
    keep_edge_runs: bool = True    # contacts touching the first/last frame count however short
    floor_tol: float = 0.15        # within this of floor_y a foot stands on the floor, off the wall or not
    hand_trust_s: float = 1.0      # a hand still this long is on a hold whatever the depth says (nobody
    foot_trust_s: float = 2.0      # holds a hand still in the air that long; a flag is held < 2 s)
    veto_feet: bool = True         # the 3D cue may veto a foot's contact (off for image evidence, whose foot
                                   # depth is a guess that kickers and volumes put decimetres off the plane)
    min_contact_s: float = 0.12    # shorter contacts are jitter
    min_flight_s: float = 0.10     # shorter flights are jitter
    adaptive: bool = True          # raise thresholds to the noise measured on the clip
    noise_per_effector: bool = True  # measured motion (image flow): each effector's own resting level
    noise_gain_still: float = 2.0  # still below this many times an effector's resting speed / displacement
    noise_gain_move: float = 3.0   # moving above this many times
    near_gain: float = 3.0         # near widened to median + near_gain x MAD of still effectors' wall distance
    hand_hold_radius: float = 0.12  # contacts of hands within this of each other are on one hold
    foot_hold_radius: float = 0.12
    grip_forearms: float = 0.33    # the middle of a hand, in forearm lengths beyond the wrist (`grip_points`)


@dataclass(frozen=True)
class Contacts:
    """Contacts of one attempt (T frames, cruxlab.joints.EFFECTOR_LIMBS order).

    contact: (T, 4) bool on a hold; hold: (T, 4) int index into `holds` while on a hold, else -1;
    holds: (K, 3) float hold positions (mean of the contact runs' centres on them, wall frame); hold_kind: (K,) 0 for
    hand holds, 1 for foot holds; thresholds: the thresholds used after noise adaptation (per effector)."""

    contact: np.ndarray
    hold: np.ndarray
    holds: np.ndarray
    hold_kind: np.ndarray
    thresholds: dict = field(default_factory=dict)

    def contact_runs(self, k: int) -> np.ndarray:
        """(R, 3) [start, end, hold] of effector k's contacts (inclusive frames)."""
        r = runs(self.contact[:, k])
        if len(r) == 0:
            return np.zeros((0, 3), dtype=np.int64)
        return np.column_stack([r, self.hold[r[:, 0], k]])

    def flights(self, k: int) -> np.ndarray:
        """(F, 4) [start, end, from_hold, to_hold] of effector k: the frames between two contacts on
        different holds (a return to the same hold is no flight)."""
        r = self.contact_runs(k)
        if len(r) < 2:
            return np.zeros((0, 4), dtype=np.int64)
        change = r[1:, 2] != r[:-1, 2]
        out = np.column_stack([r[:-1, 1] + 1, r[1:, 0] - 1, r[:-1, 2], r[1:, 2]])[change]
        return out[out[:, 1] >= out[:, 0]]


def resting_level(x: np.ndarray, q: float = 0.25) -> np.ndarray:
    """(K,) per-column level of (T, K) non-negative signals that a still effector stays under: the q-quantile
    of its known values (0 where none is known)."""
    with np.errstate(all="ignore"):
        out = np.nanquantile(x, q, axis=0) if np.isfinite(x).any() else np.zeros(x.shape[1])
    return np.nan_to_num(np.atleast_1d(out), nan=0.0)


def grip_points(points: np.ndarray, elbows: np.ndarray, forearms: float) -> np.ndarray:
    """(T, 4, 3) where each effector holds on: for the hands (columns 0, 1) `forearms` forearm lengths beyond
    the wrist along the elbow -> wrist line, the middle of the hand (OpenPose centres its hand boxes at 0.33;
    half a hand length, 0.054 of the body height, is 0.37 of the forearm's 0.146 by Winter's segment
    lengths); the feet's points as they are. elbows: (T, 2, 3) left, right. Where an elbow is unknown the
    offset is interpolated from the frames around (a hand on a hold hardly turns); never known: the wrist."""
    from cruxlab.signal import fill_gaps

    out = np.array(points, dtype=np.float64, copy=True)
    offset = fill_gaps(out[:, :2] - np.asarray(elbows, dtype=np.float64))
    out[:, :2] += forearms * np.nan_to_num(offset)
    return out


def _cluster(centres: np.ndarray, radius: float) -> np.ndarray:
    """Cluster labels (0..K-1) of (N, D) points in order: a point within `radius` of a cluster's first point
    joins it (the nearest such cluster), else starts a new one. Neighbours come from one KD-tree query."""
    if len(centres) == 0:
        return np.zeros(0, dtype=np.int64)
    # contacts at the same place (to the centimetre) share a hold: cluster each place once, in order of its
    # first contact (a long session returns to the same holds thousands of times)
    _, first, back = np.unique(np.round(centres / 0.01).astype(np.int64), axis=0, return_index=True,
                               return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    places = centres[first[order]]
    return _leader(places, radius)[rank[back.reshape(-1)]]


def _leader(centres: np.ndarray, radius: float) -> np.ndarray:
    """Leader clustering of (N, D) points in order (see `_cluster`)."""
    from scipy.spatial import cKDTree

    n = len(centres)
    labels = np.full(n, -1, dtype=np.int64)
    neighbours = cKDTree(centres).query_ball_point(centres, radius)
    seed_label: dict[int, int] = {}
    for i in range(n):  # one pass over the contacts (hundreds per attempt), cheap list work each
        seeds = [j for j in neighbours[i] if j < i and j in seed_label]
        if seeds:
            d = np.linalg.norm(centres[seeds] - centres[i], axis=1) if len(seeds) > 1 else None
            labels[i] = seed_label[seeds[int(np.argmin(d))] if d is not None else seeds[0]]
        else:
            labels[i] = seed_label[i] = len(seed_label)
    return labels


def detect_contacts(points: np.ndarray, fps: float, *, wall_normal: np.ndarray | None = None,
                    wall_point: np.ndarray | None = None, params: ContactParams | None = None,
                    scale: float = 1.0, velocity: np.ndarray | None = None, planar: bool = False,
                    floor_y: float | None = None, motion: np.ndarray | None = None,
                    grip: np.ndarray | None = None) -> Contacts:
    """Contacts of the four effectors (see the module docstring).

    points: (T, 4, 3) effector positions (cruxlab.joints.EFFECTOR_LIMBS order), metres, a frame fixed to the wall; NaN = unknown.
    wall_normal, wall_point: the wall plane (normal out of the wall) or None (no nearness test; motion and
    holds measured in full 3D). scale: body size relative to a 1.70 m climber. velocity: (T, 4, 3) m/s if the
    caller has it (else a central difference over `velocity_span_s`). planar: measure motion along the wall
    only (for points whose distance from the wall is a smoothed guess, like image evidence); else in 3D.
    floor_y: the floor's height (y, the wall frame's up) if known: standing there is a contact wherever the
    wall plane is. motion: (T, 4, 3) trajectories whose changes are the effectors' motion when it is measured
    better than their positions (image flow relative to the wall: moves.evidence), else `points`; speed and
    displacement are taken from it, where the effectors rest (holds, the wall distance) from `points`.
    grip: (T, 4, 3) where each effector holds on (`grip_points`: a hand's grip lies beyond its wrist), if the
    caller knows it: the holds are placed from it (on the wall plane); else from `points`."""
    p = params or ContactParams()
    pts = np.asarray(points, dtype=np.float32)
    T = pts.shape[0]
    if wall_normal is not None:
        n = np.asarray(wall_normal, dtype=np.float32)
        n = n / np.linalg.norm(n)
        w0 = np.zeros(3, np.float32) if wall_point is None else np.asarray(wall_point, dtype=np.float32)
        wall_d = (pts - w0) @ n                                         # (T, 4)
        plane = pts - wall_d[..., None] * n                             # positions on the wall plane
    else:
        wall_d = np.full((T, 4), np.nan, np.float32)
        plane = pts
    moving = plane if planar else pts
    if motion is not None:
        moving = np.asarray(motion, dtype=np.float32)
        if planar and wall_normal is not None:
            moving = moving - (moving @ n)[..., None] * n
    vel = central_difference(moving, fps, p.velocity_span_s) if velocity is None else np.asarray(velocity)
    if planar and wall_normal is not None and velocity is not None:
        vel = vel - (vel @ n)[..., None] * n                            # motion along the wall only
    speed = np.sqrt((vel * vel).sum(axis=-1))
    disp = window_displacement(moving, fps, p.window_s)

    s = float(scale)
    still_speed = np.full(4, p.still_speed * s)
    move_speed = np.full(4, p.move_speed * s)
    still_disp = np.full(4, p.still_disp * s)
    move_disp = np.full(4, p.move_disp * s)
    near = np.array([p.hand_near, p.hand_near, p.foot_near, p.foot_near]) * s
    if p.adaptive and T > 2:
        sample = slice(None, None, max(1, T // 20000))
        # noise per kind of effector: both hands (both feet) come from one detector at similar visibility,
        # and the stiller of the two tells its resting level even when the other one hardly ever rests
        rest_speed, rest_disp = resting_level(speed[sample]), resting_level(disp[sample])
        for g in (list(HANDS), list(FEET)):
            if not (p.noise_per_effector and motion is not None and np.isfinite(motion[:, g]).any()):
                rest_speed[g], rest_disp[g] = rest_speed[g].min(), rest_disp[g].min()
        still_speed = np.maximum(still_speed, p.noise_gain_still * rest_speed)
        move_speed = np.maximum(move_speed, p.noise_gain_move * rest_speed)
        still_disp = np.maximum(still_disp, p.noise_gain_still * rest_disp)
        move_disp = np.maximum(move_disp, p.noise_gain_move * rest_disp)
        if wall_normal is not None:
            near = np.maximum(near, _near_from_scatter(wall_d, (speed < still_speed) & (disp < still_disp), fps, p))
    with np.errstate(invalid="ignore"):
        unknown = np.isnan(speed) | np.isnan(disp)
        on = (speed < still_speed) & (disp < still_disp) & ~unknown
        off = ((speed > move_speed) | (disp > move_disp)) & ~unknown
        if p.near_per_frame and wall_normal is not None:  # a hard gate in every frame instead of the veto
            far = ~(np.abs(wall_d) < near)
            on, off = on & ~far, off | (far & ~np.isnan(wall_d))
    state = hysteresis(on, off)
    min_flight = max(1, int(round(p.min_flight_s * fps)))
    min_contact = max(1, int(round(p.min_contact_s * fps)))
    trust = np.array([p.hand_trust_s, p.hand_trust_s, p.foot_trust_s, p.foot_trust_s]) * fps
    for k in range(4):
        st = drop_short_runs(state[:, k], min_flight, value=False)
        st = drop_short_runs(st, min_contact, value=True)
        if not p.keep_edge_runs:
            st = _drop_short_edge_runs(st, min_contact)
        if wall_normal is not None and not p.near_per_frame and (k in HANDS or p.veto_feet):
            # the 3D cue: held off the wall is not on a hold
            r = runs(st)
            if len(r):
                d = seg_mean(wall_d[:, k], r[:, 0], r[:, 1])            # NaN (all unknown): no veto
                y = seg_mean(pts[:, k, 1], r[:, 0], r[:, 1])
                with np.errstate(invalid="ignore"):
                    on_floor = (np.abs(y - floor_y) <= p.floor_tol * s) if floor_y is not None else np.zeros(len(r), bool)
                    veto = (d > near[k]) & (r[:, 1] - r[:, 0] + 1 < trust[k]) & ~on_floor
                st = st & ~cover(len(st), r[veto])
        state[:, k] = st
    radius = np.array([p.hand_hold_radius, p.hand_hold_radius, p.foot_hold_radius, p.foot_hold_radius]) * s
    held = plane                                                        # where each effector held on
    if grip is not None:
        held = np.asarray(grip, dtype=np.float32)
        if wall_normal is not None:
            held = held - ((held - w0) @ n)[..., None] * n
    hold, holds, kind = _assign_holds(state, held, (radius[0], radius[2]))
    thresholds = {"still_speed": still_speed.round(3).tolist(), "still_disp": still_disp.round(3).tolist(),
                  "move_speed": move_speed.round(3).tolist(), "move_disp": move_disp.round(3).tolist(),
                  "near": np.round(near, 3).tolist(), "hold_radius": np.round(radius, 3).tolist()}
    return Contacts(state, hold, holds, kind, thresholds)


def _drop_short_edge_runs(state: np.ndarray, min_len: int) -> np.ndarray:
    """Contact runs touching either end that are shorter than min_len frames, removed."""
    out = state.copy()
    for a, b in runs(state):
        if (a == 0 or b == len(state) - 1) and b - a + 1 < min_len:
            out[a:b + 1] = False
    return out


def _near_from_scatter(wall_d: np.ndarray, still: np.ndarray, fps: float, p: ContactParams) -> np.ndarray:
    """(4,) nearness thresholds from the clip's own depth noise: the still effectors' wall distance,
    median + near_gain x MAD per group (hands, feet: a plane fitted through holds on volumes, or a roof taken
    for a vertical wall, puts every hold decimetres off it), plus near_gain x the effector's own fluctuation
    about its 2-second running mean (a single camera's depth wobbles while the hand holds still)."""
    from scipy.ndimage import uniform_filter1d

    out = np.zeros(4)
    filled = np.where(np.isfinite(wall_d), wall_d, np.nanmedian(wall_d) if np.isfinite(wall_d).any() else 0.0)
    trend = uniform_filter1d(filled, max(3, int(round(2.0 * fps)) | 1), axis=0, mode="nearest")
    wobble = np.where(np.isfinite(wall_d), wall_d - trend, np.nan)
    for group in (HANDS, FEET):
        d = wall_d[:, group][still[:, group]]
        d = d[np.isfinite(d)]
        if len(d) < 10:
            continue
        med = float(np.median(d))
        out[list(group)] = med + p.near_gain * 1.4826 * float(np.median(np.abs(d - med)))
    for k in range(4):
        w = wobble[still[:, k], k]
        w = w[np.isfinite(w)]
        if len(w) >= 10:
            out[k] += p.near_gain * 1.4826 * float(np.median(np.abs(w - np.median(w))))
    return out


def _assign_holds(state: np.ndarray, plane: np.ndarray, radius: tuple[float, float]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hold index per frame and effector, hold positions and kinds from the contact runs (each run's median
    position, clustered in the order the runs begin)."""
    T = state.shape[0]
    hold = np.full((T, 4), -1, dtype=np.int64)
    holds, kinds = [], []
    for kind, group in enumerate((HANDS, FEET)):
        rows = []
        for k in group:
            r = runs(state[:, k])
            if len(r):
                c = seg_median(plane[:, k], r[:, 0], r[:, 1])           # (R, 3) where each contact rested
                rows += [(k, int(a), int(b), cc) for (a, b), cc in zip(r, c)]
        if not rows:
            continue
        rows.sort(key=lambda row: (row[1], row[0]))                      # time order: the first contact leads
        centres = np.array([r[3] for r in rows], dtype=np.float64)
        known = np.isfinite(centres).all(axis=1)
        labels = np.full(len(rows), -1, dtype=np.int64)
        labels[known] = _cluster(centres[known], radius[kind])
        # a run never seen (hidden the whole time) is a hold of its own
        nxt = labels.max() + 1 if known.any() else 0
        for i in np.flatnonzero(~known):
            labels[i] = nxt
            nxt += 1
        base = len(holds)
        K = int(labels.max()) + 1
        total, count = np.zeros((K, 3)), np.zeros((K, 1))
        ok = np.isfinite(centres).all(axis=1)
        np.add.at(total, labels[ok], centres[ok])
        np.add.at(count, labels[ok], 1.0)
        with np.errstate(all="ignore"):
            holds += list(np.where(count > 0, total / count, np.nan))     # mean of the contacts on each hold
        kinds += [kind] * K
        for (k, a, b, _), lab in zip(rows, labels):
            hold[a:b + 1, k] = base + lab
    H = np.array(holds, dtype=np.float64).reshape(-1, 3)
    return hold, H, np.array(kinds, dtype=np.int64)
