"""End to end in a real headless Chromium: `cruxlab dashboard`'s Streamlit server on a free 127.0.0.1 port (one
server for the module). The attempt player plays the video at real time, steps frames and moves with the
keyboard, edits at the playhead land in DuckDB, and after Undo the form shows the stored state; the phone
layout keeps the sidebar out of the way. Screenshots go to artifacts/.

Needs Debian's chromium + chromium-driver (scripts/setup_browser.sh, run by `make test`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cruxlab.draw import EFFECTOR_COLORS, hex_rgb
from cruxlab.joints import EFFECTOR_LIMBS
from cruxlab.processes import free_port
from dashboard.cli import wait_healthy
from db import connect, store

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
COACH = "E2E Coach"

webdriver = pytest.importorskip("selenium.webdriver")
if not (shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("chromium-browser"))):
    pytest.skip("needs chromium + chromedriver: run scripts/setup_browser.sh", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory, template):
    """The dashboard server (subprocess, stopped by PID) on a synthetic store; yields (url, db, demo)."""
    root = tmp_path_factory.mktemp("dash_e2e")
    demo = template
    db = root / "demo.duckdb"
    shutil.copy(demo.db_path, db)
    port = free_port()
    log = open(root / "streamlit.log", "w")
    # through the real command line: `cruxlab --db DB dashboard --port N` becomes the server (same PID)
    env = dict(os.environ, CRUXLAB_CACHE=str(root / "cache"))  # playback videos made here, not in ./cache
    proc = subprocess.Popen([sys.executable, "-m", "cruxlab.cli", "--db", str(db), "dashboard",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(url, proc, timeout_s=60), (
            f"the dashboard server did not become healthy in 60 s:\n{(root / 'streamlit.log').read_text()}")
        yield url, db, demo
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
                "--enable-unsafe-swiftshader", "--lang=en-US", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    # the viewport itself at 1600 x 1000 (a laptop screen), whatever the window decorations take
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, what, timeout: float = 45):
    """Poll `what(driver)` until truthy; Streamlit re-renders elements, so stale references just retry."""
    return WebDriverWait(driver, timeout, poll_frequency=0.25,
                         ignored_exceptions=(StaleElementReferenceException,)).until(what)


def caption_with(driver, text: str) -> str | None:
    return next((c.text for c in css(driver, '[data-testid="stCaptionContainer"]') if text in c.text), None)


def css(root, selector):
    return root.find_elements(By.CSS_SELECTOR, selector)


def shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    time.sleep(1.0)  # let plotly finish its transitions
    driver.save_screenshot(str(path))
    return path


PLAYER = "(window.__cruxlabPlayers || []).find((p) => p.root.isConnected)"


def player_state(driver) -> dict | None:
    """The player's own state (dashboard/player/frontend/player.js): frame, playing, selected, moves, timings."""
    return driver.execute_script(f"const p = {PLAYER}; return p ? p.state() : null;")


def player_attr(driver, name: str) -> str | None:
    return driver.execute_script(f"const p = {PLAYER}; return p ? p.root.dataset[arguments[0]] : null;", name)


def open_attempt(driver, url: str, attempt_id: int) -> dict:
    driver.get(f"{url}/attempt?attempt={attempt_id}")
    wait(driver, lambda d: player_attr(d, "ready") == "1", timeout=90)
    # a new session's first page is the player alone until its first frame: then the rest comes (the player's
    # 'ready' event reruns the page): the header's attempt picker and the sidebar's coach field
    wait(driver, lambda d: css(d, 'input[aria-label="Attempt"]') and css(d, 'input[aria-label="Coach"]'), timeout=20)
    return player_state(driver)


def sign_in(driver, name: str = COACH) -> None:
    """Type the coach's name into the sidebar (edits are recorded under it), then leave the field so the
    player gets the keys again."""
    coach = css(driver, 'input[aria-label="Coach"]')[0]
    coach.clear()
    coach.send_keys(name + Keys.ENTER)
    time.sleep(1.0)
    driver.execute_script("document.activeElement && document.activeElement.blur()")


def press(driver, *keys, shift: bool = False) -> None:
    chain = ActionChains(driver)
    if shift:
        chain = chain.key_down(Keys.SHIFT)
    for k in keys:
        chain = chain.send_keys(k)
    if shift:
        chain = chain.key_up(Keys.SHIFT)
    chain.perform()


def frame_on_screen(driver, frame: int) -> bool:
    return player_attr(driver, "frame") == str(frame) and player_attr(driver, "videoFrame") == str(frame)


def history(db, attempt_id):
    with connect(db, read_only=True) as con:
        return store.label_history(con, attempt_id=attempt_id)


def form_value(driver, label: str) -> str | None:
    form = next((f for f in css(driver, '[data-testid="stForm"]') if "Save correction" in f.text), None)
    if form is None:
        return None
    field = css(form, f'input[aria-label="{label}"]')
    return field[0].get_attribute("value") if field else None


