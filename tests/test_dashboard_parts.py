"""The dashboard's building blocks without a page: the demo store, the data module's caching and edit
rules, the drawing (scene bounds, timeline, joint angles), and the command line. The overlay on the video and
the rendered wall are the player's (tests/test_dashboard_player.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cruxlab.joints import L_WRIST, NUM_JOINTS
from cruxlab.labels import LABEL_COLORS, MOVE_LABELS
from dashboard import figures as fg
from dashboard.demo_data import holds_of, synth_attempt
from db import connect, store


@pytest.fixture
def data(template, monkeypatch):
    from dashboard import data as data_module

    monkeypatch.setenv("CRUXLAB_DB", str(template.db_path))
    data_module.refresh()
    return data_module


# ------------------------------------------------------------------------------------------- demo
def test_demo_store_is_consistent(template):
    with connect(template.db_path, read_only=True) as con:
        attempts = store.list_attempts(con).set_index("attempt_id")
        for aid in template.attempt_ids:
            moves = store.current_moves(con, aid)
            n = int(attempts.loc[aid, "n_frames"])
            assert len(moves) >= 1
            assert (moves["start_frame"] >= 0).all() and (moves["end_frame"] < n).all()
            assert set(moves["label"]) <= set(MOVE_LABELS)
            cams = store.read_cameras(con, aid)
            assert (cams is not None) == (aid in template.video_paths)
    assert all(p.is_file() for p in template.video_paths.values())


def test_demo_moves_are_rule_model_detections_near_the_truth(template):
    assert template.model_version.startswith("rules")
    with connect(template.db_path, read_only=True) as con:
        found = pd.concat([store.current_moves(con, aid) for aid in template.attempt_ids])
    assert set(found["model_version"]) == {template.model_version} and (found["source"] == "model").all()
    truth = [m for aid in template.attempt_ids for m in template.truth[aid]]
    assert abs(len(found) - len(truth)) <= max(3, len(truth) // 3), (len(found), len(truth))


def test_holds_are_where_the_climber_holds_on():
    s = synth_attempt(300, 25.0, seed=4)
    holds = holds_of(s)
    wrist = s.clean.keypoints[s.contacts[:, 0], L_WRIST]
    d = np.linalg.norm(wrist[:, None] - holds[None], axis=2).min(axis=1)
    assert d.max() < 0.05 and len(holds) >= 4


# ------------------------------------------------------------------------------------------ views
def test_scene_bounds_ignore_wall_point_outliers():
    kp = np.zeros((5, NUM_JOINTS, 3))
    kp[:, :, 1] = np.linspace(0, 2, NUM_JOINTS)
    wall = np.concatenate([np.random.default_rng(0).uniform(-1, 1, (500, 3)), [[80.0, 80.0, 80.0]]])
    lo, hi = fg.scene_bounds(kp, wall, margin=0.0)
    assert hi[0] < 2 and hi[1] == pytest.approx(2.0, abs=1e-6) and lo[0] > -2


# ------------------------------------------------------------------------------------- timeline
def _moves_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "move_id": [1, 2, 3], "label": ["reach", "reach", "flag"], "limb": ["left_hand", "right_hand", "left_foot"],
        "start_frame": [0, 10, 20], "end_frame": [9, 29, 39], "confidence": [0.2, 1.0, 0.6],
        "edited": [False, True, False], "deleted": [False, False, True],
    })


def test_timeline_lanes_colours_confidence_and_cursor():
    fig = fg.timeline_figure(_moves_frame(), n_frames=50, fps=10.0, frame=25, selected_move=2)
    bars = {int(cd[0]): (tr, i) for tr in fig.data for i, cd in enumerate(tr.customdata)}
    assert sorted(bars) == [1, 2], "deleted moves are not drawn"
    tr, i = bars[1]
    assert tr.name == "reach" and tr.y[i] == "Left hand" and tr.base[i] == 0.0 and tr.x[i] == pytest.approx(1.0)
    alpha = {mid: float(t.marker.color[j].rsplit(",", 1)[1].rstrip(")")) for mid, (t, j) in bars.items()}
    assert alpha[1] < alpha[2], "less confident moves are paler"
    rgb = LABEL_COLORS["reach"].lstrip("#")
    assert tr.marker.color[i].startswith("rgba(%d,%d,%d," % tuple(int(rgb[k:k + 2], 16) for k in (0, 2, 4)))
    assert bars[2][0].text[bars[2][1]].startswith("✎"), "coach-edited moves are marked"
    assert fig.layout.shapes[0].x0 == pytest.approx(2.5), "cursor at frame 25 / 10 fps"
    assert list(fig.layout.yaxis.categoryarray)[::-1][:2] == ["Left hand", "Right hand"]


def test_angles_figure_shades_the_move():
    angles = np.full((30, 2), 90.0)
    fig = fg.angles_figure(angles, ("left_knee", "right_knee"), 10.0, 100, move=(105, 120), frame=110, label="flag")
    assert [tr.name for tr in fig.data] == ["left knee", "right knee"]
    assert fig.data[0].x[0] == pytest.approx(10.0)
    rect = [s for s in fig.layout.shapes if s.type == "rect"][0]
    assert (rect.x0, rect.x1) == (pytest.approx(10.5), pytest.approx(12.1))


# -------------------------------------------------------------------------------- data + caching
def test_reads_follow_edits_here_and_writes_from_elsewhere(template, data, tmp_path, monkeypatch):
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(template.db_path, db)
    monkeypatch.setenv("CRUXLAB_DB", str(db))
    aid = template.attempt_ids[0]
    moves = data.moves(aid)
    move_id = int(moves["move_id"].iloc[0])
    old = moves.set_index("move_id").loc[move_id, "label"]
    new = "dyno" if old != "dyno" else "reach"

    assert data.edit_move(move_id, "Ana's coach", label=new) is not None
    assert data.moves(aid).set_index("move_id").loc[move_id, "label"] == new
    assert data.history(aid).iloc[0]["editor"] == "Ana's coach"
    assert data.edit_move(move_id, "Ana's coach", label=new) is None, "an edit that changes nothing is not stored"

    with connect(db) as con:  # e.g. Label Studio import or another dashboard
        store.edit_move(con, move_id, editor="LS", source="label-studio", label=old)
    assert data.moves(aid).set_index("move_id").loc[move_id, "label"] == old, "the stamp notices outside writes"

    assert data.undo_last_edit(aid, "Ana's coach") is not None
    h = data.history(aid)
    assert list(h["action"])[:2] == ["undo", "relabel"] and h.iloc[0]["undoes_edit_id"] == h.iloc[2]["edit_id"]
    assert data.undo_last_edit(aid, "Nobody") is None


def test_prefetch_reads_an_attempt_once_in_parallel_and_leaves_errors_to_the_page(template, data, monkeypatch):
    """The attempt page's first view reads everything of the attempt up front, in parallel; the page's own
    reads then open no connection. A reader that fails is not raised by the prefetch but by the page's call."""
    import threading

    from cruxlab.errors import InputError

    aid = next(iter(template.video_paths))
    opened, threads = [], set()
    real_ro = data._ro

    def counting_ro(path):
        opened.append(path)
        threads.add(threading.current_thread().name)
        return real_ro(path)

    monkeypatch.setattr(data, "_ro", counting_ro)
    data.prefetch_attempt(aid)
    assert len(opened) == 7 and any(t.startswith("cruxlab-prefetch") for t in threads), (opened, threads)
    opened.clear()
    info = data.attempt_info(aid)
    sk, cams = data.skeleton(aid), data.cameras(aid)
    data.moves(aid, include_deleted=True), data.wall_points(aid), data.review_state(aid), data.wall_interval(aid)
    assert opened == [], "the page's reads are cache hits after the prefetch"
    assert sk.n_frames == info.n_frames and cams is not None

    data.prefetch_attempt(10_000)  # no such attempt: the prefetch says nothing...
    with pytest.raises(InputError, match="no attempt with id 10000"):
        data.attempt_info(10_000)  # ...the page's own read does


