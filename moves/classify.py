"""Move classifiers (the scikit-learn estimator contract) and the detection pipeline.

The classifiers read the candidate table of moves.segment (one row per candidate, FEATURE_NAMES columns)
and predict a label per row, "none" for a candidate that is no move:

- the rules (the default): DESIGN.md's definitions with every threshold a parameter (RuleThresholds), so grid
  search can tune them and a test can mis-set them. `Rules` applies them with NumPy alone (what detection
  uses: `default_classifier`); RuleMoveClassifier is the same rules as a scikit-learn estimator, whose `fit`
  learns nothing (it only records the schema).
- LearnedMoveClassifier: gradient boosting over the same features, trained from coach labels
  (moves.service.train_from_db). NaN features are handled natively.

The two estimators live in moves.estimators and load on first use (`from moves.classify import
RuleMoveClassifier` works as ever): importing this module, detecting moves and analysing a video never
import scikit-learn.

`detect(skeleton)` runs features -> candidates -> classifier -> moves; `detect_features(features)` also
returns the on-the-wall interval and the holds (a `Detection`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from cruxlab.digest import params_digest
from cruxlab.labels import Move
from cruxlab.skeleton import Skeleton
from moves.features import FeatureParams, Features, compute_features
from moves.onwall import OnWall, on_wall
from moves.segment import FEATURE_NAMES, KINDS, Candidates, F, SegmentParams, propose

NONE = "none"
#: Labels the rule model can output, "none" first.
CLASSES: tuple[str, ...] = (NONE, "reach", "cross-over", "match", "foot-move", "flag", "rock-over", "dyno")
_CLASS_ARRAY = np.array(CLASSES, dtype=object)  # what the rules predict, by label index
#: Which labels each candidate kind may take (applied to any classifier's probabilities).
ALLOWED: dict[str, tuple[str, ...]] = {
    "hand": (NONE, "reach", "cross-over", "match"),
    "foot": (NONE, "foot-move"),
    "posture": (NONE, "flag"),
    "rise": (NONE, "rock-over"),
    "air": (NONE, "dyno"),
}
RULES_VERSION = "rules-2.2"


def _kind_of(X: np.ndarray) -> np.ndarray:
    """(N,) index into KINDS from the one-hot kind columns."""
    onehot = np.nan_to_num(X[:, :len(KINDS)], nan=0.0)
    return np.argmax(onehot, axis=1)


def _margin(value: np.ndarray, threshold: float, scale: float, above: bool = True) -> np.ndarray:
    """Signed, scaled distance to a threshold (positive = criterion met); NaN -> strongly unmet."""
    m = (value - threshold) / scale if above else (threshold - value) / scale
    return np.nan_to_num(m, nan=-10.0)


class RuleThresholds:
    """DESIGN.md's move definitions as thresholds over candidate features: the parameters and the arithmetic
    shared by `Rules` (the rules as a NumPy predictor, what detection uses) and `RuleMoveClassifier` (the same
    rules as a scikit-learn estimator, moves.estimators).

    Parameters (metres, degrees, seconds):
    match_dist: a hand arriving within this of the other hand, along the wall for image evidence, in body units
        (metres for a 1.70 m climber), is a match: 0.14, halfway between the widest synthetic match (0.09: the
        wrists sit up to a hand's breadth apart on one hold) and the closest synthetic reach (0.19).
    cross_margin: a hand arriving beyond the other hand by this along x, having started on its own side, is a
        cross-over (5 cm).
    min_displacement: flights shorter than this are re-grips, not moves.
    foot_min_displacement: a foot-move covers at least this (the contact detector's foot hold radius: contacts
        closer than it are on one hold, so a shorter flight is a foot settling on its hold).
    min_move_s: a hand or foot move lasts at least this from lift-off to arrival (the contact detector's
        shortest flight: anything quicker is a jump of the detected point, not a limb travelling).
    flag_knee, flag_lateral, flag_min_s, flag_other_on: flag = foot off every hold, knee above flag_knee,
        ankle flag_lateral from the pelvis centre to its own side (or crossed behind the other leg), for at
        least flag_min_s, while the other foot stands on a hold for flag_other_on of that time (a flag
        counterbalances the standing leg; two legs off at once are cut loose, not flagging).
    rock_high, rock_knee_bent, rock_rise, rock_knee_ext: rock-over = a foot on a hold at or above pelvis
        height - rock_high with the knee at most rock_knee_bent, then the pelvis rises rock_rise and shifts
        over the foot while the knee extends to rock_knee_ext.
    dyno_min_s, dyno_min_speed, dyno_sync_s: dyno = both hands off their holds for dyno_min_s, having let go
        within dyno_sync_s of each other, with the pelvis leaving upward at dyno_min_speed (m/s).
    """

    def __init__(
        self,
        match_dist: float = 0.14,
        cross_margin: float = 0.05,
        min_displacement: float = 0.05,
        foot_min_displacement: float = 0.12,
        min_move_s: float = 0.10,
        flag_knee: float = 140.0,
        flag_lateral: float = 0.30,
        flag_min_s: float = 0.4,
        flag_other_on: float = 0.5,
        rock_high: float = 0.15,
        rock_knee_bent: float = 80.0,
        rock_rise: float = 0.20,
        rock_knee_ext: float = 140.0,
        dyno_min_s: float = 0.08,
        dyno_min_speed: float = 0.3,
        dyno_sync_s: float = 0.25,
    ):
        self.match_dist = match_dist
        self.cross_margin = cross_margin
        self.min_displacement = min_displacement
        self.foot_min_displacement = foot_min_displacement
        self.min_move_s = min_move_s
        self.flag_knee = flag_knee
        self.flag_lateral = flag_lateral
        self.flag_min_s = flag_min_s
        self.flag_other_on = flag_other_on
        self.rock_high = rock_high
        self.rock_knee_bent = rock_knee_bent
        self.rock_rise = rock_rise
        self.rock_knee_ext = rock_knee_ext
        self.dyno_min_s = dyno_min_s
        self.dyno_min_speed = dyno_min_speed
        self.dyno_sync_s = dyno_sync_s

    def get_params(self, deep: bool = True) -> dict:
        """The thresholds by name (what scikit-learn's get_params gives for RuleMoveClassifier)."""
        return {name: getattr(self, name) for name in _RULE_PARAMS}

    @property
    def version(self) -> str:
        params = self.get_params()
        if params == _RULE_PARAMS:
            return RULES_VERSION
        # sha1: versions stored by earlier releases keep naming the same thresholds
        return f"{RULES_VERSION}+{params_digest(params, 8, algorithm='sha1')}"

    def _scores(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels as class indices, confidence) per row, vectorised."""
        n = len(X)
        kind = _kind_of(X)
        col = lambda name: X[:, F[name]]  # noqa: E731
        label = np.zeros(n, dtype=np.int64)
        margin = np.full(n, -10.0)
        ci = {c: i for i, c in enumerate(CLASSES)}

        # hands: match beats cross-over beats reach
        flight_ok = np.minimum.reduce([_margin(col("displacement"), self.min_displacement, 0.05),
                                       _margin(col("start_in_air"), 0.5, 0.5, above=False),
                                       _margin(col("duration_s"), self.min_move_s, 0.1)])
        m_match = _margin(col("other_dist_end"), self.match_dist, 0.04, above=False)
        m_cross = np.minimum(_margin(col("cross_beyond"), self.cross_margin, 0.05),
                             _margin(col("start_own_side"), 0.0, 0.05))
        hand = kind == KINDS.index("hand")
        is_match = hand & (m_match > 0) & (flight_ok > 0)
        is_cross = hand & ~is_match & (m_cross > 0) & (flight_ok > 0)
        is_reach = hand & ~is_match & ~is_cross & (flight_ok > 0)
        label[is_match], margin[is_match] = ci["match"], np.minimum(m_match, flight_ok)[is_match]
        label[is_cross], margin[is_cross] = ci["cross-over"], np.minimum(m_cross, flight_ok)[is_cross]
        reach_m = np.minimum(np.minimum(-m_match, -np.minimum(m_cross, 10)), flight_ok)
        label[is_reach], margin[is_reach] = ci["reach"], reach_m[is_reach]

        # feet: a flight that holds a flag posture long enough is the flag's, not a foot-move
        m_flight_flag = np.minimum.reduce([
            _margin(col("flight_posture_s"), self.flag_min_s, 0.2),
            _margin(col("flight_posture_knee"), self.flag_knee, 10.0),
            np.maximum(_margin(col("flight_posture_lateral"), self.flag_lateral, 0.1),
                       _margin(col("flight_posture_crossed"), 0.5, 0.25)),
        ])
        foot = kind == KINDS.index("foot")
        foot_ok = np.minimum(flight_ok, _margin(col("displacement"), self.foot_min_displacement, 0.05))
        is_fm = foot & (foot_ok > 0) & (m_flight_flag <= 0)
        label[is_fm], margin[is_fm] = ci["foot-move"], np.minimum(foot_ok, -m_flight_flag)[is_fm]

        m_flag = np.minimum.reduce([
            _margin(col("duration_s"), self.flag_min_s, 0.2),
            _margin(col("other_foot_on_frac"), self.flag_other_on, 0.25),
            _margin(col("posture_knee"), self.flag_knee, 10.0),
            np.maximum(_margin(col("posture_lateral"), self.flag_lateral, 0.1),
                       _margin(col("posture_crossed"), 0.5, 0.25)),
        ])
        is_flag = (kind == KINDS.index("posture")) & (m_flag > 0)
        label[is_flag], margin[is_flag] = ci["flag"], m_flag[is_flag]

        m_rock = np.minimum.reduce([
            _margin(col("foot_high"), -self.rock_high, 0.1),
            _margin(col("knee_start"), self.rock_knee_bent, 15.0, above=False),
            _margin(col("rise_m"), self.rock_rise, 0.1),
            _margin(col("knee_end"), self.rock_knee_ext, 15.0),
            _margin(col("shift_over_foot"), 0.0, 0.05),
            _margin(col("foot_contact_frac"), 0.6, 0.2),
        ])
        is_rock = (kind == KINDS.index("rise")) & (m_rock > 0)
        label[is_rock], margin[is_rock] = ci["rock-over"], m_rock[is_rock]

        m_dyno = np.minimum.reduce([_margin(col("duration_s"), self.dyno_min_s, 0.1),
                                    _margin(col("takeoff_speed"), self.dyno_min_speed, 0.5),
                                    _margin(col("takeoff_gap_s"), self.dyno_sync_s, 0.1, above=False)])
        is_dyno = (kind == KINDS.index("air")) & (m_dyno > 0)
        label[is_dyno], margin[is_dyno] = ci["dyno"], m_dyno[is_dyno]

        # confidence: how clearly the deciding criteria are met (0.5 at a threshold), times data validity
        conf = 0.5 + 0.5 * np.tanh(np.abs(margin))
        valid = np.clip(np.nan_to_num(col("valid_frac"), nan=1.0), 0.0, 1.0)
        conf = np.where(label == 0, conf, conf * (0.6 + 0.4 * valid))
        return label, conf.astype(np.float32)

    def _validated(self, X) -> np.ndarray:
        """X as a float (N, len(FEATURE_NAMES)) array, or ValueError (the estimator checks the scikit-learn way)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"the rules read the {len(FEATURE_NAMES)} candidate features of moves.segment "
                             f"(FEATURE_NAMES) per row, got an array of shape {X.shape}")
        return X

    def predict(self, X) -> np.ndarray:
        label, _ = self._scores(self._validated(X))
        return _CLASS_ARRAY[label]

    def predict_proba(self, X) -> np.ndarray:
        """The predicted label gets its confidence; the remainder goes to "none" (or, for "none", spreads
        over the labels the candidate's kind allows)."""
        X = self._validated(X)
        label, conf = self._scores(X)
        proba = np.zeros((len(X), len(CLASSES)))
        rows = np.arange(len(X))
        proba[rows, label] = conf
        proba[rows[label != 0], 0] += 1 - conf[label != 0]
        proba[rows[label == 0], 0] = conf[label == 0]
        spare = 1 - proba.sum(axis=1)
        proba[:, 1:] += (spare / (len(CLASSES) - 1))[:, None] * (label == 0)[:, None]
        return proba


#: The rules' thresholds and their defaults, in scikit-learn's (sorted) order.
_RULE_PARAMS = {name: p.default for name, p in sorted(inspect.signature(RuleThresholds.__init__).parameters.items())
                if name != "self"}


class Rules(RuleThresholds):
    """The rules as a ready predictor in NumPy alone (nothing to fit): `classes_`, `predict` and `predict_proba`
    give exactly what `RuleMoveClassifier` gives, without importing scikit-learn (with SciPy's statistics
    and pandas it costs ~0.7 s and ~150 MB at the end of every analysis). Thresholds as in RuleThresholds."""

    classes_ = _CLASS_ARRAY
    n_features_in_ = len(FEATURE_NAMES)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != _RULE_PARAMS[k]}
        return f"Rules({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


