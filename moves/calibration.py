"""Calibrated move confidences: a move said with confidence 0.8 is right about 8 times in 10.

A classifier's own confidence says how clearly a candidate meets the rules (the margin to the thresholds),
not how much the evidence under it can be trusted. The calibrator maps, per predicted move,

    logit(raw confidence), fraction of the move seen, mean detection confidence of the limb during the move,
    log(noise ratio: how far the clip's own noise raised the limb's stillness threshold), kind of candidate,
    whether the move was read from a video's image evidence, and that for a foot

to the probability that the move is right (same label and limb as a true move, temporal IoU >= 0.3), with
a logistic regression (`cruxlab moves calibrate`). Synthetic attempts (known moves, mild and hard noise,
seeds the accuracy report never uses) teach how margins and noise relate to rightness, but their evidence
is never as poor as a phone video's: MediaPipe's ankles on a 180 px climber wander by 5-10 cm and swap
sides, and a synthetic foot-move is right 97 times in 100 where a real one is right one to three times in four.
So moves read from a video get their own map, fitted with `--real DIR` on the labelled real clips: the
real-footage rate of being right of a foot-move and of any other move (`fit_sets`); imported skeletons keep
the synthetic map. How well that carries to footage it never saw is measured leave-one-clip-out: fitted on
synthetic attempts and every other clip, scored on the clip left out. The coefficients and those reliabilities (unseen synthetic
seeds, real clips left out, and the synthetic-only fit on the real clips for comparison) live in
`moves/calibration.json`.
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
                             *(f"kind_{k}" for k in KINDS), "image_evidence", "image_evidence_foot")
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
    video = float(bool(f.params.planar_motion))   # read from a video's image evidence, not a given skeleton
    X[:, 4 + len(KINDS)] = video
    X[:, 5 + len(KINDS)] = video * (c.kind == KINDS.index("foot"))
    return np.nan_to_num(X)


@dataclass(frozen=True)
class Calibrator:
    """p(right) = sigmoid(coef . features + intercept) over FEATURES; for a move read from a video's image
    evidence, when `video_coef` is fitted, sigmoid(video_coef . (image_evidence, image_evidence_foot)) instead:
    the real-footage rate of its kind of move (see `fit_sets`). Identity (raw confidence) without
    coefficients."""

    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    report: dict = field(default_factory=dict)
    video_coef: tuple[float, ...] = ()

    def __call__(self, X: np.ndarray, raw: np.ndarray) -> np.ndarray:
        if not self.coef or len(X) == 0:
            return np.asarray(raw, dtype=np.float32)
        z = X @ np.asarray(self.coef) + self.intercept
        if self.video_coef:
            cols = [FEATURES.index(t) for t in VIDEO_TERMS]
            z = np.where(X[:, cols[0]] > 0, X[:, cols] @ np.asarray(self.video_coef), z)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    @staticmethod
    def load(path: Path = CALIBRATION_FILE) -> "Calibrator":
        if not path.is_file():
            return Calibrator()
        d = json.loads(path.read_text())
        if tuple(d.get("features", ())) != FEATURES:  # written for other features: do not guess
            return Calibrator()
        return Calibrator(tuple(d["coef"]), float(d["intercept"]), d.get("report", {}),
                          tuple(d.get("video_coef", ())))

    def save(self, path: Path = CALIBRATION_FILE) -> Path:
        path.write_text(json.dumps({"features": list(FEATURES), "coef": list(self.coef),
                                    "intercept": self.intercept, "video_terms": list(VIDEO_TERMS),
                                    "video_coef": list(self.video_coef), "report": self.report}, indent=1) + "\n")
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


#: The terms only image evidence switches on, and the prior scale of their coefficients (logits): without
#: labelled real clips a video's move is as likely right as wrong; a rate of 0.88 is 2 logits from that.
VIDEO_TERMS: tuple[str, ...] = ("image_evidence", "image_evidence_foot")
VIDEO_PRIOR_LOGITS = 2.0


def fit_sets(sets: Sequence[Labelled], C: float = 1.0) -> Calibrator:
    """Fit on labelled sets in two parts. The map of skeleton moves (every FEATURE) is fitted on the sets
    without image evidence (synthetic attempts; every source weighing the same in total). Moves read from
    videos (real clips) get their own two numbers: the real-footage rate of being right of a foot-move and of
    any other move, fitted by maximum a posteriori with a N(0, VIDEO_PRIOR_LOGITS^2) prior on each logit.
    On real footage neither the rule margin nor the detection confidence told right from wrong moves on the
    labelled clips (fitted leave-one-clip-out, adding them gave equal or worse per-clip ECE; the synthetic
    map with the video terms as an offset kept wrong foot-moves 'sure'), while the kind of move did."""
    if not sets:
        return Calibrator()
    X = np.concatenate([s.X for s in sets])
    y = np.concatenate([s.right for s in sets])
    groups = np.concatenate([np.full(len(s.X), s.group, dtype=object) for s in sets])
    video_cols = [FEATURES.index(t) for t in VIDEO_TERMS]
    video = X[:, video_cols[0]] > 0
    base = fit_weighted(X[~video], y[~video], groups[~video], C) if (~video).any() else Calibrator()
    if not video.any():
        return base
    coef = base.coef or tuple(0.0 for _ in FEATURES)
    w = _fit_offset_terms(X[video][:, video_cols], y[video], np.zeros(int(video.sum())), VIDEO_PRIOR_LOGITS)
    return Calibrator(coef, base.intercept, video_coef=tuple(float(v) for v in w))


def fit_weighted(X: np.ndarray, y: np.ndarray, groups: np.ndarray, C: float = 1.0) -> Calibrator:
    """Logistic regression with every group weighing the same in total."""
    names, counts = np.unique(groups, return_counts=True)
    per = dict(zip(names, len(y) / (len(names) * counts)))
    return fit(X, y, C, np.array([per[g] for g in groups]))


def _fit_offset_terms(Z: np.ndarray, y: np.ndarray, offset: np.ndarray, prior: float) -> np.ndarray:
    """MAP coefficients w of p = sigmoid(offset + Z w) with a N(0, prior^2) prior on each (a tiny convex
    problem: Newton's method)."""
    w = np.zeros(Z.shape[1])
    yy = np.asarray(y, dtype=np.float64)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(offset + Z @ w)))
        grad = Z.T @ (p - yy) + w / prior ** 2
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.eye(len(w)) / prior ** 2
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def scored(cal: Calibrator, sets: Sequence[Labelled]) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated probability, right) of every predicted move in `sets`."""
    if not sets:
        return np.zeros(0), np.zeros(0, bool)
    X = np.concatenate([s.X for s in sets])
    return cal(X, np.full(len(X), 0.5)), np.concatenate([s.right for s in sets])


def leave_one_clip_out(synthetic: Sequence[Labelled], real: Sequence[Labelled], C: float = 1.0
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, dict]]:
    """Each real clip's moves scored by a calibrator fitted on the synthetic sets and every *other* real clip:
    (probabilities and rightness of all real moves so scored, reliability per clip left out)."""
    probs, rights, per_clip = [], [], {}
    for clip in dict.fromkeys(s.group for s in real):
        held = [s for s in real if s.group == clip]
        cal = fit_sets([*synthetic, *(s for s in real if s.group != clip)], C)
        p, r = scored(cal, held)
        probs.append(p)
        rights.append(r)
        per_clip[clip] = reliability(p, r)
    if not probs:
        return np.zeros(0), np.zeros(0, bool), {}
    return np.concatenate(probs), np.concatenate(rights), per_clip
