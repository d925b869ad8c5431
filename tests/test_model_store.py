"""Stored move models are data, never code: the learned trees round-trip as plain arrays, and a planted
pickle, an unknown format, a changed payload or malformed trees are refused with the fix named - nothing runs,
the database stays as it was."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from conftest import run_cli
from sklearn.ensemble import HistGradientBoostingClassifier

from benchmarks.hostile import code_running_pickle
from cruxlab.errors import DatabaseError
from db import connect, transaction
from db.connection import migrations
from moves.estimators import LearnedMoveClassifier, _one_thread
from moves.segment import FEATURE_NAMES
from moves.service import LEARNED_FORMAT, active_classifier, save_model


def _data(n=600, seed=0, labels=("none", "reach", "match", "flag")):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURE_NAMES)))
    X[rng.random(X.shape) < 0.2] = np.nan                      # features that do not apply to a kind
    y = np.array(labels, dtype=object)[rng.integers(0, len(labels), n)]
    y[np.nan_to_num(X[:, 7]) > 0.8] = labels[1]
    return X, y


@pytest.mark.parametrize("labels", [("none", "reach", "match", "flag"), ("none", "flag")])
def test_plain_trees_predict_exactly_like_scikit_learn(labels):
    X, y = _data(labels=labels)
    ours = LearnedMoveClassifier(max_iter=40).fit(X, y)
    with _one_thread():
        ref = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, class_weight="balanced",
                                             random_state=0).fit(X, y)
    Xt, _ = _data(n=2000, seed=1, labels=labels)
    np.testing.assert_allclose(ours.predict_proba(Xt), ref.predict_proba(Xt), rtol=0, atol=1e-12)
    back = LearnedMoveClassifier.from_payload(ours.to_payload(), ours.get_params())
    np.testing.assert_array_equal(back.predict_proba(Xt), ours.predict_proba(Xt))
    assert list(back.classes_) == sorted(labels) and back.n_iter_ == ours.n_iter_


def _store_learned(db_path):
    X, y = _data()
    clf = LearnedMoveClassifier(max_iter=20).fit(X, y)
    with connect(db_path) as con, transaction(con):
        return save_model(con, clf, kind="learned", activate=True), clf


def _set_payload(db_path, version, payload, fmt, digest="match"):
    digest = hashlib.sha256(payload).hexdigest() if digest == "match" else digest
    with connect(db_path) as con:
        con.execute("UPDATE move_models SET payload = ?, payload_format = ?, payload_sha256 = ? WHERE version = ?",
                    [payload, fmt, digest, version])


def test_stored_learned_model_is_data_with_a_digest(db_path):
    version, clf = _store_learned(db_path)
    with connect(db_path, read_only=True) as con:
        payload, fmt, digest = con.execute(
            "SELECT payload, payload_format, payload_sha256 FROM move_models WHERE version = ?", [version]).fetchone()
        loaded, active = active_classifier(con)
    assert fmt == LEARNED_FORMAT and digest == hashlib.sha256(payload).hexdigest()
    assert bytes(payload)[:2] == b"PK" and b"\x80\x04" not in bytes(payload)[:64]   # an .npz, not a pickle
    with np.load(io.BytesIO(bytes(payload)), allow_pickle=False) as arrays:     # readable without pickle
        assert json.loads(str(arrays["meta"]))["format"] == LEARNED_FORMAT
    X, _ = _data(n=50, seed=3)
    assert active == version
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def _hostile_rows(tmp_path, version, good: bytes):
    marker = tmp_path / "pwned"
    evil = code_running_pickle(marker)
    bad_trees = dict(np.load(io.BytesIO(good)))
    bad_trees["left"] = np.zeros_like(bad_trees["left"])                 # children pointing backwards: a loop
    buf = io.BytesIO()
    np.savez(buf, **bad_trees)
    return marker, {
        "pickle with the current format name and its true digest": (evil, LEARNED_FORMAT, "match"),
        "legacy pickle row": (evil, "pickle", "match"),
        "unknown format": (evil, "skops", "match"),
        "payload changed after training": (good[:-1] + bytes([good[-1] ^ 1]), LEARNED_FORMAT, hashlib.sha256(good).hexdigest()),
        "trees that loop": (buf.getvalue(), LEARNED_FORMAT, "match"),
    }


def test_hostile_model_payloads_are_refused_and_run_nothing(tmp_path, db_path, skeleton_file):
    version, clf = _store_learned(db_path)
    marker, rows = _hostile_rows(tmp_path, version, clf.to_payload())
    for case, row in rows.items():
        _set_payload(db_path, version, *row)
        before = db_path.read_bytes()
        commands = [["moves", "detect"], ["moves", "use", version]]
        if case == "legacy pickle row":
            commands.append(["import-skeleton", str(skeleton_file), "--climber", "A"])
        for args in commands:
            code, out, err = run_cli("--db", str(db_path), *args)
            assert code == 2, (case, args, out, err)
            assert f"model {version!r}" in err and "cruxlab moves train" in err and "Traceback" not in err, case
        assert not marker.exists(), case
        assert db_path.read_bytes() == before, case
    # the way out the message names works
    assert run_cli("--db", str(db_path), "moves", "use", "rules")[0] == 0
    assert run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "A")[0] == 0
    assert not marker.exists()


def test_upgrade_removes_pickled_models_without_loading_them(tmp_path, db_path, skeleton_file):
    """A database from before migration 6 with a planted, active pickle: opening it migrates (the pickle is
    dropped unread, the row kept and marked), detection refuses the model by name, nothing runs."""
    import duckdb

    marker = tmp_path / "pwned"
    con = duckdb.connect(str(db_path))
    for mig in migrations()[:5]:
        con.execute(mig.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [mig.version, mig.name])
    con.execute("INSERT INTO move_models (version, kind, params, payload, active) VALUES ('learned-old', 'learned', "
                "'{}', ?, true)", [code_running_pickle(marker)])
    con.close()
    code, _, err = run_cli("--db", str(db_path), "import-skeleton", str(skeleton_file), "--climber", "A")
    assert code == 2 and "'learned-old' was stored as a Python pickle" in err and "moves use rules" in err
    with connect(db_path, read_only=True) as con:
        assert con.execute("SELECT payload, payload_format FROM move_models").fetchall() == [(None, "pickle-removed")]
        assert con.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0
        with pytest.raises(DatabaseError, match="no longer loads them"):
            active_classifier(con)
    code, out, _ = run_cli("--db", str(db_path), "moves", "models")
    assert code == 0 and "pickle-removed" in out
    assert not marker.exists()


def test_tampered_rule_thresholds_are_refused(db_path):
    with connect(db_path) as con:
        con.execute("INSERT INTO move_models (version, kind, params, active) VALUES ('rules-x', 'rules', ?, true)",
                    [json.dumps({"flag_knee": "__import__('os')", "evil": 1})])
    with connect(db_path, read_only=True) as con, pytest.raises(DatabaseError, match="unusable thresholds"):
        active_classifier(con)