def classify_rows(X: np.ndarray, classifier) -> tuple[np.ndarray, np.ndarray]:
    """Label and confidence per candidate row of X (FEATURE_NAMES columns), each row restricted to the labels
    its kind may take (whatever the classifier would prefer)."""
    n = len(X)
    if n == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.float32)
    proba = classifier.predict_proba(X)
    classes = np.asarray(classifier.classes_, dtype=object)
    allowed = np.zeros((len(KINDS), len(classes)), dtype=bool)
    for k, kind in enumerate(KINDS):
        allowed[k] = np.isin(classes, ALLOWED[kind])
    proba = np.where(allowed[_kind_of(X)], proba, 0.0)
    best = np.argmax(proba, axis=1)
    total = proba.sum(axis=1)
    conf = proba[np.arange(n), best] / np.maximum(total, 1e-9)
    labels = classes[best]
    labels[total == 0] = NONE
    return labels, conf.astype(np.float32)


def classify(candidates: Candidates, classifier) -> tuple[np.ndarray, np.ndarray]:
    """Label and confidence per candidate (see classify_rows)."""
    return classify_rows(candidates.X, classifier)


def assemble(candidates: Candidates, labels: np.ndarray, confidence: np.ndarray) -> list[Move]:
    """Moves from labelled candidates (label "none" dropped), sorted by start frame."""
    keep = np.flatnonzero(labels != NONE)
    moves = [
        Move(int(candidates.start[i]), int(candidates.end[i]), str(labels[i]), str(candidates.limb[i]),
             float(round(confidence[i], 4)))
        for i in keep
    ]
    moves.sort()
    return moves


