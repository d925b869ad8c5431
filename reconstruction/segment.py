"""Following the climber through a video, and climber masks for SfM.

Picking the climber among several people (the person on the wall who moves up, not the largest) is
`reconstruction.climber` (`pick_climber`, `ClimberTracker`), shared by every backend. This module holds
what a single-person pose model (MediaPipe) needs on top of it:

- `BoxTrack`: the climber's box with a damped constant-velocity centre and the latest joints; `matches`
  says whether a new detection is still the same person (median joint displacement, or box IoU /
  centre distance, with gates that widen with the time since the last update).
- `search_window`: a square image region around the climber, with hysteresis, to run the pose model on
  so nobody far away can take over.
- masks: `dilate_masks` grows climber masks so SfM ignores the climber's outline and shadow; `box_masks`
  is the conservative fallback (a filled box) where a segmenter found nobody; `resize_masks`.
"""

from __future__ import annotations

import warnings

import numpy as np

from reconstruction.climber import box_iou

# ----------------------------------------------------------------------------------------------- boxes


def box_from_keypoints(keypoints: np.ndarray, confidence: np.ndarray | None = None, min_confidence: float = 0.2,
                       pad: float = 0.08) -> np.ndarray:
    """(..., J, 2) pixels -> (..., 4) boxes x0, y0, x1, y1 around the confident joints, padded by `pad` of the
    box size on every side. NaN box where no joint qualifies."""
    kp = np.asarray(keypoints, dtype=np.float64)
    ok = np.isfinite(kp).all(axis=-1)
    if confidence is not None:
        ok &= np.asarray(confidence) >= min_confidence
    x = np.where(ok, kp[..., 0], np.nan)
    y = np.where(ok, kp[..., 1], np.nan)
    with warnings.catch_warnings():  # an all-NaN row is a valid "absent"
        warnings.simplefilter("ignore", RuntimeWarning)
        x0, x1 = np.nanmin(x, axis=-1), np.nanmax(x, axis=-1)
        y0, y1 = np.nanmin(y, axis=-1), np.nanmax(y, axis=-1)
    px, py = pad * (x1 - x0), pad * (y1 - y0)
    return np.stack([x0 - px, y0 - py, x1 + px, y1 + py], axis=-1).astype(np.float32)


def box_center(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    return np.stack([(box[..., 0] + box[..., 2]) / 2, (box[..., 1] + box[..., 3]) / 2], axis=-1)


def box_diag(box: np.ndarray) -> np.ndarray:
    """Diagonal length of (..., 4) x0, y0, x1, y1 boxes, pixels."""
    box = np.asarray(box, dtype=np.float64)
    return np.hypot(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])


def expand_box(box: np.ndarray, margin: float, image_size: tuple[int, int], square: bool = False,
               clip: bool = True) -> np.ndarray:
    """Grow a box by `margin` x its longer side on every side (optionally to a square), clip to the image
    (w, h) unless `clip=False`, and round to whole pixels -> (4,) int64 x0, y0, x1, y1, at least 2 px wide."""
    w, h = image_size
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw = (side if square else x1 - x0) / 2 + margin * side
    hh = (side if square else y1 - y0) / 2 + margin * side
    out = np.array([np.floor(cx - hw), np.floor(cy - hh), np.ceil(cx + hw), np.ceil(cy + hh)])
    if clip:
        out[[0, 2]] = np.clip(out[[0, 2]], 0, w)
        out[[1, 3]] = np.clip(out[[1, 3]], 0, h)
        if out[2] - out[0] < 2:
            out[0] = min(max(out[0], 0), w - 2)
            out[2] = out[0] + 2
        if out[3] - out[1] < 2:
            out[1] = min(max(out[1], 0), h - 2)
            out[3] = out[1] + 2
    return out.astype(np.int64)


