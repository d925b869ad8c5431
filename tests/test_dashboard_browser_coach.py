"""The coach's pages in a real headless Chromium against `cruxlab dashboard` (a copy of the synthetic demo
store): upload a short real clip, watch the background analysis's progress, open the new attempt; a broken
video is refused with the analyzer's message and the store unchanged; attempt details edited in the form land
in DuckDB. Screenshots go to artifacts/.

Needs Debian's chromium + chromium-driver (scripts/setup_browser.sh, run by `make test`)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from conftest import table_counts
from db import connect, store
from test_dashboard_browser import browser, css, server, shot, wait  # noqa: F401  (shared fixtures, helpers)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[1] / "data" / "climbing"
Keys = pytest.importorskip("selenium.webdriver.common.keys").Keys
StaleElementReferenceException = pytest.importorskip("selenium.common.exceptions").StaleElementReferenceException


@pytest.fixture(scope="module", autouse=True)
def fresh_stage_cache(tmp_path_factory):
    """The server (and the analyses it starts) use an empty stage cache: the measured time is a real analysis."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRUXLAB_CACHE", str(tmp_path_factory.mktemp("stage-cache")))
        yield


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """2 s of the tripod clip (6-8 s) at 12.5 fps, 720 px: 25 frames, analysed in ~20 s on 2 cores."""
    import numpy as np

    from reconstruction.video import iter_batches, probe, select_frames, write_video

    info = probe(DATA / "warp-fixed-input.mp4")
    rng = select_frames(info, start_s=6.0, end_s=8.0, fps=12.5)
    frames = np.concatenate([b.frames for b in iter_batches(info, rng, max_side=720)])
    return write_video(tmp_path_factory.mktemp("clip") / "IMG_0042 (copy).mp4", list(frames), 12.5)


def choose(box, text: str) -> None:
    """Type into a Streamlit selectbox (a new option when it accepts them) and pick it."""
    box.click()
    field = css(box, "input")[0]
    field.send_keys(text)
    time.sleep(0.3)
    field.send_keys(Keys.ENTER)


def widget(root, testid: str, label: str):
    """The widget of this kind and label under `root` (the page or a form), once it is rendered."""
    return wait(root, lambda r: next((w for w in css(r, f'[data-testid="{testid}"]')
                                      if css(w, "label") and css(w, "label")[0].text.strip() == label), None))


def retype(field, text: str) -> None:
    """Replace a text input's content (Selenium's clear() does not reach React's state)."""
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def alerts(driver) -> list[str]:
    return [a.text for a in css(driver, '[data-testid="stAlert"]')]


def test_upload_a_video_see_it_analysed_and_open_it(server, browser, short_clip, artifacts):
    url, db, _ = server
    before = table_counts(db)
    browser.get(f"{url}/upload")
    wait(browser, lambda d: any(h.text == "Upload a video" for h in css(d, "h1")))
    wait(browser, lambda d: css(d, 'input[type="file"]'))[0].send_keys(str(short_clip))
    wait(browser, lambda d: short_clip.name in css(d, '[data-testid="stFileUploader"]')[0].text)
    choose(widget(browser, "stSelectbox", "Climber"), "Tommy")
    choose(widget(browser, "stSelectbox", "Problem"), "Red 5")
    css(widget(browser, "stTextInput", "Grade"), "input")[0].send_keys("6b+")
    choose(widget(browser, "stSelectbox", "Outcome"), "top")
    shot(browser, "dashboard_upload_form.png")
    t0 = time.monotonic()
    next(b for b in css(browser, "button") if "Upload and analyse" in b.text).click()

    # progress: the stage and percentages while it runs (the page polls the job's status file), then the
    # result with an Open button
    seen: list[tuple[str, int]] = []
    done = None
    while done is None and time.monotonic() - t0 < 240:
        try:
            bars = [p.text for p in css(browser, '[data-testid="stProgress"]')]
            done = next((a for a in alerts(browser) if "upload to analysed in" in a), None)
        except StaleElementReferenceException:
            continue
        for text in bars:
            match = re.match(r"(.+?) · (\d+) % of this step · (\d+) % overall", text)
            if match and (match.group(1), int(match.group(3))) not in seen:
                seen.append((match.group(1), int(match.group(3))))
                if match.group(1) == "finding the climber's pose" and int(match.group(2)) > 0:
                    shot(browser, "dashboard_upload_progress.png")
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    assert done is not None, f"not analysed after 240 s; progress seen: {seen}"
    assert "analysed: 25 frames at 12.5 fps" in done
    stages = list(dict.fromkeys(stage for stage, _ in seen))
    assert len(stages) >= 2 and "finding the climber's pose" in stages, seen
    overall = [pct for _, pct in seen]
    assert overall == sorted(overall), f"overall progress went back: {seen}"
    shot(browser, "dashboard_upload_done.png")

    with connect(db, read_only=True) as con:
        rows = store.list_attempts(con).query("climber == 'Tommy'")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row.problem, row.grade, row.outcome, row.n_frames) == ("Red 5", "6B+", "top", 25)
    assert row.attempt.startswith("tommy-red-5-")
    video = Path(row.video_path)
    assert video.is_file() and video.parent.parent == db.parent / "uploads"
    assert video.name == f"{row.attempt}.mp4" and "IMG" not in str(video), "never the uploaded file's name"
    status = json.loads((video.parent / "status.json").read_text())
    assert status["state"] == "done" and status["attempt_id"] == int(row.attempt_id)
    after = table_counts(db)
    assert after["attempts"] == before["attempts"] + 1 and after["skeleton_frames"] == before["skeleton_frames"] + 25

    next(b for b in css(browser, "button") if "Open attempt" in b.text).click()
    wait(browser, lambda d: any(h.text == row.attempt for h in css(d, "h1")))
    wait(browser, lambda d: css(d, '[data-testid="stImage"] img') and css(d, ".gl-container canvas"))
    shot(browser, "dashboard_uploaded_attempt.png")
    print(f"\nupload to analysed (browser clock): {elapsed:.1f} s; status file: "
          f"{status['finished_at']} - {status['submitted_at']}")


