"""`cruxlab analyze`: a climbing video becomes a stored attempt (cameras, wall points, wall-frame skeleton,
2D detections, moves) in one call, with every stage cached on disk.

    result = analyze("cruxlab.duckdb", "climb.mp4", AnalyzeOptions(climber="Janja"))

Stages (each a function of the previous stage's output and its own parameters):
    video    probe + frame selection (`reconstruction.video`)          -> VideoInfo, FrameRange
    pose     2D pose of the climber + keyframes, one decoding pass    -> Pose2D, Keyframes
    masks    climber masks on the keyframes (made by the MediaPipe pose backend, or the mask backend, e.g. SAM2)
    cameras  keyframe SfM with the masks, every frame gets K, R, t    (`reconstruction.sfm`)
    lift     wall frame (plane, gravity, metric scale) + 3D skeleton  (`reconstruction.wall`, `.lift`)
    flow     a second pass over the frames the pose stage decoded (kept in grey, `video.GreyFrames`): the
             hands' and feet's image patches tracked against the wall (optical flow minus the wall's
             homography, `moves.evidence.effector_flow`); it needs the pose only and runs in a thread
             beside masks, cameras and lift
    moves    the skeleton's moves by the store's active move model (on the image evidence and the flow)
    store    one transaction: attempt, skeleton, cameras, wall points, 2D detections, flow, report, moves
Masks and cameras are made in a worker process (`reconstruction.camera_worker`) from the keyframes the pose
stage hands it as it decodes, while this process runs the pose stage, then the flow stage beside the lift.

Three steps, so many videos can be analysed at once while one process writes the store (DuckDB allows one
writer; `reconstruction.batch` runs them in a process pool or on Ray):
    plan_analysis(video, options)        options checked, video probed + hashed -> AnalysisPlan (its key)
    compute_attempt(plan, options, ...)  every stage up to the moves, no database -> ComputedAttempt (picklable)
    store_attempt(db, computed)          the one transaction -> AnalyzeResult
`snapshot_store(db)` reads what they need from the store first (stored keys and names, the move model).

Caching: `<cache_dir>/<video sha256[:16]>/<stage>-<key>.npz`, where the key hashes the stage's parameters,
the source code of the modules that compute it and the key of the stage it reads, so changing e.g.
`--height-m` re-runs only the lift, a new mask backend re-runs masks, cameras and lift but not the pose,
and upgraded code never reuses an old file. Writes are atomic (temp file + rename).

Idempotency: the attempt's identity is the video's sha256 plus every parameter that shapes the result
(`db.store.ingest_key`); analysing the same video with the same parameters again changes nothing and
returns the stored attempt. The database is checked (usable, name free, done already) *before* the expensive
work and written in one transaction at the end, so any failure leaves it as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from cruxlab.body import DEFAULT_HEIGHT_M, check_height
from cruxlab.digest import params_digest
from cruxlab.errors import InputError
from reconstruction.pose2d import Keyframes, Pose2D, choose_keyframes, estimate_pose
from reconstruction.video import FrameRange, VideoInfo, iter_batches, probe, select_frames

log = logging.getLogger(__name__)

#: Bump when a stage's output changes meaning, so old cache files are not reused.
PIPELINE_VERSION = 1
DEFAULT_CACHE_DIR = Path(os.environ.get("CRUXLAB_CACHE", "cache"))


@dataclass(frozen=True)
class AnalyzeOptions:
    """Parameters of one analysis (see `cruxlab analyze --help`).

    climber: who climbs; height_m: their standing height (metric scale prior), metres.
    wall_angle_deg: the wall's overhang angle (0 vertical, 45 = 45° overhang) when known; it fixes gravity
        where the video cannot (a fixed camera with no floor or standing start in view).
    pose_backend / mask_backend: registry names; pose_options / mask_options: their keyword options (weights,
        device, config_file), passed on unchanged.
    start_s / end_s: trim in seconds; fps: target frame rate (integer subsampling of the video).
    max_side: longest side in pixels of the frames handed to the pose model (keypoints are reported in
        full-size pixels); keyframes_per_s: SfM keyframes per second of video (at least 8, at most
        max_keyframes); sfm_max_side: longest side of the keyframes handed to SfM; sfm_features: SIFT
        features per keyframe.
    cache_dir: stage cache folder (None: no cache); detect_moves: detect moves before the attempt is stored.
    name, problem, grade (the problem's; needs problem), outcome, recorded_at (when it was climbed): metadata
    stored with the attempt (editable later, not part of its identity).
    """

    climber: str
    height_m: float = DEFAULT_HEIGHT_M
    wall_angle_deg: float | None = None
    pose_backend: str = "mediapipe"
    mask_backend: str = "mediapipe"
    pose_options: dict = field(default_factory=dict)
    mask_options: dict = field(default_factory=dict)
    start_s: float | None = None
    end_s: float | None = None
    fps: float | None = None
    name: str | None = None
    problem: str | None = None
    outcome: str | None = None
    grade: str | None = None
    recorded_at: datetime | None = None
    max_side: int = 960
    keyframes_per_s: float = 1.0
    max_keyframes: int = 16
    sfm_max_side: int = 720        # SIFT without upsampling from 720 px: as accurate as upsampled 512 px, ~half the CPU
    sfm_features: int = 2048
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    detect_moves: bool = True


@dataclass(frozen=True)
class AnalyzeResult:
    """What `analyze` did. created=False: the same video and parameters were analysed before (nothing
    changed; the numbers are the stored ones, and n_moves counts the moves as they stand after the
    `moves_corrected` coach corrections since).

    model_version: the move classifier that found the moves: the built-in rules, or the store's active
    model (`cruxlab moves models`), the one thing in a store that changes what an analysis finds."""

    attempt_id: int
    name: str
    created: bool
    n_frames: int
    fps: float
    frames_detected: int
    frames_with_skeleton: int
    registered: int
    camera_model: str | None
    n_moves: int | None
    model_version: str | None
    report: dict = field(default_factory=dict)
    moves_corrected: int = 0

    @property
    def keyframes(self) -> tuple[int, int]:
        """(registered, total) SfM keyframes."""
        cams = self.report.get("geometry", {}).get("cameras", {})
        return int(cams.get("keyframes_registered", self.registered)), int(cams.get("keyframes", self.registered))

    def summary(self) -> str:
        kr, kn = self.keyframes
        pct = 100.0 * kr / max(kn, 1)
        lines = [
            f"attempt {self.name!r} (id {self.attempt_id})" + ("" if self.created else
                                                              " was already analysed with these parameters; "
                                                              "nothing changed"),
            f"  frames:              {self.n_frames} at {self.fps:g} fps",
            f"  climber detected:    {self.frames_detected} frames",
            f"  registered cameras:  {kr} / {kn} keyframes ({pct:.0f} %); the other {self.n_frames - self.registered}"
            " frames interpolated",
            f"  camera model:        {self.camera_model}",
            f"  frames w/ skeleton:  {self.frames_with_skeleton}",
        ]
        geo = self.report.get("geometry", {})
        residual = geo.get("plane_residual_m")
        if residual is not None:
            text = f"{1000 * residual:.1f} mm" if np.isfinite(residual) else "n/a"
            lines.append(f"  wall plane:          {geo.get('plane_source', '?')}, residual {text}")
        if geo.get("height_estimate_m") is not None:
            lines.append(f"  climber height est.: {geo['height_estimate_m']:.2f} m ({geo.get('height_source', '')})")
        elif "height_source" in geo:
            lines.append(f"  climber height est.: n/a ({geo['height_source']})")
        if self.n_moves is not None:
            lines.append(f"  moves found:         {self.n_moves} ({self._moves_note()})")
        timings = self.report.get("timings_s")
        if self.created and timings:
            total = self.report.get("total_s", sum(timings.values()))
            lines.append("  time:                " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
                         + f"; total {total:.1f}s ({self.n_frames / max(total, 1e-9):.1f} frames/s)")
        return "\n".join(lines)

    def _moves_note(self) -> str:
        """Which classifier found the moves and what changed them since, in words."""
        from moves.classify import RULES_VERSION

        if self.model_version is None:
            note = "no model moves stored"
        elif self.model_version == RULES_VERSION:
            note = f"model {self.model_version}: the built-in rules"
        else:
            note = (f"model {self.model_version}: this store's active move model, not the built-in rules "
                    f"{RULES_VERSION}; `cruxlab moves models` lists them")
        if self.moves_corrected:
            note += f"; {self.moves_corrected} corrected by coaches since"
        return note


# ------------------------------------------------------------------------------------------ the cache
def _key(*parts: Any) -> str:
    return params_digest(parts, 16)


def code_version(*modules: str) -> str:
    """Hash of the source files of the modules that compute a stage, so an upgraded stage never reuses a
    cache file written by older code."""
    from importlib.util import find_spec

    h = hashlib.sha256()
    for name in modules:
        spec = find_spec(name)
        if spec is not None and spec.origin and Path(spec.origin).is_file():
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:12]


class StageCache:
    """Stage outputs as files `<root>/<video sha[:16]>/<stage>-<key>.npz`; root None disables caching."""

    def __init__(self, root: Path | None, video_sha256: str):
        self.dir = None if root is None else Path(root) / video_sha256[:16]

    def path(self, stage: str, key: str) -> Path | None:
        return None if self.dir is None else self.dir / f"{stage}-{key}.npz"

    def workdir(self, stage: str, key: str) -> Path:
        """A scratch folder for a stage (SfM images and database); a temporary one without a cache."""
        if self.dir is None:
            import tempfile

            return Path(tempfile.mkdtemp(prefix=f"cruxlab-{stage}-"))
        d = self.dir / f"{stage}-{key}"
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            import tempfile

            log.warning("cache folder %s is not usable (%s); working in a temporary folder", d, exc)
            return Path(tempfile.mkdtemp(prefix=f"cruxlab-{stage}-"))
        return d

    @contextlib.contextmanager
    def lock(self, stage: str, key: str):
        """Hold `<stage>-<key>.lock` (an flock) while computing a stage that works in a shared folder, so
        concurrent analyses of the same clip take turns; no lock without a usable cache."""
        if self.dir is None:
            yield
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fh = open(self.dir / f"{stage}-{key}.lock", "a")
        except OSError:
            yield
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
            yield

    def has(self, stage: str, key: str) -> bool:
        p = self.path(stage, key)
        return p is not None and p.is_file()

    def load(self, stage: str, key: str) -> Any | None:
        """The stage's cached output (`reconstruction.artifacts` reads it), or None when there is none."""
        from reconstruction.artifacts import KINDS

        return KINDS[stage].load(self.path(stage, key)) if self.has(stage, key) else None

    def save(self, stage: str, key: str, value: Any) -> None:
        """Write the stage's output (`reconstruction.artifacts`); the file lands under its final name only
        when complete."""
        from reconstruction.artifacts import KINDS

        p = self.path(stage, key)
        if p is None:
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.stem + f".tmp{os.getpid()}.npz")
        try:
            KINDS[stage].save(tmp, value)
            os.replace(tmp, p)
        except OSError as exc:  # a full or read-only cache must not fail the analysis
            log.warning("could not write cache file %s: %s", p, exc)
            tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ progress
