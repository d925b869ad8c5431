"""The coach dashboard's pages, driven through streamlit.testing.v1.AppTest on a synthetic populated store.

Every page is rendered; interactions (pick a climber, an attempt, a move; correct a label, undo; run SQL)
go through the widgets and their effect is checked in DuckDB, not only on screen.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import plotly.graph_objects as go
from streamlit.testing.v1 import AppTest

from cruxlab.labels import MOVE_LABELS
from db import connect, store
from db.connection import SCHEMA_VERSION, migrations

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
COACH = "Coach Kim"


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _decode(obj):
    """Plotly's JSON typed arrays ({"dtype", "bdata", "shape"}) back to numpy, recursively."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            shape = obj.get("shape")
            return arr.reshape([int(n) for n in str(shape).split(",")]) if shape else arr
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def chart(at: AppTest, key: str) -> go.Figure:
    """The plotly figure of the chart with this key, as the browser receives it."""
    for c in at.get("plotly_chart"):
        if c.proto.id.endswith(f"-{key}"):
            return go.Figure(_decode(json.loads(c.proto.spec)), skip_invalid=True)
    raise AssertionError(f"no plotly chart with key {key!r}")


def trace(fig: go.Figure, name: str):
    return next(tr for tr in fig.data if tr.name == name)


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
                     + [w.value for w in at.warning] + [e.value for e in at.error] + [s.value for s in at.success])


def busiest(db: Path, ids: list[int], skip: int = 0) -> int:
    """The attempt with the most moves (or the next ones, with skip)."""
    with connect(db, read_only=True) as con:
        n = {aid: len(store.current_moves(con, aid)) for aid in ids}
    return sorted(ids, key=lambda a: (-n[a], a))[skip]


def db_moves(db: Path, attempt_id: int):
    with connect(db, read_only=True) as con:
        return store.current_moves(con, attempt_id, include_deleted=True).set_index("move_id")


# --------------------------------------------------------------------------------------- start page
def test_missing_database_shows_start_page_and_creates_nothing(tmp_path, monkeypatch):
    db = tmp_path / "nothing-here.duckdb"
    monkeypatch.setenv("CRUXLAB_DB", str(db))
    at = app()
    assert at.title[0].value.startswith("🧗 Welcome to cruxlab")
    assert "There is no database" in texts(at) and str(db) in texts(at)
    assert any("analyze climb.mp4" in c.value for c in at.code)
    assert not db.exists(), "the dashboard must not create a database by looking at it"


def test_empty_database_shows_start_page(tmp_path, monkeypatch):
    db = tmp_path / "empty.duckdb"
    with connect(db):
        pass
    monkeypatch.setenv("CRUXLAB_DB", str(db))
    at = app()
    assert "holds no attempt yet" in texts(at)
    assert at.title[0].value.startswith("🧗 Welcome")


def test_unreadable_file_gives_a_clear_message(tmp_path, monkeypatch):
    db = tmp_path / "notes.duckdb"
    db.write_text("this is not a database\n" * 50)
    monkeypatch.setenv("CRUXLAB_DB", str(db))
    at = app()
    assert any("not a DuckDB database" in e.value for e in at.error)


def test_older_schema_is_migrated_and_shown(template, tmp_path, monkeypatch):
    """A store written by cruxlab with only migration 001 (no views yet) opens populated."""
    old = tmp_path / "old.duckdb"
    first = migrations()[0]
    con = duckdb.connect(str(old))
    con.execute(first.sql)
    con.execute("INSERT INTO schema_migrations VALUES (1, ?, now())", [first.name])
    con.execute(f"ATTACH '{template.db_path}' AS src (READ_ONLY)")
    for table in ("climbers", "problems", "videos", "attempts", "skeleton_frames", "cameras", "wall_points", "moves"):
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()]
        con.execute(f"INSERT INTO {table} SELECT {', '.join(cols)} FROM src.{table}")
    con.execute("DETACH src")
    con.close()
    monkeypatch.setenv("CRUXLAB_DB", str(old))
    at = app()
    assert at.title[0].value == "Climbers & attempts"
    assert at.metric[0].value == str(len(template.attempt_ids))
    with connect(old, read_only=True) as con:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0] == SCHEMA_VERSION


