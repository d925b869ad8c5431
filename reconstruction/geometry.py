"""Small pure geometry helpers shared by the camera, wall-frame and lifting stages.

Conventions (DESIGN.md): cameras are OpenCV pinholes (x right, y down, z forward); `R, t` map world points to
camera coordinates, `X_cam = R @ X_world + t`; the camera centre is `C = -R.T @ t`. Everything is vectorised
over leading axes; nothing here imports anything heavier than numpy/scipy (rotations: numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# ------------------------------------------------------------------------------------------------- rotations
def project_to_so3(M: np.ndarray) -> np.ndarray:
    """Nearest rotation matrices (Frobenius) to (..., 3, 3) matrices, via SVD with det fixed to +1."""
    U, _, Vt = np.linalg.svd(np.asarray(M, dtype=np.float64))
    d = np.sign(np.linalg.det(U @ Vt))
    U = U.copy()
    U[..., :, 2] *= d[..., None]
    return U @ Vt


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3, 3) cross-product matrices [v]x of (..., 3) vectors."""
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1), np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def so3_exp(v: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (axis * angle, radians; Rodrigues)."""
    v = np.asarray(v, dtype=np.float64)
    th = np.linalg.norm(v, axis=-1)[..., None, None]
    small = th < 1e-6
    ths = np.where(small, 1.0, th)
    a = np.where(small, 1.0 - th ** 2 / 6.0, np.sin(ths) / ths)                 # sin(t) / t
    b = np.where(small, 0.5 - th ** 2 / 24.0, (1.0 - np.cos(ths)) / ths ** 2)   # (1 - cos(t)) / t^2
    S = _skew(v)
    return np.eye(3) + a * S + b * (S @ S)


def so3_log(R: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of rotation matrices (..., 3, 3) (angles in [0, pi])."""
    R = np.asarray(R, dtype=np.float64)
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    th = np.arccos(cos)
    w = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.sin(th)
    small = th < 1e-6
    f = np.where(small, 0.5 + th ** 2 / 12.0, th / (2.0 * np.where(small, 1.0, sin)))
    v = f[..., None] * w
    near_pi = th > np.pi - 1e-3            # sin ~ 0: the axis from the symmetric part, R + R^T = 2 (cos I + (1-cos) a a^T)
    if near_pi.any():
        B = (R[near_pi] + np.swapaxes(R[near_pi], -1, -2)) / 2.0 - cos[near_pi][:, None, None] * np.eye(3)
        col = np.argmax(np.diagonal(B, axis1=-2, axis2=-1), axis=-1)
        axis = B[np.arange(len(B)), :, col]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        axis *= np.where(np.sum(axis * w[near_pi], -1) < 0, -1.0, 1.0)[:, None]
        v[near_pi] = th[near_pi][:, None] * axis
    return v


def rotation_angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the rotation Ra @ Rb.T, for (..., 3, 3) stacks."""
    rel = np.einsum("...ij,...kj->...ik", Ra, Rb)
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def is_rotation(R: np.ndarray, atol: float = 1e-3) -> np.ndarray:
    """(...,) bool: finite, orthonormal within `atol`, determinant +1."""
    R = np.asarray(R, dtype=np.float64)
    finite = np.isfinite(R).all(axis=(-2, -1))
    Rs = np.where(finite[..., None, None], R, np.eye(3))
    ortho = np.abs(np.einsum("...ji,...jk->...ik", Rs, Rs) - np.eye(3)).max(axis=(-2, -1)) < atol
    return finite & ortho & (np.abs(np.linalg.det(Rs) - 1.0) < atol)


def look_at(center: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 1.0, 0.0]),
            roll_rad: np.ndarray | float = 0.0) -> np.ndarray:
    """World->camera rotations (..., 3, 3) of OpenCV cameras at `center` (..., 3) looking at `target` (..., 3),
    with image-up along world `up` and an extra roll about the optical axis (radians)."""
    center, target = np.broadcast_arrays(np.asarray(center, float), np.asarray(target, float))
    z = target - center
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(z, np.asarray(up, float))            # image x (right) = forward x up
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=-2)
    roll = np.asarray(roll_rad, float)
    if np.any(roll != 0):
        c, s = np.cos(roll), np.sin(roll)
        Rz = np.zeros(np.broadcast(c, s).shape + (3, 3))
        Rz[..., 0, 0], Rz[..., 0, 1], Rz[..., 1, 0], Rz[..., 1, 1], Rz[..., 2, 2] = c, -s, s, c, 1.0
        R = Rz @ R
    return R


# --------------------------------------------------------------------------------------------------- cameras
def focal_prior(width: int, height: int) -> float:
    """Focal length (pixels) of a typical phone main camera (26 mm equivalent) for a width x height frame,
    used when the video itself cannot tell (tripod footage without rotation)."""
    return float(np.hypot(width, height) * 26.0 / 43.27)


def intrinsics(f: float, width: int, height: int) -> np.ndarray:
    """Pinhole K (3, 3) with focal `f` px and the principal point at the image centre."""
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def interpolate_poses(key_frames: np.ndarray, R_key: np.ndarray, C_key: np.ndarray, n_frames: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Camera poses for every frame 0..n_frames-1 from poses at sorted `key_frames` (N,).

    Rotations are slerped, centres linearly interpolated; frames before the first / after the last keyframe
    take the nearest keyframe's pose. Returns world->camera R (T, 3, 3) and camera centres C (T, 3).
    """
    key_frames = np.asarray(key_frames)
    frames = np.clip(np.arange(n_frames), key_frames[0], key_frames[-1]).astype(np.float64)
    if len(key_frames) == 1:
        return np.repeat(R_key[:1], n_frames, axis=0), np.repeat(C_key[:1], n_frames, axis=0)
    R_key = project_to_so3(R_key)
    k = np.clip(np.searchsorted(key_frames, frames, side="right") - 1, 0, len(key_frames) - 2)
    alpha = (frames - key_frames[k]) / (key_frames[k + 1] - key_frames[k])
    step = so3_log(np.swapaxes(R_key[:-1], 1, 2) @ R_key[1:])                     # R_k^T R_k+1, (N-1, 3)
    R = R_key[k] @ so3_exp(alpha[:, None] * step[k])
    C = np.stack([np.interp(frames, key_frames, C_key[:, k]) for k in range(3)], axis=1)
    return R, C


def intersect_plane(origins: np.ndarray, directions: np.ndarray, normal: np.ndarray, point: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Intersections of rays origin + lam * direction with the plane n.(X - p) = 0.

    origins (..., 3) broadcastable against directions (..., 3). Returns points (..., 3) and lam (...);
    rays parallel to the plane or hitting it behind their origin give NaN."""
    normal = np.asarray(normal, float)
    denom = directions @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = ((np.asarray(point, float) - origins) @ normal) / denom
    lam = np.where((np.abs(denom) > 1e-9) & (lam > 0), lam, np.nan)
    return origins + lam[..., None] * directions, lam


# ---------------------------------------------------------------------------------------------- similarities
@dataclass(frozen=True)
class Similarity:
    """X' = scale * rotation @ X + translation (maps a source frame onto a target frame).

    scale: float > 0; rotation: (3, 3); translation: (3,) in target units.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    @staticmethod
    def identity() -> "Similarity":
        return Similarity(1.0, np.eye(3), np.zeros(3))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map points (..., 3)."""
        return self.scale * (np.asarray(points) @ self.rotation.T) + self.translation

    def apply_direction(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v) @ self.rotation.T

    def apply_cameras(self, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World->camera poses (..., 3, 3), (..., 3) of the source frame re-expressed for the target frame.

        Camera coordinates are scaled too, so projections are unchanged: R' = R Q^T, t' = s t - R' b."""
        R2 = R @ self.rotation.T
        t2 = self.scale * t - np.einsum("...ij,j->...i", R2, self.translation)
        return R2, t2

    def inverse(self) -> "Similarity":
        Rt = self.rotation.T
        return Similarity(1.0 / self.scale, Rt, -(Rt @ self.translation) / self.scale)

    def then(self, other: "Similarity") -> "Similarity":
        """The similarity that applies `self` first, then `other`."""
        return Similarity(other.scale * self.scale, other.rotation @ self.rotation,
                          other.scale * (other.rotation @ self.translation) + other.translation)


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> Similarity:
    """Least-squares similarity (or rigid transform) mapping src (N, 3) onto dst (N, 3) (Umeyama 1991).
    Rows with NaN in either are ignored."""
    ok = np.isfinite(src).all(axis=1) & np.isfinite(dst).all(axis=1)
    src, dst = np.asarray(src, float)[ok], np.asarray(dst, float)[ok]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(xd.T @ xs / len(src))
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt)) or 1.0
    Rm = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (xs**2).sum(1).mean()) if with_scale else 1.0
    return Similarity(s, Rm, mu_d - s * Rm @ mu_s)


