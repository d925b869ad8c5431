"""A populated store for demos, tests and benchmarks, built from synthetic climbing attempts.

The climber comes from `moves.synthetic.generate_attempt` (scripted reaches, cross-overs, matches, foot moves,
flags, rock-overs, dynos on a vertical or overhanging wall, in the wall frame) with a light reconstruction
noise; the moves stored are what the rule model finds in that skeleton (`moves.ingest.ingest_attempt`,
real inference on synthetic input). Attempts get per-frame cameras (a camera panning with the climber) and,
for some, a rendered video of the clean climber (wall, holds, a filled-in body, wristband marks exactly on the
wrist joints), so the dashboard's overlay can be checked against the pixels.

    from dashboard.demo_data import build_demo_db
    demo = build_demo_db("demo.duckdb", "demo_media")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from cruxlab.draw import project
from cruxlab.joints import (
    BONES, JOINT_INDEX, L_ANKLE, L_ELBOW, L_HEEL, L_HIP, L_KNEE, L_SHOULDER, L_TOE, L_WRIST, NOSE, R_ANKLE, R_ELBOW,
    R_HEEL, R_HIP, R_KNEE, R_SHOULDER, R_TOE, R_WRIST,
)
from cruxlab.labels import Move
from cruxlab.skeleton import Skeleton, file_sha256

#: model_version of moves copied from the generator's script (the benchmark's bulk store), not detected.
TRUTH_VERSION = "synthetic-truth"
DEMO_CLIMBERS: tuple[str, ...] = ("Janja", "Alex", "Mia")
#: (name, wall, grade, overhang angle in degrees)
DEMO_PROBLEMS: tuple[tuple[str, str, str, float], ...] = (
    ("Blue crimps", "vertical wall", "V3", 0.0),
    ("Pink roof traverse", "30° board", "V5", 30.0),
)


def demo_noise():
    """Light reconstruction noise: 4 mm jitter and rare short dropouts, no scale or wall-normal error, so
    a video rendered from the clean climber still lines up with the stored skeleton to a pixel or two."""
    from moves.synthetic import NoiseProfile

    return NoiseProfile("demo", jitter_m=0.004, dropouts_per_10s=0.3, dropout_s=(0.1, 0.2))


def synth_attempt(n_frames: int, fps: float = 25.0, *, seed: int = 0, wall_angle_deg: float = 0.0):
    """A moves.synthetic attempt of n_frames (every rule label when it is long enough to hold them all)."""
    from moves.synthetic import generate_attempt

    return generate_attempt(seed, demo_noise(), duration_s=n_frames / fps, fps=fps, wall_angle_deg=wall_angle_deg,
                            require_all_labels=n_frames / fps >= 40)


def resample_moves(moves: Sequence[Move], start: int, step: int, n_frames: int) -> list[Move]:
    """Map move intervals from full-rate frames to attempt frames (attempt frame i = start + i * step)."""
    out = []
    for m in moves:
        s = max(0, -(-(m.start_frame - start) // step))
        e = min(n_frames - 1, (m.end_frame - start) // step)
        if e >= s:
            out.append(Move(s, e, m.label, m.limb, m.confidence))
    return out


def subsample(skeleton: Skeleton, start: int, step: int, n_frames: int) -> Skeleton:
    """Frames start, start + step, ... (n_frames of them) of a skeleton, at fps / step."""
    sel = slice(start, start + step * n_frames, step)
    return Skeleton(keypoints=skeleton.keypoints[sel], fps=skeleton.fps / step, confidence=skeleton.confidence[sel],
                    wall_normal=skeleton.wall_normal, wall_point=skeleton.wall_point)


def holds_of(attempt) -> np.ndarray:
    """(N, 3) wall-frame positions where the synthetic climber's wrists and toes held on (5 cm apart at least)."""
    kp = attempt.clean.keypoints
    pts = np.concatenate([kp[attempt.contacts[:, k], j] for k, j in enumerate((L_WRIST, R_WRIST, L_TOE, R_TOE))])
    pts = pts[np.isfinite(pts).all(axis=1)]
    _, first = np.unique(np.round(pts / 0.05), axis=0, return_index=True)
    return pts[np.sort(first)]


