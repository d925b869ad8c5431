"""Skeleton import: validate every file first, then one transaction per attempt (attempt + frames + moves)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cruxlab.errors import InputError
from cruxlab.skeleton import Skeleton, file_sha256, load_npz
from db import store
from db.connection import connect, transaction


@dataclass(frozen=True)
class ImportResult:
    path: Path
    name: str
    attempt_id: int
    created: bool  # False: the same file was imported before, nothing changed
    n_frames: int
    fps: float
    n_moves: int | None = None
    model_version: str | None = None


def import_skeletons(
    db_path: str | Path,
    files: Sequence[str | Path],
    *,
    climber: str,
    name: str | None = None,
    problem: str | None = None,
    outcome: str | None = None,
    detect: bool = True,
) -> list[ImportResult]:
    """Import skeleton interchange files, one attempt each. Nothing is written unless every file is valid
    and every new attempt name is free."""
    if not climber or not climber.strip():
        raise InputError("--climber must name who climbs")
    files = [Path(f) for f in files]
    if name is not None and len(files) != 1:
        raise InputError("a name can only be given for a single file")
    loaded: list[tuple[Path, Skeleton, str, str]] = []
    for f in files:
        skeleton = load_npz(f)  # raises InputError naming the file and problem
        loaded.append((f, skeleton, store.ingest_key(file_sha256(f), {"kind": "skeleton"}), name or f.stem))
    names = [n for *_, n in loaded]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"several files would become the same attempt name {dup}; import them separately "
                         "with --name")

    results: list[ImportResult] = []
    with connect(db_path) as con:
        # one checkpoint when the batch is done instead of one every few attempts (each commit stays durable
        # in the write-ahead log)
        con.execute("SET checkpoint_threshold = '1GB'")
        plan = []
        for f, skeleton, key, attempt_name in loaded:
            existing = store.find_attempt(con, key=key)
            if existing is None and store.find_attempt(con, name=attempt_name) is not None:
                raise InputError(f"{f}: an attempt named {attempt_name!r} already exists from another file; "
                                 "pass --name to choose a different name")
            plan.append((f, skeleton, key, attempt_name, existing))
        for f, skeleton, key, attempt_name, existing in plan:
            if existing is not None:
                old = store.attempt_info(con, existing)
                results.append(ImportResult(f, old.name, existing, False, old.n_frames, old.fps))
                continue
            n_moves = version = None
            with transaction(con):
                attempt_id = store.insert_attempt(
                    con, name=attempt_name, climber=climber, skeleton=skeleton, source_kind="skeleton",
                    source_path=f.resolve(), key=key, problem=problem, outcome=outcome,
                )
                if detect:
                    from moves.service import detect_and_store

                    n_moves, version = detect_and_store(con, attempt_id, skeleton)
            results.append(ImportResult(f, attempt_name, attempt_id, True, skeleton.n_frames, skeleton.fps,
                                        n_moves, version))
    return results
