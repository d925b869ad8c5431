"""How well moves are named: event F1 per label, macro-F1, and move-boundary F1; on synthetic attempts
(known moves) and on real clips labelled by frame inspection (`RealLabels`, `real_report`).

- Event F1: a predicted move matches a true one of the same label and limb when their temporal IoU is at
  least `min_iou` (0.3); one-to-one, greedy by IoU.
- Macro-F1 over the posture labels that matter most to coaches: flag, cross-over, rock-over.
- Boundary F1: a predicted move matches a true one of the same limb (any label) when their starts are within
  `tol_s` (0.25 s).
Counts are pooled over all attempts of a set before computing precision and recall.

Real clips (`data/climbing/labels/*.json`, 0-based video frames): besides per-label event F1 the report
gives micro-F1 (events pooled over labels), hand-move F1 (a hand's move found at all: same hand, temporal
IoU >= 0.3, whatever it is called) and the predictions that fall inside `not_moves` spans (stretches where
nothing may be detected: standing on the mat, stepping on, dropping off, feet cutting loose).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cruxlab.errors import InputError
from cruxlab.intervals import temporal_iou
from cruxlab.joints import HAND_LIMBS, LIMBS
from cruxlab.labels import MOVE_LABELS, Move

MACRO_LABELS: tuple[str, ...] = ("flag", "cross-over", "rock-over")
EVAL_LABELS: tuple[str, ...] = ("reach", "cross-over", "match", "foot-move", "flag", "rock-over", "dyno")


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else (1.0 if self.fn == 0 else 0.0)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "Score") -> "Score":
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def move_iou(a: Move, b: Move) -> float:
    """Temporal IoU of two moves (`cruxlab.intervals.temporal_iou`)."""
    return float(temporal_iou(a.start_frame, a.end_frame, b.start_frame, b.end_frame))


def _greedy(pairs: list[tuple[float, int, int]]) -> int:
    """Number of one-to-one matches picking the best-scored pairs first."""
    pairs.sort(key=lambda x: -x[0])
    used_t, used_p = set(), set()
    for _, i, j in pairs:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
    return len(used_t)


def event_score(truth: Sequence[Move], pred: Sequence[Move], label: str, min_iou: float = 0.3) -> Score:
    t = [m for m in truth if m.label == label]
    p = [m for m in pred if m.label == label]
    pairs = [(iou, i, j) for i, a in enumerate(t) for j, b in enumerate(p)
             if a.limb == b.limb and (iou := move_iou(a, b)) >= min_iou]
    tp = _greedy(pairs)
    return Score(tp, len(p) - tp, len(t) - tp)


def boundary_score(truth: Sequence[Move], pred: Sequence[Move], fps: float, tol_s: float = 0.25) -> Score:
    tol = tol_s * fps
    pairs = [(-abs(a.start_frame - b.start_frame), i, j) for i, a in enumerate(truth) for j, b in enumerate(pred)
             if a.limb == b.limb and abs(a.start_frame - b.start_frame) <= tol]
    tp = _greedy(pairs)
    return Score(tp, len(pred) - tp, len(truth) - tp)


@dataclass(frozen=True)
class Report:
    per_label: dict[str, Score]
    boundary: Score
    n_attempts: int
    n_frames: int

    @property
    def macro_f1(self) -> float:
        return float(np.mean([self.per_label[label].f1 for label in MACRO_LABELS]))

    @property
    def all_labels_macro_f1(self) -> float:
        return float(np.mean([s.f1 for s in self.per_label.values()]))

    def as_dict(self) -> dict:
        return {
            "n_attempts": self.n_attempts, "n_frames": self.n_frames,
            "macro_f1_flag_cross_rock": round(self.macro_f1, 4),
            "macro_f1_all_labels": round(self.all_labels_macro_f1, 4),
            "boundary_f1": round(self.boundary.f1, 4),
            "per_label": {k: {"f1": round(s.f1, 4), "precision": round(s.precision, 4),
                              "recall": round(s.recall, 4), "support": s.tp + s.fn} for k, s in self.per_label.items()},
        }

    def format(self, title: str = "") -> str:
        lines = [title] if title else []
        lines.append(f"{'label':<12}{'F1':>7}{'prec':>7}{'recall':>8}{'support':>9}")
        for label, s in self.per_label.items():
            lines.append(f"{label:<12}{s.f1:>7.3f}{s.precision:>7.3f}{s.recall:>8.3f}{s.tp + s.fn:>9d}")
        lines.append(f"macro-F1 (flag, cross-over, rock-over): {self.macro_f1:.3f}")
        lines.append(f"macro-F1 (all {len(self.per_label)} labels):             {self.all_labels_macro_f1:.3f}")
        lines.append(f"boundary F1 (start within 0.25 s):      {self.boundary.f1:.3f}")
        lines.append(f"({self.n_attempts} attempts, {self.n_frames} frames)")
        return "\n".join(lines)


def evaluate(
    items: Iterable[tuple[Sequence[Move], Sequence[Move], float, int]],
    labels: Sequence[str] = EVAL_LABELS,
    min_iou: float = 0.3,
    tol_s: float = 0.25,
) -> Report:
    """items: (truth, predicted, fps, n_frames) per attempt."""
    per = {label: Score(0, 0, 0) for label in labels}
    boundary = Score(0, 0, 0)
    n = frames = 0
    for truth, pred, fps, n_frames in items:
        for label in labels:
            per[label] = per[label] + event_score(truth, pred, label, min_iou)
        boundary = boundary + boundary_score(truth, pred, fps, tol_s)
        n += 1
        frames += n_frames
    return Report(per, boundary, n, frames)


def run_synthetic_eval(seeds: Iterable[int], noise: str = "mild", rule_params: dict | None = None,
                       classifier=None, plot_dir=None) -> Report:
    """Generate synthetic attempts for `seeds`, detect their moves (rules with `rule_params`, or the given
    classifier) and score them against the known moves. Draws the first attempt into plot_dir if given."""
    from pathlib import Path

    from moves.classify import RuleMoveClassifier, detect
    from moves.synthetic import generate_attempt

    clf = classifier or RuleMoveClassifier(**(rule_params or {})).fit()
    items = []
    for i, seed in enumerate(seeds):
        a = generate_attempt(int(seed), noise)
        pred = detect(a.skeleton, clf)
        items.append((a.moves, pred, a.skeleton.fps, a.skeleton.n_frames))
        if plot_dir is not None and i == 0:
            from moves.plot import plot_attempt

            plot_attempt(a.skeleton, truth=a.moves, predicted=pred, out=Path(plot_dir) / f"eval-{noise}-{seed}.png",
                         title=f"synthetic seed {seed}, {noise} noise")
    return evaluate(items)


# -------------------------------------------------------------------------------------------- real clips


@dataclass(frozen=True)
class NotMove:
    """A span of video frames (inclusive, 0-based) where no move may be detected, and why."""

    start_frame: int
    end_frame: int
    what: str = ""


@dataclass(frozen=True)
class RealLabels:
    """Frame-inspected moves of one real clip (the format of data/climbing/labels/*.json).

    clip: the video file name the labels belong to; fps, n_frames: of the video; events: true moves in
    0-based video frames (each Move's confidence is 1.0 for "sure", 0.5 for "likely"); not_moves: spans where
    nothing may be detected; path: the file read."""

    clip: str
    fps: float
    n_frames: int
    events: tuple[Move, ...]
    not_moves: tuple[NotMove, ...]
    notes: str = ""
    path: str = ""

    @property
    def stem(self) -> str:
        return Path(self.clip).stem


_CERTAINTY = {"sure": 1.0, "likely": 0.5}


def load_labels(path: str | Path) -> RealLabels:
    """Read and check one label file; InputError names the file, the problem and the expected format."""
    path = Path(path)
    fmt = ('expected {"clip": "x.mp4", "fps": 25, "n_frames": N, "events": [{"label", "limb", "start_frame", '
           '"end_frame", "confidence": "sure"|"likely"}], "not_moves": [{"what", "start_frame", "end_frame"}]}')
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON label file ({exc}); {fmt}") from None
    if not isinstance(d, dict) or not {"clip", "fps", "n_frames", "events"} <= set(d):
        raise InputError(f"{path}: missing keys {sorted({'clip', 'fps', 'n_frames', 'events'} - set(d or {}))}; {fmt}")
    n = int(d["n_frames"])
    events = []
    for i, e in enumerate(d["events"]):
        try:
            s, t = int(e["start_frame"]), int(e["end_frame"])
            label, limb = str(e["label"]), str(e["limb"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: event {i} lacks label/limb/start_frame/end_frame; {fmt}") from None
        if label not in MOVE_LABELS or limb not in LIMBS:
            raise InputError(f"{path}: event {i} has label {label!r} / limb {limb!r}; labels are {MOVE_LABELS}, "
                             f"limbs {LIMBS}")
        if not 0 <= s <= t < n:
            raise InputError(f"{path}: event {i} spans frames {s}..{t}, outside 0..{n - 1} (0-based, inclusive)")
        events.append(Move(s, t, label, limb, _CERTAINTY.get(str(e.get("confidence", "sure")), 1.0)))
    spans = []
    for i, e in enumerate(d.get("not_moves", [])):
        s, t = int(e["start_frame"]), int(e["end_frame"])
        if not 0 <= s <= t < n:
            raise InputError(f"{path}: not_moves {i} spans frames {s}..{t}, outside 0..{n - 1}")
        spans.append(NotMove(s, t, str(e.get("what", ""))))
    return RealLabels(str(d["clip"]), float(d["fps"]), n, tuple(sorted(events)), tuple(spans),
                      str(d.get("uncertain_notes", "")), str(path))


def load_label_dir(directory: str | Path) -> list[RealLabels]:
    """Every *.json label file of a folder (sorted by name)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory} is not a folder of label files (e.g. data/climbing/labels)")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise InputError(f"{directory} holds no *.json label files")
    return [load_labels(f) for f in files]


def in_not_move(pred: Move, span: NotMove) -> bool:
    """A prediction falls inside a not-move span when at least half of it lies in the span or it covers at
    least half of the span (a bloated move swallowing the span counts; a neighbour touching its edge does not)."""
    inter = min(pred.end_frame, span.end_frame) - max(pred.start_frame, span.start_frame) + 1
    if inter <= 0:
        return False
    return inter >= 0.5 * pred.n_frames or inter >= 0.5 * (span.end_frame - span.start_frame + 1)


def _matched_pairs(truth: Sequence[Move], pred: Sequence[Move], same_label: bool, min_iou: float
                   ) -> list[tuple[Move, Move]]:
    pairs = [(iou, i, j) for i, a in enumerate(truth) for j, b in enumerate(pred)
             if a.limb == b.limb and (not same_label or a.label == b.label)
             and (iou := move_iou(a, b)) >= min_iou]
    pairs.sort(key=lambda x: -x[0])
    used_t, used_p, out = set(), set(), []
    for _, i, j in pairs:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            out.append((truth[i], pred[j]))
    return out


@dataclass(frozen=True)
class ClipResult:
    """One labelled clip scored against one stored attempt (frames are video frames)."""

    clip: str
    attempt: str
    fps: float
    truth: tuple[Move, ...]
    pred: tuple[Move, ...]
    not_moves: tuple[NotMove, ...]
    on_wall: tuple[int, int] | None = None


@dataclass(frozen=True)
class RealReport:
    """Real-clip accuracy pooled over clips (counts summed before precision/recall)."""

    clips: tuple[ClipResult, ...]
    labels: tuple[str, ...] = EVAL_LABELS
    min_iou: float = 0.3

    def _sub(self, clips) -> "RealReport":
        return RealReport(tuple(clips), self.labels, self.min_iou)

    @property
    def per_label(self) -> dict[str, Score]:
        per = {label: Score(0, 0, 0) for label in self.labels}
        for c in self.clips:
            for label in self.labels:
                per[label] = per[label] + event_score(c.truth, c.pred, label, self.min_iou)
        return per

    @property
    def micro(self) -> Score:
        total = Score(0, 0, 0)
        for s in self.per_label.values():
            total = total + s
        return total

    @property
    def hand(self) -> Score:
        """Hand moves found at all: same hand, IoU >= min_iou, any label."""
        total = Score(0, 0, 0)
        for c in self.clips:
            t = [m for m in c.truth if m.limb in HAND_LIMBS]
            p = [m for m in c.pred if m.limb in HAND_LIMBS]
            tp = len(_matched_pairs(t, p, same_label=False, min_iou=self.min_iou))
            total = total + Score(tp, len(p) - tp, len(t) - tp)
        return total

    @property
    def boundary(self) -> Score:
        total = Score(0, 0, 0)
        for c in self.clips:
            total = total + boundary_score(c.truth, c.pred, c.fps)
        return total

    def boundary_errors_s(self) -> tuple[float, float]:
        """Median |start error| and |end error| in seconds over label-matched events (NaN when none)."""
        ds, de = [], []
        for c in self.clips:
            for a, b in _matched_pairs(c.truth, c.pred, same_label=True, min_iou=self.min_iou):
                ds.append(abs(a.start_frame - b.start_frame) / c.fps)
                de.append(abs(a.end_frame - b.end_frame) / c.fps)
        return (float(np.median(ds)) if ds else float("nan"), float(np.median(de)) if de else float("nan"))

    def not_move_hits(self) -> list[tuple[str, Move, NotMove]]:
        return [(c.clip, m, s) for c in self.clips for m in c.pred for s in c.not_moves if in_not_move(m, s)]

    def as_dict(self) -> dict:
        bs, be = self.boundary_errors_s()
        return {
            "clips": [{"clip": c.clip, "attempt": c.attempt, "n_true": len(c.truth), "n_pred": len(c.pred),
                       "on_wall_video_frames": list(c.on_wall) if c.on_wall else None,
                       "micro_f1": round(self._sub([c]).micro.f1, 4), "hand_f1": round(self._sub([c]).hand.f1, 4),
                       "not_move_predictions": len(self._sub([c]).not_move_hits())} for c in self.clips],
            "micro_f1": round(self.micro.f1, 4), "micro_precision": round(self.micro.precision, 4),
            "micro_recall": round(self.micro.recall, 4), "hand_move_f1": round(self.hand.f1, 4),
            "boundary_f1": round(self.boundary.f1, 4), "median_start_error_s": round(bs, 3),
            "median_end_error_s": round(be, 3), "not_move_predictions": len(self.not_move_hits()),
            "per_label": {k: {"f1": round(s.f1, 4), "tp": s.tp, "fp": s.fp, "fn": s.fn,
                              "support": s.tp + s.fn} for k, s in self.per_label.items()},
        }

    def format(self, title: str = "") -> str:
        lines = [title] if title else []
        for c in self.clips:
            one = self._sub([c])
            wall = f", on the wall f{c.on_wall[0]}-{c.on_wall[1]}" if c.on_wall else ""
            lines.append(f"{c.clip} (attempt {c.attempt}): {len(c.truth)} true, {len(c.pred)} predicted{wall}; "
                         f"micro-F1 {one.micro.f1:.3f}, hand-move F1 {one.hand.f1:.3f}, "
                         f"{len(one.not_move_hits())} in not-move spans")
        lines.append(f"{'label':<12}{'F1':>7}{'tp':>5}{'fp':>5}{'fn':>5}")
        for label, s in self.per_label.items():
            if s.tp + s.fp + s.fn:
                lines.append(f"{label:<12}{s.f1:>7.3f}{s.tp:>5d}{s.fp:>5d}{s.fn:>5d}")
        m, h = self.micro, self.hand
        bs, be = self.boundary_errors_s()
        lines.append(f"micro-F1 (all labels):          {m.f1:.3f}  (precision {m.precision:.3f}, recall {m.recall:.3f})")
        lines.append(f"hand-move F1 (any hand label):  {h.f1:.3f}  (tp {h.tp}, fp {h.fp}, fn {h.fn})")
        lines.append(f"boundary F1 (start within 0.25 s): {self.boundary.f1:.3f}; median |start| error {bs:.2f} s, "
                     f"|end| error {be:.2f} s")
        hits = self.not_move_hits()
        lines.append(f"predictions inside not-move spans: {len(hits)}")
        for clip, mv, span in hits:
            lines.append(f"  {clip}: {mv.label} {mv.limb} f{mv.start_frame}-{mv.end_frame} in "
                         f"f{span.start_frame}-{span.end_frame} ({span.what})")
        return "\n".join(lines)


def right_predictions(truth: Sequence[Move], pred: Sequence[Move], min_iou: float = 0.3) -> np.ndarray:
    """(len(pred),) bool: the prediction matches a true move of the same label and limb (one-to-one, greedy
    by temporal IoU, as event F1 counts it)."""
    hits = {id(p) for _, p in _matched_pairs(list(truth), list(pred), same_label=True, min_iou=min_iou)}
    return np.array([id(p) in hits for p in pred], dtype=bool)