#: Share of a typical analysis's wall time per stage (2 s and 12 s trims of the bundled clips at 12.5-29 fps
#: on 2 CPU cores: pose about half, SfM about a third), so `StageProgress.overall` moves about evenly in time.
#: The flow stage runs in a thread beside masks, cameras and lift and is reported after them (`_BackgroundStage`).
STAGE_WEIGHTS = {"video": 0.03, "pose": 0.48, "masks": 0.02, "cameras": 0.32, "lift": 0.04, "flow": 0.03,
                 "moves": 0.01, "store": 0.07}


@dataclass(frozen=True)
class StageProgress:
    """Where an analysis is: `stage` (one of STAGE_WEIGHTS), `fraction` of that stage done (0..1; stages
    without a per-item count report 0 at their start and 1 at their end), `cached` when it came from the
    stage cache; `overall` is the weighted fraction of the whole analysis (0..1)."""

    stage: str
    fraction: float
    cached: bool = False

    @property
    def overall(self) -> float:
        names = list(STAGE_WEIGHTS)
        before = sum(STAGE_WEIGHTS[n] for n in names[:names.index(self.stage)])
        return min(1.0, before + STAGE_WEIGHTS[self.stage] * min(max(self.fraction, 0.0), 1.0))


ProgressCallback = Callable[[StageProgress], None]


