"""Look at an attempt: the stored wall-frame skeleton drawn over the video, as a video or a contact sheet.

    with connect("cruxlab.duckdb", read_only=True) as con:
        data = store.read_render_data(con, attempt)          # id or name; everything a render needs
    write_overlay_video(data, "attempt.webm")                # VP9 WebM (codec="libvpx": VP8)
    contact_sheet(data, "attempt.png")                       # a grid of frames, one PNG

The skeleton is *projected* from the database (3D joints in the wall frame through each frame's stored
camera K, R, t), so the overlay checks the whole chain: pose, cameras, wall frame and lifting. The raw 2D
detections (table keypoints2d) can be drawn beside it as small white dots: where the two disagree, the
lifting or the cameras are off. Moves active in a frame are named in the top band in their label colours.

Attempts without a video (skeleton imports) or without cameras are drawn on a blank wall seen from behind
the climber: a virtual camera looking along the wall normal, with a 0.5 m grid on the wall plane.
This module decodes videos and draws (`cruxlab.draw`); it never reads the store: callers read a `RenderData`
(`db.store.read_render_data`) in one short read-only connection before any decoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cruxlab.draw import (
    draw_band, draw_detections, draw_skeleton, project, tile_grid, title_bar, wall_background, wall_view_camera,
    write_png,
)
from cruxlab.errors import InputError

if TYPE_CHECKING:
    from db.store import RenderData



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
                    draw_detections(img, det[i], data.keypoints2d_confidence[i])
                draw_skeleton(img, uv[i], sk.confidence[i])
                if crop is not None:
                    x0, y0, x1, y1 = np.round(np.asarray(crop) / scale).astype(int)
                    img = np.ascontiguousarray(img[max(y0, 0):y1, max(x0, 0):x1])
                draw_band(img, int(i), sk.fps, data.moves)
                yield int(i), img
        return
    K, R, t, size = wall_view_camera(sk, height_px=max_side or 720)
    background = wall_background(sk, K, R, t, size)
    uv = project(sk.keypoints.astype(np.float64), K, R, t)
    for i in frames:
        img = background.copy()
        draw_skeleton(img, uv[i], sk.confidence[i])
        draw_band(img, int(i), sk.fps, data.moves)
        yield int(i), img


# ------------------------------------------------------------------------------------------ outputs
def write_overlay_video(data: RenderData, out_path: str | Path, *, max_side: int | None = 720,
                        show_2d: bool = False, use_video: bool = True, video_path: str | Path | None = None,
                        codec: str | None = None, progress: bool = False, hold_last: int = 0) -> Path:
    """Render the attempt's overlay to a video file: .webm = VP9 (`codec="libvpx"` for VP8, the one verified
    in Label Studio), .mp4 = H.264. `hold_last`: the last frame is repeated that many more times (padding to a
    whole number of Label Studio timeline cells); frame i still shows attempt frame i."""
    from tqdm.auto import tqdm

    from reconstruction.video import write_video

    bar = tqdm(total=data.skeleton.n_frames, desc="render", unit="frame", disable=not progress, leave=False)

    def images():
        img = None
        for _, img in iter_overlays(data, max_side=max_side, show_2d=show_2d, use_video=use_video,
                                    video_path=video_path):
            bar.update()
            yield img
        for _ in range(max(0, int(hold_last)) if img is not None else 0):
            yield img

    try:
        return write_video(out_path, images(), data.skeleton.fps, codec=codec)
    finally:
        bar.close()


def contact_sheet(data: RenderData, out_path: str | Path, *, n: int = 12, cols: int = 4,
                  tile_height: int = 360, show_2d: bool = True, use_video: bool = True,
                  video_path: str | Path | None = None, zoom: bool = True) -> Path:
    """A PNG grid of `n` evenly spaced frames (among those with a skeleton) with the overlay and a title.
    `zoom`: cut every tile to the region the climber moves through (`climber_region`), same for all tiles."""
    sk = data.skeleton
    has = np.flatnonzero(np.isfinite(sk.keypoints).all(axis=-1).any(axis=-1))
    pool = has if len(has) else np.arange(sk.n_frames)
    picks = np.unique(pool[np.linspace(0, len(pool) - 1, min(n, len(pool))).round().astype(int)])
    crop = climber_region(data, aspect=0.75) if zoom else None
    side = max(tile_height * 2, 480)
    if crop is not None and data.video_size:  # decode at a size where the crop has ~tile_height * 2 rows
        side = int(min(max(data.video_size), side * max(data.video_size) / max(crop[3] - crop[1], 1.0)))
    tiles = [img for _, img in iter_overlays(data, picks, max_side=side, show_2d=show_2d, use_video=use_video,
                                             video_path=video_path, crop=crop)]
    grid = tile_grid(tiles, cols, tile_height)
    text = (f"{data.name} | {data.climber} | {sk.n_frames} frames @ {sk.fps:g} fps | skeleton in {len(has)} | "
            f"camera {data.camera_model or 'none (blank wall view)'}")
    return write_png(out_path, np.concatenate([title_bar(text, grid.shape[1]), grid]))