# ------------------------------------------------------------------------------------------------------ planes
@dataclass(frozen=True)
class PlaneFit:
    """A plane n.(X - point) = 0 fitted to points. normal: (3,) unit; point: (3,) centroid of the inliers;
    inliers: (N,) bool; rms: RMS point-plane distance of the inliers (input units)."""

    normal: np.ndarray
    point: np.ndarray
    inliers: np.ndarray
    rms: float


def fit_plane_lsq(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total-least-squares plane (unit normal, centroid) of points (N >= 3, 3)."""
    c = points.mean(0)
    _, _, Vt = np.linalg.svd(points - c, full_matrices=False)
    return Vt[2], c


def fit_plane_ransac(points: np.ndarray, threshold: float, *, iterations: int = 500, min_inliers: int = 3,
                     exclude: np.ndarray | None = None, seed: int = 0) -> PlaneFit | None:
    """RANSAC plane through points (N, 3) with inlier distance `threshold`, refined by least squares on the
    inliers. `exclude` (N,) bool marks points not to use. None when fewer than `min_inliers` agree.

    Hypotheses are evaluated all at once (iterations x N distances), so a few thousand points cost ~ms."""
    pts = np.asarray(points, float)
    usable = np.isfinite(pts).all(axis=1)
    if exclude is not None:
        usable &= ~exclude
    idx = np.flatnonzero(usable)
    if len(idx) < max(3, min_inliers):
        return None
    rng = np.random.default_rng(seed)
    P = pts[idx]
    samples = np.stack([rng.choice(len(P), 3, replace=False) for _ in range(iterations)])
    a, b, c = P[samples[:, 0]], P[samples[:, 1]], P[samples[:, 2]]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    good = norm > 1e-12
    n, a = n[good] / norm[good, None], a[good]
    if len(n) == 0:
        return None
    dist = np.abs((P[None, :, :] - a[:, None, :]) @ n[..., None])[..., 0] if len(P) * len(n) < 4e7 else None
    if dist is None:  # very large clouds: score in chunks
        counts = np.concatenate([
            (np.abs(np.einsum("hnk,hk->hn", P[None] - a[i:i + 50, None], n[i:i + 50])) < threshold).sum(1)
            for i in range(0, len(n), 50)])
        best = int(np.argmax(counts))
        inl = np.abs((P - a[best]) @ n[best]) < threshold
    else:
        best = int(np.argmax((dist < threshold).sum(1)))
        inl = dist[best] < threshold
    for _ in range(3):  # refine: LSQ on inliers, re-select
        if inl.sum() < 3:
            break
        normal, centre = fit_plane_lsq(P[inl])
        inl = np.abs((P - centre) @ normal) < threshold
    if inl.sum() < max(3, min_inliers):
        return None
    normal, centre = fit_plane_lsq(P[inl])
    inliers = np.zeros(len(pts), bool)
    inliers[idx[inl]] = True
    rms = float(np.sqrt(np.mean(((P[inl] - centre) @ normal) ** 2)))
    return PlaneFit(normal=normal, point=centre, inliers=inliers, rms=rms)
