"""Move classifiers: the scikit-learn contract, accuracy on held-out synthetic attempts, training from coach labels."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import run_cli, synthetic
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from db import connect, store, transaction
from moves.classify import CLASSES, LearnedMoveClassifier, RuleMoveClassifier, classify, detect
from moves.evaluate import evaluate, run_synthetic_eval
from moves.features import compute_features
from moves.segment import FEATURE_NAMES, propose
from moves.ingest import ingest_attempt
from moves.service import label_candidates, train_from_db


def _candidates(seed=31, noise="mild"):
    a = synthetic(seed, noise)
    return a, propose(compute_features(a.skeleton))


# --------------------------------------------------------------------------------------------- contract
def test_learned_classifier_passes_check_estimator():
    check_estimator(LearnedMoveClassifier(max_iter=15))


def test_rule_classifier_follows_the_estimator_contract():
    a, cands = _candidates()
    clf = RuleMoveClassifier(flag_min_s=0.5)
    assert clf.get_params()["flag_min_s"] == 0.5 and clone(clf).get_params() == clf.get_params()
    with pytest.raises(NotFittedError):
        clf.predict(cands.X)
    assert clf.fit(cands.X) is clf and clf.n_features_in_ == len(FEATURE_NAMES)
    assert list(clf.classes_) == list(CLASSES)
    pred = clf.predict(cands.X)
    assert pred.shape == (len(cands),) and set(pred) <= set(CLASSES)
    proba = clf.predict_proba(cands.X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(cands.X), pred)
    with pytest.raises(ValueError, match="features"):
        clf.predict(cands.X[:, :5])
    with pytest.raises(ValueError, match="FEATURE_NAMES"):
        RuleMoveClassifier().fit(np.zeros((3, 4)))
    assert clf.set_params(flag_min_s=3.0) is clf and clf.flag_min_s == 3.0


def test_rules_predict_as_the_estimator_does_without_scikit_learn(tmp_path):
    """Detection uses moves.classify.Rules, the rules in NumPy alone: the same labels and probabilities as the
    estimator with the same thresholds, the same version, and detecting and storing an attempt's moves with the
    built-in rules (what every `cruxlab analyze` does) never imports scikit-learn (~0.7 s and its SciPy/pandas
    stack at each analysis's end)."""
    import subprocess
    import sys
    from pathlib import Path

    from moves.classify import Rules, default_classifier

    _, cands = _candidates()
    for params in ({}, {"flag_knee": 175.0, "cross_margin": 0.4, "rock_rise": 1.2}):
        est, rules = RuleMoveClassifier(**params).fit(), Rules(**params)
        np.testing.assert_array_equal(rules.predict_proba(cands.X), est.predict_proba(cands.X))
        np.testing.assert_array_equal(rules.predict(cands.X), est.predict(cands.X))
        assert rules.version == est.version and rules.get_params() == est.get_params()
    assert set(Rules(flag_knee=175.0).predict(cands.X)) != set(Rules().predict(cands.X))  # thresholds bite
    assert default_classifier().version == RuleMoveClassifier().version
    with pytest.raises(ValueError, match="FEATURE_NAMES"):
        Rules().predict(cands.X[:, :5])
    code = ("import sys\n"
            "from moves.synthetic import generate_attempt\n"
            "from moves.ingest import import_skeletons\n"
            "a = generate_attempt(31, 'mild')\n"
            f"path = a.skeleton.save({str(tmp_path / 'a.npz')!r})\n"
            f"(r,) = import_skeletons({str(tmp_path / 'x.duckdb')!r}, [path], climber='c')\n"
            "print(r.n_moves, r.model_version, [m for m in ('sklearn', 'pandas', 'scipy.stats') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n_moves, version, loaded = out.stdout.split(maxsplit=2)
    assert int(n_moves) > 0 and version == RuleMoveClassifier().version and loaded.strip() == "[]"


def test_rule_thresholds_are_real_parameters():
    """Mis-set thresholds must cost accuracy where they bite (and a grid could tune them back)."""
    seeds = range(2100, 2106)
    good = run_synthetic_eval(seeds, "mild")
    # flag_knee 175: no flagging leg is that straight (side and back flags alike); cross_margin and rock_rise
    # far beyond what the climber does
    bad = run_synthetic_eval(seeds, "mild", rule_params={"flag_knee": 175.0, "cross_margin": 0.4, "rock_rise": 1.2})
    assert good.per_label["flag"].f1 > 0.9 and bad.per_label["flag"].recall < 0.5
    assert bad.per_label["cross-over"].recall < 0.5 and bad.per_label["rock-over"].recall < 0.5
    assert good.per_label["reach"].f1 > 0.9  # the reach rule does not use those thresholds ...
    assert bad.per_label["reach"].precision < good.per_label["reach"].precision  # ... but gets the missed crosses


# --------------------------------------------------------------------------------------------- accuracy
@pytest.mark.slow
@pytest.mark.parametrize("noise, macro_min, boundary_min", [("mild", 0.95, 0.95), ("hard", 0.85, 0.80)])
def test_accuracy_on_attempts_the_tuning_never_saw(noise, macro_min, boundary_min, artifacts):
    report = run_synthetic_eval(range(3000, 3012), noise, plot_dir=artifacts)
    print(report.format(noise))
    assert report.macro_f1 >= macro_min
    assert report.boundary.f1 >= boundary_min
    for label in ("reach", "cross-over", "match", "foot-move", "flag", "rock-over", "dyno"):
        assert report.per_label[label].tp + report.per_label[label].fn > 0  # every label is exercised
        assert report.per_label[label].f1 >= (0.9 if noise == "mild" else 0.75), label


@pytest.mark.parametrize("kwargs", [dict(fps=24), dict(fps=60), dict(wall_angle_deg=0.0), dict(wall_angle_deg=45.0),
                                    dict(height_m=1.55), dict(height_m=1.9)])
def test_robust_across_frame_rates_walls_and_climbers(kwargs):
    items = []
    for seed in (3100, 3101):
        a = synthetic(seed, "hard", **kwargs)
        items.append((a.moves, detect(a.skeleton), a.skeleton.fps, a.skeleton.n_frames))
    report = evaluate(items)
    assert report.macro_f1 >= 0.8, report.format()


def test_scale_error_and_coco17_only_skeletons():
    a = synthetic(3200, "mild")
    kp = a.skeleton.keypoints * 1.05
    kp[:, 17:] = np.nan  # no heels / toes: feet fall back to the ankles
    from cruxlab.skeleton import Skeleton

    pred = detect(Skeleton(kp, a.skeleton.fps, wall_normal=a.skeleton.wall_normal))
    report = evaluate([(a.moves, pred, a.skeleton.fps, a.skeleton.n_frames)])
    assert report.macro_f1 >= 0.85 and report.per_label["foot-move"].f1 >= 0.8, report.format()


def test_labels_may_overlap_in_time():
    """A flag held during a cross-over comes out as two rows on two limbs."""
    for seed in range(3300, 3310):
        a = synthetic(seed, "clean")
        pred = detect(a.skeleton)
        flags = [m for m in pred if m.label == "flag"]
        hands = [m for m in pred if m.limb.endswith("hand")]
        if any(h.start_frame <= f.end_frame and f.start_frame <= h.end_frame for f in flags for h in hands):
            return
    pytest.fail("no flag overlapping a hand move was detected in 10 attempts")


# --------------------------------------------------------------------------------------------- training
def test_label_candidates_matches_by_limb_kind_and_overlap():
    a, cands = _candidates(32)
    y = label_candidates(cands, [(m.start_frame, m.end_frame, m.label, m.limb) for m in a.moves])
    assert set(y) <= set(CLASSES)
    # every true move is the label of some candidate
    for m in a.moves:
        assert any((y == m.label) & (cands.limb == m.limb)), m
    assert (label_candidates(cands, []) == "none").all()


def _coach_labels_everything(con, attempt_id, truth):
    """A coach who deletes every predicted move, enters the true ones and marks the attempt reviewed (nothing
    else happens in it: training may take every other candidate as 'none')."""
    with transaction(con):
        for mid in store.current_moves(con, attempt_id).move_id:
            store.edit_move(con, int(mid), editor="coach", source="dashboard", delete=True)
        for m in truth:
            store.add_move(con, attempt_id, label=m.label, limb=m.limb, start_frame=m.start_frame,
                           end_frame=m.end_frame, editor="coach", source="dashboard")
        store.review_attempt(con, attempt_id, editor="coach", source="dashboard")


@pytest.mark.slow
def test_training_from_coach_labels_beats_mis_set_rules(db_path):
    train_seeds, test_seeds = range(3400, 3406), range(3410, 3414)
    bad_rules = ["--set", "flag_lateral=0.7", "--set", "cross_margin=0.4", "--set", "rock_rise=1.2"]
    code, out, _ = run_cli("--db", str(db_path), "moves", "rules", *bad_rules)
    assert code == 0
    with connect(db_path) as con:
        for seed in train_seeds:
            a = synthetic(seed, "mild")
            aid = ingest_attempt(con, store.AttemptRecord(name=f"s{seed}", climber="Adam", skeleton=a.skeleton,
                                                          source_kind="skeleton", source_path="synthetic",
                                                          key=f"k{seed}")).attempt_id
            _coach_labels_everything(con, aid, a.moves)
    report = train_from_db(db_path, folds=3)
    assert report.activated and report.learned_macro > report.rules_macro + 0.2
    # the stored, active model now detects; measure it against the mis-set rules on unseen attempts
    with connect(db_path, read_only=True) as con:
        from moves.service import active_classifier

        learned, version = active_classifier(con)
    assert version == report.version and isinstance(learned, LearnedMoveClassifier)
    rules = RuleMoveClassifier(flag_lateral=0.7, cross_margin=0.4, rock_rise=1.2).fit()
    before = run_synthetic_eval(test_seeds, "mild", classifier=rules)
    after = run_synthetic_eval(test_seeds, "mild", classifier=learned)
    assert after.macro_f1 > before.macro_f1 + 0.3 and after.macro_f1 >= 0.9, (before.format(), after.format())


def test_training_needs_reviewed_attempts(db_path, skeleton_file):
    run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "Janja")
    code, _, err = run_cli("--db", str(db_path), "moves", "train")
    assert code == 2 and "label pull" in err and "Attempt page" in err and "reviewed" in err


def test_classify_respects_candidate_kinds():
    """Whatever a classifier prefers, a hand flight is never called a flag."""
    a, cands = _candidates(33)

    class Confused:
        classes_ = np.array(CLASSES, dtype=object)

        def predict_proba(self, X):
            p = np.zeros((len(X), len(CLASSES)))
            p[:, CLASSES.index("flag")] = 0.9
            p[:, CLASSES.index("reach")] = 0.1
            return p

    labels, _ = classify(cands, Confused())
    kinds = np.array(["hand", "foot", "posture", "rise", "air"])[cands.kind]
    assert set(labels[kinds == "hand"]) == {"reach"}
    assert set(labels[kinds == "posture"]) == {"flag"} and set(labels[kinds == "foot"]) == {"none"}
