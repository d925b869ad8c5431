"""A fitted gradient-boosting classifier as plain arrays: stored without pickle, predicted with numpy.

A learned move model lives in the database. Pickle would run whatever code a planted payload names, so the
model is stored as what it is - numbers: every tree's split feature, threshold, NaN direction, children and
leaf value, the baseline and the class names - in an .npz read with `allow_pickle=False`. Loading checks
every array (types, shapes, finite values, child indices that only point forward inside their own tree), so a
malformed payload is refused, never half-used. Prediction walks all trees at once, vectorised over
(candidates x trees); it reproduces scikit-learn's HistGradientBoostingClassifier.predict_proba exactly (tests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from cruxlab.errors import InputError

FORMAT = "cruxlab-trees-1"
_ARRAYS = ("feature", "threshold", "nan_left", "left", "right", "is_leaf", "value", "tree_start", "tree_column",
           "baseline", "classes")
#: The arrays of a stored model (`to_arrays`): the trees plus a JSON "meta" string with the format name.
PAYLOAD_KEYS = (*_ARRAYS, "meta")


@dataclass(frozen=True)
class TreeEnsemble:
    """Boosted regression trees over F features voting for K raw scores (softmax; K = 1: logistic).

    All trees' nodes are concatenated; node indices are global. Per node (M,): feature int32 (split feature,
    -1 at leaves), threshold float64 (x <= threshold goes left), nan_left bool (where NaN goes), left/right
    int32 (children), is_leaf bool, value float64 (leaf score). Per tree (n_trees,): tree_start int64 (its
    root), tree_column int32 (which of the K scores it adds to). baseline (K,) float64; classes (C,) str with
    C = K, or C = 2 when K = 1; n_features: F.
    """

    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    tree_start: np.ndarray
    tree_column: np.ndarray
    baseline: np.ndarray
    classes: np.ndarray
    n_features: int
    n_iter: int

    # ------------------------------------------------------------------------------------- from sklearn
    @classmethod
    def from_sklearn(cls, model) -> TreeEnsemble:
        """The trees of a fitted HistGradientBoostingClassifier (numeric features only)."""
        nodes, starts, columns, offset = [], [], [], 0
        for iteration in model._predictors:
            for k, predictor in enumerate(iteration):
                n = predictor.nodes
                if n["is_categorical"].any():
                    raise ValueError("categorical splits cannot be stored as plain trees; use numeric features")
                nodes.append(n)
                starts.append(offset)
                columns.append(k)
                offset += len(n)
        allnodes = np.concatenate(nodes)
        shift = np.repeat(np.asarray(starts, dtype=np.int64), [len(n) for n in nodes])
        leaf = allnodes["is_leaf"].astype(bool)
        return cls(
            feature=np.where(leaf, -1, allnodes["feature_idx"]).astype(np.int32),
            threshold=np.where(leaf, 0.0, allnodes["num_threshold"]).astype(np.float64),
            nan_left=allnodes["missing_go_to_left"].astype(bool),
            left=np.where(leaf, -1, allnodes["left"].astype(np.int64) + shift).astype(np.int32),
            right=np.where(leaf, -1, allnodes["right"].astype(np.int64) + shift).astype(np.int32),
            is_leaf=leaf,
            value=allnodes["value"].astype(np.float64),
            tree_start=np.asarray(starts, dtype=np.int64),
            tree_column=np.asarray(columns, dtype=np.int32),
            baseline=np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1),
            classes=np.asarray([str(c) for c in model.classes_]),
            n_features=int(model.n_features_in_),
            n_iter=int(model.n_iter_),
        )

    # ------------------------------------------------------------------------------------- predict
    def raw_scores(self, X: np.ndarray) -> np.ndarray:
        """(N, K) summed leaf values plus the baseline for rows of X (N, n_features), NaN allowed."""
        X = np.asarray(X, dtype=np.float64)
        n = len(X)
        node = np.broadcast_to(self.tree_start, (n, len(self.tree_start))).copy()
        active = ~self.is_leaf[node]
        while active.any():  # terminates: children always lie after their parent (checked on load)
            rows, trees = np.nonzero(active)
            nd = node[rows, trees]
            x = X[rows, self.feature[nd]]
            go_left = np.where(np.isnan(x), self.nan_left[nd], x <= self.threshold[nd])
            nxt = np.where(go_left, self.left[nd], self.right[nd])
            node[rows, trees] = nxt
            active[rows, trees] = ~self.is_leaf[nxt]
        leaves = self.value[node]                                        # (N, n_trees)
        K = len(self.baseline)
        scores = np.zeros((n, K))
        for k in range(K):
            scores[:, k] = leaves[:, self.tree_column == k].sum(axis=1)
        return scores + self.baseline

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(N, C) class probabilities (softmax of the raw scores; logistic for two classes)."""
        raw = self.raw_scores(X)
        if raw.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - p, p])
        raw = raw - raw.max(axis=1, keepdims=True)
        e = np.exp(raw)
        return e / e.sum(axis=1, keepdims=True)

    # ------------------------------------------------------------------------------------- plain data
    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {k: getattr(self, k) for k in _ARRAYS}
        out["meta"] = np.array(json.dumps({"format": FORMAT, "n_features": self.n_features, "n_iter": self.n_iter}))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], allowed_classes: tuple[str, ...] | None = None
                    ) -> TreeEnsemble:
        """Rebuild from `to_arrays` output, checking everything; InputError saying what is wrong otherwise."""

        def bad(problem: str) -> InputError:
            return InputError(f"malformed trees ({problem})")

        try:
            meta = json.loads(str(arrays["meta"]))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise bad(f"format {meta.get('format') if isinstance(meta, dict) else meta!r}, expected {FORMAT}")
            n_features, n_iter = int(meta["n_features"]), int(meta["n_iter"])
        except (KeyError, ValueError, TypeError) as exc:
            raise bad(f"metadata: {exc}") from None
        missing = [k for k in _ARRAYS if k not in arrays]
        if missing:
            raise bad(f"missing arrays {missing}")
        a = {k: arrays[k] for k in _ARRAYS}
        kinds = {"feature": "i", "threshold": "f", "nan_left": "b", "left": "i", "right": "i", "is_leaf": "b",
                 "value": "f", "tree_start": "i", "tree_column": "i", "baseline": "f", "classes": "U"}
        for k, kind in kinds.items():
            if a[k].dtype.kind != kind or a[k].ndim != 1:
                raise bad(f"{k} must be a 1-D array of kind {kind!r}, got {a[k].dtype} {a[k].shape}")
        M, T, K, C = len(a["feature"]), len(a["tree_start"]), len(a["baseline"]), len(a["classes"])
        if any(len(a[k]) != M for k in ("threshold", "nan_left", "left", "right", "is_leaf", "value")):
            raise bad("node arrays differ in length")
        if len(a["tree_column"]) != T or T == 0 or M == 0:
            raise bad("no trees, or tree arrays differ in length")
        if not (C == K >= 3 or (K == 1 and C == 2)):
            raise bad(f"{C} classes do not fit {K} scores per iteration")
        if len(set(a["classes"].tolist())) != C or (
                allowed_classes is not None and not set(a["classes"].tolist()) <= set(allowed_classes)):
            raise bad(f"classes {a['classes'].tolist()} are not distinct move labels")
        if not (np.isfinite(a["value"]).all() and np.isfinite(a["baseline"]).all()):
            raise bad("non-finite leaf values")
        if np.isnan(a["threshold"]).any():
            raise bad("NaN thresholds")
        starts = a["tree_start"].astype(np.int64)
        if starts[0] != 0 or (np.diff(starts) <= 0).any() or starts[-1] >= M:
            raise bad("tree boundaries out of order")
        if ((a["tree_column"] < 0) | (a["tree_column"] >= K)).any():
            raise bad("a tree votes for a score that does not exist")
        tree_of = np.repeat(np.arange(T), np.diff(np.append(starts, M)))
        inner = ~a["is_leaf"]
        idx = np.arange(M)
        ends = np.append(starts[1:], M)[tree_of]
        for child in ("left", "right"):
            c = a[child].astype(np.int64)
            if ((c[inner] <= idx[inner]) | (c[inner] >= ends[inner])).any():
                raise bad(f"{child} children that do not point forward inside their tree")
        if ((a["feature"][inner] < 0) | (a["feature"][inner] >= n_features)).any():
            raise bad("split features outside the feature table")
        return cls(**{k: a[k].astype(t) for k, t in (
            ("feature", np.int32), ("threshold", np.float64), ("nan_left", bool), ("left", np.int32),
            ("right", np.int32), ("is_leaf", bool), ("value", np.float64), ("tree_start", np.int64),
            ("tree_column", np.int32), ("baseline", np.float64))}, classes=a["classes"],
            n_features=n_features, n_iter=n_iter)
