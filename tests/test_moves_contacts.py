"""Contacts from evidence, holds, the on-the-wall interval, dynos and flags by their definitions, image evidence
against camera motion and depth wobble, calibrated confidences, and the contact band. Fast: synthetic only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import synthetic

from cruxlab.contacts import ContactParams, detect_contacts
from cruxlab.joints import L_ANKLE, L_HEEL, L_TOE, L_WRIST, R_ANKLE, R_HEEL, R_TOE, R_WRIST
from cruxlab.skeleton import Skeleton
from moves.classify import RuleMoveClassifier, detect, detect_features
from moves.features import compute_features
from moves.onwall import on_wall
from moves.segment import FEATURE_NAMES, KINDS, F


def _track(T: int, holds: list[tuple[int, int, tuple[float, float]]], fps: float = 25.0) -> np.ndarray:
    """(T, 4, 3) effector points: effector 0 rests on the given (start, end, (x, y)) holds and moves in a
    straight line between them; the other three rest still. Wall plane z = 0, points 5 cm off it."""
    pts = np.zeros((T, 4, 3))
    pts[:, :, 2] = 0.05
    pts[:, 1, :2], pts[:, 2, :2], pts[:, 3, :2] = (0.5, 2.0), (-0.3, 0.5), (0.3, 0.5)
    for (a, b, p), (c, _, q) in zip(holds, holds[1:] + [(T, T, holds[-1][2])]):
        pts[a:b + 1, 0, :2] = p
        if c > b + 1:
            w = np.linspace(0, 1, c - b + 1)[1:-1, None]
            pts[b + 1:c, 0, :2] = (1 - w) * np.array(p) + w * np.array(q)
    return pts


def test_a_move_is_a_change_of_hold():
    # rest on A, go to B, back to A (re-grip of A after a 0.5 s excursion is a flight A->B->A: two moves),
    # then a lift-off and return to B within its radius is no move
    pts = _track(200, [(0, 39, (0.0, 1.5)), (52, 90, (0.4, 1.8)), (103, 140, (0.0, 1.5)), (150, 199, (0.03, 1.52))])
    c = detect_contacts(pts, 25.0, wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3))
    assert c.contact[:, 1:].all()                                  # the others never move
    holds = [int(h) for _, _, h in c.contact_runs(0)]
    assert holds[0] == holds[2] != holds[1]                        # back on the first hold
    fl = c.flights(0)
    assert len(fl) == 2 and fl[0, 2] == holds[0] and fl[0, 3] == holds[1]
    assert 38 <= fl[0, 0] <= 42 and 49 <= fl[0, 1] <= 56           # between the contacts (+ half a window)


def test_a_hidden_hand_stays_on_its_hold():
    pts = _track(150, [(0, 149, (0.0, 1.5))])
    pts[40:110, 0] = np.nan                                        # behind the body for 2.8 s
    c = detect_contacts(pts, 25.0, wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3))
    assert c.contact[:, 0].all() and len(c.flights(0)) == 0


def test_two_hands_matched_on_one_hold_share_it_by_their_grips():
    # both hands on one jug at (0, 1.5): the wrists hang 14 cm apart below it, the forearms converging on it
    # from the elbows below and outside (a matched sit start); the grips (a third of a forearm beyond the
    # wrists) are 4 cm apart
    from cruxlab.contacts import grip_points

    pts = _track(100, [(0, 99, (-0.07, 1.43))])
    pts[:, 1, :2] = (0.07, 1.43)
    elbows = pts[:, :2].copy()
    elbows[:, 0, :2] += (-0.15, -0.20)
    elbows[:, 1, :2] += (0.15, -0.20)
    elbows[40:60] = np.nan                                          # elbows unseen: the offset carries on
    wall = dict(wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3), params=ContactParams(adaptive=False))
    f = ContactParams().grip_forearms
    grip = grip_points(pts, elbows, f)
    assert np.allclose(grip[:, 2:], pts[:, 2:]) and np.allclose(grip[:, 0, :2], (-0.07 + 0.15 * f, 1.43 + 0.2 * f))
    by_wrist = detect_contacts(pts, 25.0, **wall)
    by_grip = detect_contacts(pts, 25.0, grip=grip, **wall)
    assert (by_wrist.contact == by_grip.contact).all() and by_grip.contact[:, :2].all()   # same contacts
    assert by_wrist.hold[0, 0] != by_wrist.hold[0, 1]               # 14 cm apart: two holds by the wrists
    assert by_grip.hold[0, 0] == by_grip.hold[0, 1]                 # one hold by the grips
    assert by_grip.holds[by_grip.hold[0, 0], :2] == pytest.approx((0.0, 1.5), abs=0.01)


def test_a_contact_is_placed_where_the_hand_rested_most_of_the_run():
    # a hand rests at (0, 1.5) for 3 s, except 10 frames the detector puts it on the other wrist 14 cm right
    # (slowly enough to stay a contact): the run's centre stays on the hold, so the other hand's run there
    # is on a hold of its own
    pts = _track(75, [(0, 74, (0.0, 1.5))])
    pts[:, 1, :2] = (0.14, 1.5)
    pts[30:40, 0, 0] = 0.14
    c = detect_contacts(pts, 25.0, wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3),
                        params=ContactParams(adaptive=False, still_speed=np.inf, move_speed=np.inf,
                                             still_disp=np.inf, move_disp=np.inf))
    assert c.contact[:, :2].all()
    assert c.holds[c.hold[0, 0], 0] == pytest.approx(0.0, abs=1e-6)   # the run's mean would be 1.9 cm right
    assert c.hold[0, 0] != c.hold[0, 1]


def test_holds_are_clustered_in_the_order_the_contacts_begin():
    # the right hand's contact begins first: its hold is hold 0, the left hand's later one hold 1
    pts = _track(100, [(50, 99, (0.0, 1.5))])
    pts[:50, 0, :2] = np.linspace((-0.5, 1.0), (0.0, 1.5), 50)      # the left hand still on its way up
    c = detect_contacts(pts, 25.0, wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3),
                        params=ContactParams(adaptive=False))
    assert c.hold[0, 1] == 0 and c.hold[-1, 0] == 1


def test_noise_adaptive_thresholds_grow_with_the_noise_and_body_size():
    rng = np.random.default_rng(0)
    base = _track(300, [(0, 299, (0.0, 1.5))])
    quiet = detect_contacts(base, 25.0, wall_normal=np.array([0, 0, 1.0]))
    noisy = detect_contacts(base + rng.normal(scale=0.03, size=base.shape), 25.0, wall_normal=np.array([0, 0, 1.0]))
    assert noisy.thresholds["still_disp"][0] > 1.5 * quiet.thresholds["still_disp"][0]
    assert noisy.contact.mean() > 0.95                             # still held despite 3 cm jitter
    big = detect_contacts(base, 25.0, wall_normal=np.array([0, 0, 1.0]), scale=1.2,
                          params=ContactParams(adaptive=False))
    assert big.thresholds["hold_radius"][0] == pytest.approx(1.2 * ContactParams().hand_hold_radius)


def _with_floor(a, before_s: float = 1.5, after_s: float = 1.5) -> Skeleton:
    """The attempt with the climber standing on the floor (feet at y = 0, hands on the first/last holds)
    before and after, as a real clip starts and ends."""
    kp = a.skeleton.keypoints.copy()
    fps = a.skeleton.fps
    kp[..., 1] += 0.45 - np.nanmin(kp[:, [L_TOE, R_TOE], 1])      # lowest footholds 45 cm above the floor
    pre, post = np.repeat(kp[:1], int(before_s * fps), 0), np.repeat(kp[-1:], int(after_s * fps), 0)
    for block in (pre, post):
        for feet in ((L_TOE, L_HEEL, L_ANKLE), (R_TOE, R_HEEL, R_ANKLE)):
            block[:, feet, 1] -= block[:1, feet[0], 1] - 0.02     # toes on the floor
    return Skeleton(np.concatenate([pre, kp, post]), fps, wall_normal=a.skeleton.wall_normal,
                    wall_point=a.skeleton.wall_point)


def test_on_the_wall_between_leaving_and_touching_the_floor():
    a = synthetic(3, "mild")
    sk = _with_floor(a)
    f = compute_features(sk)
    w = on_wall(f)
    n_pre = int(1.5 * sk.fps)
    assert w.start_reason == "left the floor" and n_pre - int(0.5 * sk.fps) <= w.start_frame <= n_pre + int(0.5 * sk.fps)
    assert w.end_reason == "drop-off" and w.outcome in ("fall", "top")
    assert sk.n_frames - n_pre - int(0.5 * sk.fps) <= w.end_frame <= sk.n_frames - n_pre + int(0.5 * sk.fps)
    assert w.floor_y == pytest.approx(0.0, abs=0.1)
    found = detect_features(f)
    assert all(w.contains(m.start_frame, m.end_frame) for m in found.moves)   # nothing while on the floor
    # the climb in between is still read as before
    plain = detect(a.skeleton)
    assert abs(len(found.moves) - len(plain)) <= 2
    # a climber who starts and ends on the wall (no floor at y = 0) is on the wall throughout
    w0 = on_wall(compute_features(a.skeleton))
    assert (w0.start_reason, w0.end_reason, w0.outcome) == ("video start", "video end", None)


def _foot_down_mid_climb(a) -> Skeleton:
    """The attempt (lowest footholds 45 cm above y = 0) with 1.2 s inserted mid-climb in which the left foot
    is at floor level, under hips well above it."""
    kp = a.skeleton.keypoints.copy()
    fps = a.skeleton.fps
    kp[..., 1] += 0.45 - np.nanmin(kp[:, [L_TOE, R_TOE], 1])
    mid = len(kp) // 2
    block = np.repeat(kp[mid:mid + 1], int(1.2 * fps), 0)
    feet = [L_TOE, L_HEEL, L_ANKLE]
    block[:, feet, 1] -= block[:1, L_TOE, 1] - 0.02                  # toe at floor level
    return Skeleton(np.concatenate([kp[:mid], block, kp[mid:]]), fps, wall_normal=a.skeleton.wall_normal,
                    wall_point=a.skeleton.wall_point)


def test_a_floor_stand_is_seen_for_its_whole_minimum_duration():
    # a contact carries on while its foot is hidden (cruxlab.contacts), so a contact at floor level whose foot
    # the camera saw for only 0.4 s is no stand (a foot hanging out of view under a roof): on the wall throughout
    a = synthetic(3, "mild")
    f = compute_features(_foot_down_mid_climb(a))
    seen = on_wall(f)
    assert seen.floor_y == pytest.approx(0.0, abs=0.1)                # seen: a stand that splits the climb
    assert seen.start_reason == "left the floor" or seen.end_reason in ("drop-off", "fall")
    start, end, _ = next(r for r in f.contacts.contact_runs(2) if abs(f.contacts.holds[r[2], 1]) < 0.15)
    assert end - start + 1 > 0.5 * f.fps
    eff = f.effectors.copy()
    eff[start + int(0.4 * f.fps):end + 1, 2] = np.nan                   # the same contacts, the foot mostly hidden
    hidden = on_wall(dataclasses.replace(f, effectors=eff))
    assert (hidden.start_reason, hidden.end_reason, hidden.floor_y) == ("video start", "video end", None)

def test_a_one_hand_throw_is_a_reach_and_a_dyno_needs_both_hands():
    a = synthetic(5, "clean")
    dyno = next(m for m in a.moves if m.label == "dyno")
    assert any(m.label == "dyno" for m in detect(a.skeleton))
    kp = a.skeleton.keypoints.copy()
    # the left hand keeps its hold through the take-off: only the right hand throws
    kp[dyno.start_frame - 5:, L_WRIST] = kp[dyno.start_frame - 5, L_WRIST]
    moves = detect(Skeleton(kp, a.skeleton.fps, wall_normal=a.skeleton.wall_normal, wall_point=a.skeleton.wall_point))
    near = [m for m in moves if m.end_frame >= dyno.start_frame - 5 and m.start_frame <= dyno.end_frame + 5]
    assert not any(m.label == "dyno" for m in near)
    assert any(m.limb == "right_hand" and m.label in ("reach", "cross-over", "match") for m in near), near


def test_a_flag_needs_the_other_foot_standing():
    clf = RuleMoveClassifier().fit()
    X = np.full((2, len(FEATURE_NAMES)), np.nan, np.float32)
    X[:, F["kind_posture"]] = 1
    X[:, [F[k] for k in ("kind_hand", "kind_foot", "kind_rise", "kind_air")]] = 0
    X[:, F["duration_s"]], X[:, F["posture_knee"]], X[:, F["posture_lateral"]] = 0.8, 165.0, 0.45
    X[:, F["posture_crossed"]], X[:, F["valid_frac"]] = 0.0, 1.0
    X[:, F["other_foot_on_frac"]] = [0.9, 0.0]                   # the other foot stands / is off too
    assert list(clf.predict(X)) == ["flag", "none"]
    assert KINDS.index("posture") == int(np.argmax(X[0, :len(KINDS)]))


def test_image_evidence_removes_camera_motion_and_depth_wobble():
    from cruxlab.camera import camera_centers
    from cruxlab.draw import project
    from moves.evidence import image_evidence

    T = 100
    a = synthetic(7, "clean")
    kp = a.clean.keypoints[:T].astype(np.float64)
    kp[:, L_WRIST] = kp[0, L_WRIST]                               # a hand holding still
    # a panning, tilting phone 4 m out from the wall
    yaw = np.radians(8 * np.sin(np.linspace(0, 3, T)))
    pitch = np.radians(5 * np.cos(np.linspace(0, 2, T)))
    R = np.stack([np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
                  @ np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
                  @ np.diag([1.0, -1.0, -1.0]) for y, p in zip(yaw, pitch)])
    C = np.array([0.0, 1.5, 4.0])
    t = -np.einsum("tij,j->ti", R, C)
    assert np.allclose(camera_centers(R, t), C)
    K = np.array([[1500.0, 0, 540], [0, 1500, 960], [0, 0, 1]])
    uv = project(kp, np.broadcast_to(K, (T, 3, 3)), R, t)
    lifted = kp.copy()
    ray = lifted[:, L_WRIST] - C
    lifted[:, L_WRIST] += 0.25 * np.sin(np.linspace(0, 9, T))[:, None] * ray / np.linalg.norm(ray, axis=1, keepdims=True)
    sk = Skeleton(lifted.astype(np.float32), 25.0, wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3))
    ev = image_evidence(sk, uv, np.ones((T, 21)), K, R, t)
    along = ev.keypoints[:, L_WRIST, :2]
    assert np.ptp(sk.keypoints[:, L_WRIST, 0]) > 0.03             # the lift's depth wobble moves it sideways
    assert np.ptp(along, axis=0).max() < 0.005                     # the evidence holds it still
    hidden = np.ones((T, 21))
    hidden[30:60, R_WRIST] = 0.1
    ev2 = image_evidence(sk, uv, hidden, K, R, t)
    assert np.isnan(ev2.keypoints[30:60, R_WRIST]).all() and np.isfinite(ev2.keypoints[:30, R_WRIST]).all()


def test_calibration_reliability_and_file_roundtrip(tmp_path):
    from moves.calibration import FEATURES, Calibrator, fit, reliability

    rng = np.random.default_rng(1)
    X = np.zeros((400, len(FEATURES)))
    X[:, 0] = rng.normal(size=400) * 2
    right = rng.random(400) < 1 / (1 + np.exp(-X[:, 0]))         # the logit really predicts rightness
    cal = fit(X, right)
    p = cal(X, np.full(400, 0.5))
    rep = reliability(p, right)
    assert rep["ece"] < 0.08 and rep["sure_precision"] > rep["unsure_precision"]
    path = Calibrator(cal.coef, cal.intercept, {"note": 1}).save(tmp_path / "c.json")
    again = Calibrator.load(path)
    assert np.allclose(again(X, p), p, atol=1e-6) and again.report == {"note": 1}
    assert Calibrator.load(tmp_path / "missing.json")(X, np.full(400, 0.3))[0] == pytest.approx(0.3)


def test_shipped_calibration_keeps_synthetic_moves_sure():
    a = synthetic(1003, "mild")
    found = detect_features(compute_features(a.skeleton))
    conf = np.array([m.confidence for m in found.moves])
    assert len(conf) and (conf >= 0.7).mean() > 0.9 and ((0 <= conf) & (conf <= 1)).all()


def test_contact_band_draws_lanes_moves_and_playhead():
    from cruxlab.draw import BAND_LANES, contact_band

    hold = np.full((100, 4), -1)
    hold[:40, 0], hold[60:, 0] = 0, 1
    img = contact_band(hold, [(40, 59, "reach", "left_hand", 0.9), (10, 30, "flag", "left_foot", 0.4)],
                       width=500, lane_height=20, wall=(5, 95), frame=50, fps=25.0)
    assert img.shape[:2] == (20 * len(BAND_LANES) + 16, 500) and img.dtype == np.uint8
    x = lambda f: 34 + int(round(f / 100 * (500 - 38)))  # noqa: E731
    assert tuple(img[15, x(48)]) == (76, 120, 168)                 # the reach, solid in its colour
    assert tuple(img[5, x(20)]) != tuple(img[5, x(50)])            # on hold 0 vs in flight
    assert tuple(img[2, x(50)]) == (220, 40, 40)                   # the playhead
    assert img[2, x(2)].mean() < img[2, x(20)].mean() + 60         # off the wall: greyed
