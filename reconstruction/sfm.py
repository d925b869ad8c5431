"""Cameras for every frame of an attempt from a few keyframes: pycolmap SIFT SfM with the climber masked out,
or a rotation-only (homography) model when the camera did not move (tripod, pure pan).

    sol = solve_cameras(keyframe_images, keyframe_index, climber_masks, n_frames, workdir, scale=2.0)
    sol.K, sol.R, sol.t          # (3, 3) full-size pixels; (T, 3, 3), (T, 3) world -> camera (OpenCV)
    sol.model                    # 'sfm' | 'rotation-only'

Steps (pycolmap 4.2.1 on the CPU):
1. Keyframes are written as BMP; SIFT runs on each (`FeatureExtractor`, as `extract_features` would on the
   file), and the keypoints under the climber mask, dilated by `mask_dilate_px`, are dropped as COLMAP drops
   those under an image mask (after detection), so features come from the wall only.
2. One shared SIMPLE_PINHOLE camera seeded with a phone-like focal length (`import_images`), exhaustive
   matching for up to 10 keyframes (`match_exhaustive`); beyond, each keyframe is matched with its
   neighbours in time and with a few anchor keyframes spread over the attempt (`match_image_pairs`), so the
   far-apart pairs the baseline test needs remain; geometric verification. `KeyframeSolver` does this one
   keyframe at a time (each new one matched with those before it), so it can run while the video is still
   decoded (camera_worker).
3. **Baseline test** before mapping: for every verified pair a RANSAC homography H is fitted to the
   inlier matches. A camera that only rotates sees every pair related by H = K R K^-1, so K^-1 H K is a
   rotation (all singular values equal) for the true focal length; a translating camera adds t n^T / d and
   no focal length makes it orthogonal. The focal length that makes the pairs most orthogonal is searched
   on a grid; if the remaining median non-orthogonality (sigma_max / sigma_min - 1) is below
   `rotation_only_threshold` (~ baseline / wall distance), the camera is taken as fixed.
4. Moving camera: `incremental_mapping` (single shared camera, focal refined, principal point fixed); the
   largest model is kept. If fewer than `min_registered_fraction` of the keyframes register, the solution
   falls back to the rotation-only model and says so in the report.
5. Fixed camera: shared focal from step 3 (or the phone prior when the camera hardly rotated, so the focal
   length is unobservable), relative rotations from the homographies, absolute rotations by robust rotation
   averaging over all pairs; camera centre at the origin, t = 0. No 3D wall points exist in this model
   (there is no baseline to triangulate); the wall plane then comes from the climber's contacts
   (reconstruction.wall).
6. Every attempt frame gets a pose: keyframe poses are slerped (rotation) and linearly interpolated
   (centre) in between; `registered` is True only at keyframes that were actually solved.

World frame: SfM's own (arbitrary origin, orientation and scale) or, rotation-only, the first solved
keyframe's camera frame with unit-free metres. reconstruction.wall turns it into the metric wall frame.
Pixel coordinates are continuous with the origin at the image corner, at full size (`scale` times the
coordinates of the images handed in).
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cruxlab.errors import BackendUnavailableError, InputError
from cruxlab.camera import camera_centers
from reconstruction.geometry import Similarity, focal_prior, interpolate_poses, intrinsics, project_to_so3

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SfmOptions:
    """Parameters of `solve_cameras`."""

    max_features: int = 4096               # SIFT features per keyframe
    # SIFT's first octave: -1 upsamples the image 2x first (COLMAP's default), 0 starts at the image itself
    # (~1/4 of the work). None: -1 for keyframes under `upsample_below_px` on the long side, else 0 - SIFT then
    # always sees >= ~700 px of detail; on keyframes of 720 px without the upsampling cameras and wall points
    # are as accurate as on 512 px with it, for about half the CPU (see `KeyframeSolver`).
    first_octave: int | None = None
    upsample_below_px: int = 640
    mask_dilate_px: int = 9                # climber mask dilation, pixels of the images handed in
    # Exhaustive matching up to this many keyframes. Beyond, a pair is matched when the two are at most
    # `sequential_overlap` keyframes apart or one of them is an anchor (keyframes 0, s, 2s, ... with
    # s = ceil(N / anchors)): the tripod clip's 15 keyframes make 63 pairs instead of 105 (the worker's CPU
    # 3.0 -> 2.4 s; its last keyframe after the pose stage 0.30 -> 0.19 CPU-s), cameras within 0.01 deg.
    # Anchors keep pairs seconds apart, whose homographies tell a rotating camera from a moving one (plain
    # sequential matching loses them).
    exhaustive_up_to: int = 10
    sequential_overlap: int = 3
    anchors: int = 3
    min_pair_inliers: int = 30             # a keyframe pair counts when it has this many verified matches
    # RANSAC trials at least per model (E, F, H) of a pair's verification (COLMAP: 100): wall pairs have most
    # matches right, so the adaptive count stops far below 100; 30 leaves the inliers as they were.
    ransac_min_trials: int = 30
    rotation_only_threshold: float = 0.02  # median non-orthogonality of K^-1 H K below this -> fixed camera
    min_rotation_deg: float = 2.0          # below this total rotation the focal length is unobservable
    min_registered_fraction: float = 0.5   # fewer registered keyframes -> fall back to rotation-only
    # One thread: COLMAP's threads finish matching/verification in varying order, so two runs with 2 threads
    # can differ (R by up to 1.5e-5 on the short tripod test clip under the test suite's load, though 10 runs
    # on an idle machine were identical) and the same video would not give the same skeleton twice; with one
    # thread (and `seed`) runs are bit-identical.
    num_threads: int = 1
    seed: int = 0


@dataclass(frozen=True)
class CameraSolution:
    """Cameras of every attempt frame in one world frame.

    K:            (3, 3) shared intrinsics, full-size pixels (pinhole, principal point from the solver).
    R, t:         (T, 3, 3), (T, 3) world -> camera (OpenCV: x right, y down, z forward).
    registered:   (T,) bool, True where the pose was solved (keyframes), False where interpolated.
    keyframes:    (N,) int attempt frame of each keyframe; keyframe_registered: (N,) bool.
    model:        'sfm' (moving camera, world = SfM frame, arbitrary scale) or 'rotation-only' (fixed
                  camera centre at the origin, t = 0).
    points3d:     (P, 3) wall/scene points in the world frame (empty for rotation-only); rgb (P, 3) uint8;
                  point_error (P,) mean reprojection error of each point, full-size pixels.
    reprojection_error: mean over all observations, full-size pixels (NaN when not defined).
    image_size:   (w, h) full-size pixels.
    report:       what happened (JSON-able numbers and strings).
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    registered: np.ndarray
    keyframes: np.ndarray
    keyframe_registered: np.ndarray
    model: str
    points3d: np.ndarray
    rgb: np.ndarray
    point_error: np.ndarray
    reprojection_error: float
    image_size: tuple[int, int]
    report: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.R)

    def centers(self) -> np.ndarray:
        """Camera centres (T, 3) in the world frame."""
        return camera_centers(self.R, self.t)

    def transformed(self, sim: Similarity) -> "CameraSolution":
        """The same cameras and points expressed in another frame X' = sim(X) (e.g. the wall frame)."""
        R, t = sim.apply_cameras(self.R, self.t)
        return replace(self, R=R, t=t, points3d=sim.apply(self.points3d) if len(self.points3d) else self.points3d)