class _Stages:
    """One line per stage on stderr: what runs, whether it came from the cache, how long it took; and the
    same news for `on_progress` (a status file, a progress bar in a UI)."""

    def __init__(self, total: int, enabled: bool, on_progress: ProgressCallback | None = None):
        self.total, self.enabled, self.n = total, enabled, 0
        self.on_progress = on_progress
        self.timings: dict[str, float] = {}
        # CPU seconds of this process (all its threads) per stage, without those of a background stage's thread
        self.cpu: dict[str, float] = {}
        self._lock = threading.Lock()
        self._background_done = 0.0                 # CPU seconds of finished background stages' threads
        self._background_running: dict[int, int] = {}  # thread ident -> its CPU clock

    def background_cpu(self) -> float:
        """CPU seconds the background stages' threads have used so far."""
        with self._lock:
            return self._background_done + sum(time.clock_gettime(c) for c in self._background_running.values())

    def background(self, name: str, cached: bool, fn) -> "_BackgroundStage":
        """Start `fn(stage)` in a thread of its own (see `_BackgroundStage`)."""
        self.n += 1
        if self.enabled:
            print(f"[{self.n}/{self.total}] {name}{' (cached)' if cached else ''} (beside the next stages) ...",
                  file=sys.stderr, flush=True)
        return _BackgroundStage(self, name, cached, self.n, fn)

    def report(self, name: str, fraction: float, cached: bool = False) -> None:
        if self.on_progress is not None:
            self.on_progress(StageProgress(name, fraction, cached))

    def run(self, name: str, cached: bool, fn):
        self.n += 1
        if self.enabled:
            print(f"[{self.n}/{self.total}] {name}{' (cached)' if cached else ''} ...", file=sys.stderr, flush=True)
        self.report(name, 0.0, cached)
        t0, c0 = time.perf_counter(), time.process_time() - self.background_cpu()
        out = fn()
        self.report(name, 1.0, cached)
        self.timings[name] = time.perf_counter() - t0
        self.cpu[name] = time.process_time() - self.background_cpu() - c0
        if self.enabled:
            print(f"[{self.n}/{self.total}] {name} done in {self.timings[name]:.1f} s", file=sys.stderr, flush=True)
        return out


class _Stopped(Exception):
    """A background stage was asked to stop (the analysis failed or was interrupted meanwhile)."""


class _BackgroundStage:
    """A stage computed in a thread while this thread runs the next ones: the flow stage (it needs the pose
    only; its optical flow runs in OpenCV without the GIL) beside masks, cameras and lift. The work calls
    `advance(fraction)` as it goes, which raises `_Stopped` once `stop()` was called. `wait()` reports it
    to `on_progress` in stage order (from 0 to 1, after the stages before it in STAGE_WEIGHTS), records its
    thread's wall and CPU seconds, and returns its result or raises its error. (The CPU seconds are its
    thread's own: OpenCV's worker threads, which share out the optical flow's points, count toward the stages
    that run meanwhile.)"""

    def __init__(self, stages: _Stages, name: str, cached: bool, n: int, fn):
        self.stages, self.name, self.cached, self.n, self.fn = stages, name, cached, n, fn
        self.fraction = 0.0
        self.result = self.error = None
        self.wall = self.cpu = 0.0
        self._stop = threading.Event()
        # Set once this thread waits for the stage (or stops it): the work may then take every core it can use.
        self.full_speed = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"cruxlab-{name}", daemon=True)
        self._thread.start()

    def advance(self, fraction: float) -> None:
        if self._stop.is_set():
            raise _Stopped(self.name)
        self.fraction = fraction

    def _main(self) -> None:
        s, ident = self.stages, threading.get_ident()
        clock = getattr(time, "pthread_getcpuclockid", None)  # not on every platform (macOS)
        with s._lock:
            if clock is not None:
                s._background_running[ident] = clock(ident)
        t0 = time.perf_counter()
        try:
            self.result = self.fn(self)
        except BaseException as exc:  # noqa: BLE001 - raised again by wait()
            self.error = exc
        finally:
            self.wall = time.perf_counter() - t0
            with s._lock:
                self.cpu = time.thread_time()
                if ident in s._background_running:
                    s._background_done += self.cpu
                    del s._background_running[ident]

    def wait(self):
        self.full_speed.set()
        s, last = self.stages, 0.0
        s.report(self.name, 0.0, self.cached)
        while self._thread.is_alive():
            self._thread.join(0.2)
            if last < self.fraction < 1.0:
                last = self.fraction
                s.report(self.name, last, self.cached)
        if self.error is not None:
            raise self.error
        s.report(self.name, 1.0, self.cached)
        s.timings[self.name], s.cpu[self.name] = self.wall, self.cpu
        if s.enabled:
            print(f"[{self.n}/{s.total}] {self.name} done in {self.wall:.1f} s", file=sys.stderr, flush=True)
        return self.result

    def stop(self) -> None:
        """Ask the work to stop and wait for its thread (its result is not needed any more)."""
        self._stop.set()
        self.full_speed.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------ stages
def run_pose(info: VideoInfo, frames: FrameRange, options: AnalyzeOptions, keyframe_index: np.ndarray,
             progress: bool, on_frames: Callable[[int], None] | None = None,
             on_keyframe: Callable[[np.ndarray, np.ndarray, np.ndarray | None], None] | None = None,
             on_decoded: Callable[[np.ndarray], None] | None = None) -> tuple[Pose2D, Keyframes]:
    """2D pose of the attempt's frames with the chosen backend (one decoding pass); `on_keyframe(image, box,
    mask)` hears each keyframe as it is decoded, `on_decoded(frames)` every decoded batch (see
    `pose2d.estimate_pose`)."""
    from reconstruction.backends import AttemptContext, get_pose_backend

    context = AttemptContext(fps=frames.fps, masks_wanted=options.mask_backend == options.pose_backend)
    # made by `estimate_pose`, which decodes the first frames meanwhile (~0.1 s of MediaPipe's graphs starting)
    return estimate_pose(info, frames, lambda: get_pose_backend(options.pose_backend, context=context,
                                                                **options.pose_options),
                         keyframe_index=keyframe_index, max_side=options.max_side, progress=progress,
                         on_frames=on_frames, on_keyframe=on_keyframe, on_decoded=on_decoded)


def run_masks(pose: Pose2D, keyframes: Keyframes, options: AnalyzeOptions) -> np.ndarray:
    """(N, h, w) bool climber masks of the keyframes at the working size (the climber's box where the
    segmenter saw nobody but the pose found them)."""
    from reconstruction.backends import get_mask_backend
    from reconstruction.segment import fill_empty_masks

    boxes = pose.boxes[keyframes.index] / keyframes.scale
    if options.mask_backend == "mediapipe" and keyframes.masks is not None:
        masks = keyframes.masks.copy()
    else:
        kps = pose.keypoints[keyframes.index] / keyframes.scale
        with get_mask_backend(options.mask_backend, **options.mask_options) as backend:
            masks = np.asarray(backend.segment(list(keyframes.images), boxes, kps), dtype=bool)
    return fill_empty_masks(masks, boxes)


