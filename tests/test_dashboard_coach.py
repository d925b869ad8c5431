"""The coach's own pages and forms (AppTest on the synthetic demo store): attempt details edited through the
form and checked in DuckDB, corrections counted net of undos, missing metadata shown as nothing."""

from __future__ import annotations

from datetime import date, datetime, time as dt_time

import pandas as pd

from db import connect, store
from test_dashboard_app import COACH, app, texts


def listed(db, attempt_id: int) -> pd.Series:
    with connect(db, read_only=True) as con:
        return store.list_attempts(con).set_index("attempt_id").loc[attempt_id]


def open_editor(at, aid: int) -> str:
    """Select `aid` on the attempts page; return the key prefix of its details form."""
    at.selectbox(key="open_pick").set_value(aid).run()
    keys = [w.key for w in at.selectbox if w.key and w.key.startswith(f"meta_attempts-{aid}-")]
    assert keys, "the details form of the selected attempt is on the page"
    return keys[0].rsplit("-", 1)[0]


# ---------------------------------------------------------------------------------------- metadata
def test_edit_attempt_details_lands_in_duckdb(demo):
    """(Typing a new climber or problem into the pickers is covered by the browser test: AppTest's selectbox
    only sets listed options.)"""
    template, db = demo
    aid = template.attempt_ids[0]
    before = listed(db, aid)
    other = next(p for p in ("Blue crimps", "Pink roof traverse") if p != before.problem)
    at = app()
    form = open_editor(at, aid)
    at.selectbox(key=f"{form}-problem").set_value(other)
    at.text_input(key=f"{form}-grade").input("6b+")
    at.selectbox(key=f"{form}-outcome").set_value("top")
    at.date_input(key=f"{form}-day").set_value(date(2026, 10, 3))
    at.time_input(key=f"{form}-time").set_value(dt_time(18, 45))
    at.button(key=f"FormSubmitter:{form}-Save details").click().run()
    assert not at.exception
    saved = next(s.value for s in at.success if s.value.startswith("Saved:"))
    assert f"problem {before.problem} → {other}" in saved and "→ 6B+" in saved and "date" in saved
    after = listed(db, aid)
    assert (after.problem, after.grade, after.outcome, after.climber) == (other, "6B+", "top", before.climber)
    assert after.recorded_at == pd.Timestamp(datetime(2026, 10, 3, 18, 45))
    with connect(db, read_only=True) as con:   # the grade is the problem's: all its attempts show it
        grades = con.execute("SELECT DISTINCT grade FROM move_details WHERE problem = ?", [other]).fetchall()
    assert grades == [("6B+",)]
    # the table shows the new details at once, and the form starts from the stored values again
    table = at.dataframe[0].value.set_index("attempt")
    assert table.loc[after.attempt, "problem"] == f"{other} (6B+)" and table.loc[after.attempt, "outcome"] == "top"
    form = open_editor(at, aid)
    assert at.text_input(key=f"{form}-grade").value == "6B+"
    assert at.selectbox(key=f"{form}-problem").value == other

    # another climber, and no problem at all (the grade goes with the problem)
    at.selectbox(key=f"{form}-climber").set_value("Mia")
    at.selectbox(key=f"{form}-problem").set_value("(no problem)")
    at.text_input(key=f"{form}-grade").input("")
    at.button(key=f"FormSubmitter:{form}-Save details").click().run()
    after = listed(db, aid)
    assert after.climber == "Mia" and pd.isna(after.problem) and pd.isna(after.grade)


def test_invalid_details_are_refused_with_the_fix_and_nothing_changes(demo):
    template, db = demo
    aid = template.attempt_ids[1]
    with connect(db, read_only=True) as con:
        before = con.execute("SELECT * FROM attempts ORDER BY attempt_id").fetchall()
        problems = con.execute("SELECT * FROM problems ORDER BY problem_id").fetchall()
    at = app()
    form = open_editor(at, aid)
    at.text_input(key=f"{form}-grade").input("5.12a")
    at.selectbox(key=f"{form}-outcome").set_value("top")
    at.button(key=f"FormSubmitter:{form}-Save details").click().run()
    error = next(e.value for e in at.error)
    assert error.startswith("Not saved") and "neither a V grade" in error and "6B+" in error
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT * FROM attempts ORDER BY attempt_id").fetchall() == before
        assert con.execute("SELECT * FROM problems ORDER BY problem_id").fetchall() == problems
    # what the coach typed stays in the form, to correct it
    assert at.text_input(key=f"{form}-grade").value == "5.12a"


