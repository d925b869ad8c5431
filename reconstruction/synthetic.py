"""Synthetic views with known truth, for testing the camera, wall-frame and lifting stages.

Two kinds of data:

* `make_view(...) -> SyntheticView`: a wall-frame 3D skeleton sequence of a climber doing a simple route
  (feet and hands move hold to hold, one limb at a time, the pelvis follows, elbows and knees solved by
  two-bone IK), projected through a **handheld** camera (centre drifting ~0.5 m, panning to follow the
  climber, shaking, rolling) or a **tripod** camera (fixed), with Gaussian pixel noise, a few gross outliers
  (as pose detectors produce), random dropouts, limb dropout bursts and missing frames. The climber's body
  proportions are those of `cruxlab.body.SEGMENT_RATIOS` perturbed by up to +-6 % per segment, so the lifting prior
  is close to but not the truth. The view also carries a noisy monocular 3D pose in body-centred camera axes,
  as MediaPipe's world landmarks would give.
* `render_wall_views(...) -> RenderedWall`: RGB images of a textured climbing wall (vertical panel, a kicker
  and the floor mat, with hold-like coloured blobs) seen by a handheld, panning or tripod camera, with a
  moving textured "climber" blob and its mask, for the SfM tests.

Everything is seeded and deterministic; frames are in the wall frame of DESIGN.md (metres, y up, x along the
wall to the right seen from behind the climber, z out of the wall; the climber's left side has smaller x).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cruxlab.body import DEFAULT_HEIGHT_M, HEAD_TEMPLATE, SEGMENT_RATIOS, min_jerk, two_bone_ik
from cruxlab.joints import (
    EFFECTOR_LIMBS, JOINT_INDEX, JOINT_NAMES, L_ANKLE, L_ELBOW, L_HEEL, L_HIP, L_KNEE, L_SHOULDER, L_TOE, L_WRIST,
    NUM_JOINTS, R_ANKLE, R_ELBOW, R_HEEL, R_HIP, R_KNEE, R_SHOULDER, R_TOE, R_WRIST,
)
from reconstruction.geometry import focal_prior, intrinsics, look_at


@dataclass(frozen=True)
class ClimbSequence:
    """A climber's true motion. keypoints: (T, 21, 3) metres, wall frame; contacts: (T, 4) bool, limb on a
    hold and still (order EFFECTOR_LIMBS); holds: (H, 3) metres on the wall surface; wall_normal: (3,) unit;
    fps; height_m: the climber's standing height."""

    keypoints: np.ndarray
    contacts: np.ndarray
    holds: np.ndarray
    wall_normal: np.ndarray
    fps: float
    height_m: float


