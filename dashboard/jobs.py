"""Background analyses started from the dashboard: one folder per job, a detached process, a status file.

    job = submit(upload_root(db), db, uploaded_file, ".mp4", AnalysisRequest(climber="Janja", ...))
    status = read_status(job)          # state, stage, percent, message: what the upload page shows

A job folder `<upload root>/<job id>/` holds the video (`<attempt name>.<ext>`, made safe by cruxlab.paths), `request.json` (what the
coach asked for), `status.json` (written by the job as it goes, atomically) and `log.txt` (the analysis's own
progress output and any traceback). The job id is a UTC time stamp plus random hex; nothing of the uploaded
file's name reaches the file system but a whitelisted extension.

The job runs `python -m dashboard.jobs JOB_DIR` in its own session (it outlives the Streamlit session and
the server), calls `reconstruction.pipeline.analyze` with a progress callback that writes status.json, and
takes `<upload root>/.queue.lock` first, so uploads are analysed one after another on a small machine.
The dashboard only reads the status file and the database (short read-only connections in dashboard.data):
it never holds the DuckDB file while the job writes. A failed analysis (bad video, nobody in view, ...)
writes nothing to the database (analyze's contract), records the analyzer's message, and removes its copy of
the video; a job whose process died without saying so is reported as failed by `read_status`. After a
successful analysis the job also makes the attempt's playback file, so the new attempt opens and plays at once.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from cruxlab.body import DEFAULT_HEIGHT_M
from cruxlab.errors import CruxlabError, InputError
from cruxlab.paths import data_path
from cruxlab.processes import process_runs
from reconstruction.video import VIDEO_SUFFIXES  # the containers the analyzer reads; others are refused

UPLOADS_ENV = "CRUXLAB_UPLOADS"
FINAL_STATES = ("done", "failed", "cancelled")
STAGE_TITLES = {"queued": "waiting for the analysis before it", "starting": "starting", "video": "reading the video",
                "pose": "finding the climber's pose", "masks": "masking the climber", "cameras": "solving the cameras",
                "lift": "lifting the skeleton onto the wall",
                "flow": "tracking hands and feet against the wall", "store": "storing and detecting moves",
                "playback": "preparing the video for the browser"}
#: Share of the overall progress bar the analysis takes; the rest is making the browser's playback file.
ANALYSIS_SHARE = 0.92
_REQUEST, _STATUS, _LOG = "request.json", "status.json", "log.txt"


def upload_root(db_path: str | Path) -> Path:
    """Where uploads go: $CRUXLAB_UPLOADS, else an `uploads` folder beside the database file."""
    env = os.environ.get(UPLOADS_ENV)
    return Path(env).expanduser().resolve() if env else Path(db_path).expanduser().resolve().parent / "uploads"


@dataclass(frozen=True)
class AnalysisRequest:
    """What the coach entered with the upload (the `cruxlab analyze` options of the same names).

    recorded_at: ISO text 'YYYY-MM-DDTHH:MM:SS' or None; start_s / end_s: trim in seconds of the video; fps:
    analyse about this many frames per second (None: every frame)."""

    climber: str
    name: str
    height_m: float = DEFAULT_HEIGHT_M
    problem: str | None = None
    grade: str | None = None
    outcome: str | None = None
    recorded_at: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    fps: float | None = None

    def options(self, cache_dir: Path | None = None):
        """The pipeline's AnalyzeOptions (imported here: the dashboard process never loads the pipeline)."""
        from reconstruction.pipeline import DEFAULT_CACHE_DIR, AnalyzeOptions

        return AnalyzeOptions(
            climber=self.climber, name=self.name, height_m=self.height_m, problem=self.problem, grade=self.grade,
            outcome=self.outcome, recorded_at=None if self.recorded_at is None else datetime.fromisoformat(self.recorded_at),
            start_s=self.start_s, end_s=self.end_s, fps=self.fps, cache_dir=cache_dir or DEFAULT_CACHE_DIR)