# ------------------------------------------------------------------------------------- cameras, video
def follow_cameras(skeleton: Skeleton, width: int, height: int, distance_m: float = 3.0,
                   focal_px: float | None = None):
    """A camera track panning with the climber: translation only, looking straight at the wall (-z).

    Returns a cruxlab.camera.CameraTrack (K (T,3,3) pixels, R (T,3,3), t (T,3) world->camera, OpenCV axes)."""
    from cruxlab.camera import CameraTrack

    T = skeleton.n_frames
    f = focal_px or 1.0 * height
    from moves.features import smooth

    pelvis = np.nanmean(skeleton.keypoints[:, [L_HIP, R_HIP]], axis=1)
    centre = smooth(pelvis, skeleton.fps, 2.0, max_gap=int(skeleton.fps))
    C = np.stack([centre[:, 0], centre[:, 1] + 0.35, centre[:, 2] + distance_m], axis=1)
    R = np.repeat(np.diag([1.0, -1.0, -1.0])[None], T, axis=0)
    t = -np.einsum("tij,tj->ti", R, C)
    K = np.repeat(np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])[None], T, axis=0)
    return CameraTrack(K=K, R=R, t=t, registered=np.ones(T, dtype=bool))


def wall_points_for(holds: np.ndarray, skeleton: Skeleton, seed: int = 0, n_texture: int = 400):
    """Sparse 'reconstructed' wall: the holds (bright colours) plus texture points on the wall plane.
    Returns a db.store.WallPoints (xyz metres, rgb uint8, error pixels)."""
    from cruxlab.camera import WallPoints

    rng = np.random.default_rng(seed)
    kp = skeleton.keypoints
    lo, hi = np.nanmin(kp, axis=(0, 1)), np.nanmax(kp, axis=(0, 1))
    tex = np.stack([rng.uniform(lo[0] - 1.0, hi[0] + 1.0, n_texture), rng.uniform(0.0, hi[1] + 0.6, n_texture),
                    np.zeros(n_texture)], axis=1)
    n = skeleton.normal
    if abs(n[2]) > 1e-6:  # put texture points on the (possibly overhanging) plane through the origin
        tex[:, 2] = -(n[0] * tex[:, 0] + n[1] * tex[:, 1]) / n[2]
    palette = np.array([[230, 60, 60], [60, 120, 230], [250, 200, 40], [60, 180, 90], [230, 90, 200]])
    rgb = np.concatenate([palette[rng.integers(0, len(palette), len(holds))],
                          rng.integers(150, 200, (n_texture, 1)).repeat(3, axis=1)]).astype(np.uint8)
    xyz = np.concatenate([holds, tex]).astype(np.float32)
    return WallPoints(xyz=xyz, rgb=rgb, error=rng.uniform(0.3, 1.5, len(xyz)).astype(np.float32))


_SKIN, _SHIRT, _PANTS = (224, 172, 140), (40, 150, 160), (50, 50, 70)
#: RGB of the marks the rendered video puts exactly on the wrist joints (tests check overlays against them).
WRISTBAND_RGB = (200, 20, 200)


