"""Climber picking among detected people (reconstruction/climber.py) on synthetic box sequences."""

from __future__ import annotations

import numpy as np

from reconstruction.climber import (ClimberTracker, best_assignment, box_iou, pad_detections, pick_climber,
                                   select_boxes)


def _scene(t: int = 40, seed: int = 0):
    """Three people, shuffled order per frame: a big confident spectator on the floor, a spotter walking along
    the floor, and the climber who starts on the floor and climbs. Returns boxes, scores, climber index."""
    rng = np.random.default_rng(seed)
    boxes = np.zeros((t, 3, 4), np.float32)
    scores = np.zeros((t, 3), np.float32)
    f = np.arange(t)
    people = [
        (np.stack([100 + 0 * f, 400 + 0 * f, 300 + 0 * f, 1000 + 0 * f], 1), 0.97),   # spectator, largest
        (np.stack([700 - 3 * f, 500 + 0 * f, 850 - 3 * f, 1000 + 0 * f], 1), 0.9),   # spotter walking
        (np.stack([400 + 0 * f, 500 - 12 * f, 520 + 0 * f, 1000 - 12 * f], 1), 0.8),  # climber going up
    ]
    truth = np.zeros(t, np.int64)
    for i in range(t):
        order = rng.permutation(3)
        for slot, p in enumerate(order):
            boxes[i, slot] = people[p][0][i] + rng.normal(0, 2, 4)
            scores[i, slot] = people[p][1]
            if p == 2:
                truth[i] = slot
    return boxes, scores, truth


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [np.nan, 0, 1, 1]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[1, 50 / 150, 0], [0, 0, 0]])


def test_offline_picks_the_person_who_climbs_not_the_largest():
    boxes, scores, truth = _scene()
    idx = pick_climber(boxes, scores)
    np.testing.assert_array_equal(idx, truth)
    chosen = select_boxes(boxes, idx)
    assert np.all(np.diff(chosen[:, 3]) < 0)          # the chosen box rises in every frame


def test_online_tracker_settles_on_the_climber_and_survives_gaps():
    boxes, scores, truth = _scene(60, seed=1)
    boxes[30:34, :, :] = np.where((np.arange(3) == truth[30:34, None])[..., None], np.nan, boxes[30:34])
    tracker = ClimberTracker()
    out = np.concatenate([tracker.update(boxes[i:i + 8], scores[i:i + 8]) for i in range(0, 60, 8)])
    # the climber is missed while occluded and found again (same track), and chosen once they have risen
    assert (out[30:34] == -1).all()
    settled = np.flatnonzero(out == truth)
    assert settled.min() < 15
    np.testing.assert_array_equal(out[15:30], truth[15:30])
    np.testing.assert_array_equal(out[34:], truth[34:])
    assert tracker.climber == int(np.argmax(tracker.scores()))


def test_low_scores_and_padding_are_ignored():
    per_frame = [(np.array([[0, 0, 10, 20]], np.float32), np.array([0.1], np.float32)),
                 (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)),
                 (np.array([[1, 1, 11, 21], [50, 50, 60, 70]], np.float32), np.array([0.9, 0.95], np.float32))]
    boxes, scores = pad_detections(per_frame)
    assert boxes.shape == (3, 2, 4) and np.isnan(boxes[1]).all() and np.isnan(scores[0, 1])
    idx = ClimberTracker(min_score=0.3).update(boxes, scores)
    assert idx[0] == -1 and idx[1] == -1 and idx[2] in (0, 1)
    assert np.isnan(select_boxes(boxes, idx)[:2]).all()


def test_best_assignment_pairs_as_scipy_does():
    """Issue 12: small track x people problems are solved by trying every pairing (no SciPy import in the pose
    stage): the same pairs as SciPy's linear_sum_assignment on IoU-like matrices (many zeros) of every shape
    up to 6 x 6, and beyond that SciPy itself."""
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(1)
    for n in range(7):
        for m in range(7):
            for _ in range(20):
                score = rng.random((n, m)) * (rng.random((n, m)) < 0.6)
                rows, cols = best_assignment(score)
                want_rows, want_cols = linear_sum_assignment(-score)
                assert len(rows) == len(cols) == min(n, m) and (np.diff(rows) > 0).all()
                # the same pairs wherever they score (pairs of zero are ties SciPy may break otherwise)
                pairs = {(r, c) for r, c in zip(rows, cols) if score[r, c] > 0}
                assert pairs == {(r, c) for r, c in zip(want_rows, want_cols) if score[r, c] > 0}
    big = rng.random((9, 8))
    np.testing.assert_array_equal(np.stack(best_assignment(big)), np.stack(linear_sum_assignment(-big)))