@dataclass(frozen=True)
class JobStatus:
    """The state of one job, as its status file says (times are UTC ISO text).

    state: queued | running | done | failed | cancelled; stage: a STAGE_TITLES key; stage_fraction and
    overall: 0..1 (overall weighs the stages by their usual share of the time); message: the result or the
    analyzer's error; attempt_id / attempt_name: the stored attempt once done; created: False when the same
    video with the same parameters had been analysed before (nothing changed)."""

    job_id: str
    state: str
    stage: str = "starting"
    stage_fraction: float = 0.0
    overall: float = 0.0
    message: str = ""
    attempt_id: int | None = None
    attempt_name: str | None = None
    created: bool | None = None
    n_moves: int | None = None
    pid: int | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    analysis_started_at: str | None = None  # the pipeline imported, analyze() called
    analysed_at: str | None = None          # analyze() returned (then the playback file is made)
    finished_at: str | None = None
    updated_at: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def elapsed_s(self) -> float:
        """Seconds from upload to the end (or to now while it runs)."""
        if not self.submitted_at:
            return 0.0
        end = _parse(self.finished_at) if self.finished_at else datetime.now(timezone.utc)
        return max(0.0, (end - _parse(self.submitted_at)).total_seconds())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def video_suffix(filename: str | None) -> str:
    """The lower-case extension of an uploaded file's name if it is a video container we read, else InputError.
    Only this extension (from a fixed list) is kept from the name."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InputError(f"{filename!r} is not a video file we read; upload one of "
                         f"{', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES)}")
    return suffix


# --------------------------------------------------------------------------------------------- status file
def _write_json(path: Path, payload: dict) -> None:
    """Atomic write (temp file + rename): a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def write_status(job_dir: Path, status: JobStatus) -> JobStatus:
    status = dataclasses.replace(status, updated_at=_now())
    _write_json(job_dir / _STATUS, dataclasses.asdict(status))
    return status


def _pid_runs_job(pid: int | None, job_dir: Path) -> bool:
    """True when process `pid` is alive and is this job's runner (a recycled PID running something else is not)."""
    return process_runs(pid, "dashboard.jobs", str(job_dir))


