"""Video decoding: probe a file, choose the attempt's frames, stream them in batches (PyAV / FFmpeg).

    info = probe("climb.mp4")                                   # VideoInfo, raises InputError on bad files
    frames = select_frames(info, start_s=1.0, end_s=9.0, fps=10)  # FrameRange: video frame start + i * step
    for batch in iter_batches(info, frames, max_side=960):      # FrameBatch of B frames at working size
        ...

Frames come out RGB in *display* orientation: the container's rotation metadata (portrait phone videos
are stored landscape with a display matrix) is applied, so `VideoInfo.width/height` and every pixel
coordinate downstream are those a video player shows. Attempt frame i is decoded video frame
`start + i * step` (counted in decode order; variable-frame-rate phone videos are treated as constant
at their average rate). Only one batch is held in memory, at the working size (`max_side`).

Truncated files (an interrupted copy or recording) are found by `probe`, which demuxes every packet
without decoding: the readable frame count is known before any expensive work, and `select_frames`
refuses a range that runs past it, naming the `--end` that would work.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from cruxlab.errors import InputError
from cruxlab.limits import check_fps
from cruxlab.skeleton import file_sha256

log = logging.getLogger(__name__)

#: Video containers the analyzer reads (PyAV/FFmpeg); the upload page and `analyze` inputs refuse others.
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds.

    width, height: display size in pixels, after the rotation metadata is applied.
    fps:           average frame rate of the video stream (frames per second).
    n_frames:      frames that can actually be read (packets present in the file).
    n_frames_claimed: frames the container header announces (0 when it announces none, e.g. WebM).
    rotation:      counter-clockwise degrees (0, 90, 180, 270) applied to stored frames for display.
    sha256:        content hash of the file (identity of the analysis).
    """

    path: Path
    sha256: str
    fps: float
    width: int
    height: int
    n_frames: int
    n_frames_claimed: int
    rotation: int
    codec: str

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def truncated(self) -> bool:
        return self.n_frames_claimed > self.n_frames


@dataclass(frozen=True)
class FrameRange:
    """The attempt's frames inside a video: attempt frame i is video frame `start + i * step`.

    fps: frame rate of the attempt (video fps / step).
    """

    start: int
    step: int
    count: int
    fps: float

    @property
    def video_indices(self) -> np.ndarray:
        """(count,) int64 video frame index of every attempt frame."""
        return self.start + self.step * np.arange(self.count, dtype=np.int64)

    @property
    def stop(self) -> int:
        """One past the last video frame that is part of the attempt."""
        return self.start + self.step * (self.count - 1) + 1 if self.count else self.start


@dataclass(frozen=True)
class FrameBatch:
    """B consecutive attempt frames.

    frames: (B, h, w, 3) uint8 RGB, display orientation, working size (h, w) <= full size.
    index:  (B,) int64 attempt frame indices.
    scale:  full-size display pixels per working pixel (same on both axes): x_full = x_work * scale.
    """

    frames: np.ndarray
    index: np.ndarray
    scale: float


def _open(path: Path):
    import av

    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise InputError(f"{path} has zero video frames (the file ends before any frame); record or export the "
                         "clip again") from None
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path} is not a readable video ({exc.__class__.__name__}: {exc}); give an mp4/mov/webm file, "
            "e.g. as recorded by a phone"
        ) from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path} has no video stream (is it an audio file or an image?); give a video file")
    return container


def _first_rotation(stream, packet) -> int | None:
    """The display rotation (CCW degrees, multiple of 90, from the frame's display matrix) of the first frame
    `packet` completes (the demuxed packets are handed to the decoder until one does; the empty packet at
    the end flushes it), None while none has, 0 when the stream does not decode."""
    import av

    try:
        for frame in stream.decode(packet):
            return int(round(float(frame.rotation) / 90.0)) * 90 % 360
    except av.error.FFmpegError:
        return 0
    return 0 if packet.size == 0 else None


