"""Pinhole cameras (OpenCV convention: x right, y down, z forward; R, t map world to camera,
x_cam = R x_world + t): camera centres and viewing rays as array functions, shared by reconstruction (lifting,
the wall) and moves (image evidence), and the one per-frame camera track and wall-point types, shared by the
wall-frame reconstruction, the store, renders and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def camera_centers(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera centres (..., 3) in world coordinates from world->camera (R, t)."""
    return -np.einsum("...ji,...j->...i", R, t)


def pixel_rays(keypoints2d: np.ndarray, K: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Unit world-frame ray directions (T, J, 3) through pixels (T, J, 2), intrinsics K (3, 3) or (T, 3, 3),
    world->camera R (T, 3, 3). NaN pixels give NaN rays."""
    K = np.broadcast_to(K, R.shape)
    Kinv = np.linalg.inv(K)
    uv1 = np.concatenate([keypoints2d, np.ones(keypoints2d.shape[:-1] + (1,))], axis=-1)
    d_cam = np.einsum("tij,tnj->tni", Kinv, uv1)
    d = np.einsum("tji,tnj->tni", R, d_cam)               # R.T @ d_cam
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


@dataclass(frozen=True)
class CameraTrack:
    """Per-frame cameras. K: (T, 3, 3) pixels; R: (T, 3, 3), t: (T, 3) world->camera (OpenCV);
    registered: (T,) bool, False where the pose was interpolated rather than registered."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    registered: np.ndarray

    def __post_init__(self) -> None:
        T = len(self.R)
        if self.K.shape != (T, 3, 3) or self.R.shape != (T, 3, 3) or self.t.shape != (T, 3) \
                or self.registered.shape != (T,):
            raise ValueError(
                f"camera track shapes disagree: K {self.K.shape}, R {self.R.shape}, t {self.t.shape}, "
                f"registered {self.registered.shape}"
            )

    @property
    def n_frames(self) -> int:
        return len(self.R)

    @classmethod
    def shared_intrinsics(cls, K: np.ndarray, R: np.ndarray, t: np.ndarray, registered: np.ndarray
                          ) -> "CameraTrack":
        """A track whose frames all have the intrinsics K (3, 3)."""
        return cls(np.repeat(np.asarray(K, dtype=np.float64)[None], len(R), axis=0), R, t,
                   np.asarray(registered, dtype=bool))


@dataclass(frozen=True)
class WallPoints:
    """Sparse wall reconstruction. xyz: (N, 3) metres, wall frame; rgb: (N, 3) uint8 or None;
    error: (N,) mean reprojection error in pixels or None."""

    xyz: np.ndarray
    rgb: np.ndarray | None = None
    error: np.ndarray | None = None
