"""Two attempts side by side: where to line them up in time, where to put the second climber in the first one's
wall frame, and which move of one corresponds to which of the other. Pure functions of arrays and DataFrames
(the compare page renders them; nothing here reads the store).

    oa, ob = line_up(t_a, t_b)                    # player offsets: A at t_a and B at t_b show together
    shift = pelvis_shift(kp_a, frame_a, kp_b, frame_b)   # add to B's joints: B's pelvis onto A's
    table = pair_moves(moves_a, moves_b, t0_a, t0_b)     # one row per pair (or unpaired move)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cruxlab.joints import L_HIP, R_HIP

#: Cost of leaving a move unpaired, of pairing two moves of different labels, and per second of difference in
#: their start (after lining up) - so moves pair by order and label, and a missing move leaves a gap.
GAP_COST, LABEL_COST, LIMB_COST, SECOND_COST = 1.0, 1.5, 0.5, 0.2


def line_up(t_a: float, t_b: float) -> tuple[float, float]:
    """Player offsets (seconds, >= 0) that make A's time t_a and B's time t_b show at the same moment: track i
    shows its own time = master time - offset_i."""
    t0 = max(t_a, t_b)
    return t0 - t_a, t0 - t_b


def _pelvis(kp: np.ndarray) -> np.ndarray:
    """(T, 3) mid-hip per frame (NaN where a hip is missing)."""
    return (kp[:, L_HIP] + kp[:, R_HIP]) / 2


def pelvis_at(kp: np.ndarray, frame: int, window: int = 3) -> np.ndarray | None:
    """The climber's pelvis (3,) around `frame` (median of +-window frames; else the nearest frame that has
    one); None when no frame has both hips. kp: (T, J, 3) metres, wall frame."""
    pelvis = _pelvis(kp)
    ok = np.isfinite(pelvis).all(axis=1)
    if not ok.any():
        return None
    lo, hi = max(0, frame - window), min(len(kp), frame + window + 1)
    near = pelvis[lo:hi][ok[lo:hi]]
    if len(near):
        return np.median(near, axis=0)
    idx = np.flatnonzero(ok)
    return pelvis[idx[np.argmin(np.abs(idx - frame))]]


def pelvis_shift(kp_a: np.ndarray, frame_a: int, kp_b: np.ndarray, frame_b: int) -> np.ndarray:
    """(3,) metres to add to B's wall-frame points so its pelvis at frame_b sits on A's pelvis at frame_a
    (zero when either has no pelvis). Both frames are gravity-up, so a translation suffices."""
    pa, pb = pelvis_at(kp_a, frame_a), pelvis_at(kp_b, frame_b)
    if pa is None or pb is None:
        return np.zeros(3)
    return pa - pb


def pair_moves(a: pd.DataFrame, b: pd.DataFrame, t0_a: float = 0.0, t0_b: float = 0.0) -> pd.DataFrame:
    """Which move of A corresponds to which of B: a global alignment of the two move sequences (by start)
    that prefers the same label and limb and similar start times after lining up (A's t0_a with B's t0_b);
    moves without a partner get a row of their own.

    a, b: rows with label, limb, start_s, duration_s (the move_details view). Returns one row per pair:
    label_a, limb_a, start_a, duration_a, label_b, limb_b, start_b, duration_b (start = seconds after the
    lining-up moment; NaN / None on the missing side), same (labels equal), delta_s (B - A duration)."""
    a = a.sort_values(["start_s", "limb"]).reset_index(drop=True)
    b = b.sort_values(["start_s", "limb"]).reset_index(drop=True)
    sa, sb = a["start_s"].to_numpy(float) - t0_a, b["start_s"].to_numpy(float) - t0_b
    n, m = len(a), len(b)
    la, lb = a["label"].to_numpy(), b["label"].to_numpy()
    ma, mb = a["limb"].to_numpy(), b["limb"].to_numpy()
    # pairing costs, vectorised: (n, m)
    pair = (np.where(la[:, None] == lb[None, :], 0.0, LABEL_COST) + np.where(ma[:, None] == mb[None, :], 0.0, LIMB_COST)
            + SECOND_COST * np.abs(sa[:, None] - sb[None, :]))
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0] = GAP_COST * np.arange(n + 1)
    cost[0, :] = GAP_COST * np.arange(m + 1)
    for i in range(1, n + 1):  # O(n m) over moves (tens), not frames
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j - 1] + pair[i - 1, j - 1], cost[i - 1, j] + GAP_COST,
                             cost[i, j - 1] + GAP_COST)
    rows: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and np.isclose(cost[i, j], cost[i - 1, j - 1] + pair[i - 1, j - 1]):
            rows.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and np.isclose(cost[i, j], cost[i - 1, j] + GAP_COST):
            rows.append((i - 1, None))
            i -= 1
        else:
            rows.append((None, j - 1))
            j -= 1
    rows.reverse()

    def side(df: pd.DataFrame, starts: np.ndarray, k: int | None) -> tuple:
        if k is None:
            return None, None, np.nan, np.nan
        return df.at[k, "label"], df.at[k, "limb"], float(starts[k]), float(df.at[k, "duration_s"])

    out = pd.DataFrame([side(a, sa, ia) + side(b, sb, ib) for ia, ib in rows],
                       columns=["label_a", "limb_a", "start_a", "duration_a", "label_b", "limb_b", "start_b",
                                "duration_b"])
    out["same"] = out["label_a"].notna() & (out["label_a"] == out["label_b"])
    out["delta_s"] = out["duration_b"] - out["duration_a"]
    return out
