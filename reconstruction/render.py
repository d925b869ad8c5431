"""Look at an attempt: the stored wall-frame skeleton drawn over the video, as a video or a contact sheet.

    write_overlay_video("cruxlab.duckdb", attempt_id, "attempt.webm")   # VP9 WebM (codec="libvpx": VP8)
    contact_sheet("cruxlab.duckdb", attempt_id, "attempt.png")          # a grid of frames, one PNG

The skeleton is *projected* from the database (3D joints in the wall frame through each frame's stored
camera K, R, t), so the overlay checks the whole chain: pose, cameras, wall frame and lifting. The raw 2D
detections (table keypoints2d) can be drawn beside it as small white dots: where the two disagree, the
lifting or the cameras are off. Moves active in a frame are named in the top band in their label colours.

Attempts without a video (skeleton imports) or without cameras are drawn on a blank wall seen from behind
the climber: a virtual camera looking along the wall normal, with a 0.5 m grid on the wall plane.
All database reads happen in one short read-only connection before any decoding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cruxlab.draw import draw_skeleton, project
from cruxlab.errors import InputError
from cruxlab.labels import LABEL_COLORS
from cruxlab.skeleton import Skeleton

log = logging.getLogger(__name__)

WALL_RGB = (232, 222, 204)
GRID_RGB = (200, 188, 168)
DETECTION_RGB = (255, 255, 255)


@dataclass(frozen=True)
class RenderData:
    """What a render needs from the store.

    skeleton: the attempt's wall-frame skeleton; cameras: K (T, 3, 3) full-size pixels, R (T, 3, 3), t (T, 3)
    or None; keypoints2d: (T, 21, 2) full-size pixels or None; moves: (start, end, label, limb) rows;
    video_path / video_start_frame / video_frame_step: where attempt frames live in the video (None path for
    skeleton imports); video_size: (w, h) full display size or None.
    """

    attempt_id: int
    name: str
    climber: str
    skeleton: Skeleton
    cameras: object | None
    keypoints2d: np.ndarray | None
    keypoints2d_confidence: np.ndarray | None
    moves: list[tuple[int, int, str, str]]
    video_path: Path | None
    video_start_frame: int
    video_frame_step: int
    video_size: tuple[int, int] | None
    camera_model: str | None


def _resolve_attempt(con, attempt: int | str) -> int:
    from db import store

    if isinstance(attempt, (int, np.integer)):
        store.attempt_info(con, int(attempt))  # raises InputError for an unknown id
        return int(attempt)
    if str(attempt).isdigit() and store.find_attempt(con, name=str(attempt)) is None:
        return _resolve_attempt(con, int(attempt))
    return store.resolve_attempts(con, [str(attempt)])[0][0]


def load_render_data(db, attempt: int | str) -> RenderData:
    """Read everything for rendering `attempt` (id or name); `db` is a path or an open DuckDB connection."""
    from db import store
    from db.connection import connect

    if isinstance(db, (str, Path)):
        with connect(db, read_only=True) as con:
            return load_render_data(con, attempt)
    con = db
    attempt_id = _resolve_attempt(con, attempt)
    info = store.attempt_info(con, attempt_id)
    kp2d = store.read_keypoints2d(con, attempt_id)
    moves = store.current_moves(con, attempt_id)
    size = con.execute(
        "SELECT v.width, v.height FROM attempts a JOIN videos v USING (video_id) WHERE a.attempt_id = ?",
        [attempt_id],
    ).fetchone()
    return RenderData(
        attempt_id=attempt_id, name=info.name, climber=info.climber, skeleton=store.read_skeleton(con, attempt_id),
        cameras=store.read_cameras(con, attempt_id),
        keypoints2d=None if kp2d is None else kp2d.keypoints,
        keypoints2d_confidence=None if kp2d is None else kp2d.confidence,
        moves=[(int(r.start_frame), int(r.end_frame), str(r.label), str(r.limb)) for r in moves.itertuples()],
        video_path=Path(info.video_path) if info.video_path else None,
        video_start_frame=int(info.video_start_frame), video_frame_step=int(info.video_frame_step),
        video_size=None if size is None else (int(size[0]), int(size[1])), camera_model=info.camera_model,
    )


# ------------------------------------------------------------------------------------------ wall view
def wall_view_camera(skeleton: Skeleton, height_px: int = 720) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                        tuple[int, int]]:
    """A virtual camera behind the climber looking along -normal at the wall, framing every joint of the
    sequence. Returns K (3, 3), R (3, 3), t (3,) world -> camera, and the image size (w, h)."""
    n = skeleton.normal
    up = np.array([0.0, 1.0, 0.0]) - n * n[1]
    if np.linalg.norm(up) < 1e-6:  # a horizontal "wall" (roof): take x as the in-plane up
        up = np.array([1.0, 0.0, 0.0]) - n * n[0]
    up /= np.linalg.norm(up)
    right = np.cross(up, n)
    R = np.stack([right, -up, -n])
    pts = skeleton.keypoints.reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
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
    n, p0 = skeleton.normal, skeleton.point
    up = np.array([0.0, 1.0, 0.0]) - n * n[1]
    if np.linalg.norm(up) < 1e-6:
        up = np.array([1.0, 0.0, 0.0]) - n * n[0]
    up /= np.linalg.norm(up)
    right = np.cross(up, n)
    pts = skeleton.keypoints.reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
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


# ------------------------------------------------------------------------------------------ drawing
def _hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _draw_band(img: np.ndarray, frame: int, fps: float, moves: list[tuple[int, int, str, str]]) -> None:
    """Top band: frame number, time and the moves active in this frame (in their label colours)."""
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
        cv2.rectangle(img, (x, 3), (x + tw + 8, band - 3), _hex_rgb(LABEL_COLORS.get(label, "#888888")), -1)
        cv2.putText(img, text, (x + 4, base), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), th, cv2.LINE_AA)
        x += tw + 14


def _draw_detections(img: np.ndarray, kp: np.ndarray, conf: np.ndarray | None, min_conf: float = 0.2) -> None:
    import cv2

    ok = np.isfinite(kp).all(axis=1)
    if conf is not None:
        ok &= conf >= min_conf
    r = max(2, round(min(img.shape[:2]) / 200))
    for x, y in kp[ok]:
        cv2.circle(img, (int(round(x)), int(round(y))), r + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(img, (int(round(x)), int(round(y))), r, DETECTION_RGB, -1, cv2.LINE_AA)


def climber_region(data: RenderData, margin: float = 0.3, aspect: float | None = None) -> np.ndarray | None:
    """The part of the full-size video frame the climber moves through: (4,) x0, y0, x1, y1 pixels around the
    projected skeleton of the whole attempt (2nd-98th percentiles), grown by `margin` of its size on every
    side, widened to `aspect` (w / h) if given, clipped to the frame. None without cameras or video size."""
    if data.cameras is None or data.video_size is None:
        return None
    cams = data.cameras
    uv = project(data.skeleton.keypoints.astype(np.float64), cams.K, cams.R, cams.t).reshape(-1, 2)
    uv = uv[np.isfinite(uv).all(axis=1)]
    if len(uv) < 4:
        return None
    (x0, y0), (x1, y1) = np.percentile(uv, 2, axis=0), np.percentile(uv, 98, axis=0)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    x0, x1, y0, y1 = x0 - margin * w, x1 + margin * w, y0 - margin * h, y1 + margin * h
    if aspect:
        w, h = x1 - x0, y1 - y0
        if w / h < aspect:
            x0, x1 = (x0 + x1) / 2 - h * aspect / 2, (x0 + x1) / 2 + h * aspect / 2
        else:
            y0, y1 = (y0 + y1) / 2 - w / aspect / 2, (y0 + y1) / 2 + w / aspect / 2
    W, H = data.video_size
    box = np.array([max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1)])
    return box if (box[2] - box[0]) > 8 and (box[3] - box[1]) > 8 else None


def iter_overlays(data: RenderData, frames: np.ndarray | None = None, *, max_side: int | None = 720,
                  show_2d: bool = True, use_video: bool = True, video_path: str | Path | None = None,
                  crop: np.ndarray | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (attempt frame, RGB overlay image) for the given attempt frames (all by default), in order.
    `crop`: (4,) full-size pixel box to cut out of the video frames (e.g. `climber_region`)."""
    from reconstruction.video import FrameRange, iter_batches, probe, working_size

    sk = data.skeleton
    T = sk.n_frames
    frames = np.arange(T) if frames is None else np.unique(np.asarray(frames, dtype=np.int64))
    if len(frames) and (frames[0] < 0 or frames[-1] >= T):
        raise InputError(f"frames must lie in 0..{T - 1}")
    path = Path(video_path) if video_path else data.video_path
    on_video = use_video and path is not None and data.cameras is not None
    if on_video and not path.is_file():
        raise InputError(
            f"the video of attempt {data.name!r} was {path} and is not there any more; pass its new place with "
            "--video PATH, or render on a blank wall with --no-video"
        )
    if on_video:
        info = probe(path, with_hash=False)
        if data.video_size and (info.width, info.height) != data.video_size:
            raise InputError(f"{path} is {info.width}x{info.height} but attempt {data.name!r} was analysed on a "
                             f"{data.video_size[0]}x{data.video_size[1]} video; pass the right --video")
        cams = data.cameras
        _, _, scale = working_size(info, max_side)
        K = cams.K.copy()
        K[:, :2] /= scale
        uv = project(sk.keypoints.astype(np.float64), K, cams.R, cams.t)
        det = None if data.keypoints2d is None else data.keypoints2d / scale
        last = int(frames[-1]) if len(frames) else -1
        rng = FrameRange(start=data.video_start_frame, step=data.video_frame_step, count=last + 1,
                         fps=info.fps / data.video_frame_step)
        wanted = set(frames.tolist())
        for batch in iter_batches(info, rng, max_side=max_side, batch_size=16):
            for i, img in zip(batch.index, batch.frames):
                if int(i) not in wanted:
                    continue
                img = img.copy()
                if show_2d and det is not None:
                    _draw_detections(img, det[i], data.keypoints2d_confidence[i])
                draw_skeleton(img, uv[i], sk.confidence[i])
                if crop is not None:
                    x0, y0, x1, y1 = np.round(np.asarray(crop) / scale).astype(int)
                    img = np.ascontiguousarray(img[max(y0, 0):y1, max(x0, 0):x1])
                _draw_band(img, int(i), sk.fps, data.moves)
                yield int(i), img
        return
    K, R, t, size = wall_view_camera(sk, height_px=max_side or 720)
    background = wall_background(sk, K, R, t, size)
    uv = project(sk.keypoints.astype(np.float64), K, R, t)
    for i in frames:
        img = background.copy()
        draw_skeleton(img, uv[i], sk.confidence[i])
        _draw_band(img, int(i), sk.fps, data.moves)
        yield int(i), img


