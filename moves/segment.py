"""Candidate move segments and their features, vectorised over frames and candidates.

Candidates (one row each), from the per-frame features:
- hand / foot: a flight of an end-effector between two different holds, lift-off to arrival (by position);
- posture: a foot off every hold with the leg extended and out to its own side or crossed behind the other
  leg (DESIGN.md's flag posture, thresholds `posture_*`), jitter gaps bridged;
- rise: a run of the pelvis going up;
- air: both hands off their holds at once (a dyno lets go with both; a one-hand throw is a reach).

Each row gets a fixed-length feature vector (FEATURE_NAMES, NaN where a feature does not apply), so a
rule classifier with thresholds and a learned classifier read the same table (moves.classify).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cruxlab.intervals import cover, runs
from cruxlab.joints import EFFECTOR_LIMBS, L_ANKLE, R_ANKLE
from cruxlab.signal import bridge, seg_max, seg_mean, seg_sum, segment_frames  # noqa: F401 (re-exported)
from moves.features import Features
from moves.onwall import OnWall, on_wall

KINDS: tuple[str, ...] = ("hand", "foot", "posture", "rise", "air")
SIDE = np.array([-1.0, 1.0, -1.0, 1.0])  # own side along x for EFFECTOR_LIMBS

FEATURE_NAMES: tuple[str, ...] = (
    "kind_hand", "kind_foot", "kind_posture", "kind_rise", "kind_air",
    "duration_s", "is_left", "valid_frac",
    # flights
    "displacement", "peak_speed", "start_in_air", "rise_overlap",
    # hands
    "other_dist_end", "cross_beyond", "start_own_side", "other_moving_frac",
    # feet: the flag posture inside the flight
    "flight_posture_s", "flight_posture_knee", "flight_posture_lateral", "flight_posture_crossed",
    # posture rows
    "posture_knee", "posture_lateral", "posture_crossed", "posture_wall_dist", "other_foot_on_frac",
    # rises
    "rise_m", "foot_high", "knee_start", "knee_end", "shift_over_foot", "foot_contact_frac",
    # air
    "air_rise", "takeoff_speed", "takeoff_gap_s",
)
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True)
class SegmentParams:
    """Thresholds that decide which stretches become candidates (not what they are called)."""

    refine_s: float = 0.3            # s: flight boundaries may move this far out of the contact gap
    posture_knee: float = 140.0      # deg: leg extended (DESIGN.md flag)
    posture_lateral: float = 0.30    # m: ankle out to its own side of the pelvis centre
    posture_cross: float = 0.05      # m: ankle beyond the other ankle (crossed behind the other leg)
    posture_min_s: float = 0.15      # shorter posture runs are not candidates
    posture_bridge_s: float = 0.12   # gaps this short inside a posture are jitter
    flag_still_s: float = 0.2        # a foot "contact" this brief while the leg stays extended and out in the
                                     # flag posture is the flag held still, not a foothold (standing on a hold
                                     # takes longer; image flow sees a held-out foot as still as a placed one)
    dab_s: float = 0.2               # a foot touching another hold this briefly and returning to the one it
                                     # left put no weight there (a dab, a readjustment): no move either way
    rise_speed: float = 0.06         # m/s: the pelvis is rising
    rise_min_m: float = 0.08         # smaller rises are not candidates
    rise_bridge_s: float = 0.15
    air_min_s: float = 0.06          # all limbs off at least this long
    seen_confidence: float = 0.5     # an effector detected below this is not seen (moves.evidence's line)


@dataclass(frozen=True)
class Candidates:
    """N candidate segments of one attempt.

    kind: (N,) index into KINDS; limb: (N,) str (LIMBS); start, end: (N,) inclusive frames;
    X: (N, len(FEATURE_NAMES)) float32 features, NaN where not applicable.
    """

    kind: np.ndarray
    limb: np.ndarray
    start: np.ndarray
    end: np.ndarray
    X: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    @staticmethod
    def concat(parts: list["Candidates"]) -> "Candidates":
        if not parts:
            return Candidates(np.zeros(0, np.int64), np.zeros(0, dtype=object), np.zeros(0, np.int64),
                              np.zeros(0, np.int64), np.zeros((0, len(FEATURE_NAMES)), np.float32))
        return Candidates(*(np.concatenate([getattr(p, a) for p in parts]) for a in ("kind", "limb", "start", "end", "X")))


# ------------------------------------------------------------------------------------ vectorised helpers
def _empty_X(n: int) -> np.ndarray:
    return np.full((n, len(FEATURE_NAMES)), np.nan, dtype=np.float32)


def _overlap_frac(start: np.ndarray, end: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return seg_sum(mask.astype(np.float64), start, end) / (end - start + 1)


# --------------------------------------------------------------------------------------- candidates
def flag_posture(f: Features, p: SegmentParams
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per foot (T, 2): posture mask (foot off every hold, knee extended, out to its side or crossed behind),
    knee angle, lateral offset of the ankle from the pelvis centre (own side positive), crossed flag, and the
    contacts that are a flag held still: shorter than `flag_still_s`, the leg keeping that shape throughout
    (`flag_still_contacts`); they count as off."""
    ankles = np.stack([f.joint(L_ANKLE), f.joint(R_ANKLE)], axis=1)
    side = SIDE[2:]
    lateral = side * (ankles[:, :, 0] - f.pelvis[:, 0:1])
    other_x = ankles[:, ::-1, 0]
    wd = np.stack([f.joint_wall_distance(L_ANKLE), f.joint_wall_distance(R_ANKLE)], axis=1)
    crossed = (side * (ankles[:, :, 0] - other_x) < -p.posture_cross) & (wd > wd[:, ::-1] + 0.05)
    knee = f.knee_angles
    with np.errstate(invalid="ignore"):
        shape = (knee > p.posture_knee) & ((lateral >= p.posture_lateral) | crossed)
    still = flag_still_contacts(f.contact[:, 2:], shape, max(1, int(round(p.flag_still_s * f.fps))),
                                _held_off_the_wall(f))
    return (~f.contact[:, 2:] | still) & shape, knee, lateral, crossed, still