# ---------------------------------------------------------------------------------- attempts page
def test_attempts_page_filters_by_climber_and_opens_an_attempt(demo):
    template, db = demo
    at = app()
    table = at.dataframe[0].value
    assert len(table) == len(template.attempt_ids)
    assert list(table["date"]) == sorted(table["date"], reverse=True), "newest first by default"

    at.button_group(key="climber_pick").set_value("Mia").run()
    table = at.dataframe[0].value
    assert set(table["climber"]) == {"Mia"} and len(table) == 2
    assert at.metric[0].value == "2"
    with connect(db, read_only=True) as con:
        mia = store.list_attempts(con).query("climber == 'Mia'")
    assert at.metric[3].value == str(int(mia["n_moves"].sum()))

    at.multiselect(key="problem_filter").set_value(["Blue crimps"]).run()
    table = at.dataframe[0].value
    assert list(table["attempt"]) == list(mia.query("problem == 'Blue crimps'")["attempt"])

    target = int(mia.query("problem == 'Blue crimps'")["attempt_id"].iloc[0])
    at.selectbox(key="open_pick").set_value(target).run()
    at.button[[b.label for b in at.button].index("Open attempt")].click().run()
    assert not at.exception
    assert at.subheader[0].value == mia.set_index("attempt_id").loc[target, "attempt"]


def test_attempts_page_search_and_sort(demo):
    at = app()
    at.text_input(key="attempt_search").input("roof").run()
    table = at.dataframe[0].value
    assert len(table) > 0 and table["problem"].str.contains("roof").all()
    at.selectbox(key="attempt_sort").set_value("Name").run()
    names = list(at.dataframe[0].value["attempt"])
    assert names == sorted(names)
    at.text_input(key="attempt_search").input("no-such-attempt").run()
    assert "No attempt matches" in texts(at)


# ----------------------------------------------------------------------------------- attempt page
def player_data(at: AppTest) -> dict:
    """What the page sent the browser player (dashboard.player): tracks, moves, selection, seek."""
    comps = [c for c in at.get("bidi_component") if c.proto.component_name == "cruxlab_player"]
    assert len(comps) == 1, "one player on the page"
    return json.loads(comps[0].proto.json)


def test_attempt_page_sends_the_player_the_attempt_and_its_moves(demo):
    template, db = demo
    video_attempt = template.attempt_ids[1]  # rendered video sampled at video frame 3 + 2 i
    at = app()
    at.session_state["attempt_id"] = video_attempt
    at.switch_page("views/attempt.py").run()
    assert not at.exception
    d = player_data(at)
    (track,) = d["tracks"]
    assert track["media_url"].endswith(".webm") and track["payload_url"].endswith(".json")
    assert (track["n_frames"], track["fps"]) == (300, 25.0)
    assert "video frames 3+2·i" in track["title"], "the caption says which video frames the attempt shows"
    moves = db_moves(db, video_attempt)
    shown = {r[0]: tuple(r[1:5]) for r in track["moves"]}
    assert shown == {mid: (m["label"], m["limb"], m["start_frame"], m["end_frame"]) for mid, m in moves.iterrows()}
    assert d["editable"] and [lab["name"] for lab in d["labels"]] == list(MOVE_LABELS)
    with connect(db, read_only=True) as con:
        wall = store.read_wall_interval(con, video_attempt)
    assert wall is not None, "the demo's detection stored when the climber was on the wall"
    assert track["on_wall"] == [wall.start_frame, wall.end_frame, f"{wall.start_reason} → {wall.end_reason}"]
    from moves.calibration import SURE

    assert d["low_confidence"] == SURE, "unsure = below the calibrated 'sure' threshold"
    assert [limb["id"] for limb in d["limbs"]] == ["left_hand", "right_hand", "left_foot", "right_foot", "body"]
    assert at.subheader[0].value == "janja-pink-roof-traverse-2"