def test_a_broken_video_fails_with_the_analyzers_message_and_stores_nothing(server, browser, tmp_path):
    url, db, _ = server
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 200)
    before = table_counts(db)
    browser.get(f"{url}/upload")
    wait(browser, lambda d: any(h.text == "Upload a video" for h in css(d, "h1")))
    wait(browser, lambda d: css(d, 'input[type="file"]'))[0].send_keys(str(bad))
    wait(browser, lambda d: "broken.mp4" in css(d, '[data-testid="stFileUploader"]')[0].text)
    choose(widget(browser, "stSelectbox", "Climber"), "Mia")
    next(b for b in css(browser, "button") if "Upload and analyse" in b.text).click()
    failed = wait(browser, lambda d: next((a for a in alerts(d) if "The analysis failed" in a), None), timeout=90)
    assert "not a readable video" in failed and "'broken.mp4'" in failed and "uploads/" not in failed
    shot(browser, "dashboard_upload_failed.png")
    assert table_counts(db) == before
    job = sorted((db.parent / "uploads").iterdir())[-1]
    assert not list(job.glob("*.mp4")), "the failed upload's video is not kept"


def test_edit_attempt_details_in_the_browser_lands_in_duckdb(server, browser):
    url, db, demo = server
    aid = demo.attempt_ids[3]
    browser.get(f"{url}/?attempt={aid}")
    wait(browser, lambda d: any(h.text == "Climbers & attempts" for h in css(d, "h1")))
    with connect(db, read_only=True) as con:
        name = store.attempt_info(con, aid).name
    choose(widget(browser, "stSelectbox", "Selected attempt"), name)
    expander = wait(browser, lambda d: next((e for e in css(d, '[data-testid="stExpander"]')
                                             if f"Edit the details of {name}" in e.text), None))
    css(expander, "summary")[0].click()
    form = wait(browser, lambda d: next((f for f in css(d, '[data-testid="stForm"]') if "Save details" in f.text),
                                        None))
    choose(widget(form, "stSelectbox", "Climber"), "Adam Ondra")       # a new climber, typed in
    choose(widget(form, "stSelectbox", "Problem"), "Green slab")       # a new problem
    retype(css(widget(form, "stTextInput", "Grade"), "input")[0], "V18")  # not a grade: refused, nothing saved
    next(b for b in css(form, "button") if "Save details" in b.text).click()
    error = wait(browser, lambda d: next((a for a in alerts(d) if "Not saved" in a), None))
    assert "neither a V grade" in error
    with connect(db, read_only=True) as con:
        assert store.attempt_info(con, aid).climber != "Adam Ondra"
    form = wait(browser, lambda d: next((f for f in css(d, '[data-testid="stForm"]') if "Save details" in f.text),
                                        None))
    retype(css(widget(form, "stTextInput", "Grade"), "input")[0], "v4")
    next(b for b in css(form, "button") if "Save details" in b.text).click()
    saved = wait(browser, lambda d: next((a for a in alerts(d) if "Saved:" in a), None))
    assert "climber" in saved and "Adam Ondra" in saved
    shot(browser, "dashboard_edit_details.png")
    with connect(db, read_only=True) as con:
        row = store.list_attempts(con).set_index("attempt_id").loc[aid]
    assert (row.climber, row.problem, row.grade) == ("Adam Ondra", "Green slab", "V4")
