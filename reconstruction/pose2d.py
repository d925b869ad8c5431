"""2D pose of the climber over a video, plus the keyframes (images and climber masks) SfM needs.

    pose, keyframes = estimate_pose(info, frames, backend, keyframe_index=choose_keyframes(...))

One decoding pass: every attempt frame is decoded once at the working size, handed to the pose backend in
batches (the backend tracks the climber across them; the next batch is decoded meanwhile, in a thread), and
the keyframes' images and masks are kept on the side. Keypoints come back in full-size display pixels whatever the working size.

Then a cheap, vectorised temporal clean-up (`clean_keypoints`) for the known failure of single-frame pose
models on climbers seen from behind:
- left/right leg swaps: a foot that sits on the other leg's knee (ankle-knee distances) is swapped back
  per frame; then, between consecutive frames, a leg pair whose joints fit the other side's previous
  positions much better than their own is a swap; the swap parity is accumulated along runs of
  comparable frames and each run is then oriented by the hips (the leg whose knee lies on the left hip's
  side is the left leg, by majority over the run).
- spikes: a joint further than `spike_torso` torso lengths from the median of its neighbourhood of
  +-`half_s` seconds (5 frames at 25 fps, 3 at 12.5) is replaced by that median, with its confidence halved
  (a repaired value, not a detection). The window is a duration, not a frame count: 5 frames of a 12.5 fps
  video span 0.4 s, long enough to take a real quick hand move for a spike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cruxlab.joints import (L_ANKLE, L_HEEL, L_HIP, L_KNEE, L_SHOULDER, L_TOE, NUM_JOINTS, R_ANKLE, R_HEEL, R_HIP,
                            R_KNEE, R_SHOULDER, R_TOE)
from reconstruction.backends.base import PoseBackend
from reconstruction.video import FrameRange, VideoInfo, iter_batches, read_ahead, threads_beside_pose

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pose2D:
    """The climber's 2D pose in every attempt frame.

    keypoints:   (T, 21, 2) float32, full-size display pixels (x right, y down), NaN = not found.
    confidence:  (T, 21) float32 in [0, 1], 0 where NaN.
    keypoints3d: (T, 21, 3) float32 metres, body-centred camera axes (MediaPipe world landmarks), or None.
    boxes:       (T, 4) float32 climber box in full-size pixels, NaN rows where the climber is not seen.
    image_size:  (w, h) full display size in pixels.
    fps:         frame rate of the attempt.
    backend:     pose backend name.
    report:      what happened (frames detected, repairs, backend stats).
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    keypoints3d: np.ndarray | None
    boxes: np.ndarray
    image_size: tuple[int, int]
    fps: float
    backend: str
    report: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.keypoints)

    @property
    def detected(self) -> np.ndarray:
        """(T,) bool: frames where the climber was found."""
        return np.isfinite(self.keypoints).all(axis=-1).any(axis=-1)


@dataclass(frozen=True)
class Keyframes:
    """Frames for SfM, kept at the working size.

    index:  (N,) int64 attempt frame of each keyframe, increasing.
    images: (N, h, w, 3) uint8 RGB, display orientation, working size.
    masks:  (N, h, w) bool climber masks (True = climber) from the pose backend, or None.
    scale:  full-size pixels per working pixel.
    """

    index: np.ndarray
    images: np.ndarray
    masks: np.ndarray | None
    scale: float


