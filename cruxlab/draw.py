"""Pure drawing shared by renders, the dashboard and Label Studio videos: projection, skeletons, 2D
detections, the move band, and the blank-wall view for attempts without a video.

Everything here takes arrays and returns images (RGB uint8 unless `bgr`); nothing reads the store or a video.
"""

from __future__ import annotations

import numpy as np

from cruxlab.joints import BONES, JOINT_NAMES
from cruxlab.labels import LABEL_COLORS
from cruxlab.skeleton import Skeleton

#: RGB colours: left side blue, right side orange, centre grey.
SIDE_COLORS = {"left": (66, 135, 245), "right": (245, 140, 40), "centre": (220, 220, 220)}
JOINT_COLORS = np.array(
    [SIDE_COLORS["left"] if n.startswith("left") else SIDE_COLORS["right"] if n.startswith("right")
     else SIDE_COLORS["centre"] for n in JOINT_NAMES],
    dtype=np.uint8,
)
WALL_RGB = (232, 222, 204)
GRID_RGB = (200, 188, 168)
DETECTION_RGB = (255, 255, 255)


def hex_rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b) ints."""
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


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


def draw_detections(img: np.ndarray, kp: np.ndarray, conf: np.ndarray | None, min_conf: float = 0.2) -> None:
    """Raw 2D detections (21, 2) pixels as small white dots with a black rim, in place; NaN or below
    `min_conf` skipped."""
    import cv2

    ok = np.isfinite(kp).all(axis=1)
    if conf is not None:
        ok &= conf >= min_conf
    r = max(2, round(min(img.shape[:2]) / 200))
    for x, y in kp[ok]:
        cv2.circle(img, (int(round(x)), int(round(y))), r + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(img, (int(round(x)), int(round(y))), r, DETECTION_RGB, -1, cv2.LINE_AA)


def draw_band(img: np.ndarray, frame: int, fps: float, moves: list[tuple[int, int, str, str]]) -> None:
    """Top band, in place: frame number, time and the moves (start, end, label, limb) active in this frame,
    in their label colours."""
    import cv2

    h, w = img.shape[:2]
    fs = max(0.35, min(h, 1.4 * w) / 1400)
    th = max(1, int(round(fs * 2)))
    band = int(44 * fs) + 8
    img[:band] = (img[:band].astype(np.uint16) * 2 // 5).astype(np.uint8)
    base = band - int(0.3 * band)
    text = f"{frame} {frame / fps:.2f}s"
    cv2.putText(img, text, (6, base), cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 255), th, cv2.LINE_AA)
    x = 6 + cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, th)[0][0] + 10
    for s, e, label, limb in moves:
        if not s <= frame <= e:
            continue
        side = {"left": "L ", "right": "R "}.get(limb.split("_")[0], "")
        text = f"{label} {side}{limb.split('_')[-1]}"
        tw = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, th)[0][0]
        if x + tw + 10 > w:
            break
        cv2.rectangle(img, (x, 3), (x + tw + 8, band - 3), hex_rgb(LABEL_COLORS.get(label, "#888888")), -1)
        cv2.putText(img, text, (x + 4, base), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), th, cv2.LINE_AA)
        x += tw + 14


# ------------------------------------------------------------------------------------------ wall view
def wall_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, up) unit vectors in the wall plane of unit `normal`: up is gravity-up projected onto the plane
    (x for a horizontal roof), right = up x normal (to the right seen from behind the climber)."""
    n = np.asarray(normal, dtype=float)
    up = np.array([0.0, 1.0, 0.0]) - n * n[1]
    if np.linalg.norm(up) < 1e-6:  # a horizontal "wall" (roof): take x as the in-plane up
        up = np.array([1.0, 0.0, 0.0]) - n * n[0]
    up /= np.linalg.norm(up)
    return np.cross(up, n), up


def _finite_points(skeleton: Skeleton) -> np.ndarray:
    pts = skeleton.keypoints.reshape(-1, 3)
    return pts[np.isfinite(pts).all(axis=1)]


def wall_view_camera(skeleton: Skeleton, height_px: int = 720) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                        tuple[int, int]]:
    """A virtual camera behind the climber looking along -normal at the wall, framing every joint of the
    sequence. Returns K (3, 3), R (3, 3), t (3,) world -> camera, and the image size (w, h)."""
    n = skeleton.normal
    right, up = wall_axes(n)
    R = np.stack([right, -up, -n])
    pts = _finite_points(skeleton)
    if len(pts) == 0:
        pts = skeleton.point[None]
    u, v = pts @ right, pts @ up
    margin = 0.35
    u0, u1, v0, v1 = u.min() - margin, u.max() + margin, v.min() - margin, v.max() + margin
    aspect = float(np.clip((u1 - u0) / (v1 - v0), 0.5, 2.0))
    w, h = int(round(height_px * aspect / 2)) * 2, height_px
    distance = 6.0
    f = min(h / (v1 - v0), w / (u1 - u0)) * distance
    centre = right * (u0 + u1) / 2 + up * (v0 + v1) / 2
    depth = float(np.max(pts @ n)) if len(pts) else 0.0
    C = centre - n * (centre @ n) + n * (depth + distance)
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    return K, R, -R @ C, (w, h)


def wall_background(skeleton: Skeleton, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int],
                    grid_m: float = 0.5) -> np.ndarray:
    """The wall plane as a plain image with a `grid_m` grid, seen by the camera (K, R, t)."""
    import cv2

    w, h = size
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = WALL_RGB
    p0 = skeleton.point
    right, up = wall_axes(skeleton.normal)
    pts = _finite_points(skeleton)
    rel = (pts - p0) if len(pts) else np.zeros((1, 3))
    span = 1.0 + max(float(np.abs(rel @ right).max()), float(np.abs(rel @ up).max()))
    ticks = np.arange(-np.ceil(span / grid_m), np.ceil(span / grid_m) + 1) * grid_m
    a = p0 + right * ticks[:, None]
    b = p0 + up * ticks[:, None]
    lines = np.concatenate([
        np.stack([a - up * span, a + up * span], axis=1),
        np.stack([b - right * span, b + right * span], axis=1),
    ])
    uv = project(lines.reshape(-1, 3), K, R, t).reshape(-1, 2, 2)
    for (x0, y0), (x1, y1) in uv:
        if np.isfinite([x0, y0, x1, y1]).all():
            cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), GRID_RGB, 1, cv2.LINE_AA)
    return img