def render_video(path: str | Path, skeleton: Skeleton, cameras, wall_points, width: int, height: int) -> Path:
    """Write an mp4 (OpenCV mp4v) of the climber on the wall as the cameras see it: wall, holds, a filled
    body (limbs as thick strokes, torso polygon, head disc). Frame i shows skeleton frame i."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), skeleton.fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    kp2 = project(skeleton.keypoints.astype(np.float64), cameras.K, cameras.R, cameras.t)
    wp2 = project(wall_points.xyz.astype(np.float64)[None], cameras.K, cameras.R, cameras.t)
    depth = np.einsum("tij,nj->tni", cameras.R, wall_points.xyz.astype(np.float64))[..., 2] + cameras.t[:, None, 2]
    f = cameras.K[:, 0, 0]
    face = {JOINT_INDEX[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")}
    limb_bones = [(a, b) for a, b in BONES if a not in face and b not in face]
    pants = {L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_HEEL, R_HEEL, L_TOE, R_TOE}
    rgb = wall_points.rgb if wall_points.rgb is not None else np.full((len(wall_points.xyz), 3), 180, np.uint8)
    bgr = [tuple(int(x) for x in c[::-1]) for c in rgb]
    is_hold = np.ptp(rgb.astype(int), axis=1) > 20  # holds are colourful, texture grey
    with np.errstate(divide="ignore", invalid="ignore"):
        radius = np.maximum(2, np.nan_to_num(0.045 * f[:, None] / depth)).astype(int)
    visible = np.isfinite(wp2).all(axis=2) & (depth > 0)
    uv = np.nan_to_num(wp2).round().astype(int)
    inside = visible & (uv[..., 0] >= 0) & (uv[..., 0] < width - 1) & (uv[..., 1] >= 0) & (uv[..., 1] < height - 1)
    background = np.empty((height, width, 3), np.uint8)
    background[:] = (150, 180, 196)  # BGR plywood, with panel stripes
    background -= (np.arange(height)[:, None, None] // 40 % 2 * 6).astype(np.uint8)
    for i in range(skeleton.n_frames):
        img = background.copy()
        tex = inside[i] & ~is_hold  # texture: 2 x 2 px specks, set in one go
        for dy in (0, 1):
            for dx in (0, 1):
                img[uv[i, tex, 1] + dy, uv[i, tex, 0] + dx] = rgb[tex][:, ::-1]
        for n in np.flatnonzero(visible[i] & is_hold):
            cv2.circle(img, (int(uv[i, n, 0]), int(uv[i, n, 1])), int(radius[i, n]), bgr[n], -1, cv2.LINE_AA)
        p = kp2[i]
        z_body = float(np.nanmean(depth[i])) if np.isfinite(depth[i]).any() else 4.5
        thick = max(3, int(0.09 * f[i] / z_body))
        torso = p[[L_SHOULDER, R_SHOULDER, R_HIP, L_HIP]]
        if np.isfinite(torso).all():
            cv2.fillConvexPoly(img, torso.round().astype(np.int32), _SHIRT[::-1], cv2.LINE_AA)
        for a, b in limb_bones:
            if np.isfinite(p[[a, b]]).all():
                col = _PANTS if a in pants and b in pants else _SKIN if a in (L_ELBOW, R_ELBOW) else _SHIRT
                cv2.line(img, tuple(p[a].round().astype(int)), tuple(p[b].round().astype(int)), col[::-1], thick,
                         cv2.LINE_AA)
        if np.isfinite(p[NOSE]).all():
            cv2.circle(img, tuple(p[NOSE].round().astype(int)), int(thick * 1.3), _SKIN[::-1], -1, cv2.LINE_AA)
        for j in (L_WRIST, R_WRIST):  # wristbands: small marks exactly at the wrist joints
            if np.isfinite(p[j]).all():
                cv2.circle(img, tuple(p[j].round().astype(int)), max(2, thick // 3), WRISTBAND_RGB[::-1], -1)
        writer.write(img)
    writer.release()
    return path


# -------------------------------------------------------------------------------------------- database
@dataclass(frozen=True)
class DemoDb:
    """What build_demo_db wrote: the database, attempt ids in insertion order, the video files, and per
    attempt the generator's true moves (attempt frames) beside what the rule model stored."""

    db_path: Path
    attempt_ids: list[int]
    video_paths: dict[int, Path]          # attempt_id -> video file
    truth: dict[int, list[Move]]          # attempt_id -> scripted moves
    model_version: str


