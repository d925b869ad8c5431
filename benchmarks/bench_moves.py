"""Moves and store throughput.

Targets (issue 2): features + segmentation + rule classification >= 1 M frames/s; skeleton import
>= 200 k frames/s; move-statistics queries over 10 k attempts <= 100 ms.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import best_of


def bench_detect() -> None:
    from cruxlab.skeleton import Skeleton
    from moves.classify import default_classifier, detect
    from moves.synthetic import generate_attempt

    attempts = [generate_attempt(s, "mild", fps=30) for s in range(6)]
    clf = default_classifier()
    frames = sum(a.skeleton.n_frames for a in attempts)
    dt = best_of(lambda: [detect(a.skeleton, clf) for a in attempts])
    print(f"detect, typical attempts ({len(attempts)} x ~{frames // len(attempts)} frames): "
          f"{frames / dt / 1e6:.2f} M frames/s ({dt / len(attempts) * 1e3:.1f} ms per attempt)")
    reps = int(np.ceil(1_000_000 / frames))
    kp = np.concatenate([a.skeleton.keypoints for a in attempts] * reps)[:1_000_000]
    session = Skeleton(kp, 30.0, wall_normal=attempts[0].skeleton.wall_normal)
    dt = best_of(lambda: detect(session, clf), repeat=2)
    print(f"detect, one 1 M-frame session: {1e6 / dt / 1e6:.2f} M frames/s  (target >= 1 M frames/s)")


def bench_import(tmp: Path) -> None:
    from moves.ingest import import_skeletons
    from moves.synthetic import generate_attempt

    base = generate_attempt(0, "mild", fps=30).skeleton
    files = []
    for i in range(20):  # 20 files x 10 k frames
        kp = np.concatenate([base.keypoints] * 8)[:10_000] + np.float32(i * 1e-3)
        path = tmp / f"session-{i}.npz"
        np.savez(path, keypoints=kp, joint_names=np.array(__import__("cruxlab.joints").joints.JOINT_NAMES), fps=30.0)
        files.append(path)
    rates = []
    for run in range(3):  # a fresh store each time
        db = tmp / f"import-{run}.duckdb"
        t = time.perf_counter()
        import_skeletons(db, files, climber="bench", detect=False)
        rates.append(200_000 / (time.perf_counter() - t))
    print(f"import-skeleton (validate + sha256 + Arrow insert, one transaction per file, 20 files x 10 k frames): "
          f"best {max(rates) / 1e3:.0f} k, median {np.median(rates) / 1e3:.0f} k frames/s  (target >= 200 k frames/s)")


def bench_stats(tmp: Path) -> None:
    import pyarrow as pa

    from db import connect

    db = tmp / "stats.duckdb"
    rng = np.random.default_rng(0)
    n_att, per = 10_000, 25
    labels = np.array(["reach", "cross-over", "match", "foot-move", "flag", "rock-over", "dyno"])
    limbs = np.array(["left_hand", "right_hand", "left_foot", "right_foot", "body"])
    with connect(db) as con:
        con.execute("INSERT INTO climbers (name) SELECT 'climber ' || i FROM range(200) t(i)")
        con.execute("INSERT INTO problems (name, angle_deg) SELECT 'problem ' || i, (i % 5) * 10 FROM range(300) t(i)")
        con.execute(
            """INSERT INTO attempts (name, climber_id, problem_id, source_kind, source_path, ingest_key, fps, n_frames)
               SELECT 'attempt ' || i, 1 + i % 200, 1 + i % 300, 'skeleton', 'bench', 'key ' || i, 30, 1500
               FROM range(?) t(i)""", [n_att])
        n = n_att * per
        starts = rng.integers(0, 1400, n)
        moves = pa.table({
            "attempt_id": np.repeat(np.arange(1, n_att + 1), per).astype(np.int32),
            "start_frame": starts.astype(np.int32),
            "end_frame": (starts + rng.integers(5, 60, n)).astype(np.int32),
            "label": labels[rng.integers(0, len(labels), n)],
            "limb": limbs[rng.integers(0, len(limbs), n)],
            "confidence": rng.random(n).astype(np.float32),
            "source": np.full(n, "model"),
        })
        con.register("m", moves)
        con.execute("INSERT INTO moves (attempt_id, start_frame, end_frame, label, limb, confidence, source) SELECT * FROM m")
        con.execute(
            """INSERT INTO label_edits (move_id, attempt_id, action, label, limb, start_frame, end_frame, deleted,
                   editor, source, edited_at)
               SELECT move_id, attempt_id, 'relabel', 'flag', limb, start_frame, end_frame, false, 'coach',
                      'dashboard', now() FROM moves WHERE move_id % 20 = 0""")
    queries = {
        "moves_per_label": "SELECT * FROM moves_per_label",
        "moves_per_climber": "SELECT * FROM moves_per_climber",
        "moves_per_problem": "SELECT * FROM moves_per_problem",
        "moves_per_attempt": "SELECT * FROM moves_per_attempt",
        "attempt_activity": "SELECT * FROM attempt_activity",
        "rock-over durations of one climber": "SELECT avg(duration_s) FROM move_details WHERE climber = 'climber 7' AND label = 'rock-over'",
    }
    with connect(db, read_only=True) as con:
        for name, sql in queries.items():
            dt = best_of(lambda: con.execute(sql).fetchall(), repeat=5)
            print(f"stats query {name!r} over {n_att} attempts / {n} moves: {dt * 1e3:.0f} ms  (target <= 100 ms)")


def main() -> None:
    bench_detect()
    with tempfile.TemporaryDirectory() as tmp:
        bench_import(Path(tmp))
        bench_stats(Path(tmp))


if __name__ == "__main__":
    main()