def _held_off_the_wall(f: Features) -> list[np.ndarray] | None:
    """Per foot, per contact run: its mean distance from the wall beyond the contact detector's `near` (the
    depth cue's verdict, which cruxlab.contacts applies itself unless `veto_feet` is off), shorter than the
    detector's foot_trust_s; None when the contacts carry no nearness thresholds."""
    near = f.contacts.thresholds.get("near") if f.contacts is not None else None
    if near is None:
        return None
    trust = f.params.contact.foot_trust_s * f.fps
    out = []
    for j in range(2):
        r = runs(f.contact[:, 2 + j])
        if len(r) == 0:
            out.append(np.zeros(0, bool))
            continue
        d = seg_mean(f.effector_wall_distance[:, 2 + j], r[:, 0], r[:, 1])
        with np.errstate(invalid="ignore"):
            out.append((d > near[2 + j]) & (r[:, 1] - r[:, 0] + 1 < trust))
    return out


def flag_still_contacts(contact: np.ndarray, shape: np.ndarray, max_frames: int, off_wall: np.ndarray | None = None
                        ) -> np.ndarray:
    """(T, 2) bool: the frames of foot contacts (T, 2) of at most `max_frames` whose every frame holds the flag
    shape (`shape` (T, 2): leg extended, out to its side or crossed behind) while the other foot stands on a
    hold, and that touch a frame of the shape off any hold: a flag held still for a moment, which the contact
    detector cannot tell from a placement (stillness along the wall is all it sees), not a foothold. With the
    other foot off its hold, the brief contact may be the only foot bearing weight (a foot crossed through
    onto a hold): it stays a contact. Longer such contacts count too where `off_wall` (per foot, (R,) bool per
    contact run) says the foot is held away from the wall: the depth cue (a guess for image evidence, so it
    vetoes no contact on its own: cruxlab.contacts' veto_feet) confirming what the leg's shape says."""
    out = np.zeros(contact.shape, dtype=bool)
    T = len(contact)
    free = shape & ~contact                                   # the flag shape, off any hold
    for j in range(contact.shape[1]):  # two feet, vectorised over their contact runs
        r = runs(contact[:, j])
        if len(r) == 0:
            continue
        a, b = r[:, 0], r[:, 1]
        unshaped = seg_sum((~shape[:, j] | ~contact[:, 1 - j]).astype(np.float64), a, b)
        touches = free[np.maximum(a - 1, 0), j] & (a > 0) | free[np.minimum(b + 1, T - 1), j] & (b + 1 < T)
        held = (b - a + 1 <= max_frames) if off_wall is None else (b - a + 1 <= max_frames) | off_wall[j]
        keep = held & (unshaped == 0) & touches
        out[:, j] = cover(T, r[keep])
    return out


