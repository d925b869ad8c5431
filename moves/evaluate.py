"""How well moves are named: event F1 per label, macro-F1, and move-boundary F1.

- Event F1: a predicted move matches a true one of the same label and limb when their temporal IoU is at
  least `min_iou` (0.3); one-to-one, greedy by IoU.
- Macro-F1 over the posture labels that matter most to coaches: flag, cross-over, rock-over.
- Boundary F1: a predicted move matches a true one of the same limb (any label) when their starts are within
  `tol_s` (0.25 s).
Counts are pooled over all attempts of a set before computing precision and recall.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from cruxlab.labels import Move

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


def temporal_iou(a: Move, b: Move) -> float:
    inter = min(a.end_frame, b.end_frame) - max(a.start_frame, b.start_frame) + 1
    if inter <= 0:
        return 0.0
    union = max(a.end_frame, b.end_frame) - min(a.start_frame, b.start_frame) + 1
    return inter / union


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
             if a.limb == b.limb and (iou := temporal_iou(a, b)) >= min_iou]
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