def test_a_sessions_first_page_on_an_attempt_draws_the_player_first(demo):
    """A new browser tab opened on an attempt gets the player (asked to say when its first frame is on screen)
    and the title; the pickers, the forms and the sidebar come in the run after that. Later runs draw everything."""
    from dashboard import components as ui

    template, db = demo
    aid = template.attempt_ids[1]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["attempt"] = str(aid)
    at.switch_page("views/attempt.py").run()
    assert not at.exception
    d = player_data(at)
    assert d["notify_ready"] and len(d["tracks"]) == 1
    assert at.subheader[0].value == "janja-pink-roof-traverse-2", "the title holds the header's place"
    assert not at.sidebar.text_input and not at.selectbox and not at.expander, "no widgets on first paint"
    at.session_state[ui.FULL_PAGE_KEY] = True  # what the player's 'ready' event does (a browser test sends it)
    at.run()
    assert not at.exception
    assert not player_data(at)["notify_ready"]
    assert at.subheader[0].value == "janja-pink-roof-traverse-2" and at.selectbox(key="move_pick") is not None
    assert [t.key for t in at.sidebar.text_input] == ["coach"]

    at2 = app()  # a session that began on another page (its sidebar drawn): the attempt page comes whole
    at2.session_state["attempt_id"] = aid
    at2.switch_page("views/attempt.py").run()
    assert not player_data(at2)["notify_ready"] and at2.subheader and [t.key for t in at2.sidebar.text_input] == ["coach"]


def test_picking_a_move_moves_the_playhead_there_and_shows_its_joint_angles(demo):
    template, db = demo
    aid = busiest(db, template.attempt_ids)
    moves = db_moves(db, aid)
    move_id = int(moves.sort_values("start_frame").index[2])
    at = app()
    at.session_state["attempt_id"] = aid
    at.switch_page("views/attempt.py").run()
    assert player_data(at)["seek"] is None
    at.selectbox(key="move_pick").set_value(move_id).run()
    assert not at.exception
    d = player_data(at)
    assert d["selected"] == move_id and d["seek"]["frame"] == moves.loc[move_id, "start_frame"]
    names = {tr.name for tr in chart(at, "angles").data}
    assert {"left knee", "right elbow"} <= names
    assert any(f"Move #{move_id}" in c.value for c in at.caption)
    nonce = d["seek"]["nonce"]
    at.run()
    assert player_data(at)["seek"] is None, "a seek is sent once, not on every rerun"
    at.selectbox(key="move_pick").set_value(int(moves.sort_values("start_frame").index[0])).run()
    assert player_data(at)["seek"]["nonce"] != nonce


def template_skeleton(db: Path, attempt_id: int):
    with connect(db, read_only=True) as con:
        return store.read_skeleton(con, attempt_id)


def test_missing_video_file_falls_back_to_the_rendered_skeleton(demo, tmp_path):
    template, db = demo
    aid = template.attempt_ids[0]
    video = template.video_paths[aid]
    moved = tmp_path / "moved.mp4"
    shutil.move(video, moved)
    try:
        at = app()
        at.session_state["attempt_id"] = aid
        at.switch_page("views/attempt.py").run()
        assert not at.exception
        assert "is not on disk any more" in texts(at)
        (track,) = player_data(at)["tracks"]
        assert "media_url" not in track and track["image_url"].endswith(".png")
        assert "rendered view of the wall" in track["title"]
    finally:
        shutil.move(moved, video)


def test_skeleton_only_attempt_renders(demo):
    template, db = demo
    aid = template.attempt_ids[-1]
    at = app()
    at.session_state["attempt_id"] = aid
    at.switch_page("views/attempt.py").run()
    assert not at.exception
    (track,) = player_data(at)["tracks"]
    assert "rendered view of the wall (no video)" in track["title"]
    assert "not on disk" not in texts(at)


