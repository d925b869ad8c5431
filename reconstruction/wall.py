"""The wall frame: from the cameras' own world (SfM or rotation-only) to metres with y up and z out of the wall,
and the climber's skeleton lifted into it.

    rec = reconstruct(cameras, pose.keypoints, pose.confidence, fps=25, height_m=1.70,
                      keypoints3d=pose.keypoints3d)
    rec.keypoints  (T, 21, 3) wall frame;  rec.cameras  (K, R, t per frame) in the wall frame;  rec.report

Wall frame (DESIGN.md): metres, right-handed, **y** up against gravity, **x** horizontal along the wall to
the right seen from behind the climber, **z** horizontal out of the wall toward the viewer; a vertical wall
is z = 0, an overhang of angle a is z = y tan(a). The origin is on the wall plane, x = 0 below the climber's
median hips, y = 0 at floor level (the floor plane when SfM sees it, else the lowest feet less an ankle
height).

How each piece is found, best source first (the report names the one used):

* **Wall plane**: SfM points: sequential RANSAC finds up to three planes (wall panels, floor); the wall is
  the well-supported plane that faces the cameras. Rotation-only footage has no points: the climber is
  lifted without a wall (depth from body size), the hands and feet that hold still are on the holds, and a
  plane is fitted to them (moved back by the wrist/toe offset from the hold surface). Holds along one line
  (a climber going straight up): the plane through that line turned toward the camera; fewer holds still:
  a plane facing the camera through them. These depths rest on the body prior alone: on the real tripod
  clip the contacts scatter ~0.18 m about the plane.
* **Metric scale** (SfM only; rotation-only worlds are metric by the body prior already): a known scale
  (metres per SfM unit, e.g. from a measured hold distance, `scale_from_distance`) or the body prior: the
  climber's torso (shoulder width, hip width, both flanks), whose rays cut the wall plane moved out by the
  torso's distance from the wall, must have the template size at the given height. Median over frames.
* **Gravity (up)**: a given wall angle; else the floor plane's normal when SfM found a floor; else the
  climber standing at the start (straight legs, feet at the lowest level: ankle-hip-shoulder line is
  vertical); else a vertical wall. The horizontal wall direction comes from the floor/wall intersection or
  the cameras' mean x axis (phones are held level).

Failure modes: a scene with two big planes facing the camera (e.g. a volume) may pick the wrong one; a
steep wall filmed without the floor and without a standing start is assumed vertical unless its angle is
given (the real warp-dynamic clip, a roof filmed by a panning phone, ends up in a camera-facing, vertical
"wall frame"); rotation-only footage without a monocular 3D cue tilts the contact plane badly (22 deg on a
synthetic pan, 1 deg with it); a wrong height scales everything (use `--height-m`); a climber who never holds still on
rotation-only footage leaves the wall plane guessed (facing the camera).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from cruxlab.body import DEFAULT_HEIGHT_M
from cruxlab.camera import CameraTrack, WallPoints, pixel_rays
from cruxlab.errors import InputError
from cruxlab.joints import (
    L_ANKLE, L_HIP, L_KNEE, L_SHOULDER, L_TOE, L_WRIST, NUM_JOINTS, R_ANKLE, R_HIP, R_KNEE, R_SHOULDER, R_TOE,
    R_WRIST,
)
from reconstruction.geometry import PlaneFit, Similarity, fit_plane_ransac
from reconstruction.lift import LiftOptions, bone_prior, lift
from reconstruction.sfm import CameraSolution

log = logging.getLogger(__name__)

#: Distance of the torso keypoints from the wall while climbing (metres), for the scale estimate.
TORSO_WALL_OFFSET_M = 0.28


@dataclass(frozen=True)
class WallFrame:
    """The similarity from the cameras' world to the wall frame, and the wall plane in the wall frame.

    transform: X_wall = transform.apply(X_world); wall_normal / wall_point: (3,) plane in the wall frame
    (normal out of the wall toward the viewer); report: sources and numbers of every estimate."""

    transform: Similarity
    wall_normal: np.ndarray
    wall_point: np.ndarray
    report: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WallReconstruction:
    """Cameras, wall points and the climber's skeleton, all in the wall frame (metres).

    keypoints: (T, 21, 3) float32, NaN = missing; confidence: (T, 21) float32; contacts: (T, 4) bool
    (left_hand, right_hand, left_foot, right_foot holding still);
    cameras: the T cameras, wall frame -> camera (full-size pixels);
    wall_points: (N, 3) float32 wall points with rgb (N, 3) uint8 and error (N,) float32 reprojection px;
    wall_normal, wall_point: (3,) the wall plane; camera_model: 'sfm' | 'rotation-only'; report: numbers.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    contacts: np.ndarray
    cameras: CameraTrack
    wall_points: WallPoints
    wall_normal: np.ndarray
    wall_point: np.ndarray
    camera_model: str
    report: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------- planes