def test_status_of_missing_empty_and_ready_stores(template, data, tmp_path, monkeypatch):
    monkeypatch.setenv("CRUXLAB_DB", str(tmp_path / "none.duckdb"))
    assert data.status().state == "missing"
    with connect(tmp_path / "empty.duckdb"):
        pass
    monkeypatch.setenv("CRUXLAB_DB", str(tmp_path / "empty.duckdb"))
    assert data.status().state == "empty"
    monkeypatch.setenv("CRUXLAB_DB", str(template.db_path))
    s = data.status()
    assert (s.state, s.n_attempts, s.n_climbers) == ("ready", len(template.attempt_ids), 3)
    assert data.database_free()


# ---------------------------------------------------------------------------------------- CLI
def test_cli_takes_db_before_or_after_the_subcommand(tmp_path):
    from cruxlab.cli import build_parser
    from dashboard.cli import streamlit_command

    parser = build_parser()
    assert parser.parse_args(["--db", "a.duckdb", "dashboard"]).db == "a.duckdb"
    assert parser.parse_args(["dashboard", "--db", "b.duckdb", "--port", "8600"]).db == "b.duckdb"
    cmd = streamlit_command(tmp_path / "x.duckdb", 8600)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[-2:] == ["--db", str((tmp_path / "x.duckdb").resolve())]


def test_server_start_warms_heavy_imports_without_touching_streamlit():
    """`cruxlab dashboard` runs `streamlit run` through dashboard.serve, which imports the pages' heavy modules
    in a thread while the server starts. None of them may import streamlit (the thread runs beside the
    server's start: a dashboard module would create caches or register the player before the runtime exists);
    one that fails is reported, not raised (the page imports it and shows the error)."""
    import subprocess
    import sys

    from dashboard import serve
    from dashboard.cli import streamlit_command

    cmd = streamlit_command("x.duckdb", 8600)
    assert cmd[1:5] == ["-m", "dashboard.serve", "run", str(Path(serve.__file__).with_name("app.py"))]
    probe = ("import sys; from dashboard.serve import warm, WARM_MODULES; failed = warm(); "
             "print(failed, 'streamlit' in sys.modules, 'pandas' in sys.modules, 'plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["[]", "False", "True", "True"], out.stdout + out.stderr
    assert serve.warm(("json", "cruxlab_no_such_module")) == ["cruxlab_no_such_module"]