def propose(f: Features, p: SegmentParams | None = None, wall: OnWall | None = None) -> Candidates:
    """All candidate segments of one attempt with their features: only on the wall (`wall`, by default
    moves.onwall.on_wall(f)), and no flight from or to the floor (stepping on, stepping off)."""
    p = p or SegmentParams()
    wall = wall if wall is not None else on_wall(f)
    T, fps = f.n_frames, f.fps
    posture, knee2, lateral2, crossed2, flag_still = flag_posture(f, p)
    # a foot that flies into a flag and holds it still there for a moment moved into the flag (the flag is
    # the move), not onto a hold: no flight ends on such a moment (the flight out of it to a hold is a move)
    flights = [flight_intervals(f, p, k, wall.floor_holds, into=None if k < 2 else flag_still[:, k - 2])
               for k in range(4)]
    # in the air: both hands in flight between holds at once (the seen part of each flight); the feet may
    # stay or go
    in_flight = np.zeros((T, 2), dtype=bool)
    for k in range(2):
        _, starts, ends, departed = flights[k]
        for s, e in zip(starts[departed], ends[departed]):
            in_flight[s:e + 1, k] = True
    air_mask = bridge(in_flight.all(axis=1), 1)
    air = runs(air_mask)
    air = air[(air[:, 1] - air[:, 0] + 1) >= max(2, int(round(p.air_min_s * fps)))] if len(air) else air
    in_air = np.zeros(T, dtype=bool)
    for s, e in air:  # few runs
        in_air[max(0, s - 2):e + 1] = True

    # pelvis rises
    vy = f.pelvis_velocity[:, 1]
    rising = bridge(np.nan_to_num(vy) > p.rise_speed, max(1, int(round(p.rise_bridge_s * fps))))
    rise = runs(rising)
    if len(rise):
        gain = f.pelvis[np.minimum(rise[:, 1], T - 1), 1] - f.pelvis[rise[:, 0], 1]
        rise = rise[np.nan_to_num(gain) >= p.rise_min_m]
    rise_mask = np.zeros(T, dtype=bool)
    for s, e in rise:
        rise_mask[s:e + 1] = True

    parts = [
        _flights(f, k, flights[k], in_air, rise_mask, posture, knee2, lateral2, crossed2,
                 max(1, int(round(p.posture_bridge_s * fps)))) for k in range(4)
    ]
    parts += [_postures(f, p, k, posture, knee2, lateral2, crossed2) for k in range(2)]
    parts.append(_rises(f, p, rise, knee2))
    parts.append(_airs(f, air))
    return _on_the_wall(Candidates.concat([c for c in parts if len(c)]), wall)


def _on_the_wall(c: Candidates, wall: OnWall) -> Candidates:
    """Candidates at least half on the wall, cut to the on-the-wall interval."""
    keep = np.array([wall.contains(int(s), int(e)) for s, e in zip(c.start, c.end)], dtype=bool)
    return Candidates(c.kind[keep], c.limb[keep], np.maximum(c.start[keep], wall.start_frame),
                      np.minimum(c.end[keep], wall.end_frame), c.X[keep])