@dataclass(frozen=True)
class SyntheticView:
    """A climbing sequence seen by one camera, with truth.

    truth:           the ClimbSequence (wall frame).
    keypoints2d:     (T, 21, 2) float32 observed pixels (noise, outliers), NaN = dropped.
    confidence:      (T, 21) float32 in [0, 1], 0 where NaN.
    keypoints2d_clean: (T, 21, 2) exact projections.
    keypoints3d_mono:  (T, 21, 3) noisy monocular 3D, metres, origin mid-hip, camera axes (x right, y down,
                     z forward), NaN where the 2D joint is dropped.
    K:               (3, 3) pixels; R (T, 3, 3), t (T, 3): world (wall frame) -> camera.
    image_size:      (w, h) pixels.
    kind:            'handheld' | 'tripod'.
    """

    truth: ClimbSequence
    keypoints2d: np.ndarray
    confidence: np.ndarray
    keypoints2d_clean: np.ndarray
    keypoints3d_mono: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]
    kind: str
    noise_px: float
    report: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.truth.fps

    def save(self, path: str | Path, *, with_wall: bool = True, with_height: bool = True) -> Path:
        """Write a VIEW.npz as `cruxlab lift` reads it (see reconstruction.lift.load_view)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = dict(
            keypoints2d=self.keypoints2d.astype(np.float32), joint_names=np.array(JOINT_NAMES),
            confidence=self.confidence.astype(np.float32), K=self.K, R=self.R, t=self.t,
            image_size=np.array(self.image_size, dtype=np.int64), fps=np.float64(self.fps),
        )
        if with_wall:
            payload["wall_normal"] = self.truth.wall_normal
            payload["wall_point"] = np.zeros(3)
        if with_height:
            payload["climber_height_m"] = np.float64(self.truth.height_m)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **payload)
        return path


# ------------------------------------------------------------------------------------------------- the climber
def _smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma_frames, axis=0, mode="nearest") if sigma_frames > 0 else x


@dataclass(frozen=True)
class _WallAxes:
    """A planar wall through the origin: n out of it, ev up along it, ex along it to the right (unit vectors)."""

    n: np.ndarray
    ev: np.ndarray
    ex: np.ndarray

    @classmethod
    def at_angle(cls, wall_angle_deg: float) -> "_WallAxes":
        a = np.radians(wall_angle_deg)
        return cls(np.array([0.0, -np.sin(a), np.cos(a)]), np.array([0.0, np.cos(a), np.sin(a)]),
                   np.array([1.0, 0.0, 0.0]))

    def point(self, u, v) -> np.ndarray:
        """Wall coordinates (u along, v up; metres) -> world points (..., 3)."""
        return np.asarray(u)[..., None] * self.ex + np.asarray(v)[..., None] * self.ev


def climbing_sequence(n_frames: int = 200, fps: float = 25.0, height_m: float = DEFAULT_HEIGHT_M, *,
                      wall_angle_deg: float = 0.0, seed: int = 0) -> ClimbSequence:
    """A climber moving up a route one limb at a time (foot, hand, foot, hand ...).

    Holds are random but reachable; each move is a pause of 0.2-0.5 s then a 0.5-0.9 s min-jerk travel that
    arcs 10-15 cm away from the wall. The wall is the plane through the origin with angle `wall_angle_deg`
    past vertical (overhang > 0: z = y tan a)."""
    rng = np.random.default_rng(seed)
    wall = _WallAxes.at_angle(wall_angle_deg)
    # Segment lengths: template ratios, each perturbed by up to +-6 % (left and right alike).
    seg = {k: v * height_m * (1 + rng.uniform(-0.06, 0.06)) for k, v in SEGMENT_RATIOS.items()}
    timeline, holds = _route(rng, n_frames, fps)
    eff, contacts = _effector_paths(rng, timeline, holds, n_frames, wall, seg)
    pelvis = _pelvis(eff, seg, wall, fps)
    kp = _skeleton(rng, pelvis, eff, seg, wall, fps, height_m)
    return ClimbSequence(keypoints=kp, contacts=contacts, holds=wall.point(*np.asarray(holds).T),
                         wall_normal=wall.n, fps=float(fps), height_m=float(height_m))


_Move = tuple[str, tuple[float, float], tuple[float, float], int, int]   # limb, from (u, v), to, frames [f0, f1)


def _route(rng: np.random.Generator, n_frames: int, fps: float) -> tuple[list[_Move], list[tuple[float, float]]]:
    """The limbs' moves in the order RF, RH, LF, LH, ... and every hold (the four start holds first)."""
    pos = {"left_hand": (-0.22, 1.78), "right_hand": (0.22, 1.72), "left_foot": (-0.18, 0.42),
           "right_foot": (0.2, 0.45)}
    timeline: list[_Move] = []
    holds = [pos[k] for k in EFFECTOR_LIMBS]
    frame = int(rng.integers(int(0.3 * fps), int(0.6 * fps)))
    order = ("right_foot", "right_hand", "left_foot", "left_hand")
    k = 0
    while frame < n_frames:
        limb = order[k % 4]
        k += 1
        u0, v0 = pos[limb]
        side = -1 if limb.startswith("left") else 1
        if limb.endswith("hand"):
            feet_v = max(pos["left_foot"][1], pos["right_foot"][1])
            v1 = float(np.clip(v0 + rng.uniform(0.2, 0.4), feet_v + 1.15, feet_v + 1.5))
            u1 = side * rng.uniform(0.12, 0.38) + 0.5 * (pos["left_foot"][0] + pos["right_foot"][0]) * 0.5
        else:
            hands_v = min(pos["left_hand"][1], pos["right_hand"][1])
            v1 = float(np.clip(v0 + rng.uniform(0.15, 0.4), hands_v - 1.45, hands_v - 0.95))
            u1 = side * rng.uniform(0.12, 0.32)
        travel = int(rng.uniform(0.5, 0.9) * fps)
        timeline.append((limb, (u0, v0), (u1, v1), frame, frame + travel))
        pos[limb] = (u1, v1)
        holds.append((u1, v1))
        frame += travel + int(rng.uniform(0.2, 0.5) * fps)
    return timeline, holds