def choose_keyframes(n_frames: int, fps: float, *, per_second: float = 1.5, min_count: int = 8,
                     max_count: int = 24) -> np.ndarray:
    """Evenly spaced attempt frames for SfM: `per_second` keyframes per second of video, clamped to
    [min_count, max_count] and to the number of frames. Always includes the first and the last frame."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    n = int(np.clip(round(n_frames / fps * per_second), min_count, max_count))
    n = min(n, n_frames)
    return np.unique(np.linspace(0, n_frames - 1, n).round().astype(np.int64))


@dataclass
class _RawPose:
    """Backend output for a run of consecutive attempt frames, before clean-up."""

    keypoints: np.ndarray
    confidence: np.ndarray
    keypoints3d: np.ndarray | None
    boxes: np.ndarray
    key_index: list[int]
    key_images: list[np.ndarray]
    key_masks: list[np.ndarray | None]
    scale: float
    stats: dict


def _handed_over(batches, on_decoded: Callable[[np.ndarray], None]):
    """The batches, each handed to `on_decoded(frames)` before it is yielded (in the thread reading them)."""
    try:
        for batch in batches:
            on_decoded(batch.frames)
            yield batch
    finally:
        batches.close()


def _run_backend(batches, T: int, backend: PoseBackend, keyframe_index: np.ndarray, on_batch, on_keyframe
                 ) -> _RawPose:
    raw = _RawPose(np.full((T, NUM_JOINTS, 2), np.nan, dtype=np.float32), np.zeros((T, NUM_JOINTS), np.float32),
                   None, np.full((T, 4), np.nan, dtype=np.float32), [], [], [], 1.0, {})
    want_masks = getattr(backend, "want_masks", None)  # masks are kept for the keyframes only
    if want_masks is not None:
        want_masks(keyframe_index)
    for batch in batches:
        raw.scale = batch.scale
        out = backend.process(batch.frames)
        sl = batch.index
        raw.keypoints[sl] = out.keypoints * batch.scale
        raw.confidence[sl] = out.confidence
        raw.boxes[sl] = out.boxes * batch.scale
        if out.keypoints3d is not None:
            if raw.keypoints3d is None:
                raw.keypoints3d = np.full((T, NUM_JOINTS, 3), np.nan, dtype=np.float32)
            raw.keypoints3d[sl] = out.keypoints3d
        for b in np.flatnonzero(np.isin(sl, keyframe_index)):
            raw.key_index.append(int(sl[b]))
            raw.key_images.append(batch.frames[b].copy())
            raw.key_masks.append(None if out.masks is None else out.masks[b].copy())
            if on_keyframe is not None:  # the box as the mask stage reads it back from Pose2D
                on_keyframe(raw.key_images[-1], raw.boxes[sl[b]] / batch.scale, raw.key_masks[-1])
        on_batch(len(sl))
    stats = getattr(backend, "stats", None)
    raw.stats = dict(stats) if isinstance(stats, dict) else {}
    return raw


def _finish(info: VideoInfo, frames: FrameRange, raw: _RawPose, backend_name: str) -> tuple[Pose2D, Keyframes]:
    """Clean up the backend output and build Pose2D + Keyframes."""
    masks = np.stack(raw.key_masks) if raw.key_masks and all(m is not None for m in raw.key_masks) else None
    images = np.stack(raw.key_images) if raw.key_images else np.zeros((0, 1, 1, 3), dtype=np.uint8)
    kp, conf, kp3, clean = clean_keypoints(raw.keypoints, raw.confidence, frames.fps, raw.keypoints3d)
    detected = np.isfinite(kp).all(-1).any(-1)
    report = {"frames": frames.count, "frames_detected": int(detected.sum()), **clean}
    if raw.stats:
        report["backend_stats"] = raw.stats
    pose = Pose2D(keypoints=kp, confidence=conf, keypoints3d=kp3, boxes=raw.boxes,
                  image_size=(info.width, info.height), fps=frames.fps, backend=backend_name, report=report)
    keyframes = Keyframes(index=np.asarray(raw.key_index, dtype=np.int64), images=images, masks=masks,
                          scale=raw.scale)
    return pose, keyframes


def estimate_pose(info: VideoInfo, frames: FrameRange, backend: PoseBackend | Callable[[], PoseBackend], *,
                  keyframe_index: np.ndarray, max_side: int | None = 960, batch_size: int = 16, progress: bool = True,
                  on_frames: Callable[[int], None] | None = None,
                  on_keyframe: Callable[[np.ndarray, np.ndarray, np.ndarray | None], None] | None = None,
                  on_decoded: Callable[[np.ndarray], None] | None = None) -> tuple[Pose2D, Keyframes]:
    """Run `backend` over the attempt's frames (one decoding pass) and keep the keyframes on the side.
    `backend` is a pose backend, or a function making one: then the first frames are decoded while it
    starts (MediaPipe's graphs, a model's weights), and it is closed here.
    `on_frames(n)` is called after each batch with the number of frames it held (e.g. a status file);
    `on_keyframe(image, box, mask)` as each keyframe is reached, with its working-size image (h, w, 3), the
    climber's box there (4,), NaN = not found, and the backend's person mask (h, w) bool or None (e.g. to
    start SfM on it while the video is still decoded); `on_decoded(frames)` with every decoded (B, h, w, 3)
    batch, in order, in the thread that decodes them (e.g. to keep them for another pass without decoding
    again)."""
    import contextlib
    from concurrent.futures import Future

    from tqdm.auto import tqdm

    keyframe_index = np.asarray(keyframe_index, dtype=np.int64)
    # the next batch is decoded while the backend works on this one (same frames, same order), and handed to
    # `on_decoded` there too (e.g. the flow stage's grey frames: ~1 CPU-ms a frame the backend's loop saves)
    first: Future = Future()
    batches = iter_batches(info, frames, max_side=max_side, batch_size=batch_size, threads=threads_beside_pose(info),
                           on_first=first.set_result)
    if on_decoded is not None:
        batches = _handed_over(batches, on_decoded)
    with read_ahead(batches) as batches, contextlib.ExitStack() as owned:
        if not isinstance(backend, PoseBackend):
            backend = owned.enter_context(backend())
        # a backend may start on the first frame while the rest of the first batch decodes
        prepare = getattr(backend, "prepare", None)
        if prepare is not None and (frame := first.result()) is not None:
            prepare(frame)
        first = frame = None  # the first frame is a view of its batch: let the decoder reuse that buffer
        with tqdm(total=frames.count, desc=f"pose ({backend.name})", unit="frame", disable=not progress,
                  leave=False) as bar:
            def on_batch(n: int) -> None:
                bar.update(n)
                if on_frames is not None:
                    on_frames(n)

            raw = _run_backend(batches, frames.count, backend, keyframe_index, on_batch, on_keyframe)
        return _finish(info, frames, raw, backend.name)


# ------------------------------------------------------------------------------------------- clean-up
_LEG_L = np.array([L_KNEE, L_ANKLE, L_HEEL, L_TOE])
_LEG_R = np.array([R_KNEE, R_ANKLE, R_HEEL, R_TOE])
_FOOT_L = np.array([L_ANKLE, L_HEEL, L_TOE])
_FOOT_R = np.array([R_ANKLE, R_HEEL, R_TOE])


def _torso_px(kp: np.ndarray) -> float:
    """Median shoulder-centre to hip-centre distance in pixels (the body scale of a sequence)."""
    sh = (kp[:, L_SHOULDER] + kp[:, R_SHOULDER]) / 2
    hip = (kp[:, L_HIP] + kp[:, R_HIP]) / 2
    d = np.linalg.norm(sh - hip, axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if len(d) else float("nan")


def _swap(arrays: list[np.ndarray | None], frames: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    """Exchange joints `left` and `right` in the given frames of every array (in place)."""
    if not frames.any():
        return
    for a in arrays:
        if a is None:
            continue
        sub = a[frames]
        sub[:, np.concatenate([left, right])] = sub[:, np.concatenate([right, left])]
        a[frames] = sub


def fix_leg_swaps(kp: np.ndarray, conf: np.ndarray, kp3d: np.ndarray | None = None, *, ratio: float = 0.5,
                  foot_ratio: float = 0.75) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Undo left/right leg swaps (see the module docstring): a foot is swapped when the crossed ankle-knee
    distances are below `foot_ratio` x the straight ones, a leg pair when the crossed frame-to-frame
    motion is below `ratio` x the straight one. Returns copies and the number of frames fixed."""
    kp, conf = kp.copy(), conf.copy()
    kp3d = None if kp3d is None else kp3d.copy()
    T = len(kp)
    # Feet on the wrong knee, frame by frame (anatomy: an ankle is a shank length from its own knee).
    ka = np.linalg.norm(kp[:, L_ANKLE] - kp[:, L_KNEE], axis=-1) + np.linalg.norm(kp[:, R_ANKLE] - kp[:, R_KNEE], axis=-1)
    kx = np.linalg.norm(kp[:, L_ANKLE] - kp[:, R_KNEE], axis=-1) + np.linalg.norm(kp[:, R_ANKLE] - kp[:, L_KNEE], axis=-1)
    with np.errstate(invalid="ignore"):
        feet = kx < foot_ratio * ka
    _swap([kp, conf, kp3d], feet, _FOOT_L, _FOOT_R)
    torso = _torso_px(kp)
    if T < 2 or not np.isfinite(torso):
        return kp, conf, kp3d, int(feet.sum())
    L, R = kp[:, _LEG_L].astype(np.float64), kp[:, _LEG_R].astype(np.float64)
    keep = np.linalg.norm(L[1:] - L[:-1], axis=-1) + np.linalg.norm(R[1:] - R[:-1], axis=-1)
    swap = np.linalg.norm(L[1:] - R[:-1], axis=-1) + np.linalg.norm(R[1:] - L[:-1], axis=-1)
    linked = np.isfinite(keep).all(-1) & np.isfinite(swap).all(-1)          # (T-1,) frames t-1 -> t comparable
    keep, swap = keep.sum(-1), swap.sum(-1)
    apart = np.linalg.norm(L[:-1] - R[:-1], axis=-1).sum(-1) > 0.2 * torso * len(_LEG_L)
    flip_step = linked & apart & (swap < ratio * keep)
    # Runs of linked frames; the parity of swaps inside a run tells which frames are flipped relative to
    # the run's first frame.
    run_id = np.concatenate([[0], np.cumsum(~linked)])                        # (T,) run of each frame
    parity = np.concatenate([[0], np.cumsum(flip_step)]) % 2
    start_parity = np.zeros(run_id.max() + 1, dtype=np.int64)
    first = np.concatenate([[True], run_id[1:] != run_id[:-1]])
    start_parity[run_id[first]] = parity[first]
    rel = (parity - start_parity[run_id]) % 2 == 1                            # flipped w.r.t. run start
    # Orient each run by the hips: the left knee lies on the left hip's side of the hip midpoint.
    hip_axis = kp[:, R_HIP] - kp[:, L_HIP]
    knee_axis = kp[:, R_KNEE] - kp[:, L_KNEE]
    agree = np.sign(np.nan_to_num(np.sum(hip_axis * knee_axis, axis=-1)))
    agree = np.where(rel, -agree, agree)                                      # as if the run were unflipped
    votes = np.bincount(run_id, weights=agree, minlength=run_id.max() + 1)
    run_flipped = votes <= -3                                                 # run start itself is swapped
    to_swap = rel ^ run_flipped[run_id]
    _swap([kp, conf, kp3d], to_swap, _LEG_L, _LEG_R)
    return kp, conf, kp3d, int(to_swap.sum() + feet.sum())