def add_form_value(driver, label: str) -> str | None:
    form = next((f for f in css(driver, '[data-testid="stForm"]') if "Add move" in f.text), None)
    field = css(form, f'input[aria-label="{label}"]') if form is not None else []
    return field[0].get_attribute("value") if field else None


def demo_frames(db, attempt_id) -> int:
    with connect(db, read_only=True) as con:
        return store.attempt_info(con, attempt_id).n_frames


def test_attempt_player_plays_in_real_time_above_the_fold(server, browser):
    url, db, demo = server
    aid = demo.attempt_ids[1]  # video sampled at video frames 3 + 2 i, 25 fps
    state = open_attempt(browser, url, aid)
    assert not state["playing"]
    # above the fold at 1600 x 1000: the controls and the whole timeline
    bottom = browser.execute_script(f"const p = {PLAYER}; return p.tlCanvas.getBoundingClientRect().bottom;")
    assert browser.execute_script("return window.innerHeight") == 1000 and bottom <= 1000, bottom
    shot(browser, "dashboard_attempt.png")

    # play 3 s, sampling the frame the video puts on screen at every animation frame, on the page's own clock
    samples = browser.execute_async_script(f"""
        const done = arguments[arguments.length - 1];
        const p = {PLAYER}, out = [];
        p.togglePlay();
        const t0 = performance.now();
        const tick = () => {{
            out.push([performance.now() - t0, parseInt(p.root.dataset.videoFrame, 10), p.playing]);
            if (performance.now() - t0 < 3000) requestAnimationFrame(tick); else {{ p.togglePlay(); done(out); }}
        }};
        requestAnimationFrame(tick);
    """)
    frames = [f for _, f, _ in samples]
    assert all(b >= a for a, b in zip(frames, frames[1:])), "the frame never goes back while playing"
    # from the first frame change on (start-up excluded), frames shown per second of wall time
    first = next(i for i, f in enumerate(frames) if f != frames[0])
    elapsed = (samples[-1][0] - samples[first][0]) / 1000
    rate = (frames[-1] - frames[first]) / 25.0 / elapsed
    print(f"playback: {frames[-1] - frames[0]} frames in {samples[-1][0] / 1000:.2f} s, {rate:.2f}x real time")
    assert rate >= 0.8, f"playback at {rate:.2f}x real time"
    assert len(set(frames)) > 40, "smooth: many distinct frames drawn, not a few stills"
    time.sleep(0.5)
    paused = player_state(browser)
    assert not paused["playing"]
    time.sleep(0.5)
    assert player_state(browser)["frame"] == paused["frame"], "pause holds at once"
    # the 3D view's hand and foot trails take their colours from the page data (cruxlab.draw.EFFECTOR_COLORS)
    limbs = browser.execute_script(f"return {PLAYER}.limbs.map((l) => [l.id, l.color]);")
    assert limbs[:4] == [[limb, EFFECTOR_COLORS[limb]] for limb in EFFECTOR_LIMBS]
    trail_pixels = browser.execute_script(f"""
        const c = {PLAYER}.canvas3d, d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const want = {[list(hex_rgb(EFFECTOR_COLORS[limb])) for limb in EFFECTOR_LIMBS]}, n = want.map(() => 0);
        for (let i = 0; i < d.length; i += 4) want.forEach((w, k) => {{
            if (Math.abs(d[i] - w[0]) + Math.abs(d[i + 1] - w[1]) + Math.abs(d[i + 2] - w[2]) < 6) n[k]++; }});
        return n;""")
    assert max(trail_pixels) > 0, trail_pixels  # (11, 6, 1, 17 pixels on this attempt after 3 s of play)


