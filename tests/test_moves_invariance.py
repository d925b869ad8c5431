"""Moves on a real clip do not depend on which way the camera faced or how often it sampled: the stored
evidence of the bundled tripod clip (skeleton, 2D detections, cameras, image flow), mirrored left <-> right
or kept at every other frame, gives the mirrored moves exactly and the same moves in seconds.
(benchmarks/bench_robustness.py runs the whole pipeline on mirrored, smaller, slower and recompressed
videos; this checks the move detection's share of it in a few seconds.)"""

from __future__ import annotations

import numpy as np
import pytest

from cruxlab.joints import JOINT_NAMES
from cruxlab.labels import Move
from cruxlab.skeleton import Skeleton
from db import connect, store
from db.store import EffectorFlow
from moves.evaluate import ClipResult, RealReport
from moves.evidence import video_features
from moves.service import active_classifier, detect_features

pytestmark = pytest.mark.slow  # reads the session's bundled_store (the test itself takes a few seconds)

#: joint i of a mirrored climber is joint SIDE_SWAP[i] of the original (left_wrist <-> right_wrist, ...)
SIDE_SWAP = np.array([JOINT_NAMES.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
                      for n in JOINT_NAMES])
F = np.array([-1.0, 1.0, 1.0])   # x -> -x: along the wall in the wall frame, right in the camera frame


def _evidence(db, name: str):
    with connect(db, read_only=True) as con:
        attempt = dict((n, a) for a, n in store.resolve_attempts(con))[name]
        kp, cams = store.read_keypoints2d(con, attempt), store.read_cameras(con, attempt)
        classifier, _ = active_classifier(con)
        return (store.read_skeleton(con, attempt), kp.keypoints, kp.confidence, np.asarray(cams.K, float),
                np.asarray(cams.R, float), np.asarray(cams.t, float), store.read_effector_flow(con, attempt)), classifier


def _mirrored(sk, kp, conf, K, R, t, flow, width: float = 1440.0):
    """The same evidence seen in a mirror: pixels u -> width - u, joints and effectors change sides, the world
    and the cameras are reflected along x (R -> F R F, t -> F t, principal point reflected: every 3D point
    still projects onto its mirrored pixel)."""
    X = sk.keypoints[:, SIDE_SWAP] * F.astype(np.float32)
    n = None if sk.wall_normal is None else F * sk.wall_normal
    p = None if sk.wall_point is None else F * sk.wall_point
    kp2 = kp[:, SIDE_SWAP].copy()
    kp2[..., 0] = width - kp2[..., 0]
    K2 = K.copy()
    K2[..., 0, 2] = width - K2[..., 0, 2]
    K2[..., 0, 1] *= -1
    sides, sign = [1, 0, 3, 2], np.array([-1.0, 1.0], np.float32)   # (left hand, right hand, left foot, right foot)
    fl = EffectorFlow(flow.rel[:, sides] * sign, flow.wall[:, sides] * sign)
    return (Skeleton(X, sk.fps, sk.confidence[:, SIDE_SWAP], n, p), kp2, conf[:, SIDE_SWAP], K2,
            R * np.outer(F, F), t * F, fl)


def _every_other(sk, kp, conf, K, R, t, flow):
    """The evidence of the same clip filmed at half the frame rate: frames 0, 2, 4, ...; a patch's image motion
    from frame 2i to 2i + 2 is the sum of its two steps."""
    pad = sk.n_frames % 2     # an odd last frame has no second step (its own is NaN: no frame after it)
    steps = [np.concatenate([x, np.full((pad, *x.shape[1:]), np.nan, x.dtype)]).reshape(-1, 2, *x.shape[1:]).sum(1)
             for x in (flow.rel, flow.wall)]
    return (Skeleton(sk.keypoints[::2], sk.fps / 2, sk.confidence[::2], sk.wall_normal, sk.wall_point), kp[::2],
            conf[::2], K[::2] if K.ndim == 3 else K, R[::2], t[::2], EffectorFlow(*steps))


def _detect(evidence, classifier):
    sk, kp, conf, K, R, t, flow = evidence
    return detect_features(video_features(sk, kp, conf, K, R, t, flow=flow), classifier)


def _other_side(limb: str) -> str:
    return limb.replace("left", "@").replace("right", "left").replace("@", "right")


def test_mirrored_clip_gives_the_mirrored_moves(bundled_store):
    evidence, classifier = _evidence(bundled_store, "warp-fixed-input")
    seen, mirrored = _detect(evidence, classifier), _detect(_mirrored(*evidence), classifier)
    expect = sorted((m.start_frame, m.end_frame, m.label, _other_side(m.limb)) for m in seen.moves)
    got = sorted((m.start_frame, m.end_frame, m.label, m.limb) for m in mirrored.moves)
    assert {m.limb for m in seen.moves} >= {"left_hand", "right_hand", "left_foot", "right_foot"}
    assert got == expect
    assert (mirrored.wall.start_frame, mirrored.wall.end_frame) == (seen.wall.start_frame, seen.wall.end_frame)


def test_half_the_frame_rate_gives_the_same_moves_in_seconds(bundled_store):
    evidence, classifier = _evidence(bundled_store, "warp-fixed-input")
    full, half = _detect(evidence, classifier), _detect(_every_other(*evidence), classifier)
    # full-rate moves on the half-rate frame grid (rounded outward), scored like labels
    truth = tuple(Move(m.start_frame // 2, -(-m.end_frame // 2), m.label, m.limb) for m in full.moves)
    r = RealReport((ClipResult("warp-fixed-input", "half", evidence[0].fps / 2, truth, tuple(half.moves), ()),))
    # measured 0.89: two right-foot placements of 0.12 s (3 frames at 25 fps, 1.5 at 12.5) are lost, two moves merge
    assert len(truth) >= 12 and r.micro.f1 >= 0.8, r.format()
    assert r.hand.f1 == 1.0
    assert abs(half.wall.start_frame * 2 - full.wall.start_frame) <= 0.25 * evidence[0].fps
    assert abs(half.wall.end_frame * 2 - full.wall.end_frame) <= 0.25 * evidence[0].fps
