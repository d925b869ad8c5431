"""Per-frame features: angles, smoothing and gap filling, hysteresis, contacts against known truth."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic

from cruxlab.intervals import runs
from cruxlab.joints import JOINT_INDEX, L_WRIST, NUM_JOINTS
from cruxlab.skeleton import Skeleton
from cruxlab.signal import drop_short_runs, hysteresis
from moves.features import ANGLE_NAMES, FeatureParams, compute_features, estimate_jitter, joint_angle, smooth


def test_joint_angle_known_values():
    b = np.zeros((3, 3))
    a = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0]], float)
    c = np.array([[-1, 0, 0], [0, 1, 0], [1, 1, 0]], float)
    np.testing.assert_allclose(joint_angle(a, b, c), [180, 90, 45], atol=1e-4)
    assert np.isnan(joint_angle(a[:1] * np.nan, b[:1], c[:1]))[0]


def test_hysteresis_and_dwell():
    on = np.array([0, 1, 0, 0, 0, 0, 1, 0], bool)
    off = np.array([0, 0, 0, 1, 0, 0, 0, 0], bool)
    np.testing.assert_array_equal(hysteresis(on, off), [0, 1, 1, 0, 0, 0, 1, 1])
    m = np.array([1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1], bool)
    np.testing.assert_array_equal(drop_short_runs(m, 2, value=False), [1] * 8 + [0] * 4 + [1, 1])
    assert runs(m).tolist() == [[0, 2], [4, 7], [12, 13]]


def test_smoothing_fills_short_gaps_only_and_keeps_constants():
    T = 200
    x = np.tile(np.linspace(0, 1, T)[:, None], (1, 3)).astype(np.float32)
    x[50:60] = np.nan     # 10 frames: filled
    x[100:160] = np.nan   # 60 frames: stays missing
    y = smooth(x, fps=30, width_s=0.2, max_gap=15)
    np.testing.assert_allclose(y[50:60, 0], np.linspace(0, 1, T)[50:60], atol=2e-3)
    assert np.isnan(y[100:160]).all() and np.isfinite(y[:100]).all()
    c = np.full((100, 2), 3.5, np.float32)
    np.testing.assert_allclose(smooth(c, 60, 0.4), 3.5, rtol=1e-6)


def test_jitter_estimate_tracks_the_noise_level():
    clean = synthetic(21, "clean", fps=30, duration_s=30).clean.keypoints
    rng = np.random.default_rng(0)
    for sigma in (0.01, 0.03):
        est = estimate_jitter(clean + rng.normal(scale=sigma, size=clean.shape).astype(np.float32))
        assert est == pytest.approx(sigma, rel=0.25)
    assert estimate_jitter(clean) < 0.004


@pytest.mark.parametrize("noise", ["clean", "mild", "hard"])
def test_contacts_agree_with_the_script(noise):
    a = synthetic(22, noise)
    f = compute_features(a.skeleton)
    agree = (f.contact == a.contacts).mean(axis=0)
    assert agree.min() > (0.97 if noise != "hard" else 0.93), agree


def test_features_shapes_units_and_wall_frame():
    a = synthetic(23, "clean", fps=50, wall_angle_deg=30.0)
    f = compute_features(a.skeleton)
    T = a.skeleton.n_frames
    assert f.keypoints.shape == (T, NUM_JOINTS, 3) and f.angles.shape == (T, len(ANGLE_NAMES))
    assert f.speed.shape == (T, 4) and f.contact.shape == (T, 4) and f.com.shape == (T, 3)
    # holding hands sit a few centimetres off the overhanging wall plane
    held = f.contact[:, 0]
    assert np.nanmedian(f.wall_distance[held, L_WRIST]) == pytest.approx(0.06, abs=0.02)
    # the centre of mass lies between pelvis and shoulders
    sh = f.keypoints[:, [JOINT_INDEX["left_shoulder"], JOINT_INDEX["right_shoulder"]], 1].mean(axis=1)
    assert np.all((f.com[:, 1] > f.pelvis[:, 1] - 0.1) & (f.com[:, 1] < sh))
    # speeds are in metres per second whatever the frame rate
    a30 = synthetic(23, "clean", fps=25, wall_angle_deg=30.0)
    f30 = compute_features(a30.skeleton)
    assert np.nanpercentile(f.speed, 99) == pytest.approx(np.nanpercentile(f30.speed, 99), rel=0.3)


def test_dropout_of_a_wrist_for_half_a_second_is_bridged():
    a = synthetic(24, "clean", fps=30)
    kp = a.skeleton.keypoints.copy()
    kp[300:315, L_WRIST] = np.nan
    f = compute_features(Skeleton(kp, a.skeleton.fps, wall_normal=a.skeleton.wall_normal))
    assert np.isfinite(f.effectors[300:315, 0]).all()
    kp[300:400, L_WRIST] = np.nan  # 3.3 s: not invented
    f = compute_features(Skeleton(kp, a.skeleton.fps, wall_normal=a.skeleton.wall_normal),
                         FeatureParams(max_gap_s=0.6))
    assert np.isnan(f.effectors[320:380, 0]).all()
