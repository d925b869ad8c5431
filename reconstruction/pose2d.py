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
from reconstruction.video import FrameRange, VideoInfo, iter_batches, read_ahead

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
    """Backend output for a run of consecutive attempt frames, before clean-up (rows: the run's frames; the
    keyframes' `key_index` are attempt frames)."""

    keypoints: np.ndarray
    confidence: np.ndarray
    keypoints3d: np.ndarray | None
    boxes: np.ndarray
    key_index: list[int]
    key_images: list[np.ndarray]
    key_masks: list[np.ndarray | None]
    scale: float
    stats: dict

    @classmethod
    def empty(cls, n: int) -> "_RawPose":
        return cls(np.full((n, NUM_JOINTS, 2), np.nan, dtype=np.float32), np.zeros((n, NUM_JOINTS), np.float32),
                   None, np.full((n, 4), np.nan, dtype=np.float32), [], [], [], 1.0, {})

    def put(self, rows: slice, other: "_RawPose", other_rows: slice) -> None:
        """Copy `other`'s rows into these rows (keypoints, confidence, 3D keypoints, boxes)."""
        self.keypoints[rows] = other.keypoints[other_rows]
        self.confidence[rows] = other.confidence[other_rows]
        self.boxes[rows] = other.boxes[other_rows]
        if other.keypoints3d is not None:
            if self.keypoints3d is None:
                self.keypoints3d = np.full((len(self.keypoints), NUM_JOINTS, 3), np.nan, dtype=np.float32)
            self.keypoints3d[rows] = other.keypoints3d[other_rows]


#: Splitting a video between two trackers (`estimate_pose`): only from this many seconds of frames (each tracker
#: starts its graphs and acquires the climber: ~0.3 s), with the second tracker starting this many seconds
#: before its half (its acquisition, tracking window and MediaPipe's landmark filter settle there; only its
#: frames from the split point on are kept). Its decoder decodes the frames before its part without converting
#: them, at about PREROLL_COST of the cost of tracking a frame: the split point leaves it that much less to track.
SPLIT_MIN_S = 4.0
SPLIT_OVERLAP_S = 1.0
PREROLL_COST = 0.2
#: The two trackers agree on the climber when their boxes overlap (IoU > SPLIT_IOU) in at least SPLIT_AGREE of
#: the overlap's frames where both see someone, and both see someone in at least half the frames the first one
#: does. Otherwise the second tracker's part is dropped and the first one goes on (the one-pass result).
SPLIT_IOU = 0.5
SPLIT_AGREE = 0.8


def split_point(n_frames: int, overlap: int, preroll_cost: float = PREROLL_COST) -> int:
    """The first frame of the second half: the first tracker takes frames [0, m), the second [m - overlap, n)
    after decoding the m - overlap frames before (`preroll_cost` of a tracked frame each), so both finish at
    about the same time: m = (n + overlap) - (m - overlap) * (1 - preroll_cost)."""
    m = ((n_frames + overlap) - overlap * preroll_cost) / (2.0 - preroll_cost)
    return int(np.clip(round(m), overlap + 1, n_frames - 1))


