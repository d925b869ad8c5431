"""Moves and the store: detection into the database, the active classifier, training from coach labels.

The active classifier lives in the `move_models` table (params + metrics; a learned model's trees as plain
arrays with a SHA-256, never a pickle: see `load_model`). Without an active row the built-in rules
(moves.classify.default_classifier) are used; rules load as NumPy predictors (moves.classify.Rules), so only a
learned model brings scikit-learn in. `train_from_db` fits a LearnedMoveClassifier on the candidates coaches
vouched for: moves they confirmed or corrected, model moves they deleted, and whole attempts they marked
reviewed (db.store.training_labels; temporal IoU >= 0.3, same limb; in a reviewed attempt unmatched candidates
are "none"). It reports cross-validated per-label F1 of the learned model against the active rules on those
same candidates (folds grouped by attempt), so the rules are never scored against their own unconfirmed output,
and activates the learned model when its macro-F1 is higher.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from cruxlab.errors import DatabaseError, InputError
from cruxlab.intervals import temporal_iou
from cruxlab.skeleton import Skeleton
from db import store
from db.connection import connect, transaction
from moves.classify import (
    ALLOWED, CLASSES, NONE, RuleThresholds, Rules, classify_rows, default_classifier, detect_features,
)
from moves.features import compute_features
from moves.segment import KINDS, Candidates, propose
from moves.trees import FORMAT as LEARNED_FORMAT

if TYPE_CHECKING:  # the estimators import scikit-learn: loaded where a model is trained or a learned one read
    from moves.estimators import LearnedMoveClassifier


# ------------------------------------------------------------------------------------- model registry
#: What to do about a stored model that cannot be used.
_MODEL_FIX = ("Retrain with `cruxlab moves train` (from the coach labels in this database) or use the rules: "
              "`cruxlab moves use rules`")


def load_model(row: store.StoredModel):
    """The fitted classifier of a stored model row. Nothing in the row can run code: rule thresholds are
    checked numbers, a learned model is an .npz of arrays whose SHA-256 must match the recorded one. Anything
    else (an old pickle, an unknown format or kind, a changed payload) raises DatabaseError naming the fix."""
    if row.kind == "rules":
        defaults = RuleThresholds().get_params()
        bad = {k: v for k, v in row.params.items()
               if k not in defaults or isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v)}
        if bad:
            raise DatabaseError(f"rules model {row.version!r} has unusable thresholds {bad}. {_MODEL_FIX}")
        return Rules(**row.params)
    if row.kind != "learned":
        raise DatabaseError(f"model {row.version!r} is of unknown kind {row.kind!r}. {_MODEL_FIX}")
    if row.payload_format in ("pickle", "pickle-removed"):
        raise DatabaseError(f"model {row.version!r} was stored as a Python pickle by an older cruxlab; pickles can "
                            f"run code, so cruxlab no longer loads them (the upgrade removed it). {_MODEL_FIX}")
    if row.payload_format != LEARNED_FORMAT or row.payload is None:
        raise DatabaseError(f"model {row.version!r} has a payload in unknown format {row.payload_format!r} "
                            f"(this cruxlab reads {LEARNED_FORMAT}); refusing to load it. {_MODEL_FIX}")
    digest = hashlib.sha256(row.payload).hexdigest()
    if digest != row.payload_sha256:
        raise DatabaseError(f"model {row.version!r}: its payload does not match its recorded SHA-256 (changed or "
                            f"damaged since it was trained); refusing to load it. {_MODEL_FIX}")
    from moves.estimators import LearnedMoveClassifier

    try:
        return LearnedMoveClassifier.from_payload(row.payload, row.params, label=f"model {row.version!r}")
    except InputError as exc:
        raise DatabaseError(f"{exc}; refusing to load it. {_MODEL_FIX}") from None


def active_classifier(con: duckdb.DuckDBPyConnection):
    """(fitted classifier, version) that `moves detect` uses now."""
    row = store.active_model(con)
    if row is None:
        clf = default_classifier()
        return clf, clf.version
    return load_model(row), row.version


def save_model(con: duckdb.DuckDBPyConnection, classifier, *, kind: str, metrics: dict | None = None,
               n_labels: int | None = None, activate: bool = True, version: str | None = None) -> str:
    """Store a classifier with a new version (optionally making it the active one). Call in a transaction."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    version = version or f"{kind}-{stamp}"
    if version in store.model_versions(con):
        if activate:  # the same rules stored before: a version names one model
            activate_model(con, version)
        return version
    learned = kind == "learned"
    store.insert_model(con, version=version, kind=kind, params=classifier.get_params(), metrics=metrics,
                       n_labels=n_labels, payload=classifier.to_payload() if learned else None,
                       payload_format=LEARNED_FORMAT if learned else None, activate=activate)
    return version


