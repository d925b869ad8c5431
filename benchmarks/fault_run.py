"""Fault run: many bad inputs and kill points against a real store, counting how each ended.

    .venv/bin/python -m benchmarks.fault_run [--quick] [--keep DIR]      (make faults; ~10 min on 2 busy cores)

Every case starts from a copy of one baseline store (three imported attempts, a stored learned model) and
runs the `cruxlab` CLI. Refusal cases must end with a clear error (exit 2 or 130, a "cruxlab: ..." line, no
traceback) and an unchanged database: byte-identical, or failing that the same content (every table's rows
hashed). Traversal cases must succeed with every file inside its output folder. Kill cases (kill -9 during an
import or an analysis) must leave a database that opens and holds either exactly its old content or the old
content plus the complete new attempt, and a file no bigger than that. Concurrency cases must end with every
command either done or refused clearly, and consistent content.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "data" / "climbing" / "warp-fixed-input.mp4"
CLI = [sys.executable, "-m", "cruxlab.cli"]


# ------------------------------------------------------------------------------------------- outcomes
@dataclass
class Case:
    group: str
    name: str
    kind: str                        # refuse | safe | kill | concurrent
    ok: bool = False
    clear: bool = False              # refuse: a clear error
    unchanged: str = ""              # refuse: "bytes" | "content" | "" (changed)
    note: str = ""


@dataclass
class Run:
    root: Path
    baseline: Path
    cases: list[Case] = field(default_factory=list)

    def fresh_db(self, name: str) -> Path:
        d = Path(tempfile.mkdtemp(prefix=name[:20].replace("/", "_") + "-", dir=self.root))
        db = d / "store.duckdb"
        shutil.copy(self.baseline, db)
        return db

    def record(self, case: Case) -> Case:
        self.cases.append(case)
        mark = "ok " if case.ok else "BAD"
        print(f"  [{mark}] {case.group:<11} {case.name:<58} {case.note}"[:160], flush=True)
        return case


def fingerprint(db: Path) -> str:
    """Hash of every base table's rows (in a stable order) and of the schema version."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        h = hashlib.sha256()
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_type = "
                                            "'BASE TABLE' ORDER BY table_name").fetchall()]
        for t in tables:
            cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                              "table_name = ? ORDER BY ordinal_position", [t]).fetchall()]
            order = ", ".join(f'"{c}"' for c in cols if c not in ("applied_at",))
            rows = con.execute(f'SELECT {order} FROM "{t}" ORDER BY ALL').fetchall()
            h.update(t.encode())
            h.update(repr(rows).encode())
        return h.hexdigest()
    finally:
        con.close()


def counts(db: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_type = "
                                            "'BASE TABLE'").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def _limit_memory(gb: float):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (int(gb * 2**30), int(gb * 2**30)))
    return apply