# ------------------------------------------------------------------------------------------ identity
def _fingerprint(backend: str, options: dict) -> dict[str, str]:
    """A backend's resolved options as text (weight files with size and mtime, values from the environment
    and cruxlab.toml included), so a replaced weight file or a changed config is a different analysis."""
    from reconstruction.backends.config import OPTIONS, fingerprint

    known = {f.name for f in dataclasses.fields(OPTIONS[backend])} if backend in OPTIONS else set()
    core = {k: v for k, v in options.items() if k in known or k == "config_file"}
    extra = {k: str(v) for k, v in sorted(options.items()) if k not in core and v is not None}
    return {**fingerprint(backend, core), **extra}


def _params(info: VideoInfo, frames: FrameRange, o: AnalyzeOptions) -> dict:
    """Everything that shapes the stored attempt (its identity together with the video's sha256)."""
    return {
        "version": PIPELINE_VERSION, "start_frame": frames.start, "frame_step": frames.step, "n_frames": frames.count,
        "pose_backend": o.pose_backend, "pose_options": _fingerprint(o.pose_backend, o.pose_options),
        "mask_backend": o.mask_backend, "mask_options": _fingerprint(o.mask_backend, o.mask_options), "height_m": round(float(o.height_m), 3),
        **({} if o.wall_angle_deg is None else {"wall_angle_deg": round(float(o.wall_angle_deg), 2)}), "max_side": o.max_side,
        "keyframes_per_s": o.keyframes_per_s, "max_keyframes": o.max_keyframes, "sfm_max_side": o.sfm_max_side,
        "sfm_features": o.sfm_features,
    }


def _existing(con, key: str) -> AnalyzeResult | None:
    from db import store

    attempt_id = store.find_attempt(con, key=key)
    if attempt_id is None:
        return None
    info = store.attempt_info(con, attempt_id)
    rep = info.report
    n_moves, version = store.move_summary(con, attempt_id)
    return AnalyzeResult(
        attempt_id=attempt_id, name=info.name, created=False, n_frames=info.n_frames, fps=info.fps,
        frames_detected=int(rep.get("pose", {}).get("frames_detected", 0)),
        frames_with_skeleton=int(rep.get("frames_with_skeleton", 0)), registered=int(rep.get("registered", 0)),
        camera_model=info.camera_model, n_moves=n_moves, model_version=version,
        report=rep, moves_corrected=store.count_corrections(con, attempt_id),
    )


def _attempt_name(con, wanted: str | None, stem: str, key: str) -> str:
    from db import store

    if wanted:
        if store.find_attempt(con, name=wanted) is not None:
            raise InputError(f"an attempt named {wanted!r} already exists (from another video or other "
                             "parameters); choose another --name, or delete it with "
                             f"`cruxlab attempts --delete {wanted}`")
        return wanted
    if store.find_attempt(con, name=stem) is None:
        return stem
    return f"{stem}-{key[:8]}"


def _check_creatable(db_path: Path) -> None:
    """A new database file can be created at `db_path` (checked without creating it)."""
    from cruxlab.errors import DatabaseError

    parent = db_path.resolve().parent
    if not parent.is_dir():
        what = "is a file, not a folder" if parent.exists() else "does not exist"
        raise DatabaseError(f"cannot create the database {db_path}: {parent} {what}; create the folder or choose "
                            "another --db path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DatabaseError(f"cannot create the database {db_path}: the folder {parent} is not writable; choose a "
                            "--db path in a writable folder")


# ------------------------------------------------------------------------------------------ plan
def checked_options(options: AnalyzeOptions) -> AnalyzeOptions:
    """The options with clean metadata (names trimmed, 'v5' -> 'V5', ISO dates parsed); InputError naming the
    fix for parameters no analysis can use. Needs no file: runs before any work."""
    from cruxlab.metadata import check_grade, check_name, check_outcome, check_recorded_at
    from reconstruction.video import check_trim

    if not options.climber or not str(options.climber).strip():
        raise InputError("--climber must name who climbs")
    options = dataclasses.replace(
        options, climber=check_name(options.climber, "climber (--climber)", required=True),
        problem=check_name(options.problem, "problem (--problem)", required=False),
        grade=check_grade(options.grade), outcome=check_outcome(options.outcome),
        recorded_at=check_recorded_at(options.recorded_at))
    if options.grade and not options.problem:
        raise InputError("--grade is the problem's grade; name the problem with --problem too")
    check_height(options.height_m)
    if options.wall_angle_deg is not None and not (-30.0 <= options.wall_angle_deg <= 90.0):
        raise InputError(f"--wall-angle {options.wall_angle_deg} is not an overhang angle in degrees "
                         "(0 = vertical, 45 = 45° overhang, negative = slab; -30..90)")
    check_trim(options.start_s, options.end_s, options.fps)
    return options


@dataclass(frozen=True)
class AnalysisPlan:
    """What an analysis will compute, known cheaply before any expensive work (probe + content hash).

    video: the probed file; frames: the attempt's frames in it; params: every parameter that shapes the
    stored attempt; key: its identity in the store (video sha256 + params, `db.store.ingest_key`).
    """

    video: VideoInfo
    frames: FrameRange
    params: dict
    key: str


def plan_analysis(video_path: str | Path, options: AnalyzeOptions) -> AnalysisPlan:
    """Probe the video and choose its frames (options already `checked_options`); InputError for anything
    unusable."""
    from cruxlab.digest import ingest_key  # the store's key, without importing the store (DuckDB, Arrow)

    info = probe(video_path)
    frames = select_frames(info, options.start_s, options.end_s, options.fps)
    check_duration(info, frames)
    params = _params(info, frames, options)
    return AnalysisPlan(video=info, frames=frames, params=params, key=ingest_key(info.sha256, params))


@dataclass(frozen=True)
class MoveModel:
    """The move classifier new attempts are labelled with: the store's active model row (`db.store.
    StoredModel`, plain data, picklable) or None for the built-in rules. The classifier is built when moves
    are detected, after the pose and camera stages; rules (built-in or stored) are NumPy predictors
    (`moves.classify.Rules`), so only a stored learned model brings scikit-learn (with SciPy's statistics and
    pandas: ~0.7 s, ~150 MB) into an analysis."""

    stored: Any = None

    def classifier(self):
        """The fitted estimator (DatabaseError naming the fix for an unusable stored model)."""
        from moves.classify import default_classifier

        if self.stored is None:
            return default_classifier()
        from moves.service import load_model

        return load_model(self.stored)

    @property
    def version(self) -> str:
        if self.stored is not None:
            return self.stored.version
        from moves.classify import RULES_VERSION

        return RULES_VERSION


