"""Clips of single moves for coaches to share: the skeleton overlay (reconstruction.render) cut to a move with a
little margin, as MP4 (H.264: phones, messengers, slides) or an animated GIF (anywhere, no player needed).

    frames = clip_frames(move_start, move_end, n_frames, fps)          # the move +- MARGIN_S, inside the attempt
    data = move_clip(render_data, frames, "mp4")                       # bytes of the file

Pure functions of a `db.store.RenderData` (read by dashboard.data in one short connection); nothing here opens the
database. Attempts without a video (skeleton imports) are drawn on the blank wall view, like the renders.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cruxlab.errors import InputError

if TYPE_CHECKING:
    from db.store import RenderData

#: Seconds of context shown before and after the move.
MARGIN_S = 0.5
CLIP_FORMATS = {"mp4": "video/mp4", "gif": "image/gif"}
#: Longest side of an MP4 clip, and height and frame rate caps of a GIF (GIFs are big: ~30-80 kB per frame).
MP4_MAX_SIDE, GIF_MAX_HEIGHT, GIF_MAX_FPS = 720, 360, 12.5


def clip_frames(start: int, end: int, n_frames: int, fps: float, margin_s: float = MARGIN_S) -> np.ndarray:
    """Attempt frames of a clip of the move [start, end] (inclusive) with `margin_s` seconds around it,
    clipped to the attempt (0 .. n_frames - 1)."""
    if not (0 <= start <= end < n_frames):
        raise InputError(f"frames [{start}, {end}] are not a move of this attempt (frames 0..{n_frames - 1})")
    pad = int(round(margin_s * fps))
    return np.arange(max(0, start - pad), min(n_frames - 1, end + pad) + 1)


def _overlays(data: RenderData, frames: np.ndarray, max_side: int) -> list[np.ndarray]:
    """Overlay images of `frames`, cut to the part of the video the climber moves through, with that part's
    longest side about `max_side` pixels (never upscaled beyond the source)."""
    from reconstruction.render import climber_region, iter_overlays

    crop = climber_region(data, margin=0.35)
    side = max_side
    if crop is not None and data.video_size:  # decode at the size where the crop has ~max_side pixels
        crop_side = max(crop[2] - crop[0], crop[3] - crop[1], 1.0)
        side = int(min(max(data.video_size), max_side * max(data.video_size) / crop_side))
    return [img for _, img in iter_overlays(data, frames, max_side=side, show_2d=False, crop=crop)]


def _encode_mp4(images: list[np.ndarray], fps: float) -> bytes:
    from reconstruction.video import write_video

    with tempfile.TemporaryDirectory(prefix="cruxlab-clip-") as tmp:
        path = write_video(Path(tmp) / "clip.mp4", images, fps)
        return path.read_bytes()


def _encode_gif(images: list[np.ndarray], fps: float) -> bytes:
    """Animated GIF at most GIF_MAX_HEIGHT rows and GIF_MAX_FPS frames per second (every k-th frame), looping,
    each frame on its own adaptive palette."""
    import cv2
    from PIL import Image

    step = max(1, int(np.ceil(fps / GIF_MAX_FPS)))
    picked = images[::step]
    frames = []
    for img in picked:
        h, w = img.shape[:2]
        if h > GIF_MAX_HEIGHT:
            img = cv2.resize(img, (max(2, round(w * GIF_MAX_HEIGHT / h)), GIF_MAX_HEIGHT), interpolation=cv2.INTER_AREA)
        frames.append(Image.fromarray(img).quantize(colors=128, method=Image.Quantize.MEDIANCUT))
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=int(round(1000 * step / fps)), disposal=1, optimize=False)
    return out.getvalue()


def move_clip(data: RenderData, frames: np.ndarray, fmt: str) -> bytes:
    """The overlay of the given attempt frames (`clip_frames`) encoded as `fmt` ('mp4' or 'gif')."""
    if fmt not in CLIP_FORMATS:
        raise InputError(f"clip format {fmt!r}: choose one of {', '.join(CLIP_FORMATS)}")
    fps = data.skeleton.fps
    images = _overlays(data, frames, MP4_MAX_SIDE if fmt == "mp4" else 2 * GIF_MAX_HEIGHT)
    if not images:
        raise InputError("no frames to put in the clip")
    return _encode_mp4(images, fps) if fmt == "mp4" else _encode_gif(images, fps)


def clip_name(attempt: str, label: str, start: int, fps: float, fmt: str) -> str:
    """A download file name: '<attempt>-<label>-<start s>s.<fmt>' made safe (cruxlab.paths)."""
    from cruxlab.paths import safe_filename

    return safe_filename(f"{attempt}-{label}-{start / fps:.1f}s", f".{fmt}", tag=False)