def test_keyboard_steps_frames_and_moves(server, browser):
    url, db, demo = server
    aid = demo.attempt_ids[1]
    open_attempt(browser, url, aid)
    with connect(db, read_only=True) as con:
        moves = store.current_moves(con, aid)
    press(browser, Keys.HOME)  # the page came back where the last visit left it: to the first frame
    wait(browser, lambda d: frame_on_screen(d, 0), timeout=10)
    press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait(browser, lambda d: frame_on_screen(d, 3), timeout=10)
    press(browser, Keys.ARROW_LEFT)
    wait(browser, lambda d: frame_on_screen(d, 2), timeout=10)
    starts = sorted(set(moves["start_frame"]))
    nxt = next(s for s in starts if s > 2)
    press(browser, Keys.ARROW_RIGHT, shift=True)
    wait(browser, lambda d: frame_on_screen(d, nxt), timeout=10)
    sel = player_state(browser)["selected"]
    assert moves.set_index("move_id").loc[sel, "start_frame"] == nxt
    # the Python side heard the selection: the editor below shows that move
    assert wait(browser, lambda d: caption_with(d, f"Move #{sel} "))
    press(browser, Keys.ARROW_RIGHT, shift=True)
    after = sorted(moves.itertuples(), key=lambda m: (m.start_frame, m.limb, m.move_id))
    ids = [m.move_id for m in after]
    want = after[ids.index(sel) + 1] if ids.index(sel) + 1 < len(ids) else None
    if want is not None:
        wait(browser, lambda d: frame_on_screen(d, want.start_frame), timeout=10)
    timings = player_state(browser)["timings"]
    assert timings["step"] and timings["move"], "the page timed its own key presses"
    print("step ms", [round(t) for t in timings["step"]], "move ms", [round(t) for t in timings["move"]])
    # A adds a move at the playhead: the (closed, not yet drawn) form opens with the playhead's frame as start
    here = int(player_attr(browser, "frame"))
    press(browser, "a")
    assert wait(browser, lambda d: add_form_value(d, "Start frame") == str(here), timeout=20)
    assert add_form_value(browser, "End frame") == str(min(here + 25, demo_frames(db, aid) - 1)), "one second"


def test_edit_at_the_playhead_then_undo_shows_the_stored_state(server, browser):
    url, db, demo = server
    aid = demo.attempt_ids[0]
    before_history = len(history(db, aid))
    open_attempt(browser, url, aid)
    sign_in(browser)
    with connect(db, read_only=True) as con:
        moves = store.current_moves(con, aid).set_index("move_id")

    press(browser, Keys.HOME)
    wait(browser, lambda d: frame_on_screen(d, 0), timeout=10)
    press(browser, Keys.ARROW_RIGHT, shift=True)           # first move
    wait(browser, lambda d: player_state(d)["selected"] is not None)
    move_id = player_state(browser)["selected"]
    m = moves.loc[move_id]
    wait(browser, lambda d: form_value(d, "Start frame") == str(m["start_frame"]))
    press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait(browser, lambda d: frame_on_screen(d, m["start_frame"] + 2), timeout=10)
    press(browser, "i")                                     # set start here
    wait(browser, lambda d: len(history(db, aid)) == before_history + 1, timeout=20)
    row = history(db, aid).iloc[0]
    assert (row["move_id"], row["action"], row["editor"], row["source"]) == (move_id, "retime", COACH, "dashboard")
    assert (row["start_frame"], row["end_frame"]) == (m["start_frame"] + 2, m["end_frame"])
    wait(browser, lambda d: form_value(d, "Start frame") == str(m["start_frame"] + 2))
    wait(browser, lambda d: next(x for x in player_state(d)["moves"] if x["id"] == move_id)["status"] == "edited")
    shot(browser, "dashboard_attempt_edited.png")

    # relabel with a number key (7 = dyno, or 1 = reach when it already is a dyno)
    new_label, key = ("dyno", "7") if m["label"] != "dyno" else ("reach", "1")
    press(browser, key)
    wait(browser, lambda d: len(history(db, aid)) == before_history + 2, timeout=20)
    assert history(db, aid).iloc[0]["label"] == new_label
    wait(browser, lambda d: next(x for x in player_state(d)["moves"] if x["id"] == move_id)["label"] == new_label)

    # undo twice: the store, the timeline and the form all go back to the stored state
    for _ in range(2):
        n = len(history(db, aid))
        undo = next(b for b in css(browser, "button") if "Undo my last edit" in b.text)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", undo)
        undo.click()
        wait(browser, lambda d: len(history(db, aid)) == n + 1, timeout=20)
    with connect(db, read_only=True) as con:
        now = store.current_moves(con, aid).set_index("move_id").loc[move_id]
    assert (now["label"], now["start_frame"]) == (m["label"], m["start_frame"])
    wait(browser, lambda d: form_value(d, "Start frame") == str(m["start_frame"]))
    assert form_value(browser, "Label") == m["label"], "the form shows the stored label, not the undone one"
    wait(browser, lambda d: next(x for x in player_state(d)["moves"] if x["id"] == move_id)["s"] == m["start_frame"])
    shot(browser, "dashboard_attempt_undone.png")

    # Enter confirms the selected move; the player's review button reviews the whole attempt
    browser.execute_script("document.activeElement && document.activeElement.blur()")
    n = len(history(db, aid))
    press(browser, Keys.ENTER)
    wait(browser, lambda d: len(history(db, aid)) == n + 1, timeout=20)
    assert history(db, aid).iloc[0][["action", "move_id"]].tolist() == ["confirm", move_id]
    wait(browser, lambda d: next(x for x in player_state(d)["moves"] if x["id"] == move_id)["status"] == "confirmed")
    browser.execute_script(f"{PLAYER}.bReview.click()")

    def reviewed(_):
        with connect(db, read_only=True) as con:
            return store.review_state(con, aid).complete
    wait(browser, reviewed, timeout=20)
    wait(browser, lambda d: "reviewed by" in d.execute_script(f"return {PLAYER}.reviewEl.textContent"))
    shot(browser, "dashboard_attempt_reviewed.png")


