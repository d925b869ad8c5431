"""Review state (migration 007): confirmed moves, reviewed attempts, and which moves count as training labels —
in the store, in `moves train`, and for a Label Studio submission."""

from __future__ import annotations

import numpy as np
import pytest

from cruxlab.errors import InputError
from cruxlab.labels import Move
from db import connect, store, transaction
from moves.ingest import ingest_attempt
from tests.conftest import run_cli, synthetic


def _attempt(con, seed: int, name: str | None = None) -> int:
    a = synthetic(seed, "mild")
    return ingest_attempt(con, store.AttemptRecord(
        name=name or f"s{seed}", climber="Adam", skeleton=a.skeleton, source_kind="skeleton",
        source_path="synthetic", key=f"k{seed}")).attempt_id


def _state(con, attempt_id):
    return store.current_moves(con, attempt_id, include_deleted=True).set_index("move_id")


def test_confirm_marks_a_move_as_a_label_without_changing_it(db_path):
    with connect(db_path) as con:
        aid = _attempt(con, 3500)
        before = _state(con, aid)
        assert not before["labelled"].any() and not before["confirmed"].any()
        mid = int(before.index[0])
        with transaction(con):
            eid = store.confirm_move(con, mid, editor="Kim", source="dashboard")
        after = _state(con, aid)
        row = after.loc[mid]
        assert eid is not None and row["confirmed"] and row["labelled"] and not row["corrected"]
        assert (row["label"], row["start_frame"], row["end_frame"]) == tuple(before.loc[mid, ["label", "start_frame",
                                                                                             "end_frame"]])
        assert after.drop(index=mid)["labelled"].sum() == 0, "only that move"
        assert store.count_corrections(con) == 0, "a confirmation is not a correction"
        h = store.label_history(con, attempt_id=aid).iloc[0]
        assert (h["action"], h["editor"], h["label"], h["prev_label"]) == ("confirm", "Kim", row["label"], row["label"])
        assert store.confirm_move(con, mid, editor="Kim", source="dashboard") is None, "once is enough"
        # undo takes the confirmation back; a correction is a label by itself
        store.undo_last_edit(con, editor="Kim", attempt_id=aid)
        assert not _state(con, aid).loc[mid, "labelled"]
        store.edit_move(con, mid, editor="Kim", source="dashboard", start_frame=int(row["start_frame"]) + 1)
        assert _state(con, aid).loc[mid, ["corrected", "labelled"]].all()
        store.edit_move(con, mid, editor="Kim", source="dashboard", delete=True)
        with pytest.raises(InputError, match="restore it"):
            store.confirm_move(con, mid, editor="Kim", source="dashboard")
        assert not _state(con, aid).loc[mid, "labelled"], "a deleted move is no label (its deletion is)"
        with pytest.raises(InputError, match="editor"):
            store.confirm_move(con, int(before.index[1]), editor=" ", source="dashboard")
        # what the annotator saw must still be the move's state
        other = before.iloc[1]
        seen = (other["label"], other["limb"], int(other["start_frame"]), int(other["end_frame"]) + 5)
        assert store.confirm_move(con, int(before.index[1]), editor="Kim", source="label-studio", expect=seen) is None


def test_a_review_covers_the_moves_stored_then(db_path):
    with connect(db_path) as con:
        aid = _attempt(con, 3501)
        n = len(_state(con, aid))
        with transaction(con):
            rid = store.review_attempt(con, aid, editor="Kim", source="dashboard")
        rs = store.review_state(con, aid)
        assert rid is not None and rs.reviewed and rs.complete and rs.n_labelled == rs.n_moves == n
        assert rs.reviewed_by == "Kim" and rs.review_source == "dashboard"
        assert _state(con, aid)["reviewed"].all()
        assert store.review_attempt(con, aid, editor="Kim", source="dashboard") is None, "nothing new to say"
        # a move detected after the review is not vouched for: the review is incomplete until renewed
        m = _state(con, aid).iloc[0]
        with transaction(con):
            store.replace_model_moves(con, aid, [Move(0, 3, "reach", "left_hand", 0.5)], "rules-new")
        rs = store.review_state(con, aid)
        assert rs.reviewed and not rs.complete and rs.n_labelled == rs.n_moves - 1
        assert store.review_attempt(con, aid, editor="Kim", source="dashboard") is not None
        assert store.review_state(con, aid).complete
        # withdrawn: back to nothing but confirmations and corrections
        store.confirm_move(con, int(m.name), editor="Kim", source="dashboard")
        store.review_attempt(con, aid, editor="Kim", source="dashboard", reviewed=False)
        rs = store.review_state(con, aid)
        assert not rs.reviewed and not rs.complete and rs.n_labelled == 1
        with pytest.raises(InputError, match="no attempt"):
            store.review_attempt(con, 999, editor="Kim", source="dashboard")
        assert store.review_attempt(con, aid, editor="Kim", source="label-studio", external_key="ls:1") is not None
        assert store.review_attempt(con, aid, editor="Kim", source="label-studio", external_key="ls:1") is None
        with transaction(con):
            store.delete_attempt(con, aid)
        assert con.execute("SELECT count(*) FROM attempt_reviews").fetchone()[0] == 0


def test_training_takes_only_what_coaches_vouched_for(db_path):
    """Unconfirmed model moves are not truth (scoring the rules against them would be circular): with nothing
    vouched for there is nothing to train on; a reviewed attempt gives every candidate, an attempt with a few
    confirmed moves only those candidates, and a deleted model move a 'none'."""
    from moves.service import training_set

    with connect(db_path) as con:
        a1, a2 = _attempt(con, 3502), _attempt(con, 3503)
        _attempt(con, 3504)  # nobody looks at this one
        assert training_set(con).attempts == []
        code, _, err = run_cli("--db", str(db_path), "moves", "train")
        assert code == 2 and "Enter (✓ Confirm)" in err and "reviewed" in err and "label pull" in err
        store.review_attempt(con, a1, editor="Kim", source="dashboard")
        moves2 = _state(con, a2)
        keep, drop = int(moves2.index[0]), int(moves2.index[1])
        store.confirm_move(con, keep, editor="Kim", source="dashboard")
        store.edit_move(con, drop, editor="Kim", source="dashboard", delete=True)
        ts = training_set(con)
    assert ts.attempts == ["s3502", "s3503"], "the untouched attempt gives nothing"
    n1 = int((ts.groups == a1).sum())
    n2 = int((ts.groups == a2).sum())
    assert n1 > 10 and (ts.y[ts.groups == a1] == "none").any(), "a reviewed attempt: every candidate"
    y2 = ts.y[ts.groups == a2]
    assert 1 <= n2 <= 4 and moves2.loc[keep, "label"] in set(y2) and "none" in set(y2), y2
    assert ts.n_labels == len(moves2) * 0 + len(_moves_of(db_path, a1)) + 2


def _moves_of(db_path, aid):
    with connect(db_path, read_only=True) as con:
        return store.current_moves(con, aid)


def test_train_report_scores_rules_only_on_vouched_labels(db_path):
    """Two attempts reviewed as the model left them: the rules agree with every label (F1 1.0) - the point
    being that the confirmation, not the model's output, made them labels."""
    from moves.service import train_from_db

    with connect(db_path) as con:
        for seed in (3505, 3506):
            aid = _attempt(con, seed)
            store.review_attempt(con, aid, editor="Kim", source="dashboard")
    report = train_from_db(db_path, folds=2, activate=False)
    assert report.n_attempts == 2 and report.labels
    assert np.allclose(list(report.rules_f1.values()), 1.0)
