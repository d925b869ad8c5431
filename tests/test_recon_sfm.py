"""Cameras from keyframes (reconstruction.sfm) on rendered wall views with a moving masked climber, the
rotation-only fallback for pan and tripod footage, and the whole geometry chain (SfM -> wall frame -> lift)
against a synthetic climb seen through the true cameras."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cruxlab.errors import InputError
from cruxlab.camera import camera_centers
from reconstruction.geometry import interpolate_poses, is_rotation, rotation_angle_deg, umeyama
from reconstruction.sfm import CameraSolution, SfmOptions, solve_cameras
from reconstruction.synthetic import RenderedWall, climbing_sequence, observe, render_wall_views

pytestmark = pytest.mark.slow
N_FRAMES = 250
SCALE = 3.0          # keyframes rendered at 360x480 stand for a 1080x1440 video


@functools.lru_cache(maxsize=None)
def rendered(motion: str, n_views: int = 10) -> RenderedWall:
    return render_wall_views(n_views, motion, n_frames=N_FRAMES, seed=1)


@functools.lru_cache(maxsize=None)
def solved(motion: str, n_views: int = 10, use_masks: bool = True) -> CameraSolution:
    import tempfile

    rw = rendered(motion, n_views)
    workdir = Path(tempfile.mkdtemp(prefix=f"sfm-{motion}-"))
    return solve_cameras(list(rw.images), rw.frame_indices, rw.masks if use_masks else None, N_FRAMES, workdir,
                         scale=SCALE, options=SfmOptions(max_features=2048))


def relative_rotation_errors(R_est: np.ndarray, R_true: np.ndarray) -> np.ndarray:
    """Angle (deg) between estimated and true relative rotations of every keyframe pair (gauge-free)."""
    i, j = np.triu_indices(len(R_est), 1)
    rel = lambda R: R[j] @ np.transpose(R[i], (0, 2, 1))  # noqa: E731
    return rotation_angle_deg(rel(R_est), rel(R_true))


def test_handheld_sfm_registers_every_keyframe_accurately(artifacts) -> None:
    rw, sol = rendered("handheld"), solved("handheld")
    print("sfm report:", sol.report)
    assert sol.model == "sfm"
    assert sol.keyframe_registered.all()
    err = relative_rotation_errors(sol.R[rw.frame_indices], rw.R)
    print(f"rotation error: max {err.max():.3f} deg, mean {err.mean():.3f} deg")
    assert err.max() <= 0.5
    assert sol.K[0, 0] == pytest.approx(SCALE * rw.K[0, 0], rel=0.03)     # focal self-calibrated, full size
    assert sol.image_size == (1080, 1440)
    # camera centres match the truth up to a similarity (SfM has no scale of its own)
    C_est, C_true = camera_centers(sol.R[rw.frame_indices], sol.t[rw.frame_indices]), camera_centers(rw.R, rw.t)
    S = umeyama(C_est, C_true)
    assert np.abs(S.apply(C_est) - C_true).max() < 0.02 * np.ptp(C_true, axis=0).max() + 0.01
    assert sol.reprojection_error < 1.0 * SCALE and len(sol.points3d) > 500
    # every attempt frame has a proper camera; only keyframes count as registered
    assert sol.R.shape == (N_FRAMES, 3, 3) and is_rotation(sol.R).all() and np.isfinite(sol.t).all()
    assert sol.registered.sum() == len(rw.frame_indices) and sol.registered[rw.frame_indices].all()
    _draw(rw, sol, S, artifacts / "recon_sfm_synthetic.png")


@pytest.mark.parametrize("motion", ["handheld", "pan"])
def test_many_keyframes_are_matched_with_neighbours_and_anchors_only(motion: str) -> None:
    """16 keyframes (analyze's most): not all 120 pairs are matched, only those at most `sequential_overlap`
    apart or with an anchor (0, 6, 12): a moving camera is still mapped (every keyframe, accurately) and a
    panning one still told from it by the far-apart pairs, with its focal length from the homographies."""
    rw, sol = rendered(motion, 16), solved(motion, 16)
    opts = SfmOptions()
    assert opts.exhaustive_up_to < 16 and sol.report["matching"].startswith("neighbours")
    i, j = np.triu_indices(16, 1)
    matchable = (j - i <= opts.sequential_overlap) | (i % 6 == 0) | (j % 6 == 0)
    assert sol.report["verified_pairs"] <= matchable.sum() < len(i)
    assert sol.keyframe_registered.all()
    assert relative_rotation_errors(sol.R[rw.frame_indices], rw.R).max() <= 0.5
    assert sol.K[0, 0] == pytest.approx(SCALE * rw.K[0, 0], rel=0.03)
    if motion == "handheld":
        assert sol.model == "sfm" and len(sol.points3d) > 500
    else:
        assert sol.model == "rotation-only" and sol.report["focal_source"] == "homographies"


def test_keyframes_of_720_px_are_solved_without_upsampling_as_accurately() -> None:
    """The pipeline hands SfM 720 px keyframes: SIFT starts at the image itself there (a quarter of the work of
    upsampling it first, as on small keyframes); cameras and wall points stay as good as on 480 px upsampled."""
    rw = render_wall_views(10, "handheld", image_size=(540, 720), n_frames=N_FRAMES, seed=1)
    small = solved("handheld")
    with tempfile.TemporaryDirectory(prefix="sfm-720-") as d:
        sol = solve_cameras(list(rw.images), rw.frame_indices, rw.masks, N_FRAMES, d, scale=2.0,
                            options=SfmOptions(max_features=2048))
    assert (sol.report["sift_first_octave"], small.report["sift_first_octave"]) == (0, -1)
    assert sol.model == "sfm" and sol.keyframe_registered.all()
    err = relative_rotation_errors(sol.R[rw.frame_indices], rw.R)
    print(f"720 px: rotation error max {err.max():.3f} deg; {len(sol.points3d)} points")
    assert err.max() <= 0.1
    assert sol.K[0, 0] == pytest.approx(2.0 * rw.K[0, 0], rel=0.01)
    S = umeyama(camera_centers(sol.R[rw.frame_indices], sol.t[rw.frame_indices]), camera_centers(rw.R, rw.t))
    pts = S.apply(sol.points3d)
    assert len(pts) > 1000
    assert ((np.abs(pts[:, 2]) < 0.05) | (np.abs(pts[:, 1]) < 0.05)).mean() > 0.97   # on the wall or the floor


def test_climber_features_are_masked_out() -> None:
    """No triangulated point lies on the climber blob (it moves, so its points would be garbage)."""
    rw, sol = rendered("handheld"), solved("handheld")
    from cruxlab.draw import project

    S = umeyama(camera_centers(sol.R[rw.frame_indices], sol.t[rw.frame_indices]), camera_centers(rw.R, rw.t))
    pts = S.apply(sol.points3d)
    # the scene is the wall z = 0 and the floor y = 0: every point is on one of them
    on_scene = (np.abs(pts[:, 2]) < 0.05) | (np.abs(pts[:, 1]) < 0.05)
    assert on_scene.mean() > 0.97
    uv = project(sol.points3d, sol.K / np.array([[SCALE], [SCALE], [1]]), sol.R[rw.frame_indices[0]],
                 sol.t[rw.frame_indices[0]])
    inside = np.isfinite(uv).all(1) & (uv[:, 0] >= 0) & (uv[:, 0] < 360) & (uv[:, 1] >= 0) & (uv[:, 1] < 480)
    u, v = uv[inside].astype(int).T
    assert rw.masks[0][v, u].mean() < 0.05       # the few hits are wall points seen past the blob's edge


def test_features_extracted_before_their_mask_are_colmaps_own_masked_features(tmp_path) -> None:
    """Issue 12: the camera worker extracts a keyframe's SIFT as soon as it is decoded and drops the keypoints
    on the climber once the pose stage has masked it (`KeyframeSolver.extract`, then `add`). The stored
    keypoints and descriptors are those of COLMAP's own extraction with the (dilated) mask as an image
    mask, bit for bit; keyframes come in the order they were extracted."""
    import cv2
    import pycolmap

    from reconstruction.sfm import KeyframeSolver, _feature_mask

    rw = rendered("handheld")
    h, w = rw.images[0].shape[:2]
    options = SfmOptions(max_features=2048)
    solver = KeyframeSolver(tmp_path / "ours", 3, (w, h), scale=SCALE, options=options)
    features = [solver.extract(img) for img in rw.images[:3]]         # all three before any mask
    with pytest.raises(InputError, match="in the order they were extracted"):
        solver.add(features[1], rw.masks[1])
    for f, m in zip(features, rw.masks[:3]):
        solver.add(f, m)
    assert min(len(f.keypoints) for f in features) > 300

    # COLMAP's way: the images and mask files on disk, masked inside `extract_features`
    images, masks = tmp_path / "colmap" / "images", tmp_path / "colmap" / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    names = [f"kf_{k:04d}.bmp" for k in range(3)]
    for name, img, m in zip(names, rw.images[:3], rw.masks[:3]):
        cv2.imwrite(str(images / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(masks / f"{name}.png"), _feature_mask(m, (h, w), options.mask_dilate_px).astype(np.uint8) * 255)
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model, reader.camera_params = solver.reader.camera_model, solver.reader.camera_params
    reader.mask_path = str(masks)
    database = tmp_path / "colmap" / "database.db"
    pycolmap.extract_features(str(database), str(images), image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                              reader_options=reader, extraction_options=solver.extraction, device=pycolmap.Device.cpu)
    with pycolmap.Database.open(str(database)) as theirs, pycolmap.Database.open(str(solver.database)) as ours:
        for name, f, m in zip(names, features, rw.masks[:3]):
            a, b = theirs.read_image_with_name(name).image_id, ours.read_image_with_name(name).image_id
            kept = ours.read_keypoints(b)
            np.testing.assert_array_equal(kept, theirs.read_keypoints(a))
            np.testing.assert_array_equal(np.asarray(ours.read_descriptors(b).data),
                                          np.asarray(theirs.read_descriptors(a).data))
            assert 0 < len(kept) < len(f.keypoints)                    # the climber's keypoints are gone
            u, v = kept[:, 0].astype(int), kept[:, 1].astype(int)
            assert not m[v, u].any()


@pytest.mark.parametrize("motion", ["pan", "tripod"])
def test_fixed_camera_is_detected_and_solved_as_rotation_only(motion: str) -> None:
    n = 10 if motion == "pan" else 5
    rw, sol = rendered(motion, n), solved(motion, n)
    print(f"{motion} report:", sol.report)
    assert sol.model == "rotation-only"
    assert "camera centre fixed" in sol.report["reason"]
    assert np.allclose(sol.centers(), 0) and np.allclose(sol.t, 0)
    assert sol.keyframe_registered.all() and len(sol.points3d) == 0
    err = relative_rotation_errors(sol.R[rw.frame_indices], rw.R)
    assert err.max() <= 0.5
    if motion == "pan":   # a rotating camera calibrates its focal length from the homographies
        assert sol.report["focal_source"] == "homographies"
        assert sol.K[0, 0] == pytest.approx(SCALE * rw.K[0, 0], rel=0.03)
    else:                 # a still camera cannot: the phone prior is used and said so
        assert sol.report["focal_source"].startswith("phone prior")


def test_rotation_averaging_is_robust_to_a_wrong_pair_and_minimises_the_soft_l1_cost() -> None:
    """The rotation-only model's averaging (numpy Gauss-Newton, reweighted) reaches SciPy's least_squares
    optimum of the same soft-L1 cost, and a grossly wrong pair does not pull the keyframes off."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    from reconstruction.sfm import _robust_rotation_averaging

    rng = np.random.default_rng(4)
    m = 9
    R_true = Rotation.from_rotvec(rng.normal(0, 0.15, (m, 3))).as_matrix()
    R_true = R_true @ R_true[0].T                                              # gauge: the first is fixed
    ia, ib = np.triu_indices(m, 1)
    noise = Rotation.from_rotvec(rng.normal(0, np.radians(0.05), (len(ia), 3))).as_matrix()
    R_rel = noise @ R_true[ib] @ np.swapaxes(R_true[ia], 1, 2)
    R_rel[5] = Rotation.from_rotvec([0.2, -0.3, 0.1]).as_matrix() @ R_rel[5]   # one pair ~21 deg wrong
    start = Rotation.from_rotvec(rng.normal(0, np.radians(3), (m, 3))).as_matrix() @ R_true
    start[0] = np.eye(3)
    R = _robust_rotation_averaging(start, ia, ib, R_rel)
    err = rotation_angle_deg(R, R_true)
    assert err[0] == 0 and err.max() < 0.3          # least squares without the robust loss: 2.4-4.7 deg

    def resid(x):
        rots = Rotation.from_rotvec(np.vstack([np.zeros(3), x.reshape(-1, 3)]))
        return (Rotation.from_matrix(R_rel) * (rots[ib] * rots[ia].inv()).inv()).as_rotvec().ravel()

    x0 = Rotation.from_matrix(start[1:]).as_rotvec().ravel()
    ref = least_squares(resid, x0, loss="soft_l1", f_scale=np.radians(0.5), xtol=1e-12, ftol=1e-12).x
    assert rotation_angle_deg(R[1:], Rotation.from_rotvec(ref.reshape(-1, 3)).as_matrix()).max() < 1e-4
    plain = least_squares(resid, x0).x                                         # no robust loss: pulled away
    assert rotation_angle_deg(Rotation.from_rotvec(plain.reshape(-1, 3)).as_matrix(), R_true[1:]).max() > 2.0


def test_too_few_keyframes_and_bad_masks_are_refused(tmp_path) -> None:
    rw = rendered("tripod", 5)
    with pytest.raises(InputError, match="too short for camera solving"):
        solve_cameras([rw.images[0]], rw.frame_indices[:1], rw.masks[:1], N_FRAMES, tmp_path)
    with pytest.raises(InputError, match="climber masks must have shape"):
        solve_cameras(list(rw.images[:3]), rw.frame_indices[:3], rw.masks[:3, :10], N_FRAMES, tmp_path)
    with pytest.raises(InputError, match="must increase"):
        solve_cameras(list(rw.images[:3]), rw.frame_indices[:3][::-1], rw.masks[:3], N_FRAMES, tmp_path)


def test_textureless_views_fall_back_to_a_fixed_camera_and_say_so(tmp_path) -> None:
    grey = np.full((4, 120, 160, 3), 128, np.uint8)
    sol = solve_cameras(list(grey), np.array([0, 10, 20, 30]), None, 40, tmp_path)
    assert sol.model == "rotation-only" and "no keyframe pair" in sol.report["reason"]
    assert np.allclose(sol.R, np.eye(3))


# --------------------------------------------------------------------------- SfM -> wall frame -> lift
def _climb_through_true_cameras(rw: RenderedWall, noise_px: float = 4.0):
    truth = climbing_sequence(N_FRAMES, 25.0, 1.70, seed=1)
    R, C = interpolate_poses(rw.frame_indices, rw.R, camera_centers(rw.R, rw.t), N_FRAMES)
    t = -np.einsum("tij,tj->ti", R, C)
    K = rw.K.copy()
    K[:2] *= SCALE
    return observe(truth, K, R, t, (1080, 1440), noise_px=noise_px, seed=1)


@pytest.mark.parametrize("motion", ["handheld", "pan"])
def test_geometry_chain_puts_the_climber_in_the_wall_frame(motion: str) -> None:
    from reconstruction.wall import reconstruct

    rw, sol = rendered(motion), solved(motion)
    v = _climb_through_true_cameras(rw)
    rec = reconstruct(sol, v.keypoints2d, v.confidence, fps=25.0, height_m=1.70, keypoints3d=v.keypoints3d_mono)
    print(motion, {k: rec.report[k] for k in ("plane_source", "up_source", "origin_y", "height_estimate_m")})
    G = v.truth.keypoints.copy()
    G[..., 0] -= np.nanmedian(0.5 * (G[:, 11, 0] + G[:, 12, 0]))      # origin convention: x = 0 below the hips
    X = rec.keypoints
    # the wall frame's axes: wall normal, gravity and the cameras agree with the truth
    assert rec.wall_normal == pytest.approx([0, 0, 1], abs=0.05)
    assert rotation_angle_deg(rec.cameras.R[rw.frame_indices], rw.R).max() < 3.0
    dy = np.nanmean((X - G)[..., 1])
    if motion == "handheld":
        assert rec.report["plane_source"] == "sfm points" and rec.report["up_source"] == "floor plane"
        assert abs(dy) < 0.05                       # y = 0 on the floor the SfM points show
        assert rec.report["scale"]["source"].startswith("body prior")
    else:
        assert rec.report["plane_source"] == "contacts"
    G[..., 1] += dy                                  # without a floor, y = 0 is set by the lowest feet
    mpjpe = 1000 * np.nanmean(np.linalg.norm(X - G, axis=-1))
    print(f"{motion}: W-MPJPE {mpjpe:.0f} mm (y origin aligned by {1000 * dy:.0f} mm)")
    assert mpjpe <= 100
    assert rec.report["height_estimate_m"] is None          # scale came from the body: height not measured
    assert rec.cameras.K.shape == (N_FRAMES, 3, 3) and rec.cameras.registered.sum() == len(rw.frame_indices)
    if motion == "handheld":                         # wall points are on the wall / floor, in metres
        on = (np.abs(rec.wall_points.xyz[:, 2]) < 0.06) | (np.abs(rec.wall_points.xyz[:, 1]) < 0.06)
        assert on.mean() > 0.95 and rec.report["plane_residual_m"] < 0.03


def _draw(rw: RenderedWall, sol: CameraSolution, S, path: Path) -> None:
    """Top view: wall points and camera centres (truth vs SfM aligned by a similarity)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = S.apply(sol.points3d)
    C_est = S.apply(camera_centers(sol.R[rw.frame_indices], sol.t[rw.frame_indices]))
    C_true = camera_centers(rw.R, rw.t)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (i, j, name) in zip(axes, ((0, 2, "top view: x (m) vs z (m)"), (0, 1, "front view: x (m) vs y (m)"))):
        ax.scatter(pts[:, i], pts[:, j], s=1, c=sol.rgb / 255.0)
        ax.plot(C_true[:, i], C_true[:, j], "o-", color="0.5", label="true cameras")
        ax.plot(C_est[:, i], C_est[:, j], "x", color="tab:red", label="SfM cameras")
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"SfM on {len(rw.images)} rendered handheld keyframes (climber masked): {len(pts)} wall points")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def test_known_scale_lets_the_wall_measure_the_climber() -> None:
    """With the metric scale given (e.g. a measured hold distance), the lift estimates the climber's height."""
    from reconstruction.wall import reconstruct

    rw, sol = rendered("handheld"), solved("handheld")
    v = _climb_through_true_cameras(rw)
    C_est = camera_centers(sol.R[rw.frame_indices], sol.t[rw.frame_indices])
    metres_per_unit = umeyama(C_est, camera_centers(rw.R, rw.t)).scale
    rec = reconstruct(sol, v.keypoints2d, v.confidence, fps=25.0, height_m=1.55, known_scale=metres_per_unit,
                      keypoints3d=v.keypoints3d_mono)
    assert rec.report["scale"]["source"] == "given"
    assert rec.report["height_estimate_m"] == pytest.approx(1.70, abs=0.1)    # the prior said 1.55