def activate_model(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Make a stored model (or 'rules' = the built-in defaults) the one `moves detect` uses."""
    if version in ("rules", default_classifier().version):
        store.activate_model(con, None)
        return
    row = store.stored_model(con, version)
    if row is None:
        known = store.model_versions(con)
        raise InputError(f"no model {version!r}; stored models: {known or 'none'} (or 'rules' for the defaults)")
    load_model(row)  # only a model that loads can become the active one
    store.activate_model(con, version)



# ---------------------------------------------------------------------------------------------- detect
def detect_and_store(con: duckdb.DuckDBPyConnection, attempt_id: int, skeleton: Skeleton | None = None,
                     classifier=None, version: str | None = None) -> tuple[int, str]:
    """Detect an attempt's moves with the active (or given) classifier and replace its model moves, its
    on-the-wall interval and its holds. Call inside a transaction. Returns (number of moves stored, model
    version)."""
    if classifier is None:
        classifier, version = active_classifier(con)
    version = version or getattr(classifier, "version", type(classifier).__name__)
    found = detect_attempt(con, attempt_id, classifier, skeleton)
    n = store.replace_model_moves(con, attempt_id, found.moves, version)
    store.replace_detection_extras(con, attempt_id, found.wall_interval(), found.hold_contacts(), version)
    return n, version


def detect_attempt(con: duckdb.DuckDBPyConnection, attempt_id: int, classifier, skeleton: Skeleton | None = None,
                   calibrator=None):
    """An attempt's moves, on-the-wall interval and holds by `classifier` (moves.classify.Detection; nothing
    written)."""
    return detect_features(attempt_features(con, attempt_id, skeleton), classifier, calibrator=calibrator)


def attempt_features(con: duckdb.DuckDBPyConnection, attempt_id: int, skeleton: Skeleton | None = None):
    """The features moves are detected on (moves.features.Features). For an analysed video: its image
    evidence (moves.evidence: joints where the camera saw them, camera motion and depth noise removed),
    with contacts from motion along the wall and, where stored, the hands' and feet's image flow relative to
    the wall; for an imported skeleton: the skeleton itself."""
    from moves.evidence import video_features

    skeleton = skeleton if skeleton is not None else store.read_skeleton(con, attempt_id)
    kp = store.read_keypoints2d(con, attempt_id)
    cams = store.read_cameras(con, attempt_id)
    if kp is None or cams is None or len(kp.keypoints) != skeleton.n_frames or len(cams.R) != skeleton.n_frames:
        return compute_features(skeleton)
    return video_features(skeleton, kp.keypoints, kp.confidence, cams.K, cams.R, cams.t,
                          flow=store.read_effector_flow(con, attempt_id))


def detect_attempts(db_path: str | Path, names: Sequence[str] | None = None, progress: bool = True
                    ) -> list[tuple[str, int, str]]:
    """(Re)detect moves of the named attempts (all by default), one transaction per attempt."""
    from tqdm import tqdm

    out = []
    with connect(db_path, create=False) as con:
        chosen = store.resolve_attempts(con, names)
        classifier, version = active_classifier(con)
        for attempt_id, name in tqdm(chosen, desc="detecting moves", unit="attempt", disable=not progress):
            with transaction(con):
                n, _ = detect_and_store(con, attempt_id, classifier=classifier, version=version)
            out.append((name, n, version))
    return out


# ---------------------------------------------------------------------------------------------- train
def label_candidates(candidates: Candidates, moves: Sequence[tuple[int, int, str, str]], min_iou: float = 0.3
                     ) -> np.ndarray:
    """Training label of each candidate: the label of the best-overlapping labelled move of the same limb
    that the candidate's kind can take (temporal IoU >= min_iou), else "none"."""
    y = np.full(len(candidates), NONE, dtype=object)
    if not len(candidates) or not moves:
        return y
    ms = np.array([m[0] for m in moves])
    me = np.array([m[1] for m in moves])
    labels = np.array([m[2] for m in moves], dtype=object)
    limbs = np.array([m[3] for m in moves], dtype=object)
    iou = temporal_iou(candidates.start[:, None], candidates.end[:, None], ms[None], me[None])
    allowed = np.array([[lbl in ALLOWED[KINDS[k]] for lbl in labels] for k in range(len(KINDS))])
    ok = (limbs[None] == candidates.limb[:, None]) & allowed[candidates.kind] & (iou >= min_iou)
    iou = np.where(ok, iou, 0.0)
    best = np.argmax(iou, axis=1)
    hit = iou[np.arange(len(candidates)), best] > 0
    y[hit] = labels[best[hit]]
    return y


