"""Many videos at once: workers compute attempts, this process is the one DuckDB writer.

    tasks = expand_inputs(["session/", "gym.csv"], AnalyzeOptions(climber="Janja"))
    report = analyze_many("cruxlab.duckdb", tasks, jobs=2)          # local process pool
    report = analyze_many("cruxlab.duckdb", tasks, ray="auto")      # an existing Ray cluster

DuckDB lets one process write a file and excludes all others, so the work is split (reconstruction.pipeline):
the driver reads the store once (`snapshot_store`: stored keys and names, the active move model), workers
run `run_task` = plan (probe + hash; an analysis whose key is stored already is skipped here, before any
expensive work) -> `compute_attempt` (video -> skeleton -> moves, no database), and the driver stores each
returned ComputedAttempt in its own transaction as it arrives (`store_attempt`). A failure (an unreadable
video, nobody in view, a worker that died) is reported at the end and stops nothing else; an interrupted
run loses only the attempts still being computed, and running the same command again skips every stored one.

Executors: `jobs == 1` computes in this process one video after another; `jobs > 1` uses a
`ProcessPoolExecutor` (spawned workers: no forked DuckDB/threads state); `ray=` hands tasks to Ray
(`reconstruction.ray_cluster`, the only module that imports Ray).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cruxlab.errors import CruxlabError
from reconstruction.inputs import VideoTask
from reconstruction.pipeline import (
    AnalyzeResult, ComputedAttempt, StoreSnapshot, checked_options, compute_attempt, plan_analysis, snapshot_store,
    store_attempt, stored_result,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskOutcome:
    """What a worker returns for task `index`: status 'computed' (with `computed`), 'stored' (the same
    analysis is in the store already: `key`), or 'failed' (`error`, a message naming the fix).
    seconds: wall time in the worker."""

    index: int
    status: str
    computed: ComputedAttempt | None = None
    key: str | None = None
    error: str | None = None
    seconds: float = 0.0


def run_task(index: int, task: VideoTask, snapshot: StoreSnapshot) -> TaskOutcome:
    """One video -> a ComputedAttempt, without the database (runs in a worker process or a Ray task).
    Never raises for a bad video: the failure comes back as an outcome so the other videos go on."""
    t0 = time.perf_counter()
    try:
        options = checked_options(task.options)
        plan = plan_analysis(task.video, options)
        if plan.key in snapshot.keys:
            return TaskOutcome(index, "stored", key=plan.key, seconds=time.perf_counter() - t0)
        snapshot.check_name(plan, options)
        computed = compute_attempt(plan, options, model=snapshot.model, progress=False)
        return TaskOutcome(index, "computed", computed=computed, key=plan.key, seconds=time.perf_counter() - t0)
    except CruxlabError as exc:
        return TaskOutcome(index, "failed", error=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # a bug or a library failure: keep the other videos going, say what happened
        log.debug("task %d (%s) failed:\n%s", index, task.video, traceback.format_exc())
        return TaskOutcome(index, "failed", error=f"{type(exc).__name__}: {exc} (unexpected; run this video alone "
                           "with `cruxlab -v analyze` for the details)", seconds=time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------ executors
def inline_outcomes(tasks: Sequence[VideoTask], snapshot: StoreSnapshot) -> Iterator[TaskOutcome]:
    """Every task in this process, one after another (--jobs 1)."""
    for i, task in enumerate(tasks):
        yield run_task(i, task, snapshot)


_WORKER_SNAPSHOT: StoreSnapshot | None = None


def _init_worker(snapshot: StoreSnapshot, threads: int) -> None:
    global _WORKER_SNAPSHOT
    _WORKER_SNAPSHOT = snapshot
    import signal

    import cv2

    from reconstruction import banded

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the workers

    cv2.setNumThreads(threads)  # jobs x threads ~ cores: no oversubscription by OpenCV's pool
    banded.share_cores(threads)  # nor by the lift's two-core solve
    logging.getLogger().setLevel(logging.WARNING)


def _pool_task(index: int, task: VideoTask) -> TaskOutcome:
    assert _WORKER_SNAPSHOT is not None, "worker not initialised"
    return run_task(index, task, _WORKER_SNAPSHOT)


WORKER_DIED = ("the worker process analysing it died (killed, or out of memory: try fewer --jobs); run the "
               "same command again to retry it (stored videos are skipped)")


def pool_outcomes(tasks: Sequence[VideoTask], snapshot: StoreSnapshot, jobs: int) -> Iterator[TaskOutcome]:
    """Tasks on `jobs` spawned worker processes, outcomes as they finish. At most jobs + 1 tasks are out at
    a time, so finished attempts reach the store early and a worker that dies takes few tasks with it (the
    pool is then started afresh for the rest)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque(enumerate(tasks))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    while queue:
        ex = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(snapshot, threads))
        pending: dict = {}
        try:
            broken = False
            while (queue or pending) and not broken:
                while queue and len(pending) <= jobs:
                    i, task = queue.popleft()
                    pending[ex.submit(_pool_task, i, task)] = i
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        broken = True
                        yield TaskOutcome(i, "failed", error=WORKER_DIED)
                    elif exc is not None:
                        yield TaskOutcome(i, "failed", error=f"{type(exc).__name__}: {exc}")
                    else:
                        yield fut.result()
            if broken:  # every task still out went down with the pool
                for fut, i in pending.items():
                    yield TaskOutcome(i, "failed", error=WORKER_DIED)
                pending.clear()
        finally:
            if pending:  # interrupted: stop the work in progress instead of finishing it for nobody
                for process in list((getattr(ex, "_processes", None) or {}).values()):
                    process.kill()  # no database in a worker, and cache files land atomically: safe to kill
            ex.shutdown(wait=not pending, cancel_futures=True)