def find_planes(points: np.ndarray, threshold: float, *, max_planes: int = 3, min_fraction: float = 0.04,
                seed: int = 0) -> list[PlaneFit]:
    """Up to `max_planes` planes by sequential RANSAC, each with at least `min_fraction` of the points."""
    planes: list[PlaneFit] = []
    used = np.zeros(len(points), bool)
    for k in range(max_planes):
        fit = fit_plane_ransac(points, threshold, exclude=used, min_inliers=max(int(min_fraction * len(points)), 10),
                               seed=seed + k)
        if fit is None:
            break
        planes.append(fit)
        used |= fit.inliers
    return planes


def choose_wall(planes: list[PlaneFit], centers: np.ndarray, view_dirs: np.ndarray) -> tuple[PlaneFit, PlaneFit | None]:
    """The wall: among planes with at least a third of the largest one's support, the one facing the
    cameras' mean viewing direction; normal oriented toward the cameras. Also returns a floor candidate:
    a plane roughly perpendicular to the wall (> 60 deg) that lies below the cameras' view... or None."""
    biggest = max(p.inliers.sum() for p in planes)
    view = view_dirs.mean(0)
    view /= np.linalg.norm(view)
    cands = [p for p in planes if p.inliers.sum() >= biggest / 3]
    wall = max(cands, key=lambda p: abs(p.normal @ view))
    wall = _orient(wall, centers.mean(0))
    floor = None
    for p in planes:
        if p is wall:
            continue
        if abs(p.normal @ wall.normal) < np.cos(np.radians(60)):
            floor = _orient(p, centers.mean(0))
            break
    return wall, floor


def _orient(p: PlaneFit, toward: np.ndarray) -> PlaneFit:
    n = p.normal if p.normal @ (toward - p.point) > 0 else -p.normal
    return PlaneFit(normal=n, point=p.point, inliers=p.inliers, rms=p.rms)


# -------------------------------------------------------------------------------------------------- scale
def scale_from_body(cams: CameraSolution, normal: np.ndarray, point: np.ndarray, keypoints2d: np.ndarray,
                    confidence: np.ndarray, height_m: float, *, min_confidence: float = 0.5) -> tuple[float, dict]:
    """Metres per world unit from the climber's torso size on the wall plane (see the module docstring).

    Returns (scale, report with the number of measurements and their relative spread)."""
    pairs, lengths, _ = bone_prior(height_m)
    torso = [i for i, (a, b) in enumerate(pairs.tolist())
             if {a, b} in ({L_SHOULDER, R_SHOULDER}, {L_HIP, R_HIP}, {L_SHOULDER, L_HIP}, {R_SHOULDER, R_HIP})]
    a, b = pairs[torso, 0], pairs[torso, 1]
    ok = (confidence[:, a] >= min_confidence) & (confidence[:, b] >= min_confidence)
    if ok.sum() < 5:
        raise InputError("the climber's torso is visible in fewer than 5 frames, so the metric scale cannot be "
                         "taken from the body; film the whole climber or give a known distance")
    C = cams.centers()
    rays = pixel_rays(keypoints2d, cams.K, cams.R)
    scale = 1.0 / np.median(np.linalg.norm(C - point, axis=1)) * 4.0      # first guess: wall ~4 m away
    for _ in range(4):
        p_off = point + normal * (TORSO_WALL_OFFSET_M / scale)
        lam = ((p_off - C) @ normal)[:, None] / (rays @ normal)
        X = C[:, None] + lam[..., None] * rays
        seg = np.linalg.norm(X[:, a] - X[:, b], axis=-1)
        ratio = np.where(ok & (lam[:, a] > 0) & (lam[:, b] > 0), lengths[torso] / seg, np.nan)
        scale = float(np.nanmedian(ratio))
    q1, q3 = np.nanpercentile(ratio, [25, 75])
    return scale, {"measurements": int(np.isfinite(ratio).sum()), "relative_spread": float((q3 - q1) / scale)}