@dataclass(frozen=True)
class TrainingSet:
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray          # attempt id per row
    attempts: list[str]
    n_labels: int               # coach-vouched moves (and deletions) used as truth


def training_set(con: duckdb.DuckDBPyConnection) -> TrainingSet:
    """Candidates of the attempts coaches vouched for, labelled by the moves they vouched for (db.store.
    training_labels): in a complete review every candidate counts ("none" where no move is); elsewhere only
    candidates that match a confirmed/corrected move (its label) or a deleted model move ("none"). The model's
    unconfirmed word is never truth, so the rules are not scored against their own output."""
    Xs, ys, gs, names, n_labels = [], [], [], [], 0
    for att in store.training_labels(con):
        cands = propose(attempt_features(con, att.attempt_id))
        y = label_candidates(cands, att.positives)
        if not att.complete:
            keep = (y != NONE) | (label_candidates(cands, att.negatives) != NONE)
            cands_X, y = cands.X[keep], y[keep]
        else:
            cands_X = cands.X
        if not len(y):
            continue
        Xs.append(cands_X)
        ys.append(y)
        gs.append(np.full(len(y), att.attempt_id))
        names.append(att.name)
        n_labels += len(att.positives) + len(att.negatives)
    if not Xs:
        return TrainingSet(np.zeros((0, 0)), np.zeros(0, dtype=object), np.zeros(0), [], 0)
    return TrainingSet(np.concatenate(Xs), np.concatenate(ys), np.concatenate(gs), names, n_labels)


def per_label_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    out = {}
    for label in labels:
        tp = int(np.sum((y_true == label) & (y_pred == label)))
        fp = int(np.sum((y_true != label) & (y_pred == label)))
        fn = int(np.sum((y_true == label) & (y_pred != label)))
        out[label] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return out


@dataclass(frozen=True)
class TrainReport:
    n_attempts: int
    n_candidates: int
    n_labels: int
    labels: list[str]
    learned_f1: dict[str, float]
    rules_f1: dict[str, float]
    rules_version: str
    version: str | None
    activated: bool

    @property
    def learned_macro(self) -> float:
        return float(np.mean([self.learned_f1[k] for k in self.labels])) if self.labels else 0.0

    @property
    def rules_macro(self) -> float:
        return float(np.mean([self.rules_f1[k] for k in self.labels])) if self.labels else 0.0

    def format(self) -> str:
        lines = [f"trained on {self.n_candidates} candidates from {self.n_attempts} reviewed attempts "
                 f"({self.n_labels} labelled moves)",
                 "cross-validated per-label F1 (folds grouped by attempt):",
                 f"{'label':<12}{'learned':>9}{'rules':>9}"]
        for k in self.labels:
            lines.append(f"{k:<12}{self.learned_f1[k]:>9.3f}{self.rules_f1[k]:>9.3f}")
        lines.append(f"{'macro':<12}{self.learned_macro:>9.3f}{self.rules_macro:>9.3f}   (rules: {self.rules_version})")
        if self.activated:
            lines.append(f"saved {self.version} and made it active: `moves detect` uses it from now on")
        elif self.version:
            lines.append(f"saved {self.version}; not active (the rules score higher or --no-activate)")
        return "\n".join(lines)


