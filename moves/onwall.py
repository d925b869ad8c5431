"""When the climber is on the wall, and how the attempt ended.

    ow = on_wall(features)       # OnWall(start_frame, end_frame, start_reason, end_reason, outcome, ...)

**The floor.** The wall frame puts y = 0 at floor level (the floor plane where SfM sees it, else the
lowest feet less an ankle height; DESIGN.md). A foot stands on the floor when its contact (moves.features
contacts, clustered into holds) is on a hold within `floor_tol` of y = 0 (above or below: nothing stands
under the floor) and bears weight from below: the
hips are at least `floor_below_hips` above it (a foot level with the hips, as when hanging under a roof
with the lowest feet defining y = 0, is on a hold), for at least `floor_min_s` in view (a foot swinging under a
roof is still for an instant at the bottom of its swing; a contact carries on while its foot is hidden, so only
the frames in which the camera saw a foot on the floor count; a stand cut short by the start or end of the
video counts). A clip that starts mid-climb has no such contact at its start.

**The interval** is the longest stretch without a foot on the floor: it starts when the last limb leaves the
floor (or at the first frame with a skeleton when the video starts with the climber on the wall) and ends
on the frame before a foot touches the floor again, or at the last frame with a skeleton.

**How it ended** (`end_reason`): `fall` when the hands were off their holds as the feet reached the floor,
after a fast drop of the hips (>= `fall_speed`); `drop-off` when a foot reached the floor first while the
hands still held (the climber stepped or dropped down under control); `top-out` when the climber left the
view going up (the skeleton is lost for `topout_s` at the end, the hips at the highest they were); `video
end` when the video stops with the climber on the wall. **Outcome**: `top` for a top-out, or a drop-off with
both hands matched on the highest hand hold of the attempt (the finishing hold of a boulder problem) for
`top_match_s`; `fall` for a fall or any other drop-off; None (unknown) when the video does not show it.

Every threshold is in body units (metres for a 1.70 m climber, times `features.scale`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cruxlab.contacts import ContactParams
from cruxlab.intervals import cover, runs
from cruxlab.signal import seg_mean
from moves.features import Features

END_REASONS: tuple[str, ...] = ("top-out", "fall", "drop-off", "video end")


@dataclass(frozen=True)
class OnWallParams:
    """Metres (for a 1.70 m climber), m/s and seconds."""

    floor_tol: float = ContactParams.floor_tol  # a foot contact this close to y = 0 is on the floor
    floor_below_hips: float = 0.40   # a foot bearing weight from below is at least this far under the hips
    floor_min_s: float = 0.5         # a stand on the floor is seen at least this long (unless the video cuts it)
    fall_speed: float = 1.0          # hips dropping at least this fast before the feet land: a fall
    topout_s: float = 0.5            # skeleton lost this long at the end, going up: a top-out
    top_match_s: float = 1.0         # both hands on the highest hold this long before a drop-off: a top


@dataclass(frozen=True)
class OnWall:
    """The on-the-wall interval of one attempt (inclusive attempt frames) and how it ended.

    start_reason: 'left the floor' | 'video start'; end_reason: one of END_REASONS; outcome: 'top' | 'fall'
    | None; floor_y: the floor level in the wall frame (metres, y up) when a foot was seen on it, else None;
    floor_holds: hold indices (Features.contacts.holds) that are the floor."""

    start_frame: int
    end_frame: int
    start_reason: str
    end_reason: str
    outcome: str | None
    floor_y: float | None
    floor_holds: tuple[int, ...] = ()

    def contains(self, start: int, end: int) -> bool:
        """A move interval lies on the wall (at least half of it inside the interval)."""
        inter = min(end, self.end_frame) - max(start, self.start_frame) + 1
        return inter > 0 and inter >= 0.5 * (end - start + 1)

    def as_dict(self) -> dict:
        return {"start_frame": self.start_frame, "end_frame": self.end_frame, "start_reason": self.start_reason,
                "end_reason": self.end_reason, "outcome": self.outcome, "floor_y": self.floor_y}


def floor_contacts(f: Features, p: OnWallParams) -> tuple[np.ndarray, float | None, tuple[int, ...]]:
    """(T,) bool a foot on the floor, the floor level, and the floor's hold indices."""
    c = f.contacts
    T = f.n_frames
    s = f.scale
    runs_l, runs_r = c.contact_runs(2), c.contact_runs(3)
    r = np.concatenate([runs_l, runs_r])                                # (R, 3) start, end, hold of the feet
    limb = np.repeat([2, 3], [len(runs_l), len(runs_r)])              # (R,) effector of each run
    floor = np.zeros(T, dtype=bool)
    if not len(r) or not len(c.holds):
        return floor, None, ()
    hold_y = np.where(r[:, 2] >= 0, c.holds[np.maximum(r[:, 2], 0), 1], np.nan)
    above = seg_mean(f.pelvis[:, 1], r[:, 0], r[:, 1]) - hold_y      # hips above the foot
    with np.errstate(invalid="ignore"):
        # within floor_tol of y = 0 on both sides: y = 0 is the floor (SfM's plane, or the lowest feet), so a
        # "hold" far below it is no floor but a foot detection thrown off (a mirrored roof clip: one 0.2 s
        # contact 1.6 m under the lowest feet ended the attempt there)
        on = (np.abs(hold_y) <= p.floor_tol * s) & (above >= p.floor_below_hips * s)
    if not on.any():
        return floor, None, ()
    seen_foot = np.isfinite(f.effectors).all(axis=2)                   # (T, 4) the camera saw the effector
    floor_seen = np.zeros(T, dtype=bool)
    for (a, b), k in zip(r[on, :2], limb[on]):  # the few floor contacts
        floor[a:b + 1] = True
        floor_seen[a:b + 1] |= seen_foot[a:b + 1, k]
    # standing is staying: a stand on the floor (either foot) lasts floor_min_s, or runs into the first or last
    # frame with a skeleton (the video starts on the mat, or stops right after the landing). A hanging foot
    # at the bottom of its swing is still for an instant at the lowest level, which is y = 0 when the video
    # never shows the floor (a roof clip: 0.16 s there ended the attempt 2.6 s early)
    seen = np.flatnonzero(np.isfinite(f.pelvis[:, 1]))
    first, last = (int(seen[0]), int(seen[-1])) if len(seen) else (0, T - 1)
    # (a contact carries on while its foot is hidden, cruxlab.contacts), so the stand's duration counts the
    # frames in which a foot on the floor was seen: a foot hanging out of view under a roof is no stand (a
    # mirrored roof clip: a foot seen in 9 of its 34 frames at the lowest level moved the start from f4 to f94)
    stands = runs(floor)
    cum = np.concatenate(([0], np.cumsum(floor_seen)))
    seen_n = cum[stands[:, 1] + 1] - cum[stands[:, 0]]
    short = (seen_n < p.floor_min_s * f.fps) & (stands[:, 0] > first) & (stands[:, 1] < last)
    floor &= ~cover(T, stands[short])
    on &= floor[r[:, 0]] | floor[r[:, 1]]
    if not on.any():
        return floor, None, ()
    return floor, float(np.median(hold_y[on])), tuple(sorted({int(h) for h in r[on, 2]}))


