"""Image evidence for move detection: the climber's joints placed where the video saw them, relative to the wall.

A lifted 3D skeleton mixes two kinds of information. Across the camera's line of sight a joint's position is
measured (the 2D detection through a known camera); along the line of sight it is inferred (bone lengths, a
monocular prior, smoothness), and on single-camera footage that depth wanders by decimetres, which shows up
as motion of hands that are in fact holding still. `image_evidence` keeps the measured part and replaces the
inferred one by a slowly varying guess:

    X_t,j = C_t + lam * ray_t,j + (d_j(t) - D_j) n,   lam such that n . (C_t + lam ray_t,j) = D_j

where ray_t,j is the joint's viewing ray through its 2D detection (camera motion removed: the ray is in the
wall frame, built from the per-frame rotation of the solved camera), C_t the camera centre, D_j the joint's
median distance from the wall over the attempt (one median for both wrists), and d_j(t) its distance from the wall smoothed over
`depth_smooth_s`. Along the wall the joint is where its ray meets a fixed plane parallel to the wall, so a
hold seen from a panning or shaking phone keeps one position and a hand that does not move in the image does
not move in the evidence, whatever the lift's depth does; out of the wall it keeps the 3D cue, stripped of
its frame-to-frame noise. Detections below `min_confidence` (MediaPipe's
visibility: the joint is more likely hidden than seen) are left out (NaN), so a hand hidden behind the body
is "unknown", not "moving".

Where the camera's rays graze the wall plane (|ray . n| < `min_incidence`) the intersection is unstable and
the lifted joint is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cruxlab.camera import camera_centers, pixel_rays
from cruxlab.joints import L_WRIST, NUM_JOINTS, R_WRIST
from cruxlab.skeleton import Skeleton


@dataclass(frozen=True)
class EvidenceParams:
    """min_confidence: 2D detections below this are not evidence (hidden joints); depth_smooth_s: window of
    the wall-distance smoothing (s); min_incidence: |cos| between a ray and the wall normal below which the
    lifted joint is kept; spike_gain: a 2D detection farther than this many times the joint's own noise
(1.4826 MAD of its distance to the 5-frame running median, measured on the clip) from that median is a
detector glitch (a left/right swap, a jump to a shadow) and dropped; emerge_s, emerge_confidence: a hidden
joint reappears with its visibility rising toward min_confidence over a few frames, and those frames already
show where it goes (a hand coming out from behind the body and reaching): up to emerge_s of steadily rising
confidence above emerge_confidence before it is seen count as seen."""

    min_confidence: float = 0.5
    depth_smooth_s: float = 1.0
    min_incidence: float = 0.2
    spike_gain: float = 1000.0
    emerge_s: float = 0.3
    emerge_confidence: float = 0.15


def _smooth_fill(x: np.ndarray, fps: float, width_s: float) -> np.ndarray:
    """(T, J) series: NaN gaps interpolated per column (edges held), then a Gaussian of sigma width_s / 4."""
    from scipy.ndimage import gaussian_filter1d

    out = np.array(x, dtype=np.float64)
    T = len(out)
    t = np.arange(T)
    for j in range(out.shape[1]):  # per joint (21 columns), vectorised over frames
        ok = np.isfinite(out[:, j])
        if ok.sum() == 0:
            continue
        out[:, j] = np.interp(t, np.flatnonzero(ok), out[ok, j])
    return gaussian_filter1d(out, max(width_s * fps / 4, 0.5), axis=0, mode="nearest")


def despike(kp2d: np.ndarray, gain: float) -> np.ndarray:
    """(T, J, 2) detections with glitches set to NaN: a point farther from the 5-frame running median of its
    joint than `gain` x that joint's robust noise level (1.4826 MAD over the clip)."""
    from scipy.ndimage import median_filter

    T = len(kp2d)
    if T < 5:
        return kp2d
    ok = np.isfinite(kp2d).all(-1)
    t = np.arange(T)
    filled = kp2d.copy()
    for j in np.flatnonzero(ok.any(0) & ~ok.all(0)):  # joints with gaps: interpolate for the median only
        for c in range(2):
            filled[:, j, c] = np.interp(t, np.flatnonzero(ok[:, j]), kp2d[ok[:, j], j, c])
    med = median_filter(filled, size=(5, 1, 1), mode="nearest")
    dev = np.linalg.norm(kp2d - med, axis=-1)                                      # (T, J), NaN where missing
    with np.errstate(all="ignore"):
        noise = 1.4826 * np.nanmedian(dev, axis=0)
    out = kp2d.copy()
    out[dev > gain * np.maximum(noise, 0.5)] = np.nan
    return out