def train_from_db(db_path: str | Path, *, folds: int = 5, activate: bool = True, min_attempts: int = 2,
                  classifier: LearnedMoveClassifier | None = None) -> TrainReport:
    """Fit the learned classifier from coach labels, compare it with the active rules by cross-validation,
    store it, and activate it when it is better."""
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold

    from moves.estimators import LearnedMoveClassifier

    with connect(db_path, create=False) as con:
        data = training_set(con)
        current, rules_version = active_classifier(con)
    if not isinstance(current, RuleThresholds):
        current, rules_version = default_classifier(), default_classifier().version
    n_attempts = len(data.attempts)
    if n_attempts < min_attempts:
        raise InputError(
            f"training needs coach labels on at least {min_attempts} attempts, found {n_attempts}. Only moves a "
            "coach vouched for count: on the dashboard's Attempt page select a move and press Enter (✓ Confirm) "
            "or correct it, or mark the whole attempt reviewed; or submit the attempt in Label Studio and run "
            "`cruxlab label pull`"
        )
    labels = [c for c in CLASSES if c != NONE and np.any(data.y == c)]
    if not labels:
        raise InputError("the reviewed attempts hold no labelled moves to learn from")
    model = classifier or LearnedMoveClassifier()
    k = min(folds, n_attempts)
    pred_learned = np.empty(len(data.y), dtype=object)
    for train_idx, test_idx in GroupKFold(n_splits=k).split(data.X, data.y, data.groups):
        fold = clone(model).fit(data.X[train_idx], data.y[train_idx])
        pred_learned[test_idx], _ = classify_rows(data.X[test_idx], fold)
    pred_rules, _ = classify_rows(data.X, current)
    learned_f1 = per_label_f1(data.y, pred_learned, labels)
    rules_f1 = per_label_f1(data.y, pred_rules, labels)
    final = clone(model).fit(data.X, data.y)
    better = np.mean([learned_f1[k] for k in labels]) > np.mean([rules_f1[k] for k in labels])
    metrics = {"cv_f1_learned": learned_f1, "cv_f1_rules": rules_f1, "rules_version": rules_version,
               "attempts": data.attempts, "folds": k}
    with connect(db_path) as con, transaction(con):
        version = save_model(con, final, kind="learned", metrics=metrics, n_labels=data.n_labels,
                             activate=bool(activate and better))
    return TrainReport(n_attempts, len(data.y), data.n_labels, labels, learned_f1, rules_f1, rules_version,
                       version, bool(activate and better))


# ------------------------------------------------------------------------------------------ real clips
def _to_video_frames(moves: Sequence, start: int, step: int, n_video: int) -> list:
    """Attempt-frame moves -> video-frame moves (attempt frame i = video frame start + i * step; a subsampled
    move's last frame covers the step frames it stands for)."""
    from cruxlab.labels import Move

    out = []
    for m in moves:
        s = start + m.start_frame * step
        e = min(start + m.end_frame * step + step - 1, n_video - 1)
        out.append(Move(s, max(s, e), m.label, m.limb, m.confidence))
    return out


def _attempts_of_clip(con: duckdb.DuckDBPyConnection, clip: str) -> list[tuple[int, str]]:
    """(attempt_id, name) of the stored attempts analysed from a video file named `clip`."""
    df = store.list_attempts(con)
    return [(int(r.attempt_id), r.attempt) for r in df.itertuples()
            if isinstance(r.video_path, str) and Path(r.video_path).name == clip]