def probe(path: str | Path, *, with_hash: bool = True) -> VideoInfo:
    """Read a video's header and packet index; raise `InputError` for anything that is not a usable video.

    Demuxes every packet (no decoding, ~1 ms per 100 frames) to count the frames really present.
    `with_hash=False` skips the content hash (sha256 = "") where the identity is not needed.
    """
    import av

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a video file; give the path of a video inside it")
    if not path.is_file():
        raise InputError(f"no such video file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); copy the video again")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        claimed = int(stream.frames or 0)
        if not fps and claimed and stream.duration and stream.time_base:
            fps = claimed / float(stream.duration * stream.time_base)
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"{path}: the video stream has no frame rate; re-encode it (any phone/ffmpeg mp4 works)")
        if stream.codec_context is None:  # e.g. an mp4 cut before its index: the stream cannot be decoded
            raise InputError(f"{path} has no decodable video (an interrupted copy or recording?); copy or export "
                             "the clip again")
        codec = stream.codec_context.name
        w, h = int(stream.codec_context.width), int(stream.codec_context.height)
        n_packets = 0
        rotation = None  # from the first decoded frame's display matrix (0: none decodes)
        try:
            for packet in container.demux(stream):
                if packet.size:
                    n_packets += 1
                if rotation is None:
                    rotation = _first_rotation(stream, packet)
        except av.error.FFmpegError as exc:
            log.warning("%s: demuxing stopped after %d packets: %s", path, n_packets, exc)
    finally:
        container.close()
    if n_packets == 0:
        raise InputError(f"{path} has zero video frames; record or export the clip again")
    check_fps(fps, f"{path}: the video's frame rate")
    rotation = rotation or 0
    if rotation in (90, 270):
        w, h = h, w
    if claimed and n_packets < claimed:
        log.warning("%s: header announces %d frames but only %d are present (truncated file)", path, claimed,
                    n_packets)
    return VideoInfo(path=path.resolve(), sha256=file_sha256(path) if with_hash else "", fps=fps, width=w, height=h,
                     n_frames=n_packets, n_frames_claimed=claimed, rotation=rotation, codec=codec)


def check_trim(start_s: float | None = None, end_s: float | None = None, fps: float | None = None) -> None:
    """Refuse a trim or frame rate no video can satisfy (checked before any file is read)."""
    start = 0.0 if start_s is None else float(start_s)
    if not start >= 0:
        raise InputError(f"--start must be >= 0 s, got {start_s}")
    if end_s is not None and not end_s > start:
        raise InputError(f"--end ({end_s} s) must be after --start ({start} s)")
    if fps is not None:
        check_fps(fps, "--fps")