# ----------------------------------------------------------------------------------------------- tracking
class BoxTrack:
    """Online track of the climber: box centre with a damped constant velocity, latest box size, and
    optionally the latest joints for a finer identity check.

    Boxes are (4,) x0, y0, x1, y1 pixels; keypoints (J, 2) pixels (NaN = missing); `frame` counts frames
    of a video at `fps`. Gates are in units of the box diagonal and widen with the time since the last
    update, so subsampled videos (large motion between frames) still track.
    """

    def __init__(self, box: np.ndarray, frame: int, keypoints: np.ndarray | None = None, *, fps: float = 25.0,
                 iou_gate: float = 0.3, dist_gate: float = 0.35, kp_gate: float = 0.25, gate_per_s: float = 1.0,
                 damping: float = 0.7, max_growth: float = 1.25, max_size_ratio: float = 1.6,
                 max_slack: float = 0.5):
        box = np.asarray(box, dtype=np.float64)
        self.center = box_center(box)
        self.size = np.maximum(box[2:] - box[:2], 1.0)
        self.velocity = np.zeros(2)
        self.keypoints = None if keypoints is None else np.asarray(keypoints, dtype=np.float64).copy()
        self.last_frame = int(frame)
        self.fps = fps
        self.iou_gate, self.dist_gate, self.kp_gate, self.gate_per_s = iou_gate, dist_gate, kp_gate, gate_per_s
        self.damping, self.max_growth = damping, max_growth
        self.max_size_ratio, self.max_slack = max_size_ratio, max_slack
        self.hits = 1

    @property
    def box(self) -> np.ndarray:
        return np.concatenate([self.center - self.size / 2, self.center + self.size / 2])

    def predict(self, frame: int) -> np.ndarray:
        """Expected box at `frame` (the velocity decays while the track is not updated)."""
        dt = max(0, int(frame) - self.last_frame)
        decay = sum(self.damping ** i for i in range(dt))
        c = self.center + self.velocity * decay
        return np.concatenate([c - self.size / 2, c + self.size / 2])

    def gap(self, frame: int) -> int:
        """Frames since the last update."""
        return int(frame) - self.last_frame

    def _slack(self, frame: int) -> float:
        """How much the gates widen after the time since the last update (capped: after a long gap a gate
        wide enough to take anyone would hand the track to whatever shows up first)."""
        return min(self.gate_per_s * max(1, self.gap(frame)) / self.fps, self.max_slack)

    def matches(self, box: np.ndarray, frame: int, keypoints: np.ndarray | None = None) -> bool:
        """Whether a detection at `frame` is plausibly the tracked person.

        The box diagonal must be within a factor `max_size_ratio` (+ slack) of the track's (a detection of
        part of the body, or of a hold, is no continuation). Then, with keypoints on both sides (pass unsure
        joints as NaN): the median displacement of the joints seen in both must stay under (kp_gate + slack)
        x box diagonal. Otherwise: box size within a factor 2 and IoU >= iou_gate or centre distance <=
        (dist_gate + slack) x box diagonal.
        """
        box = np.asarray(box, dtype=np.float64)
        diag = float(np.hypot(*self.size))
        slack = self._slack(frame)
        ratio = max(float(box_diag(box)), 1.0) / diag
        if not 1.0 / (self.max_size_ratio + slack) <= ratio <= self.max_size_ratio + slack:
            return False
        if keypoints is not None and self.keypoints is not None:
            d = np.linalg.norm(np.asarray(keypoints, dtype=np.float64) - self.keypoints, axis=-1)
            d = d[np.isfinite(d)]
            if len(d) >= 4:
                return float(np.median(d)) <= (self.kp_gate + slack) * diag
        size = np.maximum(box[2:] - box[:2], 1.0)
        if np.any(size / self.size > 2.0 + slack) or np.any(self.size / size > 2.0 + slack):
            return False
        pred = self.predict(frame)
        if box_iou(box[None], pred[None])[0, 0] >= self.iou_gate:
            return True
        return float(np.linalg.norm(box_center(box) - box_center(pred))) <= (self.dist_gate + slack) * diag

    def update(self, box: np.ndarray, frame: int, keypoints: np.ndarray | None = None) -> None:
        """Follow a detection. The size moves at most `max_growth` per update, geometrically halfway to the
        new box: a box cut short by an occluder or a few unsure joints must not shrink the track (its gates
        and search windows scale with it) to a fraction of the climber within a few frames."""
        box = np.asarray(box, dtype=np.float64)
        dt = max(1, int(frame) - self.last_frame)
        c = box_center(box)
        self.velocity = 0.5 * self.velocity + 0.5 * (c - self.center) / dt
        ratio = np.clip(np.maximum(box[2:] - box[:2], 1.0) / self.size, 1 / self.max_growth, self.max_growth)
        self.center, self.size = c, self.size * np.sqrt(ratio)
        if keypoints is not None:
            self.keypoints = np.asarray(keypoints, dtype=np.float64).copy()
        self.last_frame = int(frame)
        self.hits += 1


def search_window(box: np.ndarray, image_size: tuple[int, int], current: np.ndarray | None = None,
                  margin: float = 0.6) -> np.ndarray:
    """Square image region to run the pose model on, so it keeps seeing the climber and nobody far away.

    The window is `box` grown by `margin` x its longer side to a square; it may reach past the image border
    (the caller pads). `current` is kept while the box stays inside its inner 80 % and the box size still
    fits (hysteresis), so a video-mode pose model sees a stable frame of reference. Returns (4,) int64.
    """
    box = np.asarray(box, dtype=np.float64)
    limit = 1.5 * max(image_size)
    if max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * margin) > limit:  # never larger than the frame
        c, half = box_center(box), limit / (2 * (1 + 2 * margin))
        box = np.concatenate([c - half, c + half])
    if current is not None:
        side = float(current[2] - current[0])
        inner = 0.1 * side
        inside = (box[0] >= current[0] + inner and box[1] >= current[1] + inner
                  and box[2] <= current[2] - inner and box[3] <= current[3] - inner)
        want = max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * margin)
        if inside and 0.6 * side <= want <= 1.25 * side:
            return current
    return expand_box(box, margin, image_size, square=True, clip=False)


# ----------------------------------------------------------------------------------------------- masks
def dilate_masks(masks: np.ndarray, radius_px: int) -> np.ndarray:
    """Grow (N, H, W) bool masks by a disc of `radius_px` (keeps outlines and shadows out of SfM)."""
    import cv2

    masks = np.asarray(masks, dtype=bool)
    if radius_px <= 0 or masks.size == 0:
        return masks.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))
    out = np.empty_like(masks)
    for i, m in enumerate(masks.view(np.uint8)):
        out[i] = cv2.dilate(m, kernel).astype(bool)
    return out


def box_masks(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, 4) boxes -> (N, H, W) bool filled-box masks (all False for a NaN box)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    ys = np.arange(height)[None, :, None]
    xs = np.arange(width)[None, None, :]
    b = np.nan_to_num(boxes, nan=-1.0)
    inside_y = (ys >= b[:, 1, None, None]) & (ys < b[:, 3, None, None])
    inside_x = (xs >= b[:, 0, None, None]) & (xs < b[:, 2, None, None])
    out = inside_y & inside_x
    out[~np.isfinite(boxes).all(axis=1)] = False
    return out


def resize_masks(masks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, h, w) bool -> (N, height, width) bool by nearest-neighbour scaling."""
    import cv2

    masks = np.asarray(masks, dtype=bool)
    if masks.shape[1:] == (height, width):
        return masks
    out = np.empty((len(masks), height, width), dtype=bool)
    for i, m in enumerate(masks.view(np.uint8)):
        out[i] = cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    return out