def _on_wall_video(con, attempt_id: int, start: int, step: int) -> tuple[int, int] | None:
    """The stored on-the-wall interval in video frames (None when not stored)."""
    w = store.read_wall_interval(con, attempt_id)
    return None if w is None else (start + w.start_frame * step, start + w.end_frame * step + step - 1)


def real_eval(db_path: str | Path, label_dir: str | Path, attempts: Sequence[str] | None = None,
              redetect: bool = False, min_iou: float = 0.3):
    """Score stored attempts against the frame-inspected label files of `label_dir` (moves.evaluate
    RealLabels), matched by video file name. `attempts` picks among several analyses of one video;
    `redetect` scores a fresh detection with the active classifier instead of the stored moves (nothing is
    written). Returns a moves.evaluate.RealReport (frames are video frames)."""
    from cruxlab.labels import Move
    from moves.evaluate import ClipResult, RealReport, load_label_dir

    labels = load_label_dir(label_dir)
    clips, missing = [], []
    with connect(db_path, read_only=True) as con:
        chosen = set(attempts or [])
        for lab in labels:
            found = _attempts_of_clip(con, lab.clip)
            if chosen:
                found = [f for f in found if f[1] in chosen]
            if not found:
                missing.append(lab.clip)
                continue
            if len(found) > 1:
                raise InputError(f"{len(found)} stored attempts analyse {lab.clip} ({', '.join(n for _, n in found)}); "
                                 "pick one per clip with --attempt NAME")
            attempt_id, name = found[0]
            info = store.attempt_info(con, attempt_id)
            step, start = info.video_frame_step, info.video_start_frame
            wall = _on_wall_video(con, attempt_id, start, step)
            if redetect:
                classifier, _ = active_classifier(con)
                found = detect_attempt(con, attempt_id, classifier)
                pred = found.moves
                wall = (start + found.wall.start_frame * step, start + found.wall.end_frame * step + step - 1)
            else:
                df = store.current_moves(con, attempt_id)
                pred = [Move(int(r.start_frame), int(r.end_frame), r.label, r.limb, float(r.confidence))
                        for r in df.itertuples()]
            pred = _to_video_frames(pred, start, step, lab.n_frames)
            # only what was analysed can be found: truth and spans outside the attempt's frames are left out
            last = start + info.n_frames * step - 1
            truth = tuple(m for m in lab.events if m.start_frame >= start and m.end_frame <= last)
            spans = tuple(s for s in lab.not_moves if s.end_frame >= start and s.start_frame <= last)
            clips.append(ClipResult(lab.clip, name, lab.fps, truth, tuple(pred), spans, on_wall=wall))
    if not clips:
        raise InputError(
            f"no stored attempt in {db_path} analyses any clip of {label_dir} ({', '.join(missing)}); analyse them "
            f"first, e.g. `cruxlab --db {db_path} analyze data/climbing/{missing[0]} --climber NAME`")
    return RealReport(tuple(clips), min_iou=min_iou), missing


def real_labelled(db_path: str | Path, label_dir: str | Path) -> list:
    """Predicted moves (raw confidences) of every stored attempt that has a label file, labelled right or
    wrong against it (moves.calibration.Labelled, one per clip)."""
    from moves.calibration import Calibrator, Labelled
    from moves.evaluate import load_label_dir, right_predictions

    out = []
    with connect(db_path, read_only=True) as con:
        classifier, _ = active_classifier(con)
        for lab in load_label_dir(label_dir):
            found_attempts = _attempts_of_clip(con, lab.clip)
            if not found_attempts:
                continue
            attempt_id, _ = found_attempts[-1]
            info = store.attempt_info(con, attempt_id)
            found = detect_attempt(con, attempt_id, classifier, calibrator=Calibrator())
            pred = _to_video_frames(found.moves, info.video_start_frame, info.video_frame_step, lab.n_frames)
            out.append(Labelled(found.reliability, right_predictions(lab.events, pred), lab.clip))
    return out