def _load_status(job_dir: Path) -> JobStatus:
    try:
        raw = json.loads((job_dir / _STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = {"job_id": job_dir.name, "state": "failed", "message": "this upload has no readable status file"}
    known = {f.name for f in dataclasses.fields(JobStatus)}
    return JobStatus(**{k: v for k, v in raw.items() if k in known})


#: Seconds a new job may take to start its process and record its PID before it counts as dead.
START_GRACE_S = 30.0


def read_status(job_dir: str | Path) -> JobStatus:
    """The job's status; a job whose process is gone without a final state is reported failed (with the end
    of its log), so the page never waits for ever."""
    job_dir = Path(job_dir)
    status = _load_status(job_dir)
    starting = status.pid is None and status.elapsed_s < START_GRACE_S
    if not status.final and not starting and not _pid_runs_job(status.pid, job_dir):
        tail = log_tail(job_dir, 5)
        status = dataclasses.replace(
            status, state="failed", finished_at=status.updated_at,
            message="the analysis process stopped without finishing (the machine ran out of memory, or it was "
                    "killed); nothing was stored. Upload the video again" + (f". Its last output:\n{tail}" if tail else ""))
    return status


def log_tail(job_dir: str | Path, n_lines: int = 20) -> str:
    """The last lines of the job's log (progress bars' carriage returns turned into lines)."""
    try:
        text = (Path(job_dir) / _LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.rstrip() for ln in re.split(r"[\r\n]+", text) if ln.strip()]
    return "\n".join(lines[-n_lines:])


def request_of(job_dir: str | Path) -> AnalysisRequest:
    raw = json.loads((Path(job_dir) / _REQUEST).read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(AnalysisRequest)}
    return AnalysisRequest(**{k: v for k, v in raw["request"].items() if k in known})


@dataclass(frozen=True)
class Job:
    """A job folder with what was asked (request) and where it is (status)."""

    dir: Path
    request: AnalysisRequest
    status: JobStatus


def load_job(job_dir: str | Path) -> Job:
    return Job(Path(job_dir), request_of(job_dir), read_status(job_dir))


def list_jobs(root: str | Path, limit: int = 20) -> list[Path]:
    """Job folders under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    jobs = [p for p in root.iterdir() if p.is_dir() and (p / _REQUEST).is_file()]
    return sorted(jobs, key=lambda p: p.name, reverse=True)[:limit]


# --------------------------------------------------------------------------------------------------- submit
def submit(root: str | Path, db_path: str | Path, video: BinaryIO, filename: str, request: AnalysisRequest,
           *, cache_dir: str | Path | None = None) -> Path:
    """Save the uploaded video under a new job folder (safe name), write the request, start the detached
    analysis process; return the job folder. `video` is any binary file object (Streamlit's UploadedFile);
    `filename` is the name it had on the coach's device: only its extension is used (from VIDEO_SUFFIXES),
    and the name itself only in messages."""
    suffix = video_suffix(filename)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    job_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    job_dir = root / job_id
    job_dir.mkdir()
    target = data_path(job_dir, request.name, suffix)  # the attempt's name, made safe; never the upload's
    with open(target, "wb") as out:
        shutil.copyfileobj(video, out, length=4 << 20)
    if target.stat().st_size == 0:
        shutil.rmtree(job_dir)
        raise InputError("the uploaded file is empty; upload the video again")
    _write_json(job_dir / _REQUEST, {"request": dataclasses.asdict(request), "db": str(Path(db_path).resolve()),
                                     "video": target.name, "uploaded_as": Path(filename).name[-120:],
                                     "cache_dir": None if cache_dir is None else str(cache_dir)})
    write_status(job_dir, JobStatus(job_id=job_id, state="queued", stage="starting", submitted_at=_now()))
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([repo, *filter(None, [env.get("PYTHONPATH")])])
    try:
        with open(job_dir / _LOG, "wb") as log:  # from here on only the job writes its status (with its PID)
            subprocess.Popen([sys.executable, "-m", "dashboard.jobs", str(job_dir)], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=repo)
    except OSError as exc:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise InputError(f"could not start the analysis ({exc}); check the dashboard's log and try again") from None
    return job_dir


def cancel(job_dir: str | Path) -> bool:
    """Stop a queued or running job (SIGTERM to its process group): the analysis stops, nothing is stored.
    Returns False when it had already finished."""
    status = read_status(job_dir)
    if status.final or not _pid_runs_job(status.pid, Path(job_dir)):
        return False
    os.killpg(status.pid, signal.SIGTERM)
    return True


# --------------------------------------------------------------------------------------------- the runner
class _Cancelled(BaseException):
    """SIGTERM (the Cancel button): a BaseException like KeyboardInterrupt, so no `except Exception` in the
    pipeline swallows it."""


def _on_term(signum, frame) -> None:  # noqa: ARG001
    raise _Cancelled()


def run(job_dir: str | Path) -> int:
    """Body of the detached process: wait for the queue, analyse, write the final status. Returns an exit code."""
    job_dir = Path(job_dir).resolve()
    signal.signal(signal.SIGTERM, _on_term)
    meta = json.loads((job_dir / _REQUEST).read_text(encoding="utf-8"))
    request = request_of(job_dir)
    video = job_dir / meta["video"]
    status = write_status(job_dir, dataclasses.replace(_load_status(job_dir), pid=os.getpid()))
    try:
        with open(job_dir.parent / ".queue.lock", "w") as lock:
            status = write_status(job_dir, dataclasses.replace(status, state="queued", stage="queued"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # one analysis at a time; the lock dies with the process
            status = write_status(job_dir, dataclasses.replace(status, state="running", stage="starting",
                                                               started_at=_now()))
            return _analyse(job_dir, meta, request, video, status)
    except _Cancelled:
        video.unlink(missing_ok=True)
        write_status(job_dir, dataclasses.replace(
            _load_status(job_dir), state="cancelled", finished_at=_now(), message="cancelled; nothing was stored"))
        return 130


def _analyse(job_dir: Path, meta: dict, request: AnalysisRequest, video: Path, status: JobStatus) -> int:
    from reconstruction.pipeline import StageProgress, analyze

    last = [0.0]

    def on_progress(p: StageProgress) -> None:
        nonlocal status
        now = time.monotonic()
        if p.fraction not in (0.0, 1.0) and now - last[0] < 0.3:  # at most ~3 writes a second within a stage
            return
        last[0] = now
        status = write_status(job_dir, dataclasses.replace(status, stage=p.stage, stage_fraction=round(p.fraction, 4),
                                                           overall=round(ANALYSIS_SHARE * p.overall, 4)))

    cache = Path(meta["cache_dir"]) if meta.get("cache_dir") else None
    status = write_status(job_dir, dataclasses.replace(status, analysis_started_at=_now()))
    try:
        result = analyze(meta["db"], video, request.options(cache), progress=True, on_progress=on_progress)
    except CruxlabError as exc:
        video.unlink(missing_ok=True)   # nothing refers to it: the database is unchanged
        shown = meta.get("uploaded_as") or "video"
        message = str(exc).replace(f"'{video}'", repr(shown)).replace(str(video), f"the uploaded file {shown!r}")
        write_status(job_dir, dataclasses.replace(status, state="failed", finished_at=_now(), message=message))
        print(f"cruxlab: error: {exc}", file=sys.stderr)
        return 2
    except _Cancelled:
        raise
    except Exception as exc:  # a bug: keep the traceback in the log, say so plainly on the page
        traceback.print_exc()
        video.unlink(missing_ok=True)
        write_status(job_dir, dataclasses.replace(
            status, state="failed", finished_at=_now(),
            message=f"the analysis crashed ({type(exc).__name__}: {exc}); nothing was stored. The log below has "
                    "the details for a bug report"))
        return 1
    print(result.summary(), file=sys.stderr)
    status = write_status(job_dir, dataclasses.replace(status, analysed_at=_now()))
    if result.created:
        status = _prepare_playback(job_dir, meta["db"], result.attempt_id, status)
    if not result.created:
        video.unlink(missing_ok=True)   # the stored attempt keeps pointing at the first copy
        message = (f"this video was analysed before with the same settings, as attempt {result.name!r}; "
                   "nothing changed")
    else:
        moves = "" if result.n_moves is None else f", {result.n_moves} move{'s' if result.n_moves != 1 else ''} found"
        message = (f"analysed: {result.n_frames} frames at {result.fps:g} fps, the climber seen in "
                   f"{result.frames_detected} of them{moves}")
    write_status(job_dir, dataclasses.replace(
        status, state="done", stage="store", stage_fraction=1.0, overall=1.0, finished_at=_now(), message=message,
        attempt_id=result.attempt_id, attempt_name=result.name, created=result.created, n_moves=result.n_moves))
    return 0


def _prepare_playback(job_dir: Path, db: str, attempt_id: int, status: JobStatus) -> JobStatus:
    """Make the attempt's playback WebM now (dashboard.player.media), so opening the new attempt plays at once
    instead of transcoding then. A failure here is logged, not fatal: the attempt is stored, and the attempt
    page says why it shows the rendered wall."""
    from dashboard.player.media import FrameSelection, make_playback
    from db import connect, store

    with connect(db, read_only=True) as con:
        info = store.attempt_info(con, attempt_id)
    status = write_status(job_dir, dataclasses.replace(status, stage="playback", stage_fraction=0.0,
                                                       overall=ANALYSIS_SHARE))

    def progress(done: int, total: int) -> None:
        nonlocal status
        frac = done / max(total, 1)
        status = write_status(job_dir, dataclasses.replace(
            status, stage_fraction=round(frac, 4), overall=round(ANALYSIS_SHARE + (1 - ANALYSIS_SHARE) * frac, 4)))

    try:
        make_playback(info.video_path, FrameSelection(info.video_start_frame, info.video_frame_step, info.n_frames,
                                                      info.fps), progress=progress)
    except CruxlabError as exc:
        print(f"cruxlab: the playback file could not be made ({exc}); the attempt page will say so", file=sys.stderr)
    return status


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m dashboard.jobs JOB_DIR (started by the dashboard's upload page)", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(sys.argv[1]))