def default_classifier() -> Rules:
    """The built-in rules with their default thresholds (a NumPy predictor; `RuleMoveClassifier().fit()` is
    the same as a scikit-learn estimator)."""
    return Rules()


def __getattr__(name: str):
    """The scikit-learn estimators load on first use (moves.estimators), so detecting moves, and with it
    every `cruxlab analyze`, never imports scikit-learn."""
    if name in ("RuleMoveClassifier", "LearnedMoveClassifier"):
        from moves import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Detection:
    """Everything one detection found: the moves, when the climber was on the wall (moves.onwall.OnWall)
    and the features (contacts, holds) they were read from."""

    moves: list[Move]
    wall: OnWall
    features: Features
    reliability: np.ndarray | None = None     # (len(moves), calibration.FEATURES) behind each confidence
    raw_confidence: np.ndarray | None = None  # (len(moves),) the classifier's own confidence

    def hold_contacts(self):
        """The holds and per-frame contacts as the store keeps them (db.store.HoldContacts)."""
        from db.store import HoldContacts

        c = self.features.contacts
        kinds = np.where(c.hold_kind == 0, "hand", "foot").astype(object)
        kinds[list(self.wall.floor_holds)] = "floor"
        return HoldContacts(c.holds.astype(np.float32), kinds, c.hold.astype(np.int32))

    def wall_interval(self):
        """The on-the-wall interval as the store keeps it (db.store.WallInterval)."""
        from db.store import WallInterval

        w = self.wall
        return WallInterval(w.start_frame, w.end_frame, w.start_reason, w.end_reason, w.outcome, w.floor_y)


