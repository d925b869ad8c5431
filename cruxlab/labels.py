"""Move vocabulary: labels, limbs and the `Move` record shared by moves/, db/, dashboard/ and labeling/.

Frames are 0-based and intervals inclusive: a move covers frames start_frame..end_frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from cruxlab.joints import LIMBS

#: Labels defined in DESIGN.md ("Moves"), in display order. The first seven are detected by the rule model.
MOVE_LABELS: tuple[str, ...] = (
    "reach", "cross-over", "match", "foot-move", "flag", "rock-over", "dyno",
    "drop-knee", "lock-off", "heel-hook", "deadpoint",
)

#: One colour per label, used by every drawing (dashboard, renders, Label Studio config).
LABEL_COLORS: dict[str, str] = {
    "reach": "#4C78A8", "cross-over": "#E45756", "match": "#72B7B2", "foot-move": "#54A24B",
    "flag": "#EECA3B", "rock-over": "#B279A2", "dyno": "#FF9DA6", "drop-knee": "#9D755D",
    "lock-off": "#BAB0AC", "heel-hook": "#F58518", "deadpoint": "#79706E",
}

@dataclass(frozen=True, order=True)
class Move:
    """One labelled interval of an attempt.

    start_frame, end_frame: inclusive, 0-based frame indices of the attempt.
    label: one of MOVE_LABELS.  limb: one of LIMBS.  confidence: 0..1.
    """

    start_frame: int
    end_frame: int
    label: str
    limb: str
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if self.limb not in LIMBS:
            raise ValueError(f"unknown limb {self.limb!r}; expected one of {LIMBS}")
        if not 0 <= self.start_frame <= self.end_frame:
            raise ValueError(f"bad interval [{self.start_frame}, {self.end_frame}]")

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame + 1