@dataclass(frozen=True)
class StoreSnapshot:
    """The store as analyses start, read in one short connection, so the work itself never opens it.

    keys: ingest keys of the stored attempts (an analysis with one of them is done already);
    names: attempt names in use; model: the active move classifier (the default rules without a store).
    """

    keys: frozenset[str]
    names: frozenset[str]
    model: MoveModel

    def check_name(self, plan: AnalysisPlan, options: AnalyzeOptions) -> None:
        """InputError when a new attempt would take a name another analysis holds (before any work)."""
        if plan.key not in self.keys and options.name and options.name in self.names:
            raise InputError(f"an attempt named {options.name!r} already exists (from another video or other "
                             "parameters); choose another --name, or delete it with "
                             f"`cruxlab attempts --delete {options.name}`")


def snapshot_store(db_path: str | Path) -> StoreSnapshot:
    """Read the store's keys, names and move model; DatabaseError for a store that cannot be used, or whose
    active move model cannot be loaded, before any work (the file is not created: a failed analysis leaves
    no empty store behind)."""
    db_path = Path(db_path)
    if not db_path.exists():
        _check_creatable(db_path)
        return StoreSnapshot(frozenset(), frozenset(), MoveModel())
    from db import store
    from db.connection import connect

    with connect(db_path) as con:
        keys, names = store.ingest_keys_and_names(con)
        row = store.active_model(con)
    model = MoveModel(row)
    if row is not None:
        model.classifier()  # a stored model that cannot be used fails now, not after the video's analysis
    return StoreSnapshot(keys, names, model)


def stored_result(db_path: str | Path, key: str) -> AnalyzeResult | None:
    """The stored attempt with this ingest key as an AnalyzeResult (created=False), or None."""
    from db.connection import connect

    if not Path(db_path).exists():
        return None
    with connect(db_path) as con:
        return _existing(con, key)


# ------------------------------------------------------------------------------------------ compute
@dataclass(frozen=True)
class ComputedAttempt:
    """An analysed video before it is stored: everything the store transaction writes, computed without
    the database, so worker processes and Ray tasks can compute while one process writes. Picklable
    (numpy arrays and plain values).

    pose: the climber's 2D detections (full-size pixels); geometry: cameras, wall points and the lifted
    skeleton in the wall frame (metres); skeleton: the attempt's skeleton as stored ((T, 21, 3) float32);
    moves: detected with `model_version` on the image evidence, None with detect_moves off; detection_extras:
    the on-the-wall interval and holds found with them; report: numbers of every stage
    (timings_s / cpu_s per stage in seconds).
    """

    plan: AnalysisPlan
    options: AnalyzeOptions
    pose: Pose2D
    geometry: Any  # reconstruction.wall.WallReconstruction (imported lazily)
    skeleton: Any  # cruxlab.skeleton.Skeleton
    moves: tuple | None
    model_version: str | None
    report: dict
    detection_extras: tuple | None = None  # (db.store.WallInterval, db.store.HoldContacts) found with the moves
    flow: Any = None  # db.store.EffectorFlow: the hands' and feet's image motion relative to the wall


@dataclass(frozen=True)
class _StageKeys:
    """Cache keys of the stages: each hashes its parameters, the code that computes it and the key it reads."""

    pose: str
    masks: str
    cameras: str
    lift: str
    flow: str


def _stage_keys(plan: AnalysisPlan, options: AnalyzeOptions, keyframe_index: np.ndarray) -> _StageKeys:
    from reconstruction.backends import backend_entry

    params = plan.params
    pose = _key("pose", params["version"], params["start_frame"], params["frame_step"], params["n_frames"],
                options.pose_backend, params["pose_options"], options.max_side, keyframe_index.tolist(),
                code_version("reconstruction.artifacts", "reconstruction.video", "reconstruction.pose2d",
                             "reconstruction.segment", "reconstruction.climber",
                             backend_entry("pose", options.pose_backend).module))
    masks = _key("masks", pose, options.mask_backend, params["mask_options"],
                 code_version(backend_entry("mask", options.mask_backend).module))
    cameras = _key("cameras", masks, options.sfm_max_side, options.sfm_features,
                   code_version("reconstruction.sfm", "reconstruction.geometry"))
    lift = _key("lift", cameras, params["height_m"], params.get("wall_angle_deg"),
                code_version("reconstruction.wall", "reconstruction.lift"))
    flow = _key("flow", pose, code_version("moves.evidence"))
    return _StageKeys(pose, masks, cameras, lift, flow)


def compute_attempt(plan: AnalysisPlan, options: AnalyzeOptions, *, model: MoveModel | None = None,
                    progress: bool = True, stages: _Stages | None = None) -> ComputedAttempt:
    """Video -> 2D pose -> masks -> cameras -> lift -> moves for a planned analysis, without the database.
    Masks and SfM of the keyframes run in a worker process while the pose stage decodes (`camera_worker`)
    and the flow stage reads the decoded frames again in a thread beside masks, cameras and lift, unless they
    are cached. `model`: the move classifier (default: the built-in rules). Raises CruxlabError subclasses
    naming the fix."""
    from reconstruction.camera_worker import return_freed_memory

    return_freed_memory()
    run = _Run(plan, options, stages or _Stages(6 if options.detect_moves else 5, progress), progress)
    later_imports = _import_later_stages()
    with contextlib.closing(run):
        with run.camera_worker() as worker:
            pose, keyframes = run.stages.run("pose", run.cached("pose"), lambda: run.pose(worker))
            _require_climber(pose, plan, options)
            # the flow needs the pose only: it runs in a thread beside masks, cameras and lift
            run.flow_stage = run.stages.background("flow", run.cached("flow"), lambda stage: run.flow(pose, stage))
            masks = run.stages.run("masks", run.cached("masks"), lambda: run.masks(pose, keyframes, worker))
            cams = run.stages.run("cameras", run.cached("cameras"), lambda: run.cameras(keyframes, masks, worker))
            later_imports.join()
            # The worker process ends by itself once it has replied (interpreter and COLMAP teardown, ~0.1-0.2
            # s); leaving its block waits for that and deletes its folder, so the lift runs first.
            geometry = run.stages.run("lift", run.cached("lift"), lambda: run.lift(cams, pose))
        flow = run.flow_stage.wait()
    geometry.report.setdefault("cameras", cams.report)
    from cruxlab.skeleton import Skeleton

    skeleton = Skeleton(keypoints=geometry.keypoints, fps=plan.frames.fps, confidence=geometry.confidence,
                        wall_normal=geometry.wall_normal, wall_point=geometry.wall_point)
    moves = version = extras = None
    if options.detect_moves:
        moves, version, extras = _detect_moves(skeleton, pose, geometry, flow, model, run.stages)
    report = _report(plan, pose, geometry, skeleton, run.stages)
    if version is not None:
        report["move_model"] = version  # the moves' classifier, also on every stored move (model_version)
    return ComputedAttempt(plan=plan, options=options, pose=pose, geometry=geometry, skeleton=skeleton,
                           moves=moves, model_version=version, report=report, detection_extras=extras, flow=flow)


