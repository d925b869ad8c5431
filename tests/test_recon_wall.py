"""The wall frame's pieces (reconstruction.wall, reconstruction.geometry): planes, gravity, metric scale and
the similarity that carries cameras and points into the wall frame."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from reconstruction.geometry import (
    Similarity, fit_plane_ransac, interpolate_poses, intersect_plane, look_at, rotation_angle_deg, so3_exp, so3_log,
    umeyama,
)
from reconstruction.lift import template_pose
from reconstruction.sfm import CameraSolution
from reconstruction.synthetic import make_view
from reconstruction.wall import choose_wall, find_planes, scale_from_body, scale_from_distance, up_from_standing

RNG = np.random.default_rng(5)


def random_similarity() -> Similarity:
    return Similarity(float(RNG.uniform(0.2, 5)), Rotation.random(random_state=3).as_matrix(), RNG.normal(0, 3, 3))


def test_similarity_moves_cameras_without_changing_projections() -> None:
    from cruxlab.draw import project

    S = random_similarity()
    X = RNG.normal(0, 1, (50, 3)) + [0, 0, 6]
    K = np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 1]])
    R, t = look_at(np.array([0.3, 0.2, 0.0]), np.array([0, 0, 6.0]))[None], np.zeros((1, 3))
    t = -np.einsum("nij,j->ni", R, [0.3, 0.2, 0.0])
    R2, t2 = S.apply_cameras(R, t)
    np.testing.assert_allclose(project(S.apply(X), K, R2[0], t2[0]), project(X, K, R[0], t[0]), atol=1e-6)
    np.testing.assert_allclose(S.inverse().apply(S.apply(X)), X, atol=1e-9)
    T2 = random_similarity()
    np.testing.assert_allclose(S.then(T2).apply(X), T2.apply(S.apply(X)), atol=1e-9)


def test_umeyama_recovers_a_similarity_and_a_rigid_motion() -> None:
    S = random_similarity()
    X = RNG.normal(0, 1, (40, 3))
    est = umeyama(X, S.apply(X) + RNG.normal(0, 1e-4, (40, 3)))
    assert est.scale == pytest.approx(S.scale, rel=1e-3)
    assert rotation_angle_deg(est.rotation, S.rotation) < 0.05
    rigid = umeyama(X, S.apply(X), with_scale=False)
    assert rigid.scale == 1.0 and rotation_angle_deg(rigid.rotation, S.rotation) < 0.05


def test_ransac_plane_ignores_outliers_and_finds_wall_and_floor() -> None:
    wall = np.column_stack([RNG.uniform(-3, 3, 600), RNG.uniform(0, 4, 600), RNG.normal(0, 0.01, 600)])
    floor = np.column_stack([RNG.uniform(-3, 3, 250), RNG.normal(0, 0.01, 250), RNG.uniform(0, 2.5, 250)])
    junk = RNG.uniform(-3, 3, (200, 3)) + [0, 2, 2]
    pts = np.vstack([wall, floor, junk])
    fit = fit_plane_ransac(pts, 0.03)
    assert abs(fit.normal @ [0, 0, 1]) > np.cos(np.radians(1)) and fit.inliers[:600].mean() > 0.95
    assert fit.rms < 0.02
    planes = find_planes(pts, 0.03)
    centres = np.array([[0.0, 1.5, 4.0], [0.5, 1.4, 4.2]])
    views = np.array([[0.0, 0.1, -1.0], [0.0, 0.2, -1.0]])
    w, f = choose_wall(planes, centres, views)
    np.testing.assert_allclose(w.normal, [0, 0, 1], atol=0.02)         # oriented toward the cameras
    assert f is not None
    np.testing.assert_allclose(f.normal, [0, 1, 0], atol=0.02)


def test_scale_from_the_body_recovers_metres_per_sfm_unit() -> None:
    """The synthetic climb in a world shrunk to 1/4 (as SfM might report it): the torso gives the scale."""
    v = make_view("handheld", n_frames=120, noise_px=3.0, seed=4)
    shrink = Similarity(0.25, np.eye(3), np.zeros(3))
    R, t = shrink.apply_cameras(v.R, v.t)
    cams = CameraSolution(K=v.K, R=R, t=t, registered=np.ones(len(R), bool), keyframes=np.arange(len(R)),
                          keyframe_registered=np.ones(len(R), bool), model="sfm", points3d=np.zeros((0, 3)),
                          rgb=np.zeros((0, 3), np.uint8), point_error=np.zeros(0), reprojection_error=0.0,
                          image_size=v.image_size)
    scale, rep = scale_from_body(cams, np.array([0.0, 0, 1]), np.zeros(3), v.keypoints2d, v.confidence, 1.70)
    assert scale == pytest.approx(4.0, rel=0.07), rep
    # a known distance between two wall points gives it too
    P = np.array([[0.1, 1.0, 0.0], [0.9, 1.6, 0.0]])
    from cruxlab.draw import project

    uv = project(P, v.K, v.R[10], v.t[10])
    s2 = scale_from_distance(cams, np.array([0.0, 0, 1]), np.zeros(3), 10, uv[0], uv[1], 1.0)
    assert s2 == pytest.approx(1.0 / np.linalg.norm((P[1] - P[0]) * 0.25), rel=1e-6)


def test_gravity_from_a_standing_start() -> None:
    stand = np.repeat(template_pose(1.7)[None], 20, axis=0)
    tilt = Rotation.from_euler("x", 12, degrees=True).as_matrix()     # frame tilted about the wall's x axis
    up, rep = up_from_standing(stand @ tilt.T, np.array([0, 1.0, 0]), np.array([1.0, 0, 0]))
    assert rep["standing_frames"] == 20
    assert np.degrees(np.arccos(up @ (tilt @ [0, 1.0, 0]))) < 1.0
    climbing = make_view("tripod", n_frames=60, seed=2).truth.keypoints          # never stands
    assert up_from_standing(climbing, np.array([0, 1.0, 0]), np.array([1.0, 0, 0]))[0] is None


def test_rotation_vectors_and_matrices_convert_both_ways_like_scipy() -> None:
    v = RNG.normal(size=(500, 3))
    v *= RNG.uniform(0, np.pi, (500, 1)) / np.linalg.norm(v, axis=1, keepdims=True)
    v = np.vstack([v, RNG.normal(size=(5, 3)) * 1e-9, np.zeros((1, 3)),                  # ~0 and exactly 0
                   [[np.pi - 1e-6, 0, 0], [0, 0, -(np.pi - 1e-4)], [1e-4, np.pi - 5e-4, 0]]])   # near a half turn
    R = Rotation.from_rotvec(v).as_matrix()
    np.testing.assert_allclose(so3_exp(v), R, atol=1e-12)
    np.testing.assert_allclose(so3_log(R), Rotation.from_matrix(R).as_rotvec(), atol=1e-7)
    np.testing.assert_allclose(so3_exp(so3_log(R)), R, atol=1e-9)
    assert so3_exp(v[:7].reshape(7, 1, 3)).shape == (7, 1, 3, 3)                         # leading axes kept


def test_pose_interpolation_and_ray_plane_cuts() -> None:
    R0, R1 = np.eye(3), Rotation.from_euler("y", 30, degrees=True).as_matrix()
    R, C = interpolate_poses(np.array([10, 20]), np.stack([R0, R1]), np.array([[0, 0, 0], [1.0, 0, 0]]), 30)
    assert rotation_angle_deg(R[15], R0) == pytest.approx(15, abs=1e-6)
    np.testing.assert_allclose(C[15], [0.5, 0, 0])
    np.testing.assert_allclose(R[:10], np.repeat(R0[None], 10, 0))              # clamped before the first
    assert rotation_angle_deg(R[29], R1) < 1e-9
    pts, lam = intersect_plane(np.zeros((2, 3)) + [0, 0, 4], np.array([[0, 0, -1.0], [0, 0, 1.0]]),
                               np.array([0, 0, 1.0]), np.zeros(3))
    np.testing.assert_allclose(pts[0], 0, atol=1e-12)
    assert np.isnan(lam[1])                                                  # the wall is behind that ray


@pytest.mark.parametrize("kind", ["tripod", "handheld"])
def test_rotation_only_wall_plane_from_the_contacts_of_a_short_lift(kind: str) -> None:
    # a rotation-only camera sees no wall points: the plane comes from the hands and feet holding still in a
    # lift without a wall, which stops after PLANE_LIFT's iterations (fewer than the skeleton's lift)
    from reconstruction.lift import LiftOptions
    from reconstruction.synthetic import climbing_sequence, handheld_camera, observe, tripod_camera
    from reconstruction.wall import PLANE_LIFT, _plane_from_contacts

    truth = climbing_sequence(250, 25.0, 1.70, wall_angle_deg=15.0, seed=1)
    K, R, t = (tripod_camera if kind == "tripod" else handheld_camera)(truth, (1080, 1920), seed=1)
    v = observe(truth, K, R, t, (1080, 1920), kind=kind, seed=1)
    T = len(R)
    cams = CameraSolution(K=K, R=R, t=t, registered=np.ones(T, bool), keyframes=np.arange(T),
                          keyframe_registered=np.ones(T, bool), model="rotation-only", points3d=np.zeros((0, 3)),
                          rgb=np.zeros((0, 3), np.uint8), point_error=np.zeros(0),
                          reprojection_error=float("nan"), image_size=(1080, 1920))
    n, p0, rep = _plane_from_contacts(cams, v.keypoints2d, v.confidence, 25.0, 1.70, v.keypoints3d_mono)
    assert np.degrees(np.arccos(np.clip(n @ truth.wall_normal, -1, 1))) < 3.0      # 1.1 / 1.0 (32 climbs: 1.0-2.5)
    assert abs(p0 @ truth.wall_normal) < 0.15                                        # the wall: n . x = 0
    assert rep["first_lift"]["iterations"] <= 2 * PLANE_LIFT.max_iterations < 2 * LiftOptions().max_iterations
