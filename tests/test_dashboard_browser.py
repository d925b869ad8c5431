"""End to end in a real headless Chromium: `cruxlab dashboard`'s Streamlit server on a free 127.0.0.1 port,
the attempt page renders the video overlay, the 3D view (WebGL) and the move timeline; a click on a move
jumps to it; a label corrected through the UI lands in DuckDB. Screenshots go to artifacts/.

Needs Debian's chromium + chromium-driver (scripts/setup_browser.sh, run by `make test`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard.demo_data import cached_demo_db
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard server (subprocess, stopped by PID) on a synthetic store; yields (url, db, demo)."""
    root = tmp_path_factory.mktemp("dash_e2e")
    demo = cached_demo_db(tmp_path_factory.getbasetemp(), n_frames=300)
    db = root / "demo.duckdb"
    shutil.copy(demo.db_path, db)
    port = _free_port()
    log = open(root / "streamlit.log", "w")
    # through the real command line: `cruxlab --db DB dashboard --port N` becomes the server (same PID)
    proc = subprocess.Popen([sys.executable, "-m", "cruxlab.cli", "--db", str(db), "dashboard",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None, (root / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "dashboard server did not become healthy in 60 s"
            time.sleep(0.3)
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
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,2100",
                "--enable-unsafe-swiftshader", "--lang=en-US"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
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


def test_attempt_page_renders_and_a_label_edit_lands_in_duckdb(server, browser):
    url, db, demo = server
    aid = demo.attempt_ids[0]
    with connect(db, read_only=True) as con:
        moves = store.current_moves(con, aid).sort_values(["limb", "start_frame"])
    browser.get(f"{url}/attempt?attempt={aid}")

    # the video frame with the overlay, the 3D view (WebGL canvas) and the timeline with one bar per move
    charts = '[data-testid="stPlotlyChart"]'
    wait(browser, lambda d: len(css(d, charts)) >= 2 and css(d, '[data-testid="stImage"] img'))
    wait(browser, lambda d: len(css(css(d, charts)[1], "g.barlayer g.point path")) == len(moves))
    wait(browser, lambda d: css(css(d, charts)[0], ".gl-container canvas"))
    assert "WebGL is not supported" not in css(browser, charts)[0].text
    assert wait(browser, lambda d: caption_with(d, "video frame 0"))
    assert not [d for d in css(browser, '[role="dialog"]') if "not found" in d.text.lower()]
    labels_drawn = wait(browser, lambda d: {t.text for t in css(css(d, charts)[1], "g.barlayer text")})
    assert labels_drawn >= set(moves["label"])
    shot(browser, "dashboard_attempt.png")

    coach = css(browser, 'input[aria-label="Coach"]')[0]
    coach.send_keys(COACH + Keys.ENTER)
    time.sleep(1.0)

    # click a move in the timeline: the player jumps to its first frame and the editor opens on it
    bar = css(css(browser, charts)[1], "g.barlayer g.point path")[-1]
    ActionChains(browser).move_to_element(bar).pause(0.3).click().perform()
    caption = wait(browser, lambda d: caption_with(d, "Move #"))
    move_id = int(caption.split("Move #")[1].split(" ")[0])
    clicked = moves.set_index("move_id").loc[move_id]
    assert wait(browser, lambda d: caption_with(d, f"Frame {clicked['start_frame']} /")), "jumped to the move's start"

    # correct its label through the form
    new_label = "dyno" if clicked["label"] != "dyno" else "reach"
    form = wait(browser, lambda d: next((f for f in css(d, '[data-testid="stForm"]') if "Save correction" in f.text),
                                        None))
    label_box = next(sb for sb in css(form, '[data-testid="stSelectbox"]')
                     if css(sb, 'input[aria-label="Label"]'))
    label_box.click()
    field = css(label_box, "input")[0]
    field.send_keys(new_label)
    field.send_keys(Keys.ENTER)
    save = next(b for b in css(form, "button") if "Save correction" in b.text)
    save.click()
    wait(browser, lambda d: any("Saved edit" in a.text for a in css(d, '[data-testid="stAlert"]')))
    shot(browser, "dashboard_attempt_edited.png")

    deadline = time.monotonic() + 20
    while True:  # the server closes its write connection at once; read it back from the file
        with connect(db, read_only=True) as con:
            history = store.label_history(con, attempt_id=aid)
            now = store.current_moves(con, aid).set_index("move_id")
        if len(history) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(history) == 1
    row = history.iloc[0]
    assert (row["move_id"], row["editor"], row["source"], row["action"]) == (move_id, COACH, "dashboard", "relabel")
    assert (row["prev_label"], row["label"]) == (clicked["label"], new_label)
    assert now.loc[move_id, "label"] == new_label and now.loc[move_id, "original_label"] == clicked["label"]

    # the timeline redraws with the corrected label, marked as edited
    wait(browser, lambda d: any(t.text == f"✎ {new_label}" for t in css(css(d, charts)[1], "g.barlayer text")))


def test_pages_render_in_the_browser(server, browser):
    url, db, demo = server
    for path, marker, name in (("", "Climbers & attempts", "dashboard_attempts.png"),
                               ("statistics", "Statistics", "dashboard_statistics.png")):
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