def test_the_correction_form_shows_the_stored_state_after_undo(demo):
    """Issue 10: after Undo the form still showed the undone label, and Save would have re-applied it."""
    template, db = demo
    aid = template.attempt_ids[2]
    move_id = int(db_moves(db, aid).index[0])
    old = db_moves(db, aid).loc[move_id, "label"]
    new = next(label for label in MOVE_LABELS if label != old)
    at = app()
    at.text_input(key="coach").input(COACH).run()
    at.session_state["attempt_id"] = aid
    at.switch_page("views/attempt.py").run()
    at.selectbox(key="move_pick").set_value(move_id).run()
    form = f"edit_attempt-{move_id}"
    at.selectbox(key=f"{form}-label").set_value(new)
    at.number_input(key=f"{form}-end").set_value(int(db_moves(db, aid).loc[move_id, "end_frame"]) + 1)
    at.button(key=f"FormSubmitter:{form}-Save correction").click().run()
    assert db_moves(db, aid).loc[move_id, "label"] == new
    at.button(key="undo_attempt").click().run()
    assert not at.exception
    stored = db_moves(db, aid).loc[move_id]
    assert stored["label"] == old
    assert at.selectbox(key=f"{form}-label").value == old, "the form shows the stored label, not the undone one"
    assert at.number_input(key=f"{form}-end").value == stored["end_frame"]
    at.button(key=f"FormSubmitter:{form}-Save correction").click().run()
    assert db_moves(db, aid).loc[move_id, "label"] == old, "saving the untouched form re-applies nothing"
    with connect(db, read_only=True) as con:
        assert list(store.label_history(con, attempt_id=aid)["action"]) == ["undo", "edit"]


# ----------------------------------------------------------------------------------------- labels
def _pick_move(at: AppTest, aid: int, move_id: int) -> None:
    at.session_state["attempt_id"] = aid
    at.switch_page("views/labels.py").run()
    at.selectbox(key="labels_move_pick").set_value(move_id).run()
    assert not at.exception


def test_edit_a_label_see_history_then_undo(demo):
    template, db = demo
    aid = template.attempt_ids[2]
    before = db_moves(db, aid)
    move_id = int(before.index[0])
    old = before.loc[move_id, "label"]
    new = next(label for label in MOVE_LABELS if label != old)
    at = app()
    at.text_input(key="coach").input(COACH).run()
    _pick_move(at, aid, move_id)
    form = f"edit_labels-{move_id}"
    at.selectbox(key=f"{form}-label").set_value(new)
    at.text_input(key=f"{form}-note").input("hand goes past the other")
    at.button(key=f"FormSubmitter:{form}-Save correction").click().run()
    assert not at.exception
    assert any(f"{old} → {new}" in s.value for s in at.success)

    after = db_moves(db, aid)
    assert after.loc[move_id, "label"] == new
    assert after.loc[move_id, "original_label"] == old, "the model's original stays visible"
    assert after.loc[move_id, "last_editor"] == COACH
    history = [d for d in at.dataframe if "coach" in d.value.columns][0].value
    row = history.iloc[0]
    assert (row["coach"], row["action"], row["source"]) == (COACH, "relabel", "dashboard")
    assert row["after"].startswith(new) and row["note"] == "hand goes past the other"
    table = at.dataframe[0].value.set_index("move")
    assert table.loc[move_id, "label"] == new and table.loc[move_id, "model said"] == old
    assert table.loc[move_id, "status"] == "edited"

    at.button(key="undo_labels").click().run()
    assert not at.exception
    undone = db_moves(db, aid)
    assert undone.loc[move_id, "label"] == old
    with connect(db, read_only=True) as con:
        h = store.label_history(con, attempt_id=aid)
    assert list(h["action"]) == ["undo", "relabel"] and set(h["editor"]) == {COACH}


