"""Calibrated move confidences: a move said with confidence 0.8 is right about 8 times in 10.

A classifier's own confidence says how clearly a candidate meets the rules (the margin to the thresholds),
not how much the evidence under it can be trusted. The calibrator maps, per predicted move,

    logit(raw confidence), fraction of the move seen, mean detection confidence of the limb during the move,
    log(noise ratio: how far the clip's own noise raised the limb's stillness threshold), kind of candidate

to the probability that the move is right (same label and limb as a true move, temporal IoU >= 0.3), with
a logistic regression fitted on synthetic attempts (known moves, mild and hard noise, seeds the accuracy
report never uses; `cruxlab moves calibrate`). The coefficients live in `moves/calibration.json` with the
reliability they reach on unseen synthetic seeds and on the labelled real clips. The real clips are a check,
not training data: fitted on one clip, the map did worse on the other (13 moves are too few), and on them
it is over-confident (see README).
Moves at or above SURE (0.7) are "sure" (`move_certainty` view); the dashboard shows the others as unsure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moves.features import Features
from moves.segment import KINDS, Candidates, F, seg_mean

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
SURE = 0.7
FEATURES: tuple[str, ...] = ("logit_raw", "seen", "detection_confidence", "log_noise_ratio",
                             *(f"kind_{k}" for k in KINDS))
_LIMB_INDEX = {"left_hand": 0, "right_hand": 1, "left_foot": 2, "right_foot": 3}


def reliability_features(c: Candidates, f: Features, raw: np.ndarray) -> np.ndarray:
    """(N, len(FEATURES)) per candidate (see the module docstring)."""
    n = len(c)
    X = np.zeros((n, len(FEATURES)))
    if n == 0:
        return X
    p = np.clip(np.asarray(raw, dtype=np.float64), 1e-3, 1 - 1e-3)
    X[:, 0] = np.log(p / (1 - p))
    X[:, 1] = np.clip(np.nan_to_num(c.X[:, F["valid_frac"]], nan=1.0), 0.0, 1.0)
    limb = np.array([_LIMB_INDEX.get(str(m), -1) for m in c.limb])
    conf = f.effector_confidence if f.effector_confidence is not None else np.ones((f.n_frames, 4))
    noise = f.noise_ratio if f.noise_ratio is not None else np.ones(4)
    per_limb = np.stack([seg_mean(conf[:, k], c.start, c.end) for k in range(4)], axis=1)     # (n, 4)
    X[:, 2] = np.where(limb >= 0, per_limb[np.arange(n), np.maximum(limb, 0)], per_limb.mean(axis=1))
    X[:, 3] = np.log(np.maximum(np.where(limb >= 0, noise[np.maximum(limb, 0)], noise.mean()), 1e-3))
    X[np.arange(n), 4 + c.kind] = 1.0
    return np.nan_to_num(X)


@dataclass(frozen=True)
class Calibrator:
    """p(right) = sigmoid(coef . features + intercept) over FEATURES; identity (raw confidence) without
    coefficients."""

    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    report: dict = field(default_factory=dict)

    def __call__(self, X: np.ndarray, raw: np.ndarray) -> np.ndarray:
        if not self.coef or len(X) == 0:
            return np.asarray(raw, dtype=np.float32)
        z = X @ np.asarray(self.coef) + self.intercept
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    @staticmethod
    def load(path: Path = CALIBRATION_FILE) -> "Calibrator":
        if not path.is_file():
            return Calibrator()
        d = json.loads(path.read_text())
        if tuple(d.get("features", ())) != FEATURES:  # written for other features: do not guess
            return Calibrator()
        return Calibrator(tuple(d["coef"]), float(d["intercept"]), d.get("report", {}))

    def save(self, path: Path = CALIBRATION_FILE) -> Path:
        path.write_text(json.dumps({"features": list(FEATURES), "coef": list(self.coef),
                                    "intercept": self.intercept, "report": self.report}, indent=1) + "\n")
        return path


_DEFAULT: Calibrator | None = None


def default_calibrator() -> Calibrator:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Calibrator.load()
    return _DEFAULT


def fit(X: np.ndarray, right: np.ndarray, C: float = 1.0, weight: np.ndarray | None = None) -> Calibrator:
    """Logistic regression of `right` (bool per predicted move) on reliability features."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(right)) < 2:  # all right (or all wrong): a constant probability
        p = float(np.clip(np.mean(right), 0.02, 0.98))
        return Calibrator(tuple(0.0 for _ in FEATURES), float(np.log(p / (1 - p))))
    model = LogisticRegression(C=C, max_iter=1000).fit(X, right.astype(int), sample_weight=weight)
    return Calibrator(tuple(float(v) for v in model.coef_[0]), float(model.intercept_[0]))


def reliability(prob: np.ndarray, right: np.ndarray, bins: Sequence[float] = (0.0, 0.5, 0.7, 0.85, 1.0001)) -> dict:
    """Per confidence bin: moves, mean confidence, fraction right; plus the expected calibration error and
    the precision of the moves at or above SURE."""
    prob, right = np.asarray(prob, float), np.asarray(right, bool)
    rows = []
    ece = 0.0
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (prob >= lo) & (prob < hi)
        if m.any():
            rows.append({"bin": f"{lo:.2f}-{min(hi, 1):.2f}", "n": int(m.sum()), "mean_confidence": round(float(prob[m].mean()), 3),
                         "right": round(float(right[m].mean()), 3)})
            ece += m.sum() / len(prob) * abs(prob[m].mean() - right[m].mean())
    sure = prob >= SURE
    return {"bins": rows, "ece": round(float(ece), 3), "n": int(len(prob)),
            "sure_n": int(sure.sum()), "sure_precision": round(float(right[sure].mean()), 3) if sure.any() else None,
            "unsure_precision": round(float(right[~sure].mean()), 3) if (~sure).any() else None}


# ------------------------------------------------------------------------------------------ fitting data
@dataclass(frozen=True)
class Labelled:
    """Reliability features and rightness of the predicted moves of one attempt; group names its source
    (a real clip, or 'synthetic')."""

    X: np.ndarray
    right: np.ndarray
    group: str


def synthetic_set(seeds: Sequence[int], noises: Sequence[str] = ("mild", "hard"), classifier=None) -> list[Labelled]:
    """Predicted moves of synthetic attempts with their raw confidences, labelled right or wrong."""
    from moves.classify import detect_features
    from moves.evaluate import right_predictions
    from moves.features import compute_features
    from moves.synthetic import generate_attempt

    out = []
    for noise in noises:
        for seed in seeds:
            a = generate_attempt(int(seed), noise)
            found = detect_features(compute_features(a.skeleton), classifier, calibrator=Calibrator())
            out.append(Labelled(found.reliability, right_predictions(a.moves, found.moves), "synthetic"))
    return out


def fit_sets(sets: Sequence[Labelled], C: float = 1.0) -> Calibrator:
    """Fit on labelled sets, every source (`group`) weighing the same in total."""
    if not sets:
        return Calibrator()
    X = np.concatenate([s.X for s in sets])
    y = np.concatenate([s.right for s in sets])
    groups = np.concatenate([np.full(len(s.X), s.group, dtype=object) for s in sets])
    names, counts = np.unique(groups, return_counts=True)
    per = dict(zip(names, len(y) / (len(names) * counts)))
    return fit(X, y, C, np.array([per[g] for g in groups]))
