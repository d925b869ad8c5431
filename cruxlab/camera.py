"""Pinhole cameras as arrays (OpenCV convention: x right, y down, z forward; R, t map world to camera):
camera centres and viewing rays, shared by reconstruction (lifting, the wall) and moves (image evidence)."""

from __future__ import annotations

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
