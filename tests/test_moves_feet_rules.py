"""The foot rules real footage needed: a flag held still for a moment is still one flag (and the foot flew into
it, not onto a hold), a flag is one posture held (not a leg sweeping through it twice), a foot-move covers at
least a foot hold, the rocking foot of a rock-over stays on its hold, and image evidence's guessed foot depth
vetoes no foot contact."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from conftest import synthetic

from cruxlab.contacts import ContactParams, Contacts, detect_contacts
from cruxlab.intervals import temporal_iou
from moves.classify import NONE, RuleMoveClassifier, classify, detect_features, rocking_foot_stays
from moves.features import compute_features
from moves.segment import (
    FEATURE_NAMES, KINDS, Candidates, F, SegmentParams, dabs, flag_still_contacts, flight_intervals, longest_inside,
    propose,
)

FEET = ("left_foot", "right_foot")


# ----------------------------------------------------------------------------------- a flag held still
def test_a_brief_still_moment_in_the_flag_shape_is_no_foothold_only_with_the_other_foot_standing():
    T = 40
    shape = np.zeros((T, 2), bool)
    shape[10:30, 1] = True                       # right leg extended and out, f10-29
    contact = np.zeros((T, 2), bool)
    contact[:, 0] = True                         # the left foot stands throughout
    contact[18:22, 1] = True                     # the right foot "still" for 4 frames inside the flag
    contact[34:38, 1] = True                     # ... and for 4 frames after it, leg no longer in the shape
    still = flag_still_contacts(contact, shape, max_frames=5)
    assert still[18:22, 1].all() and not still[34:38, 1].any() and not still[:, 0].any()
    # longer than a moment: a placement, unless the depth cue says the foot is held away from the wall
    assert not flag_still_contacts(contact, shape, max_frames=3)[:, 1].any()
    away = [np.zeros(1, bool), np.array([True, True])]          # per foot, per contact run
    assert flag_still_contacts(contact, shape, 3, away)[18:22, 1].all()
    assert not flag_still_contacts(contact, shape, 3, away)[34:38, 1].any()   # the leg not in the shape there
    # the shape broken for one frame of the contact: a placement
    broken = shape.copy()
    broken[20, 1] = False
    assert not flag_still_contacts(contact, broken, max_frames=5)[:, 1].any()
    # the other foot off its hold meanwhile: the brief contact may be the only foot bearing weight
    alone = contact.copy()
    alone[19, 0] = False
    assert not flag_still_contacts(alone, shape, max_frames=5)[:, 1].any()


def _flag_attempt():
    """A clean synthetic attempt with a flag whose other foot stands throughout, its features and that flag."""
    for seed in range(100, 140):
        a = synthetic(seed, "clean")
        f = compute_features(a.skeleton)
        for m in a.moves:
            k = 2 + FEET.index(m.limb) if m.label == "flag" else None
            if k is not None and m.end_frame - m.start_frame + 1 >= f.fps and f.contact[m.start_frame:m.end_frame + 1, 5 - k].all():
                return a, f, m, k
    raise AssertionError("no synthetic flag with the other foot standing in seeds 100-139")


def _with_blip(f, k: int, a: int, b: int, at_wall: bool = True):
    """Features f with effector k on a new hold (where it is) for frames a..b, at the wall there (as the
    contact detector's depth veto lets through) or, with at_wall=False, where the skeleton holds it."""
    c = f.contacts
    contact, hold = c.contact.copy(), c.hold.copy()
    contact[a:b + 1, k] = True
    hold[a:b + 1, k] = len(c.holds)
    holds = np.vstack([c.holds, f.effectors[(a + b) // 2, k][None]])
    cc = Contacts(contact, hold, holds, np.append(c.hold_kind, 1), c.thresholds)
    wd = f.effector_wall_distance.copy()
    if at_wall:
        wd[a:b + 1, k] = 0.0
    return replace(f, contact=contact, contacts=cc, effector_wall_distance=wd)


def _moves(f, sp: SegmentParams):
    cands = propose(f, sp)
    labels, _ = classify(cands, RuleMoveClassifier().fit())
    keep = labels != NONE
    return [(int(s), int(e), str(lab), str(limb)) for s, e, lab, limb
            in zip(cands.start[keep], cands.end[keep], labels[keep], cands.limb[keep])]


def test_a_flag_with_a_brief_contact_blip_is_one_flag_and_the_foot_flew_into_it_not_onto_a_hold():
    a, f, flag, k = _flag_attempt()
    mid = (flag.start_frame + flag.end_frame) // 2
    n = int(round(0.16 * f.fps))                        # still for 0.16 s in the flag: longer than a jitter gap
    blip = _with_blip(f, k, mid - n // 2, mid - n // 2 + n - 1)
    limb = FEET[k - 2]

    def flags(moves):
        return [m for m in moves if m[2] == "flag" and m[3] == limb
                and temporal_iou(m[0], m[1], flag.start_frame, flag.end_frame) >= 0.3]

    def into_blip(moves):
        return [m for m in moves if m[2] == "foot-move" and m[3] == limb and flag.start_frame - 10 <= m[1] <= mid]

    assert len(flags(_moves(f, SegmentParams()))) == 1                 # the flag without the blip
    found = _moves(blip, SegmentParams())
    assert len(flags(found)) == 1, found
    assert temporal_iou(flags(found)[0][0], flags(found)[0][1], flag.start_frame, flag.end_frame) >= 0.8, found
    assert not into_blip(found), found                 # the foot flew into the flag, not onto a hold
    # without the rule (no contact counts as a flag held still) the blip cuts the flag in two and a foot-move
    # lands in it (when the foot returns to the hold it left, the flights around the blip also make it a dab:
    # that rule is off here too)
    assert into_blip(_moves(blip, SegmentParams(dab_s=0.0))) == []
    off = _moves(blip, SegmentParams(flag_still_s=0.0, dab_s=0.0))
    assert len(flags(off)) == 2 and into_blip(off), off


# -------------------------------------------------------------------------------------------- dabs
def test_a_dab_is_a_brief_touch_between_two_contacts_on_the_hold_it_left():
    r = np.array([[0, 20, 1], [25, 28, 2], [33, 60, 1],      # 1 -> touch 2 for 4 frames -> back on 1: a dab
                  [70, 73, 3], [80, 99, 4],                  # 1 -> 3 briefly -> 4: a placement between two moves
                  [105, 140, 5], [150, 153, 4], [160, 170, 5]])   # 5 -> 4 -> 5 again: a dab
    assert dabs(r, 5).tolist() == [[25, 28], [150, 153]]
    assert dabs(r, 3).tolist() == []                           # longer than a moment: weight went on it
    assert dabs(r[:2], 5).tolist() == []


def test_no_foot_flight_to_or_from_a_dab():
    a = synthetic(11, "mild", fps=30, duration_s=30)
    f = compute_features(a.skeleton)
    k = 2
    r = f.contacts.contact_runs(k)
    a0, b0, hold = max(r.tolist(), key=lambda x: x[1] - x[0])   # the foot's longest stay on one hold
    assert b0 - a0 > 40
    m = (a0 + b0) // 2
    c = f.contacts
    contact, holds_of = c.contact.copy(), c.hold.copy()
    contact[m - 8:m + 9, k], holds_of[m - 8:m + 9, k] = False, -1       # off for 8 frames on each side ...
    contact[m - 2:m + 2, k], holds_of[m - 2:m + 2, k] = True, len(c.holds)   # ... of a 4-frame touch elsewhere
    g = replace(f, contact=contact, contacts=Contacts(contact, holds_of, np.vstack([c.holds, c.holds[hold][None] + 0.3]),
                                                      np.append(c.hold_kind, 1), c.thresholds))
    assert len(g.contacts.flights(k)) == len(f.contacts.flights(k)) + 2   # the detector sees two flights ...

    def around(p):
        fl = flight_intervals(g, p, k)[0]
        return fl[(fl[:, 1] >= m - 10) & (fl[:, 0] <= m + 10)].tolist()

    assert around(SegmentParams()) == []                                 # ... neither a move
    assert len(around(SegmentParams(dab_s=0.01))) == 2                   # a 4-frame touch counted as a hold


def test_a_flag_held_still_longer_counts_where_the_depth_cue_agrees():
    a, f, flag, k = _flag_attempt()
    mid = (flag.start_frame + flag.end_frame) // 2
    n = int(round(0.4 * f.fps))                         # still for 0.4 s: longer than a moment
    blip = _with_blip(f, k, mid - n // 2, mid - n // 2 + n - 1, at_wall=False)
    limb = FEET[k - 2]

    def flag_iou(g):
        return max([temporal_iou(m[0], m[1], flag.start_frame, flag.end_frame) for m in _moves(g, SegmentParams())
                    if m[2] == "flag" and m[3] == limb] or [0.0])

    assert (f.effector_wall_distance[mid - 5:mid + 5, k] > f.contacts.thresholds["near"][k]).all()  # held out
    assert flag_iou(blip) >= 0.8
    # the same still stretch with the foot at the wall: a placement that cuts the flag
    assert flag_iou(_with_blip(f, k, mid - n // 2, mid - n // 2 + n - 1)) < 0.8


# ------------------------------------------------------------------------------------ one posture held
def _foot_row(**values) -> np.ndarray:
    X = np.full((1, len(FEATURE_NAMES)), np.nan, np.float32)
    X[:, :len(KINDS)] = 0
    X[:, F["kind_foot"]] = 1
    base = dict(duration_s=0.6, valid_frac=1.0, displacement=0.4, start_in_air=0.0, flight_posture_s=0.0,
                flight_posture_knee=160.0, flight_posture_lateral=0.5, flight_posture_crossed=0.0)
    for name, v in {**base, **values}.items():
        X[:, F[name]] = v
    return X


def test_a_flag_is_one_posture_held_not_a_leg_sweeping_through_it_twice():
    r = np.array([[10, 15], [22, 28]])                          # two 6-7 frame posture stretches
    assert list(longest_inside(r, np.array([8, 8, 12]), np.array([30, 14, 30]))) == [7.0, 5.0, 7.0]
    assert list(longest_inside(np.zeros((0, 2), np.int64), np.array([0]), np.array([9]))) == [0.0]
    clf = RuleMoveClassifier().fit()
    assert clf.predict(_foot_row(flight_posture_s=0.28))[0] == "foot-move"      # the longest held run
    assert clf.predict(_foot_row(flight_posture_s=0.6))[0] == "none"            # a flag held in the flight


def test_a_foot_move_covers_a_foot_hold_and_lasts_a_flight():
    clf = RuleMoveClassifier().fit()
    assert clf.predict(_foot_row(displacement=0.07))[0] == "none"       # settling within one hold's radius
    assert clf.predict(_foot_row(displacement=0.20))[0] == "foot-move"
    assert clf.predict(_foot_row(duration_s=0.04))[0] == "none"         # a one-frame jump of the point
    assert RuleMoveClassifier(foot_min_displacement=0.05).fit().predict(_foot_row(displacement=0.07))[0] == "foot-move"


# --------------------------------------------------------------------------------------- rock-overs
def test_the_rocking_foot_stays_on_its_hold_through_the_rock_over():
    n = 4
    c = Candidates(np.array([KINDS.index(k) for k in ("rise", "foot", "foot", "foot")]),
                   np.array(["right_foot", "right_foot", "left_foot", "right_foot"], dtype=object),
                   np.array([50, 52, 52, 60]), np.array([64, 58, 58, 75]), np.zeros((n, len(FEATURE_NAMES)), np.float32))
    labels = np.array(["rock-over", "foot-move", "foot-move", "foot-move"], dtype=object)
    out = rocking_foot_stays(c, labels)
    # inside the rise, same foot: dropped; the other foot, and a move mostly after the rise, stay
    assert list(out) == ["rock-over", NONE, "foot-move", "foot-move"]
    assert list(rocking_foot_stays(c, np.array(["none", "foot-move", "foot-move", "foot-move"], dtype=object))) == \
        [NONE, "foot-move", "foot-move", "foot-move"]


# ------------------------------------------------------------------------------ guessed foot depth
def test_without_the_foot_veto_a_foot_still_off_the_wall_plane_is_on_a_hold_a_hand_still_is_not():
    T = 60
    pts = np.zeros((T, 4, 3))
    pts[:, :, 2] = 0.05
    pts[:, 0, :2], pts[:, 1, :2], pts[:, 2, :2], pts[:, 3, :2] = (-0.3, 2.0), (0.3, 2.0), (-0.3, 0.5), (0.3, 0.5)
    pts[:, 0, 2] = pts[:, 2, 2] = 0.05 + np.r_[np.full(20, 0.0), np.full(20, 0.45), np.full(20, 0.0)]
    pts[18:22, [0, 2], 0] += np.linspace(0, 0.3, 4)[:, None]     # each moves there, stays 0.8 s and back
    pts[22:40, [0, 2], 0] += 0.3
    n, p0 = np.array([0, 0, 1.0]), np.zeros(3)
    veto = detect_contacts(pts, 25.0, wall_normal=n, wall_point=p0, params=ContactParams(adaptive=False))
    trust = detect_contacts(pts, 25.0, wall_normal=n, wall_point=p0, params=ContactParams(adaptive=False, veto_feet=False))
    assert not veto.contact[26:36, 2].any() and not veto.contact[26:36, 0].any()   # 45 cm off the plane
    assert trust.contact[26:36, 2].all() and not trust.contact[26:36, 0].any()     # feet only


# ------------------------------------------------------------------------- feet handed over where they met
def _feet_skeleton(left: np.ndarray, right: np.ndarray, fps: float = 25.0):
    """An evidence skeleton whose only joints are the two feet (toe, ankle and heel around the given (T, 3)
    foot points), as the pose model labelled them."""
    from cruxlab.joints import L_ANKLE, L_HEEL, L_TOE, NUM_JOINTS, R_ANKLE, R_HEEL, R_TOE
    from cruxlab.skeleton import Skeleton

    kp = np.full((len(left), NUM_JOINTS, 3), np.nan, np.float32)
    for (toe, ankle, heel), p in (((L_TOE, L_ANKLE, L_HEEL), left), ((R_TOE, R_ANKLE, R_HEEL), right)):
        kp[:, toe], kp[:, ankle], kp[:, heel] = p, p + [0.0, 0.08, 0.05], p + [0.0, 0.05, 0.10]
    return Skeleton(kp, fps)


def _meeting(T: int, a: int, b: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(T, 3) a point resting at `start`, moving in a straight line to `end` over frames a..b, resting there."""
    w = np.clip((np.arange(T) - a) / (b - a), 0.0, 1.0)[:, None]
    return ((1 - w) * start + w * end).astype(np.float32)


def test_feet_whose_labels_the_pose_model_handed_over_where_they_met_are_given_back():
    from moves.evidence import feet_handed_over

    T = 100
    A, B = np.array([-0.2, 0.6, 0.05]), np.array([0.25, 0.6, 0.05])
    # both labels slide onto the other shoe over f40-60 (they meet at f50) and stay there: a hand-over
    handed = feet_handed_over(_feet_skeleton(_meeting(T, 40, 60, A, B), _meeting(T, 40, 60, B, A)))
    assert not handed[:48].any() and handed[52:].all()
    # the feet meet (matched on one hold) and go back where they were: nothing handed over
    mid = (A + B) / 2
    back = np.where((np.arange(T) < 50)[:, None], _meeting(T, 40, 50, A, mid), _meeting(T, 50, 60, mid, A))
    back_r = np.where((np.arange(T) < 50)[:, None], _meeting(T, 40, 50, B, mid), _meeting(T, 50, 60, mid, B))
    assert not feet_handed_over(_feet_skeleton(back, back_r)).any()
    # they never meet (a real foot-move of each beside the other): nothing handed over
    far = _meeting(T, 40, 60, A, A + [0.0, 0.4, 0.0])
    assert not feet_handed_over(_feet_skeleton(far, _meeting(T, 40, 60, B, B + [0.0, 0.4, 0.0]))).any()
    # handed over and handed back at a second meeting
    twice = np.concatenate([_meeting(60, 20, 40, A, B), _meeting(60, 20, 40, B, A)])
    twice_r = np.concatenate([_meeting(60, 20, 40, B, A), _meeting(60, 20, 40, A, B)])
    h = feet_handed_over(_feet_skeleton(twice, twice_r))
    assert h[35:75].all() and not h[:25].any() and not h[95:].any()