def scale_from_distance(cams: CameraSolution, normal: np.ndarray, point: np.ndarray, frame: int,
                        uv_a: tuple[float, float], uv_b: tuple[float, float], distance_m: float) -> float:
    """Metres per world unit from two pixels on the wall (e.g. two holds) `distance_m` apart in one frame."""
    rays = pixel_rays(np.array([[uv_a, uv_b]], float), cams.K, cams.R[frame:frame + 1])[0]
    C = cams.centers()[frame]
    lam = ((point - C) @ normal) / (rays @ normal)
    if not (np.isfinite(lam).all() and (lam > 0).all()):
        raise InputError("the two marked pixels do not look at the wall plane; mark two points on the wall")
    d = np.linalg.norm(lam[0] * rays[0] - lam[1] * rays[1])
    return float(distance_m / d)


# ------------------------------------------------------------------------------------------------ gravity
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _frame_rotation(up: np.ndarray, wall_normal: np.ndarray) -> np.ndarray:
    """Rows x, y, z of the wall frame in world coordinates: y = up, x = up x n (horizontal, along the wall),
    z = x x y (horizontal, out of the wall)."""
    x = _unit(np.cross(up, wall_normal))
    y = _unit(up - (up @ x) * x)
    return np.stack([x, y, np.cross(x, y)])


def up_from_standing(keypoints: np.ndarray, up_guess: np.ndarray, horizontal: np.ndarray,
                     *, min_frames: int = 5) -> tuple[np.ndarray | None, dict]:
    """Gravity from frames where the climber stands: feet at their lowest level (within 10 cm, measured
    along `up_guess`), knees straight (> 160 deg); the ankle-centre -> shoulder-centre line is then vertical.
    Only the tilt about the horizontal wall direction is taken (the direction is forced perpendicular to
    `horizontal`). Returns (up or None, report)."""
    kp = keypoints
    ank = 0.5 * (kp[:, L_ANKLE] + kp[:, R_ANKLE])
    sh = 0.5 * (kp[:, L_SHOULDER] + kp[:, R_SHOULDER])
    h_ank = np.maximum(kp[:, L_ANKLE] @ up_guess, kp[:, R_ANKLE] @ up_guess)
    low = np.nanpercentile(h_ank, 3) if np.isfinite(h_ank).any() else np.nan

    def knee_angle(hip, knee, ankle):
        u, v = kp[:, hip] - kp[:, knee], kp[:, ankle] - kp[:, knee]
        c = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        return np.degrees(np.arccos(np.clip(c, -1, 1)))

    straight = (knee_angle(L_HIP, L_KNEE, L_ANKLE) > 160) & (knee_angle(R_HIP, R_KNEE, R_ANKLE) > 160)
    standing = straight & (h_ank < low + 0.10) & np.isfinite(sh).all(-1) & np.isfinite(ank).all(-1)
    n = int(standing.sum())
    if n < min_frames:
        return None, {"standing_frames": n}
    v = sh[standing] - ank[standing]
    v = v - (v @ horizontal)[:, None] * horizontal
    v = np.median(v / np.linalg.norm(v, axis=1, keepdims=True), axis=0)
    up = _unit(v)
    if up @ up_guess < np.cos(np.radians(50)):
        return None, {"standing_frames": n, "rejected_tilt_deg": float(np.degrees(np.arccos(up @ up_guess)))}
    return up, {"standing_frames": n}


