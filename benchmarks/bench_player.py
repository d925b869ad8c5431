"""The attempt player in a real headless Chromium: page ready (cold and warm), frame step, next move, playback rate.

    .venv/bin/python -m benchmarks.bench_player [--frames 1000] [--repeats 20] [--db PATH --attempt NAME]

By default a 40 s attempt (1000 frames at 25 fps, a 540 x 720 rendered video, cameras, wall points, moves by the
rule model) is built once into cache/bench_dashboard/ (shared with bench_dashboard); `--db/--attempt` measure any
stored attempt instead (e.g. the real clip `make demo` analyses). The dashboard server runs on a free
127.0.0.1 port and is stopped by PID.

What is timed, all on the page's own clock (performance.now(), so WebDriver's round trips do not count):
- page ready: navigation start -> the player shows the first video frame with the skeleton, the 3D view and
  the timeline (data-ready; keys and timeline answer from then on). "cold server": a new server (`cruxlab
  dashboard`'s command, opened as soon as it answers its health check), empty caches, first view (playback WebM
  already transcoded; the one-time transcode is timed separately). "cold browser": a new Chromium profile
  against a warm server. "warm": the page reloaded in the same browser. Each also says when the header and the
  sidebar were on screen (the page draws them after the player).
- frame step: an arrow key's keydown -> the video presenting that frame (requestVideoFrameCallback).
- next move: shift+arrow keydown -> the video presenting the move's first frame.
- playback: frames presented per second of wall time over 3 s of play, as a multiple of the clip's fps.
Targets (issue 10): frame step and next move < 150 ms warm; page ready <= 2 s cold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path("cache/bench_dashboard")
PLAYER = "(window.__cruxlabPlayers || []).find((p) => p.root.isConnected)"


class Server:
    """`cruxlab dashboard` for `db` on a free port; stop() ends it by PID."""

    def __init__(self, db: Path, cache_dir: Path) -> None:
        from cruxlab.processes import free_port
        from dashboard.cli import streamlit_command, wait_healthy

        self.port = free_port()
        env = dict(os.environ, CRUXLAB_DB=str(db.resolve()), CRUXLAB_CACHE=str(cache_dir.resolve()))
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(streamlit_command(db, self.port), env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        if not wait_healthy(self.url, self.proc, timeout_s=90):
            self.stop()
            raise RuntimeError("the dashboard server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="cruxlab-bench-chrome-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-sync", f"--user-data-dir={profile}", "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WHOLE_PAGE_WATCH})
    driver._cruxlab_profile = profile
    return driver


def quit_browser(driver) -> None:
    driver.quit()
    shutil.rmtree(driver._cruxlab_profile, ignore_errors=True)


PHASES: list[dict] = []
#: Runs in every page before its own scripts: notes (performance.now()) when the rest of the attempt page is on
#: screen too, the header's attempt picker and the sidebar's coach field (drawn after the player), so a fast
#: player cannot hide a slow page.
WHOLE_PAGE_WATCH = """
new MutationObserver((_, obs) => {
  if (!window.__cruxlabPageDrawn && document.querySelector('[data-testid="stSidebar"] input[aria-label="Coach"]')
      && document.querySelector('input[aria-label="Attempt"]')) {
    window.__cruxlabPageDrawn = performance.now();
    obs.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def page_ready(driver, url: str, timeout: float = 120) -> float:
    """Seconds from navigation start to the player's first complete frame. The phases go to PHASES: the
    Streamlit page up and the script run until the player is mounted, the attempt's data and video loaded,
    the first frame drawn."""
    driver.get(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = driver.execute_script(f"const p = {PLAYER}; return p && p.timings.readyAt && window.__cruxlabPageDrawn"
                                    " ? {...p.timings, page: window.__cruxlabPageDrawn} : null;")
        if got:
            PHASES.append({"mounted": got["created"] / 1000, "payload": got.get("payload", 0) / 1000,
                           "video": got.get("video", 0) / 1000, "loaded": got["loaded"] / 1000,
                           "ready": got["readyAt"] / 1000, "page": got["page"] / 1000})
            return got["readyAt"] / 1000
        time.sleep(0.05)
    raise TimeoutError(f"the player at {url} did not get ready in {timeout:.0f} s")


def _phases(i: int) -> str:
    p = PHASES[i]
    return (f"(player mounted at {p['mounted']:.2f} s, its data at {p['payload']:.2f} s, video loaded at "
            f"{p['video']:.2f} s, first frame {p['ready']:.2f} s; header and sidebar drawn {p['page']:.2f} s)")


def key_timings(driver, kind: str, n: int) -> list[float]:
    """Milliseconds per key press (keydown -> frame on screen), waiting for each before the next."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script(f"{PLAYER}.timings.step = []; {PLAYER}.timings.move = [];")
    for i in range(n):
        chain = ActionChains(driver)
        if kind == "move":
            chain = chain.key_down(Keys.SHIFT).send_keys(Keys.ARROW_RIGHT if i % 8 < 6 else Keys.ARROW_LEFT)
            chain = chain.key_up(Keys.SHIFT)
        else:
            chain = chain.send_keys(Keys.ARROW_RIGHT if i % 10 < 7 else Keys.ARROW_LEFT)
        chain.perform()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            done = driver.execute_script(f"const p = {PLAYER}; return p.pending === null;")
            if done:
                break
            time.sleep(0.01)
    return driver.execute_script(f"return {PLAYER}.timings[arguments[0]];", kind)


def playback_rate(driver, seconds: float = 3.0) -> float:
    samples = driver.execute_async_script(f"""
        const done = arguments[arguments.length - 1];
        const p = {PLAYER}, out = [];
        p.seekFrame(0); p.togglePlay();
        const t0 = performance.now();
        const tick = () => {{
            out.push([performance.now() - t0, parseInt(p.root.dataset.videoFrame, 10)]);
            if (performance.now() - t0 < {seconds * 1000}) requestAnimationFrame(tick); else {{ p.togglePlay(); done(out); }}
        }};
        requestAnimationFrame(tick);
    """)
    fps = driver.execute_script(f"return {PLAYER}.tracks[0].fps;")
    frames = [f for _, f in samples]
    start = next(i for i, f in enumerate(frames) if f < 3)            # the seek to frame 0 is on screen
    first = next(i for i in range(start, len(frames)) if frames[i] != frames[start])  # playing
    return (frames[-1] - frames[first]) / fps / ((samples[-1][0] - samples[first][0]) / 1000)


def _stats(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms (n={len(ms)})"


def streamlit_baseline(repeats: int = 3) -> list[float]:
    """Seconds until a one-line Streamlit page shows its text in a new browser profile: the floor under any
    Streamlit page on this machine (the frontend's own download, parse and boot)."""
    folder = Path(tempfile.mkdtemp(prefix="cruxlab-bench-st-"))
    app = folder / "app.py"
    app.write_text("import streamlit as st\nst.write('baseline ready')\n")
    from cruxlab.processes import free_port
    from dashboard.cli import wait_healthy

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        if not wait_healthy(url, proc, timeout_s=60):
            raise RuntimeError("the baseline Streamlit server did not start")
        out = []
        for i in range(repeats + 1):
            driver = browser()
            try:
                driver.get(url)
                ready_script = """const m = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
                    .find(e => e.textContent.includes('baseline ready'));
                    if (m && !window.__seen) window.__seen = performance.now(); return window.__seen || null;"""
                t_end = time.monotonic() + 60
                while time.monotonic() < t_end:
                    got = driver.execute_script(ready_script)
                    if got:
                        break
                    time.sleep(0.02)
                if i:  # the first view also warms the server's own imports
                    out.append(got / 1000)
            finally:
                quit_browser(driver)
        return out
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1000, help="length of the synthetic attempt (25 fps)")
    ap.add_argument("--repeats", type=int, default=20, help="key presses per timing")
    ap.add_argument("--cold", type=int, default=5, help="new browser profiles timed against the warm server")
    ap.add_argument("--cold-servers", type=int, default=2, help="new servers timed (first view of each)")
    ap.add_argument("--db", type=Path, help="measure an attempt of this store instead of the synthetic one")
    ap.add_argument("--attempt", help="with --db: the attempt's name")
    args = ap.parse_args([] if argv is None else argv)

    from db import connect, store

    if args.db:
        db = args.db
        with connect(db, read_only=True) as con:
            ((aid, _),) = store.resolve_attempts(con, [args.attempt]) if args.attempt else \
                store.resolve_attempts(con)[-1:]
        cache_dir = Path(os.environ.get("CRUXLAB_CACHE", "cache"))
    else:
        from benchmarks.bench_dashboard import build_long_attempt

        CACHE.mkdir(parents=True, exist_ok=True)
        db = build_long_attempt(CACHE, args.frames)
        with connect(db, read_only=True) as con:
            aid = store.resolve_attempts(con)[0][0]
        cache_dir = CACHE / "player-cache"

    # the one-time transcode (first view of an attempt), outside the page timings
    from dashboard.player.media import FrameSelection, cached_playback, make_playback

    with connect(db, read_only=True) as con:
        info = store.attempt_info(con, aid)
    if info.video_path and Path(info.video_path).is_file():
        sel = FrameSelection(info.video_start_frame, info.video_frame_step, info.n_frames, info.fps)
        if cached_playback(info.video_path, sel, cache_dir=cache_dir) is None:
            t = time.perf_counter()
            make_playback(info.video_path, sel, cache_dir=cache_dir)
            print(f"one-time transcode of {info.n_frames} frames to the playback WebM: {time.perf_counter() - t:.1f} s "
                  f"({info.n_frames / (time.perf_counter() - t):.0f} frames/s)")
        else:
            print("playback WebM already cached (delete cache/bench_dashboard/player-cache to time the transcode)")
    print(f"attempt {info.name}: {info.n_frames} frames at {info.fps:g} fps ({info.n_frames / info.fps:.0f} s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    cold_server = []
    for _ in range(args.cold_servers - 1):
        server = Server(db, cache_dir)
        try:
            driver = browser()
            try:
                cold_server.append(page_ready(driver, f"{server.url}/attempt?attempt={aid}"))
                PHASES.pop()
            finally:
                quit_browser(driver)
        finally:
            server.stop()
    url = None
    server = Server(db, cache_dir)
    try:
        url = f"{server.url}/attempt?attempt={aid}"
        driver = browser()
        try:
            cold_server.append(page_ready(driver, url))
            warm = [page_ready(driver, url) for _ in range(3)]
        finally:
            quit_browser(driver)
        cold_browser = []
        for _ in range(args.cold):
            driver = browser()
            try:
                cold_browser.append(page_ready(driver, url))
            finally:
                quit_browser(driver)
        driver = browser()
        try:
            page_ready(driver, url)
            shot = Path("artifacts") / "bench_player_attempt.png"
            shot.parent.mkdir(exist_ok=True)
            driver.save_screenshot(str(shot))  # the whole attempt's timeline at 1600 x 1000
            steps = key_timings(driver, "step", args.repeats)
            moves = key_timings(driver, "move", args.repeats)
            rate = playback_rate(driver)
        finally:
            quit_browser(driver)
    finally:
        server.stop()
    print(f"page ready, cold server (first view, new browser):  max {max(cold_server):.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in cold_server)}) {_phases(0)}")
    print(f"page ready, cold browser (new profile, warm server): median {statistics.median(cold_browser):.2f} s, "
          f"max {max(cold_browser):.2f} s (runs {', '.join(f'{t:.2f}' for t in cold_browser)}) {_phases(4)}")
    print(f"page ready, warm (reload):                          median {statistics.median(warm):.2f} s {_phases(1)}")
    print(f"frame step (arrow key -> frame on screen):          {_stats(steps)}")
    print(f"next move (shift+arrow -> move's frame on screen):  {_stats(moves)}")
    print(f"playback over 3 s:                                  {rate:.2f}x real time")
    base = streamlit_baseline()
    print(f"for scale, a one-line Streamlit page in a new profile: median {statistics.median(base):.2f} s "
          "(Streamlit's own boot, under every page)")
    print(f"load average now {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min)")
    print("targets: page ready <= 2 s cold; frame step and next move < 150 ms warm; playback >= 0.8x")


if __name__ == "__main__":
    main(sys.argv[1:])
