"""Contacts from image evidence: the optical-flow pass on a synthetic image sequence (a foot still on a panning
wall vs a foot sliding along it), the fusion of flow and detected positions in the one contact detector, brief
placements between two moves, and the flow's round trip through the store. Fast: synthetic only."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic

from cruxlab.contacts import detect_contacts
from cruxlab.joints import (
    L_ANKLE, L_HEEL, L_HIP, L_KNEE, L_TOE, NUM_JOINTS, R_ANKLE, R_HEEL, R_HIP, R_KNEE, R_TOE,
)
from db import connect, store, transaction
from moves.evidence import effector_flow, leg_length_px, patch_centres
from moves.features import measured_motion
from moves.segment import _leave_and_land

T, H, W = 12, 240, 320
PAN = np.array([2.0, 1.0])          # px/frame: the camera pans, so the whole wall slides in the image
SLIDE = np.array([3.0, 0.0])        # px/frame: the right foot slides along the wall


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture (blobs of ~4 px): what Lucas-Kanade tracks on a climbing wall or a shoe."""
    import cv2

    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 1.5)
    return cv2.normalize(t, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _scene() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """T RGB frames of a panning wall with two shoes (30 px squares of their own texture): the left one
    stays on its spot of the wall, the right one slides along the wall; and the 2D detections of both feet
    and legs (hip-knee-ankle 100 px, so the patches are ~14 px in half-width)."""
    wall = _texture(H + 60, W + 60, 1)
    shoe_l, shoe_r = _texture(30, 30, 2), _texture(30, 30, 3)
    frames = []
    kp = np.full((T, NUM_JOINTS, 2), np.nan)
    conf = np.zeros((T, NUM_JOINTS))
    for t in range(T):
        off = 30 + PAN * t                                  # where the wall's origin sits in the image
        img = np.zeros((H, W), np.float32)
        # sub-pixel pan by resampling the wall
        import cv2

        M = np.float32([[1, 0, off[0] - 30], [0, 1, off[1] - 30]])
        img = cv2.warpAffine(wall, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        feet = {"l": np.array([110.0, 150.0]) + PAN * t, "r": np.array([200.0, 150.0]) + (PAN + SLIDE) * t}
        for shoe, c in ((shoe_l, feet["l"]), (shoe_r, feet["r"])):
            Ms = np.float32([[1, 0, c[0] - 15], [0, 1, c[1] - 15]])
            mask = cv2.warpAffine(np.ones((30, 30), np.uint8), Ms, (W, H))
            pasted = cv2.warpAffine(shoe, Ms, (W, H), flags=cv2.INTER_LINEAR)
            img = np.where(mask > 0, pasted, img)
        frames.append(np.repeat(img[..., None], 3, axis=2).astype(np.uint8))
        for (toe, heel, ankle, knee, hip), c in (((L_TOE, L_HEEL, L_ANKLE, L_KNEE, L_HIP), feet["l"]),
                                                 ((R_TOE, R_HEEL, R_ANKLE, R_KNEE, R_HIP), feet["r"])):
            kp[t, toe], kp[t, heel], kp[t, ankle] = c + (-6, 4), c + (6, 4), c + (0, -8)
            kp[t, knee], kp[t, hip] = c + (0, -58), c + (0, -108)
            conf[t, [toe, heel, ankle, knee, hip]] = 0.9
    return frames, kp, conf


def test_flow_tells_a_foot_still_on_a_panning_wall_from_one_sliding_along_it():
    frames, kp, conf = _scene()
    assert leg_length_px(kp, conf) == pytest.approx(100.0, abs=0.5)
    box = np.array([[90.0, 30.0, 240.0, 170.0]]).repeat(T, axis=0) + np.tile(PAN, 2) * np.arange(T)[:, None]
    flow = effector_flow([(1.0, np.stack(frames))], kp, conf, box)
    assert flow.rel.shape == (T, 4, 2) and np.isnan(flow.rel[-1]).all()       # no motion after the last frame
    assert np.isnan(flow.rel[:, :2]).all()                                      # hands never seen: unknown
    # the camera's motion is measured at the feet and removed from theirs
    assert np.nanmedian(flow.wall[:-1, 2:], axis=(0, 1)) == pytest.approx(PAN, abs=0.15)
    still, sliding = flow.rel[:-1, 2], flow.rel[:-1, 3]
    assert np.isfinite(still).all() and np.isfinite(sliding).all()
    assert np.abs(still).max() < 0.3                                             # still relative to the wall
    assert np.median(sliding, axis=0) == pytest.approx(SLIDE, abs=0.3)          # its own motion, pan removed
    # the same scene through a half-size working image (scale 2): the same full-size pixels come out
    half = [(2.0, np.stack([f[::2, ::2] for f in frames]))]
    flow2 = effector_flow(half, kp, conf, box)
    assert np.median(flow2.rel[:-1, 3], axis=0) == pytest.approx(SLIDE, abs=0.6)
    assert np.abs(flow2.rel[:-1, 2]).max() < 0.6


def test_large_patches_are_tracked_on_halved_frames(monkeypatch):
    """The scene at twice the size (leg 200 px, a 29 px Lucas-Kanade window): the flow tracks the frames
    halved (window 15 px there, >= FlowParams.min_window_px) and reports the same full-size pixels as
    tracking at full size would, within LK's precision."""
    import cv2

    import moves.evidence as evidence
    from moves.evidence import FlowParams

    frames, kp, conf = _scene()
    big = np.stack([cv2.resize(f, (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR) for f in frames])
    box = (np.array([[90.0, 30.0, 240.0, 170.0]]).repeat(T, axis=0)
           + np.tile(PAN, 2) * np.arange(T)[:, None]) * 2
    shapes = set()
    pair_flow = evidence._pair_flow

    def recording(img0, *args, **kwargs):
        shapes.add(img0.shape)
        return pair_flow(img0, *args, **kwargs)

    monkeypatch.setattr(evidence, "_pair_flow", recording)
    half = effector_flow([(1.0, big)], kp * 2, conf, box)
    assert shapes == {(H, W)}
    shapes.clear()
    full = effector_flow([(1.0, big)], kp * 2, conf, box, params=FlowParams(min_window_px=10 ** 6))
    assert shapes == {(2 * H, 2 * W)}
    for flow in (half, full):
        assert np.nanmedian(flow.wall[:-1, 2:], axis=(0, 1)) == pytest.approx(2 * PAN, abs=0.3)
        assert np.isfinite(flow.rel[:-1, 2:]).all()
        assert np.abs(flow.rel[:-1, 2]).max() < 0.6
        assert np.median(flow.rel[:-1, 3], axis=0) == pytest.approx(2 * SLIDE, abs=0.6)
    assert np.abs(half.rel[:-1, 2:] - full.rel[:-1, 2:]).max() < 0.2


def test_flow_tracks_on_one_thread_until_asked_for_full_speed(monkeypatch):
    """Beside other work (analyze: the camera worker, then the lift) the flow tracks one batch at a time;
    once `full_speed` is set (analyze waits for it) both threads track. The result is the same either way."""
    import threading
    import time

    import moves.evidence as evidence

    frames, kp, conf = _scene()
    batches = [(1.0, np.stack(frames[i:i + 2])) for i in range(0, T, 2)]
    lock, running, peak = threading.Lock(), [0], []
    pair_flow = evidence._pair_flow

    def counting(*args, **kwargs):
        with lock:
            running[0] += 1
            peak.append(running[0])
        time.sleep(0.02)  # long enough for the other thread to start its batch if it may
        try:
            return pair_flow(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(evidence, "_pair_flow", counting)
    one = effector_flow(iter(batches), kp, conf, workers=1)
    slow = threading.Event()
    gated = effector_flow(iter(batches), kp, conf, workers=2, full_speed=slow)
    assert max(peak) == 1 and not slow.is_set()
    peak.clear()
    fast = threading.Event()
    done = []

    def progress(n):  # the caller starts waiting for the flow after its first batch
        done.append(n)
        fast.set()

    late = effector_flow(iter(batches), kp, conf, workers=2, full_speed=fast, progress=progress)
    assert max(peak) == 2 and sum(done) == T
    for flow in (gated, late):
        np.testing.assert_array_equal(flow.rel, one.rel)
        np.testing.assert_array_equal(flow.wall, one.wall)


def test_flow_keeps_opencv_to_one_thread_and_gives_its_setting_back(monkeypatch):
    """The flow's own threads are its parallelism: OpenCV's pool (which would split each small Lucas-Kanade
    call over every core) is set to one thread while it tracks, and the caller's setting comes back after."""
    import cv2

    import moves.evidence as evidence

    frames, kp, conf = _scene()
    seen = set()
    pair_flow = evidence._pair_flow

    def recording(*args, **kwargs):
        seen.add(cv2.getNumThreads())
        return pair_flow(*args, **kwargs)

    monkeypatch.setattr(evidence, "_pair_flow", recording)
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        effector_flow([(1.0, np.stack(frames))], kp, conf, workers=2)
        assert seen == {1} and cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_patch_centres_average_the_seen_shoe_joints():
    kp = np.zeros((2, NUM_JOINTS, 2))
    kp[:, L_TOE], kp[:, L_HEEL], kp[:, L_ANKLE] = (0, 0), (10, 0), (5, 30)
    conf = np.ones((2, NUM_JOINTS))
    conf[1, L_ANKLE] = 0.1                                            # hidden ankle: not part of the shoe
    c = patch_centres(kp, conf)
    assert c[0, 2] == pytest.approx((5, 10)) and c[1, 2] == pytest.approx((5, 0))
    conf[1, [L_TOE, L_HEEL]] = 0.0
    assert np.isnan(patch_centres(kp, conf)[1, 2]).all()


def test_fused_motion_is_still_only_when_flow_and_position_both_are():
    t = np.arange(40)
    eff = np.zeros((40, 4, 3), np.float32)
    eff[:, 1, 0] = 0.01 * t                                           # the detected hand drifts 25 cm/s...
    motion = np.full((40, 4, 3), np.nan, np.float32)
    motion[:, 1] = 0.0                                                # ...while its patch is still: moving
    motion[:, 2] = 0.0
    motion[:, 2, 0] = 0.02 * t                                        # a foot's patch moves, its keypoint not
    motion[10:15, 2] = np.nan                                         # flow unknown: the position decides
    fused = measured_motion(eff, motion)
    step = np.linalg.norm(np.diff(fused, axis=0), axis=-1)
    assert np.allclose(step[:, 1], 0.01, atol=1e-6)                   # the larger of the two steps
    assert np.allclose(step[np.r_[0:9, 15:39], 2], 0.02, atol=1e-6) and np.allclose(step[9:15, 2], 0.0)
    assert np.allclose(fused[:, [0, 3]], eff[:, [0, 3]])              # not measured: the positions themselves
    eff[5:8, 3] = np.nan                                              # not seen: unknown in the fused track too
    motion[:, 3] = 0.0
    assert np.isnan(measured_motion(eff, motion)[5:8, 3]).all()


def test_contacts_read_stillness_from_the_motion_and_holds_from_the_positions():
    T_ = 100
    pts = np.zeros((T_, 4, 3))
    pts[:, :, 2] = 0.05
    pts[:, :, 0] = [-0.3, 0.3, -0.3, 0.3]
    pts[60:, 3, 0] = 0.6                                              # the right foot rests on a second hold
    motion = pts.copy()
    motion[40:60, 3, 0] = 0.3 + np.linspace(0, 0.3, 20)               # moving there: only the motion says so
    wall = dict(wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3))
    c = detect_contacts(pts, 25.0, **wall, motion=motion)
    assert c.contact[:, :3].all()
    off = np.flatnonzero(~c.contact[:, 3])
    assert 38 <= off.min() <= 42 and 57 <= off.max() <= 62                # off its hold while it moves
    r = c.contact_runs(3)
    assert len(r) == 2 and r[0, 2] != r[1, 2]                          # a change of hold: a move
    assert c.holds[r[1, 2], 0] == pytest.approx(0.6, abs=0.01)         # where it rests: from the positions
    # without the motion, the positions alone (which jump from one hold to the other) see no move here
    assert len(detect_contacts(pts, 25.0, **wall).contact_runs(3)) == 2


def test_a_brief_placement_between_two_moves_keeps_the_moves_apart():
    # rest at 0 (f0-19), move to 0.3 (f20-29), rest there only 3 frames (f30-32), move to 0.6 (f33-42), rest
    T_ = 60
    x = np.zeros(T_)
    x[20:30] = np.linspace(0, 0.3, 11)[1:]
    x[30:33] = 0.3
    x[33:43] = np.linspace(0.3, 0.6, 11)[1:]
    x[43:] = 0.6
    pos = np.stack([x, np.zeros(T_), np.zeros(T_)], 1)
    contact = np.zeros(T_, bool)
    contact[:20] = contact[30:33] = contact[43:] = True
    fl = np.array([[20, 29], [33, 42]])
    start, end = _leave_and_land(pos, fl, 0.03, 7, contact)
    assert list(start) == [20, 33] and 26 <= end[0] <= 30 and end[1] >= 39   # within 3 cm = arrived
    assert end[0] < start[1]                                           # two moves, not overlapping
    # without the contacts, where it rested before the second move blurs into the first one
    s2, _ = _leave_and_land(pos, fl, 0.03, 7)
    assert s2[1] < 30


def test_effector_flow_round_trip_and_delete(db_path):
    a = synthetic(11)
    rng = np.random.default_rng(0)
    T_ = a.skeleton.n_frames
    rel = rng.normal(size=(T_, 4, 2)).astype(np.float32)
    rel[-1] = np.nan
    flow = store.EffectorFlow(rel=rel, wall=rng.normal(size=(T_, 4, 2)).astype(np.float32))
    with connect(db_path) as con, transaction(con):
        rec = store.AttemptRecord(name="a", climber="Janja", skeleton=a.skeleton, source_kind="video",
                                  source_path="x.mp4", key="k", effector_flow=flow)
        aid = store.insert_attempt(con, rec)
    with connect(db_path, read_only=True) as con:
        back = store.read_effector_flow(con, aid)
    np.testing.assert_array_equal(back.rel, rel)                      # NaN kept as unknown
    np.testing.assert_array_equal(back.wall, flow.wall)
    with connect(db_path) as con, transaction(con):
        store.delete_attempt(con, aid)
        assert store.read_effector_flow(con, aid) is None
    with pytest.raises(ValueError, match="frames of effector flow"):
        store.AttemptRecord(name="b", climber="J", skeleton=a.skeleton, source_kind="video", source_path="x",
                            key="k2", effector_flow=store.EffectorFlow(rel[:5], rel[:5]))


def _two_shoes(T_: int, swap: slice | None):
    """Detections of two shoes walking apart along the wall (left +2 px/frame, right -1 px/frame) whose left
    and right detections are exchanged in the `swap` frames, and the flow their patches would measure (the
    patch sits on whichever shoe its detection is on)."""
    t = np.arange(T_)[:, None]
    true = np.stack([np.c_[100 + 2.0 * t, 150 + 0 * t], np.c_[220 - 1.0 * t, 150 + 0 * t]], 1)    # (T, 2, 2)
    det = true.copy()
    if swap is not None:
        det[swap] = det[swap][:, ::-1]
    kp = np.full((T_, NUM_JOINTS, 2), np.nan)
    conf = np.zeros((T_, NUM_JOINTS))
    for j, (toe, heel, ankle, knee, hip) in enumerate(((L_TOE, L_HEEL, L_ANKLE, L_KNEE, L_HIP),
                                                       (R_TOE, R_HEEL, R_ANKLE, R_KNEE, R_HIP))):
        c = det[:, j]
        kp[:, toe], kp[:, heel], kp[:, ankle] = c + (-6, 4), c + (6, 4), c + (0, -8)
        kp[:, knee], kp[:, hip] = true[:, j] + (0, -58), true[:, j] + (0, -108)
        conf[:, [toe, heel, ankle, knee, hip]] = 0.9
    rel = np.full((T_, 4, 2), np.nan, np.float32)
    under = np.linalg.norm(det[:, :, None] - true[:, None], axis=-1).argmin(-1)           # which shoe each is on
    velocity = np.array([[2.0, 0.0], [-1.0, 0.0]])
    rel[:-1, 2:] = velocity[under[:-1]]
    return kp, conf, store.EffectorFlow(rel=rel, wall=np.zeros_like(rel)), true


def test_feet_whose_detections_swap_sides_are_put_back():
    from moves.evidence import _swap_feet, swapped_feet
    from cruxlab.skeleton import Skeleton

    kp, conf, flow, true = _two_shoes(40, slice(10, 15))
    sw = swapped_feet(kp, conf, flow)
    assert np.flatnonzero(sw).tolist() == [10, 11, 12, 13, 14]
    sk = Skeleton(np.zeros((40, NUM_JOINTS, 3)), 25.0)
    kp2, conf2, flow2, _ = _swap_feet(sw, kp, conf, flow, sk)
    assert np.allclose(patch_centres(kp2, conf2)[:, 2:], true + (0, 0))                # every frame right again
    assert np.allclose(flow2.rel[:-1, 2], (2, 0)) and np.allclose(flow2.rel[:-1, 3], (-1, 0))
    # detections that never swap are left alone, and a "swap" that never swaps back within a second is not one
    kp, conf, flow, _ = _two_shoes(40, None)
    assert not swapped_feet(kp, conf, flow).any()
    kp, conf, flow, _ = _two_shoes(80, slice(10, 80))
    assert not swapped_feet(kp, conf, flow).any()


def test_flow_tracked_by_threads_is_bit_identical_to_one_thread(monkeypatch):
    """Each frame pair's flow depends on its two frames only (and the clip-wide patch size), so batches tracked
    by two threads, or the frames cut into other batches, give bit for bit the one-thread result, NaN where
    NaN: 3 s of the bundled panning clip with a stand-in climber whose feet go unseen now and then. Lucas-Kanade
    asked for its minimum eigenvalues instead of the residuals (unused, one pass less) tracks the same."""
    import threading
    from pathlib import Path

    import moves.evidence as evidence
    from benchmarks.bench_flow import stand_in_pose
    from reconstruction.video import iter_batches, probe, select_frames

    info = probe(Path(__file__).resolve().parents[1] / "data" / "climbing" / "warp-dynamic-input.mp4",
                 with_hash=False)
    frames = select_frames(info, 0.0, 3.0)
    decoded = [(b.scale, b.frames) for b in iter_batches(info, frames, max_side=480, batch_size=7)]
    kp, conf, boxes = stand_in_pose(frames.count, info.width, info.height)
    kp = kp + np.random.default_rng(0).normal(0, 15, kp.shape).astype(np.float32)  # patches not all alike
    conf[::5, [L_ANKLE, L_HEEL, L_TOE]] = 0   # the left foot unseen in every fifth frame: NaN there

    threads = set()
    pair_flow = evidence._pair_flow

    def recording(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return pair_flow(*args, **kwargs)

    monkeypatch.setattr(evidence, "_pair_flow", recording)
    one = effector_flow(iter(decoded), kp, conf, boxes, workers=1)
    assert threads == {threading.current_thread().name}
    threads.clear()
    two = effector_flow(iter(decoded), kp, conf, boxes, workers=2)
    assert threads and all(name.startswith("cruxlab-flow") for name in threads)  # the pool's threads tracked
    # the same frames in batches of 3 and one of the rest: the threads' chunks begin at other frames
    grey = np.concatenate([b for _, b in decoded])
    regrouped = [(decoded[0][0], grey[i:i + 3]) for i in range(0, 30, 3)] + [(decoded[0][0], grey[30:])]
    other = effector_flow(iter(regrouped), kp, conf, boxes, workers=2)
    assert evidence._LK_FLAGS != 0
    monkeypatch.setattr(evidence, "_LK_FLAGS", 0)  # OpenCV's default: the residual as the third output
    residual = effector_flow(iter(decoded), kp, conf, boxes, workers=2)

    assert np.isfinite(one.rel[:-1]).mean() > 0.5 and np.isnan(one.rel[:-1:5, 2]).all()
    for flow in (two, other, residual):
        for got, want in ((flow.rel, one.rel), (flow.wall, one.wall)):
            assert np.array_equal(np.isnan(got), np.isnan(want))
            assert np.array_equal(got, want, equal_nan=True)