def _effector_paths(rng: np.random.Generator, timeline: list[_Move], holds, n_frames: int, wall: _WallAxes,
                    seg: dict[str, float]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """limb -> (T, 3) wrist / ankle path (min-jerk between holds, arcing off the wall), and the (T, 4) contacts."""
    T = n_frames
    tt = np.arange(T)
    eff = {}
    contacts = np.ones((T, 4), bool)
    for li, limb in enumerate(EFFECTOR_LIMBS):
        uv = np.tile(np.asarray(holds[li], float), (T, 1))
        arc = np.zeros(T)
        for _, p0, p1, f0, f1 in (m for m in timeline if m[0] == limb):
            s = np.clip((tt - f0) / max(f1 - f0, 1), 0, 1)
            m = min_jerk(s)
            during = (tt >= f0)
            uv[during] = np.asarray(p0) + m[during, None] * (np.asarray(p1) - np.asarray(p0))
            moving = (tt >= f0) & (tt < f1)
            arc[moving] = rng.uniform(0.10, 0.15) * np.sin(np.pi * s[moving])
            contacts[moving, li] = False
        eff[limb] = wall.point(uv[:, 0], uv[:, 1]) + arc[:, None] * wall.n
    for limb in ("left_hand", "right_hand"):
        eff[limb] = eff[limb] + 0.05 * wall.n - 0.03 * wall.ev            # wrist sits off the hold surface
    for limb in ("left_foot", "right_foot"):
        eff[limb] = eff[limb] + 0.02 * wall.n - seg["foot"] * _toe_dir(wall)  # ankle behind the toe on the hold
    return eff, contacts


def _toe_dir(wall: _WallAxes) -> np.ndarray:
    return -0.94 * wall.n - 0.34 * wall.ev


def _body_frame(pelvis: np.ndarray, hands: np.ndarray, wall: _WallAxes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 3) up, side (to the climber's right) and facing (toward the wall) of a body leaning to its hands."""
    lean = np.clip(0.5 * ((hands - pelvis) @ wall.ex), -0.3, 0.3)
    up = wall.ev[None] + lean[:, None] * wall.ex[None]
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    side = np.cross(up, wall.n)
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    return up, side, np.cross(up, side)


def _pelvis(eff: dict[str, np.ndarray], seg: dict[str, float], wall: _WallAxes, fps: float) -> np.ndarray:
    """(T, 3) pelvis between the hands and feet, smoothed, then pushed until every limb can reach its target."""
    hands = 0.5 * (eff["left_hand"] + eff["right_hand"])
    feet = 0.5 * (eff["left_foot"] + eff["right_foot"])
    hv, fv = hands @ wall.ev, feet @ wall.ev
    pu = 0.5 * (hands @ wall.ex) + 0.5 * (feet @ wall.ex)
    pv = (0.5 * (fv + seg["thigh"] + seg["shank"] * 0.8)
          + 0.5 * (hv - seg["torso"] - 0.75 * (seg["upper_arm"] + seg["forearm"])))
    pelvis = _smooth(wall.point(pu, pv) + 0.28 * wall.n, 0.2 * fps)
    reach_arm, reach_leg = 0.97 * (seg["upper_arm"] + seg["forearm"]), 0.97 * (seg["thigh"] + seg["shank"])
    for _ in range(30):
        up, side, _ = _body_frame(pelvis, hands, wall)
        sh_mid = pelvis + seg["torso"] * up
        push = np.zeros_like(pelvis)
        for limb, root, reach in (
            ("left_hand", sh_mid - 0.5 * seg["shoulder_width"] * side, reach_arm),
            ("right_hand", sh_mid + 0.5 * seg["shoulder_width"] * side, reach_arm),
            ("left_foot", pelvis - 0.5 * seg["hip_width"] * side, reach_leg),
            ("right_foot", pelvis + 0.5 * seg["hip_width"] * side, reach_leg),
        ):
            d = eff[limb] - root
            dist = np.linalg.norm(d, axis=1, keepdims=True)
            push += np.maximum(dist - reach, 0) * d / dist + np.minimum(dist - 0.45 * reach, 0) * d / dist
        if np.abs(push).max() < 1e-4:
            break
        pelvis = pelvis + 0.6 * push
        pelvis += (0.28 - (pelvis @ wall.n))[:, None] * wall.n   # keep the hips off the wall
    return pelvis


def _skeleton(rng: np.random.Generator, pelvis: np.ndarray, eff: dict[str, np.ndarray], seg: dict[str, float],
              wall: _WallAxes, fps: float, height_m: float) -> np.ndarray:
    """(T, 21, 3) joints around the pelvis and the effector paths: two-bone IK limbs, a head looking around."""
    T = len(pelvis)
    up, side, facing = _body_frame(pelvis, 0.5 * (eff["left_hand"] + eff["right_hand"]), wall)
    kp = np.full((T, NUM_JOINTS, 3), np.nan)
    sh_mid = pelvis + seg["torso"] * up
    kp[:, L_SHOULDER] = sh_mid - 0.5 * seg["shoulder_width"] * side
    kp[:, R_SHOULDER] = sh_mid + 0.5 * seg["shoulder_width"] * side
    kp[:, L_HIP] = pelvis - 0.5 * seg["hip_width"] * side
    kp[:, R_HIP] = pelvis + 0.5 * seg["hip_width"] * side
    n, ev = wall.n, wall.ev
    for sgn, sh, el, wr, limb in ((-1, L_SHOULDER, L_ELBOW, L_WRIST, "left_hand"),
                                  (1, R_SHOULDER, R_ELBOW, R_WRIST, "right_hand")):
        pole = -up + 0.6 * sgn * side + 0.5 * n
        kp[:, el], kp[:, wr] = two_bone_ik(kp[:, sh], eff[limb], seg["upper_arm"], seg["forearm"], pole)
    for sgn, hp, kn, an, he, to, limb in ((-1, L_HIP, L_KNEE, L_ANKLE, L_HEEL, L_TOE, "left_foot"),
                                          (1, R_HIP, R_KNEE, R_ANKLE, R_HEEL, R_TOE, "right_foot")):
        pole = 1.0 * sgn * side + 0.8 * n + 0.3 * up
        kp[:, kn], kp[:, an] = two_bone_ik(kp[:, hp], eff[limb], seg["thigh"], seg["shank"], pole)
        kp[:, to] = kp[:, an] + seg["foot"] * _toe_dir(wall)
        kp[:, he] = kp[:, an] + seg["heel"] * (0.6 * n - 0.8 * ev)
    # Head: template offsets from the shoulder centre, turned by a slowly varying yaw (looking around).
    yaw = _smooth(rng.normal(0, 0.5, T), 0.5 * fps) * 2.0
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    side_h, face_h = c * side + s * facing, c * facing - s * side
    head_scale = height_m * (1 + rng.uniform(-0.06, 0.06))
    for name, (dx, dy, dz) in HEAD_TEMPLATE.items():
        kp[:, JOINT_INDEX[name]] = sh_mid + head_scale * (dx * side_h + dy * up + dz * face_h)
    return kp


# ------------------------------------------------------------------------------------------------- the cameras
def tripod_camera(truth: ClimbSequence, image_size=(1080, 1920), *, distance: float = 4.2, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed camera `distance` m in front of the route, 1.3 m high, aimed at the route's middle.
    Returns K (3, 3), R (T, 3, 3), t (T, 3)."""
    rng = np.random.default_rng(seed)
    T = len(truth.keypoints)
    pel = np.nanmean(truth.keypoints[:, [L_HIP, R_HIP]], axis=(0, 1))
    centre = np.array([pel[0] + rng.uniform(-0.5, 0.5), 1.3, distance])
    target = np.nanmean(truth.keypoints, axis=(0, 1))
    R = np.repeat(look_at(centre, target, roll_rad=np.radians(rng.uniform(-2, 2)))[None], T, axis=0)
    t = -np.einsum("tij,j->ti", R, centre)
    return intrinsics(focal_prior(*image_size), *image_size), R, t


def handheld_camera(truth: ClimbSequence, image_size=(1080, 1920), *, distance: float = 3.8, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A phone held by a person standing `distance` m from the wall: the centre drifts (+-0.25 m sideways,
    +-0.1 m up/down, +-0.2 m in depth), the view pans to follow the climber's hips with a lag, plus hand shake
    (~0.3 deg) and roll (+-3 deg)."""
    rng = np.random.default_rng(seed + 1)
    T = len(truth.keypoints)
    s = np.arange(T) / truth.fps
    ph = rng.uniform(0, 2 * np.pi, 6)
    centre = np.stack([0.3 + 0.25 * np.sin(0.7 * s + ph[0]), 1.45 + 0.1 * np.sin(1.1 * s + ph[1]),
                       distance + 0.2 * np.sin(0.5 * s + ph[2])], axis=1)
    pel = 0.5 * (truth.keypoints[:, L_HIP] + truth.keypoints[:, R_HIP])
    target = _smooth(pel + np.array([0.0, 0.3, 0.0]), 0.6 * truth.fps)
    shake = _smooth(rng.normal(0, 0.02, (T, 3)), 2.0)
    roll = np.radians(3.0) * np.sin(0.4 * s + ph[3]) + shake[:, 2] * 0.2
    R = look_at(centre, target + shake * np.array([1.0, 1.0, 0.0]), roll_rad=roll)
    t = -np.einsum("tij,tj->ti", R, centre)
    return intrinsics(focal_prior(*image_size), *image_size), R, t


def make_view(kind: str = "handheld", *, n_frames: int = 200, fps: float = 25.0, height_m: float = DEFAULT_HEIGHT_M,
              noise_px: float = 4.0, dropout: float = 0.05, outliers: float = 0.01, wall_angle_deg: float = 0.0,
              image_size: tuple[int, int] = (1080, 1920), seed: int = 0) -> SyntheticView:
    """Project a synthetic climb through a 'handheld' or 'tripod' camera and corrupt it like a 2D pose
    detector would (see `observe`)."""
    if kind not in ("handheld", "tripod"):
        raise ValueError(f"kind must be 'handheld' or 'tripod', got {kind!r}")
    truth = climbing_sequence(n_frames, fps, height_m, wall_angle_deg=wall_angle_deg, seed=seed)
    cam = handheld_camera if kind == "handheld" else tripod_camera
    K, R, t = cam(truth, image_size, seed=seed)
    return observe(truth, K, R, t, image_size, kind=kind, noise_px=noise_px, dropout=dropout, outliers=outliers,
                   seed=seed)


def observe(truth: ClimbSequence, K: np.ndarray, R: np.ndarray, t: np.ndarray, image_size: tuple[int, int], *,
            kind: str = "custom", noise_px: float = 4.0, dropout: float = 0.05, outliers: float = 0.01,
            seed: int = 0) -> SyntheticView:
    """The climb seen by cameras K (3, 3), R (T, 3, 3), t (T, 3) and corrupted like a 2D pose detector:
    Gaussian noise of `noise_px` px, a fraction `outliers` of joints off by 30-80 px (with lower confidence),
    a fraction `dropout` of joints missing, two 0.2-0.5 s limb dropouts and two missing frames. Joints
    projecting outside the image are missing too."""
    from cruxlab.draw import project
    from cruxlab.camera import camera_centers

    T = len(truth.keypoints)
    fps = truth.fps
    rng = np.random.default_rng(seed + 7)
    clean = project(truth.keypoints, K, R, t)
    obs = clean + rng.normal(0, noise_px, clean.shape)
    conf = rng.uniform(0.65, 1.0, (T, NUM_JOINTS))
    out = rng.random((T, NUM_JOINTS)) < outliers
    ang = rng.uniform(0, 2 * np.pi, (T, NUM_JOINTS))
    mag = rng.uniform(30, 80, (T, NUM_JOINTS))
    obs[out] += np.stack([np.cos(ang), np.sin(ang)], -1)[out] * mag[out, None]
    conf[out] = rng.uniform(0.3, 0.7, out.sum())
    drop = rng.random((T, NUM_JOINTS)) < dropout
    limbs = ([L_ELBOW, L_WRIST], [R_ELBOW, R_WRIST], [L_KNEE, L_ANKLE, L_HEEL, L_TOE], [R_KNEE, R_ANKLE, R_HEEL, R_TOE])
    for _ in range(2):
        f0 = int(rng.integers(0, max(T - int(0.5 * fps), 1)))
        drop[f0:f0 + int(rng.uniform(0.2, 0.5) * fps), limbs[int(rng.integers(0, 4))]] = True
    drop[rng.choice(T, min(2, T), replace=False)] = True
    w, h = image_size
    outside = ~((obs[..., 0] >= 0) & (obs[..., 0] < w) & (obs[..., 1] >= 0) & (obs[..., 1] < h))
    drop |= outside | ~np.isfinite(obs).all(-1)
    obs[drop] = np.nan
    conf[drop] = 0.0
    # Monocular 3D: body-centred camera axes, scaled a little wrong, noisier in depth.
    cam_pts = np.einsum("tij,tnj->tni", R, truth.keypoints) + t[:, None]
    mono = cam_pts - 0.5 * (cam_pts[:, [L_HIP]] + cam_pts[:, [R_HIP]])
    mono = mono * rng.uniform(0.9, 1.1) + rng.normal(0, 1, mono.shape) * np.array([0.02, 0.02, 0.05])
    mono[drop] = np.nan
    C = camera_centers(R, t)
    report = {"camera_travel_m": float(np.linalg.norm(np.ptp(C, axis=0))),
              "mean_distance_m": float(np.mean(np.linalg.norm(np.nanmean(truth.keypoints, 1) - C, axis=1))),
              "dropped_fraction": float(drop.mean()), "outlier_fraction": float((out & ~drop).mean())}
    return SyntheticView(truth=truth, keypoints2d=obs.astype(np.float32), confidence=conf.astype(np.float32),
                         keypoints2d_clean=clean.astype(np.float32), keypoints3d_mono=mono.astype(np.float32),
                         K=K, R=R, t=t, image_size=(int(w), int(h)), kind=kind, noise_px=float(noise_px),
                         report=report)


# ------------------------------------------------------------------------------------- rendered wall views
@dataclass(frozen=True)
class RenderedWall:
    """Keyframe images of a textured climbing wall with a moving climber blob, and the true cameras.

    images: (N, h, w, 3) uint8 RGB; masks: (N, h, w) bool, True = climber blob; frame_indices: (N,) attempt
    frames of the keyframes in an attempt of n_frames; K: (3, 3) pixels of these images; R (N, 3, 3),
    t (N, 3): wall frame -> camera. The wall is z = 0 (x in [-3, 3], y in [0, 4.5] m), the floor mat y = 0
    (z in [0, 2.5] m). motion: 'handheld' | 'pan' | 'tripod'."""

    images: np.ndarray
    masks: np.ndarray
    frame_indices: np.ndarray
    n_frames: int
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    motion: str

    @property
    def wall_normal(self) -> np.ndarray:
        return np.array([0.0, 0.0, 1.0])


def _noise_texture(rng, h: int, w: int, scales=(2, 6, 20), amp=(10.0, 14.0, 18.0)) -> np.ndarray:
    import cv2

    out = np.zeros((h, w), np.float32)
    for s, a in zip(scales, amp):
        n = rng.normal(0, 1, (h // s + 2, w // s + 2)).astype(np.float32)
        out += a * cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)
    return out


def _wall_texture(rng, px_per_m: float) -> np.ndarray:
    """RGB texture of the wall panel [-3, 3] x [0, 4.5] m: plywood, bolt holes, holds, chalk."""
    import cv2

    w, h = int(6 * px_per_m), int(4.5 * px_per_m)
    tex = np.empty((h, w, 3), np.float32)
    base = _noise_texture(rng, h, w)
    for c, v in enumerate((196, 182, 158)):
        tex[..., c] = v + base
    tex = np.clip(tex, 0, 255).astype(np.uint8)
    m = lambda v: int(round(v * px_per_m))  # noqa: E731
    for gx in np.arange(0.1, 6.0, 0.2):           # T-nut grid
        for gy in np.arange(0.1, 4.5, 0.2):
            cv2.circle(tex, (m(gx), m(gy)), max(m(0.012), 2), (40, 38, 35), -1, cv2.LINE_AA)
    palette = [(230, 60, 50), (40, 170, 70), (240, 200, 40), (60, 90, 220), (240, 120, 200), (30, 30, 30),
               (250, 140, 30), (140, 60, 200)]
    for _ in range(90):
        cx, cy = rng.uniform(0, 6), rng.uniform(0, 4.5)
        ax, ay = rng.uniform(0.03, 0.12, 2)
        col = palette[int(rng.integers(len(palette)))]
        ang = float(rng.uniform(0, 180))
        cv2.ellipse(tex, (m(cx), m(cy)), (m(ax), m(ay)), ang, 0, 360, tuple(int(c * 0.6) for c in col), -1, cv2.LINE_AA)
        cv2.ellipse(tex, (m(cx), m(cy)), (max(m(ax) - 3, 1), max(m(ay) - 3, 1)), ang, 0, 360, col, -1, cv2.LINE_AA)
        for _ in range(3):                        # texture on the hold (grain, chalk)
            ox, oy = rng.uniform(-0.5, 0.5, 2) * np.array([ax, ay])
            cv2.circle(tex, (m(cx + ox), m(cy + oy)), max(m(0.008), 1), (235, 235, 230), -1, cv2.LINE_AA)
    return np.ascontiguousarray(tex[::-1])        # row 0 = top of the wall (y = 4.5)


def _floor_texture(rng, px_per_m: float) -> np.ndarray:
    import cv2

    w, h = int(6 * px_per_m), int(2.5 * px_per_m)
    base = _noise_texture(rng, h, w, amp=(8.0, 12.0, 10.0))
    tex = np.clip(np.stack([45 + base, 65 + base, 150 + base], -1), 0, 255).astype(np.uint8)
    for _ in range(120):                          # chalk marks and scuffs
        cv2.circle(tex, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(2, 9)),
                   (200, 205, 215), -1, cv2.LINE_AA)
    for x in range(0, w, int(px_per_m)):
        cv2.line(tex, (x, 0), (x, h), (25, 35, 90), 3)
    return tex


def _plane_homography(K, R, t, origin, u_axis, v_axis, px_per_m) -> np.ndarray:
    """Homography from texture pixels (col, row) of a plane X = origin + col/ppm * u + row/ppm * v."""
    A = np.column_stack([R @ u_axis / px_per_m, R @ v_axis / px_per_m, R @ origin + t])
    return K @ A


def render_wall_views(n_views: int = 10, motion: str = "handheld", *, image_size: tuple[int, int] = (360, 480),
                      n_frames: int = 250, seed: int = 0) -> RenderedWall:
    """Render `n_views` keyframes of the synthetic wall (see RenderedWall) seen by a moving phone.

    'handheld': the centre walks ~1 m sideways 3.6-4.2 m from the wall while aiming at the climber;
    'pan': a fixed centre turning +-15 deg to follow the climber; 'tripod': nothing moves but the climber.
    Each view is rendered at twice the size and downsampled (anti-aliasing) like a real camera."""
    import cv2

    if motion not in ("handheld", "pan", "tripod"):
        raise ValueError(f"motion must be handheld, pan or tripod, got {motion!r}")
    rng = np.random.default_rng(seed)
    w, h = image_size
    ppm = 200.0
    wall_tex, floor_tex = _wall_texture(rng, ppm), _floor_texture(rng, ppm)
    K = intrinsics(focal_prior(w, h), w, h)
    s = np.linspace(0, 1, n_views)
    climber = np.stack([-0.6 + 1.2 * s + rng.normal(0, 0.05, n_views), 1.0 + 1.6 * s, np.full(n_views, 0.3)], 1)
    if motion == "handheld":
        centre = np.stack([-0.5 + 1.0 * s + rng.normal(0, 0.05, n_views),
                           1.4 + 0.1 * np.sin(5 * s) + rng.normal(0, 0.03, n_views),
                           3.9 + 0.3 * np.sin(3 * s + 1)], 1)
        target = climber + np.array([0.0, 0.3, -0.3]) + rng.normal(0, 0.05, (n_views, 3))
    elif motion == "pan":
        centre = np.tile([0.3, 1.4, 4.0], (n_views, 1))
        target = climber + np.array([0.0, 0.3, -0.3]) + rng.normal(0, 0.05, (n_views, 3))
    else:
        centre = np.tile([0.3, 1.4, 4.0], (n_views, 1))
        target = np.tile([0.0, 1.9, 0.0], (n_views, 1))
    roll = np.radians(rng.normal(0, 2.0, n_views)) if motion != "tripod" else np.zeros(n_views)
    R = look_at(centre, target, roll_rad=roll)
    t = -np.einsum("nij,nj->ni", R, centre)

    S = 2                                                   # supersampling
    Ks = K.copy()
    Ks[:2] *= S
    body_tex = np.clip(128 + _noise_texture(rng, 64, 64, scales=(1, 3), amp=(60.0, 40.0))[..., None]
                       * np.array([1.0, 0.7, 0.5]), 0, 255).astype(np.uint8)
    images, masks = [], []
    for k in range(n_views):
        canvas = np.zeros((h * S, w * S, 3), np.uint8)
        for tex, origin, u, v in ((floor_tex, np.array([-3.0, 0.0, 2.5]), np.array([1.0, 0, 0]), np.array([0, 0, -1.0])),
                                  (wall_tex, np.array([-3.0, 4.5, 0.0]), np.array([1.0, 0, 0]), np.array([0, -1.0, 0]))):
            Hm = _plane_homography(Ks, R[k], t[k], origin, u, v, ppm)
            warped = cv2.warpPerspective(tex, Hm, (w * S, h * S), flags=cv2.INTER_LINEAR)
            cover = cv2.warpPerspective(np.full(tex.shape[:2], 255, np.uint8), Hm, (w * S, h * S)) > 127
            canvas[cover] = warped[cover]
        # The climber: torso ellipse and four limbs, textured, in front of the wall.
        from cruxlab.draw import project

        pts = climber[k] + np.array([[0, 0, 0], [-0.35, 0.55, -0.25], [0.35, 0.6, -0.25],
                                     [-0.25, -0.75, -0.2], [0.3, -0.7, -0.2]])
        uv = project(pts, Ks, R[k], t[k])
        depth = (R[k] @ climber[k] + t[k])[2]
        px = Ks[0, 0] / depth
        m = np.zeros((h * S, w * S), np.uint8)
        c = tuple(int(v) for v in uv[0])
        cv2.ellipse(m, c, (int(0.17 * px), int(0.32 * px)), 0, 0, 360, 255, -1)
        cv2.circle(m, (c[0], int(c[1] - 0.45 * px)), int(0.11 * px), 255, -1)
        for p in uv[1:]:
            cv2.line(m, c, tuple(int(v) for v in p), 255, max(int(0.09 * px), 2))
        body = cv2.resize(body_tex, (w * S, h * S), interpolation=cv2.INTER_NEAREST)
        body = np.roll(body, (int(rng.integers(0, 50)), int(rng.integers(0, 50))), axis=(0, 1))
        canvas[m > 0] = body[m > 0]
        images.append(cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA))
        masks.append(cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA) > 0)
    frame_indices = np.round(np.linspace(0, n_frames - 1, n_views)).astype(np.int64)
    return RenderedWall(images=np.stack(images), masks=np.stack(masks), frame_indices=frame_indices,
                        n_frames=n_frames, K=K, R=R, t=t, motion=motion)