def on_wall(f: Features, p: OnWallParams | None = None) -> OnWall:
    """The on-the-wall interval and the end of the attempt (see the module docstring)."""
    p = p or OnWallParams()
    T, fps = f.n_frames, f.fps
    seen = np.flatnonzero(np.isfinite(f.pelvis[:, 1]))
    first, last = (int(seen[0]), int(seen[-1])) if len(seen) else (0, T - 1)
    floor, level, floor_holds = floor_contacts(f, p)
    free = ~floor
    free[:first] = False
    free[last + 1:] = False
    r = runs(free)
    if len(r) == 0:  # never off the floor: nothing is climbed
        return OnWall(first, first, "video start", "video end", None, level, floor_holds)
    a, b = (int(v) for v in r[np.argmax(r[:, 1] - r[:, 0])])
    start_reason = "left the floor" if a > first and floor[a - 1] else "video start"
    if b < last and floor[b + 1]:
        end_reason = _landing(f, p, b + 1)
    elif last < T - 1 and (T - 1 - last) >= p.topout_s * fps and _going_up(f, last):
        end_reason = "top-out"
    else:
        end_reason = "video end"
    outcome = {"top-out": "top", "fall": "fall"}.get(end_reason)
    if end_reason == "drop-off":
        outcome = "top" if _matched_on_top(f, p, b) else "fall"
    return OnWall(a, b, start_reason, end_reason, outcome, level, floor_holds)


def _landing(f: Features, p: OnWallParams, touch: int) -> str:
    """'fall' or 'drop-off' for the feet reaching the floor at frame `touch`."""
    fps = f.fps
    hands_off = not f.contact[touch, :2].any()
    lo = max(0, touch - int(round(0.5 * fps)))
    with np.errstate(all="ignore"):
        drop = -np.nanmin(f.pelvis_velocity[lo:touch + 1, 1]) if touch > lo else 0.0
    return "fall" if hands_off and np.isfinite(drop) and drop >= p.fall_speed * f.scale else "drop-off"


def _going_up(f: Features, last: int) -> bool:
    """The hips were near their highest and rising when the skeleton was lost."""
    y = f.pelvis[:, 1]
    with np.errstate(all="ignore"):
        top = np.nanpercentile(y, 90)
        rising = np.nanmean(f.pelvis_velocity[max(0, last - int(f.fps)):last + 1, 1]) > 0
    return bool(y[last] >= top and rising)


def _matched_on_top(f: Features, p: OnWallParams, end: int) -> bool:
    """Both hands on one hold, the highest hand hold of the attempt, for top_match_s before `end`."""
    c = f.contacts
    n = int(round(p.top_match_s * f.fps))
    if end - n < 0:
        return False
    h = c.hold[end - n:end + 1, :2]
    if (h < 0).any() or not (h == h[0, 0]).all():
        return False
    hand_holds = np.unique(c.hold[:, :2][c.hold[:, :2] >= 0])
    highest = hand_holds[np.argmax(c.holds[hand_holds, 1])]
    return bool(h[0, 0] == highest)