def cli(args: list[str], env: dict | None = None, timeout: float = 600, memory_gb: float | None = None,
        cwd: Path | None = None) -> tuple[int, str, str, float]:
    """Run `cruxlab ARGS` in a fresh process: (exit code, stdout, stderr, its peak RSS in MB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(CLI + args, stdout=out, stderr=err, cwd=cwd or REPO, env={**os.environ, **(env or {})},
                             preexec_fn=_limit_memory(memory_gb) if memory_gb else None)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read(), usage.ru_maxrss / 1024


def clear_error(code: int, err: str) -> bool:
    return code in (2, 130) and "Traceback" not in err and err.strip().startswith("cruxlab:") and len(err) < 2000


def refuse_case(run: Run, group: str, name: str, args: list[str], env: dict | None = None,
                memory_gb: float | None = None, expect: str | None = None) -> Case:
    """Run a command that must be refused on a fresh store copy; check the message and the store."""
    db = run.fresh_db(name)
    raw, fp = db.read_bytes(), fingerprint(db)
    code, out, err, peak = cli(["--db", str(db), *args], env=env, memory_gb=memory_gb)
    case = Case(group, name, "refuse")
    case.clear = clear_error(code, err) and (expect is None or expect in err)
    case.unchanged = "bytes" if db.read_bytes() == raw else ("content" if fingerprint(db) == fp else "")
    case.ok = case.clear and bool(case.unchanged)
    first = err.strip().splitlines()[-1] if err.strip() else f"(exit {code}, no message)"
    case.note = (f"{'' if case.unchanged else 'DB CHANGED '}exit {code}"
                 + (f", {peak:.0f} MB" if memory_gb else "") + f": {first[:90]}")
    return run.record(case)


# ------------------------------------------------------------------------------------------- inputs
def good_arrays(seed: int = 11, seconds: float = 10, fps: float = 30) -> dict[str, np.ndarray]:
    from cruxlab.joints import JOINT_NAMES
    from moves.synthetic import generate_attempt

    sk = generate_attempt(seed, "mild", fps=fps, duration_s=max(seconds, 30)).skeleton
    n = int(seconds * fps)
    return dict(keypoints=sk.keypoints[:n], joint_names=np.array(JOINT_NAMES), fps=np.float64(fps),
                confidence=sk.confidence[:n])


def save(path: Path, **arrays) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def bad_skeleton_files(folder: Path) -> dict[str, Path]:
    """Broken variants of a good skeleton file (each must be refused)."""
    from benchmarks.hostile import zip_bomb

    g = good_arrays()
    kp, names = g["keypoints"], g["joint_names"]
    out: dict[str, Path] = {}

    def add(name: str, **changes):
        arrays = {**g, **changes}
        arrays = {k: v for k, v in arrays.items() if v is not None}
        out[name] = save(folder / f"{name}.npz", **arrays)

    add("fps zero", fps=np.float64(0))
    add("fps negative", fps=np.float64(-30))
    add("fps 1e300", fps=np.float64(1e300))
    add("fps 1e-300", fps=np.float64(1e-300))
    add("fps NaN", fps=np.float64(np.nan))
    add("fps inf", fps=np.float64(np.inf))
    add("fps as text", fps=np.array("thirty"))
    add("fps as two numbers", fps=np.array([30.0, 60.0]))
    add("coordinates 1e30", keypoints=kp * np.float32(1e30))
    add("coordinates in millimetres", keypoints=kp * 1000)
    add("coordinates inf", keypoints=np.where(np.arange(kp.size).reshape(kp.shape) == 5, np.inf, kp))
    add("coordinates float64 overflow", keypoints=kp.astype(np.float64) * 1e300)
    add("all NaN", keypoints=np.full_like(kp, np.nan))
    add("complex keypoints", keypoints=kp + 1j)
    add("boolean keypoints", keypoints=kp > 0)
    add("string keypoints", keypoints=kp.astype(str))
    add("object keypoints (pickle)", keypoints=kp.astype(object))
    add("negative confidence", confidence=-g["confidence"])
    add("confidence above 1", confidence=g["confidence"] * 5)
    add("confidence wrong shape", confidence=g["confidence"][:, :3])
    add("0.3 s clip", keypoints=kp[:9], confidence=g["confidence"][:9])
    add("zero frames", keypoints=kp[:0], confidence=g["confidence"][:0])
    add("2-D keypoints", keypoints=kp[..., :2])
    add("unknown joint", joint_names=np.array([*names[:-1], "left_pinky"]))
    add("duplicate joint", joint_names=np.array([*names[:-1], names[0]]))
    add("no COCO body", keypoints=kp[:, :5], joint_names=names[:5], confidence=g["confidence"][:, :5])
    add("joint names as numbers", joint_names=np.arange(len(names)))
    add("missing fps", fps=None)
    add("wall_normal zero", wall_normal=np.zeros(3))
    add("wall_point 1e9", wall_point=np.array([0, 1e9, 0.0]))
    # not .npz at all
    (folder / "text.npz").write_text("keypoints,x,y,z\n1,2,3,4\n")
    out["a text file"] = folder / "text.npz"
    (folder / "empty.npz").write_bytes(b"")
    out["an empty file"] = folder / "empty.npz"
    good = save(folder / "good.npz", **g)
    (folder / "truncated.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out["a truncated archive"] = folder / "truncated.npz"
    with open(folder / "renamed.npz", "wb") as fh:
        np.save(fh, kp)
    out["an .npy renamed .npz"] = folder / "renamed.npz"
    (folder / "a folder.npz").mkdir()
    out["a folder"] = folder / "a folder.npz"
    out["a missing file"] = folder / "missing.npz"
    out["zip bomb, 8 M frames in 2 MB"] = zip_bomb(folder / "bomb8m.npz", 8_000_000)
    out["zip bomb, 10 M frames x 21 joints"] = zip_bomb(folder / "bomb10m.npz", 10_000_000, joints=21)
    return out


def bad_videos(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """(video, extra analyze arguments) that must be refused before anything is stored."""
    import av

    from reconstruction.video import write_video

    out: dict[str, tuple[Path, list[str]]] = {}
    (folder / "text.mp4").write_text("hello\n" * 100)
    out["text named .mp4"] = (folder / "text.mp4", [])
    (folder / "empty.mp4").write_bytes(b"")
    out["empty file"] = (folder / "empty.mp4", [])
    (folder / "clips").mkdir()
    out["a folder as VIDEO"] = (folder / "clips", [])
    out["missing file"] = (folder / "nope.mp4", [])
    png = folder / "wall.mp4"
    import cv2

    cv2.imwrite(str(folder / "wall.png"), np.full((64, 64, 3), 128, np.uint8))
    shutil.copy(folder / "wall.png", png)
    out["a PNG named .mp4"] = (png, [])
    zero = folder / "zero.mkv"
    with av.open(str(zero), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height = 64, 48
        c.start_encoding()
    out["zero frames"] = (zero, [])
    frames = [np.full((96, 128, 3), 90, np.uint8)] * 40
    full = write_video(folder / "forty.mp4", frames, 25)
    cut = folder / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    out["truncated recording"] = (cut, [])
    out["1-frame video"] = (write_video(folder / "one.mp4", frames[:1], 25), [])
    out["0.3 s clip"] = (write_video(folder / "blink.mp4", frames[:8], 25), [])
    audio = folder / "audio.m4a"
    with av.open(str(audio), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, i * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    out["audio only"] = (audio, [])
    for fps in ("1e300", "1e-300", "nan", "-5", "0", "inf"):
        out[f"--fps {fps}"] = (CLIP, ["--fps", fps])
    out["--start past the end"] = (CLIP, ["--start", "999"])
    out["--end before --start"] = (CLIP, ["--start", "5", "--end", "2"])
    out["--height-m 17"] = (CLIP, ["--height-m", "17"])
    out["--wall-angle 400"] = (CLIP, ["--wall-angle", "400"])
    out["empty --climber"] = (CLIP, ["--climber", " "])
    return out


# ------------------------------------------------------------------------------------------- groups
def make_baseline(root: Path) -> Path:
    db = root / "baseline.duckdb"
    files = []
    for i, seed in enumerate((11, 12, 13)):
        files.append(save(root / f"attempt-{i + 1}.npz", **good_arrays(seed, seconds=20)))
    code, out, err, _ = cli(["--db", str(db), "import-skeleton", *map(str, files), "--climber", "Janja"])
    assert code == 0, err
    return db


def group_skeletons(run: Run) -> None:
    print("bad skeleton files (import-skeleton)", flush=True)
    folder = run.root / "skeletons"
    folder.mkdir()
    for name, path in bad_skeleton_files(folder).items():
        refuse_case(run, "skeleton", name, ["import-skeleton", str(path), "--climber", "Janja"], memory_gb=4)
    # the limits are configurable: a good file refused under a lowered limit
    good = folder / "good.npz"
    refuse_case(run, "skeleton", "good file over CRUXLAB_MAX_FRAMES=100", ["import-skeleton", str(good), "--climber",
                "A"], env={"CRUXLAB_MAX_FRAMES": "100"}, expect="CRUXLAB_MAX_FRAMES")
    refuse_case(run, "skeleton", "good file over CRUXLAB_MAX_NPZ_MB=0.01", ["import-skeleton", str(good),
                "--climber", "A"], env={"CRUXLAB_MAX_NPZ_MB": "0.01"}, expect="CRUXLAB_MAX_NPZ_MB")
    refuse_case(run, "skeleton", "one bad file in a batch of two", ["import-skeleton", str(good),
                str(folder / "text.npz"), "--climber", "A"])
    refuse_case(run, "skeleton", "name taken by another file", ["import-skeleton", str(good), "--climber", "A",
                "--name", "attempt-1"])


def group_videos(run: Run, quick: bool) -> None:
    print("bad videos and arguments (analyze)", flush=True)
    folder = run.root / "videos"
    folder.mkdir()
    for name, (video, extra) in bad_videos(folder).items():
        args = ["analyze", str(video), "--climber", "Janja", "-q", "--cache-dir", str(run.root / "cache-bad"), *extra]
        if "--climber" in extra:
            args = ["analyze", str(video), "-q", *extra]
        refuse_case(run, "video", name, args)


RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


def group_sql(run: Run) -> None:
    print("runaway and hostile SQL (cruxlab sql)", flush=True)
    leak = run.root / "leak.csv"
    cases = {
        "recursive CTE without end": [RUNAWAY, "--timeout", "2"],
        "cross join of 1e18 rows": ["SELECT count(*) FROM range(1000000000) a, range(1000000000) b", "--timeout", "2"],
        "string doubling (memory)": ["WITH RECURSIVE r(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || s FROM r "
                                     "WHERE n < 40) SELECT max(length(s)) FROM r", "--memory-mb", "256"],
        "sort of 1e9 rows": ["SELECT * FROM range(1000000000) ORDER BY random() LIMIT 5", "--timeout", "2"],
        "repeat('x', 1e11)": ["SELECT length(repeat('x', 100000000000))", "--timeout", "5", "--memory-mb", "256"],
        "DELETE": ["DELETE FROM attempts"],
        "DROP TABLE": ["DROP TABLE moves"],
        "UPDATE": ["UPDATE moves SET label = 'dyno'"],
        "COPY TO a file": [f"COPY attempts TO '{leak}'"],
        "ATTACH another file": [f"ATTACH '{run.root / 'other.duckdb'}'"],
        "read_csv of /etc/passwd": ["SELECT * FROM read_csv('/etc/passwd')"],
        "INSTALL an extension": ["INSTALL httpfs"],
        "SET external access on": ["SET enable_external_access = true"],
        "two statements": ["SELECT 1; DELETE FROM attempts"],
        "syntax error": ["SELEC * FRM attempts"],
        "empty query": [" "],
    }
    for name, args in cases.items():
        refuse_case(run, "sql", name, ["sql", *args])
    run.cases[-1].note += "" if not leak.exists() else "  LEAK FILE WRITTEN"


def group_models(run: Run) -> None:
    print("hostile stored models (moves detect / import-skeleton / moves use)", flush=True)
    import duckdb

    from benchmarks.hostile import code_running_pickle

    marker = run.root / "pwned"
    evil = code_running_pickle(marker)
    good = run.root / "skeletons" / "good.npz"
    rows = {
        "planted pickle, legacy format": (evil, "pickle"),
        "planted pickle named as the current format": (evil, "cruxlab-trees-1"),
        "planted pickle, unknown format": (evil, "skops"),
        "npz with a changed byte": (None, "cruxlab-trees-1"),
    }
    for name, (payload, fmt) in rows.items():
        for args in (["moves", "detect"], ["import-skeleton", str(good), "--climber", "A"]):
            db = run.fresh_db(name)
            con = duckdb.connect(str(db))
            real = con.execute("SELECT payload FROM move_models WHERE kind = 'learned'").fetchone()[0]
            real = bytes(real)
            data = payload if payload is not None else (                  # one bit flipped mid-payload
                real[:len(real) // 2] + bytes([real[len(real) // 2] ^ 1]) + real[len(real) // 2 + 1:])
            digest = hashlib.sha256(data if payload is not None else real).hexdigest()
            con.execute("UPDATE move_models SET payload = ?, payload_format = ?, payload_sha256 = ? "
                        "WHERE kind = 'learned'", [data, fmt, digest])
            con.close()
            raw = db.read_bytes()
            code, out, err, _ = cli(["--db", str(db), *args])
            case = Case("model", f"{name}: {args[0]} {args[1]}", "refuse")
            case.clear = clear_error(code, err) and "moves train" in err
            case.unchanged = "bytes" if db.read_bytes() == raw else ""
            case.ok = case.clear and bool(case.unchanged) and not marker.exists()
            case.note = f"exit {code}, code ran: {marker.exists()}: {err.strip()[-80:]}"
            run.record(case)


def group_traversal(run: Run) -> None:
    print("attempt names that are paths (export, moves plot, render)", flush=True)
    good = run.root / "skeletons" / "good.npz"
    for name in ("../../escaped", "/tmp/cruxlab-fault-abs", "x" * 300, "..", "a\\b:c*?", "-rf", "CON"):
        db = run.fresh_db("traversal")
        work = db.parent / "work"
        (work / "out").mkdir(parents=True)
        code, _, err, _ = cli(["--db", str(db), "import-skeleton", str(good), "--climber", "A", f"--name={name}"])
        results = []
        for args in (["export", "--out", str(work / "out"), "--format", "npz", f"--attempt={name}"],
                     ["moves", "plot", "--", name], ["render", "--max-side", "160", "--", name]):
            c, _, e, _ = cli(["--db", str(db), *args], cwd=work)
            results.append(c)
        written = [p for p in work.rglob("*") if p.is_file()]
        folders = (work / "out", work / "artifacts")
        outside = [p for p in run.root.rglob("*escaped*") if "work" not in p.relative_to(run.root).parts]
        outside += list(Path("/tmp").glob("cruxlab-fault-abs*"))
        inside = all(p.parent in folders for p in written)
        case = Case("traversal", f"name {name[:40]!r}", "safe")
        case.ok = code == 0 and results == [0, 0, 0] and inside and not outside and len(written) == 3
        case.note = f"import {code}, export/plot/render {results}, {len(written)} files, all inside: {inside}"
        run.record(case)


def _kill_after(args: list[str], delay: float, env: dict | None = None) -> int:
    p = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                         env={**os.environ, **(env or {})})
    try:
        p.wait(timeout=delay)
        return p.returncode
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return -9


def kill_case(run: Run, group: str, name: str, args_of, delay: float, new_rows: dict[str, int]) -> Case:
    db = run.fresh_db(name)
    fp, size, before = fingerprint(db), db.stat().st_size, counts(db)
    rc = _kill_after(["--db", str(db), *args_of(db)], delay)
    case = Case(group, f"{name}, kill -9 after {delay:.1f} s", "kill")
    try:
        after = counts(db)
        same = fingerprint(db) == fp
        complete = all(after.get(t, 0) - before.get(t, 0) == n for t, n in new_rows.items())
        case.ok = same or complete
        grown = db.stat().st_size - size
        state = "unchanged" if same else ("complete attempt" if complete else f"PARTIAL {after}")
        case.note = f"{'killed' if rc == -9 else f'finished (exit {rc})'}: {state}, file +{grown / 2**20:.1f} MB"
    except Exception as exc:  # noqa: BLE001 - an unreadable store is exactly what this run looks for
        case.note = f"DATABASE UNREADABLE: {exc}"
    return run.record(case)


def timed_rows(run: Run, args: list[str]) -> tuple[float, dict[str, int]]:
    """How long a command takes to finish undisturbed, and the rows it adds (the kill points are spread over
    that time, so some land in the store stage whatever the machine's load)."""
    db = run.fresh_db("timing")
    before = counts(db)
    t = time.perf_counter()
    code, _, err, _ = cli(["--db", str(db), *args])
    assert code == 0, err
    after = counts(db)
    return time.perf_counter() - t, {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def group_kills(run: Run, quick: bool) -> None:
    print("kill -9 during import and analysis", flush=True)
    g = good_arrays(14, seconds=30)
    big = save(run.root / "long.npz", **{**g, "keypoints": np.concatenate([g["keypoints"]] * 200),
                                         "confidence": np.concatenate([g["confidence"]] * 200)})
    fractions = (0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.97) if not quick else (0.5, 0.9)
    import_args = ["import-skeleton", str(big), "--climber", "K"]
    seconds, rows = timed_rows(run, import_args)
    print(f"  (an undisturbed import of {rows.get('skeleton_frames')} frames took {seconds:.1f} s)", flush=True)
    for f in fractions:
        kill_case(run, "kill", f"import of {rows.get('skeleton_frames')} frames", lambda db: import_args,
                  f * seconds, rows)
    # analysis: a warm stage cache so the run spends its time in the last stages and the store
    cache = run.root / "cache-analyze"
    args = ["analyze", str(CLIP), "--climber", "K", "--start", "6", "--end", "8", "--fps", "12.5", "-q",
            "--cache-dir", str(cache)]
    timed_rows(run, args)                                   # warms the cache
    seconds, rows = timed_rows(run, args)
    print(f"  (an undisturbed analysis from a warm cache took {seconds:.1f} s)", flush=True)
    for f in fractions:
        kill_case(run, "kill", "analysis (cached stages)", lambda db: args, f * seconds, rows)


def group_concurrency(run: Run, quick: bool) -> None:
    print("concurrent writers and readers", flush=True)
    g = good_arrays(15, seconds=20)
    files = [save(run.root / f"conc-{i}.npz", **{**g, "keypoints": g["keypoints"] + np.float32(i * 1e-3)})
             for i in range(3)]
    env = {"CRUXLAB_DB_TIMEOUT": "120"}

    def parallel(label: str, commands: list[list[str]], expect_rows: dict[str, int], db: Path | None = None) -> None:
        db = db or run.fresh_db(label)
        before = counts(db)
        procs = [subprocess.Popen(CLI + ["--db", str(db), *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=REPO, env={**os.environ, **env}) for c in commands]
        outs = [p.communicate(timeout=900) for p in procs]
        codes = [p.returncode for p in procs]
        after = counts(db)
        good = all(c == 0 or clear_error(c, e) for c, (_, e) in zip(codes, outs))
        rows_ok = all(after.get(t, 0) - before.get(t, 0) == n for t, n in expect_rows.items())
        case = Case("concurrent", label, "concurrent", ok=good and rows_ok and all(c == 0 for c in codes))
        case.note = f"exits {codes}, rows {'as expected' if rows_ok else after}"
        run.record(case)

    parallel("three imports into one store at once",
             [["import-skeleton", str(f), "--climber", "C"] for f in files],
             {"attempts": 3, "skeleton_frames": 3 * 600})
    parallel("import while a 10 s query runs",
             [["sql", "SELECT count(*) FROM range(3000000000) a WHERE a.range % 7 = 8", "--timeout", "10"],
              ["import-skeleton", str(files[0]), "--climber", "C"]], {"attempts": 1})
    parallel("moves detect while the dashboard-style reader polls",
             [["moves", "detect"], ["attempts"], ["sql", "SELECT count(*) FROM moves"], ["attempts"]], {})
    parallel("same file imported twice at once",
             [["import-skeleton", str(files[1]), "--climber", "C"]] * 2, {"attempts": 1})
    if not quick:
        cache = run.root / "cache-concurrent"
        args = ["analyze", str(CLIP), "--climber", "K", "--start", "6", "--end", "8", "--fps", "12.5", "-q",
                "--cache-dir", str(cache)]
        parallel("two analyses of one clip, one cache, one store", [args, args], {"attempts": 1})


# ------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer kill points, no concurrent analyses")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="cruxlab-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        print(f"fault run in {root}", flush=True)
        baseline = make_baseline(root)
        _store_learned_model(baseline)
        run = Run(root, baseline)
        group_skeletons(run)
        group_videos(run, args.quick)
        group_sql(run)
        group_models(run)
        group_traversal(run)
        group_kills(run, args.quick)
        group_concurrency(run, args.quick)
        summary(run, time.perf_counter() - t0)
        return 0 if all(c.ok for c in run.cases) else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _store_learned_model(db: Path) -> None:
    """A learned model in the baseline (inactive), so the model cases have a real payload to corrupt."""
    from db import connect, transaction
    from moves.classify import LearnedMoveClassifier
    from moves.segment import FEATURE_NAMES
    from moves.service import save_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, len(FEATURE_NAMES)))
    y = np.array(["none", "reach", "flag"], dtype=object)[rng.integers(0, 3, 300)]
    with connect(db) as con, transaction(con):
        save_model(con, LearnedMoveClassifier(max_iter=10).fit(X, y), kind="learned", activate=True)


def summary(run: Run, seconds: float) -> None:
    by_kind = Counter(c.kind for c in run.cases)
    refuse = [c for c in run.cases if c.kind == "refuse"]
    print("\n=== fault run summary ===")
    print(f"cases tried: {len(run.cases)} ({', '.join(f'{n} {k}' for k, n in by_kind.items())}) in {seconds / 60:.1f} min")
    print(f"refused inputs: {sum(c.ok for c in refuse)}/{len(refuse)} ended with a clear error and an unchanged "
          f"database ({sum(c.unchanged == 'bytes' for c in refuse)} byte-identical, "
          f"{sum(c.unchanged == 'content' for c in refuse)} same content); clear error: {sum(c.clear for c in refuse)}, "
          f"unchanged: {sum(bool(c.unchanged) for c in refuse)}")
    for kind, what in (("safe", "hostile names handled inside their folders"),
                       ("kill", "kills left a readable store, unchanged or with the complete attempt"),
                       ("concurrent", "concurrent runs all finished with consistent content")):
        cs = [c for c in run.cases if c.kind == kind]
        print(f"{what}: {sum(c.ok for c in cs)}/{len(cs)}")
    bad = [c for c in run.cases if not c.ok]
    for c in bad:
        print(f"  FAILED {c.group}: {c.name}: {c.note}")
    print(f"all {len(run.cases)} cases as expected" if not bad else f"{len(bad)} case(s) not as expected")


if __name__ == "__main__":
    sys.exit(main())
