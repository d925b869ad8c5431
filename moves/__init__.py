"""Moves: skeleton -> features -> candidate segments -> labelled moves (DESIGN.md, "Moves").

    from moves import detect
    moves = detect(skeleton)            # list[cruxlab.labels.Move]

Submodules: features (per-frame kinematics and contacts), segment (candidates), classify (rule and learned
classifiers, scikit-learn contract), service (database: detect, train, model registry), synthetic (attempts
with known moves), evaluate (event and boundary F1), plot. Attributes load lazily, so importing a submodule
stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "detect": "moves.classify",
    "RuleMoveClassifier": "moves.classify",
    "LearnedMoveClassifier": "moves.classify",
    "compute_features": "moves.features",
    "generate_attempt": "moves.synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'moves' has no attribute {name!r}")