def select_frames(info: VideoInfo, start_s: float | None = None, end_s: float | None = None,
                  fps: float | None = None) -> FrameRange:
    """Attempt frames for a trim [start_s, end_s) in seconds and an optional target frame rate.

    The step is the integer `round(video fps / fps)` (>= 1), so the attempt's fps is video fps / step.
    """
    check_trim(start_s, end_s, fps)
    start_s = 0.0 if start_s is None else float(start_s)
    total_s = info.n_frames / info.fps
    if start_s >= total_s:
        raise InputError(f"--start {start_s} s is past the end of the video ({total_s:.2f} s readable)")
    start = int(round(start_s * info.fps))
    claimed_stop = max(info.n_frames, info.n_frames_claimed)
    stop = claimed_stop if end_s is None else min(int(round(end_s * info.fps)), claimed_stop)
    if stop > info.n_frames:
        readable = info.n_frames / info.fps
        raise InputError(
            f"{info.path} is truncated: its header announces {info.n_frames_claimed} frames but only "
            f"{info.n_frames} ({readable:.2f} s) are in the file (an interrupted copy or recording?). Copy the "
            f"file again, or analyse the readable part with --end {readable:.2f}"
        )
    step = 1
    if fps is not None:
        fps = check_fps(fps, "--fps")
        if fps > info.fps * 1.001:
            raise InputError(f"--fps {fps:g} is above the video's {info.fps:g} fps; omit --fps to keep every frame")
        step = max(1, int(round(info.fps / fps)))
    count = max(0, (stop - start + step - 1) // step)
    if count == 0:
        raise InputError(f"the range {start_s}..{end_s} s holds no frame of {info.path}; widen --start/--end")
    return FrameRange(start=start, step=step, count=count, fps=info.fps / step)


def working_size(info: VideoInfo, max_side: int | None) -> tuple[int, int, float]:
    """(w, h, scale) of frames downscaled so the longer side is at most `max_side` (even sizes)."""
    full = max(info.width, info.height)
    if not max_side or max_side >= full:
        return info.width, info.height, 1.0
    s = max_side / full
    w = max(2, int(round(info.width * s / 2)) * 2)
    h = max(2, int(round(info.height * s / 2)) * 2)
    return w, h, info.width / w


def _rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return img if k == 0 else np.ascontiguousarray(np.rot90(img, k=k))


#: Frames up to this size (1080p, either way round) are decoded in one thread beside a pose model: see
#: `threads_beside_pose`.
ONE_THREAD_MAX_PIXELS = 1920 * 1088


def threads_beside_pose(info: VideoInfo) -> bool:
    """Whether FFmpeg should decode in several threads while a pose model tracks the decoded frames: only
    beyond 1080p. Up to 1080p one thread decodes and scales a frame in ~8 CPU-ms (1080x1920 H.264 to 540x960
    RGB; ~4 for 1080x1440), ahead of MediaPipe's ~11 ms a frame. FFmpeg's frame threads would take the
    cores in bursts instead, and the pose model's chain of threads, which the whole stage waits for, would
    wait for a core (2 cores: MediaPipe 14 ms a frame beside threaded decoding, 11.6 beside one decoding
    thread, 10.7 alone). The frames are the same either way."""
    return info.width * info.height > ONE_THREAD_MAX_PIXELS


def _batch_buffer(pool: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """A batch buffer of `pool` that no batch handed out uses any more (no view of it is alive: every view
    holds a reference to it), else a new one, added to `pool`. The caller works on a batch or two at a time,
    so a few buffers serve the whole video: a new buffer per batch (25 MB of RGB at 960 px, its own memory
    mapping: see `camera_worker.return_freed_memory`) had all its pages faulted in and zeroed again."""
    for buf in pool:
        if buf.shape == shape and sys.getrefcount(buf) == 3:  # `pool`, `buf`, getrefcount's argument: nobody else
            return buf
    pool.append(np.empty(shape, dtype=np.uint8))
    return pool[-1]


def iter_batches(info: VideoInfo, frames: FrameRange, *, max_side: int | None = 960, batch_size: int = 16,
                 threads: bool = True, on_first: Callable[[np.ndarray | None], None] | None = None
                 ) -> Iterator[FrameBatch]:
    """Decode the attempt's frames in order, `batch_size` at a time, at the working size.

    Every video frame up to the last selected one is decoded (inter frames need their predecessors), but
    only selected ones are converted to RGB and scaled. `threads`: FFmpeg decodes in threads of its own
    (False: in the calling thread; the same frames). `on_first(frame)` is called once, with the first
    attempt frame (h, w, 3) as soon as it is decoded, before the rest of its batch (read only: it is row 0
    of that batch), or with None when decoding ends before it. Raises `InputError` when the stream ends
    early or holds a corrupt packet.
    """
    import av

    w, h, scale = working_size(info, max_side)
    # The scaler runs on the stored (unrotated) frame.
    sw, sh = (h, w) if info.rotation in (90, 270) else (w, h)
    wanted = frames.video_indices
    # Area averaging: the right filter for downscaling, and ~40 % cheaper than swscale's default bicubic.
    interpolation = "AREA" if scale > 1.0 else None
    container = _open(info.path)
    stream = container.streams.video[0]
    if threads:
        stream.thread_type = "AUTO"
    pool: list[np.ndarray] = []
    buf = _batch_buffer(pool, (min(batch_size, frames.count), h, w, 3))
    idx = np.empty(len(buf), dtype=np.int64)
    n_buf = 0
    next_i = 0  # next attempt frame to emit
    video_i = -1
    try:
        try:
            for frame in container.decode(stream):
                video_i += 1
                if video_i < wanted[next_i]:
                    continue
                img = frame.to_ndarray(format="rgb24", width=sw, height=sh, interpolation=interpolation)
                buf[n_buf] = _rotate(img, info.rotation)
                idx[n_buf] = next_i
                n_buf += 1
                next_i += 1
                if next_i == 1 and on_first is not None:
                    on_first, first = None, on_first
                    first(buf[0])
                if n_buf == len(buf) or next_i == frames.count:
                    # the batch is the caller's: another buffer for the next one (no copy of this one)
                    yield FrameBatch(frames=buf[:n_buf], index=idx[:n_buf].copy(), scale=scale)
                    buf = _batch_buffer(pool, buf.shape)
                    n_buf = 0
                if next_i == frames.count:
                    return
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{info.path}: decoding failed at video frame {video_i + 1} ({exc}); the file is corrupt. Copy it "
                f"again, or analyse the part before it with --end {max(video_i, 1) / info.fps:.2f}"
            ) from None
    finally:
        container.close()
        if on_first is not None:  # no first frame
            on_first(None)
    if next_i < frames.count:
        raise InputError(
            f"{info.path}: the stream ended after {video_i + 1} decodable frames, before the requested range "
            f"(up to frame {frames.stop}); the file is truncated or corrupt. Copy it again, or pass "
            f"--end {max(video_i, 1) / info.fps:.2f}"
        )


class read_ahead:  # noqa: N801 - used like the generator function it was
    """`items` (e.g. `iter_batches`) produced by a thread of their own, up to `depth` ahead of the consumer:
    the next batch is decoded (FFmpeg and its scaler run without the GIL) while the caller works on this one
    (the pose model, which also releases it). The thread starts at once, so the first items are made while
    the caller still prepares (e.g. starts its model). At most `depth` + 1 items are alive at once (the
    caller's and those made ahead: a 1080p batch of 16 frames at 960 px is 33 MB). The same items in the
    same order; an error while producing is raised here at its place in the sequence. `close()` (also on
    leaving a `with` block, or when the iterator is dropped, e.g. by leaving a loop early) stops the thread
    and closes `items`."""

    _END = object()

    def __init__(self, items: Iterator, depth: int = 1):
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(max(1, depth) + 1)
        self._stop = threading.Event()
        self._given = False  # an item is with the caller: its slot is free once the next one is asked for
        self._done = False
        # the thread holds what it needs, not this object: dropping the iterator stops it (`__del__`)
        self._thread = threading.Thread(target=self._produce, args=(items, self._queue, self._slots, self._stop),
                                        name="cruxlab-read-ahead", daemon=True)
        self._thread.start()

    @classmethod
    def _produce(cls, items: Iterator, out, slots, stop) -> None:
        it = iter(items)
        try:
            while True:
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                try:
                    item = next(it)
                except StopIteration:
                    out.put((cls._END, None))
                    return
                out.put((item, None))
                del item
        except BaseException as exc:  # noqa: BLE001 - raised again in the consumer
            out.put((cls._END, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> "read_ahead":
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        if self._given:  # the caller is done with the last item: room for the next one
            self._given = False
            self._slots.release()
        item, exc = self._queue.get()
        if exc is not None or item is self._END:
            self.close()
            if exc is not None:
                raise exc
            raise StopIteration
        self._given = True
        return item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "read_ahead":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if hasattr(self, "_thread"):
            self.close()


def read_frames(info: VideoInfo, frames: FrameRange, attempt_indices: np.ndarray, *,
                max_side: int | None = None) -> np.ndarray:
    """Decode only the given attempt frames (sorted, unique) -> (N, h, w, 3) uint8 RGB (renders, keyframes)."""
    attempt_indices = np.unique(np.asarray(attempt_indices, dtype=np.int64))
    if len(attempt_indices) == 0:
        w, h, _ = working_size(info, max_side)
        return np.zeros((0, h, w, 3), dtype=np.uint8)
    if attempt_indices[0] < 0 or attempt_indices[-1] >= frames.count:
        raise ValueError(f"attempt frames must lie in 0..{frames.count - 1}")
    sub = FrameRange(start=frames.start, step=frames.step, count=int(attempt_indices[-1]) + 1, fps=frames.fps)
    out = []
    for batch in iter_batches(info, sub, max_side=max_side, batch_size=32):
        sel = np.isin(batch.index, attempt_indices)
        if sel.any():
            out.append(batch.frames[sel])
    return np.concatenate(out)


def write_video(path: str | Path, frames, fps: float, *, codec: str | None = None, rotation: int = 0,
                bitrate: int | None = None, keyframe_interval: int | None = None) -> Path:
    """Encode RGB frames (an iterable of (H, W, 3) uint8, all one size) to a video file.

    The codec follows the suffix: .webm -> VP9 (libvpx-vp9, realtime: ~15 ms per 720p frame; plays in
    Chrome, Firefox, Edge, Safari 14.1+), .mp4/.mov/.mkv -> H.264 (libx264), .avi -> MPEG-4 Part 2;
    `codec="libvpx"` gives VP8 WebM (the most widely playable, verified in Label Studio; 5-10x slower to
    encode with this libvpx build). Default bitrate: 0.1 bit per pixel, at least 300 kbit/s.
    `rotation` writes a display matrix (CCW degrees), as phones do. `keyframe_interval` (frames) bounds how
    many frames a player decodes to seek anywhere (the encoder's default is far apart).
    A failure leaves no partial file behind.
    """
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    codec = codec or {".webm": "libvpx-vp9", ".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264",
                      ".avi": "mpeg4"}.get(suffix)
    if codec is None:
        raise InputError(f"cannot write video {path}: use a .webm, .mp4, .mov, .mkv or .avi file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    container = av.open(str(path), "w")
    try:
        stream = None
        for img in frames:
            if stream is None:
                h, w = img.shape[:2]
                stream = container.add_stream(codec, rate=rate)
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv420p"
                if keyframe_interval:
                    stream.codec_context.gop_size = int(keyframe_interval)
                stream.bit_rate = bitrate or max(300_000, int(0.1 * stream.width * stream.height * fps))
                if codec == "libvpx":
                    stream.options = {"deadline": "realtime", "cpu-used": "16"}
                elif codec == "libvpx-vp9":
                    stream.options = {"deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
                elif codec == "libx264":
                    stream.options = {"preset": "veryfast"}
                if rotation:
                    stream.set_display_rotation(rotation)
            img = np.ascontiguousarray(img[: stream.height, : stream.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise InputError(f"no frames to write to {path}")
        for packet in stream.encode():
            container.mux(packet)
    except BaseException:
        container.close()
        path.unlink(missing_ok=True)
        raise
    container.close()
    return path


def cut_video(src: str | Path, dst: str | Path, start_s: float | None = None, end_s: float | None = None, *,
              max_side: int | None = None) -> Path:
    """Re-encode the trim [start_s, end_s) of a video to a new file (every frame, display orientation,
    longest side at most `max_side` pixels): short clips for tests and benchmarks, each with its own sha256."""
    info = probe(src, with_hash=False)
    frames = select_frames(info, start_s, end_s)
    images = (img for batch in iter_batches(info, frames, max_side=max_side) for img in batch.frames)
    return write_video(dst, images, info.fps)


class GreyFrames:
    """The attempt's frames in grey at the working size, written as one decoding pass reads them and read
    back in order later: a second pass over the video without decoding it again (the flow stage reads the
    frames the pose stage decoded). They live in an unnamed temporary file (the operating system's page
    cache, written back to disk under memory pressure), not in the process: a 1080p minute at 960 px is
    ~1.2 GB. `GreyFrames.open` returns None when the temporary folder lacks the room; the caller then decodes
    again. Grey is OpenCV's RGB -> GRAY, pixel for pixel what `cv2.cvtColor(frame, COLOR_RGB2GRAY)` gives.

        grey = GreyFrames.open(frames.count, w, h, scale)
        grey.write(batch.frames)                          # each decoded (B, h, w, 3) batch, in order
        for scale, batch in grey.batches():               # (B, h, w) uint8, once all frames are written
            ...
    """

    def __init__(self, fh, count: int, w: int, h: int, scale: float):
        self._fh, self.count, self.w, self.h, self.scale = fh, count, w, h, scale
        self.written = 0
        # the batches converted into one grey buffer (dropped once all are written), and read back in a few
        # recycled ones: a new ~8 MB array per batch is a fresh memory mapping whose pages fault in again
        # (see `_batch_buffer`)
        self._grey: np.ndarray | None = None

    @classmethod
    def open(cls, count: int, w: int, h: int, scale: float, folder: str | Path | None = None,
             spare_bytes: int = 1 << 30) -> "GreyFrames | None":
        """A spill file for `count` (h, w) frames, or None when its folder (default: the temporary folder)
        would keep less than `spare_bytes` free with it."""
        import shutil
        import tempfile

        folder = Path(folder or tempfile.gettempdir())
        try:
            if shutil.disk_usage(folder).free < count * w * h + spare_bytes:
                log.info("no room for %d grey frames in %s: the flow stage decodes the video again", count, folder)
                return None
            fh = tempfile.TemporaryFile(prefix="cruxlab-grey-", dir=folder)
        except OSError as exc:
            log.info("no grey frame file in %s (%s): the flow stage decodes the video again", folder, exc)
            return None
        return cls(fh, count, w, h, scale)

    @property
    def complete(self) -> bool:
        return self._fh is not None and self.written == self.count

    def write(self, rgb: np.ndarray) -> None:
        """Append a batch of (B, h, w, 3) uint8 RGB frames (the next B attempt frames)."""
        import cv2

        if self._fh is None:
            return
        B, h, w = rgb.shape[:3]
        if (h, w) != (self.h, self.w) or self.written + B > self.count:
            raise ValueError(f"grey frames: got {B} frames of {w}x{h} after {self.written}, expected {self.count} "
                             f"of {self.w}x{self.h}")
        # one call for the batch (a per-pixel conversion: the same values as frame by frame)
        if self._grey is None or len(self._grey) < B * h:
            self._grey = np.empty((B * h, w), dtype=np.uint8)
        grey = cv2.cvtColor(np.ascontiguousarray(rgb).reshape(B * h, w, 3), cv2.COLOR_RGB2GRAY,
                            dst=self._grey[:B * h])
        try:
            self._fh.write(grey.data)
        except OSError as exc:  # the disk filled up meanwhile: decode again instead
            log.warning("grey frames could not be written (%s): the flow stage decodes the video again", exc)
            self.close()
            return
        self.written += B
        if self.complete:
            self._grey = None

    def batches(self, batch_size: int = 16) -> Iterator[tuple[float, np.ndarray]]:
        """(scale, (B, h, w) uint8 grey) batches of all frames in order (`write` finished)."""
        if not self.complete:
            raise ValueError(f"grey frames: {self.written} of {self.count} written")
        self._fh.seek(0)
        frame_bytes = self.h * self.w
        buffers: list[np.ndarray] = []
        for start in range(0, self.count, batch_size):
            n = min(batch_size, self.count - start)
            buf = _batch_buffer(buffers, (n, self.h, self.w))
            if self._fh.readinto(memoryview(buf).cast("B")) != n * frame_bytes:
                raise OSError("grey frames: the temporary file ended early")
            yield self.scale, buf

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "GreyFrames":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
