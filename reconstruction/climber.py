"""Pick the climber among detected people and follow them through the video.

Detectors (MMDet, RTMDet ONNX) return every person in view: spotters, the crowd under a competition wall,
the next climber waiting. The climber is the person *on the wall who moves up*, not the largest or the most
confident box. Evidence per track of boxes linked over time:

- rise:      how far the box's bottom edge went up in the image since the track began, in box heights
             (a climber's feet leave the floor; people standing around stay put);
- elevation: how far the box's bottom sits above the lowest person in the same frame (the floor line),
             in box heights (the climber hangs above the crowd even when a panning camera hides the rise);
- presence:  fraction of frames with a confident detection (the climber is filmed all the time).

    tracker = ClimberTracker()
    for boxes, scores in batches:              # (B, P, 4) x0, y0, x1, y1 pixels NaN-padded; (B, P)
        idx = tracker.update(boxes, scores)    # (B,) index of the climber's box in each frame, -1 = none
    idx_all = pick_climber(boxes, scores)      # offline: the same, with hindsight over the whole sequence

Linking is sequential by nature (frame t needs the tracks of t-1), so `update` steps over frames; each step
is vectorised over tracks x detections and costs microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between (N, 4) and (M, 4) x0, y0, x1, y1 boxes -> (N, M); NaN boxes give 0."""
    a = np.asarray(a, dtype=np.float64)[:, None, :]
    b = np.asarray(b, dtype=np.float64)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area_a + area_b - inter)
    return np.nan_to_num(iou, nan=0.0)