#: What the lift and moves stages import (`_import_later_stages`); not the store's DuckDB and Arrow (+53 MB),
#: which would add to the pose stage's peak memory (the flow stage loads them after it: moves.evidence).
_LATER_MODULES = ("reconstruction.wall", "scipy.ndimage", "threadpoolctl", "cruxlab.contacts", "moves.classify",
                  "moves.calibration")


def _import_later_stages() -> threading.Thread:
    """Import the lift's and the moves stage's modules in a thread, started before the pose stage, so ~0.13
    CPU-s of imports leave the critical path. Not while the pose model tracks: importing is Python work
    that holds the GIL, and MediaPipe's graph takes the GIL several times a frame (its result callbacks),
    so the imports there stalled ~15 frames of the hand-held clip to 25-37 ms instead of ~14 (~0.15 s of
    the stage). Beside the start-up (the camera worker, the pose backend's graphs, the first decoded
    frames) they cost less. The caller joins the thread before the lift. A module that fails to import here
    fails again, with its message, in the stage that imports it."""
    import importlib

    def work() -> None:
        for name in _LATER_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the stage that needs it reports it
                pass

    thread = threading.Thread(target=work, name="cruxlab-imports", daemon=True)
    thread.start()
    return thread


def _require_climber(pose: Pose2D, plan: AnalysisPlan, options: AnalyzeOptions) -> None:
    if not pose.detected.any():
        raise InputError(
            f"no person found in any of the {plan.frames.count} frames of {plan.video.path} (pose backend "
            f"{options.pose_backend}). Check that the climber is in view, trim to the climb with --start/--end, "
            "or try another --pose-backend; nothing was stored"
        )


def _detect_moves(skeleton, pose: Pose2D, geometry, flow, model: MoveModel | None, stages: _Stages
                  ) -> tuple[tuple, str, tuple]:
    """(moves, classifier version, (wall interval, hold contacts)) found on the image evidence: the 2D
    detections through the solved cameras, and the hands' and feet's flow."""
    from moves.classify import detect_features
    from moves.evidence import video_features

    model = model or MoveModel()

    def moves_stage():
        cams = geometry.cameras
        return detect_features(video_features(skeleton, pose.keypoints, pose.confidence, cams.K, cams.R, cams.t,
                                              flow=flow), model.classifier())

    found = stages.run("moves", False, moves_stage)
    return tuple(found.moves), model.version, (found.wall_interval(), found.hold_contacts())


class _Run:
    """The stages of one `compute_attempt`: each reads its cache file or computes and saves it."""

    def __init__(self, plan: AnalysisPlan, options: AnalyzeOptions, stages: _Stages, progress: bool):
        self.plan, self.options, self.stages, self.progress = plan, options, stages, progress
        self.cache = StageCache(options.cache_dir, plan.video.sha256)
        frames = plan.frames
        self.keyframe_index = choose_keyframes(frames.count, frames.fps, per_second=options.keyframes_per_s,
                                               max_count=options.max_keyframes)
        self.keys = _stage_keys(plan, options, self.keyframe_index)
        self.worker_result = None
        self.grey = None  # video.GreyFrames: the pose stage's frames, kept for the flow stage
        self.flow_stage: _BackgroundStage | None = None

    def close(self) -> None:
        """Stop the flow stage's thread if it still runs (an error elsewhere), delete the grey frames."""
        if self.flow_stage is not None:
            self.flow_stage.stop()
            self.flow_stage = None
        if self.grey is not None:
            self.grey.close()
            self.grey = None

    def cached(self, stage: str) -> bool:
        if stage == "pose":
            return self.cache.has("pose", self.keys.pose) and self.cache.has("keyframes", self.keys.pose)
        return self.cache.has(stage, getattr(self.keys, stage))

    @contextlib.contextmanager
    def camera_worker(self):
        """A `camera_worker.CameraWorker` fed by the pose stage, or None where it cannot help: the pose,
        masks or cameras come from the cache, another mask backend (SAM 2 segments the keyframes as one
        video), or fewer than 2 keyframes."""
        o = self.options
        if (self.cached("pose") or self.cached("masks") or self.cached("cameras") or o.mask_backend != "mediapipe"
                or len(self.keyframe_index) < 2):
            yield None
            return
        import tempfile

        from reconstruction.camera_worker import CameraJob, CameraWorker
        from reconstruction.sfm import SfmOptions
        from reconstruction.video import working_size

        with tempfile.TemporaryDirectory(prefix="cruxlab-sfm-") as workdir:
            job = CameraJob(mask_options=dict(o.mask_options), sfm_max_side=o.sfm_max_side,
                            scale=working_size(self.plan.video, o.max_side)[2],
                            sfm=SfmOptions(max_features=o.sfm_features), workdir=Path(workdir))
            try:
                worker = CameraWorker(len(self.keyframe_index), job, self.keyframe_index)
            except OSError as exc:  # no process to spare (limits of a pool or Ray worker): one after another
                log.warning("cameras: no worker process (%s); masks and SfM run after the pose stage", exc)
                worker = None
            with worker or contextlib.nullcontext():
                yield worker

    def pose(self, worker) -> tuple[Pose2D, Keyframes]:
        key, frames = self.keys.pose, self.plan.frames
        if self.cached("pose"):
            return self.cache.load("pose", key), self.cache.load("keyframes", key)
        done = 0

        def on_frames(n: int) -> None:
            nonlocal done
            done += n
            self.stages.report("pose", done / max(frames.count, 1))

        # The flow stage reads the frames decoded here, kept in grey, instead of decoding the video again.
        if not self.cached("flow"):
            from reconstruction.video import GreyFrames, working_size

            w, h, scale = working_size(self.plan.video, self.options.max_side)
            self.grey = GreyFrames.open(frames.count, w, h, scale)
        # Each decoded batch: its grey frames kept, its keyframes' images to the camera worker (their SIFT then
        # runs before the pose stage reaches them).
        hooks = [f for f in (None if self.grey is None else self.grey.write,
                             None if worker is None else worker.decoded) if f is not None]

        def on_decoded(batch: np.ndarray) -> None:
            for hook in hooks:
                hook(batch)

        pose, keyframes = run_pose(self.plan.video, frames, self.options, self.keyframe_index, self.progress,
                                   on_frames, None if worker is None else worker.add, on_decoded if hooks else None)
        self.cache.save("pose", key, pose)
        self.cache.save("keyframes", key, keyframes)
        return pose, keyframes

    def masks(self, pose: Pose2D, keyframes: Keyframes, worker) -> np.ndarray:
        masks = self.cache.load("masks", self.keys.masks)
        if masks is None:
            if worker is not None:  # the worker made masks and cameras meanwhile: wait for both
                from reconstruction.camera_worker import CameraWorkerDied

                try:
                    self.worker_result = worker.result(keyframes.index, self.plan.frames.count)
                    masks = self.worker_result[0]
                except CameraWorkerDied as exc:  # the same stages in this process give the same result
                    log.warning("cameras: %s; masks and SfM run in this process instead", exc)
            if masks is None:
                masks = run_masks(pose, keyframes, self.options)
            self.cache.save("masks", self.keys.masks, masks)
        return masks

    def cameras(self, keyframes: Keyframes, masks: np.ndarray, worker):
        key = self.keys.cameras
        if self.worker_result is not None:
            cams = self.worker_result[1]
            self.stages.cpu["masks+cameras (worker process)"] = cams.report.get("worker_cpu_s", 0.0)
            self.cache.save("cameras", key, cams)
            return cams
        # Two runs of one clip share the SfM folder: the second waits, then reads the first one's result.
        with self.cache.lock("sfm", key):
            cams = self.cache.load("cameras", key)
            if cams is None:
                cams = run_cameras(keyframes, masks, self.plan.frames.count, self.options,
                                   self.cache.workdir("sfm", key), self.progress)
                self.cache.save("cameras", key, cams)
            return cams

    def lift(self, cams, pose: Pose2D):
        rec = self.cache.load("lift", self.keys.lift)
        if rec is None:
            rec = run_lift(cams, pose, self.plan.frames.fps, self.options)
            self.cache.save("lift", self.keys.lift, rec)
        return rec

    def flow(self, pose: Pose2D, stage: _BackgroundStage):
        flow = self.cache.load("flow", self.keys.flow)
        if flow is None:
            frames, done = self.plan.frames, 0

            def on_frames(n: int) -> None:
                nonlocal done
                done += n
                stage.advance(done / max(frames.count, 1))

            flow = run_flow(self.plan.video, frames, pose, self.options, on_frames, self.grey, stage.full_speed)
            self.cache.save("flow", self.keys.flow, flow)
        return flow