def detect_features(features: Features, classifier=None, segment_params: SegmentParams | None = None,
                    calibrator=None) -> Detection:
    """Moves of one attempt from its features: on-the-wall interval -> candidates -> classifier -> moves,
    each confidence calibrated (moves.calibration; `calibrator` defaults to the shipped one)."""
    from moves.calibration import default_calibrator, reliability_features

    wall = on_wall(features)
    candidates = propose(features, segment_params, wall)
    labels, raw = classify(candidates, classifier or default_classifier())
    labels = rocking_foot_stays(candidates, labels)
    keep = np.flatnonzero(labels != NONE)
    order = keep[np.lexsort((candidates.limb[keep].astype(str), labels[keep].astype(str), candidates.end[keep],
                             candidates.start[keep]))]
    rel = reliability_features(_rows(candidates, order), features, raw[order])
    conf = (calibrator or default_calibrator())(rel, raw[order])
    moves = [Move(int(candidates.start[i]), int(candidates.end[i]), str(labels[i]), str(candidates.limb[i]),
                  float(round(float(c), 4))) for i, c in zip(order, conf)]
    return Detection(moves, wall, features, rel, raw[order])


def rocking_foot_stays(candidates: Candidates, labels: np.ndarray) -> np.ndarray:
    """Labels with every foot-move of a rock-over's foot that lies mostly (over half its frames) inside that
    rock-over dropped: the rocking foot bears the body's weight through the rise (the rule asks it to be on
    its hold for most of it), so its detected point sliding meanwhile (the hips hide a tucked foot) is no
    move."""
    rock = np.flatnonzero(labels == "rock-over")
    fm = np.flatnonzero(labels == "foot-move")
    if len(rock) == 0 or len(fm) == 0:
        return labels
    s, e = candidates.start, candidates.end
    inside = (np.minimum(e[fm, None], e[None, rock]) - np.maximum(s[fm, None], s[None, rock]) + 1)   # (M, R)
    same = candidates.limb[fm, None] == candidates.limb[None, rock]
    mostly = (same & (2 * inside > (e[fm] - s[fm] + 1)[:, None])).any(axis=1)
    out = labels.copy()
    out[fm[mostly]] = NONE
    return out


def _rows(c: Candidates, idx: np.ndarray) -> Candidates:
    return Candidates(c.kind[idx], c.limb[idx], c.start[idx], c.end[idx], c.X[idx])


def detect(
    skeleton: Skeleton,
    classifier=None,
    feature_params: FeatureParams | None = None,
    segment_params: SegmentParams | None = None,
) -> list[Move]:
    """Moves of one attempt: features -> candidates -> classifier (rules by default) -> moves."""
    return detect_features(compute_features(skeleton, feature_params), classifier, segment_params).moves
