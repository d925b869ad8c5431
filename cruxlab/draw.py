"""Projection and skeleton drawing shared by renders, the dashboard and Label Studio videos."""

from __future__ import annotations

import numpy as np

from cruxlab.joints import BONES, JOINT_NAMES

#: RGB colours: left side blue, right side orange, centre grey.
SIDE_COLORS = {"left": (66, 135, 245), "right": (245, 140, 40), "centre": (220, 220, 220)}
JOINT_COLORS = np.array(
    [SIDE_COLORS["left"] if n.startswith("left") else SIDE_COLORS["right"] if n.startswith("right")
     else SIDE_COLORS["centre"] for n in JOINT_NAMES],
    dtype=np.uint8,
)


def project(points: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Pinhole projection of world points (..., N, 3) with world->camera R (..., 3, 3), t (..., 3) and
    intrinsics K (..., 3, 3) into pixels (..., N, 2). Points behind the camera come out NaN."""
    cam = np.einsum("...ij,...nj->...ni", R, points) + t[..., None, :]
    z = cam[..., 2:3]
    with np.errstate(invalid="ignore", divide="ignore"):
        uvw = np.einsum("...ij,...nj->...ni", K, cam / z)
    uv = uvw[..., :2]
    return np.where(z > 1e-6, uv, np.nan)


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    min_confidence: float = 0.2,
    thickness: int | None = None,
    bgr: bool = False,
) -> np.ndarray:
    """Draw one skeleton (21, 2) pixels onto `image` (H, W, 3) uint8 in place and return it.
    Joints that are NaN or below `min_confidence` are skipped, with their bones."""
    import cv2

    h, w = image.shape[:2]
    thickness = thickness or max(2, round(min(h, w) / 250))
    ok = np.isfinite(keypoints).all(axis=1)
    if confidence is not None:
        ok &= confidence >= min_confidence
    pts = np.nan_to_num(keypoints).round().astype(np.int32)
    colors = JOINT_COLORS[:, ::-1] if bgr else JOINT_COLORS
    for a, b in BONES:
        if ok[a] and ok[b]:
            c = colors[b] if JOINT_NAMES[a][:4] == JOINT_NAMES[b][:4] else colors[a]
            cv2.line(image, tuple(map(int, pts[a])), tuple(map(int, pts[b])), tuple(int(v) for v in c),
                     thickness, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(image, tuple(map(int, pts[j])), thickness + 1, tuple(int(v) for v in colors[j]), -1, cv2.LINE_AA)
    return image
