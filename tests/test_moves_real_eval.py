"""Scoring against frame-inspected labels of real clips: the label format, micro/hand-move F1, not-move spans,
and matching stored attempts to label files (frames mapped through the attempt's trim and subsampling)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from cruxlab.errors import InputError
from cruxlab.labels import Move
from moves.evaluate import ClipResult, NotMove, RealReport, in_not_move, load_label_dir, load_labels
from moves.service import _to_video_frames

LABELS = Path(__file__).resolve().parents[1] / "data" / "climbing" / "labels"


def test_bundled_label_files_load():
    labs = {lab.clip: lab for lab in load_label_dir(LABELS)}
    assert set(labs) == {"warp-fixed-input.mp4", "warp-dynamic-input.mp4"}
    fixed = labs["warp-fixed-input.mp4"]
    assert (fixed.fps, fixed.n_frames, len(fixed.events), len(fixed.not_moves)) == (25.0, 377, 15, 3)
    # "likely" events carry confidence 0.5, "sure" ones 1.0
    assert {m.confidence for m in fixed.events} == {0.5, 1.0}


def test_bad_label_files_name_the_problem(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON"):
        load_labels(bad)
    bad.write_text(json.dumps({"clip": "a.mp4", "fps": 25, "n_frames": 10,
                               "events": [{"label": "reach", "limb": "left_hand", "start_frame": 5, "end_frame": 12}]}))
    with pytest.raises(InputError, match="outside 0..9"):
        load_labels(bad)
    bad.write_text(json.dumps({"clip": "a.mp4", "fps": 25, "n_frames": 10,
                               "events": [{"label": "jump", "limb": "left_hand", "start_frame": 1, "end_frame": 2}]}))
    with pytest.raises(InputError, match="label 'jump'"):
        load_labels(bad)
    with pytest.raises(InputError, match="not a folder"):
        load_label_dir(tmp_path / "nope")


def test_not_move_span_catches_swallowing_and_contained_moves_only():
    span = NotMove(30, 40)
    assert in_not_move(Move(32, 38, "foot-move", "right_foot"), span)        # inside
    assert in_not_move(Move(0, 90, "reach", "left_hand"), span)              # a bloated move swallowing it
    assert not in_not_move(Move(39, 60, "rock-over", "right_foot"), span)    # a neighbour touching the edge
    assert not in_not_move(Move(41, 50, "reach", "left_hand"), span)


def test_real_report_counts():
    truth = (Move(10, 20, "reach", "left_hand"), Move(30, 40, "match", "right_hand"),
             Move(50, 60, "foot-move", "left_foot"))
    pred = (Move(11, 21, "reach", "left_hand"),        # right
            Move(31, 41, "reach", "right_hand"),       # found, but misnamed: a hand move, not a match
            Move(80, 90, "foot-move", "left_foot"),    # false
            Move(95, 99, "flag", "right_foot"))        # false, inside a not-move span
    r = RealReport((ClipResult("c.mp4", "c", 25.0, truth, pred, (NotMove(94, 99, "drop-off"),)),))
    assert (r.micro.tp, r.micro.fp, r.micro.fn) == (1, 3, 2)
    assert (r.hand.tp, r.hand.fp, r.hand.fn) == (2, 0, 0) and r.hand.f1 == 1.0
    assert r.per_label["reach"].fp == 1 and r.per_label["match"].fn == 1
    assert len(r.not_move_hits()) == 1
    d = r.as_dict()
    assert d["not_move_predictions"] == 1 and d["per_label"]["foot-move"]["fp"] == 1
    assert "in f94-99 (drop-off)" in r.format()


def test_attempt_frames_map_to_video_frames():
    moves = [Move(2, 4, "reach", "left_hand")]
    (m,) = _to_video_frames(moves, start=150, step=2, n_video=377)
    assert (m.start_frame, m.end_frame) == (154, 159)


def test_eval_real_without_matching_attempts_says_what_to_run(tmp_path, skeleton_file):
    db = tmp_path / "s.duckdb"
    assert run_cli("--db", str(db), "import-skeleton", str(skeleton_file), "--climber", "A")[0] == 0
    code, out, err = run_cli("--db", str(db), "moves", "eval", "--real", str(LABELS))
    assert code == 2 and "cruxlab --db" in err and "analyze data/climbing/" in err
