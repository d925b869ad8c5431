"""Attempts into the store: the one home of "insert an attempt and detect its moves".

    from moves.ingest import ingest_attempt
    with connect(db_path) as con:
        done = ingest_attempt(con, store.AttemptRecord(...))      # one transaction

Every way an attempt enters the store comes through `ingest_attempt`: skeleton files (`import_skeletons`,
`cruxlab import-skeleton`), analysed videos (`reconstruction.pipeline`) and the demo store. It writes the
attempt with all its per-frame data (`db.store.insert_attempt`) and the moves the active classifier finds
(`moves.service.detect_and_store`) in ONE transaction, so a failure leaves nothing half-written, and it is
a no-op when the same ingest (`record.key`) is stored already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cruxlab.errors import InputError
from cruxlab.labels import Move
from cruxlab.skeleton import Skeleton, file_sha256, load_npz
from db import store
from db.connection import connect, transaction


@dataclass(frozen=True)
class Ingested:
    """What `ingest_attempt` did. created=False: the same ingest was stored before (attempt_id is that one;
    nothing changed and no moves were detected)."""

    attempt_id: int
    created: bool
    n_moves: int | None = None        # moves stored by the detection (None: not detected)
    model_version: str | None = None


def ingest_attempt(con: duckdb.DuckDBPyConnection, record: store.AttemptRecord, *, detect: bool = True,
                   detected: tuple[Sequence[Move], str] | None = None,
                   extras: tuple[store.WallInterval | None, store.HoldContacts | None] | None = None) -> Ingested:
    """Store one attempt and (with `detect`) its moves from the active classifier, in one transaction that
    this function opens (do not call it inside another). Returns the stored attempt when `record.key` was
    ingested before. Raises InputError when `record.name` belongs to another ingest.

    `detected`: (moves, model version) found beforehand, e.g. by a worker process that never opens the
    store; stored as they are, with `extras` (the on-the-wall interval and the holds found with them), when
    that version is still the active one, detected afresh otherwise."""
    from moves.service import active_classifier, detect_and_store

    with transaction(con):
        existing = store.find_attempt(con, key=record.key)
        if existing is not None:
            return Ingested(existing, created=False)
        attempt_id = store.insert_attempt(con, record)
        if not detect:
            return Ingested(attempt_id, created=True)
        classifier, version = active_classifier(con)
        if detected is not None and detected[1] == version:
            n_moves = store.replace_model_moves(con, attempt_id, detected[0], version)
            if extras is not None:
                store.replace_detection_extras(con, attempt_id, *extras, model_version=version)
        else:
            n_moves, version = detect_and_store(con, attempt_id, record.skeleton, classifier, version)
    return Ingested(attempt_id, True, n_moves, version)


# ---------------------------------------------------------------------------------------- skeleton files
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
    """Import skeleton interchange files, one attempt each (one transaction each). Nothing is written unless
    every file is valid and every new attempt name is free."""
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
        for f, skeleton, key, attempt_name in loaded:  # every name checked before anything is written
            if store.find_attempt(con, key=key) is None and store.find_attempt(con, name=attempt_name) is not None:
                raise InputError(f"{f}: an attempt named {attempt_name!r} already exists from another file; "
                                 "pass --name to choose a different name")
        for f, skeleton, key, attempt_name in loaded:
            done = ingest_attempt(con, store.AttemptRecord(
                name=attempt_name, climber=climber, skeleton=skeleton, source_kind="skeleton",
                source_path=f.resolve(), key=key, problem=problem, outcome=outcome), detect=detect)
            if done.created:
                results.append(ImportResult(f, attempt_name, done.attempt_id, True, skeleton.n_frames, skeleton.fps,
                                            done.n_moves, done.model_version))
            else:
                old = store.attempt_info(con, done.attempt_id)
                results.append(ImportResult(f, old.name, done.attempt_id, False, old.n_frames, old.fps))
    return results
