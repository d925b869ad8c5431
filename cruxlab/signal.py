"""Small vectorised helpers over per-frame signals, shared by reconstruction and moves.

Runs are inclusive [start, end] frame pairs (0-based), as everywhere (`cruxlab.intervals`).
"""

from __future__ import annotations

import numpy as np

from cruxlab.intervals import runs


def drop_short_runs(mask: np.ndarray, min_len: int, value: bool) -> np.ndarray:
    """Flip runs equal to `value` that are shorter than `min_len` frames (keeps runs touching the ends)."""
    m = mask.copy()
    target = m if value else ~m
    r = runs(target)
    if len(r) == 0 or min_len <= 1:
        return m
    lengths = r[:, 1] - r[:, 0] + 1
    short = (lengths < min_len) & (r[:, 0] > 0) & (r[:, 1] < len(m) - 1)
    for s, e in r[short]:  # loop over short runs only (jitter blips), not frames
        m[s:e + 1] = not value
    return m


def bridge(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill False gaps of at most max_gap frames between True runs (1-D)."""
    r = runs(~mask)
    if len(r) == 0:
        return mask
    lengths = r[:, 1] - r[:, 0] + 1
    inner = (r[:, 0] > 0) & (r[:, 1] < len(mask) - 1) & (lengths <= max_gap)
    out = mask.copy()
    if inner.any():
        fill = np.zeros(len(mask) + 1, dtype=np.int64)
        np.add.at(fill, r[inner, 0], 1)
        np.add.at(fill, r[inner, 1] + 1, -1)
        out |= np.cumsum(fill[:-1]) > 0
    return out


def hysteresis(on: np.ndarray, off: np.ndarray, initial: bool = False) -> np.ndarray:
    """State that switches on where `on`, off where `off` (off wins ties), else keeps its last value.
    Vectorised along axis 0 of (T, ...) arrays."""
    T = on.shape[0]
    frames = np.arange(T, dtype=np.int32).reshape((T,) + (1,) * (on.ndim - 1))
    decisive = on | off
    last = np.maximum.accumulate(np.where(decisive, frames, np.int32(-1)), axis=0)
    # the state is "on" where the last decisive frame was an on-event (and not also an off-event)
    state_at = on & ~off
    taken = np.take_along_axis(state_at, np.maximum(last, 0), axis=0)
    return np.where(last >= 0, taken, initial)


def fill_gaps(x: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """(T, ...) series with every entry where `known` is False filled by linear interpolation over time (axis 0)
    between the known entries, held constant before the first and after the last; a series never known is
    left as it is. `known` (default: where x is finite) has x's shape or drops its trailing axes ((T, J) for
    (T, J, 3) points: one flag for all of a point's coordinates). Loops over series (joints x coordinates),
    never over frames."""
    x = np.asarray(x, dtype=np.float64)
    known = np.isfinite(x) if known is None else np.asarray(known, dtype=bool)
    T = len(x)
    k = np.broadcast_to(known.reshape(known.shape + (1,) * (x.ndim - known.ndim)), x.shape).reshape(T, -1)
    flat = x.reshape(T, -1)
    out = flat.copy()
    t = np.arange(T)
    for c in np.flatnonzero(k.any(0) & ~k.all(0)):
        kt = np.flatnonzero(k[:, c])
        out[:, c] = np.interp(t, kt, flat[kt, c])
    return out.reshape(x.shape)


def central_difference(x: np.ndarray, fps: float, span_s: float) -> np.ndarray:
    """Velocity (x[t+k] - x[t-k]) / (2k / fps) along axis 0 with k ~ span_s/2 seconds; one-sided at the ends."""
    T = x.shape[0]
    if T < 2:
        return np.zeros_like(x)
    k = min(max(1, int(round(span_s * fps / 2))), (T - 1) // 2 or 1)
    out = np.empty_like(x)
    if T > 2 * k:
        out[k:T - k] = (x[2 * k:] - x[:T - 2 * k]) * (fps / (2 * k))
    for t in list(range(min(k, T))) + list(range(max(T - k, k), T)):  # the 2k edge frames
        hi, lo = min(t + k, T - 1), max(t - k, 0)
        out[t] = (x[hi] - x[lo]) * (fps / max(hi - lo, 1))
    return out


def window_displacement(x: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """|x[t+w] - x[t-w]| for (T, K, D) positions with w ~ window_s/2 seconds, edges held; NaN where unknown."""
    T = x.shape[0]
    w = max(1, int(round(window_s * fps / 2)))
    out = np.full(x.shape[:2], np.nan, dtype=np.float32)
    if T > 2 * w:
        d = x[2 * w:] - x[:-2 * w]
        out[w:T - w] = np.sqrt((d * d).sum(axis=-1))
        out[:w] = out[w]
        out[T - w:] = out[T - w - 1]
    return out


def segment_frames(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated frame indices of the inclusive segments and each segment's offset in them."""
    lengths = end - start + 1
    offsets = np.zeros(len(start), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    idx = np.repeat(start - offsets, lengths) + np.arange(int(lengths.sum()))
    return idx, offsets


def seg_sum(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sum of values[start_i..end_i] (inclusive) for every i, NaN counted as 0; (T,) or (T, K) values.
    Touches only the frames inside segments (candidates cover a small part of an attempt)."""
    if len(start) == 0:
        return np.zeros((0,) + values.shape[1:])
    idx, offsets = segment_frames(start, end)
    v = values[idx].astype(np.float64)
    v[np.isnan(v)] = 0.0
    return np.add.reduceat(v, offsets, axis=0)


def seg_mean(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean of the known (non-NaN) values of each inclusive segment (NaN when none is known)."""
    if len(start) == 0:
        return np.zeros((0,) + values.shape[1:])
    idx, offsets = segment_frames(start, end)
    v = values[idx].astype(np.float64)
    known = ~np.isnan(v)
    v[~known] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.add.reduceat(v, offsets, axis=0) / np.add.reduceat(known, offsets, axis=0)


def seg_median(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(R, D) median of the known (non-NaN) rows of (T, D) values in each inclusive segment, per column (NaN
    when none is known): one sort of all segments' values per column, no loop over segments."""
    if len(start) == 0:
        return np.zeros((0,) + values.shape[1:])
    idx, _ = segment_frames(start, end)
    seg = np.repeat(np.arange(len(start)), end - start + 1)
    out = np.full((len(start), values.shape[1]), np.nan)
    for d in range(values.shape[1]):  # the columns
        v = values[idx, d].astype(np.float64)
        known = ~np.isnan(v)
        s, x = seg[known], v[known]
        order = np.lexsort((x, s))
        s, x = s[order], x[order]
        n = np.bincount(s, minlength=len(start))
        first = np.concatenate([[0], np.cumsum(n)[:-1]])
        has = n > 0
        lo = first[has] + (n[has] - 1) // 2
        hi = first[has] + n[has] // 2
        out[has, d] = 0.5 * (x[lo] + x[hi])
    return out


def seg_max(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Max over inclusive segments (segments may overlap; NaN ignored; NaN when nothing is known)."""
    if len(start) == 0:
        return np.zeros(0)
    idx, offsets = segment_frames(start, end)
    v = values[idx].astype(np.float64)
    v[np.isnan(v)] = -np.inf
    out = np.maximum.reduceat(v, offsets)
    return np.where(np.isinf(out), np.nan, out)