# ------------------------------------------------------------------------------------------------- helpers
def _check_inputs(frames, frame_indices, masks, n_frames) -> tuple[np.ndarray, np.ndarray]:
    idx = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
    if len(frames) != len(idx):
        raise InputError(f"solve_cameras got {len(frames)} keyframe images but {len(idx)} frame indices")
    if len(idx) < 2:
        raise InputError(f"the clip is too short for camera solving: {len(idx)} keyframe(s), at least 2 are "
                         "needed; film at least one second of the climb (or lower --fps subsampling)")
    if (np.diff(idx) <= 0).any() or idx[0] < 0 or idx[-1] >= n_frames:
        raise InputError(f"keyframe indices must increase within 0..{n_frames - 1}, got {idx.tolist()}")
    shapes = {np.asarray(f).shape for f in frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[2] != 3:
        raise InputError(f"keyframes must be RGB images (H, W, 3) of one size, got shapes {sorted(shapes)}")
    h, w = next(iter(shapes))[:2]
    if masks is None:
        masks = np.zeros((len(idx), h, w), bool)
    masks = np.asarray(masks, dtype=bool)
    if masks.shape != (len(idx), h, w):
        raise InputError(f"climber masks must have shape {(len(idx), h, w)}, got {masks.shape}")
    return idx, masks


def _feature_mask(mask: np.ndarray | None, shape: tuple[int, int], dilate_px: int) -> np.ndarray:
    """(h, w) bool: where a keyframe's features may come from (not the climber: its mask, dilated)."""
    import cv2

    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise InputError(f"a climber mask must have the keyframe's shape {tuple(shape)}, got {mask.shape}")
    if dilate_px <= 0:
        return ~mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
    return ~cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _kept_keypoints(xy: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(K,) bool: the keypoints COLMAP keeps under an image mask (`MaskKeypoints` in its feature extraction):
    those whose position, truncated to whole pixels, lies in the image on an allowed pixel."""
    h, w = allowed.shape
    xi, yi = xy[:, 0].astype(np.int64), xy[:, 1].astype(np.int64)   # truncation toward zero, as static_cast
    keep = (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
    keep[keep] = allowed[yi[keep], xi[keep]]
    return keep


@dataclass(frozen=True)
class KeyframeFeatures:
    """A keyframe's SIFT features before its climber mask is applied (`KeyframeSolver.extract`): its image
    file's name, keypoints (K, 6) float32 (x, y and the affine shape a11 a12 a21 a22, COLMAP's columns) and
    descriptors (K, 128) uint8."""

    name: str
    keypoints: np.ndarray
    descriptors: np.ndarray


def _pair_homographies(database: Path, k: int, min_inliers: int) -> list[tuple[int, int, np.ndarray, int]]:
    """(i, k, H mapping image-i pixels to image-k pixels, inliers) for the verified pairs of keyframe k (the
    k-th added, kf_000k.bmp) with the keyframes before it."""
    import cv2
    import pycolmap

    pairs = []
    with pycolmap.Database.open(str(database)) as db:
        ids = {int(img.name[3:7]): img.image_id for img in db.read_all_images()}
        b = ids[k]
        kb = None
        for i in range(k):
            a = ids[i]
            if not db.exists_two_view_geometry(a, b):
                continue
            m = np.asarray(db.read_two_view_geometry(a, b).inlier_matches)
            if len(m) < min_inliers:
                continue
            if kb is None:
                kb = db.read_keypoints(b)[:, :2]
            p, q = db.read_keypoints(a)[:, :2][m[:, 0]], kb[m[:, 1]]
            H, inl = cv2.findHomography(p, q, cv2.RANSAC, 2.0, maxIters=2000, confidence=0.999)
            if H is None or inl.sum() < min_inliers:
                continue
            pairs.append((i, k, H, int(inl.sum())))
    return pairs


def _orthogonality(Hs: np.ndarray, f: np.ndarray, w: int, h: int) -> np.ndarray:
    """Non-orthogonality sigma_max / sigma_min - 1 of K^-1 H K for pair homographies (P, 3, 3) and focal
    lengths (F,): returns (F, P)."""
    K = np.stack([intrinsics(fi, w, h) for fi in f])                # (F, 3, 3)
    M = np.linalg.inv(K)[:, None] @ Hs[None] @ K[:, None]            # (F, P, 3, 3)
    s = np.linalg.svd(M, compute_uv=False)
    return s[..., 0] / s[..., 2] - 1.0


def _rotation_test(pairs, w: int, h: int, opts: SfmOptions) -> dict:
    """Best shared focal for a rotating camera and how well pure rotation explains the pairs."""
    Hs = np.stack([p[2] for p in pairs])
    Hs = Hs / np.cbrt(np.linalg.det(Hs))[:, None, None]
    grid = np.geomspace(0.3, 4.0, 90) * max(w, h)
    err = np.median(_orthogonality(Hs, grid, w, h), axis=1)
    i = int(np.argmin(err))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    fine = np.linspace(lo, hi, 41)
    err_f = np.median(_orthogonality(Hs, fine, w, h), axis=1)
    j = int(np.argmin(err_f))
    f_best, e_best = float(fine[j]), float(err_f[j])
    # Total rotation the pairs show: if tiny, the focal length is not observable from them.
    Kb = intrinsics(f_best, w, h)
    Rs = project_to_so3(np.linalg.inv(Kb) @ Hs @ Kb)
    angles = np.degrees(np.arccos(np.clip((np.trace(Rs, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    return {"focal": f_best, "non_orthogonality": e_best, "max_pair_rotation_deg": float(angles.max())}


def _average_rotations(pairs, n: int, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute rotations (n, 3, 3) (first connected keyframe = identity) from pair homographies, by a
    spanning tree then robust least squares over all pairs; returns (R, solved mask)."""
    Kinv = np.linalg.inv(K)
    rel = {(i, j): project_to_so3(Kinv @ H @ K) for i, j, H, _ in pairs}     # R_j R_i^T
    R = np.full((n, 3, 3), np.nan)
    start = min(i for i, *_ in pairs)
    R[start] = np.eye(3)
    solved = np.zeros(n, bool)
    solved[start] = True
    best = sorted(pairs, key=lambda p: -p[3])
    changed = True
    while changed:                                  # grow the tree through the strongest pairs
        changed = False
        for i, j, _, _ in best:
            if solved[i] and not solved[j]:
                R[j], solved[j], changed = rel[(i, j)] @ R[i], True, True
            elif solved[j] and not solved[i]:
                R[i], solved[i], changed = rel[(i, j)].T @ R[j], True, True
    ids = np.flatnonzero(solved)
    if len(ids) > 1:
        use = [(i, j, rel[(i, j)]) for i, j, *_ in pairs if solved[i] and solved[j]]
        R[ids] = _robust_rotation_averaging(R[ids], np.searchsorted(ids, [u[0] for u in use]),
                                            np.searchsorted(ids, [u[1] for u in use]), np.stack([u[2] for u in use]))
    return R, solved


def _robust_rotation_averaging(R: np.ndarray, ia: np.ndarray, ib: np.ndarray, R_rel: np.ndarray,
                               f_scale: float = np.radians(0.5), max_iter: int = 100) -> np.ndarray:
    """Rotations R (m, 3, 3) (R[0] held fixed) that best explain the measured R_rel[p] = R[ib[p]] R[ia[p]]^T:
    the residual of a pair is the rotation vector r = log(R_rel R_a R_b^T); minimised is the soft-L1 cost
    sum 2 (sqrt(1 + r_c^2 / s^2) - 1) over the components (s = `f_scale`, SciPy's least_squares loss
    'soft_l1'), by Gauss-Newton with iteratively reweighted residuals (weights 1 / sqrt(1 + r_c^2 / s^2)) and
    the exact Jacobian of r under R_k <- exp(d_k) R_k. Numpy only: the worker needs no SciPy (~0.3 CPU-s and
    ~50 MB to import)."""
    from reconstruction.geometry import _skew, so3_exp, so3_log

    R = R.copy()
    m, P = len(R), len(R_rel)
    for _ in range(max_iter):
        E = R_rel @ R[ia] @ np.swapaxes(R[ib], 1, 2)
        r = so3_log(E)                                                                   # (P, 3)
        th = np.linalg.norm(r, axis=1)[:, None, None]
        small = th < 1e-6
        ths = np.where(small, 1.0, th)
        c = np.where(small, 1.0 / 12.0, 1.0 / ths ** 2 - (1.0 + np.cos(ths)) / (2.0 * ths * np.sin(ths)))
        S = _skew(r)
        SS = S @ S
        Jl_inv, Jr_inv = np.eye(3) - 0.5 * S + c * SS, np.eye(3) + 0.5 * S + c * SS
        A, B = Jl_inv @ R_rel, -Jr_inv                      # dr / d(d_a), dr / d(d_b)
        w = 1.0 / np.sqrt(1.0 + (r / f_scale) ** 2)                                      # (P, 3)
        # normal equations sum J^T W J d = -J^T W r over the pairs, block by block
        N = np.zeros((m, m, 3, 3))
        g = np.zeros((m, 3))
        WA, WB = w[:, :, None] * A, w[:, :, None] * B
        At, Bt = np.swapaxes(A, 1, 2), np.swapaxes(B, 1, 2)
        np.add.at(N, (ia, ia), At @ WA)
        np.add.at(N, (ib, ib), Bt @ WB)
        np.add.at(N, (ia, ib), At @ WB)
        np.add.at(N, (ib, ia), Bt @ WA)
        np.add.at(g, ia, np.einsum("pji,pj->pi", A, w * r))
        np.add.at(g, ib, np.einsum("pji,pj->pi", B, w * r))
        N = N[1:, 1:].transpose(0, 2, 1, 3).reshape(3 * (m - 1), 3 * (m - 1))
        try:
            d = np.linalg.solve(N, -g[1:].ravel()).reshape(m - 1, 3)
        except np.linalg.LinAlgError:
            d = np.linalg.lstsq(N, -g[1:].ravel(), rcond=None)[0].reshape(m - 1, 3)
        R[1:] = so3_exp(d) @ R[1:]
        if np.abs(d).max() < 1e-12:
            break
    return R


def _rotation_only(pairs, n_key: int, w: int, h: int, opts: SfmOptions, test: dict | None, reason: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(K at working size, R (N, 3, 3), solved (N,), report) of the fixed-centre model."""
    if test is not None and test["max_pair_rotation_deg"] >= opts.min_rotation_deg:
        f, f_source = test["focal"], "homographies"
    else:
        f, f_source = focal_prior(w, h), "phone prior (26 mm equivalent): the camera hardly rotated"
    K = intrinsics(f, w, h)
    if pairs:
        R, solved = _average_rotations(pairs, n_key, K)
    else:
        R, solved = np.repeat(np.eye(3)[None], n_key, axis=0), np.ones(n_key, bool)
        f_source = "phone prior (26 mm equivalent): no wall texture matched between keyframes"
    R[~solved] = np.eye(3)
    return K, R, solved, {"reason": reason, "focal_source": f_source}


def _incremental(database: Path, img_dir: Path, workdir: Path, names: list[str], opts: SfmOptions):
    """Run pycolmap's incremental mapper; return the largest reconstruction or None."""
    import pycolmap

    out = workdir / "sparse"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = opts.num_threads
    options.random_seed = opts.seed
    options.multiple_models = False
    options.min_model_size = 2
    options.ba_refine_principal_point = False
    options.ba_refine_extra_params = False
    options.mapper.init_min_num_inliers = min(100, 2 * opts.min_pair_inliers)
    options.mapper.init_min_tri_angle = 4.0      # short handheld baselines
    options.mapper.abs_pose_min_num_inliers = 20
    recs = pycolmap.incremental_mapping(str(database), str(img_dir), str(out), options=options)
    if not recs:
        return None
    return max(recs.values(), key=lambda r: r.num_reg_images())


# --------------------------------------------------------------------------------------------- the stage
def solve_cameras(frames: list[np.ndarray] | np.ndarray, frame_indices: np.ndarray, masks: np.ndarray | None,
                  n_frames: int, workdir: str | Path, *, scale: float = 1.0, options: SfmOptions = SfmOptions(),
                  progress: bool = False) -> CameraSolution:
    """Cameras for all `n_frames` attempt frames from N keyframes (see the module docstring).

    frames:        N keyframe images (H, W, 3) uint8 RGB, all the same size, in time order. Downscaled
                   frames are fine (and much faster: ~720 px on the long side is plenty, see SfmOptions.first_octave);
    frame_indices: (N,) attempt frame of each keyframe, strictly increasing, in [0, n_frames);
    masks:         (N, H, W) bool, True = climber (ignored for features after dilation), or None;
    n_frames:      frames of the attempt (T);
    workdir:       folder for COLMAP's database, images and model (reused, cleaned per run);
    scale:         full-size pixels per pixel of `frames` (K and errors are reported at full size).
    """
    from tqdm import tqdm

    idx, masks = _check_inputs(frames, frame_indices, masks, n_frames)
    h, w = np.asarray(frames[0]).shape[:2]
    solver = KeyframeSolver(workdir, len(idx), (w, h), scale=scale, options=options)
    for img, m in tqdm(list(zip(frames, masks)), desc="cameras", unit="keyframe", disable=not progress,
                       leave=False):
        solver.add(img, m)
    return solver.solve(idx, n_frames)


@contextmanager
def _quiet_colmap():
    """COLMAP's glog chatter only with `cruxlab -v`."""
    import pycolmap

    level = pycolmap.logging.minloglevel
    if not log.isEnabledFor(logging.INFO):
        pycolmap.logging.minloglevel = 2
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = level


class KeyframeSolver:
    """`solve_cameras` one keyframe at a time: `extract` writes a keyframe and extracts its SIFT features,
    `add` drops those on the climber and matches the rest with the keyframes before it (COLMAP skips pairs it
    matched already), so the work can run while the video is still being decoded
    (`reconstruction.camera_worker`: `extract` as soon as a keyframe is decoded, `add` once the pose stage
    has found the climber in it); `solve` then tests for a fixed camera, maps, and gives every attempt frame
    a pose. The same result as adding all keyframes at once (one thread, seeded RANSAC).

    workdir: COLMAP's folder (cleaned); n_keyframes: how many `add` calls will come (exhaustive or
    neighbours and anchors: SfmOptions.exhaustive_up_to); size: (w, h) of the keyframe images; scale: full-size
    pixels per image pixel.
    """

    def __init__(self, workdir: str | Path, n_keyframes: int, size: tuple[int, int], *, scale: float = 1.0,
                 options: SfmOptions = SfmOptions()):
        try:
            import pycolmap
        except ImportError as exc:  # pragma: no cover - pycolmap is a core dependency
            raise BackendUnavailableError(f"pycolmap is missing ({exc}); run scripts/setup.sh") from None
        self.t0 = time.perf_counter()
        self.workdir, self.n_keyframes, self.size, self.scale, self.options = (
            Path(workdir), n_keyframes, (int(size[0]), int(size[1])), scale, options)
        self.img_dir, self.database = self.workdir / "images", self.workdir / "database.db"
        if self.img_dir.exists():
            shutil.rmtree(self.img_dir)
        self.img_dir.mkdir(parents=True)
        self.database.unlink(missing_ok=True)
        pycolmap.Database.open(str(self.database)).close()      # a new, empty database (`import_images` needs one)
        self.names: list[str] = []        # the keyframes added (masked, matched)
        self.extracted = 0                # the keyframes whose features were extracted
        self.pairs: list[tuple[int, int, np.ndarray, int]] = []   # see _pair_homographies
        self.stage_t = {"extract_s": 0.0, "match_s": 0.0}
        w, h = self.size
        self.reader = pycolmap.ImageReaderOptions()
        self.reader.camera_model = "SIMPLE_PINHOLE"
        self.reader.camera_params = f"{focal_prior(w, h)},{w / 2},{h / 2}"
        self.extraction = pycolmap.FeatureExtractionOptions()
        self.extraction.sift.max_num_features = options.max_features
        self.extraction.sift.first_octave = (options.first_octave if options.first_octave is not None
                                             else -1 if max(w, h) < options.upsample_below_px else 0)
        self.matching = pycolmap.FeatureMatchingOptions()
        self.matching.num_threads = options.num_threads
        self.verification = pycolmap.TwoViewGeometryOptions()
        self.verification.min_num_inliers = options.min_pair_inliers
        self.verification.ransac.random_seed = options.seed
        self.verification.ransac.min_num_trials = options.ransac_min_trials
        pycolmap.set_random_seed(options.seed)
        with _quiet_colmap():
            self.extractor = pycolmap.FeatureExtractor.create(self.extraction, pycolmap.Device.cpu)

    @property
    def exhaustive(self) -> bool:
        return self.n_keyframes <= self.options.exhaustive_up_to

    def extract(self, image: np.ndarray) -> KeyframeFeatures:
        """SIFT features of the next keyframe (H, W, 3) uint8 RGB of `size`, before its climber mask is known:
        COLMAP drops the keypoints under an image mask after detection, which `add` does the same way, so
        the camera worker extracts a keyframe as soon as it is decoded and masks it once the pose stage has
        found the climber there. The keyframe is written as BMP (no compression to spend CPU on) and read
        back as COLMAP's feature extraction reads it (grey from the file)."""
        import cv2
        import pycolmap

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[1::-1] != self.size:
            raise InputError(f"keyframes must be RGB images of one size {self.size}, got shape {image.shape}")
        if self.extracted >= self.n_keyframes:
            raise InputError(f"{self.n_keyframes} keyframes were announced; this is one more")
        name = f"kf_{self.extracted:04d}.bmp"
        s = time.perf_counter()
        cv2.imwrite(str(self.img_dir / name), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
        keypoints, descriptors = self.extractor.extract(pycolmap.Bitmap.read(str(self.img_dir / name), False))
        self.extracted += 1
        xy_shape = np.array([(k.x, k.y, k.a11, k.a12, k.a21, k.a22) for k in keypoints], np.float32)
        self.stage_t["extract_s"] += time.perf_counter() - s
        return KeyframeFeatures(name, xy_shape.reshape(-1, 6), np.asarray(descriptors.data, dtype=np.uint8))

    def add(self, image: np.ndarray | KeyframeFeatures, mask: np.ndarray | None) -> None:
        """The next keyframe: its image (H, W, 3) uint8 RGB of `size` or its features from `extract`, with its
        climber mask (H, W) bool or None. Its features off the climber are stored and matched with the
        keyframes before it."""
        import pycolmap

        features = image if isinstance(image, KeyframeFeatures) else self.extract(image)
        name = f"kf_{len(self.names):04d}.bmp"
        if features.name != name:
            raise InputError(f"keyframes must be added in the order they were extracted: {features.name} "
                             f"came where {name} was expected")
        w, h = self.size
        keep = _kept_keypoints(features.keypoints, _feature_mask(mask, (h, w), self.options.mask_dilate_px))
        with _quiet_colmap():
            s = time.perf_counter()
            pycolmap.import_images(str(self.database), str(self.img_dir), pycolmap.CameraMode.SINGLE, [name],
                                   self.reader)
            self.reader.existing_camera_id = 1    # every later keyframe shares the first one's camera
            with pycolmap.Database.open(str(self.database)) as db:
                image_id = db.read_image_with_name(name).image_id
                db.write_keypoints(image_id, features.keypoints[keep])
                db.write_descriptors(image_id, pycolmap.FeatureDescriptors(
                    pycolmap.FeatureExtractorType.SIFT, np.ascontiguousarray(features.descriptors[keep])))
            self.names.append(name)
            self.stage_t["extract_s"] += time.perf_counter() - s
            if len(self.names) > 1:
                s = time.perf_counter()
                self._match(len(self.names) - 1)
                # Every new verified pair has this keyframe in it: its homographies now, not after the video.
                self.pairs += _pair_homographies(self.database, len(self.names) - 1, self.options.min_pair_inliers)
                self.stage_t["match_s"] += time.perf_counter() - s

    @property
    def anchor_step(self) -> int:
        return max(1, -(-self.n_keyframes // max(1, self.options.anchors)))

    def partners(self, k: int) -> list[int]:
        """The keyframes before keyframe k that it is matched with (all of them when exhaustive)."""
        if self.exhaustive:
            return list(range(k))
        s = self.anchor_step
        return [j for j in range(k) if k - j <= self.options.sequential_overlap or j % s == 0 or k % s == 0]

    def _match(self, k: int) -> None:
        import pycolmap

        if self.exhaustive:
            pycolmap.match_exhaustive(str(self.database), matching_options=self.matching,
                                      verification_options=self.verification, device=pycolmap.Device.cpu)
            return
        pairs = self.partners(k)
        if not pairs:
            return
        listing = self.workdir / "pairs.txt"
        listing.write_text("".join(f"kf_{j:04d}.bmp kf_{k:04d}.bmp\n" for j in pairs))
        pairing = pycolmap.ImportedPairingOptions()
        pairing.match_list_path = str(listing)
        pycolmap.match_image_pairs(str(self.database), matching_options=self.matching, pairing_options=pairing,
                                   verification_options=self.verification, device=pycolmap.Device.cpu)

    def solve(self, frame_indices: np.ndarray, n_frames: int) -> CameraSolution:
        """Cameras of all `n_frames` attempt frames; `frame_indices` (N,) are the added keyframes' frames."""
        idx = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
        if len(idx) != len(self.names):
            raise InputError(f"{len(self.names)} keyframes were added but {len(idx)} frame indices given")
        with _quiet_colmap():
            return self._finish(idx, n_frames)

    def _finish(self, idx: np.ndarray, n_frames: int) -> CameraSolution:
        N, (w, h), options = len(idx), self.size, self.options
        report: dict = {"keyframes": N, "working_size": [w, h], "scale": float(self.scale),
                        "sift_first_octave": int(self.extraction.sift.first_octave),
                        "matching": "exhaustive" if self.exhaustive
                        else f"neighbours (+-{options.sequential_overlap}) and anchors (every {self.anchor_step})"}
        pairs = sorted(self.pairs, key=lambda p: p[:2])
        report["verified_pairs"] = len(pairs)
        test = _rotation_test(pairs, w, h, options) if pairs else None
        if test is not None:
            report["rotation_test"] = test
        rotation_only = test is None or test["non_orthogonality"] < options.rotation_only_threshold
        if test is None:
            reason = "no keyframe pair shares enough wall features; camera assumed fixed"
        else:
            reason = (f"pure rotation explains the views (non-orthogonality {test['non_orthogonality']:.4f} < "
                      f"{options.rotation_only_threshold}): tripod or pan, camera centre fixed")
        keys = None
        if not rotation_only:
            s = time.perf_counter()
            rec = _incremental(self.database, self.img_dir, self.workdir, self.names, options)
            self.stage_t["mapping_s"] = time.perf_counter() - s
            n_reg = 0 if rec is None else rec.num_reg_images()
            report["sfm_registered"] = n_reg
            if n_reg < max(2, options.min_registered_fraction * N):
                rotation_only = True
                reason = (f"SfM registered only {n_reg} of {N} keyframes; falling back to a fixed camera centre "
                          "(add texture to the view or film with more camera motion)")
            else:
                keys = _keyframes_from_model(rec, self.names, w, h, self.scale)
                report.update(keys.report)
        if rotation_only:
            K, Rk, solved, extra = _rotation_only(pairs, N, w, h, options, test, reason)
            keys = _KeyframeCameras(K, Rk, np.zeros((N, 3)), solved, np.zeros((0, 3)), np.zeros((0, 3), np.uint8),
                                    np.zeros(0), float("nan"), {})
            report.update({"model": "rotation-only", **extra})
            log.info("cameras: %s", reason)
        if not keys.solved.any():
            raise InputError("no keyframe could be given a camera pose; the video shows too little wall texture")
        R_all, t_all, registered = _every_frame(idx, keys.R, keys.t, keys.solved, n_frames)
        K_full = keys.K.copy()
        K_full[:2] *= self.scale
        report.update({"keyframes_registered": int(keys.solved.sum()), "focal_px": float(K_full[0, 0]),
                       "reprojection_error_px": keys.reprojection_error,
                       **{k: round(v, 2) for k, v in self.stage_t.items()},
                       "seconds": round(time.perf_counter() - self.t0, 2)})
        return CameraSolution(K=K_full, R=R_all, t=t_all, registered=registered, keyframes=idx,
                              keyframe_registered=keys.solved, model=report["model"], points3d=keys.points,
                              rgb=keys.rgb, point_error=keys.point_error, reprojection_error=keys.reprojection_error,
                              image_size=(int(round(w * self.scale)), int(round(h * self.scale))), report=report)


@dataclass(frozen=True)
class _KeyframeCameras:
    """Cameras of the N keyframes at the working size: K (3, 3); R (N, 3, 3), t (N, 3) world -> camera, NaN
    where not solved; solved (N,) bool; scene points (P, 3) with rgb, per-point error and the mean
    reprojection error in full-size pixels; report: what the SfM model says about itself."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    solved: np.ndarray
    points: np.ndarray
    rgb: np.ndarray
    point_error: np.ndarray
    reprojection_error: float
    report: dict


def _keyframes_from_model(rec, names: list[str], w: int, h: int, scale: float) -> _KeyframeCameras:
    """The keyframe cameras and scene points of a pycolmap reconstruction."""
    N = len(names)
    cam = next(iter(rec.cameras.values()))
    fk = float(cam.params[0])
    K = intrinsics(fk, w, h)
    K[0, 2], K[1, 2] = float(cam.params[1]), float(cam.params[2])
    Rk = np.full((N, 3, 3), np.nan)
    tk = np.full((N, 3), np.nan)
    solved = np.zeros(N, bool)
    for img in rec.images.values():
        if not img.has_pose:
            continue
        k = names.index(img.name)
        pose = img.cam_from_world()
        Rk[k], tk[k], solved[k] = pose.rotation.matrix(), pose.translation, True
    points, rgb, perr = np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0)
    pts = rec.points3D
    if len(pts):
        points = np.array([p.xyz for p in pts.values()])
        rgb = np.array([p.color for p in pts.values()], dtype=np.uint8)
        perr = np.array([p.error for p in pts.values()]) * scale
    mean_err = float(rec.compute_mean_reprojection_error()) * scale
    C = camera_centers(Rk[solved], tk[solved])
    depth = np.median(np.linalg.norm(points[:, None] - C[None], axis=-1)) if len(points) else np.nan
    report = {"model": "sfm", "focal_working_px": fk, "points": int(len(points)),
              "baseline_over_depth": float(np.ptp(C, axis=0).max() / depth) if len(points) else None}
    return _KeyframeCameras(K, Rk, tk, solved, points, rgb, perr, mean_err, report)


def _every_frame(idx: np.ndarray, Rk: np.ndarray, tk: np.ndarray, solved: np.ndarray, n_frames: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R (T, 3, 3), t (T, 3) of every attempt frame, interpolated between the solved keyframes, and the
    (T,) registered mask (True at the solved keyframes)."""
    Ck = camera_centers(Rk[solved], tk[solved])
    R_all, C_all = interpolate_poses(idx[solved], Rk[solved], Ck, n_frames)
    t_all = -np.einsum("tij,tj->ti", R_all, C_all)
    registered = np.zeros(n_frames, bool)
    registered[idx[solved]] = True
    return R_all, t_all, registered
