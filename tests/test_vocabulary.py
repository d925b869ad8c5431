"""The shared helpers of cruxlab/ that several packages rely on: frame intervals, parameter digests, the body."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from cruxlab.body import check_height, min_jerk, two_bone_ik
from cruxlab.digest import params_digest
from cruxlab.errors import InputError
from cruxlab.intervals import runs, temporal_iou
from cruxlab.signal import fill_gaps


def test_runs_are_inclusive_start_end_pairs():
    mask = np.array([0, 1, 1, 1, 0, 0, 1, 0, 1, 1], bool)
    r = runs(mask)
    assert r.tolist() == [[1, 3], [6, 6], [8, 9]]
    rebuilt = np.zeros_like(mask)
    for s, e in r:
        rebuilt[s:e + 1] = True
    assert (rebuilt == mask).all()
    assert runs(np.zeros(5, bool)).shape == (0, 2) and runs(np.ones(4, bool)).tolist() == [[0, 3]]


def test_temporal_iou_counts_inclusive_frames_and_broadcasts():
    assert temporal_iou(0, 9, 0, 9) == 1.0
    assert temporal_iou(0, 9, 5, 14) == pytest.approx(5 / 15)       # frames 5..9 shared of 0..14
    assert temporal_iou(0, 4, 5, 9) == 0.0 and temporal_iou(3, 3, 3, 3) == 1.0
    cand = np.array([[0, 9], [20, 29]])
    moves = np.array([[5, 14], [20, 24], [40, 49]])
    iou = temporal_iou(cand[:, :1], cand[:, 1:], moves[:, 0], moves[:, 1])
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou, [[5 / 15, 0, 0], [0, 0.5, 0]])


def test_fill_gaps_interpolates_over_time_holds_the_ends_and_leaves_unseen_series():
    v = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan])
    np.testing.assert_array_equal(fill_gaps(v), [1, 1, 2, 3, 4, 4])
    assert np.isnan(fill_gaps(np.full(3, np.nan))).all()
    # points (T, J, 3) with one flag per point: an unknown point's finite values are replaced too
    X = np.zeros((3, 2, 3))
    X[:, 0] = [[0, 0, 0], [9, 9, 9], [2, 4, 6]]
    X[:, 1] = np.nan
    known = np.array([[True, False], [False, False], [True, False]])
    out = fill_gaps(X, known)
    np.testing.assert_array_equal(out[:, 0], [[0, 0, 0], [1, 2, 3], [2, 4, 6]])
    assert np.isnan(out[:, 1]).all()                                   # never known: left as it was


def test_params_digest_is_order_free_and_matches_the_stored_keys():
    a = params_digest({"b": 1, "a": [1, 2], "p": Path("x")})
    assert a == params_digest({"a": [1, 2], "p": Path("x"), "b": 1}) and len(a) == 64
    assert params_digest({"b": 2}) != params_digest({"b": 1})
    assert params_digest([1, "x"], 16) == params_digest([1, "x"])[:16]
    # ingest keys already in users' stores were sha256 of exactly this JSON: they must keep matching
    blob = json.dumps({"sha256": "abc", "params": {"k": 1}}, sort_keys=True, default=str)
    from db.store import ingest_key

    assert ingest_key("abc", {"k": 1}) == hashlib.sha256(blob.encode()).hexdigest()
    # rule-model versions were sha1 of the sorted JSON (8 characters)
    from moves.classify import RULES_VERSION, RuleMoveClassifier

    clf = RuleMoveClassifier(flag_min_s=0.5)
    old = hashlib.sha1(json.dumps(clf.get_params(), sort_keys=True).encode()).hexdigest()[:8]
    assert clf.version == f"{RULES_VERSION}+{old}"


def test_body_helpers():
    assert check_height(1.64) == 1.64
    for bad in (164, 0.5, float("nan")):
        with pytest.raises(InputError, match="--height-m"):
            check_height(bad)
    tau = np.linspace(-0.5, 1.5, 41)
    s = min_jerk(tau)
    assert s[0] == 0 and s[-1] == 1 and (np.diff(s) >= 0).all()
    root, pole = np.zeros((3, 3)), np.tile([0.0, 0.0, 1.0], (3, 1))
    target = np.array([[0.5, 0, 0], [0.2, 0, 0], [2.0, 0, 0]])                 # in reach, close, too far
    mid, end = two_bone_ik(root, target, 0.3, 0.3, pole)
    np.testing.assert_allclose(np.linalg.norm(mid - root, axis=1), 0.3, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(end - mid, axis=1), 0.3, atol=1e-9)
    np.testing.assert_allclose(end[:2], target[:2], atol=1e-9)
    assert end[2, 0] == pytest.approx(0.6, abs=1e-3) and (mid[:, 2] > 0).all()   # stretched; bent to the pole
