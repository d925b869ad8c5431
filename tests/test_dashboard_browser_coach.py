"""The coach's pages in a real headless Chromium against `cruxlab dashboard` (a copy of the synthetic demo
store): upload a short real clip, watch the background analysis's progress, open the new attempt; a broken
video is refused with the analyzer's message and the store unchanged; attempt details edited in the form land
in DuckDB; the climber page draws; a move clip and the attempt's data download; two attempts play in sync on
the compare page. Screenshots go to artifacts/.

Needs Debian's chromium + chromium-driver (scripts/setup_browser.sh, run by `make test`)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import table_counts
from db import connect, store
from test_dashboard_browser import (browser, css, player_attr, player_state, server, shot,  # noqa: F401
                                    wait)  # (shared fixtures and helpers)

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
    """2 s of the tripod clip (6-8 s, every frame, 720 px), under a phone-like name; uploaded with "analyse
    ~12.5 frames/s": 25 frames, analysed in ~20 s on 2 cores."""
    from reconstruction.video import cut_video

    return cut_video(DATA / "warp-fixed-input.mp4", tmp_path_factory.mktemp("clip") / "IMG_0042 (copy).mp4",
                     6.0, 8.0, max_side=720)


def full_shot(driver, name: str) -> Path:
    """A screenshot of the whole page (the viewport stretched to the page's height, then put back)."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        "return Math.max(m.scrollHeight, document.body.scrollHeight);")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1600, "height": min(int(height) + 40, 4000), "deviceScaleFactor": 1,
                            "mobile": False})
    try:
        return shot(driver, name)
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False})


def open_expander(driver, title: str):
    """Open the expander with this title (again, if a rerun of the page closed it meanwhile); return it."""
    def opened(d):
        exp = next((e for e in css(d, '[data-testid="stExpander"]') if title in e.text), None)
        if exp is None:
            return None
        if css(exp, "details[open]") or exp.find_elements("xpath", "./details[@open]"):
            return exp
        css(exp, "summary")[0].click()
        time.sleep(0.5)
        return None
    return wait(driver, opened)


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
    open_expander(browser, "More options")
    choose(widget(browser, "stSelectbox", "Analyse"), "12.5")
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
            match = re.match(r"(.+?)(?: \((\d+) %\))? · (\d+) % overall", text)
            if match and (match.group(1), int(match.group(3))) not in seen:
                seen.append((match.group(1), int(match.group(3))))
                if match.group(1) == "finding the climber's pose" and match.group(2):
                    browser.save_screenshot(str(artifacts / "dashboard_upload_progress.png"))
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
    asked = json.loads((video.parent / "request.json").read_text())["request"]
    assert (asked["height_m"], asked["fps"], asked["grade"]) == (1.70, 12.5, "6B+"), "a new climber: 1.70 m"
    assert status["state"] == "done" and status["attempt_id"] == int(row.attempt_id)
    after = table_counts(db)
    assert after["attempts"] == before["attempts"] + 1 and after["skeleton_frames"] == before["skeleton_frames"] + 25

    next(b for b in css(browser, "button") if "Open attempt" in b.text).click()
    wait(browser, lambda d: any(h.text == row.attempt for h in css(d, "h1, h2, h3")))
    wait(browser, lambda d: player_attr(d, "ready") == "1", timeout=90)
    assert len(player_state(browser)["moves"]) == row.n_moves, "the player shows the new attempt's moves"
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
    open_expander(browser, f"Edit the details of {name}")
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


def test_climber_page_renders_its_charts(server, browser):
    url, db, _ = server
    with connect(db, read_only=True) as con:
        attempts = store.list_attempts(con)
    climber = attempts["climber"].value_counts().index[0]
    browser.get(f"{url}/climber")
    wait(browser, lambda d: any(h.text == "Climber" for h in css(d, "h1")))
    pill = wait(browser, lambda d: next((b for b in css(d, '[data-testid="stButtonGroup"] button')
                                         if b.text.strip() == climber), None))
    pill.click()
    charts = '[data-testid="stPlotlyChart"]'
    n = int((attempts["climber"] == climber).sum())
    wait(browser, lambda d: len(css(d, charts)) == 4
         and len(css(css(d, charts)[0], "g.scatterlayer g.trace:first-child path.point")) == n
         and len(css(css(d, charts)[2], "g.barlayer g.point")) == 2 * n)
    assert not css(browser, '[data-testid="stException"]')
    full_shot(browser, "dashboard_climber.png")

    # a click on the newest attempt's row opens it; coming back stays on the climber page
    from selenium.webdriver.common.action_chains import ActionChains

    newest = attempts[attempts["climber"] == climber].sort_values("date").iloc[-1]["attempt"]
    grid = css(browser, '[data-testid="stDataFrame"]')[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", grid)
    time.sleep(0.5)
    w, h = grid.size["width"], grid.size["height"]
    ActionChains(browser).move_to_element_with_offset(grid, -w // 2 + 14, -h // 2 + 35 + 17).click().perform()
    wait(browser, lambda d: any(x.text == newest for x in css(d, "h1, h2, h3")))
    wait(browser, lambda d: next((a for a in css(d, '[data-testid="stSidebar"] a')
                                  if a.text.strip().endswith("Climber")), None)).click()
    wait(browser, lambda d: any(h.text == "Climber" for h in css(d, "h1")))   # same session, via the sidebar
    time.sleep(3)
    assert any(h.text == "Climber" for h in css(browser, "h1")), "the old selection does not open it again"


def test_download_a_clip_of_a_move_and_the_attempts_data(server, browser, tmp_path):
    """The download buttons make their files when clicked (in a thread of the server): a GIF of the selected
    move and the attempt's CSV export arrive in the browser's download folder."""
    import io
    import zipfile

    from PIL import Image

    url, db, demo = server
    aid = demo.attempt_ids[1]
    with connect(db, read_only=True) as con:
        info = store.attempt_info(con, aid)
        move = store.current_moves(con, aid).sort_values("start_frame").iloc[0]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.get(f"{url}/attempt?attempt={aid}")
    wait(browser, lambda d: player_attr(d, "ready") == "1", timeout=90)
    choose(widget(browser, "stSelectbox", "Selected move"), f"{move['label']} ·")
    wait(browser, lambda d: any(f"Move #{move['move_id']} " in c.text
                                for c in css(d, '[data-testid="stCaptionContainer"]')))
    expander = open_expander(browser, "Export: clip of the move")
    gif = wait(browser, lambda d: next((b for b in css(d, '[data-testid="stDownloadButton"] button')
                                        if b.text.strip().endswith("GIF")), None))
    assert wait(browser, lambda d: f"Clip of the selected {move['label']}" in expander.text)
    full_shot(browser, "dashboard_attempt_export.png")
    gif.click()
    got = wait(browser, lambda d: [p for p in downloads.glob("*.gif") if p.stat().st_size], timeout=90)[0]
    assert got.name.startswith(f"{info.name}-{move['label']}-")
    im = Image.open(got)
    assert im.n_frames > 5
    csv = next(b for b in css(browser, '[data-testid="stDownloadButton"] button') if b.text.strip().endswith("CSV"))
    csv.click()
    got = wait(browser, lambda d: [p for p in downloads.glob("*.zip") if p.stat().st_size], timeout=60)[0]
    assert set(zipfile.ZipFile(io.BytesIO(got.read_bytes())).namelist()) == {
        "moves.csv", "label_history.csv", "skeletons.csv"}


def test_compare_plays_two_attempts_in_sync(server, browser):
    """The demo's two attempts with videos (two problems), lined up on their first moves: while playing, both
    videos show the times the offsets promise (B's time - A's time stays = offset A - offset B). (Any two
    attempts: the AppTest compares different climbers on different problems.)"""
    from test_dashboard_browser import PLAYER

    url, db, demo = server
    a, b = sorted(demo.video_paths)[:2]
    browser.get(f"{url}/compare?a={a}&b={b}")
    wait(browser, lambda d: player_attr(d, "ready") == "1", timeout=120)
    offsets = browser.execute_script(f"return {PLAYER}.tracks.map((t) => t.offset);")
    assert len(offsets) == 2 and max(offsets) > 0, offsets
    full_shot(browser, "dashboard_compare.png")
    # start where both are under way (the later one starts max(offsets) s into the shared clock)
    start = int(round((max(offsets) + 0.5 - offsets[0]) * 25))
    samples = browser.execute_async_script(f"""
        const done = arguments[arguments.length - 1];
        const p = {PLAYER}, out = [];
        p.seekFrame({start});
        await new Promise((r) => setTimeout(r, 500));
        p.togglePlay();
        const t0 = performance.now();
        const tick = () => {{
            out.push(p.tracks.map((t) => [t.frame, t.fps, t.isVideo ? t.media.currentTime : null, t.offset]));
            if (performance.now() - t0 < 3000) requestAnimationFrame(tick); else {{ p.togglePlay(); done(out); }}
        }};
        requestAnimationFrame(tick);
    """)
    shot(browser, "dashboard_compare_playing.png")
    (fa0, fps_a, _, oa), (fb0, fps_b, _, ob) = samples[0]
    (fa1, *_), (fb1, *_) = samples[-1]
    assert fa1 > fa0 + 20 and fb1 > fb0 + 20, "both attempts play"
    late = samples[len(samples) // 4:]   # after the videos got going
    lag = [sb[2] - sa[2] for sa, sb in late if sa[2] is not None and sb[2] is not None
           and 0 < sa[0] < 290 and 0 < sb[0] < 290]  # (neither before its start nor at its end)
    assert lag, "both are videos"
    drift = np.abs(np.array(lag) - (oa - ob))
    print(f"\ncompare sync: offsets {oa:.2f}/{ob:.2f} s, video time difference {np.median(lag):.3f} s "
          f"(max drift {drift.max() * 1000:.0f} ms over {len(lag)} samples)")
    assert np.median(drift) < 1.5 / fps_a and drift.max() < 0.25, "the two videos stay in sync"