def best_assignment(score: np.ndarray, max_candidates: int = 720) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the one-to-one pairing of an (N, M) score matrix with the largest total score
    (min(N, M) pairs, rows increasing): `scipy.optimize.linear_sum_assignment(-score)`. A few tracks against
    a few people (MediaPipe's acquisition: <= 3 a frame) are solved by trying every pairing, at most
    `max_candidates` of them, so the pose stage does not wait ~0.25 CPU-s for SciPy's optimize package to
    import; larger problems go to SciPy."""
    import itertools
    import math

    score = np.asarray(score, dtype=np.float64)
    n, m = score.shape
    k = min(n, m)
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if math.perm(max(n, m), k) > max_candidates:
        from scipy.optimize import linear_sum_assignment  # importing SciPy costs ~50 MB

        rows, cols = linear_sum_assignment(-score)
        return rows.astype(np.int64), cols.astype(np.int64)
    flip = n > m
    s = score.T if flip else score                                         # (k, K): k <= K
    perms = np.array(list(itertools.permutations(range(s.shape[1]), k)), dtype=np.int64)  # (P, k)
    best = perms[np.argmax(s[np.arange(k), perms].sum(axis=1))]
    if not flip:
        return np.arange(k, dtype=np.int64), best
    order = np.argsort(best)
    return best[order], np.arange(k, dtype=np.int64)[order]


@dataclass
class _Tracks:
    """Per-track state, one row per track (arrays grow as tracks are born)."""

    box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    last_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    first_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    start_bottom: np.ndarray = field(default_factory=lambda: np.zeros(0))
    top_bottom: np.ndarray = field(default_factory=lambda: np.zeros(0))   # smallest bottom y (highest)
    height_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    elev_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    score_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.box)

    def add(self, boxes: np.ndarray, frame: int) -> np.ndarray:
        n = len(boxes)
        ids = np.arange(len(self), len(self) + n)
        self.box = np.concatenate([self.box, boxes])
        self.last_seen = np.concatenate([self.last_seen, np.full(n, frame)])
        self.first_seen = np.concatenate([self.first_seen, np.full(n, frame)])
        self.start_bottom = np.concatenate([self.start_bottom, boxes[:, 3]])
        self.top_bottom = np.concatenate([self.top_bottom, boxes[:, 3]])
        for name in ("height_sum", "elev_sum", "score_sum"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(n)]))
        self.hits = np.concatenate([self.hits, np.zeros(n, dtype=np.int64)])
        return ids


@dataclass
class ClimberTracker:
    """Online climber picking + tracking over consecutive frames (see the module docstring).

    min_score:     detections below this confidence are ignored.
    iou_min:       a detection continues a track when their IoU is at least this.
    max_gap:       frames a track may go undetected before it ends (occlusion by a spotter, blur).
    switch_margin: another track must out-score the current climber by this much to take over
                   (hysteresis: no flicker between two similar candidates).
    w_rise, w_elevation, w_presence: weights of the three kinds of evidence in the climber score.
    """

    min_score: float = 0.3
    iou_min: float = 0.2
    max_gap: int = 25
    switch_margin: float = 0.3
    w_rise: float = 2.0
    w_elevation: float = 1.0
    w_presence: float = 1.0
    frame: int = 0
    climber: int = -1
    tracks: _Tracks = field(default_factory=_Tracks)
    assignment: list[np.ndarray] = field(default_factory=list)   # per frame: track id of each detection

    def scores(self) -> np.ndarray:
        """Climber score of every track so far (higher = more likely the climber)."""
        t = self.tracks
        if len(t) == 0:
            return np.zeros(0)
        hits = np.maximum(t.hits, 1)
        height = t.height_sum / hits
        rise = np.clip(t.start_bottom - t.top_bottom, 0, None) / np.maximum(height, 1e-6)
        elevation = t.elev_sum / hits
        span = np.maximum(self.frame - t.first_seen, 1)
        presence = np.clip(t.hits / span, 0, 1) * (t.score_sum / hits)
        # a track seen in only a handful of frames carries little evidence yet
        weight = np.clip(t.hits / 5.0, 0, 1)
        return weight * (self.w_rise * np.minimum(rise, 3.0) + self.w_elevation * np.clip(elevation, -1, 3)
                         + self.w_presence * presence)

    def _step(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Link one frame's detections (P, 4), (P,) to the tracks; returns each detection's track id (-1 unused)."""
        t = self.tracks
        valid = np.isfinite(boxes).all(axis=1) & np.isfinite(scores) & (scores >= self.min_score)
        valid &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        det = np.flatnonzero(valid)
        track_of = np.full(len(boxes), -1, dtype=np.int64)
        alive = np.flatnonzero(self.frame - t.last_seen <= self.max_gap) if len(t) else np.zeros(0, np.int64)
        matched_det = np.zeros(len(det), dtype=bool)
        if len(alive) and len(det):
            iou = box_iou(t.box[alive], boxes[det])
            rows, cols = best_assignment(iou)
            ok = iou[rows, cols] >= self.iou_min
            track_of[det[cols[ok]]] = alive[rows[ok]]
            matched_det[cols[ok]] = True
        new = det[~matched_det]
        if len(new):
            track_of[new] = t.add(boxes[new].astype(np.float64), self.frame)
        if len(det):
            ids = track_of[det]
            b = boxes[det].astype(np.float64)
            height = b[:, 3] - b[:, 1]
            floor = b[:, 3].max()
            t.box[ids] = b
            t.last_seen[ids] = self.frame
            t.top_bottom[ids] = np.minimum(t.top_bottom[ids], b[:, 3])
            t.height_sum[ids] += height
            t.elev_sum[ids] += (floor - b[:, 3]) / np.maximum(height, 1e-6)
            t.score_sum[ids] += scores[det]
            t.hits[ids] += 1
        self.frame += 1
        return track_of

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Feed B consecutive frames. boxes (B, P, 4) pixels x0, y0, x1, y1 (NaN rows = padding), scores (B, P).

        Returns (B,) int64: index (into P) of the climber's box in each frame, -1 where the climber is not
        detected. The climber is re-chosen after every frame, with hysteresis.
        """
        boxes = np.asarray(boxes, dtype=np.float64)
        scores = np.asarray(scores, dtype=np.float64)
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:2]:
            raise ValueError(f"boxes must be (B, P, 4) and scores (B, P), got {boxes.shape} and {scores.shape}")
        out = np.full(len(boxes), -1, dtype=np.int64)
        for b in range(len(boxes)):
            track_of = self._step(boxes[b], scores[b])
            self.assignment.append(track_of)
            s = self.scores()
            alive = self.frame - 1 - self.tracks.last_seen <= self.max_gap if len(s) else np.zeros(0, bool)
            if alive.any():
                best = int(np.argmax(np.where(alive, s, -np.inf)))
                current_ok = 0 <= self.climber < len(s) and alive[self.climber]
                if not current_ok or s[best] > s[self.climber] + self.switch_margin:
                    self.climber = best
            hit = np.flatnonzero(track_of == self.climber) if self.climber >= 0 else []
            out[b] = hit[0] if len(hit) else -1
        return out

    def hindsight(self) -> np.ndarray:
        """(T,) index of the best-scoring track's box in every frame seen so far (-1 = not detected)."""
        s = self.scores()
        if len(s) == 0:
            return np.full(len(self.assignment), -1, dtype=np.int64)
        best = int(np.argmax(s))
        out = np.full(len(self.assignment), -1, dtype=np.int64)
        for i, track_of in enumerate(self.assignment):
            hit = np.flatnonzero(track_of == best)
            if len(hit):
                out[i] = hit[0]
        return out


def pick_climber(boxes: np.ndarray, scores: np.ndarray, **params) -> np.ndarray:
    """Offline picking over a whole sequence: (T, P, 4) boxes + (T, P) scores -> (T,) climber box index, -1 = none.

    Uses hindsight: the track with the best climber score over the whole sequence wins in every frame.
    """
    tracker = ClimberTracker(**params)
    tracker.update(boxes, scores)
    return tracker.hindsight()


def select_boxes(boxes: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(T, P, 4) boxes + (T,) index -> (T, 4) chosen boxes, NaN rows where index is -1."""
    boxes = np.asarray(boxes, dtype=np.float32)
    out = np.full((len(boxes), 4), np.nan, dtype=np.float32)
    ok = index >= 0
    out[ok] = boxes[np.flatnonzero(ok), index[ok]]
    return out


def pad_detections(per_frame: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged per-frame detections [(boxes (n_i, 4), scores (n_i,))] into NaN-padded (B, P, 4), (B, P)."""
    p = max((len(s) for _, s in per_frame), default=0)
    boxes = np.full((len(per_frame), max(p, 1), 4), np.nan, dtype=np.float32)
    scores = np.full((len(per_frame), max(p, 1)), np.nan, dtype=np.float32)
    for i, (b, s) in enumerate(per_frame):
        boxes[i, : len(s)] = b
        scores[i, : len(s)] = s
    return boxes, scores