def test_dragging_a_move_edge_on_the_timeline_retimes_it(server, browser):
    url, db, demo = server
    aid = demo.attempt_ids[2]  # skeleton only: the rendered wall, the same timeline
    open_attempt(browser, url, aid)
    sign_in(browser)
    press(browser, Keys.HOME)
    press(browser, Keys.ARROW_RIGHT, shift=True)
    wait(browser, lambda d: player_state(d)["selected"] is not None)
    move_id = player_state(browser)["selected"]
    with connect(db, read_only=True) as con:
        before = store.current_moves(con, aid).set_index("move_id").loc[move_id]
    bar = browser.execute_script(f"""const p = {PLAYER}; const b = p.bars.find(b => b.m.id === arguments[0]);
        const r = p.tlCanvas.getBoundingClientRect();
        return {{x1: b.x1, y: (b.y0 + b.y1) / 2, w: r.width, h: r.height, pxPerFrame: (p.tX(1) - p.tX(0)) / p.tracks[0].fps}};""",
                                 move_id)
    canvas = browser.execute_script(f"return {PLAYER}.tlCanvas;")
    dx = max(12, round(6 * bar["pxPerFrame"]))  # about six frames later
    ActionChains(browser).move_to_element_with_offset(canvas, bar["x1"] - bar["w"] / 2, bar["y"] - bar["h"] / 2) \
        .click_and_hold().move_by_offset(dx // 2, 0).move_by_offset(dx - dx // 2, 0).release().perform()
    wait(browser, lambda d: len(history(db, aid)) == 1, timeout=20)
    row = history(db, aid).iloc[0]
    assert (row["move_id"], row["action"], row["start_frame"]) == (move_id, "retime", before["start_frame"])
    assert row["end_frame"] > before["end_frame"], (row["end_frame"], before["end_frame"])
    assert abs(row["end_frame"] - before["end_frame"] - dx / bar["pxPerFrame"]) <= 2, "the edge went where dropped"


def test_rendered_attempt_plays_on_its_own_clock(server, browser):
    url, db, demo = server
    aid = demo.attempt_ids[-1]  # skeleton only: the rendered wall, no video
    open_attempt(browser, url, aid)
    elapsed, frame = browser.execute_async_script(f"""
        const done = arguments[arguments.length - 1];
        const p = {PLAYER};
        p.togglePlay();
        const t0 = performance.now();
        setTimeout(() => {{ const f = p.frame; p.togglePlay(); done([(performance.now() - t0) / 1000, f]); }}, 1500);
    """)
    assert frame / 25.0 >= 0.8 * elapsed - 0.1, (frame, elapsed)
    shot(browser, "dashboard_attempt_rendered.png")


def test_phone_layout_keeps_the_sidebar_out_of_the_way(server, browser):
    url, db, demo = server
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        open_attempt(browser, url, demo.attempt_ids[1])
        sidebar = css(browser, '[data-testid="stSidebar"]')
        if sidebar:
            box = sidebar[0].rect
            assert sidebar[0].get_attribute("aria-expanded") == "false" or box["x"] + box["width"] <= 1, box
        width = browser.execute_script(f"const p = {PLAYER}; return p.root.getBoundingClientRect().width;")
        assert width >= 320, "the player uses the phone's width"
        shot(browser, "dashboard_attempt_phone.png")
    finally:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False})


def test_pages_render_in_the_browser(server, browser):
    url, db, demo = server
    for path, marker, name in (("", "Climbers & attempts", "dashboard_attempts.png"),
                               ("statistics", "Statistics", "dashboard_statistics.png"),
                               (f"labels?attempt={demo.attempt_ids[0]}", "Correct labels", "dashboard_labels.png")):
        browser.get(f"{url}/{path}")
        wait(browser, lambda d: any(h.text == marker for h in css(d, "h1")))
        if path == "statistics":
            wait(browser, lambda d: css(d, '[data-testid="stPlotlyChart"] g.barlayer g.point')
                 and css(d, '[data-testid="stPlotlyChart"] g.trace.boxes'))
        else:
            wait(browser, lambda d: css(d, '[data-testid="stDataFrame"]'))
        assert not css(browser, '[data-testid="stException"]'), f"{path} raised"
        assert not [d for d in css(browser, '[role="dialog"]') if "not found" in d.text.lower()], path
        shot(browser, name)


def test_setup_browser_script_is_idempotent():
    script = Path(__file__).resolve().parent.parent / "scripts" / "setup_browser.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "already installed" in out.stdout and "Chromium" in out.stdout
