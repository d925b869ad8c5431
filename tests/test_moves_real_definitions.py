"""Move definitions as real footage needs them (issue 9): a rock-over stood up on a foot the hips hide, a match
judged along the wall (image evidence's distance from the wall is a guess), both wrists on one evidence plane.
Fast: synthetic attempts and a synthetic camera."""

from __future__ import annotations

import numpy as np
from conftest import synthetic

from cruxlab.joints import JOINT_INDEX, L_WRIST, R_WRIST
from cruxlab.skeleton import Skeleton
from moves.classify import detect, detect_features
from moves.features import FeatureParams, compute_features


def _first(label: str, noise: str = "mild"):
    for seed in range(40):
        a = synthetic(seed, noise)
        moves = [m for m in a.moves if m.label == label]
        if moves:
            return a, moves[0]
    raise AssertionError(f"no synthetic {label} in seeds 0-39")


def _overlapping(moves, truth):
    return [m for m in moves if m.limb == truth.limb and m.start_frame <= truth.end_frame
            and m.end_frame >= truth.start_frame]


def test_a_rock_over_on_a_foot_the_hips_hide_is_found_a_foot_seen_moving_is_none():
    """The tripod clip's sit start: the right foot, tucked under the hips, is hidden by them while the climber
    stands up; the detector's guess for it slides from hip height down to the hold (low confidence). A hidden
    foot keeps its hold, so the rise is still a rock-over; the same path seen confidently is a foot that moved
    during the rise, not one stood on."""
    a, rock = _first("rock-over")
    side = rock.limb.split("_")[0]
    foot = [JOINT_INDEX[f"{side}_{n}"] for n in ("ankle", "heel", "big_toe")]
    kp = a.skeleton.keypoints.copy()
    during = slice(rock.start_frame, rock.end_frame + 1)
    slide = np.linspace(0.35, 0.0, rock.end_frame - rock.start_frame + 1)
    for j in foot:
        kp[during, j, 1] += slide

    def rock_overs(foot_confidence: float):
        conf = a.skeleton.confidence.copy()
        conf[during, foot] = foot_confidence
        sk = Skeleton(kp, a.skeleton.fps, conf, a.skeleton.wall_normal, a.skeleton.wall_point)
        return [m for m in _overlapping(detect(sk), rock) if m.label == "rock-over"]

    assert len(rock_overs(0.3)) == 1          # hidden by the hips: stood on
    assert rock_overs(0.95) == []             # seen sliding 35 cm: not a foot the climber stands on


def test_a_match_is_judged_along_the_wall_for_image_evidence():
    """Image evidence knows a joint's distance from the wall only as a smoothed guess: a matching hand whose
    guess is 40 cm off the other hand's is still on the other hand's hold. A lifted 3D skeleton, whose depth
    is taken as measured, calls the same arrival a reach."""
    a, match = _first("match", "clean")
    j = JOINT_INDEX[match.limb.replace("hand", "wrist")]
    kp = a.skeleton.keypoints.copy()
    kp[match.end_frame - 3:, j, 2] += 0.4
    sk = Skeleton(kp, a.skeleton.fps, a.skeleton.confidence, a.skeleton.wall_normal, a.skeleton.wall_point)
    labels = {planar: [m.label for m in _overlapping(detect_features(
        compute_features(sk, FeatureParams(planar_motion=planar))).moves, match)] for planar in (True, False)}
    assert labels[True] == ["match"]
    assert labels[False] == ["reach"]


def test_both_wrists_share_one_evidence_plane():
    """The roof clip: the right hand, hidden most of the clip, had its evidence plane from a few frames of the
    lift's wandering depth, and its match onto the left hand's hold landed 21 cm from it along the wall. Both
    hands hold the same wall: on one plane, two wrists on one hold seen at one pixel are at one place."""
    from cruxlab.draw import project
    from moves.evidence import image_evidence

    T = 80
    a = synthetic(7, "clean")
    kp = a.clean.keypoints[:T].astype(np.float64)
    hold = kp[0, L_WRIST].copy()
    kp[:, L_WRIST] = hold
    kp[60:, R_WRIST] = hold + np.array([0.02, 0.0, 0.0])          # the right hand matches at f60
    R = np.tile(np.diag([1.0, -1.0, -1.0]), (T, 1, 1))            # a phone 4 m out, looking at the wall
    C = np.array([0.0, 0.5, 4.0])                                   # from below: rays meet the wall obliquely
    t = -np.einsum("tij,j->ti", R, C)
    K = np.array([[1500.0, 0, 540], [0, 1500, 960], [0, 0, 1]])
    uv = project(kp, np.broadcast_to(K, (T, 3, 3)), R, t)
    lifted = kp.copy()
    ray = lifted[:, R_WRIST] - C
    lifted[:, R_WRIST] -= 0.5 * ray / np.linalg.norm(ray, axis=1, keepdims=True)   # its depth 0.5 m off
    conf = np.ones((T, 21))
    conf[:60, R_WRIST] = 0.1                                       # hidden until it arrives
    sk = Skeleton(lifted.astype(np.float32), 25.0, wall_normal=np.array([0, 0, 1.0]), wall_point=np.zeros(3))
    ev = image_evidence(sk, uv, conf, K, R, t)
    apart = np.linalg.norm(ev.keypoints[60:, R_WRIST, :2] - ev.keypoints[60:, L_WRIST, :2], axis=1)
    assert np.isnan(ev.keypoints[:60, R_WRIST]).all()
    assert apart.max() < 0.04, apart.max()
