"""Frame intervals, one convention everywhere: INCLUSIVE [start, end], as a stored move (`cruxlab.labels.Move`,
the `moves` table) is. A run of frames 3, 4, 5 is (3, 5); its length is end - start + 1; slice it with
`x[start:end + 1]`.
"""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> np.ndarray:
    """(R, 2) int64 inclusive [start, end] frame pairs of the True runs of a 1-D bool array, in order."""
    d = np.diff(np.concatenate(([0], np.asarray(mask).astype(np.int8), [0])))
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1], axis=1)


def cover(T: int, r: np.ndarray) -> np.ndarray:
    """(T,) bool: True inside the inclusive runs r (R, 2) (overlapping runs allowed): the inverse of `runs`."""
    mark = np.zeros(T + 1, dtype=np.int64)
    np.add.at(mark, r[:, 0], 1)
    np.add.at(mark, r[:, 1] + 1, -1)
    return np.cumsum(mark[:-1]) > 0


def temporal_iou(start_a, end_a, start_b, end_b) -> np.ndarray:
    """Intersection over union of inclusive frame intervals [start_a, end_a] and [start_b, end_b]; numbers or
    arrays that broadcast (e.g. a column of candidates against a row of moves). 0 where they do not overlap."""
    start_a, end_a, start_b, end_b = (np.asarray(v) for v in (start_a, end_a, start_b, end_b))
    inter = np.minimum(end_a, end_b) - np.maximum(start_a, start_b) + 1
    union = np.maximum(end_a, end_b) - np.minimum(start_a, start_b) + 1
    return np.where(inter > 0, inter / np.maximum(union, 1), 0.0)