# ------------------------------------------------------------------------------------------ the driver
@dataclass
class BatchReport:
    """What `analyze_many` did: (task, result) per analysed and per already-stored video, (task, message)
    per failure, and the wall time in seconds."""

    analysed: list[tuple[VideoTask, AnalyzeResult]] = field(default_factory=list)
    stored: list[tuple[VideoTask, AnalyzeResult]] = field(default_factory=list)
    failed: list[tuple[VideoTask, str]] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = ""

    @property
    def videos_per_min(self) -> float:
        """Newly analysed videos per minute of wall time."""
        return 60.0 * len(self.analysed) / max(self.seconds, 1e-9)

    def summary(self) -> str:
        n = len(self.analysed) + len(self.stored) + len(self.failed)
        text = (f"{n} video(s) in {self.seconds:.1f} s ({self.mode}): {len(self.analysed)} analysed "
                f"({self.videos_per_min:.1f} videos/min), {len(self.stored)} already stored, "
                f"{len(self.failed)} failed")
        if self.failed:
            text += "\nfailed:\n" + "\n".join(
                f"  {t.label}: {msg}" if str(t.video) in msg else f"  {t.label} ({t.video}): {msg}"
                for t, msg in self.failed)
        return text


def result_line(task: VideoTask, result: AnalyzeResult, seconds: float | None = None) -> str:
    """One line per video for the batch log."""
    if not result.created:
        return f"skip  {task.label}: already stored as {result.name!r} (id {result.attempt_id})"
    kr, kn = result.keyframes
    moves = "" if result.n_moves is None else f", {result.n_moves} move{'' if result.n_moves == 1 else 's'}"
    took = "" if seconds is None else f", {seconds:.1f} s"
    return (f"ok    {task.label} -> {result.name!r} (id {result.attempt_id}): {result.n_frames} frames @ "
            f"{result.fps:g} fps, skeleton in {result.frames_with_skeleton}, cameras {kr}/{kn} keyframes "
            f"({result.camera_model}){moves}{took}")


def analyze_many(db_path: str | Path, tasks: Sequence[VideoTask], *, jobs: int = 1, ray: str | None = None,
                 progress: bool = True, echo: Callable[[str], None] | None = None) -> BatchReport:
    """Analyse every task into the store (see the module docstring) and return what happened. Raises only
    for a store that cannot be used at all (before any work); each video's failure is in the report."""
    from tqdm import tqdm

    if jobs < 1:
        raise CruxlabError(f"--jobs must be at least 1, got {jobs}")
    t0 = time.perf_counter()
    snapshot = snapshot_store(db_path)
    tasks = list(tasks)
    if ray is not None:
        from reconstruction.ray_cluster import ray_outcomes

        # Workers may run on other machines: give them absolute paths (video and stage cache).
        tasks = [replace(t, options=replace(t.options, cache_dir=Path(t.options.cache_dir).resolve()))
                 if t.options.cache_dir is not None else t for t in tasks]
        outcomes = ray_outcomes(tasks, snapshot, ray, cpus=jobs if ray == "local" else None)
        mode = f"Ray {ray}" + (f", {jobs} CPUs" if ray == "local" else "")
    elif jobs == 1 or len(tasks) == 1:
        outcomes, mode = inline_outcomes(tasks, snapshot), "1 process"
    else:
        outcomes, mode = pool_outcomes(tasks, snapshot, min(jobs, len(tasks))), f"{min(jobs, len(tasks))} processes"
    report = BatchReport(mode=mode)
    bar = tqdm(total=len(tasks), unit="video", desc="analyze", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    say = echo or (lambda line: tqdm.write(line, file=sys.stdout))
    done = 0
    try:
        for outcome in outcomes:
            task = tasks[outcome.index]
            try:
                if outcome.status == "computed":
                    result = store_attempt(db_path, outcome.computed)
                    (report.analysed if result.created else report.stored).append((task, result))
                    say(result_line(task, result, outcome.seconds))
                elif outcome.status == "stored":
                    result = stored_result(db_path, outcome.key)
                    if result is None:  # deleted since the snapshot: not an error, but not analysed either
                        raise CruxlabError("it was deleted from the store while this run started; run again")
                    report.stored.append((task, result))
                    say(result_line(task, result))
                else:
                    raise CruxlabError(outcome.error)
            except CruxlabError as exc:
                report.failed.append((task, str(exc)))
                say(f"FAIL  {task.label}: {exc}")
            done += 1
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        say(f"interrupted after {done} of {len(tasks)} videos: the {len(report.analysed)} analysed are stored; "
            "run the same command again to go on (stored videos are skipped)")
        raise
    finally:
        bar.close()
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()
        report.seconds = time.perf_counter() - t0
    return report