def _report(plan: AnalysisPlan, pose: Pose2D, geometry, skeleton, stages: _Stages) -> dict:
    info, frames = plan.video, plan.frames
    cams = geometry.report.get("cameras", {})
    return {
        "video": {"path": str(info.path), "fps": info.fps, "size": [info.width, info.height],
                  "rotation": info.rotation, "frames": info.n_frames, "codec": info.codec},
        "frames": frames.count, "fps": frames.fps,
        "frames_with_skeleton": int(np.isfinite(skeleton.keypoints).all(-1).any(-1).sum()),
        "registered": int(geometry.cameras.registered.sum()),
        "keyframe_registration_rate": cams.get("keyframes_registered", 0) / max(cams.get("keyframes", 1), 1),
        "camera_model": geometry.camera_model, "pose": pose.report, "geometry": geometry.report,
        "timings_s": {k: round(v, 2) for k, v in stages.timings.items()},
        "cpu_s": {k: round(v, 2) for k, v in stages.cpu.items()},
    }


# ------------------------------------------------------------------------------------------ analyze
def analyze(db_path: str | Path, video_path: str | Path, options: AnalyzeOptions, *, progress: bool = True,
            on_progress: ProgressCallback | None = None) -> AnalyzeResult:
    """Analyse one video into the store: plan (check options, probe) -> the store's say (unusable, done
    already, name taken: all before the expensive work) -> compute -> store in one transaction. Raises
    CruxlabError subclasses with the fix in the message; the database is unchanged on any failure.
    `on_progress` hears every stage start and end and the pose stage's frames as they are done."""
    t_start = time.perf_counter()
    options = checked_options(options)
    stages = _Stages(7 if options.detect_moves else 6, progress, on_progress)
    stages.report("video", 0.0)
    plan = plan_analysis(video_path, options)
    snapshot = snapshot_store(db_path)
    if plan.key in snapshot.keys:
        done = stored_result(db_path, plan.key)
        if done is not None:
            return done
    snapshot.check_name(plan, options)
    stages.report("video", 1.0)
    computed = compute_attempt(plan, options, model=snapshot.model, progress=progress, stages=stages)
    result = stages.run("store", False, lambda: store_attempt(db_path, computed))
    if result.created:
        result.report["timings_s"]["store"] = round(stages.timings["store"], 2)
        result.report["cpu_s"]["store"] = round(stages.cpu["store"], 2)
        result.report["total_s"] = round(time.perf_counter() - t_start, 2)
    return result


def check_duration(info: VideoInfo, frames: FrameRange) -> None:
    """Refuse a selection shorter than MIN_DURATION_S before any model runs (nothing would be learned)."""
    from cruxlab.limits import MIN_DURATION_S

    seconds = frames.count / frames.fps
    if seconds < MIN_DURATION_S:
        raise InputError(
            f"{info.path}: the clip to analyse is too short: {seconds:.2f} s ({frames.count} frame(s) at "
            f"{frames.fps:g} fps); cruxlab needs at least {MIN_DURATION_S:g} s of climbing. Film a longer clip or widen --start/--end; "
            "nothing was stored")


