"""The move classifiers as scikit-learn estimators (get_params / set_params / clone, fit / predict /
predict_proba, NotFittedError before fit), imported on first use through moves.classify: RuleMoveClassifier
(the rules of moves.classify.RuleThresholds, thresholds as parameters, so grid search can tune them) and
LearnedMoveClassifier (gradient boosting trained from coach labels)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from cruxlab.errors import InputError
from moves.classify import CLASSES, RuleThresholds
from moves.segment import FEATURE_NAMES


class RuleMoveClassifier(ClassifierMixin, BaseEstimator, RuleThresholds):
    """DESIGN.md's move definitions (moves.classify.RuleThresholds: the parameters) as a scikit-learn
    classifier. `fit` learns nothing; it only records the feature schema. Predicts what
    moves.classify.Rules with the same thresholds predicts."""

    def fit(self, X=None, y=None):
        """Rules learn nothing; fitting records the feature schema (X may be None)."""
        if X is not None:
            validate_data(self, X, reset=True, ensure_all_finite="allow-nan", ensure_min_samples=0)
            self._check_schema()
        else:
            self.n_features_in_ = len(FEATURE_NAMES)
        self.classes_ = np.array(CLASSES, dtype=object)
        return self

    def _check_schema(self) -> None:
        if self.n_features_in_ != len(FEATURE_NAMES):
            raise ValueError(
                f"RuleMoveClassifier reads the {len(FEATURE_NAMES)} candidate features of moves.segment "
                f"(FEATURE_NAMES), got {self.n_features_in_} columns"
            )

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", ensure_min_samples=0)
        return np.asarray(X, dtype=np.float64)


def _one_thread():
    """Candidate tables are small (thousands of rows): OpenMP threads only add overhead, and on a busy
    2-core machine they made a 200-row fit take 47 s instead of 0.5 s."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


class LearnedMoveClassifier(ClassifierMixin, BaseEstimator):
    """Gradient boosting over candidate features (scikit-learn's HistGradientBoostingClassifier: NaN-aware,
    fast on a CPU). Trained from coach labels; `classes_` are whatever labels the training data held.

    Fitting keeps the boosted trees as plain arrays (`trees_`, moves.trees.TreeEnsemble) and predicts from
    them, so the model stored in the database (`to_payload`, an .npz of numbers, no pickle) and the model
    just trained are the same object and give the same answers."""

    def __init__(self, max_iter: int = 200, learning_rate: float = 0.1, max_leaf_nodes: int = 15,
                 l2_regularization: float = 0.0, class_weight: str | None = "balanced", random_state: int = 0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.ensemble import HistGradientBoostingClassifier

        from moves.trees import TreeEnsemble

        X, y = validate_data(self, X, y, reset=True, ensure_all_finite="allow-nan")
        # A feature missing in every training row (a candidate kind these attempts never show: one fold of two
        # attempts, say) makes sklearn's binning crash; as a constant it simply never gets split on, and NaN
        # there at prediction time takes the same branch as every other value.
        X = np.where(np.isnan(X).all(axis=0), 0.0, X)
        model = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization, class_weight=self.class_weight,
            random_state=self.random_state,
        )
        with _one_thread():
            model.fit(X, y)
        self.trees_ = TreeEnsemble.from_sklearn(model)
        self.classes_ = model.classes_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN = a feature that does not apply to this candidate kind
        return tags

    @property
    def n_iter_(self) -> int:
        check_is_fitted(self, "trees_")
        return self.trees_.n_iter

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "trees_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self.trees_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "trees_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # ---------------------------------------------------------------------------- stored as plain data
    def to_payload(self) -> bytes:
        """The fitted trees as an uncompressed .npz of numeric and string arrays (no Python objects)."""
        import io

        check_is_fitted(self, "trees_")
        buf = io.BytesIO()
        np.savez(buf, **self.trees_.to_arrays())
        return buf.getvalue()

    @classmethod
    def from_payload(cls, payload: bytes, params: dict, label: str = "stored move model") -> LearnedMoveClassifier:
        """A fitted classifier from `to_payload` bytes and its parameters; InputError for anything that is not
        exactly such a payload for this cruxlab's feature table (never executes anything from it)."""
        from cruxlab.npz import read_npz
        from moves.trees import PAYLOAD_KEYS, TreeEnsemble

        known = set(cls().get_params())
        unknown = sorted(set(params) - known)
        if unknown:
            raise InputError(f"{label}: unknown parameter(s) {unknown}")
        arrays = read_npz(payload, PAYLOAD_KEYS, "a move model", max_bytes=64 << 20, label=label)
        try:
            trees = TreeEnsemble.from_arrays(arrays, allowed_classes=CLASSES)
        except InputError as exc:
            raise InputError(f"{label}: {exc}") from None
        if trees.n_features != len(FEATURE_NAMES):
            raise InputError(f"{label} reads {trees.n_features} candidate features, this cruxlab computes "
                             f"{len(FEATURE_NAMES)}")
        clf = cls(**params)
        clf.trees_ = trees
        clf.classes_ = np.asarray(trees.classes.tolist(), dtype=object)
        clf.n_features_in_ = trees.n_features
        return clf