# ------------------------------------------------------------------------------------------ outputs
def write_overlay_video(db, attempt: int | str, out_path: str | Path, *, max_side: int | None = 720,
                        show_2d: bool = False, use_video: bool = True, video_path: str | Path | None = None,
                        codec: str | None = None, progress: bool = False) -> Path:
    """Render the attempt's overlay to a video file: .webm = VP9 (`codec="libvpx"` for VP8, the one verified
    in Label Studio), .mp4 = H.264. `db` is a DuckDB path or an open connection; `attempt` an id or a name."""
    from tqdm.auto import tqdm

    from reconstruction.video import write_video

    data = load_render_data(db, attempt)
    bar = tqdm(total=data.skeleton.n_frames, desc="render", unit="frame", disable=not progress, leave=False)

    def images():
        for _, img in iter_overlays(data, max_side=max_side, show_2d=show_2d, use_video=use_video,
                                    video_path=video_path):
            bar.update()
            yield img

    try:
        return write_video(out_path, images(), data.skeleton.fps, codec=codec)
    finally:
        bar.close()


def contact_sheet(db, attempt: int | str, out_path: str | Path, *, n: int = 12, cols: int = 4,
                  tile_height: int = 360, show_2d: bool = True, use_video: bool = True,
                  video_path: str | Path | None = None, zoom: bool = True) -> Path:
    """A PNG grid of `n` evenly spaced frames (among those with a skeleton) with the overlay and a title.
    `zoom`: cut every tile to the region the climber moves through (`climber_region`), same for all tiles."""
    import cv2

    data = load_render_data(db, attempt)
    sk = data.skeleton
    has = np.flatnonzero(np.isfinite(sk.keypoints).all(axis=-1).any(axis=-1))
    pool = has if len(has) else np.arange(sk.n_frames)
    picks = np.unique(pool[np.linspace(0, len(pool) - 1, min(n, len(pool))).round().astype(int)])
    crop = climber_region(data, aspect=0.75) if zoom else None
    side = max(tile_height * 2, 480)
    if crop is not None and data.video_size:  # decode at a size where the crop has ~tile_height * 2 rows
        side = int(min(max(data.video_size), side * max(data.video_size) / max(crop[3] - crop[1], 1.0)))
    tiles = []
    for _, img in iter_overlays(data, picks, max_side=side, show_2d=show_2d, use_video=use_video,
                                video_path=video_path, crop=crop):
        h, w = img.shape[:2]
        tiles.append(cv2.resize(img, (max(2, round(w * tile_height / h)), tile_height), interpolation=cv2.INTER_AREA))
    tw = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, tw - t.shape[1]), (0, 0))) for t in tiles]
    rows = []
    for r in range(0, len(tiles), cols):
        row = tiles[r:r + cols]
        row += [np.zeros_like(tiles[0])] * (cols - len(row))
        rows.append(np.concatenate(row, axis=1))
    grid = np.concatenate(rows, axis=0)
    title = np.full((44, grid.shape[1], 3), 30, dtype=np.uint8)
    text = (f"{data.name} | {data.climber} | {sk.n_frames} frames @ {sk.fps:g} fps | skeleton in {len(has)} | "
            f"camera {data.camera_model or 'none (blank wall view)'}")
    fs = min(0.7, 0.7 * (grid.shape[1] - 20) / cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)[0][0])
    cv2.putText(title, text, (10, 29), cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 255), 1 if fs < 0.5 else 2,
                cv2.LINE_AA)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_path), np.concatenate([title, grid])[:, :, ::-1]):
        raise InputError(f"could not write {out_path}; check the folder is writable and the name ends in .png")
    return out_path