def test_retime_delete_restore_and_add(demo):
    template, db = demo
    aid = busiest(db, template.attempt_ids, skip=1)
    before = db_moves(db, aid)
    move_id = int(before.index[1])
    s, e = int(before.loc[move_id, "start_frame"]), int(before.loc[move_id, "end_frame"])
    at = app()
    at.text_input(key="coach").input(COACH).run()
    _pick_move(at, aid, move_id)
    form = f"edit_labels-{move_id}"
    at.number_input(key=f"{form}-start").set_value(s + 2)
    at.number_input(key=f"{form}-end").set_value(e + 3)
    at.button(key=f"FormSubmitter:{form}-Save correction").click().run()
    m = db_moves(db, aid).loc[move_id]
    assert (m["start_frame"], m["end_frame"]) == (s + 2, e + 3)
    assert (m["original_start"], m["original_end"]) == (s, e)

    at.button(key=f"FormSubmitter:{form}-Delete move").click().run()
    assert bool(db_moves(db, aid).loc[move_id, "deleted"])
    assert "deleted" in at.dataframe[0].value.set_index("move").loc[move_id, "status"]
    at.button(key=f"{form}-restore").click().run()
    assert not bool(db_moves(db, aid).loc[move_id, "deleted"])

    add = "add_labels"
    at.selectbox(key=f"{add}-label").set_value("heel-hook")
    at.selectbox(key=f"{add}-limb").set_value("right_foot")
    at.number_input(key=f"{add}-start").set_value(5)
    at.number_input(key=f"{add}-end").set_value(30)
    at.button(key=f"FormSubmitter:{add}-Add move").click().run()
    assert not at.exception
    added = db_moves(db, aid).query("source == 'dashboard'")
    assert len(added) == 1
    row = added.iloc[0]
    assert (row["label"], row["limb"], row["start_frame"], row["end_frame"]) == ("heel-hook", "right_foot", 5, 30)
    with connect(db, read_only=True) as con:
        actions = list(store.label_history(con, attempt_id=aid)["action"])
    assert actions == ["add", "restore", "delete", "retime"]


def test_edit_needs_a_coach_name_and_invalid_frames_are_refused(demo):
    template, db = demo
    aid = template.attempt_ids[0]
    before = db_moves(db, aid)
    move_id = int(before.index[0])
    at = app()
    _pick_move(at, aid, move_id)
    form = f"edit_labels-{move_id}"
    at.selectbox(key=f"{form}-label").set_value("dyno")
    at.button(key=f"FormSubmitter:{form}-Save correction").click().run()
    assert any("Enter your name" in e.value for e in at.error)
    assert db_moves(db, aid).loc[move_id, "label"] == before.loc[move_id, "label"]

    at.text_input(key="coach").input(COACH).run()
    at.number_input(key=f"{form}-start").set_value(int(before.loc[move_id, "end_frame"]) + 5)
    at.button(key=f"FormSubmitter:{form}-Save correction").click().run()
    assert any("Not saved" in e.value and "not a valid interval" in e.value for e in at.error)
    with connect(db, read_only=True) as con:
        assert store.label_history(con).empty, "a refused edit writes nothing"


# ------------------------------------------------------------------------------------ statistics
def test_statistics_page_matches_the_views(demo):
    template, db = demo
    at = app("statistics")
    with connect(db, read_only=True) as con:
        per_label = con.execute("SELECT label, n_moves FROM moves_per_label").df().set_index("label")["n_moves"]
        n_moves = con.execute("SELECT count(*) FROM moves_current").fetchall()[0][0]
    overview = {m.label: m.value for m in at.metric[:5]}
    assert overview["Moves"] == str(n_moves) and overview["Attempts"] == str(len(template.attempt_ids))
    counts = chart(at, "stat_counts").data[0]
    assert dict(zip(counts.y, counts.x)) == per_label.to_dict()
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-stat_climber_counts")], \
        "closed tabs are not computed"
    at.session_state["stats_tab"] = "Per climber"
    at.run()
    heat = chart(at, "stat_climber_counts").data[0]
    assert sorted(heat.y) == ["Alex", "Janja", "Mia"]
    assert np.nansum(np.array(heat.z, dtype=float)) == n_moves

    at.session_state["stats_tab"] = "Per problem"
    at.run()
    heat = chart(at, "stat_problem_counts").data[0]
    assert sorted(heat.y) == ["Blue crimps", "Pink roof traverse"]
    # (two attempts side by side: the Compare page, tests/test_dashboard_compare.py)