def build_demo_db(
    db_path: str | Path,
    media_dir: str | Path,
    *,
    climbers: Sequence[str] = DEMO_CLIMBERS,
    problems: Sequence[tuple[str, str, str, float]] = DEMO_PROBLEMS,
    attempts_per_climber: int = 2,
    n_frames: int = 150,
    fps: float = 25.0,
    n_video: int = 2,
    video_size: tuple[int, int] = (360, 480),
    seed: int = 0,
) -> DemoDb:
    """Write a populated store: every climber tries the problems in turn, moves detected by the active move
    model; the first `n_video` attempts have a rendered video (the second of them samples it with
    video_start_frame=3, video_frame_step=2, as `analyze --fps` would)."""
    from db import connect, store, transaction
    from db.store import AttemptRecord
    from moves.ingest import ingest_attempt

    media_dir = Path(media_dir)
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    ids: list[int] = []
    videos: dict[int, Path] = {}
    truth: dict[int, list[Move]] = {}
    version = ""
    base_day = datetime(2026, 10, 1, 18, 0)
    k = 0
    with connect(db_path) as con:
        with transaction(con):
            for name, wall, grade, angle in problems:
                store.upsert_problem(con, name, wall=wall, grade=grade, angle_deg=angle)
        for c_i, climber in enumerate(climbers):
            for a_i in range(attempts_per_climber):
                problem, _, _, angle = problems[(c_i + a_i) % len(problems)]
                with_video = k < n_video
                start, step = (3, 2) if with_video and k == 1 else (0, 1)
                full_frames = start + step * n_frames
                synth = synth_attempt(full_frames, fps * step, seed=seed * 1000 + k, wall_angle_deg=angle)
                skeleton = subsample(synth.skeleton, start, step, n_frames)
                wall = wall_points_for(holds_of(synth), synth.clean, seed=k)
                attempt_name = f"{climber.lower()}-{problem.lower().replace(' ', '-')}-{a_i + 1}"
                if with_video:
                    vpath = media_dir / f"{attempt_name}.mp4"
                    source = _video_source(vpath, synth, wall, slice(start, start + step * n_frames, step),
                                           video_size, k)
                else:
                    source = dict(source_kind="skeleton", source_path=f"synthetic://{attempt_name}",
                                  key=store.ingest_key(f"synthetic-{seed}-{k}", {"demo": k}))
                done = ingest_attempt(con, AttemptRecord(
                    name=attempt_name, climber=climber, skeleton=skeleton, problem=problem,
                    outcome="top" if (k % 3) != 2 else "fall", wall_points=wall,
                    recorded_at=base_day + timedelta(days=k, minutes=7 * a_i),
                    report={"generator": "moves.synthetic", "seed": seed * 1000 + k}, **source,
                ))
                attempt_id, version = done.attempt_id, done.model_version
                ids.append(attempt_id)
                truth[attempt_id] = resample_moves(synth.moves, start, step, n_frames)
                if with_video:
                    videos[attempt_id] = vpath
                k += 1
    return DemoDb(Path(db_path), ids, videos, truth, version)


def _video_source(path: Path, synth, wall, frames: slice, size: tuple[int, int], k: int) -> dict:
    """AttemptRecord fields of a demo attempt filmed on video: `synth` (every frame) rendered to `path` as
    seen by a following camera of `size` (w, h) px over the WallPoints `wall`; the attempt is the video
    frames `frames` (start, stop, step), as `analyze --fps` samples them. `k`: the attempt's number (its
    ingest key)."""
    from cruxlab.camera import CameraTrack
    from db import store
    from db.store import VideoRecord

    w, h = size
    cams = follow_cameras(synth.clean, w, h)
    vpath = render_video(path, synth.clean, cams, wall, w, h)
    sha = file_sha256(vpath)
    return dict(
        video=VideoRecord(str(vpath.resolve()), sha, synth.clean.fps, w, h, len(synth.clean.keypoints)),
        video_start_frame=frames.start, video_frame_step=frames.step,
        cameras=CameraTrack(cams.K[frames], cams.R[frames], cams.t[frames], cams.registered[frames]),
        camera_model="sfm", source_kind="video", source_path=str(vpath.resolve()),
        key=store.ingest_key(sha, {"demo": k}),
    )


def cached_demo_db(cache_root: str | Path, **kwargs) -> DemoDb:
    """build_demo_db into cache_root/demo-<hash of the arguments>/ once; later calls (other test modules, the
    benchmark) reuse it. Copy the .duckdb file before changing it."""
    import pickle

    from cruxlab.digest import params_digest

    key = params_digest(kwargs, 12)
    root = Path(cache_root) / f"demo-{key}"
    done = root / "demo.pickle"
    if not done.exists():
        demo = build_demo_db(root / "demo.duckdb", root / "media", **kwargs)
        done.write_bytes(pickle.dumps(demo))
    return pickle.loads(done.read_bytes())
