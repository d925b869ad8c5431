"""Export moves, skeletons and the label history to Parquet/CSV, or skeletons to interchange .npz files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cruxlab.joints import JOINT_NAMES, NUM_JOINTS
from cruxlab.paths import data_path
from cruxlab.skeleton import save_npz
from db import store
from db.connection import connect


def _write(table: pa.Table, path: Path, fmt: str) -> Path:
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)
    return path


SKELETON_SCHEMA = pa.schema([
    ("attempt", pa.string()), ("frame", pa.int32()), ("time_s", pa.float64()), ("joint", pa.string()),
    ("x", pa.float32()), ("y", pa.float32()), ("z", pa.float32()), ("confidence", pa.float32()),
])


def skeleton_long_table(name: str, skeleton) -> pa.Table:
    """One row per (frame, joint): attempt, frame, time_s, joint, x, y, z, confidence."""
    T = skeleton.n_frames
    kp = skeleton.keypoints.reshape(T * NUM_JOINTS, 3)
    frames = np.repeat(np.arange(T, dtype=np.int32), NUM_JOINTS)
    return pa.table({
        "attempt": pa.array([name] * (T * NUM_JOINTS), type=pa.string()),
        "frame": frames,
        "time_s": frames / skeleton.fps,
        "joint": pa.DictionaryArray.from_arrays(
            np.tile(np.arange(NUM_JOINTS, dtype=np.int32), T), pa.array(JOINT_NAMES)
        ).cast(pa.string()),
        "x": kp[:, 0], "y": kp[:, 1], "z": kp[:, 2],
        "confidence": skeleton.confidence.reshape(-1),
    }, schema=SKELETON_SCHEMA)


def export(db_path: str | Path, out: str | Path, fmt: str = "parquet",
           attempts: Sequence[str] | None = None) -> list[Path]:
    """Write the export files into `out`; return their paths."""
    if fmt not in ("parquet", "csv", "npz"):
        raise ValueError(f"unknown format {fmt!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with connect(db_path, read_only=True) as con:
        chosen = store.resolve_attempts(con, attempts)
        ids = [a for a, _ in chosen]
        if fmt == "npz":
            for attempt_id, name in chosen:
                written.append(save_npz(store.read_skeleton(con, attempt_id), data_path(out, name, ".npz")))
            return written
        moves = store.read_arrow(
            con, "SELECT * FROM move_details WHERE list_contains(?, attempt_id) ORDER BY attempt_id, start_frame, limb",
            [ids])
        written.append(_write(moves, out / f"moves.{fmt}", fmt))
        history = store.read_arrow(
            con, "SELECT * FROM label_edits WHERE list_contains(?, attempt_id) ORDER BY edited_at, edit_id", [ids])
        written.append(_write(history, out / f"label_history.{fmt}", fmt))
        tables = [skeleton_long_table(name, store.read_skeleton(con, a)) for a, name in chosen]
    skeletons = pa.concat_tables(tables) if tables else SKELETON_SCHEMA.empty_table()
    written.append(_write(skeletons, out / f"skeletons.{fmt}", fmt))
    return written
