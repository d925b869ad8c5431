"""The one reader/writer of every table. All functions take an open connection (`db.connect`).

Writers do not open transactions themselves unless they say so: the caller wraps one attempt's writes in
`db.transaction(con)` so a failure leaves nothing half-written. Bulk per-frame data goes through Arrow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from cruxlab.camera import CameraTrack, WallPoints
from cruxlab.digest import canonical_json, ingest_key  # noqa: F401 (ingest_key: the key of every stored attempt)
from cruxlab.errors import DatabaseError, InputError
from cruxlab.intervals import temporal_iou
from cruxlab.joints import LIMBS, NUM_JOINTS
from cruxlab.labels import MOVE_LABELS, Move
from cruxlab.skeleton import Skeleton

if TYPE_CHECKING:  # the DataFrames come from DuckDB's .df(); importing pandas costs ~45 MB in every analysis
    import pandas as pd

EDIT_SOURCES = ("dashboard", "label-studio", "cli")


# --------------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class VideoRecord:
    """A decoded video: absolute path, content hash, fps and size after rotation."""

    path: str
    sha256: str
    fps: float
    width: int
    height: int
    n_frames: int
    rotation: int = 0


@dataclass(frozen=True)
class EffectorFlow:
    """How each effector's image patch moved relative to the wall, frame t -> t+1 (moves.evidence.effector_flow).

    rel: (T, 4, 2) full-size pixels, cruxlab.joints.EFFECTOR_LIMBS order: the motion of the moving part of
    the patch minus the wall's motion there; wall: (T, 4, 2) the wall's (camera's) image motion at the patch
    centre; both NaN where unknown (effector not seen, too few trusted points, the last frame)."""

    rel: np.ndarray
    wall: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.rel)


@dataclass(frozen=True)
class Keypoints2D:
    """Raw 2D detections of an analysed video. keypoints: (T, 21, 2) full-size display pixels, NaN = missing;
    confidence: (T, 21); body3d: (T, 21, 3) metres, mid-hip origin, camera axes, or None; boxes: (T, 4) px."""

    keypoints: np.ndarray
    confidence: np.ndarray
    body3d: np.ndarray | None
    boxes: np.ndarray


@dataclass(frozen=True)
class AttemptInfo:
    attempt_id: int
    name: str
    climber: str
    problem: str | None
    fps: float
    n_frames: int
    source_kind: str
    source_path: str
    video_path: str | None
    video_start_frame: int
    video_frame_step: int
    outcome: str | None
    camera_model: str | None
    report: dict
    video_size: tuple[int, int] | None = None  # (width, height) display pixels of the video, after rotation


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# ------------------------------------------------------------------------------------------ arrow helpers
# Arrow arrays are made from their buffers, not with `pa.array`: that asks pyarrow's pandas shim whether its
# input is a pandas object, which imports pandas (~0.15 s and ~45 MB) into every process that writes the store,
# `cruxlab analyze` included.
def _numbers(values, dtype=None) -> pa.Array:
    """Numbers or bools (any shape, flattened; cast to `dtype` if given) as an Arrow array without nulls."""
    arr = np.ascontiguousarray(values, dtype=dtype).reshape(-1)
    if arr.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), len(arr), [None, pa.py_buffer(np.packbits(arr, bitorder="little"))])
    return pa.Array.from_buffers(pa.from_numpy_dtype(arr.dtype), len(arr), [None, pa.py_buffer(arr)])


def _strings(values: Iterable) -> pa.Array:
    """Texts (None = null) as an Arrow string array."""
    data = [None if v is None else str(v).encode() for v in values]
    valid = np.array([d is not None for d in data], dtype=bool)
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(d) if d is not None else 0 for d in data], out=offsets[1:])
    nulls = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(data), [nulls, pa.py_buffer(offsets),
                                                           pa.py_buffer(b"".join(d for d in data if d is not None))],
                                 null_count=int((~valid).sum()))


def _fixed_list(values: np.ndarray, *shape: int) -> pa.Array:
    """(N, *shape) numpy array -> nested Arrow FixedSizeList array (DuckDB ARRAY type)."""
    flat = _numbers(values)
    for size in reversed(shape):
        flat = pa.FixedSizeListArray.from_arrays(flat, size)
    return flat


def _arrow_to_numpy(column: pa.ChunkedArray | pa.Array, *shape: int) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    for _ in shape:
        arr = arr.flatten()
    return arr.to_numpy(zero_copy_only=False).reshape(n, *shape)


def read_arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pa.Table:
    """Rows as an Arrow table, whatever ran on the connection before. DuckDB 2.x refuses `con.sql()` while an
    `execute()` result is unfinished (any `fetchone()` leaves one), so finish it first."""
    con.complete()
    return con.sql(sql, params=params).to_arrow_table()


def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    view = f"_arrow_{table}"
    con.register(view, data)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(data.column_names)}) SELECT * FROM {view}")
    finally:
        con.unregister(view)


# ------------------------------------------------------------------------------------- climbers, problems
def upsert_climber(con: duckdb.DuckDBPyConnection, name: str, height_m: float | None = None) -> int:
    name = name.strip()
    if not name:
        raise InputError("climber name must not be empty; pass --climber NAME")
    row = con.execute("SELECT climber_id, height_m FROM climbers WHERE name = ?", [name]).fetchone()
    if row:
        if height_m is not None and row[1] is None:
            con.execute("UPDATE climbers SET height_m = ? WHERE climber_id = ?", [height_m, row[0]])
        return int(row[0])
    return int(con.execute(
        "INSERT INTO climbers (name, height_m) VALUES (?, ?) RETURNING climber_id", [name, height_m]
    ).fetchone()[0])


def upsert_problem(
    con: duckdb.DuckDBPyConnection,
    name: str,
    wall: str | None = None,
    grade: str | None = None,
    angle_deg: float | None = None,
) -> int:
    row = con.execute("SELECT problem_id FROM problems WHERE name = ?", [name]).fetchone()
    if row:
        con.execute(
            "UPDATE problems SET wall = coalesce(?, wall), grade = coalesce(?, grade), "
            "angle_deg = coalesce(?, angle_deg) WHERE problem_id = ?",
            [wall, grade, angle_deg, row[0]],
        )
        return int(row[0])
    return int(con.execute(
        "INSERT INTO problems (name, wall, grade, angle_deg) VALUES (?, ?, ?, ?) RETURNING problem_id",
        [name, wall, grade, angle_deg],
    ).fetchone()[0])


# ------------------------------------------------------------------------------------------------ attempts
def find_attempt(con: duckdb.DuckDBPyConnection, *, key: str | None = None, name: str | None = None) -> int | None:
    if key is not None:
        rows = con.execute("SELECT attempt_id FROM attempts WHERE ingest_key = ?", [key]).fetchall()
    else:
        rows = con.execute("SELECT attempt_id FROM attempts WHERE name = ?", [name]).fetchall()
    return int(rows[0][0]) if rows else None


def ingest_keys_and_names(con: duckdb.DuckDBPyConnection) -> tuple[frozenset[str], frozenset[str]]:
    """(ingest keys, attempt names) of every stored attempt: what is done already, which names are taken."""
    rows = con.execute("SELECT ingest_key, name FROM attempts").fetchall()
    return frozenset(k for k, _ in rows if k), frozenset(n for _, n in rows)


def wall_angle_deg(normal: np.ndarray | None) -> float:
    """Overhang angle from the wall normal: 0 for a vertical wall, +45 for a 45° overhang, -x for a slab."""
    if normal is None:
        return 0.0
    n = np.asarray(normal, dtype=float)
    # Normal of an overhang z = y tan(a) points out and down: (0, -sin a, cos a).
    return float(np.degrees(np.arctan2(-n[1], np.hypot(n[0], n[2]))))


@dataclass(frozen=True)
class AttemptRecord:
    """Everything one ingest writes for an attempt (one transaction: `insert_attempt`).

    name: attempt name (unique); climber: who climbs (created on first use); skeleton: wall-frame skeleton
    (T frames); source_kind: 'skeleton' (an imported file) or 'video' (an analysed video); source_path: the
    file it came from; key: `ingest_key` of the source and parameters (re-ingest is a no-op); params: the
    parameters that shaped it (JSON). Video attempts add `video`, where attempt frame i sits in it
    (video_start_frame + i * video_frame_step), per-frame `cameras` (T of them), sparse `wall_points`, the raw
    2D detections `keypoints2d`, the camera model name and the analysis `report` (JSON). problem, grade (the
    problem's), outcome, recorded_at (when it was climbed): metadata, editable later (`update_attempt`).
    """

    name: str
    climber: str
    skeleton: Skeleton
    source_kind: str
    source_path: str | Path
    key: str
    params: dict | None = None
    problem: str | None = None
    outcome: str | None = None
    climber_height_m: float | None = None
    video: VideoRecord | None = None
    video_start_frame: int = 0
    video_frame_step: int = 1
    cameras: CameraTrack | None = None
    wall_points: WallPoints | None = None
    keypoints2d: Keypoints2D | None = None
    effector_flow: EffectorFlow | None = None
    camera_model: str | None = None
    report: dict | None = None
    recorded_at: datetime | None = None
    grade: str | None = None  # the problem's (set on it when given)

    def __post_init__(self) -> None:
        if self.source_kind not in ("skeleton", "video"):
            raise ValueError(f"source_kind must be 'skeleton' or 'video', got {self.source_kind!r}")
        T = self.skeleton.n_frames
        if self.cameras is not None and len(self.cameras.R) != T:
            raise ValueError(f"{len(self.cameras.R)} cameras for {T} skeleton frames")
        if self.keypoints2d is not None and len(self.keypoints2d.keypoints) != T:
            raise ValueError(f"{len(self.keypoints2d.keypoints)} frames of 2D detections for {T} skeleton frames")
        if self.effector_flow is not None and self.effector_flow.n_frames != T:
            raise ValueError(f"{self.effector_flow.n_frames} frames of effector flow for {T} skeleton frames")


def insert_attempt(con: duckdb.DuckDBPyConnection, record: AttemptRecord) -> int:
    """Insert one attempt with all its per-frame data; return its attempt_id. Call inside `transaction(con)`.

    Raises InputError when `record.name` is taken by another ingest. Callers check `find_attempt(key=...)`
    first to make re-ingest a no-op (`moves.ingest.ingest_attempt` does both, and detects the moves).
    """
    if find_attempt(con, name=record.name) is not None:
        raise InputError(
            f"an attempt named {record.name!r} already exists from a different file or parameters; "
            "pass --name to choose another name"
        )
    attempt_id = _insert_attempt_row(con, record)
    _insert_skeleton_frames(con, attempt_id, record.skeleton)
    if record.cameras is not None:
        _insert_cameras(con, attempt_id, record.cameras)
    if record.wall_points is not None and len(record.wall_points.xyz):
        _insert_wall_points(con, attempt_id, record.wall_points)
    if record.keypoints2d is not None:
        insert_keypoints2d(con, attempt_id, record.keypoints2d)
    if record.effector_flow is not None:
        insert_effector_flow(con, attempt_id, record.effector_flow)
    return attempt_id


def _video_id(con: duckdb.DuckDBPyConnection, video: VideoRecord) -> int:
    """The `videos` row of this file content (inserted on first use)."""
    row = con.execute("SELECT video_id FROM videos WHERE sha256 = ?", [video.sha256]).fetchone()
    if row:
        return int(row[0])
    return int(con.execute(
        "INSERT INTO videos (path, sha256, fps, width, height, n_frames, rotation) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING video_id",
        [video.path, video.sha256, video.fps, video.width, video.height, video.n_frames, video.rotation],
    ).fetchone()[0])


def _insert_attempt_row(con: duckdb.DuckDBPyConnection, r: AttemptRecord) -> int:
    sk = r.skeleton
    climber_id = upsert_climber(con, r.climber, r.climber_height_m)
    problem_id = upsert_problem(con, r.problem, grade=r.grade) if r.problem else None
    video_id = None if r.video is None else _video_id(con, r.video)
    normal = None if sk.wall_normal is None else [float(v) for v in sk.wall_normal]
    point = None if sk.wall_point is None else [float(v) for v in sk.wall_point]
    return int(con.execute(
        """INSERT INTO attempts (name, climber_id, problem_id, video_id, source_kind, source_path, ingest_key,
               params, fps, n_frames, video_start_frame, video_frame_step, outcome, wall_normal, wall_point,
               wall_angle_deg, climber_height_m, camera_model, report, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING attempt_id""",
        [r.name, climber_id, problem_id, video_id, r.source_kind, str(r.source_path), r.key,
         canonical_json(r.params or {}), sk.fps, sk.n_frames, r.video_start_frame,
         r.video_frame_step, r.outcome, normal, point, wall_angle_deg(sk.wall_normal), r.climber_height_m,
         r.camera_model, json.dumps(r.report or {}, default=str), r.recorded_at],
    ).fetchone()[0])


def _attempt_ids(attempt_id: int, n: int) -> pa.Array:
    """The attempt_id column of n rows of one attempt."""
    return _numbers(np.full(n, attempt_id, dtype=np.int32))


def _frame_keys(attempt_id: int, n: int) -> dict[str, pa.Array]:
    """The (attempt_id, frame) columns of n per-frame rows."""
    return {"attempt_id": _attempt_ids(attempt_id, n), "frame": _numbers(np.arange(n, dtype=np.int32))}


def _insert_skeleton_frames(con: duckdb.DuckDBPyConnection, attempt_id: int, skeleton: Skeleton) -> None:
    _insert_arrow(con, "skeleton_frames", pa.table({
        **_frame_keys(attempt_id, skeleton.n_frames),
        "joints": _fixed_list(skeleton.keypoints.astype(np.float32), NUM_JOINTS, 3),
        "confidence": _fixed_list(skeleton.confidence.astype(np.float32), NUM_JOINTS),
    }))


def _insert_cameras(con: duckdb.DuckDBPyConnection, attempt_id: int, cameras: CameraTrack) -> None:
    _insert_arrow(con, "cameras", pa.table({
        **_frame_keys(attempt_id, len(cameras.R)),
        "K": _fixed_list(cameras.K.astype(np.float64), 3, 3),
        "R": _fixed_list(cameras.R.astype(np.float64), 3, 3),
        "t": _fixed_list(cameras.t.astype(np.float64), 3),
        "registered": _numbers(cameras.registered, bool),
    }))


def _insert_wall_points(con: duckdb.DuckDBPyConnection, attempt_id: int, wall_points: WallPoints) -> None:
    n = len(wall_points.xyz)
    cols = {
        "attempt_id": _attempt_ids(attempt_id, n),
        "point_id": _numbers(np.arange(n, dtype=np.int32)),
        "xyz": _fixed_list(wall_points.xyz.astype(np.float32), 3),
    }
    if wall_points.rgb is not None:
        cols["rgb"] = _fixed_list(wall_points.rgb.astype(np.uint8), 3)
    if wall_points.error is not None:
        cols["error"] = _numbers(wall_points.error, np.float32)
    _insert_arrow(con, "wall_points", pa.table(cols))


_UNSET = object()


@dataclass(frozen=True)
class MetadataChange:
    """One field of an attempt's metadata changed by `update_attempt`: field, value before, value after."""

    field: str
    before: object
    after: object


def update_attempt(
    con: duckdb.DuckDBPyConnection,
    attempt_id: int,
    *,
    climber: str | object = _UNSET,
    problem: str | None | object = _UNSET,
    grade: str | None | object = _UNSET,
    outcome: str | None | object = _UNSET,
    recorded_at: datetime | None | object = _UNSET,
) -> list[MetadataChange]:
    """Change who climbed, which problem (None: none), the problem's grade (it belongs to the problem, so
    every attempt of that problem shows it), the outcome and the date of an attempt. Fields not passed keep
    their value. Every value is validated first (cruxlab.metadata) and InputError says what to enter;
    nothing is written unless all are valid. Call inside `transaction(con)`. Returns what changed."""
    from cruxlab.metadata import check_grade, check_name, check_outcome, check_recorded_at

    row = con.execute(
        """SELECT c.name, p.name, p.grade, a.outcome, a.recorded_at
           FROM attempts a JOIN climbers c USING (climber_id) LEFT JOIN problems p USING (problem_id)
           WHERE a.attempt_id = ?""", [attempt_id]).fetchall()
    if not row:
        raise InputError(f"no attempt with id {attempt_id}")
    old = dict(zip(("climber", "problem", "grade", "outcome", "recorded_at"), row[0]))
    new = dict(old)
    if climber is not _UNSET:
        new["climber"] = check_name(climber, "climber", required=True)
    if problem is not _UNSET:
        new["problem"] = check_name(problem, "problem", required=False)
        if new["problem"] != old["problem"] and grade is _UNSET:  # another problem comes with its own grade
            found = con.execute("SELECT grade FROM problems WHERE name = ?", [new["problem"]]).fetchall()
            new["grade"] = found[0][0] if found else None
    if grade is not _UNSET:
        new["grade"] = check_grade(grade)
        if new["grade"] is not None and new["problem"] is None:
            raise InputError("a grade belongs to a problem; enter the problem's name too (or leave the grade empty)")
    if outcome is not _UNSET:
        new["outcome"] = check_outcome(outcome)
    if recorded_at is not _UNSET:
        new["recorded_at"] = check_recorded_at(recorded_at)
    changes = [MetadataChange(k, old[k], new[k]) for k in old if new[k] != old[k]]
    if not changes:
        return []
    climber_id = upsert_climber(con, new["climber"])
    problem_id = None
    if new["problem"] is not None:
        problem_id = upsert_problem(con, new["problem"])
        con.execute("UPDATE problems SET grade = ? WHERE problem_id = ?", [new["grade"], problem_id])
    con.execute("UPDATE attempts SET climber_id = ?, problem_id = ?, outcome = ?, recorded_at = ? WHERE attempt_id = ?",
                [climber_id, problem_id, new["outcome"], new["recorded_at"], attempt_id])
    return changes


def delete_attempt(con: duckdb.DuckDBPyConnection, attempt_id: int) -> None:
    """Remove an attempt and everything that hangs off it (moves and their history too). Call in a transaction."""
    for table in ("attempt_reviews", "label_edits", "moves", "attempt_wall", "holds", "contact_frames", "keypoints2d",
                  "effector_flow", "wall_points", "cameras", "skeleton_frames", "attempts"):
        con.execute(f"DELETE FROM {table} WHERE attempt_id = ?", [attempt_id])


def resolve_attempts(con: duckdb.DuckDBPyConnection, names: Sequence[str] | None = None) -> list[tuple[int, str]]:
    """(attempt_id, name) for the given names (all attempts when None); InputError naming unknown ones."""
    rows = con.execute("SELECT attempt_id, name FROM attempts ORDER BY attempt_id").fetchall()
    if not names:
        return [(int(a), n) for a, n in rows]
    by_name = {n: int(a) for a, n in rows}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(sorted(by_name)[:20]) or "none yet"
        raise InputError(f"unknown attempt(s) {unknown}; known attempts: {known}")
    return [(by_name[n], n) for n in names]


def attempt_info(con: duckdb.DuckDBPyConnection, attempt_id: int) -> AttemptInfo:
    rows = con.execute(
        """SELECT a.attempt_id, a.name, c.name, p.name, a.fps, a.n_frames, a.source_kind, a.source_path, v.path,
                  a.video_start_frame, a.video_frame_step, a.outcome, a.camera_model, a.report, v.width, v.height
           FROM attempts a JOIN climbers c USING (climber_id) LEFT JOIN problems p USING (problem_id)
           LEFT JOIN videos v USING (video_id) WHERE a.attempt_id = ?""",
        [attempt_id],
    ).fetchall()
    if not rows:
        raise InputError(f"no attempt with id {attempt_id}")
    row = rows[0]
    size = None if row[14] is None else (int(row[14]), int(row[15]))
    return AttemptInfo(*row[:13], report=json.loads(row[13] or "{}"), video_size=size)


def list_attempts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per attempt with climber, problem, duration, move count and outcome; `date` is when it was
    climbed (`recorded_at`) or, when nobody said, when it was stored."""
    return con.execute(
        """SELECT a.attempt_id, a.name AS attempt, c.name AS climber, p.name AS problem, p.wall, p.grade,
                  a.source_kind, a.n_frames, a.fps, a.n_frames / a.fps AS duration_s, a.outcome,
                  coalesce(a.recorded_at, a.created_at) AS date, a.recorded_at, v.path AS video_path, a.camera_model,
                  (SELECT count(*) FROM moves_current m WHERE m.attempt_id = a.attempt_id) AS n_moves
           FROM attempts a JOIN climbers c USING (climber_id) LEFT JOIN problems p USING (problem_id)
           LEFT JOIN videos v USING (video_id) ORDER BY a.attempt_id"""
    ).df()


def read_skeleton(con: duckdb.DuckDBPyConnection, attempt_id: int) -> Skeleton:
    rows = con.execute(
        "SELECT fps, wall_normal, wall_point FROM attempts WHERE attempt_id = ?", [attempt_id]
    ).fetchall()
    if not rows:
        raise InputError(f"no attempt with id {attempt_id}")
    meta = rows[0]
    tbl = read_arrow(con, "SELECT joints, confidence FROM skeleton_frames WHERE attempt_id = ? ORDER BY frame",
                     [attempt_id])
    return Skeleton(
        keypoints=_arrow_to_numpy(tbl.column("joints"), NUM_JOINTS, 3).astype(np.float32),
        confidence=_arrow_to_numpy(tbl.column("confidence"), NUM_JOINTS).astype(np.float32),
        fps=float(meta[0]),
        wall_normal=None if meta[1] is None else np.array(meta[1]),
        wall_point=None if meta[2] is None else np.array(meta[2]),
    )


def read_cameras(con: duckdb.DuckDBPyConnection, attempt_id: int) -> CameraTrack | None:
    tbl = read_arrow(con, "SELECT K, R, t, registered FROM cameras WHERE attempt_id = ? ORDER BY frame", [attempt_id])
    if tbl.num_rows == 0:
        return None
    return CameraTrack(
        K=_arrow_to_numpy(tbl.column("K"), 3, 3), R=_arrow_to_numpy(tbl.column("R"), 3, 3),
        t=_arrow_to_numpy(tbl.column("t"), 3),
        registered=tbl.column("registered").to_numpy().astype(bool),
    )


def read_wall_points(con: duckdb.DuckDBPyConnection, attempt_id: int) -> WallPoints | None:
    tbl = read_arrow(con, "SELECT xyz, rgb, error FROM wall_points WHERE attempt_id = ? ORDER BY point_id",
                     [attempt_id])
    if tbl.num_rows == 0:
        return None
    rgb = tbl.column("rgb")
    return WallPoints(
        xyz=_arrow_to_numpy(tbl.column("xyz"), 3),
        rgb=None if rgb.null_count else _arrow_to_numpy(rgb, 3).astype(np.uint8),
        error=tbl.column("error").to_numpy(zero_copy_only=False),
    )


def insert_keypoints2d(con: duckdb.DuckDBPyConnection, attempt_id: int, kp: Keypoints2D) -> None:
    """Store an attempt's 2D detections (one row per frame, Arrow batch). Call inside the attempt's transaction."""
    cols = {
        **_frame_keys(attempt_id, len(kp.keypoints)),
        "joints": _fixed_list(kp.keypoints.astype(np.float32), NUM_JOINTS, 2),
        "confidence": _fixed_list(kp.confidence.astype(np.float32), NUM_JOINTS),
        "box": _fixed_list(kp.boxes.astype(np.float32), 4),
    }
    if kp.body3d is not None:
        cols["body3d"] = _fixed_list(kp.body3d.astype(np.float32), NUM_JOINTS, 3)
    _insert_arrow(con, "keypoints2d", pa.table(cols))


def read_keypoints2d(con: duckdb.DuckDBPyConnection, attempt_id: int) -> Keypoints2D | None:
    """An attempt's stored 2D detections, or None (skeleton imports, attempts analysed before version 4)."""
    tbl = read_arrow(con, "SELECT joints, confidence, body3d, box FROM keypoints2d WHERE attempt_id = ? ORDER BY frame",
                     [attempt_id])
    if tbl.num_rows == 0:
        return None
    body = tbl.column("body3d")
    return Keypoints2D(
        keypoints=_arrow_to_numpy(tbl.column("joints"), NUM_JOINTS, 2).astype(np.float32),
        confidence=_arrow_to_numpy(tbl.column("confidence"), NUM_JOINTS).astype(np.float32),
        body3d=None if body.null_count else _arrow_to_numpy(body, NUM_JOINTS, 3).astype(np.float32),
        boxes=_arrow_to_numpy(tbl.column("box"), 4).astype(np.float32),
    )


def insert_effector_flow(con: duckdb.DuckDBPyConnection, attempt_id: int, flow: EffectorFlow) -> None:
    """Store an attempt's effector flow (one row per frame, Arrow batch). Call inside the attempt's transaction."""
    _insert_arrow(con, "effector_flow", pa.table({
        **_frame_keys(attempt_id, flow.n_frames),
        "rel": _fixed_list(np.asarray(flow.rel, dtype=np.float32), 4, 2),
        "wall": _fixed_list(np.asarray(flow.wall, dtype=np.float32), 4, 2),
    }))


def replace_effector_flow(con: duckdb.DuckDBPyConnection, attempt_id: int, flow: EffectorFlow) -> None:
    """Store an attempt's effector flow in place of the one it had (if any). Call inside a transaction."""
    n = con.execute("SELECT n_frames FROM attempts WHERE attempt_id = ?", [attempt_id]).fetchone()
    if n is None or int(n[0]) != flow.n_frames:
        raise ValueError(f"{flow.n_frames} frames of effector flow for attempt {attempt_id} "
                         f"({'unknown' if n is None else int(n[0])} frames)")
    con.execute("DELETE FROM effector_flow WHERE attempt_id = ?", [attempt_id])
    insert_effector_flow(con, attempt_id, flow)


def attempt_video(con: duckdb.DuckDBPyConnection, attempt_id: int) -> tuple[str | None, dict]:
    """(sha256 of the analysed video or None for imports, the parameters the attempt was analysed with)."""
    row = con.execute("SELECT v.sha256, a.params FROM attempts a LEFT JOIN videos v USING (video_id) "
                      "WHERE a.attempt_id = ?", [attempt_id]).fetchone()
    if row is None:
        raise InputError(f"no attempt with id {attempt_id}")
    return row[0], json.loads(row[1] or "{}")


def read_effector_flow(con: duckdb.DuckDBPyConnection, attempt_id: int) -> EffectorFlow | None:
    """An attempt's stored effector flow, or None (skeleton imports, attempts analysed before version 9)."""
    tbl = read_arrow(con, "SELECT rel, wall FROM effector_flow WHERE attempt_id = ? ORDER BY frame", [attempt_id])
    if tbl.num_rows == 0:
        return None
    return EffectorFlow(rel=_arrow_to_numpy(tbl.column("rel"), 4, 2).astype(np.float32),
                        wall=_arrow_to_numpy(tbl.column("wall"), 4, 2).astype(np.float32))


@dataclass(frozen=True)
class RenderData:
    """Everything a render of an attempt needs from the store (`reconstruction.render`, Label Studio videos).

    skeleton: the attempt's wall-frame skeleton; cameras: per-frame K (T, 3, 3) full-size pixels, R, t, or
    None; keypoints2d: (T, 21, 2) full-size pixels or None; moves: current (start, end, label, limb) rows;
    video_path / video_start_frame / video_frame_step: where attempt frames live in the video (None path for
    skeleton imports); video_size: (w, h) full display size or None.
    """

    attempt_id: int
    name: str
    climber: str
    skeleton: Skeleton
    cameras: CameraTrack | None
    keypoints2d: np.ndarray | None
    keypoints2d_confidence: np.ndarray | None
    moves: list[tuple[int, int, str, str]]
    video_path: Path | None
    video_start_frame: int
    video_frame_step: int
    video_size: tuple[int, int] | None
    camera_model: str | None


def resolve_attempt(con: duckdb.DuckDBPyConnection, attempt: int | str) -> int:
    """attempt_id of an attempt given by id or name (a name made of digits wins over the same id);
    InputError naming the known attempts when there is none."""
    if isinstance(attempt, (int, np.integer)):
        attempt_info(con, int(attempt))  # raises InputError for an unknown id
        return int(attempt)
    if str(attempt).isdigit() and find_attempt(con, name=str(attempt)) is None:
        return resolve_attempt(con, int(attempt))
    return resolve_attempts(con, [str(attempt)])[0][0]


def read_render_data(con: duckdb.DuckDBPyConnection, attempt: int | str) -> RenderData:
    """Read everything for rendering `attempt` (id or name)."""
    attempt_id = resolve_attempt(con, attempt)
    info = attempt_info(con, attempt_id)
    kp2d = read_keypoints2d(con, attempt_id)
    size = con.execute(
        "SELECT v.width, v.height FROM attempts a JOIN videos v USING (video_id) WHERE a.attempt_id = ?",
        [attempt_id],
    ).fetchone()
    return RenderData(
        attempt_id=attempt_id, name=info.name, climber=info.climber, skeleton=read_skeleton(con, attempt_id),
        cameras=read_cameras(con, attempt_id),
        keypoints2d=None if kp2d is None else kp2d.keypoints,
        keypoints2d_confidence=None if kp2d is None else kp2d.confidence,
        moves=current_move_spans(con, attempt_id),
        video_path=Path(info.video_path) if info.video_path else None,
        video_start_frame=int(info.video_start_frame), video_frame_step=int(info.video_frame_step),
        video_size=None if size is None else (int(size[0]), int(size[1])), camera_model=info.camera_model,
    )


# ------------------------------------------------------------------------------- on the wall, holds, contacts
@dataclass(frozen=True)
class WallInterval:
    """When the climber was on the wall (inclusive attempt frames) and how the attempt ended (moves.onwall).
    end_reason: 'top-out' | 'fall' | 'drop-off' | 'video end'; outcome: 'top' | 'fall' | None."""

    start_frame: int
    end_frame: int
    start_reason: str
    end_reason: str
    outcome: str | None
    floor_y: float | None = None


@dataclass(frozen=True)
class HoldContacts:
    """Holds of an attempt and the hold each limb is on per frame.

    holds: (K, 3) float32 wall frame metres; kinds: (K,) str 'hand' | 'foot' | 'floor';
    hold: (T, 4) int32 hold index per frame for left_hand, right_hand, left_foot, right_foot, -1 = none."""

    holds: np.ndarray
    kinds: np.ndarray
    hold: np.ndarray


def replace_detection_extras(con: duckdb.DuckDBPyConnection, attempt_id: int, wall: WallInterval | None,
                             contacts: HoldContacts | None, model_version: str | None = None) -> None:
    """Replace an attempt's on-the-wall interval, holds and per-frame contacts. Call inside the transaction
    that replaces its model moves."""
    for table in ("attempt_wall", "holds", "contact_frames"):
        con.execute(f"DELETE FROM {table} WHERE attempt_id = ?", [attempt_id])
    if wall is not None:
        con.execute(
            "INSERT INTO attempt_wall (attempt_id, start_frame, end_frame, start_reason, end_reason, outcome, "
            "floor_y, model_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [attempt_id, int(wall.start_frame), int(wall.end_frame), wall.start_reason, wall.end_reason,
             wall.outcome, None if wall.floor_y is None else float(wall.floor_y), model_version])
    if contacts is None:
        return
    K, T = len(contacts.holds), len(contacts.hold)
    hold = np.asarray(contacts.hold, dtype=np.int32)
    if K:
        used = np.bincount(hold[hold >= 0].ravel(), minlength=K)
        _insert_arrow(con, "holds", pa.table({
            "attempt_id": _attempt_ids(attempt_id, K),
            "hold_id": _numbers(np.arange(K, dtype=np.int32)),
            "kind": _strings(str(k) for k in contacts.kinds),
            "xyz": _fixed_list(np.asarray(contacts.holds, dtype=np.float32), 3),
            "n_frames": _numbers(used, np.int32),
        }))
    if T:
        _insert_arrow(con, "contact_frames", pa.table({**_frame_keys(attempt_id, T),
                                                       "hold_id": _fixed_list(hold, 4)}))


def read_wall_interval(con: duckdb.DuckDBPyConnection, attempt_id: int) -> WallInterval | None:
    """The stored on-the-wall interval of an attempt (None before detection or for attempts detected before
    version 6)."""
    row = con.execute("SELECT start_frame, end_frame, start_reason, end_reason, outcome, floor_y FROM attempt_wall "
                      "WHERE attempt_id = ?", [attempt_id]).fetchone()
    return None if row is None else WallInterval(*row)


def read_contacts(con: duckdb.DuckDBPyConnection, attempt_id: int) -> HoldContacts | None:
    """Holds and per-frame contacts of an attempt (None when not stored)."""
    frames = read_arrow(con, "SELECT hold_id FROM contact_frames WHERE attempt_id = ? ORDER BY frame", [attempt_id])
    if frames.num_rows == 0:
        return None
    holds = read_arrow(con, "SELECT kind, xyz FROM holds WHERE attempt_id = ? ORDER BY hold_id", [attempt_id])
    xyz = (_arrow_to_numpy(holds.column("xyz"), 3).astype(np.float32) if holds.num_rows
           else np.zeros((0, 3), np.float32))
    return HoldContacts(xyz, np.array(holds.column("kind").to_pylist(), dtype=object),
                        _arrow_to_numpy(frames.column("hold_id"), 4).astype(np.int32))


# --------------------------------------------------------------------------------------------------- moves
def replace_model_moves(
    con: duckdb.DuckDBPyConnection, attempt_id: int, moves: Iterable[Move], model_version: str
) -> int:
    """Replace the model's moves of an attempt with a new detection. Call inside a transaction.

    Moves a coach has touched (edited, confirmed, deleted, or added) or reviewed with the attempt are kept as
    they are; a new detection of the same limb overlapping one of them (temporal IoU >= 0.5) is dropped so
    nothing is labelled twice.
    Returns the number of moves inserted.
    """
    con.execute(
        """DELETE FROM moves WHERE attempt_id = ? AND source = 'model'
           AND move_id NOT IN (SELECT move_id FROM label_edits WHERE attempt_id = ?)
           AND move_id NOT IN (SELECT move_id FROM move_state WHERE attempt_id = ? AND reviewed)""",
        [attempt_id, attempt_id, attempt_id],
    )
    kept = con.execute(
        "SELECT limb, start_frame, end_frame FROM move_state WHERE attempt_id = ?", [attempt_id]
    ).fetchall()
    moves = list(moves)
    if kept and moves:
        k_limb, k_start, k_end = (np.array(column) for column in zip(*kept))
        iou = temporal_iou(np.array([m.start_frame for m in moves])[:, None],
                           np.array([m.end_frame for m in moves])[:, None], k_start, k_end)
        same_limb = np.array([m.limb for m in moves])[:, None] == k_limb
        moves = [m for m, hit in zip(moves, ((iou >= 0.5) & same_limb).any(axis=1)) if not hit]
    if not moves:
        return 0
    n = len(moves)
    _insert_arrow(con, "moves", pa.table({
        "attempt_id": _attempt_ids(attempt_id, n),
        "start_frame": _numbers([m.start_frame for m in moves], np.int32),
        "end_frame": _numbers([m.end_frame for m in moves], np.int32),
        "label": _strings(m.label for m in moves),
        "limb": _strings(m.limb for m in moves),
        "confidence": _numbers([float(m.confidence) for m in moves], np.float32),
        "source": _strings(["model"] * n),
        "model_version": _strings([model_version] * n),
    }))
    return n


def current_moves(con: duckdb.DuckDBPyConnection, attempt_id: int, include_deleted: bool = False) -> pd.DataFrame:
    """The moves of an attempt as they stand after every edit (move_state: model originals in original_*
    columns; corrected / confirmed / reviewed / labelled per migration 007)."""
    df = con.execute(
        """SELECT * FROM move_state WHERE attempt_id = ? AND (? OR NOT deleted)
           ORDER BY start_frame, limb, move_id""",
        [attempt_id, include_deleted],
    ).df()
    return df if include_deleted else df.drop(columns="deleted")  # the columns of moves_current


def count_corrections(con: duckdb.DuckDBPyConnection, attempt_id: int | None = None) -> int:
    """Moves whose current state a coach changed from the model's (move_state.corrected, net of undos), in the
    whole store or in one attempt."""
    return int(con.execute("SELECT count(*) FILTER (WHERE corrected) FROM move_state "
                           "WHERE ? IS NULL OR attempt_id = ?", [attempt_id, attempt_id]).fetchone()[0])


def _check_edit(con, attempt_id: int, label: str, limb: str, start: int, end: int, allow_unknown_label: bool) -> None:
    if not allow_unknown_label and label not in MOVE_LABELS:
        raise InputError(f"unknown label {label!r}; choose one of {', '.join(MOVE_LABELS)}")
    if not label:
        raise InputError("label must not be empty")
    if limb not in LIMBS:
        raise InputError(f"unknown limb {limb!r}; choose one of {', '.join(LIMBS)}")
    n_frames = con.execute("SELECT n_frames FROM attempts WHERE attempt_id = ?", [attempt_id]).fetchone()[0]
    if not (0 <= start <= end < n_frames):
        raise InputError(
            f"frames [{start}, {end}] are not a valid interval of this attempt (frames 0..{n_frames - 1}, "
            "start <= end)"
        )


_KEY_SEEN = {table: f"SELECT 1 FROM {table} WHERE external_key = ?" for table in ("label_edits", "attempt_reviews")}


def _check_author(con, source: str, editor: str, who: str, external_key: str | None = None,
                  table: str = "label_edits") -> bool:
    """Validate who makes a label-history entry (source one of EDIT_SOURCES, a non-empty editor name; `who`
    says what needs it in the error) and return True when `external_key` is already recorded in `table`
    (the entry was imported before: write nothing)."""
    if source not in EDIT_SOURCES:
        raise ValueError(f"source must be one of {EDIT_SOURCES}")
    if not editor or not editor.strip():
        raise InputError(f"{who} (who made it)")
    return external_key is not None and con.execute(_KEY_SEEN[table], [external_key]).fetchone() is not None


def edit_move(
    con: duckdb.DuckDBPyConnection,
    move_id: int,
    *,
    editor: str,
    source: str,
    label: str | None = None,
    limb: str | None = None,
    start_frame: int | None = None,
    end_frame: int | None = None,
    delete: bool = False,
    restore: bool = False,
    edited_at: datetime | None = None,
    external_key: str | None = None,
    note: str | None = None,
    allow_unknown_label: bool = False,
) -> int | None:
    """Append one correction of a move to the label history; return its edit_id.

    Unchanged fields keep their current value. Returns None (and writes nothing) when `external_key` was
    already recorded, or when the edit would change nothing.
    """
    if _check_author(con, source, editor, "an edit needs the editor's name", external_key):
        return None
    cur = con.execute(
        "SELECT attempt_id, label, limb, start_frame, end_frame, deleted FROM move_state WHERE move_id = ?",
        [move_id],
    ).fetchone()
    if cur is None:
        raise InputError(f"no move with id {move_id}")
    attempt_id, old_label, old_limb, old_start, old_end, old_deleted = cur
    new = dict(
        label=old_label if label is None else label,
        limb=old_limb if limb is None else limb,
        start_frame=old_start if start_frame is None else int(start_frame),
        end_frame=old_end if end_frame is None else int(end_frame),
        deleted=True if delete else (False if restore else old_deleted),
    )
    if not new["deleted"]:
        _check_edit(con, attempt_id, new["label"], new["limb"], new["start_frame"], new["end_frame"],
                    allow_unknown_label or new["label"] == old_label)
    old = (old_label, old_limb, old_start, old_end, old_deleted)
    if tuple(new.values()) == old:
        return None
    if new["deleted"] != old_deleted:
        action = "delete" if new["deleted"] else "restore"
    elif (new["label"], new["limb"]) != (old_label, old_limb) and (new["start_frame"], new["end_frame"]) != (old_start, old_end):
        action = "edit"
    elif (new["label"], new["limb"]) != (old_label, old_limb):
        action = "relabel"
    else:
        action = "retime"
    return _append_edit(con, move_id, attempt_id, action, new, old, editor, source, edited_at, external_key, note)


def _append_edit(con, move_id, attempt_id, action, new, old, editor, source, edited_at, external_key, note,
                 undoes_edit_id=None) -> int:
    return int(con.execute(
        """INSERT INTO label_edits (move_id, attempt_id, action, label, limb, start_frame, end_frame, deleted,
               prev_label, prev_limb, prev_start, prev_end, prev_deleted, editor, source, edited_at,
               external_key, undoes_edit_id, note)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING edit_id""",
        [move_id, attempt_id, action, new["label"], new["limb"], new["start_frame"], new["end_frame"],
         new["deleted"], *(old if old is not None else (None,) * 5), editor.strip(), source,
         edited_at or _now(), external_key, undoes_edit_id, note],
    ).fetchone()[0])


def add_move(
    con: duckdb.DuckDBPyConnection,
    attempt_id: int,
    *,
    label: str,
    limb: str,
    start_frame: int,
    end_frame: int,
    editor: str,
    source: str,
    edited_at: datetime | None = None,
    external_key: str | None = None,
    note: str | None = None,
    allow_unknown_label: bool = False,
) -> int | None:
    """A move the model missed, added by a coach: a `moves` row (source = the editing tool) plus an 'add' edit.
    Returns the new move_id, or None when `external_key` was already recorded."""
    if _check_author(con, source, editor, "an edit needs the editor's name", external_key):
        return None
    _check_edit(con, attempt_id, label, limb, int(start_frame), int(end_frame), allow_unknown_label)
    move_source = "label-studio" if source == "label-studio" else "dashboard"
    move_id = int(con.execute(
        """INSERT INTO moves (attempt_id, start_frame, end_frame, label, limb, confidence, source, model_version)
           VALUES (?, ?, ?, ?, ?, 1.0, ?, NULL) RETURNING move_id""",
        [attempt_id, int(start_frame), int(end_frame), label, limb, move_source],
    ).fetchone()[0])
    new = dict(label=label, limb=limb, start_frame=int(start_frame), end_frame=int(end_frame), deleted=False)
    _append_edit(con, move_id, attempt_id, "add", new, None, editor, source, edited_at, external_key, note)
    return move_id


def confirm_move(
    con: duckdb.DuckDBPyConnection,
    move_id: int,
    *,
    editor: str,
    source: str,
    edited_at: datetime | None = None,
    external_key: str | None = None,
    note: str | None = None,
    expect: tuple[str, str, int, int] | None = None,
) -> int | None:
    """A coach says a move is right as it stands: append a 'confirm' entry (same state before and after) to the
    label history; return its edit_id. None (nothing written) when `external_key` was already recorded, the
    move's latest entry already is a confirmation, or `expect` (label, limb, start, end: what the coach saw)
    is not the move's state any more. Raises InputError for a deleted move (restore it first)."""
    if _check_author(con, source, editor, "a confirmation needs the editor's name", external_key):
        return None
    cur = con.execute(
        """SELECT attempt_id, label, limb, start_frame, end_frame, deleted, confirmed FROM move_state
           WHERE move_id = ?""", [move_id]).fetchone()
    if cur is None:
        raise InputError(f"no move with id {move_id}")
    attempt_id, label, limb, start, end, deleted, confirmed = cur
    if expect is not None and (tuple(expect) != (label, limb, start, end) or deleted):
        return None
    if deleted:
        raise InputError(f"move {move_id} is deleted: restore it before confirming it")
    if confirmed:
        return None
    state = dict(label=label, limb=limb, start_frame=start, end_frame=end, deleted=False)
    return _append_edit(con, move_id, attempt_id, "confirm", state, (label, limb, start, end, False), editor, source,
                        edited_at, external_key, note)


@dataclass(frozen=True)
class ReviewState:
    """An attempt's review (attempt_review_state): reviewed = its latest review stands; complete = reviewed and
    every current move labelled; n_labelled of n_moves current moves count as training labels."""

    attempt_id: int
    reviewed: bool
    complete: bool
    reviewed_by: str | None
    review_source: str | None
    reviewed_at: datetime | None
    n_moves: int
    n_labelled: int
    n_confirmed: int


def review_state(con: duckdb.DuckDBPyConnection, attempt_id: int) -> ReviewState:
    row = con.execute(
        """SELECT attempt_id, reviewed, complete, reviewed_by, review_source, reviewed_at, n_moves, n_labelled,
                  n_confirmed FROM attempt_review_state WHERE attempt_id = ?""", [attempt_id]).fetchone()
    if row is None:
        raise InputError(f"no attempt with id {attempt_id}")
    return ReviewState(int(row[0]), bool(row[1]), bool(row[2]), row[3], row[4], row[5], *map(int, row[6:]))


def review_attempt(
    con: duckdb.DuckDBPyConnection,
    attempt_id: int,
    *,
    editor: str,
    source: str,
    reviewed: bool = True,
    reviewed_at: datetime | None = None,
    external_key: str | None = None,
    note: str | None = None,
) -> int | None:
    """Mark an attempt reviewed (every move it holds now is right, none is missing) or withdraw that
    (reviewed=False): append to attempt_reviews; return the review_id. The review covers the moves stored now.
    None (nothing written) when `external_key` was already recorded or nothing would change."""
    if _check_author(con, source, editor, "a review needs the reviewer's name", external_key, "attempt_reviews"):
        return None
    if con.execute("SELECT 1 FROM attempts WHERE attempt_id = ?", [attempt_id]).fetchone() is None:
        raise InputError(f"no attempt with id {attempt_id}")
    max_move = con.execute("SELECT max(move_id) FROM moves WHERE attempt_id = ?", [attempt_id]).fetchone()[0]
    last = con.execute(
        """SELECT reviewed, max_move_id FROM attempt_reviews WHERE attempt_id = ?
           ORDER BY reviewed_at DESC, review_id DESC LIMIT 1""", [attempt_id]).fetchone()
    if (last is None and not reviewed) or (last is not None and last[0] == reviewed
                                          and (not reviewed or last[1] == max_move)):
        return None
    at = reviewed_at or _now()
    if last is not None:  # the history stays in order even when clocks disagree
        at = max(at, con.execute("SELECT max(reviewed_at) FROM attempt_reviews WHERE attempt_id = ?",
                                 [attempt_id]).fetchone()[0])
    return int(con.execute(
        """INSERT INTO attempt_reviews (attempt_id, reviewed, max_move_id, editor, source, reviewed_at,
               external_key, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING review_id""",
        [attempt_id, reviewed, max_move, editor.strip(), source, at, external_key, note],
    ).fetchone()[0])


def undo_last_edit(
    con: duckdb.DuckDBPyConnection,
    *,
    editor: str | None = None,
    attempt_id: int | None = None,
    source: str = "dashboard",
) -> int | None:
    """Undo the latest edit (optionally only the given editor's, in the given attempt) that is not itself
    an undo and not already undone, by appending an 'undo' edit that restores the previous state. The
    undone edit stays in the history. Returns the new edit_id, or None when there is nothing to undo."""
    conds, args = ["action <> 'undo'", "edit_id NOT IN (SELECT undoes_edit_id FROM label_edits WHERE undoes_edit_id IS NOT NULL)"], []
    if editor:
        conds.append("editor = ?")
        args.append(editor)
    if attempt_id is not None:
        conds.append("attempt_id = ?")
        args.append(attempt_id)
    row = con.execute(
        f"""SELECT edit_id, move_id, attempt_id, action, label, limb, start_frame, end_frame, deleted,
                   prev_label, prev_limb, prev_start, prev_end, prev_deleted
            FROM label_edits WHERE {' AND '.join(conds)} ORDER BY edited_at DESC, edit_id DESC LIMIT 1""",
        args,
    ).fetchone()
    if row is None:
        return None
    edit_id, move_id, aid, action, *after = row
    label, limb, start, end, deleted, p_label, p_limb, p_start, p_end, p_deleted = after
    if action == "add":  # undoing an addition removes the added move
        new = dict(label=label, limb=limb, start_frame=start, end_frame=end, deleted=True)
    else:
        new = dict(label=p_label, limb=p_limb, start_frame=p_start, end_frame=p_end, deleted=p_deleted)
    cur = con.execute(
        "SELECT label, limb, start_frame, end_frame, deleted FROM move_state WHERE move_id = ?", [move_id]
    ).fetchone()
    edited_at = max(_now(), con.execute("SELECT max(edited_at) FROM label_edits WHERE move_id = ?",
                                        [move_id]).fetchone()[0])
    return _append_edit(con, move_id, aid, "undo", new, tuple(cur), editor or "unknown", source, edited_at, None,
                        f"undo of edit {edit_id} ({action})", undoes_edit_id=edit_id)


def label_history(
    con: duckdb.DuckDBPyConnection, attempt_id: int | None = None, move_id: int | None = None
) -> pd.DataFrame:
    """The append-only edit history, newest first."""
    conds, args = [], []
    if attempt_id is not None:
        conds.append("e.attempt_id = ?")
        args.append(attempt_id)
    if move_id is not None:
        conds.append("e.move_id = ?")
        args.append(move_id)
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return con.execute(
        f"""SELECT e.*, a.name AS attempt FROM label_edits e JOIN attempts a USING (attempt_id)
            {where} ORDER BY e.edited_at DESC, e.edit_id DESC""",
        args,
    ).df()


def current_move_spans(con: duckdb.DuckDBPyConnection, attempt_id: int) -> list[tuple[int, int, str, str]]:
    """(start_frame, end_frame, label, limb) of an attempt's current moves (after every coach edit)."""
    return [(int(s), int(e), str(lbl), str(limb)) for s, e, lbl, limb in con.execute(
        "SELECT start_frame, end_frame, label, limb FROM moves_current WHERE attempt_id = ? "
        "ORDER BY start_frame, limb, move_id", [attempt_id]).fetchall()]


def move_summary(con: duckdb.DuckDBPyConnection, attempt_id: int) -> tuple[int, str | None]:
    """(number of current moves, latest model version among them) of an attempt."""
    n, version = con.execute(
        "SELECT count(*), max(model_version) FROM moves_current WHERE attempt_id = ?", [attempt_id]).fetchone()
    return int(n), version


@dataclass(frozen=True)
class AttemptLabels:
    """What coaches vouched for in one attempt, for training (migration 007).

    positives: (start_frame, end_frame, label, limb) of moves that are labelled (confirmed, corrected or covered
               by the attempt's review); negatives: the same of model moves a coach deleted ("no such move");
    complete:  the attempt is reviewed and every current move labelled, so where no move is, there is none."""

    attempt_id: int
    name: str
    complete: bool
    positives: list[tuple[int, int, str, str]]
    negatives: list[tuple[int, int, str, str]]


def training_labels(con: duckdb.DuckDBPyConnection) -> list[AttemptLabels]:
    """Every attempt with at least one coach-vouched move or deletion, in attempt order. Unconfirmed, unedited
    model moves of unreviewed attempts are not labels: they are what the model said, not the truth."""
    rows = con.execute(
        """SELECT s.attempt_id, a.name, r.complete, s.start_frame, s.end_frame, s.label, s.limb, s.labelled
           FROM move_state s JOIN attempts a USING (attempt_id) JOIN attempt_review_state r USING (attempt_id)
           WHERE s.labelled OR (s.deleted AND s.source = 'model')
           ORDER BY s.attempt_id, s.start_frame, s.limb, s.move_id""").fetchall()
    out: dict[int, AttemptLabels] = {}
    for aid, name, complete, start, end, label, limb, labelled in rows:
        item = out.setdefault(int(aid), AttemptLabels(int(aid), str(name), bool(complete), [], []))
        (item.positives if labelled else item.negatives).append((int(start), int(end), str(label), str(limb)))
    return list(out.values())


# -------------------------------------------------------------------------------------------- move models
@dataclass(frozen=True)
class StoredModel:
    """A row of `move_models`: params = the estimator's parameters; payload = the fitted estimator as data
    (learned models only) in `payload_format`, with its SHA-256 hex digest (moves.service reads them)."""

    version: str
    kind: str
    params: dict
    payload: bytes | None
    payload_format: str | None = None
    payload_sha256: str | None = None


_MODEL_COLUMNS = "version, kind, params, payload, payload_format, payload_sha256"


def _stored_model(row) -> StoredModel:
    version, kind, params, payload, fmt, digest = row
    try:
        parsed = json.loads(params or "{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise DatabaseError(f"move model {version!r} has unreadable parameters; activate another with "
                            "`cruxlab moves use VERSION` (or 'rules') or retrain with `cruxlab moves train`")
    return StoredModel(version, kind, parsed, None if payload is None else bytes(payload), fmt, digest)


def active_model(con: duckdb.DuckDBPyConnection) -> StoredModel | None:
    """The active move model, or None when the built-in rule defaults are in use."""
    row = con.execute(
        f"SELECT {_MODEL_COLUMNS} FROM move_models WHERE active ORDER BY model_id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else _stored_model(row)


def stored_model(con: duckdb.DuckDBPyConnection, version: str) -> StoredModel | None:
    """The stored move model `version`, or None."""
    row = con.execute(f"SELECT {_MODEL_COLUMNS} FROM move_models WHERE version = ?", [version]).fetchone()
    return None if row is None else _stored_model(row)


def model_versions(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Versions of every stored move model, oldest first."""
    return [r[0] for r in con.execute("SELECT version FROM move_models ORDER BY model_id").fetchall()]


def insert_model(con: duckdb.DuckDBPyConnection, *, version: str, kind: str, params: dict, metrics: dict | None,
                 n_labels: int | None, payload: bytes | None, activate: bool, payload_format: str | None = None
                 ) -> None:
    """Store a move model under a new version (the only active one when `activate`), recording the payload's
    format and SHA-256. Call in a transaction."""
    if activate:
        activate_model(con, None)
    digest = None if payload is None else hashlib.sha256(payload).hexdigest()
    con.execute(
        "INSERT INTO move_models (version, kind, params, metrics, n_labels, payload, payload_format, "
        "payload_sha256, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [version, kind, json.dumps(params, default=str), json.dumps(metrics or {}), n_labels, payload,
         payload_format, digest, activate],
    )


def activate_model(con: duckdb.DuckDBPyConnection, version: str | None) -> None:
    """Make the stored model `version` the only active one; None: none active (the built-in rules)."""
    if version is None:
        con.execute("UPDATE move_models SET active = false WHERE active")
    else:
        con.execute("UPDATE move_models SET active = (version = ?)", [version])


def list_models(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every stored move model (version, kind, created_at, n_labels, active, format, metrics), oldest first."""
    return con.execute(
        "SELECT version, kind, created_at, n_labels, active, payload_format AS format, metrics FROM move_models "
        "ORDER BY model_id"
    ).df()


def require_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Raise a friendly DatabaseError when the store holds no attempt yet."""
    if con.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0:
        raise DatabaseError(
            "the database holds no attempt yet; run `cruxlab analyze VIDEO --climber NAME` or "
            "`cruxlab import-skeleton FILE.npz --climber NAME` first"
        )
