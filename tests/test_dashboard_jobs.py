"""Background analysis jobs of the upload page (dashboard.jobs), without a browser and without analysing:
safe file names, the queue, cancelling, and a job whose process died. The full upload -> analysed -> open
path runs in tests/test_dashboard_browser_coach.py."""

from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cruxlab.errors import InputError
from dashboard import jobs
from dashboard.jobs import AnalysisRequest

REQUEST = AnalysisRequest(climber="Janja", name="Janja / Blue 7 ../../etc", problem="Blue 7")


def wait_for(job: Path, predicate, timeout: float = 30.0) -> jobs.JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = jobs.read_status(job)
        if predicate(status):
            return status
        assert time.monotonic() < deadline, f"job stuck at {status}"
        time.sleep(0.1)


def test_uploaded_file_names_never_become_paths(tmp_path):
    assert jobs.video_suffix("IMG_0042.MOV") == ".mov"
    for bad in ("climb.exe", "notes.txt", "noext", "", "video.mp4.sh", None):
        with pytest.raises(InputError, match="not a video file"):
            jobs.video_suffix(bad)
    root = tmp_path / "uploads"
    with pytest.raises(InputError, match="not a video file"):
        jobs.submit(root, tmp_path / "s.duckdb", io.BytesIO(b"x"), "../../evil.sh", REQUEST)
    with pytest.raises(InputError, match="empty"):
        jobs.submit(root, tmp_path / "s.duckdb", io.BytesIO(b""), "clip.mp4", REQUEST)
    assert not list(root.iterdir()), "a refused upload leaves no folder behind"


@pytest.fixture
def queue_held(tmp_path):
    """Hold the upload queue, so a submitted job waits (queued) instead of analysing."""
    root = tmp_path / "uploads"
    root.mkdir()
    with open(root / ".queue.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield root


def test_jobs_wait_in_the_queue_and_cancel_leaves_nothing(queue_held, tmp_path):
    db = tmp_path / "s.duckdb"
    job = jobs.submit(queue_held, db, io.BytesIO(b"\x00" * 1000), "../../IMG_1.MP4", REQUEST)
    assert job.parent == queue_held
    video = next(job.glob("*.mp4"))
    assert video.parent == job and video.name.startswith("Janja-Blue-7-"), "the attempt's name, made safe"
    assert video.read_bytes() == b"\x00" * 1000
    meta = json.loads((job / "request.json").read_text())
    assert meta["uploaded_as"] == "IMG_1.MP4" and meta["request"]["climber"] == "Janja"
    status = wait_for(job, lambda s: s.stage == "queued" and s.pid)
    assert status.state == "queued" and not status.final
    assert [j.request.name for j in map(jobs.load_job, jobs.list_jobs(queue_held))] == [REQUEST.name]

    assert jobs.cancel(job)
    status = wait_for(job, lambda s: s.final)
    assert status.state == "cancelled" and "nothing was stored" in status.message
    assert not video.exists() and not db.exists()
    assert not jobs.cancel(job), "a finished job cannot be cancelled"


def test_a_job_whose_process_died_is_reported_failed(tmp_path):
    job = tmp_path / "uploads" / "20260101-000000-deadbeef"
    job.mkdir(parents=True)
    (job / "request.json").write_text(json.dumps({"request": dataclasses.asdict(REQUEST), "db": "x", "video": "v.mp4"}))
    (job / "log.txt").write_text("pose:  40%|####      | 10/25\rpose:  64%|######    | 16/25\n")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()                                            # a PID that ran something else and is gone now
    jobs.write_status(job, jobs.JobStatus(job_id=job.name, state="running", stage="pose", pid=proc.pid,
                                          submitted_at=jobs._now()))
    status = jobs.read_status(job)
    assert status.state == "failed" and "stopped without finishing" in status.message
    assert "16/25" in status.message, "the end of its log says how far it got"
    # a live process that is not this job's runner (PID reused) does not count either
    jobs.write_status(job, jobs.JobStatus(job_id=job.name, state="running", pid=os.getpid(),
                                          submitted_at=jobs._now()))
    assert jobs.read_status(job).state == "failed"
    # a job that has not recorded its PID yet is starting, not dead
    jobs.write_status(job, jobs.JobStatus(job_id=job.name, state="queued", submitted_at=jobs._now()))
    assert jobs.read_status(job).state == "queued"
