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
#: Hand and foot paths (the dashboard's trajectory charts and the player's 3D trails): hands strong, feet light.
EFFECTOR_COLORS = {"left_hand": "#1f6fd1", "right_hand": "#f07f1b", "left_foot": "#7aa9ea", "right_foot": "#f6b26b"}
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


# ------------------------------------------------------------------------------- contacts, holds, moves
#: Lanes of `contact_band`, top to bottom.
BAND_LANES: tuple[str, ...] = ("left_hand", "right_hand", "left_foot", "right_foot", "body")
HOLD_RGB = {"hand": (66, 135, 245), "foot": (84, 162, 75), "floor": (150, 150, 150)}
_LANE_SHORT = {"left_hand": "LH", "right_hand": "RH", "left_foot": "LF", "right_foot": "RF", "body": "body"}


def _hold_rgb(h: int) -> tuple[int, int, int]:
    """A stable, distinct colour per hold index (golden-angle hues)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((h * 0.618034) % 1.0, 0.45, 0.85)
    return int(r * 255), int(g * 255), int(b * 255)


def contact_band(hold: np.ndarray, moves: list[tuple[int, int, str, str, float]], *, width: int = 1200,
                 lane_height: int = 18, wall: tuple[int, int] | None = None, frame: int | None = None,
                 marks: list[int] | None = None, fps: float | None = None, sure: float = 0.7) -> np.ndarray:
    """The contact lanes of an attempt as an RGB image (for the dashboard's attempt page, reports, sheets).

    One lane per limb (BAND_LANES): the upper half shows where the limb is on a hold, one colour per hold
    with its number (`hold`: (T, 4) hold index or -1, db.store.HoldContacts.hold); the lower half the moves
    (start, end, label, limb, confidence) in their label colours, solid when confidence >= `sure`, hatched
    when unsure. Frames outside the on-the-wall interval `wall` (start, end) are greyed; `frame` draws the
    playhead; `marks` draw ticks (e.g. the frames of a contact sheet); `fps` adds a seconds axis.
    Time runs left to right over the attempt's T frames."""
    import cv2

    hold = np.asarray(hold)
    T = max(len(hold), 1)
    lanes = len(BAND_LANES)
    axis = 16 if fps else 0
    img = np.full((lanes * lane_height + axis, width, 3), 248, np.uint8)
    label_w = 34
    span = width - label_w - 4

    def x(f: float) -> int:
        return label_w + int(round(f / T * span))

    if wall is not None:
        img[:lanes * lane_height, label_w:x(wall[0])] = 215
        img[:lanes * lane_height, x(wall[1] + 1):] = 215
    fs = lane_height / 40
    for li, limb in enumerate(BAND_LANES):
        y0 = li * lane_height
        cv2.putText(img, _LANE_SHORT[limb], (3, y0 + int(lane_height * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, fs,
                    (60, 60, 60), 1, cv2.LINE_AA)
        cv2.line(img, (label_w, y0 + lane_height - 1), (width - 1, y0 + lane_height - 1), (225, 225, 225), 1)
        if li < 4 and len(hold):
            from cruxlab.intervals import runs

            for h in np.unique(hold[:, li][hold[:, li] >= 0]):
                for a, b in runs(hold[:, li] == h):
                    cv2.rectangle(img, (x(a), y0 + 1), (max(x(b + 1) - 1, x(a)), y0 + lane_height // 2 - 1),
                                  _hold_rgb(int(h)), -1)
                    if x(b + 1) - x(a) > 14:
                        cv2.putText(img, str(int(h)), (x(a) + 2, y0 + lane_height // 2 - 2), cv2.FONT_HERSHEY_SIMPLEX,
                                    fs * 0.8, (30, 30, 30), 1, cv2.LINE_AA)
        for s, e, label, mlimb, conf in moves:
            if mlimb != limb:
                continue
            color = hex_rgb(LABEL_COLORS.get(label, "#888888"))
            p0, p1 = (x(s), y0 + lane_height // 2), (max(x(e + 1) - 1, x(s) + 1), y0 + lane_height - 2)
            if conf >= sure:
                cv2.rectangle(img, p0, p1, color, -1)
            else:  # unsure: outlined and hatched
                cv2.rectangle(img, p0, p1, color, 1)
                for hx in range(p0[0], p1[0], 4):
                    cv2.line(img, (hx, p1[1]), (min(hx + 4, p1[0]), p0[1]), color, 1)
    for m in marks or []:
        cv2.line(img, (x(m), 0), (x(m), 3), (0, 0, 0), 1)
    if fps:
        y = lanes * lane_height + axis - 4
        step = max(1, int(np.ceil(T / fps / 12)))
        for sec in range(0, int(T / fps) + 1, step):
            cv2.line(img, (x(sec * fps), lanes * lane_height), (x(sec * fps), lanes * lane_height + 4), (90, 90, 90), 1)
            cv2.putText(img, f"{sec}s", (x(sec * fps) + 2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1,
                        cv2.LINE_AA)
    if frame is not None:
        cv2.line(img, (x(frame), 0), (x(frame), img.shape[0] - 1), (220, 40, 40), 2)
    return img


def draw_holds(img: np.ndarray, holds_px: np.ndarray, kinds, on: dict[int, str] | None = None,
               limbs_px: dict[str, np.ndarray] | None = None, radius: int | None = None) -> np.ndarray:
    """Hold markers in place: a ring per hold (HOLD_RGB by kind: hand, foot, floor) with its number, filled
    and tied by a line to the limb (`limbs_px`: limb -> (2,) pixels) for the holds in `on` (hold -> limb)."""
    import cv2

    h, w = img.shape[:2]
    r = radius or max(4, round(min(h, w) / 70))
    on = on or {}
    for k, (p, kind) in enumerate(zip(np.asarray(holds_px, float), kinds)):
        if not np.isfinite(p).all() or not (-r <= p[0] <= w + r and -r <= p[1] <= h + r):
            continue
        c = (int(round(p[0])), int(round(p[1])))
        color = HOLD_RGB.get(str(kind), (200, 200, 200))
        if k in on:
            cv2.circle(img, c, r, _hold_rgb(k), -1, cv2.LINE_AA)
            limb = on[k]
            if limbs_px and limb in limbs_px and np.isfinite(limbs_px[limb]).all():
                q = tuple(int(round(v)) for v in limbs_px[limb])
                cv2.line(img, c, q, (255, 255, 255), max(1, r // 3), cv2.LINE_AA)
        cv2.circle(img, c, r, (0, 0, 0), max(2, r // 3) + 1, cv2.LINE_AA)
        cv2.circle(img, c, r, color, max(1, r // 3), cv2.LINE_AA)
        cv2.putText(img, str(k), (c[0] + r + 1, c[1] - r), cv2.FONT_HERSHEY_SIMPLEX, max(0.3, r / 14), (0, 0, 0), 3,
                    cv2.LINE_AA)
        cv2.putText(img, str(k), (c[0] + r + 1, c[1] - r), cv2.FONT_HERSHEY_SIMPLEX, max(0.3, r / 14),
                    (255, 255, 255), 1, cv2.LINE_AA)
    return img


# ------------------------------------------------------------------------------------------ sheets
def tile_grid(tiles: list[np.ndarray], cols: int, tile_height: int) -> np.ndarray:
    """RGB images scaled to `tile_height` rows, padded to the widest, laid out `cols` to a row (the last row
    filled with black): one (rows * tile_height, cols * width, 3) image."""
    import cv2

    tiles = [cv2.resize(img, (max(2, round(img.shape[1] * tile_height / img.shape[0])), tile_height),
                        interpolation=cv2.INTER_AREA) for img in tiles]
    tw = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, tw - t.shape[1]), (0, 0))) for t in tiles]
    rows = []
    for r in range(0, len(tiles), cols):
        row = tiles[r:r + cols]
        row += [np.zeros_like(tiles[0])] * (cols - len(row))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def title_bar(text: str, width: int, height: int = 44) -> np.ndarray:
    """A dark (height, width, 3) band with `text` in white, shrunk to fit the width."""
    import cv2

    bar = np.full((height, width, 3), 30, dtype=np.uint8)
    fs = min(0.7, 0.7 * (width - 20) / cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)[0][0])
    cv2.putText(bar, text, (10, 29), cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 255), 1 if fs < 0.5 else 2,
                cv2.LINE_AA)
    return bar


def write_png(path, rgb: np.ndarray):
    """Write an RGB image as PNG (folders created); InputError naming the fix when it cannot be written."""
    from pathlib import Path

    import cv2

    from cruxlab.errors import InputError

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise InputError(f"could not write {path}; check the folder is writable and the name ends in .png")
    return path