def flight_intervals(f: Features, p: SegmentParams, k: int, floor_holds: tuple[int, ...] = (),
                     edges: bool = True, into: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Effector k's flights between two different holds: (F, 2) frames between the contacts, and the move
    interval (start, end) of each (lift-off to arrival, `_leave_and_land`), cut to the part that was seen,
    and whether its departure was seen (False for a flight already under way when the video starts, kept
    with `edges`). A flag that never returns is a posture candidate on its own; a foot lifted and put back
    on the same hold is no move; flights from or to `floor_holds` are stepping on or off, not moves; flights
    that arrive on a frame of `into` (T,) bool (a flag held still: `flag_still_contacts`) are no moves, and a
    foot's flights to and from a dab (`dabs`) neither."""
    fps = f.fps
    fl = f.contacts.flights(k)
    fl = fl[~np.isin(fl[:, 2], floor_holds) & ~np.isin(fl[:, 3], floor_holds), :2]
    if into is not None and len(fl):
        fl = fl[~into[np.minimum(fl[:, 1] + 1, f.n_frames - 1)]]
    if k >= 2 and len(fl):
        d = dabs(f.contacts.contact_runs(k), max(1, int(round(p.dab_s * fps))))
        fl = fl[~np.isin(fl[:, 1], d[:, 0] - 1) & ~np.isin(fl[:, 0], d[:, 1] + 1)]
    cut = _cut_by_the_video(f, k) if edges else np.zeros((0, 2), np.int64)
    fl = np.concatenate([cut, fl])
    if len(fl) == 0 and not edges:
        return fl, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    pos = (f.effectors if f.motion is None else f.motion)[:, k]   # how it moved (image flow where tracked)
    if f.params.planar_motion:  # on the wall plane
        pos = pos - (pos @ f.wall_normal)[:, None] * f.wall_normal
    start, end = _leave_and_land(pos, fl, f.contacts.thresholds["still_disp"][k], int(round(p.refine_s * fps)),
                                 f.contact[:, k])
    start, end = _seen_part(np.isnan(f.effectors[:, k, 0]), start, end)
    return fl, start, end, np.arange(len(fl)) >= len(cut)


def dabs(r: np.ndarray, max_frames: int) -> np.ndarray:
    """(D, 2) the contact runs among `r` (R, 3: start, end, hold) of at most `max_frames` on another hold than
    the runs before and after, which share one: the foot touched a hold for a moment and went back to the
    one it left, so neither flight moved it (like a foot lifted and put back, which is no flight at all)."""
    if len(r) < 3:
        return np.zeros((0, 2), np.int64)
    h = r[:, 2]
    mid = np.arange(1, len(r) - 1)
    dab = (h[mid] != h[mid - 1]) & (h[mid - 1] == h[mid + 1]) & (r[mid, 1] - r[mid, 0] + 1 <= max_frames)
    return r[mid[dab], :2]


def _cut_by_the_video(f: Features, k: int) -> np.ndarray:
    """(0 or 1, 2) the flight of effector k already under way when the video starts: seen moving before its
    first contact, from farther than two hold radii from where it then holds (its departure is unknown)."""
    c = f.contacts
    r = c.contact_runs(k)
    seen = np.flatnonzero(~np.isnan(f.effectors[:, k, 0]))
    if len(r) == 0 or len(seen) == 0:
        return np.zeros((0, 2), np.int64)
    first, a = int(seen[0]), int(r[0, 0])
    radius = c.thresholds["hold_radius"][k]
    if a - first < max(2, int(round(0.1 * f.fps))):
        return np.zeros((0, 2), np.int64)
    moved = np.linalg.norm(f.effectors[first, k] - f.effectors[a, k])
    return np.array([[first, a - 1]], np.int64) if moved > 2 * radius else np.zeros((0, 2), np.int64)


def _leave_and_land(pos: np.ndarray, fl: np.ndarray, tol: float, reach: int, contact: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Move intervals of flights `fl` (frames between two contacts) from positions: lift-off = the first frame
    (from `reach` frames before the flight) farther than `tol` from where the effector rested at the end of
    its contact, arrival = the first frame after which it stays within `tol` of where it rests next (at most
    `reach` frames after the flight). Smoothed speeds would smear both by a smoothing width. With the
    effector's `contact` mask (T,), both searches stay inside the contacts next to the flight (a foot that
    rests three frames between two moves rests there, not in the moves around it). Vectorised over flights
    (one pass over the frames inside them)."""
    T = len(pos)
    start, end = fl[:, 0].copy(), fl[:, 1].copy()
    if len(fl) == 0:
        return start, end
    a, b = fl[:, 0], fl[:, 1]
    lo, hi = np.maximum(a - reach, 0), np.minimum(b + reach, T - 1)
    if contact is not None:
        frames = np.arange(T)
        c = np.asarray(contact, dtype=bool)
        # first frame of the contact run each frame is in (-1 outside contacts), last frame likewise
        run_start = np.maximum.accumulate(np.where(c & ~np.r_[False, c[:-1]], frames, -1))
        run_end = np.minimum.accumulate(np.where(c & ~np.r_[c[1:], False], frames, T)[::-1])[::-1]
        before, after = np.maximum(a - 1, 0), np.minimum(b + 1, T - 1)
        lo = np.where((a > 0) & c[before], np.maximum(lo, run_start[before]), lo)
        hi = np.where((b + 1 < T) & c[after], np.minimum(hi, run_end[after]), hi)
    # where it rested: the mean over `reach` frames of contact before and after (NaN: nothing seen there)
    has_dep, has_arr = a > 0, b + 1 < T
    p_dep = np.full((len(fl), pos.shape[1]), np.nan)
    p_arr = np.array(pos[np.minimum(b, T - 1)], dtype=np.float64)
    p_dep[has_dep] = seg_mean(pos, lo[has_dep], a[has_dep] - 1)
    p_arr[has_arr] = seg_mean(pos, b[has_arr] + 1, np.maximum(hi[has_arr], b[has_arr] + 1))
    # lift-off: first frame in [lo, b] farther than tol from p_dep
    idx, off = segment_frames(lo, b)
    seg = np.repeat(np.arange(len(fl)), b - lo + 1)
    with np.errstate(invalid="ignore"):
        far = np.linalg.norm(pos[idx] - p_dep[seg], axis=1) > tol
    first = np.minimum.reduceat(np.where(far, idx, T), off)
    ok = np.isfinite(p_dep).all(axis=1) & (first < T)
    start[ok] = np.minimum(first[ok], a[ok])
    # arrival: last frame in [a, hi] not within tol of p_arr (NaN = not arrived)
    idx, off = segment_frames(a, hi)
    seg = np.repeat(np.arange(len(fl)), hi - a + 1)
    with np.errstate(invalid="ignore"):
        away = ~(np.linalg.norm(pos[idx] - p_arr[seg], axis=1) <= tol)
    last = np.maximum.reduceat(np.where(away, idx, -1), off)
    has = last >= 0
    end[has] = np.maximum(last[has], start[has])
    return start, end


def held_postures(posture: np.ndarray, bridge_frames: int) -> np.ndarray:
    """(R, 2) runs of a posture mask (T,) with jitter gaps of at most `bridge_frames` bridged."""
    return runs(bridge(posture, bridge_frames))


def longest_inside(r: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(N,) frames of the longest run of `r` (R, 2) inside each interval [start, end] (N,): a flag is one
    posture held, not the sum of the moments a sweeping leg passes through it."""
    if len(r) == 0 or len(start) == 0:
        return np.zeros(len(start))
    overlap = np.minimum(end[:, None], r[None, :, 1]) - np.maximum(start[:, None], r[None, :, 0]) + 1
    return np.maximum(overlap, 0).max(axis=1).astype(np.float64)


def _flights(f, k, intervals, in_air, rise_mask, posture, knee2, lateral2, crossed2, posture_bridge=1
             ) -> Candidates:
    T, fps = f.n_frames, f.fps
    fl, start, end, _ = intervals
    if len(fl) == 0:
        return Candidates.concat([])
    speed = np.nan_to_num(f.speed[:, k], nan=0.0)
    n = len(fl)
    X = _empty_X(n)
    X[:, F["kind_hand" if k < 2 else "kind_foot"]] = 1
    X[:, F["duration_s"]] = (end - start + 1) / fps
    X[:, F["is_left"]] = float(k % 2 == 0)
    eff = f.effectors[:, k]
    dep = np.maximum(np.minimum(fl[:, 0], T - 1) - 1, 0)
    dep = np.where(np.isnan(f.effectors[dep, k, 0]), fl[:, 0], dep)   # a flight under way at the first frame
    arr = np.minimum(fl[:, 1] + 1, T - 1)
    # where the effectors rest before and after: the mean over 0.3 s of contact (a single frame at the edge
    # of a contact carries the wrist's turn about the grip and the noise)
    settle = max(1, int(round(0.3 * fps)))
    before, after = np.maximum(dep - settle + 1, 0), np.minimum(arr + settle - 1, T - 1)

    def rest(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return seg_mean(x, np.minimum(before, dep), dep), seg_mean(x, arr, np.maximum(after, arr))

    eff_dep, eff_arr = rest(eff)
    X[:, F["displacement"]] = np.linalg.norm(eff_arr - eff_dep, axis=1)
    X[:, F["peak_speed"]] = seg_max(speed, start, end)
    X[:, F["valid_frac"]] = _overlap_frac(start, end, ~np.isnan(eff[:, 0]))
    early_end = np.minimum(fl[:, 0] + int(round(0.3 * fps)), end)
    X[:, F["start_in_air"]] = (seg_sum(in_air.astype(float), fl[:, 0], early_end) > 0).astype(float)
    X[:, F["rise_overlap"]] = _overlap_frac(start, end, rise_mask)
    if k < 2:
        other_dep, other_arr = rest(f.effectors[:, 1 - k])
        s = SIDE[k]
        gap = eff_arr - other_arr
        if f.params.planar_motion:  # image evidence: along the wall (out of it is a smoothed guess)
            gap = gap - (gap @ f.wall_normal)[:, None] * f.wall_normal
        X[:, F["other_dist_end"]] = np.linalg.norm(gap, axis=1) / f.scale   # body units
        X[:, F["cross_beyond"]] = -s * (eff_arr[:, 0] - other_arr[:, 0])
        X[:, F["start_own_side"]] = s * (eff_dep[:, 0] - other_dep[:, 0])
        X[:, F["other_moving_frac"]] = _overlap_frac(start, end, ~f.contact[:, 1 - k])
    else:
        j = k - 2
        post = posture[:, j]
        X[:, F["flight_posture_s"]] = longest_inside(held_postures(post, posture_bridge), start, end) / fps
        pk = np.where(post, knee2[:, j], np.nan)
        X[:, F["flight_posture_knee"]] = seg_mean(pk, start, end)
        X[:, F["flight_posture_lateral"]] = seg_mean(np.where(post, lateral2[:, j], np.nan), start, end)
        X[:, F["flight_posture_crossed"]] = seg_mean(np.where(post, crossed2[:, j].astype(float), np.nan), start, end)
    limb = np.full(n, EFFECTOR_LIMBS[k], dtype=object)
    return Candidates(np.full(n, KINDS.index("hand" if k < 2 else "foot")), limb, start, end, X)


def _seen_part(unknown: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flights through a stretch where the effector was not seen (hidden behind the body): only the seen
    part that moves is timed — after the last hidden stretch (the hand reappears and goes), else before the
    first (it goes and disappears)."""
    start, end = start.copy(), end.copy()
    for i in np.flatnonzero(seg_sum(unknown.astype(float), start, end) > 0):  # few flights
        hidden = np.flatnonzero(unknown[start[i]:end[i] + 1]) + start[i]
        if end[i] - hidden[-1] >= 2:
            start[i] = hidden[-1] + 1
        elif hidden[0] - start[i] >= 2:
            end[i] = hidden[0] - 1
    return start, end


def _postures(f, p, j, posture, knee2, lateral2, crossed2) -> Candidates:
    fps = f.fps
    m = bridge(posture[:, j], max(1, int(round(p.posture_bridge_s * fps))))
    r = runs(m)
    if len(r):
        r = r[(r[:, 1] - r[:, 0] + 1) >= max(2, int(round(p.posture_min_s * fps)))]
    if len(r) == 0:
        return Candidates.concat([])
    start, end = r[:, 0], r[:, 1]
    n = len(r)
    X = _empty_X(n)
    X[:, F["kind_posture"]] = 1
    X[:, F["duration_s"]] = (end - start + 1) / fps
    X[:, F["is_left"]] = float(j == 0)
    X[:, F["posture_knee"]] = seg_mean(knee2[:, j], start, end)
    X[:, F["posture_lateral"]] = seg_mean(lateral2[:, j], start, end)
    X[:, F["posture_crossed"]] = seg_mean(crossed2[:, j].astype(float), start, end)
    X[:, F["posture_wall_dist"]] = seg_mean(f.effector_wall_distance[:, 2 + j], start, end)
    X[:, F["other_foot_on_frac"]] = _overlap_frac(start, end, f.contact[:, 3 - j])
    X[:, F["valid_frac"]] = _overlap_frac(start, end, ~np.isnan(f.knee_angles[:, j]))
    return Candidates(np.full(n, KINDS.index("posture")), np.full(n, EFFECTOR_LIMBS[2 + j], dtype=object),
                      start, end, X)


def _rises(f, p, rise, knee2) -> Candidates:
    if len(rise) == 0:
        return Candidates.concat([])
    T, fps = f.n_frames, f.fps
    start, end = rise[:, 0], rise[:, 1]
    n = len(rise)
    pel = f.pelvis
    feet = f.effectors[:, 2:]
    ankles = np.stack([f.joint(L_ANKLE), f.joint(R_ANKLE)], axis=1)
    # the rocking foot: bearing weight through most of the rise (on a hold, or not confidently seen: a foot
    # tucked under the hips is hidden by them, and a hidden limb keeps its hold), the higher one relative to
    # the pelvis
    conf = f.effector_confidence[:, 2:] if f.effector_confidence is not None else np.ones((T, 2))
    bearing = f.contact[:, 2:] | (conf < p.seen_confidence)
    contact_frac = np.stack([_overlap_frac(start, end, bearing[:, j]) for j in range(2)], axis=1)
    rel = feet[start, :, 1] - pel[start, 1:2]
    score = np.where(contact_frac >= 0.6, np.nan_to_num(rel, nan=-9.0), -9.0)
    j = np.argmax(score, axis=1)
    rows = np.arange(n)
    # knee at the start = its smallest value early in the rise, at the end = its largest late in the rise
    edge = np.maximum(1, ((end - start + 1) * 0.25).astype(np.int64))
    kneeL, kneeR = knee2[:, 0], knee2[:, 1]
    ks_l, ks_r = -seg_max(-kneeL, start, start + edge - 1), -seg_max(-kneeR, start, start + edge - 1)
    late = np.minimum(end + int(round(0.25 * fps)), T - 1)  # smoothing spreads the final extension
    ke_l, ke_r = seg_max(kneeL, end - edge + 1, late), seg_max(kneeR, end - edge + 1, late)
    k_start = np.where(j == 0, ks_l, ks_r)
    k_end = np.where(j == 0, ke_l, ke_r)
    X = _empty_X(n)
    X[:, F["kind_rise"]] = 1
    X[:, F["duration_s"]] = (end - start + 1) / fps
    X[:, F["is_left"]] = (j == 0).astype(float)
    X[:, F["rise_m"]] = pel[end, 1] - pel[start, 1]
    X[:, F["foot_high"]] = rel[rows, j]
    X[:, F["knee_start"]] = k_start
    X[:, F["knee_end"]] = k_end
    X[:, F["shift_over_foot"]] = (np.abs(pel[start, 0] - ankles[start, j, 0]) - np.abs(pel[end, 0] - ankles[end, j, 0]))
    X[:, F["foot_contact_frac"]] = contact_frac[rows, j]
    X[:, F["valid_frac"]] = _overlap_frac(start, end, ~np.isnan(pel[:, 1]))
    limb = np.where(j == 0, "left_foot", "right_foot").astype(object)
    return Candidates(np.full(n, KINDS.index("rise")), limb, start, end, X)


def _airs(f, air) -> Candidates:
    if len(air) == 0:
        return Candidates.concat([])
    fps = f.fps
    start, end = air[:, 0], air[:, 1]
    n = len(air)
    X = _empty_X(n)
    X[:, F["kind_air"]] = 1
    X[:, F["duration_s"]] = (end - start + 1) / fps
    y = f.pelvis[:, 1]
    X[:, F["air_rise"]] = seg_max(y, start, end) - y[start]
    X[:, F["takeoff_speed"]] = seg_max(f.pelvis_velocity[:, 1], start, start + (end - start) * 2 // 5)
    # how far apart the two hands let go: the last frame each was on its hold before the take-off
    frames = np.arange(f.n_frames)
    last_on = np.maximum.accumulate(np.where(f.contact[:, :2], frames[:, None], -1), axis=0)[start]   # (n, 2)
    X[:, F["takeoff_gap_s"]] = np.where((last_on >= 0).all(axis=1), np.abs(last_on[:, 0] - last_on[:, 1]) / fps,
                                        np.nan)
    X[:, F["valid_frac"]] = _overlap_frac(start, end, ~np.isnan(y))
    return Candidates(np.full(n, KINDS.index("air")), np.full(n, "body", dtype=object), start, end, X)