# ------------------------------------------------------------------------------------------- SQL
def test_sql_page_runs_examples_and_refuses_writes(demo):
    template, db = demo
    at = app("sql")
    assert len(at.dataframe[0].value) > 0 and at.get("download_button")
    at.selectbox(key="sql_example").set_value("Slowest moves").run()
    at.button[[b.label for b in at.button].index("Run query")].click().run()
    assert list(at.dataframe[0].value.columns) == ["attempt", "climber", "label", "limb", "seconds"]

    with connect(db, read_only=True) as con:
        n = con.execute("SELECT count(*) FROM moves").fetchall()[0][0]
    for sql in ("DELETE FROM moves", "DROP TABLE moves", f"COPY moves TO '{db.parent / 'leak.csv'}'"):
        at.text_area(key="sql_text").input(sql)
        at.button[[b.label for b in at.button].index("Run query")].click().run()
        assert any("refused" in e.value or "read-only" in e.value for e in at.error), sql
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM moves").fetchall()[0][0] == n
    assert not (db.parent / "leak.csv").exists()


# ------------------------------------------------------------------------------------------ busy
LOCKER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("INSERT INTO climbers (name) VALUES ('visitor')")
print("locked", flush=True)
sys.stdin.read()
"""


def test_busy_database_shows_last_data_or_says_busy(demo, tmp_path):
    template, db = demo
    at = app()  # reads (and remembers) the attempts while the store is free
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        at.run()
        assert not at.exception
        assert at.title[0].value == "Climbers & attempts"
        assert any("Showing the data as last read" in i.value and "busy" in i.value for i in at.info)
        assert time.monotonic() - t0 < 10

        fresh = AppTest.from_file(str(APP), default_timeout=60)
        fresh.session_state["attempt_id"] = template.attempt_ids[0]
        fresh.run()
        fresh.switch_page("views/statistics.py").run()
        assert not fresh.exception
        assert any("database is busy" in w.value and "checks again" in w.value for w in fresh.warning), \
            "statistics never read before: nothing to fall back on, so the page says busy"
    finally:
        locker.stdin.close()
        locker.wait(10)
    at.run()
    assert not any("Showing the data as last read" in i.value for i in at.info)
    assert "visitor" not in at.dataframe[0].value["climber"].tolist()  # the visitor has no attempt
    assert at.sidebar and any("4 climbers" in c.value for c in at.sidebar.caption)


def test_confirm_a_move_and_review_the_attempt(demo):
    """Review state from the dashboard: 'Confirm as is' makes one move a training label, 'Mark attempt
    reviewed' all of them; the labels table says which; reopening takes it back."""
    template, db = demo
    aid = busiest(db, template.attempt_ids)
    assert len(db_moves(db, aid)) >= 2
    move_id = int(db_moves(db, aid).index[0])
    at = app()
    at.text_input(key="coach").input(COACH).run()
    _pick_move(at, aid, move_id)
    assert any("Not reviewed" in c.value and "0 of" in c.value for c in at.caption)
    at.button(key=f"FormSubmitter:edit_labels-{move_id}-Confirm as is").click().run()
    assert not at.exception
    m = db_moves(db, aid)
    assert m.loc[move_id, "confirmed"] and m["labelled"].sum() == 1
    assert at.dataframe[0].value.set_index("move").loc[move_id, "status"] == "confirmed"
    assert any("1 of" in c.value for c in at.caption)
    with connect(db, read_only=True) as con:
        assert store.label_history(con, attempt_id=aid).iloc[0][["action", "editor"]].tolist() == ["confirm", COACH]

    at.button(key="review_labels").click().run()
    assert not at.exception
    with connect(db, read_only=True) as con:
        rv = store.review_state(con, aid)
    assert rv.reviewed and rv.complete and rv.reviewed_by == COACH
    assert db_moves(db, aid).query("not deleted")["labelled"].all()
    statuses = set(at.dataframe[0].value["status"])
    assert statuses == {"confirmed", "reviewed"}, statuses
    assert any("Reviewed by" in c.value for c in at.caption)
    at.button(key="review_labels").click().run()  # reopen
    with connect(db, read_only=True) as con:
        assert not store.review_state(con, aid).reviewed
    assert db_moves(db, aid)["labelled"].sum() == 1, "the confirmation stays"
