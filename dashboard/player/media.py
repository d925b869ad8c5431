"""The file the browser plays: an attempt's frames of its source video, transcoded once to VP9 WebM and cached.

Browsers cannot be trusted with the source (phone H.264/HEVC at 1080p+, rotation metadata, frames outside the
attempt, `--fps` subsampling): the playback file holds exactly the attempt's frames, frame i at time i / fps,
scaled to at most `max_side` pixels, with a keyframe every `KEYFRAME_INTERVAL` frames so a seek decodes at
most that many frames (frame stepping stays well under 150 ms). VP9 WebM plays in Chromium, Firefox, Edge and
Safari 14.1+ (H.264 is missing from some Chromium builds).

Cache: `<cache>/playback/<video stem>-<key>.webm`, where the key hashes the source file's identity (path, size,
mtime) and the frame selection; `<cache>` is $CRUXLAB_CACHE (the analysis stage cache, default ./cache).
Writes go to a temporary name first, so an interrupted transcode never passes for a finished file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cruxlab.errors import InputError
from cruxlab.paths import data_path

#: Bump when the playback encoding changes, so old cached files are not reused.
PLAYBACK_VERSION = 1
KEYFRAME_INTERVAL = 10
MAX_SIDE = 720


def cache_root() -> Path:
    """$CRUXLAB_CACHE, else ./cache: the folder `cruxlab analyze` caches its stages in."""
    return Path(os.environ.get("CRUXLAB_CACHE", "cache"))


@dataclass(frozen=True)
class FrameSelection:
    """The attempt's frames inside its source video: attempt frame i is video frame start + i * step."""

    start: int
    step: int
    n_frames: int
    fps: float  # attempt frames per second (video fps / step)


def playback_path(video_path: str | Path, frames: FrameSelection, *, cache_dir: str | Path | None = None,
                  max_side: int = MAX_SIDE) -> Path:
    """Where the playback file of these frames of `video_path` is (or will be) cached."""
    src = Path(video_path).resolve()
    st = src.stat()
    ident = json.dumps([PLAYBACK_VERSION, str(src), st.st_size, st.st_mtime_ns, frames.start, frames.step,
                        frames.n_frames, round(frames.fps, 6), max_side, KEYFRAME_INTERVAL])
    key = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return data_path(Path(cache_dir or cache_root()) / "playback", src.stem, f"-{key}.webm", tag=False)


def cached_playback(video_path: str | Path, frames: FrameSelection, *, cache_dir: str | Path | None = None,
                    max_side: int = MAX_SIDE) -> Path | None:
    """The cached playback file, or None when it has not been made yet (or the source is gone)."""
    try:
        path = playback_path(video_path, frames, cache_dir=cache_dir, max_side=max_side)
    except OSError:
        return None
    return path if path.is_file() else None


def make_playback(video_path: str | Path, frames: FrameSelection, *, cache_dir: str | Path | None = None,
                  max_side: int = MAX_SIDE, progress: Callable[[int, int], None] | None = None) -> Path:
    """Transcode the attempt's frames of `video_path` to the cached playback WebM (no-op when cached).

    progress(done, total) is called after every decoded batch. Raises InputError when the video cannot be
    read or holds fewer frames than the attempt needs (then nothing is cached)."""
    from reconstruction.video import FrameRange, iter_batches, probe, write_video

    out = playback_path(video_path, frames, cache_dir=cache_dir, max_side=max_side)
    if out.is_file():
        return out
    info = probe(video_path, with_hash=False)
    need = frames.start + frames.step * (frames.n_frames - 1) + 1
    if need > info.n_frames:
        raise InputError(f"{video_path} holds {info.n_frames} frames but the attempt needs video frames up to "
                         f"{need - 1}: the file changed since it was analysed; analyse it again")
    rng = FrameRange(start=frames.start, step=frames.step, count=frames.n_frames, fps=frames.fps)

    def images():
        done = 0
        for batch in iter_batches(info, rng, max_side=max_side, batch_size=16):
            for img in batch.frames:
                yield img
            done += len(batch.frames)
            if progress is not None:
                progress(done, frames.n_frames)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.{os.getpid()}.partial.webm")
    try:
        write_video(tmp, images(), frames.fps, codec="libvpx-vp9", keyframe_interval=KEYFRAME_INTERVAL)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