def emerging(conf: np.ndarray, threshold: float, low: float, max_frames: int) -> np.ndarray:
    """(T, J) bool seen: confidence >= threshold, plus up to max_frames before each seen stretch whose
    confidence rises steadily from above `low` (the joint coming into view)."""
    seen = conf >= threshold
    if max_frames <= 0:
        return seen
    rising = np.zeros_like(seen)
    rising[:-1] = (conf[:-1] <= conf[1:]) & (conf[:-1] >= low)
    out = seen.copy()
    for _ in range(max_frames):  # grow backward one frame at a time (a handful of passes over (T, J))
        grow = np.zeros_like(out)
        grow[:-1] = out[1:] & rising[:-1] & ~out[:-1]
        if not grow.any():
            break
        out |= grow
    return out


def image_evidence(skeleton: Skeleton, keypoints2d: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                   R: np.ndarray, t: np.ndarray, params: EvidenceParams | None = None) -> Skeleton:
    """The skeleton with every confidently detected joint moved onto its viewing ray (see module docstring).

    skeleton: the lifted (T, 21, 3) skeleton in the wall frame; keypoints2d (T, 21, 2) pixels and confidence
    (T, 21) of the same frames; K (T, 3, 3) or (3, 3), R (T, 3, 3), t (T, 3): wall frame -> camera (OpenCV).
    Returns a Skeleton in the same wall frame (confidence = the 2D confidence, NaN where not evidence)."""
    p = params or EvidenceParams()
    T = skeleton.n_frames
    kp2d = despike(np.asarray(keypoints2d, dtype=np.float64), p.spike_gain)
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64))
    if kp2d.shape != (T, NUM_JOINTS, 2) or conf.shape != (T, NUM_JOINTS) or len(R) != T:
        raise ValueError(f"image_evidence needs (T, 21, 2) keypoints, (T, 21) confidence and T cameras for the "
                         f"{T} skeleton frames; got {kp2d.shape}, {conf.shape}, {len(R)}")
    n, w0 = skeleton.normal.astype(np.float64), skeleton.point.astype(np.float64)
    X = skeleton.keypoints.astype(np.float64)
    raw_d = (X - w0) @ n
    wall_d = _smooth_fill(raw_d, skeleton.fps, p.depth_smooth_s)                  # (T, 21) 3D cue, smoothed
    with np.errstate(all="ignore"):
        plane_d = np.nanmedian(raw_d, axis=0)                                      # (21,) one plane per joint
        # the two wrists share one plane: both hands hold the same wall, and a wrist hidden most of the clip
        # has its median from a few frames of wandering depth (the roof clip's: 0.28 m against the seen
        # wrist's 0.80 m put two hands on one hold 21 cm apart along the wall)
        plane_d[[L_WRIST, R_WRIST]] = np.nanmedian(raw_d[:, [L_WRIST, R_WRIST]])
    plane_d = np.where(np.isfinite(plane_d), plane_d, 0.0)
    C = camera_centers(np.asarray(R, float), np.asarray(t, float))                 # (T, 3)
    rays = pixel_rays(kp2d, np.asarray(K, float), np.asarray(R, float))            # (T, 21, 3)
    cos = rays @ n
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = (plane_d + w0 @ n - (C @ n)[:, None]) / cos
    # along the wall: where the ray meets the joint's own plane (a still ray = a still joint); out of the
    # wall: the smoothed 3D cue
    P = C[:, None] + lam[..., None] * rays + (wall_d - plane_d)[..., None] * n
    seen = emerging(conf, p.min_confidence, p.emerge_confidence, int(round(p.emerge_s * skeleton.fps)))
    good = seen & np.isfinite(P).all(-1) & (np.abs(cos) >= p.min_incidence) & (lam > 0)
    grazing = seen & ~good & np.isfinite(X).all(-1)
    out = np.where(good[..., None], P, np.nan)
    out[grazing] = X[grazing]
    c_out = np.where(good | grazing, conf, 0.0)
    return Skeleton(out.astype(np.float32), skeleton.fps, c_out.astype(np.float32), skeleton.wall_normal,
                    skeleton.wall_point)


def video_features(skeleton: Skeleton, keypoints2d: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                   R: np.ndarray, t: np.ndarray, params: EvidenceParams | None = None):
    """The features moves are detected on for an analysed video (moves.features.Features): its image
    evidence, with contacts from motion along the wall (its distance from the wall is a smoothed guess)."""
    from moves.features import FeatureParams, compute_features

    evidence = image_evidence(skeleton, keypoints2d, confidence, K, R, t, params)
    return compute_features(evidence, FeatureParams(planar_motion=True))