def boxes_agree(a: np.ndarray, b: np.ndarray, *, iou: float = SPLIT_IOU, share: float = SPLIT_AGREE
                ) -> tuple[bool, float]:
    """Do two trackers follow the same person over the same frames? a, b: (N, 4) boxes (NaN rows: nobody).
    Returns (agree, share of the frames both saw someone where their boxes overlap by more than `iou`)."""
    seen_a, seen_b = np.isfinite(a).all(-1), np.isfinite(b).all(-1)
    both = seen_a & seen_b
    if not both.any():
        return False, 0.0
    a, b = a[both].astype(np.float64), b[both].astype(np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = np.prod(a[:, 2:] - a[:, :2], -1) + np.prod(b[:, 2:] - b[:, :2], -1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        same = float(np.mean(np.nan_to_num(inter / union) > iou))
    return bool(same >= share and both.sum() >= 0.5 * seen_a.sum()), same


def _handed_over(batches, on_decoded: Callable[[np.ndarray, int], None], first: int, keep_from: int):
    """The batches, each handed to `on_decoded(frames, start)` (its frames from attempt frame `keep_from` on)
    before it is yielded, in the thread reading them. `first`: the attempt frame of the batches' index 0."""
    try:
        for batch in batches:
            start = first + int(batch.index[0])
            skip = max(0, keep_from - start)
            if skip < len(batch.index):
                on_decoded(batch.frames[skip:], start + skip)
            yield batch
    finally:
        batches.close()


class _Stopped(Exception):
    """The other part failed or is not needed: this one stops too."""


def _track(info: VideoInfo, frames: FrameRange, part: range, backend: PoseBackend, keyframe_index: np.ndarray,
           max_side: int | None, batch_size: int, *, keep_from: int, on_batch, on_keyframe, on_decoded,
           stop=None, origin: int | None = None) -> _RawPose:
    """Run `backend` over the attempt frames `part` (its own decoder: every video frame before the part is
    decoded, not converted). Rows of the result are the part's frames. Frames from `keep_from` on are the
    part's own: their keyframes are kept and handed to `on_keyframe(image, box, mask, frame)`, they are counted
    by `on_batch(n, done, raw)` (done: the part's frames tracked so far, the first `done` rows of `raw`, the
    result being filled) and handed to `on_decoded(frames, start)`. `origin`: the attempt frame the backend
    saw first (default: the part's first; the backend counts its frames from there). Raises `_Stopped` when
    `stop` is set."""
    first = part.start
    sub = frames if len(part) == frames.count else FrameRange(
        start=frames.start + first * frames.step, step=frames.step, count=len(part), fps=frames.fps)
    raw = _RawPose.empty(len(part))
    own = keyframe_index[(keyframe_index >= keep_from) & (keyframe_index < part.stop)]
    want_masks = getattr(backend, "want_masks", None)  # masks are kept for the keyframes only
    if want_masks is not None:
        want_masks(own - (first if origin is None else origin))
    # the next batch is decoded while the backend works on this one (same frames, same order), and handed to
    # `on_decoded` there too (e.g. the flow stage's grey frames: ~1 CPU-ms a frame the backend's loop saves)
    batches = iter_batches(info, sub, max_side=max_side, batch_size=batch_size)
    if on_decoded is not None:
        batches = _handed_over(batches, on_decoded, first, keep_from)
    done = 0
    for batch in read_ahead(batches):
        if stop is not None and stop.is_set():
            raise _Stopped()
        raw.scale = batch.scale
        out = backend.process(batch.frames)
        sl = batch.index
        raw.keypoints[sl] = out.keypoints * batch.scale
        raw.confidence[sl] = out.confidence
        raw.boxes[sl] = out.boxes * batch.scale
        if out.keypoints3d is not None:
            if raw.keypoints3d is None:
                raw.keypoints3d = np.full((len(part), NUM_JOINTS, 3), np.nan, dtype=np.float32)
            raw.keypoints3d[sl] = out.keypoints3d
        for b in np.flatnonzero(np.isin(sl + first, own)):
            raw.key_index.append(int(sl[b] + first))
            raw.key_images.append(batch.frames[b].copy())
            raw.key_masks.append(None if out.masks is None else out.masks[b].copy())
            if on_keyframe is not None:  # the box as the mask stage reads it back from Pose2D
                on_keyframe(raw.key_images[-1], raw.boxes[sl[b]] / batch.scale, raw.key_masks[-1], raw.key_index[-1])
        done += len(sl)
        if on_batch is not None:
            on_batch(int((sl + first >= keep_from).sum()), done, raw)
    stats = getattr(backend, "stats", None)
    raw.stats = dict(stats) if isinstance(stats, dict) else {}
    return raw


def _run_backend(info: VideoInfo, frames: FrameRange, backend: PoseBackend, keyframe_index: np.ndarray,
                 max_side: int | None, batch_size: int, on_batch, on_keyframe, on_decoded, split: bool | None
                 ) -> _RawPose:
    """One pass over the attempt, or its two halves at once with the backend's `twin` (see `estimate_pose`)."""
    T = frames.count
    twin = None
    if split is not False and T >= SPLIT_MIN_S * frames.fps:
        twin = backend.twin() if hasattr(backend, "twin") else None
    if twin is None:
        raw = _track(info, frames, range(T), backend, keyframe_index, max_side, batch_size, keep_from=0,
                     on_batch=lambda n, done, part: on_batch(n),
                     on_keyframe=None if on_keyframe is None else lambda img, box, mask, i: on_keyframe(img, box, mask),
                     on_decoded=on_decoded)
        return raw
    try:
        return _run_split(info, frames, backend, twin, keyframe_index, max_side, batch_size, on_batch, on_keyframe,
                          on_decoded)
    finally:
        twin.close()


def _run_split(info: VideoInfo, frames: FrameRange, backend: PoseBackend, twin: PoseBackend,
               keyframe_index: np.ndarray, max_side: int | None, batch_size: int, on_batch, on_keyframe,
               on_decoded) -> _RawPose:
    """Frames [0, m) with `backend` and [m - overlap, T) with `twin`, each in a thread with its own decoder;
    the callbacks other than `on_decoded` run in this thread. The second part's keyframes wait until the first
    part is done and the two agree on the climber over the overlap (`boxes_agree`), so they reach
    `on_keyframe` in order; if they do not agree, the second part is stopped and dropped and `backend` goes on
    over [m, T): the one-pass result."""
    import queue
    import threading
    import time

    T = frames.count
    overlap = max(1, int(round(SPLIT_OVERLAP_S * frames.fps)))
    m = split_point(T, overlap)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    t0 = time.perf_counter()

    def run(name: str, be: PoseBackend, part: range, keep_from: int) -> None:
        try:
            raw = _track(info, frames, part, be, keyframe_index, max_side, batch_size, keep_from=keep_from,
                         on_batch=lambda n, done, raw: events.put(("frames", name, (n, done, raw))),
                         on_keyframe=lambda *kf: events.put(("keyframe", name, kf)),
                         on_decoded=on_decoded, stop=stop)
            events.put(("done", name, (raw, time.perf_counter() - t0)))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            events.put(("error", name, exc))

    threads = [threading.Thread(target=run, args=("a", backend, range(0, m), 0), name="cruxlab-pose-a", daemon=True),
               threading.Thread(target=run, args=("b", twin, range(m - overlap, T), m), name="cruxlab-pose-b",
                                daemon=True)]
    for t in threads:
        t.start()
    results: dict[str, tuple[_RawPose, float]] = {}
    pending = {"a", "b"}
    b_raw, b_done = None, 0   # the second part as far as it is tracked
    held: list = []           # the second part's keyframes until the two parts agree
    verdict: bool | None = None
    share = 0.0
    error: BaseException | None = None
    try:
        while pending:
            kind, name, payload = events.get()
            if kind == "frames":
                n, done, part = payload
                if error is None and (name == "a" or verdict is not False):
                    on_batch(n)
                if name == "b":
                    b_raw, b_done = part, done
            elif kind == "keyframe":
                if name == "a" or verdict:
                    if on_keyframe is not None and error is None:
                        on_keyframe(*payload[:3])
                elif verdict is None:
                    held.append(payload)
            elif kind == "done":
                results[name] = payload
                pending.discard(name)
            else:  # a failure in one part stops the other; raised below
                pending.discard(name)
                if not isinstance(payload, _Stopped) and error is None:
                    error = payload
                    stop.set()
            if error is None and verdict is None and "a" in results and b_done >= overlap:
                # the second tracker has tracked the overlap: does it follow the climber the first one does?
                verdict, share = boxes_agree(results["a"][0].boxes[m - overlap:m], b_raw.boxes[:overlap])
                if verdict:
                    for kf in held:
                        if on_keyframe is not None:
                            on_keyframe(*kf[:3])
                else:
                    stop.set()  # the second part is not needed: the first tracker goes on
                    log.info("pose: the two trackers disagree on the climber over frames %d..%d (%.0f%% of the "
                             "boxes agree); the first goes on alone", m - overlap, m - 1, 100 * share)
                held = []
    finally:
        stop.set()
        for t in threads:
            t.join()
    if error is not None:
        raise error
    a, a_s = results["a"]
    raw = _RawPose.empty(T)
    raw.scale = a.scale
    raw.put(slice(0, m), a, slice(0, m))
    raw.key_index, raw.key_images, raw.key_masks = list(a.key_index), list(a.key_images), list(a.key_masks)
    report = {"at": m, "overlap": overlap, "boxes_agree": round(share, 3), "fallback": not verdict,
              "first_s": round(a_s, 2)}
    if verdict:
        rest, rest_rows = results["b"][0], slice(overlap, None)
        raw.stats = {k: a.stats.get(k, 0) + rest.stats.get(k, 0) for k in {**a.stats, **rest.stats}}
        report["second_s"] = round(results["b"][1], 2)
    else:
        # the first tracker goes on from its own state (its decoder decodes again from the start); the second
        # part counted these frames already and handed their decoded pixels to `on_decoded` (the same pixels)
        rest = _track(info, frames, range(m, T), backend, keyframe_index, max_side, batch_size, keep_from=m,
                      on_batch=None, on_decoded=None, origin=0,
                      on_keyframe=None if on_keyframe is None else lambda img, box, mask, i: on_keyframe(img, box, mask))
        rest_rows = slice(0, None)
        raw.stats = dict(rest.stats)
    raw.put(slice(m, T), rest, rest_rows)
    raw.key_index += rest.key_index
    raw.key_images += rest.key_images
    raw.key_masks += rest.key_masks
    raw.stats["split"] = report
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


def estimate_pose(info: VideoInfo, frames: FrameRange, backend: PoseBackend, *, keyframe_index: np.ndarray,
                  max_side: int | None = 960, batch_size: int = 16, progress: bool = True,
                  on_frames: Callable[[int], None] | None = None,
                  on_keyframe: Callable[[np.ndarray, np.ndarray, np.ndarray | None], None] | None = None,
                  on_decoded: Callable[[np.ndarray, int], None] | None = None, split: bool | None = None
                  ) -> tuple[Pose2D, Keyframes]:
    """Run `backend` over the attempt's frames (one decoding pass) and keep the keyframes on the side.
    `on_frames(n)` is called after each batch with the number of frames it held (e.g. a status file);
    `on_keyframe(image, box, mask)` as each keyframe is reached, with its working-size image (h, w, 3), the
    climber's box there (4,), NaN = not found, and the backend's person mask (h, w) bool or None (e.g. to
    start SfM on it while the video is still decoded), in order; `on_decoded(frames, start)` with every decoded
    (B, h, w, 3) batch of attempt frames start..start+B-1, once each, in the thread that decodes them (e.g. to
    keep them for another pass without decoding again; with two trackers, two threads and not in order).

    `split`: a backend with a `twin` (MediaPipe) tracks an attempt of at least SPLIT_MIN_S seconds as two
    halves at once (each backend's graph is serial: two use both cores), the second starting SPLIT_OVERLAP_S
    before its half, unless `split` is False. Poses differ from one pass only in the frames just after the
    split point (the second tracker's landmark filter and window started a second earlier); where the two do
    not follow the same person there (`boxes_agree`), the first goes on alone: the one-pass result. The report
    says which (`backend_stats["split"]`)."""
    from tqdm.auto import tqdm

    keyframe_index = np.asarray(keyframe_index, dtype=np.int64)
    with tqdm(total=frames.count, desc=f"pose ({backend.name})", unit="frame", disable=not progress,
              leave=False) as bar:
        def on_batch(n: int) -> None:
            bar.update(n)
            if on_frames is not None:
                on_frames(n)

        raw = _run_backend(info, frames, backend, keyframe_index, max_side, batch_size, on_batch, on_keyframe,
                           on_decoded, split)
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