# ------------------------------------------------------------------------------------------ geometry
def sfm_inputs(keyframes: Keyframes, masks: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Keyframe images and masks downscaled to `max_side` for SfM, and their full-size pixels per pixel."""
    from reconstruction.camera_worker import sfm_keyframe

    small = [sfm_keyframe(img, m, max_side, keyframes.scale) for img, m in zip(keyframes.images, masks)]
    if not small:
        return keyframes.images, masks, keyframes.scale
    return np.stack([i for i, _, _ in small]), np.stack([m for _, m, _ in small]), small[0][2]


def run_cameras(keyframes: Keyframes, masks: np.ndarray, n_frames: int, options: AnalyzeOptions, workdir: Path,
                progress: bool):
    """Keyframe SfM (or the rotation-only model) -> `sfm.CameraSolution` for every attempt frame."""
    from reconstruction.sfm import SfmOptions, solve_cameras

    images, small_masks, scale = sfm_inputs(keyframes, masks, options.sfm_max_side)
    return solve_cameras(list(images), keyframes.index, small_masks, n_frames, workdir, scale=scale,
                         options=SfmOptions(max_features=options.sfm_features), progress=progress)


def run_flow(info: VideoInfo, frames: FrameRange, pose: Pose2D, options: AnalyzeOptions,
             on_frames: Callable[[int], None] | None = None, grey=None, full_speed: threading.Event | None = None):
    """A pass over the attempt's frames at the working size: how each hand's and foot's image patch moves
    relative to the wall (`moves.evidence.effector_flow` -> db.store.EffectorFlow): ~2 CPU-ms per frame at
    720x960 (the frames halved while the patches stay large enough, ~250 points tracked forward, ~100 of them
    back, a homography per frame). The frames are
    `grey` (`video.GreyFrames`, all written by the pose stage's decoding: the same pixels) or else decoded
    again. `full_speed`: one tracking thread until it is set, then two (`effector_flow`; analyze sets it when
    it waits for the flow, so beside the camera worker's last keyframe and the lift the flow takes one core)."""
    from moves.evidence import effector_flow

    if grey is not None and grey.complete:
        batches = grey.batches()
    else:
        batches = ((b.scale, b.frames) for b in iter_batches(info, frames, max_side=options.max_side))
    return effector_flow(batches, pose.keypoints, pose.confidence, pose.boxes, progress=on_frames,
                         full_speed=full_speed)


def track_stored(db_path: str | Path, names: list[str] | None = None, *, video: str | Path | None = None,
                 redo: bool = False, progress: bool = True) -> list[tuple[str, str]]:
    """The flow stage for attempts already in the store (analysed before it existed, or all with `redo`):
    each attempt's video is decoded again (the stored path, or `video` for one attempt whose file moved; it
    must be the analysed file, by sha256), its stored 2D detections place the patches (`run_flow`), and the
    flow and the moves detected with it (the active model) are written in one transaction per attempt.
    Returns (attempt name, what happened) per attempt; skeleton imports have no video and are skipped."""
    from db import store
    from db.connection import connect, transaction
    from moves.evidence import effector_flow
    from moves.service import detect_and_store

    out = []
    with connect(db_path, create=False) as con:
        chosen = store.resolve_attempts(con, names)
        if video is not None and len(chosen) != 1:
            raise InputError(f"--video is the file of one attempt; name exactly one (got {len(chosen)})")
        for attempt_id, name in chosen:
            info = store.attempt_info(con, attempt_id)
            if info.source_kind != "video":
                out.append((name, "skipped: a skeleton import has no video"))
                continue
            if not redo and store.read_effector_flow(con, attempt_id) is not None:
                out.append((name, "skipped: tracked already (--redo to track again)"))
                continue
            sha, params = store.attempt_video(con, attempt_id)
            path = Path(video) if video is not None else Path(info.video_path or "")
            if not path.is_file():
                raise InputError(f"attempt {name!r}: its video {str(path)!r} is not there; pass the file with "
                                 f"--video PATH (one attempt at a time)")
            vinfo = probe(path)
            if vinfo.sha256 != sha:
                raise InputError(f"attempt {name!r}: {path} is not the video it was analysed from (another sha256); "
                                 "pass the analysed file with --video PATH")
            frames = FrameRange(start=info.video_start_frame, step=info.video_frame_step, count=info.n_frames,
                                fps=info.fps)
            kp = store.read_keypoints2d(con, attempt_id)
            if kp is None:
                out.append((name, "skipped: no stored 2D detections (analysed before version 4): analyse it again"))
                continue
            t0 = time.perf_counter()
            max_side = int(params.get("max_side", AnalyzeOptions.max_side))
            batches = ((b.scale, b.frames) for b in iter_batches(vinfo, frames, max_side=max_side))
            flow = effector_flow(batches, kp.keypoints, kp.confidence, kp.boxes)
            with transaction(con):
                store.replace_effector_flow(con, attempt_id, flow)
                n, version = detect_and_store(con, attempt_id)
            out.append((name, f"tracked {info.n_frames} frames in {time.perf_counter() - t0:.1f} s; "
                              f"{n} moves by {version}"))
            if progress:
                print(f"{name}: {out[-1][1]}", file=sys.stderr, flush=True)
    return out


def run_lift(cams, pose: Pose2D, fps: float, options: AnalyzeOptions):
    """Wall frame + lifted skeleton -> `wall.WallReconstruction` (cameras and points in the wall frame)."""
    from reconstruction.wall import reconstruct

    return reconstruct(cams, pose.keypoints, pose.confidence, fps=fps, height_m=options.height_m,
                       keypoints3d=pose.keypoints3d, wall_angle_deg=options.wall_angle_deg)


# ------------------------------------------------------------------------------------------ store
def store_attempt(db_path: str | Path, computed: ComputedAttempt) -> AnalyzeResult:
    """Write a computed attempt in one transaction (`moves.ingest.ingest_attempt`): attempt, skeleton,
    cameras, wall points, 2D detections and the computed moves (detected again only if the active move model
    changed while the attempt was computed). When the same analysis was stored meanwhile (another process,
    or a duplicate task) that one is returned and nothing is written."""
    from db import store
    from db.connection import connect
    from moves.ingest import ingest_attempt

    plan, options, pose, geometry = computed.plan, computed.options, computed.pose, computed.geometry
    info, frames, report = plan.video, plan.frames, computed.report
    record = store.AttemptRecord(
        name=options.name or info.path.stem, climber=options.climber, skeleton=computed.skeleton,
        source_kind="video", source_path=info.path, key=plan.key, params=plan.params, problem=options.problem,
        outcome=options.outcome, grade=options.grade, recorded_at=options.recorded_at,
        climber_height_m=options.height_m,
        video=store.VideoRecord(path=str(info.path), sha256=info.sha256, fps=info.fps, width=info.width,
                                height=info.height, n_frames=info.n_frames, rotation=info.rotation),
        video_start_frame=frames.start, video_frame_step=frames.step,
        cameras=geometry.cameras, wall_points=geometry.wall_points,
        keypoints2d=store.Keypoints2D(keypoints=pose.keypoints, confidence=pose.confidence, body3d=pose.keypoints3d,
                                      boxes=pose.boxes),
        effector_flow=computed.flow,
        camera_model=geometry.camera_model, report=report,
    )
    detected = None if computed.moves is None else (computed.moves, computed.model_version)
    with connect(db_path) as con:
        done = _existing(con, plan.key)  # another process finished the same analysis meanwhile
        if done is not None:
            return done
        # the name is chosen again now: another analysis may have taken it while this one ran
        record = dataclasses.replace(record, name=_attempt_name(con, options.name, info.path.stem, plan.key))
        stored = ingest_attempt(con, record, detect=computed.moves is not None, detected=detected,
                                extras=computed.detection_extras)
    return AnalyzeResult(
        attempt_id=stored.attempt_id, name=record.name, created=True, n_frames=frames.count, fps=frames.fps,
        frames_detected=int(pose.detected.sum()), frames_with_skeleton=int(report["frames_with_skeleton"]),
        registered=int(report["registered"]), camera_model=geometry.camera_model, n_moves=stored.n_moves,
        model_version=stored.model_version, report=report,
    )