def spike_window(fps: float, half_s: float = 0.08) -> int:
    """Frames in the median window of `remove_spikes`: the frame itself and round(half_s * fps) frames (at
    least 1) on each side, so the window spans the same time at any frame rate (5 frames at 25 fps, 3 at
    12.5, 5 at 30, 11 at 60)."""
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive frame rate, got {fps}")
    return 2 * max(1, int(round(half_s * fps))) + 1


def remove_spikes(kp: np.ndarray, conf: np.ndarray, fps: float, *, spike_torso: float = 0.35, half_s: float = 0.08
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """Replace single-joint outliers (further than `spike_torso` torso lengths from their median over
    +-`half_s` seconds, see `spike_window`) by the median; halve their confidence."""
    from numpy.lib.stride_tricks import sliding_window_view

    kp, conf = kp.copy(), conf.copy()
    T = len(kp)
    window = spike_window(fps, half_s)
    torso = _torso_px(kp)
    if T < window or not np.isfinite(torso):
        return kp, conf, 0
    half = window // 2
    padded = np.pad(kp.astype(np.float64), ((half, half), (0, 0), (0, 0)), mode="edge")
    win = sliding_window_view(padded, window, axis=0)                         # (T, J, 2, window)
    n_ok = np.isfinite(win).all(axis=2).sum(axis=-1)                           # (T, J)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(win, axis=-1)
    dev = np.linalg.norm(kp - med, axis=-1)
    with np.errstate(invalid="ignore"):
        spike = (dev > spike_torso * torso) & (n_ok >= window - 1)
    kp[spike] = med[spike]
    conf[spike] *= 0.5
    return kp, conf, int(spike.sum())


def clean_keypoints(kp: np.ndarray, conf: np.ndarray, fps: float, kp3d: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """Leg-swap fix then spike repair; returns the cleaned arrays and counts for the report."""
    kp, conf, kp3d, swapped = fix_leg_swaps(kp, conf, kp3d)
    kp, conf, spikes = remove_spikes(kp, conf, fps, spike_torso=0.35 * max(1.0, 25.0 / fps) ** 0.5)
    conf[~np.isfinite(kp).all(-1)] = 0.0
    return kp, conf, kp3d, {"leg_swaps_fixed": swapped, "spikes_repaired": spikes}