def test_missing_details_are_shown_as_nothing(demo):
    """'Red 5 (None, None)' was the attempt header of a problem without grade and wall."""
    template, db = demo
    aid = template.attempt_ids[0]
    with connect(db) as con:
        store.update_attempt(con, aid, problem="Red 5", grade=None, outcome=None)
    at = app()
    at.session_state["attempt_id"] = aid
    at.switch_page("views/attempt.py").run()
    header = next(m.value for m in at.markdown if "Red 5" in m.value)
    assert "Red 5 ·" in header and "None" not in header and "nan" not in header
    assert "outcome unknown" in header


# ------------------------------------------------------------------------------------- corrections
def test_corrections_count_net_of_undos(demo):
    template, db = demo
    aid = template.attempt_ids[2]
    at = app()
    at.text_input(key="coach").input(COACH).run()
    at.session_state["attempt_id"] = aid
    at.switch_page("views/labels.py").run()
    with connect(db, read_only=True) as con:
        move_id = int(store.current_moves(con, aid).move_id.iloc[0])
    at.selectbox(key="labels_move_pick").set_value(move_id).run()
    form = f"edit_labels-{move_id}"
    at.button(key=f"FormSubmitter:{form}-Delete move").click().run()
    assert any("1 corrections" in c.value for c in at.sidebar.caption)
    at.button(key="undo_labels").click().run()
    assert not at.exception
    with connect(db, read_only=True) as con:
        assert len(store.label_history(con, attempt_id=aid)) == 2     # the delete and its undo stay in history
    assert any("· 0 corrections" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
    at.switch_page("views/attempt.py").run()
    assert "· 0 corrected" in texts(at)
    assert "None" not in texts(at)


# ------------------------------------------------------------------------------------------- upload
def fake_job(root, name: str, **status) -> None:
    """A job folder as dashboard.jobs leaves it (no process: final states only, or a live PID)."""
    import dataclasses
    import json

    from dashboard import jobs

    job = root / name
    job.mkdir(parents=True)
    request = jobs.AnalysisRequest(climber="Tommy", name=f"tommy-{name}", problem="Red 5", grade="6B+")
    (job / "request.json").write_text(json.dumps({"request": dataclasses.asdict(request), "db": "x", "video": "v.mp4"}))
    jobs.write_status(job, jobs.JobStatus(job_id=name, submitted_at="2026-11-30T10:00:00+00:00", **status))


def test_upload_page_lists_jobs_with_progress_results_and_errors(demo, tmp_path, monkeypatch):
    import os

    template, db = demo
    root = tmp_path / "uploads"
    monkeypatch.setenv("CRUXLAB_UPLOADS", str(root))
    fake_job(root, "20261130-100000-aaaa", state="done", attempt_id=template.attempt_ids[1], created=True,
             message="analysed: 25 frames at 12.5 fps", finished_at="2026-11-30T10:00:21+00:00")
    fake_job(root, "20261130-100100-bbbb", state="failed", message="clip.mp4 is not a readable video",
             finished_at="2026-11-30T10:01:02+00:00")
    (root / "20261130-100100-bbbb" / "log.txt").write_text("cruxlab: error: clip.mp4 is not a readable video\n")
    fake_job(root, "20261130-100200-cccc", state="running", stage="pose", stage_fraction=0.5, overall=0.28,
             pid=os.getpid())  # "alive": the test process itself (its command line names no job: see below)
    at = app("upload")
    assert at.title[0].value == "Upload a video"
    assert any("upload to analysed in 21 s" in s.value for s in at.success)
    assert any("The analysis failed" in e.value and "not a readable video" in e.value for e in at.error)
    # the running job's PID is not a runner of that job: reported failed, never waited for
    assert any("stopped without finishing" in e.value for e in at.error)
    at.button(key="open-20261130-100000-aaaa").click().run()
    assert not at.exception
    assert at.subheader[0].value == listed(db, template.attempt_ids[1]).attempt, "Open attempt opens the attempt"


def test_upload_form_says_what_is_missing(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("CRUXLAB_UPLOADS", str(tmp_path / "uploads"))
    at = app("upload")
    at.button(key="FormSubmitter:upload-Upload and analyse").click().run()
    assert any("Not started: choose a video file first" in e.value for e in at.error)
    assert not (tmp_path / "uploads").exists()


def test_an_empty_store_offers_the_upload_page(tmp_path, monkeypatch):
    monkeypatch.setenv("CRUXLAB_DB", str(tmp_path / "new.duckdb"))
    at = app()
    assert at.title[0].value.startswith("🧗 Welcome")
    at.switch_page("views/upload.py").run()
    assert not at.exception and at.title[0].value == "Upload a video"
    assert not (tmp_path / "new.duckdb").exists(), "looking at the page creates no database"


# ------------------------------------------------------------------------------------------ climber
def test_climber_page_draws_the_climbers_attempts_moves_and_progress(demo):
    import numpy as np

    from test_dashboard_app import chart

    template, db = demo
    with connect(db, read_only=True) as con:
        mia = store.list_attempts(con).query("climber == 'Mia'").sort_values("date")
        labels = con.execute("SELECT label, count(*) FROM move_details WHERE climber = 'Mia' GROUP BY label").fetchall()
        activity = con.execute("SELECT attempt, moving_s, still_s FROM attempt_activity WHERE climber = 'Mia'").df()
    at = app("climber")
    at.button_group(key="climber_page").set_value("Mia").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Attempts"] == str(len(mia)) and metrics["Moves"] == str(int(mia["n_moves"].sum()))
    assert metrics["Tops"] == str(int((mia["outcome"] == "top").sum()))

    timeline = chart(at, "climber_timeline").data[0]
    assert [c[0] for c in timeline.customdata] == list(mia["attempt"]), "one marker per attempt, in date order"
    assert list(timeline.y) == list(mia["problem"])
    bars = chart(at, "climber_labels").data[0]
    assert dict(zip(bars.y, bars.x)) == dict(labels)
    moving, still = chart(at, "climber_activity").data
    by_attempt = activity.set_index("attempt")
    assert np.allclose(moving.y, by_attempt.loc[mia["attempt"], "moving_s"])
    assert np.allclose(np.asarray(moving.y) + np.asarray(still.y), mia["duration_s"]), "moving + still = on the wall"

    progress = chart(at, "climber_progress")
    per_problem = {tr.name: list(tr.y) for tr in progress.data}
    rate = mia.assign(r=mia["n_moves"] * 60 / mia["duration_s"])
    assert per_problem == {p: list(g["r"]) for p, g in rate.groupby("problem")}
    at.segmented_control(key="climber_measure").set_value("n_moves").run()
    progress = chart(at, "climber_progress")
    assert sorted(v for tr in progress.data for v in tr.y) == sorted(mia["n_moves"])
    assert progress.layout.yaxis.title.text == "moves"



def test_climber_page_follows_the_current_attempt(demo):
    template, db = demo
    aid = template.attempt_ids[-1]
    with connect(db, read_only=True) as con:
        climber = store.attempt_info(con, aid).climber
    at = app()
    at.session_state["attempt_id"] = aid
    at.switch_page("views/climber.py").run()
    assert at.button_group(key="climber_page").value == climber


# ------------------------------------------------------------------------------------------- export
def test_attempt_page_offers_clip_and_data_downloads(demo):
    template, db = demo
    aid = template.attempt_ids[1]
    with connect(db, read_only=True) as con:
        move = store.current_moves(con, aid).iloc[0]
    at = app()
    at.session_state["attempt_id"] = aid
    at.switch_page("views/attempt.py").run()
    names = lambda: {b.proto.label: b for b in at.get("download_button")}  # noqa: E731
    assert not names(), "a closed export panel sends nothing (a cold page loads no download-button code)"
    at.session_state["attempt_export_box"] = True  # the coach opens it
    at.run()
    assert {"CSV", "Parquet", "Skeleton .npz"} <= set(names()) and "MP4" not in names()
    assert "Select a move" in texts(at)
    at.selectbox(key="move_pick").set_value(int(move["move_id"])).run()
    assert not at.exception
    buttons = names()
    assert {"MP4", "GIF"} <= set(buttons)
    assert f"Clip of the selected {move['label']}" in texts(at)