# ------------------------------------------------------------------------------------------ wall frame
def _camera_axes(cams: CameraSolution) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean camera x (image right) and up (image up) axes in the world, and viewing directions (N, 3), over
    the solved keyframes."""
    R = cams.R[cams.registered] if cams.registered.any() else cams.R
    return _unit(R[:, 0].mean(0)), _unit(-R[:, 1].mean(0)), R[:, 2]


def _gravity(wall_n: np.ndarray, cams: CameraSolution, floor: PlaneFit | None, wall_angle_deg: float | None
             ) -> tuple[np.ndarray, np.ndarray, str]:
    """(up, horizontal along the wall, source) in the world frame, before any standing-frame refinement."""
    cam_x, cam_up, _ = _camera_axes(cams)
    if floor is not None and wall_angle_deg is None:
        up = floor.normal
        return up, _unit(np.cross(up, wall_n)), "floor plane"
    horiz = _unit(cam_x - (cam_x @ wall_n) * wall_n)                      # along the wall, level
    w_up = _unit(np.cross(wall_n, horiz))                                 # up the wall surface
    if w_up @ cam_up < 0:
        w_up, horiz = -w_up, -horiz
    a = np.radians(wall_angle_deg or 0.0)
    up = np.cos(a) * w_up - np.sin(a) * wall_n                            # overhang a > 0 leans over the viewer
    return up, horiz, "given wall angle" if wall_angle_deg is not None else "vertical wall assumed"


def estimate_wall_frame(cams: CameraSolution, keypoints2d: np.ndarray, confidence: np.ndarray, *,
                        height_m: float = DEFAULT_HEIGHT_M, wall_angle_deg: float | None = None,
                        known_scale: float | None = None, fps: float = 25.0,
                        keypoints3d: np.ndarray | None = None) -> WallFrame:
    """The similarity world -> wall frame (origin still at the wall point nearest the cameras' gaze; see
    `reconstruct` for the final origin) and the wall plane in the wall frame."""
    report: dict = {}
    centers = cams.centers()
    if cams.model == "sfm" and len(cams.points3d) >= 30:
        depth = np.median(np.linalg.norm(cams.points3d[:, None] - centers[cams.registered][None], axis=-1))
        planes = find_planes(cams.points3d, threshold=0.012 * depth)
        if not planes:
            raise InputError("no plane found among the SfM points; the wall could not be located")
        _, _, view = _camera_axes(cams)
        wall, floor = choose_wall(planes, centers[cams.registered], view)
        n, p0 = wall.normal, wall.point
        if known_scale is not None:
            scale, srep = float(known_scale), {"source": "given"}
        else:
            scale, srep = scale_from_body(cams, n, p0, keypoints2d, confidence, height_m)
            srep["source"] = f"body prior (height {height_m:.2f} m)"
        report.update({"plane_source": "sfm points", "planes_found": len(planes),
                       "plane_inliers": int(wall.inliers.sum()), "plane_residual_m": wall.rms * scale,
                       "floor_found": floor is not None, "scale": {"metres_per_unit": scale, **srep}})
    else:
        # Rotation-only: world units are metres by the body prior; the wall comes from the contacts.
        scale, floor = 1.0, None
        n, p0, prep = _plane_from_contacts(cams, keypoints2d, confidence, fps, height_m, keypoints3d)
        report.update({"plane_source": "contacts", **prep, "scale": {"metres_per_unit": 1.0,
                                                                     "source": f"body prior (height {height_m:.2f} m)"}})
    up, _, up_source = _gravity(n, cams, floor, wall_angle_deg)
    Q = _frame_rotation(up, n)
    sim = Similarity(scale, Q, -scale * (Q @ p0))
    wall_normal = Q @ n
    report["up_source"] = up_source
    if floor is not None:
        report["floor_y_m"] = float(sim.apply(floor.point)[1])
    report["wall_angle_deg"] = float(np.degrees(np.arcsin(np.clip(-wall_normal[1], -1, 1))))
    return WallFrame(transform=sim, wall_normal=wall_normal, wall_point=np.zeros(3), report=report)


#: Contact joints of each limb used for the rotation-only wall plane, with their offset from the wall (m):
#: the first joint found in the contact frames is used.
_PLANE_CONTACTS = (((L_WRIST, 0.07),), ((R_WRIST, 0.07),), ((L_TOE, 0.04), (L_ANKLE, 0.13)),
                   ((R_TOE, 0.04), (R_ANKLE, 0.13)))


#: The wall-plane lift (rotation-only footage) stops after 8 Levenberg-Marquardt iterations per stage instead
#: of 12: its joints only give the still hands and feet that a plane is fitted through (RANSAC at 8 cm; they
#: scatter 0.15-0.3 m about it on the real clips). Against 12: the plane turns 0.27 deg (tripod clip) / 0.07
#: deg (roof clip), the wall normal's error on 32 synthetic rotation-only climbs stays 1.57 deg, the moves on
#: both clips stay, and the lift costs ~0.4 (tripod) / ~0.2 (roof) CPU-s less. At 6 the roof clip's plane
#: turns 5 deg. The plane of footage whose contacts barely span a plane stays fragile either way: on the
#: mirrored roof clip (benchmarks/bench_robustness) RANSAC keeps another consensus at 8 than at 12, and the
#: plane goes through the line of the contacts instead (README, Robustness).
PLANE_LIFT = LiftOptions(max_iterations=8)


def _plane_from_contacts(cams: CameraSolution, keypoints2d, confidence, fps, height_m, keypoints3d
                         ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Wall plane (normal, point) of a rotation-only solution: lift without a wall (depth from body size;
    `PLANE_LIFT`), fit a plane to the hands and feet while they hold still, moved back by their offset from
    the wall."""
    res = lift(keypoints2d, confidence, cams.K, cams.R, cams.t, fps=fps, height_m=height_m,
               keypoints3d=keypoints3d, image_size=cams.image_size, options=PLANE_LIFT)
    X, c = res.keypoints, res.contacts
    pts, offs = [], []
    for li, joints in enumerate(_PLANE_CONTACTS):
        for j, off in joints:
            P = X[c[:, li], j]
            P = P[np.isfinite(P).all(1)]
            if len(P):
                pts.append(P)
                offs.append(np.full(len(P), off))
                break
    P = np.concatenate(pts) if pts else np.zeros((0, 3))
    off = np.concatenate(offs) if offs else np.zeros(0)
    view = _unit(_camera_axes(cams)[2].mean(0))
    rep: dict = {"contact_points": int(len(P)), "first_lift": res.report}
    fit = fit_plane_ransac(P, 0.08, min_inliers=max(10, len(P) // 4)) if len(P) >= 10 else None
    if fit is not None:
        inl = P[fit.inliers]
        spread = np.linalg.svd(inl - inl.mean(0), compute_uv=False)[1] / np.sqrt(len(inl))   # std, 2nd axis
        facing = abs(fit.normal @ view)
        rep.update({"contact_spread_m": float(spread), "contact_plane_facing": float(facing)})
        if spread < 0.12 or facing < np.cos(np.radians(65)):
            fit = None
    if fit is not None:
        n = fit.normal if fit.normal @ view < 0 else -fit.normal          # out of the wall: toward the camera
        p0 = fit.point - n * float(np.mean(off[fit.inliers]))
        rep.update({"plane_fit": "ransac on contacts", "plane_residual_m": fit.rms,
                    "plane_inliers": int(fit.inliers.sum())})
        return n, p0, rep
    n = -view
    if len(P) >= 10:
        # Holds along a line (a climber going straight up): the plane through that line, turned toward the
        # camera; a free fit could spin about the line, with only depth noise to choose the angle.
        centred = P - np.median(P, axis=0)
        _, sv, Vt = np.linalg.svd(centred, full_matrices=False)
        along = sv[0] / np.sqrt(len(P))
        rep["contact_line_m"] = float(along)
        if along >= 0.2:
            d = Vt[0]
            n = _unit(-view + (view @ d) * d)
            p0 = np.median(P, axis=0) - n * float(np.mean(off))
            rep.update({"plane_fit": "through the line of the contacts, turned toward the camera",
                        "plane_residual_m": float(np.sqrt(np.mean((centred @ n) ** 2)))})
            return n, p0, rep
    if len(P):
        p0 = np.median(P, axis=0) - n * float(np.mean(off))
    else:
        body = np.nanmedian(X.reshape(-1, 3), axis=0)
        if not np.isfinite(body).all():
            raise InputError("the climber could not be lifted in any frame, so the wall cannot be located; check "
                             "that the climber is in view")
        p0 = body - n * TORSO_WALL_OFFSET_M
    rep.update({"plane_fit": "facing the camera through the contacts (too few separated holds)",
                "plane_residual_m": float("nan")})
    return n, p0, rep


# ------------------------------------------------------------------------------------------- reconstruct
def reconstruct(cams: CameraSolution, keypoints2d: np.ndarray, confidence: np.ndarray, *, fps: float,
                height_m: float = DEFAULT_HEIGHT_M, keypoints3d: np.ndarray | None = None, wall_angle_deg: float | None = None,
                known_scale: float | None = None, lift_options: LiftOptions = LiftOptions()) -> WallReconstruction:
    """Wall frame + lifted skeleton + cameras and points in the wall frame (see the module docstring).

    keypoints2d (T, 21, 2) full-size pixels, confidence (T, 21), keypoints3d (T, 21, 3) optional monocular 3D
    (body-centred camera axes); cams: the CameraSolution of the same T frames."""
    T = cams.n_frames
    if keypoints2d.shape != (T, NUM_JOINTS, 2) or confidence.shape != (T, NUM_JOINTS):
        raise InputError(f"keypoints {keypoints2d.shape} / confidence {confidence.shape} do not match the "
                         f"{T} camera frames")
    frame = estimate_wall_frame(cams, keypoints2d, confidence, height_m=height_m, wall_angle_deg=wall_angle_deg,
                                known_scale=known_scale, fps=fps, keypoints3d=keypoints3d)
    wc = cams.transformed(frame.transform)
    # The climber's size is only measurable against a wall whose scale does not come from the body itself.
    from dataclasses import replace

    independent = known_scale is not None
    res = lift(keypoints2d, confidence, wc.K, wc.R, wc.t, fps=fps, height_m=height_m,
               wall_normal=frame.wall_normal, wall_point=frame.wall_point, keypoints3d=keypoints3d,
               image_size=cams.image_size,
               options=replace(lift_options, free_body_scale=lift_options.free_body_scale and independent))
    X = res.keypoints.astype(np.float64)
    report = dict(frame.report)
    # Gravity refinement from a standing start, unless the floor or the user already fixed it.
    adjust = Similarity.identity()
    if report["up_source"] == "vertical wall assumed":
        up, srep = up_from_standing(X, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]))
        report["standing"] = srep
        if up is not None:
            Q = _frame_rotation(up, frame.wall_normal)
            adjust = Similarity(1.0, Q, np.zeros(3))
            report["up_source"] = "standing climber"
    # Origin: x below the median hips, y at the floor (or the lowest feet less an ankle height).
    Xa = adjust.apply(X)
    n_w = adjust.apply_direction(frame.wall_normal)
    hips = np.nanmedian(0.5 * (Xa[:, L_HIP] + Xa[:, R_HIP]), axis=0)
    feet = np.concatenate([Xa[:, L_ANKLE, 1], Xa[:, R_ANKLE, 1]])
    if "floor_y_m" in report:
        floor_y, report["origin_y"] = report["floor_y_m"], "floor plane"
    elif np.isfinite(feet).any():
        floor_y, report["origin_y"] = float(np.nanpercentile(feet, 2)) - 0.07, "lowest feet less an ankle height"
    else:
        floor_y, report["origin_y"] = 0.0, "wall point"
    if not np.isfinite(hips).all():
        hips = np.zeros(3)
    # move along the wall plane: x by -hips.x, y by -floor_y, staying on the plane (z follows the slope)
    shift = np.array([hips[0], floor_y, 0.0])
    shift[2] = -(n_w[0] * shift[0] + n_w[1] * shift[1]) / n_w[2] if abs(n_w[2]) > 1e-6 else 0.0
    final = adjust.then(Similarity(1.0, np.eye(3), -shift))
    Xf = final.apply(X).astype(np.float32)
    R, t = final.apply_cameras(wc.R, wc.t)
    pts = final.apply(wc.points3d) if len(wc.points3d) else np.zeros((0, 3))
    wall_normal = final.apply_direction(frame.wall_normal)
    report.update({"lift": res.report, "wall_angle_deg": float(np.degrees(np.arcsin(np.clip(-wall_normal[1], -1, 1)))),
                   "frames_with_skeleton": res.report.get("frames_with_skeleton", 0),
                   "height_estimate_m": res.report.get("height_estimate_m"),
                   "height_source": "measured against the wall" if res.report.get("height_estimate_m") is not None
                   else f"prior ({height_m:.2f} m): the wall's scale itself comes from the body"})
    return WallReconstruction(
        keypoints=Xf, confidence=res.confidence, contacts=res.contacts,
        cameras=CameraTrack.shared_intrinsics(cams.K, R, t, cams.registered.copy()),
        wall_points=WallPoints(pts.astype(np.float32), cams.rgb, cams.point_error.astype(np.float32)),
        wall_normal=wall_normal, wall_point=np.zeros(3),
        camera_model=cams.model, report=report)
