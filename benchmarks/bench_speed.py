"""`cruxlab analyze` end to end against MediaPipe Pose alone on the same clip, in the same run (issue 12).

    .venv/bin/python -m benchmarks.bench_speed [--clip PATH ...] [--minute]

For each clip, two fresh processes one after the other: MediaPipe Pose alone (decode at 960 px + the
video-mode tracking model on every frame, what a 2D-pose-only tool does) and the `cruxlab analyze` command
itself (`python -m cruxlab.cli --db FRESH analyze CLIP --climber bench --no-cache --quiet`: every stage,
no cache, a fresh store; start-up, argument parsing and exit included). Printed: frames per second of both
and their ratio (goal >= 0.7), the CPU seconds of both process trees (robust to other load: the ratio of
work done), the peak memory of the analyze process tree (RSS sampled every 50 ms, camera worker included;
RSS counts the libraries both processes map twice, PSS, read at each new RSS peak, once) and analyze's per-stage seconds as stored in its
report ("rest": the process's wall time outside pose, masks, cameras, lift and moves: start-up, imports,
probe and hash, waiting for the flow where it outlasts the lift, store, exit). `--minute` adds a
60 s 1080x1440 clip (the tripod clip looped) for the memory goal (< 1 GB). The load average is printed: on a
shared machine the wall-clock ratio moves with the others' work, the CPU ratio much less.
`--repeat N` runs the pair N times, alternating, and reports the run of each side with the median wall time
and the spread of the pairs' ratios: one run of the same code moves a ratio by up to 0.1 on this machine.

Both run with compiled bytecode, as any installation does after its first run: a warm-up (both on a 2 s
trim) first fills a private bytecode folder (PYTHONPYCACHEPREFIX in a temporary folder; nothing is written to
the checkout or the venv). Where PYTHONDONTWRITEBYTECODE is set (as on this machine) every run would otherwise
compile the modules it imports again: ~2.6 CPU-s for analyze (scikit-learn, pandas, SciPy, DuckDB...), ~0.8
for MediaPipe alone. `--cold` measures that way instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = [ROOT / "data" / "climbing" / "warp-fixed-input.mp4", ROOT / "data" / "climbing" / "warp-dynamic-input.mp4"]


# ------------------------------------------------------------------------------------------ in the child
def _mediapipe_alone(clip: str, end_s: float | None = None) -> dict:
    # MediaPipe imported as a 2D-pose-only tool imports it (the whole package), not through cruxlab's backend:
    # the baseline stays fixed whatever the backend's own import does
    import mediapipe as mp

    from reconstruction.video import iter_batches, probe, select_frames

    info = probe(clip, with_hash=False)
    frames = select_frames(info, end_s=end_s)
    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True)
    found = 0
    for batch in iter_batches(info, frames, max_side=960):
        for frame in batch.frames:
            found += pose.process(frame).pose_landmarks is not None
    pose.close()
    return {"frames": frames.count, "found": found}


def _analyze_command(clip: Path, db: Path, end_s: float | None = None) -> list[str]:
    """The `cruxlab analyze` command line a user runs (in a fresh store, without the stage cache)."""
    return [sys.executable, "-m", "cruxlab.cli", "--db", str(db), "analyze", str(clip), "--climber", "bench",
            "--no-cache", "--quiet"] + ([] if end_s is None else ["--end", str(end_s)])


def _stored_analysis(db: Path) -> dict:
    """What the analyze command stored: frames, detections, per-stage seconds (its report), moves."""
    from db import connect, store

    with connect(db, read_only=True) as con:
        ((attempt_id, _),) = store.resolve_attempts(con)
        info = store.attempt_info(con, attempt_id)
        n_moves, _ = store.move_summary(con, attempt_id)
    rep = info.report
    return {"frames": info.n_frames, "found": int(rep["pose"]["frames_detected"]), "timings_s": rep["timings_s"],
            "cpu_s": rep["cpu_s"], "camera_model": info.camera_model, "moves": n_moves}


# ------------------------------------------------------------------------------------------ in the parent
def _tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (e.g. analyze's camera worker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return out


_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def _tree_rss_mb(pids: list[int]) -> float:
    """RSS of the processes, MB, from /proc/PID/statm: a few microseconds a process."""
    total = 0.0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * _PAGE_MB
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return total


def _tree_pss_mb(pids: list[int]) -> float:
    """PSS of the processes, MB: RSS with the libraries they share (Python, NumPy, OpenCV) shared out, what
    the tree really occupies. /proc/PID/smaps_rollup walks every page table: ~15 ms for analyze's tree, so it
    is read only at a new RSS peak (read every 50 ms it cost ~1.5 CPU-s and slowed analyze by ~1 s)."""
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:3]:
                name, kb = line.split()[:2]
                if name == "Pss:":
                    total += int(kb)
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return total / 1024


def _measure(cmd: list[str], what: str, clip: Path, env: dict | None = None) -> dict:
    """Run one measurement in a fresh process: wall seconds, CPU seconds of its process tree, peak RSS/PSS."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    peak = peak_pss = 0.0

    def sample() -> None:
        nonlocal peak, peak_pss
        while proc.poll() is None:
            pids = _tree_pids(proc.pid)
            rss = _tree_rss_mb(pids)
            if rss > peak * 1.03:                   # PSS where RSS peaks (its reading is the costly one)
                peak_pss = max(peak_pss, _tree_pss_mb(pids))
            peak = max(peak, rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    after = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{what} on {clip.name} failed (exit {proc.returncode})")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"stdout": out, "wall_s": wall, "cpu_s_total": cpu, "peak_mb": peak, "peak_pss_mb": peak_pss}


def _mediapipe_run(clip: Path, env: dict | None, end_s: float | None = None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_speed", "--child", str(clip)]  # MediaPipe alone, in a child
    m = _measure(cmd + ([] if end_s is None else ["--end", str(end_s)]), "MediaPipe alone", clip, env)
    return {**m, **json.loads(m["stdout"].strip().splitlines()[-1])}


def _analyze_run(clip: Path, env: dict | None, folder: Path, end_s: float | None = None) -> dict:
    db = folder / f"bench-{time.monotonic_ns()}.duckdb"
    m = _measure(_analyze_command(clip, db, end_s), "cruxlab analyze", clip, env)
    return {**m, **_stored_analysis(db)}


def _minute_clip(folder: Path) -> Path:
    """The tripod clip looped 4x (60 s, 1080x1440) by copying its packets: no re-encoding."""
    import av

    out_path = folder / "minute-1080x1440.mp4"
    with av.open(str(CLIPS[0])) as src, av.open(str(out_path), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        offset = 0
        for _ in range(4):
            src.seek(0)
            last = 0
            for packet in src.demux(stream):
                if packet.dts is None:
                    continue
                packet.pts += offset
                packet.dts += offset
                last = max(last, packet.pts + (packet.duration or 0))
                packet.stream = out
                dst.mux(packet)
            offset = last
    return out_path


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r["wall_s"])[(len(runs) - 1) // 2]


def _report(clip: Path, alones: list[dict], fulls: list[dict]) -> None:
    alone, full = _median_run(alones), _median_run(fulls)
    fps_alone, fps_full = alone["frames"] / alone["wall_s"], full["frames"] / full["wall_s"]
    print(f"{clip.name}: {full['frames']} frames" + ("" if len(fulls) == 1 else
          f", median of {len(fulls)} alternating pairs; pair ratios "
          + " ".join(f"{a['wall_s'] / f['wall_s']:.2f}" for a, f in zip(alones, fulls))))
    print(f"  MediaPipe alone  {fps_alone:6.1f} frames/s  ({alone['wall_s']:.1f} s wall, {alone['cpu_s_total']:.1f} "
          f"CPU-s, peak {alone['peak_mb']:.0f} MB)")
    print(f"  cruxlab analyze  {fps_full:6.1f} frames/s  ({full['wall_s']:.1f} s wall, {full['cpu_s_total']:.1f} "
          f"CPU-s, peak {full['peak_mb']:.0f} MB RSS / {full['peak_pss_mb']:.0f} MB PSS for the process tree)")
    print(f"  ratio            {fps_full / fps_alone:6.2f}  wall-clock (goal >= 0.7);  "
          f"{alone['cpu_s_total'] / full['cpu_s_total']:.2f} in CPU-seconds")
    timings = full["timings_s"]
    rest = full["wall_s"] - sum(v for k, v in timings.items() if k in ("pose", "masks", "cameras", "lift", "moves"))
    # the flow starts as the masks stage does; what it runs past the lift, analyze waits for (within rest)
    flow_tail = max(0.0, timings.get("flow", 0.0) - sum(timings.get(k, 0.0) for k in ("masks", "cameras", "lift")))
    stages = (", ".join(f"{k} {v:.1f}" for k, v in timings.items())
              + f", rest {rest:.1f} (waiting for the flow after the lift ~{flow_tail:.1f})")
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in full["cpu_s"].items())
    print(f"  analyze stages   wall s: {stages}\n                   CPU s:  {cpu}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, action="append", help="default: both bundled clips")
    ap.add_argument("--minute", action="store_true", help="also a 60 s 1080x1440 clip (memory goal)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run each pair N times, alternating, and report the medians (default 1)")
    ap.add_argument("--cold", action="store_true",
                    help="keep this environment's bytecode setting (no warm-up; with PYTHONDONTWRITEBYTECODE every "
                         "run compiles its imports)")
    ap.add_argument("--child", metavar="CLIP", help=argparse.SUPPRESS)
    ap.add_argument("--end", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args([] if argv is None else argv)
    if args.child:
        print(json.dumps(_mediapipe_alone(args.child, args.end)))
        return
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = None
        if not args.cold:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "bytecode")
            _mediapipe_run(CLIPS[0], env, end_s=2.0)
            _analyze_run(CLIPS[0], env, Path(tmp), end_s=2.0)
            print("bytecode compiled by a warm-up run (--cold: without)", flush=True)
        clips = list(args.clip or CLIPS) + ([_minute_clip(Path(tmp))] if args.minute else [])
        for clip in clips:
            alones, fulls = [], []
            for _ in range(max(1, args.repeat)):
                alones.append(_mediapipe_run(clip, env))
                fulls.append(_analyze_run(clip, env, Path(tmp)))
            _report(clip, alones, fulls)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main(sys.argv[1:])
