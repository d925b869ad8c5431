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

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from cruxlab.camera import camera_centers, pixel_rays
from cruxlab.joints import (
    L_ANKLE, L_HEEL, L_HIP, L_KNEE, L_TOE, L_WRIST, NUM_JOINTS, R_ANKLE, R_HEEL, R_HIP, R_KNEE, R_TOE, R_WRIST,
)
from cruxlab.signal import fill_gaps
from cruxlab.skeleton import Skeleton
from db.store import EffectorFlow


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

    return gaussian_filter1d(fill_gaps(x), max(width_s * fps / 4, 0.5), axis=0, mode="nearest")


def despike(kp2d: np.ndarray, gain: float) -> np.ndarray:
    """(T, J, 2) detections with glitches set to NaN: a point farther from the 5-frame running median of its
    joint than `gain` x that joint's robust noise level (1.4826 MAD over the clip)."""
    from scipy.ndimage import median_filter

    T = len(kp2d)
    if T < 5:
        return kp2d
    filled = fill_gaps(kp2d, np.isfinite(kp2d).all(-1)).astype(kp2d.dtype)  # gaps interpolated, for the median only
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
                   R: np.ndarray, t: np.ndarray, params: EvidenceParams | None = None,
                   flow: EffectorFlow | None = None):
    """The features moves are detected on for an analysed video (moves.features.Features): its image
    evidence, with contacts from motion along the wall (its distance from the wall is a smoothed guess);
    with `flow` (the attempt's `effector_flow`), feet whose detections swapped sides are put back
    (`swapped_feet`) and each limb's motion fuses its image patch's flow relative to the wall (`flow_motion`)
    with its detected position (moves.features.measured_motion); feet whose labels the pose model handed over
    where the two met are given back (`feet_handed_over`)."""
    from cruxlab.contacts import ContactParams
    from moves.features import FeatureParams, compute_features

    p = params or EvidenceParams()
    motion = None
    if flow is not None and flow.n_frames != skeleton.n_frames:
        flow = None
    if flow is not None:
        swapped = swapped_feet(keypoints2d, confidence, flow, fps=skeleton.fps)
        if swapped.any():
            keypoints2d, confidence, flow, skeleton = _swap_feet(swapped, keypoints2d, confidence, flow, skeleton)
    evidence = image_evidence(skeleton, keypoints2d, confidence, K, R, t, p)
    handed = feet_handed_over(evidence)
    if handed.any():
        keypoints2d, confidence, flow, skeleton = _swap_feet(handed, keypoints2d, confidence, flow, skeleton)
        evidence = image_evidence(skeleton, keypoints2d, confidence, K, R, t, p)
    if flow is not None:
        motion = flow_motion(skeleton, keypoints2d, confidence, K, R, t, flow, p)
    # a foot's distance from the wall is a guess here, and kickers and volumes stand decimetres off the wall
    # plane: it vetoes no foot contact (a flag held still is told by the leg's shape: moves.segment)
    return compute_features(evidence, FeatureParams(planar_motion=True, contact=ContactParams(veto_feet=False)),
                            motion=motion)


#: The joints of each foot that a pose model swaps when the legs cross (left, right).
FOOT_JOINTS: tuple[tuple[int, ...], tuple[int, ...]] = ((L_ANKLE, L_HEEL, L_TOE), (R_ANKLE, R_HEEL, R_TOE))


def swapped_feet(keypoints2d: np.ndarray, confidence: np.ndarray, flow: EffectorFlow, margin_m: float = 0.10,
                 max_s: float = 1.0, fps: float = 25.0, min_confidence: float = 0.5) -> np.ndarray:
    """(T,) bool: frames whose left and right foot detections are swapped. Each shoe's image patch is carried
    to the next frame by its flow (`EffectorFlow.rel + wall`); a swap starts where the next frame's detections
    fit the carried shoes crosswise better, by `margin_m` (body units, in pixels by the leg length), than
    straight, and ends at the next such frame (the detections swapping back), if that comes within `max_s`
    (a longer stretch is more likely the flow losing a shoe than a swap: left alone)."""
    c = patch_centres(keypoints2d, confidence, min_confidence)[:, 2:]                    # (T, 2, 2)
    T = len(c)
    out = np.zeros(T, dtype=bool)
    leg = leg_length_px(keypoints2d, confidence, min_confidence)
    if T < 3 or not np.isfinite(leg):
        return out
    rel, wall = np.asarray(flow.rel, np.float64)[:, 2:], np.asarray(flow.wall, np.float64)[:, 2:]
    carried = c[:-1] + rel[:-1] + wall[:-1]                                              # where each shoe went
    nxt = c[1:]
    straight = np.linalg.norm(nxt - carried, axis=-1).sum(-1)
    crossed = np.linalg.norm(nxt[:, ::-1] - carried, axis=-1).sum(-1)
    with np.errstate(invalid="ignore"):
        events = np.flatnonzero(crossed + margin_m * leg / (0.49 * 1.70) < straight) + 1   # frames that flip
    longest = max(1, int(round(max_s * fps)))
    i = 0
    while i + 1 < len(events):  # pair each flip with the next one (a handful of events per attempt)
        a, b = events[i], events[i + 1]
        if b - a <= longest:
            out[a:b] = True
            i += 2
        else:
            i += 1
    return out


def feet_handed_over(evidence: Skeleton, touch_m: float = 0.13, margin_m: float = 0.10, window_s: float = 0.3
                     ) -> np.ndarray:
    """(T,) bool: frames whose left and right foot labels are exchanged after the two feet met. A pose model
    that puts both feet on one shoe (their points closer than half a shoe, `touch_m` in body units) may hand
    each label to the other shoe as they part, gradually, which the frame-to-frame flow check (`swapped_feet`)
    does not see. Feet mostly stay on their holds, so at each meeting the labelling that keeps each foot nearer
    where a foot rested just before (mean over `window_s` either side, crosswise better than straight by
    `margin_m` body units, `swapped_feet`'s margin) is the right one: from the middle of the meeting on the
    labels are exchanged, until a later meeting hands them back. `evidence`: the image evidence skeleton (wall
    frame, metres)."""
    from cruxlab.body import body_scale
    from cruxlab.intervals import runs
    from cruxlab.signal import seg_mean
    from moves.features import foot_points, smooth

    kp = evidence.keypoints
    T, fps = len(kp), evidence.fps
    out = np.zeros(T, dtype=bool)
    feet, _ = foot_points(kp[:, [L_TOE, R_TOE]], kp[:, [L_ANKLE, R_ANKLE]], kp[:, [L_HEEL, R_HEEL]])
    feet = smooth(feet, fps, 0.2).astype(np.float64)                         # (T, 2, 3) jitter removed
    scale = body_scale(kp)
    with np.errstate(invalid="ignore"):
        r = runs(np.linalg.norm(feet[:, 0] - feet[:, 1], axis=-1) < touch_m * scale)
    r = r[(r[:, 0] > 0) & (r[:, 1] < T - 1)] if len(r) else r
    if len(r) == 0:
        return out
    w = max(1, int(round(window_s * fps)))
    flat = feet.reshape(T, 6)
    before = seg_mean(flat, np.maximum(r[:, 0] - w, 0), r[:, 0] - 1).reshape(-1, 2, 3)
    after = seg_mean(flat, r[:, 1] + 1, np.minimum(r[:, 1] + w, T - 1)).reshape(-1, 2, 3)
    straight = np.linalg.norm(after - before, axis=-1).sum(-1)
    crossed = np.linalg.norm(after[:, ::-1] - before, axis=-1).sum(-1)
    with np.errstate(invalid="ignore"):
        handed = crossed + margin_m * scale < straight
    at = (r[handed, 0] + r[handed, 1]) // 2 + 1
    mark = np.zeros(T + 1, dtype=np.int64)
    np.add.at(mark, at, 1)
    return (np.cumsum(mark[:-1]) % 2) == 1


def _swap_feet(swapped: np.ndarray, keypoints2d: np.ndarray, confidence: np.ndarray, flow: EffectorFlow | None,
               skeleton: Skeleton):
    """The detections, flow (if any) and lifted skeleton with the two feet exchanged in the `swapped` frames."""
    left, right = list(FOOT_JOINTS[0]), list(FOOT_JOINTS[1])
    kp, conf = np.array(keypoints2d, copy=True), np.array(confidence, copy=True)
    X = np.array(skeleton.keypoints, copy=True)
    for arr in (kp, conf, X):
        arr[np.ix_(swapped, left + right)] = arr[np.ix_(swapped, right + left)]
    if flow is not None:
        rel, wall = np.array(flow.rel, copy=True), np.array(flow.wall, copy=True)
        for arr in (rel, wall):
            arr[np.ix_(swapped, [2, 3])] = arr[np.ix_(swapped, [3, 2])]
        flow = EffectorFlow(rel, wall)
    sk_conf = skeleton.confidence
    if sk_conf is not None:
        sk_conf = np.array(sk_conf, copy=True)
        sk_conf[np.ix_(swapped, left + right)] = sk_conf[np.ix_(swapped, right + left)]
    return kp, conf, flow, Skeleton(X, skeleton.fps, sk_conf, skeleton.wall_normal, skeleton.wall_point)


def _plane_hits(uv: np.ndarray, K: np.ndarray, R: np.ndarray, C: np.ndarray, n: np.ndarray, offset: np.ndarray
                ) -> np.ndarray:
    """(T, N, 3) where the viewing rays through pixels uv (T, N, 2) meet the planes n . X = offset (N,)
    (NaN where they graze or point away)."""
    rays = pixel_rays(uv, K, R)
    cos = rays @ n
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = (offset[None] - (C @ n)[:, None]) / cos
    return np.where(((lam > 0) & (np.abs(cos) > 1e-3))[..., None], C[:, None] + lam[..., None] * rays, np.nan)


def flow_motion(skeleton: Skeleton, keypoints2d: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                R: np.ndarray, t: np.ndarray, flow: EffectorFlow, params: EvidenceParams | None = None,
                effectors: tuple[int, ...] = (0, 1, 2, 3)) -> np.ndarray:
    """(T, 4, 3) wall-frame motion trajectories of `effectors` (other columns NaN = not measured): each
    frame's step is the patch's image motion relative to the wall (`EffectorFlow.rel`) carried onto the
    effector's plane parallel to the wall through that frame's camera, P(u + rel) - P(u) at the patch centre
    u. NaN where the flow is unknown (not seen, too few trusted points). The steps are summed, so the
    trajectory drifts slowly: only its changes over a fraction of a second are read (speed, stillness,
    lift-off and arrival; moves.features.measured_motion fuses them with the detected positions)."""
    p = params or EvidenceParams()
    T = skeleton.n_frames
    n, w0 = skeleton.normal.astype(np.float64), skeleton.point.astype(np.float64)
    raw_d = (skeleton.keypoints.astype(np.float64) - w0) @ n
    offset = np.zeros(4)
    for k, joints in enumerate(PATCH_JOINTS):
        with np.errstate(all="ignore"):
            d = np.nanmedian(raw_d[:, list(joints)])
        offset[k] = (d if np.isfinite(d) else 0.0) + w0 @ n
    K, R, t = np.asarray(K, float), np.asarray(R, float), np.asarray(t, float)
    C = camera_centers(R, t)
    u = patch_centres(keypoints2d, confidence, p.min_confidence)                      # (T, 4, 2) full px
    rel = np.asarray(flow.rel, dtype=np.float64)
    step = _plane_hits(u + rel, K, R, C, n, offset) - _plane_hits(u, K, R, C, n, offset)   # (T, 4, 3) t -> t+1
    here = _plane_hits(u, K, R, C, n, offset)                                         # where the patch is seen
    out = np.full((T, 4, 3), np.nan)
    for k in effectors:
        known = np.isfinite(step[:-1, k]).all(-1)
        if not known.any():
            continue
        q = np.concatenate([np.zeros((1, 3)), np.cumsum(np.where(known[:, None], step[:-1, k], 0.0), axis=0)])
        seen = np.isfinite(here[:, k]).all(-1)
        q += np.nanmedian(here[seen, k] - q[seen], axis=0) if seen.any() else 0.0     # anchored near the effector
        # a frame is measured when the flow into or out of it is known
        into = np.r_[False, known]
        out_of = np.r_[known, False]
        out[:, k] = np.where((into | out_of)[:, None], q, np.nan)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------------- image flow
# calcOpticalFlowPyrLK's third output (unused here) as the minimum eigenvalue it computes anyway, instead of
# a residual it would compute in one more pass over each point's window: the tracks and their status are the
# same bit for bit (tests/test_moves_flow.py), the tracking ~7 % cheaper at the bundled clips' window sizes.
_LK_FLAGS = 8  # cv2.OPTFLOW_LK_GET_MIN_EIGENVALS (a literal: `import moves` does not import OpenCV)


#: The joints whose 2D detections centre each effector's image patch (EFFECTOR_LIMBS order): the wrist for
#: a hand; the shoe (toe, heel, ankle: the mean of those seen) for a foot.
PATCH_JOINTS: tuple[tuple[int, ...], ...] = ((L_WRIST,), (R_WRIST,), (L_TOE, L_HEEL, L_ANKLE), (R_TOE, R_HEEL, R_ANKLE))


@dataclass(frozen=True)
class FlowParams:
    """The image-flow pass (`effector_flow`). Sizes in body units: metres for a 1.70 m climber, turned into
    pixels by the climber's leg length in the image (hip-knee-ankle, 90th percentile over the clip: the
    least foreshortened), which is 0.49 of the body height.

    patch_m: half-width of the square patch around an effector (a shoe is ~0.26 m long); grid: points per
    side of the patch that are tracked; window_m: Lucas-Kanade window; levels: pyramid levels (fast feet);
    fb_max_px: a patch point whose backward track misses its start by more than this is not trusted;
    min_points: fewer trusted points in a patch = unknown; background: grid of wall points (columns, rows)
    tracked outside the climber's box to fit the wall's image motion (a homography, RANSAC with
    ransac_px: 16x9 fits the same motion as 24x14 to ~0.01 px median on the bundled clips, and the tracking
    cost grows with the points); min_confidence: a joint below this visibility does not place a patch;
    min_window_px: the frames are halved (cv2.pyrDown, i.e. the finest pyramid level is left out) as long as the
    Lucas-Kanade window stays at least this many pixels there: the bundled clips' windows of 29 and 19 px at
    the working size become 15 and 9, the tracking costs ~1/2 (tripod 1.7 -> 0.8 CPU-s; per point the cost
    grows with the window's area, per call with the image's), the patches' motions move by ~0.15 px (median,
    full-size pixels) and the moves on both bundled clips stay the same (micro-F1 0.872; four of the tripod
    clip's move boundaries move by one frame). fb_max_px and ransac_px are pixels of the frames tracked."""

    patch_m: float = 0.12
    grid: int = 5
    window_m: float = 0.12
    levels: int = 3
    fb_max_px: float = 1.0
    min_points: int = 6
    background: tuple[int, int] = (16, 9)
    ransac_px: float = 1.5
    min_confidence: float = 0.5
    min_window_px: int = 9


def patch_centres(keypoints2d: np.ndarray, confidence: np.ndarray, min_confidence: float = 0.5) -> np.ndarray:
    """(T, 4, 2) pixel centre of each effector's patch (PATCH_JOINTS: the mean of the confidently seen
    joints), NaN where none is seen."""
    kp = np.asarray(keypoints2d, dtype=np.float64)
    seen = (np.nan_to_num(np.asarray(confidence, dtype=np.float64)) >= min_confidence) & np.isfinite(kp).all(-1)
    out = np.full((len(kp), 4, 2), np.nan)
    for k, joints in enumerate(PATCH_JOINTS):  # four effectors, vectorised over frames
        w = seen[:, list(joints)].astype(np.float64)
        s = (np.nan_to_num(kp[:, list(joints)]) * w[..., None]).sum(1)
        n = w.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = np.where(n[:, None] > 0, s / n[:, None], np.nan)
    return out


def leg_length_px(keypoints2d: np.ndarray, confidence: np.ndarray, min_confidence: float = 0.5) -> float:
    """The climber's leg length in pixels (hip-knee + knee-ankle, 90th percentile over frames and legs: the
    least foreshortened), NaN when no leg is seen."""
    kp = np.asarray(keypoints2d, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64))
    legs = []
    for hip, knee, ankle in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE)):
        ok = (conf[:, [hip, knee, ankle]] >= min_confidence).all(1)
        length = np.linalg.norm(kp[:, hip] - kp[:, knee], axis=-1) + np.linalg.norm(kp[:, knee] - kp[:, ankle], axis=-1)
        legs.append(length[ok & np.isfinite(length)])
    legs = np.concatenate(legs)
    return float(np.quantile(legs, 0.9)) if len(legs) >= 5 else float("nan")


def effector_flow(frames, keypoints2d: np.ndarray, confidence: np.ndarray, boxes: np.ndarray | None = None,
                  params: FlowParams | None = None, progress=None, workers: int = 2, full_speed=None) -> EffectorFlow:
    """One pass over an attempt's frames: how each effector's image patch moves relative to the wall.

    frames: iterable of (scale, (N, h, w, 3) uint8 RGB or (N, h, w) uint8 grey) batches in attempt order,
    `scale` = full-size pixels per working pixel (reconstruction.video.iter_batches' batches, or the grey
    frames `reconstruction.video.GreyFrames` kept from the pose stage's decoding); keypoints2d (T, 21, 2) full-size pixels,
    confidence (T, 21); boxes (T, 4) the climber's box in full-size pixels (kept out of the wall fit) or None.
    Per frame pair: a grid of wall points is tracked (pyramidal Lucas-Kanade) and a homography fitted to it
    (RANSAC; the climber, a passer-by, a swinging rope, a lost track are outliers): the wall's image motion,
    i.e. the camera's. A grid over each effector's patch is tracked in the same call and, forward-backward
    checked, its motion minus the wall's is the effector's motion relative to the wall. The wall points get
    no backward track (RANSAC already drops bad ones): that halves their cost, and the wall's motion moves by
    ~0.01 px (median) on the bundled clips. `progress(n)` hears frames done.

    Each frame pair (t, t+1) is computed from those two frames and the clip-wide patch sizes only (patches
    placed by the detections at t, the wall grid laid anew, its own homography; findHomography's RANSAC draws
    from an RNG it seeds itself on every call, not OpenCV's thread RNG): so the batches, each with the frame
    before it, are tracked by `workers` threads (the Lucas-Kanade tracking runs without the GIL), and the
    result is bit for bit the one thread's (tests/test_moves_flow.py).

    `full_speed` (a threading.Event, or None = from the start): until it is set only one of the `workers`
    threads tracks at a time, so a flow running beside other work (analyze: the camera worker's last
    keyframe, then the lift) leaves that work a core; once set (analyze: the caller waits for the flow) all
    `workers` track. The order of the work changes, not the result."""
    import cv2

    # Kept for anything in OpenCV that would draw from the per-thread RNG: the flow does not depend on what ran
    # before it in this thread (the SfM stage's homographies, another video in a pool worker).
    cv2.setRNGSeed(0)
    p = params or FlowParams()
    kp = np.asarray(keypoints2d, dtype=np.float64)
    T = len(kp)
    centres = patch_centres(kp, confidence, p.min_confidence)                          # (T, 4, 2) full px
    leg = leg_length_px(kp, confidence, p.min_confidence)
    rel = np.full((T, 4, 2), np.nan)
    wall = np.full((T, 4, 2), np.nan)
    if not np.isfinite(leg):  # no leg seen well enough to size the patches: no image evidence of motion
        return EffectorFlow(rel.astype(np.float32), wall.astype(np.float32))
    px_per_m = leg / (0.49 * 1.70)
    box = np.full((T, 4), np.nan) if boxes is None else np.asarray(boxes, dtype=np.float64)
    offsets = np.linspace(-1.0, 1.0, p.grid)
    unit = np.stack(np.meshgrid(offsets, offsets), -1).reshape(-1, 2)                  # (G, 2) in [-1, 1]

    gate = _Gate(workers, full_speed)

    def track_batch(prev, greys, t0: int, scale: float) -> None:
        """The pairs (t0 - 1, t0), ..., ending at the batch's last frame (`prev` = frame t0 - 1 or None)."""
        with gate:
            track_pairs(prev, greys, t0, scale)

    def track_pairs(prev, greys, t0: int, scale: float) -> None:
        r = max(2.0, p.patch_m * px_per_m / scale)                                         # working pixels
        win = int(max(7, round(p.window_m * px_per_m / scale)) | 1)
        lk = dict(winSize=(win, win), maxLevel=p.levels,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03), flags=_LK_FLAGS)
        for i, grey in enumerate(greys):
            if prev is not None:
                a = t0 + i - 1
                rel[a], wall[a] = _pair_flow(prev, grey, centres[a], box[a], scale, r, unit, lk, p)
            prev = grey

    prev = None
    t = 0
    pending: list = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cruxlab-flow") if workers > 1 else None
    # OpenCV's own thread pool stays out of it (its setting is the process's; restored afterwards): each
    # Lucas-Kanade call here is ~1 ms, which its pool splits over both cores, and its threads then spin: analyze
    # on the tripod clip took ~0.3 CPU-s more (process user+sys, 3 same-load pairs) for no gain in time, and
    # the flow took more than the one core `full_speed` leaves it. The flow's own threads are its parallelism.
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        for scale, batch in frames:
            greys = [img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) for img in batch]
            while round(p.window_m * px_per_m / (2 * scale)) >= p.min_window_px:  # see FlowParams.min_window_px
                greys, scale = [cv2.pyrDown(g) for g in greys], scale * 2
            if pool is None:
                track_batch(prev, greys, t, scale)
                if progress is not None:
                    progress(len(greys))
            else:
                pending.append((pool.submit(track_batch, prev, greys, t, scale), len(greys)))
                while len(pending) > 2 * workers:  # a few batches in flight: memory stays bounded
                    _finish(pending.pop(0), progress)
            t += len(greys)
            if greys:
                prev = greys[-1]
        while pending:
            _finish(pending.pop(0), progress)
    finally:
        if pool is not None:
            for future, _ in pending:
                future.cancel()
            pool.shutdown(wait=True)
        cv2.setNumThreads(cv_threads)
    if t != T:
        raise ValueError(f"effector_flow read {t} frames for {T} frames of 2D detections")
    return EffectorFlow(rel.astype(np.float32), wall.astype(np.float32))


class _Gate:
    """At most `workers` holders at once, or one while the event `full_speed` is not set (see
    `effector_flow`); a waiting holder looks at the event every 20 ms, so setting it needs no call here."""

    def __init__(self, workers: int, full_speed):
        import threading

        self.workers, self.full_speed = max(1, workers), full_speed
        self.running = 0
        self.cond = threading.Condition()

    def limit(self) -> int:
        return self.workers if self.full_speed is None or self.full_speed.is_set() else 1

    def __enter__(self) -> None:
        with self.cond:
            while self.running >= self.limit():
                self.cond.wait(0.02)
            self.running += 1

    def __exit__(self, *exc) -> None:
        with self.cond:
            self.running -= 1
            self.cond.notify()


def _finish(job, progress) -> None:
    future, n = job
    future.result()
    if progress is not None:
        progress(n)


def _pair_flow(img0, img1, centre: np.ndarray, box: np.ndarray, scale: float, r: float, unit: np.ndarray,
               lk: dict, p: FlowParams) -> tuple[np.ndarray, np.ndarray]:
    """((4, 2) effectors' motion relative to the wall, (4, 2) the wall's motion at the patches) in full-size
    pixels from frame img0 to img1, NaN where unknown: `centre` (4, 2) and `box` (4,) at img0, full-size."""
    G = len(unit)
    rel = np.full((4, 2), np.nan)
    wall = np.full((4, 2), np.nan)
    h, w = img1.shape
    bg = _background_grid(w, h, p.background, box / scale)
    c = centre / scale                                                                 # (4, 2) working px
    pts = np.concatenate([bg, (c[:, None] + r * unit[None]).reshape(-1, 2)]).astype(np.float32)
    ok = np.isfinite(pts).all(1)
    checked = ok.copy()
    checked[:len(bg)] = False  # wall points: RANSAC sorts out their bad tracks
    moved = np.full_like(pts, np.nan)
    if ok.any():
        moved[ok] = _track(img0, img1, pts[ok], lk, p.fb_max_px, checked[ok])
    d = moved - pts
    H = _wall_homography(pts[:len(bg)], moved[:len(bg)], p.ransac_px)
    if H is not None:
        eff = pts[len(bg):].reshape(4, G, 2).astype(np.float64)
        wall_d = _apply_h(H, eff) - eff                                                 # (4, G, 2)
        rel_d = d[len(bg):].reshape(4, G, 2) - wall_d
        rel = _moving_part(rel_d, p.min_points) * scale
        wall = _apply_h(H, c[:, None])[:, 0] - c
        wall *= scale
    return rel, wall


def _background_grid(w: int, h: int, shape: tuple[int, int], box: np.ndarray) -> np.ndarray:
    """(N, 2) a regular grid of wall points over the frame, without those in the climber's box (grown by a
    quarter of its size; no box: all)."""
    cols, rows = shape
    xs = (np.arange(cols) + 0.5) * w / cols
    ys = (np.arange(rows) + 0.5) * h / rows
    g = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    if np.isfinite(box).all():
        x0, y0, x1, y1 = box
        mx, my = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
        inside = (g[:, 0] > x0 - mx) & (g[:, 0] < x1 + mx) & (g[:, 1] > y0 - my) & (g[:, 1] < y1 + my)
        g = g[~inside]
    return g


def _track(img0, img1, pts: np.ndarray, lk: dict, fb_max: float, checked: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) where pts of the first image went in the second (NaN where the track failed or, for the
    `checked` points (default all), its backward track misses the start by more than fb_max pixels)."""
    import cv2

    p1, st1, _ = cv2.calcOpticalFlowPyrLK(img0, img1, pts.reshape(-1, 1, 2), None, **lk)
    p1 = p1.reshape(-1, 2)
    good = st1.ravel() == 1
    back = good if checked is None else good & checked
    if back.any():
        p0, st0, _ = cv2.calcOpticalFlowPyrLK(img1, img0, p1[back].reshape(-1, 1, 2), None, **lk)
        good[back] = (st0.ravel() == 1) & (np.linalg.norm(p0.reshape(-1, 2) - pts[back], axis=1) <= fb_max)
    return np.where(good[:, None], p1, np.nan)


def _wall_homography(src: np.ndarray, dst: np.ndarray, ransac_px: float) -> np.ndarray | None:
    """The homography that maps the wall grid's tracked points (RANSAC), or the median translation when
    there are too few for one, or None when nothing was tracked."""
    import cv2

    ok = np.isfinite(dst).all(1)
    if ok.sum() >= 12:
        H, _ = cv2.findHomography(src[ok].astype(np.float32), dst[ok].astype(np.float32), cv2.RANSAC, ransac_px)
        if H is not None:
            return H
    if ok.sum() >= 3:
        H = np.eye(3)
        H[:2, 2] = np.median(dst[ok] - src[ok], axis=0)
        return H
    return None


def _apply_h(H: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(..., 2) points mapped by the homography H."""
    y = x @ H[:2, :2].T + H[:2, 2]
    return y / (x @ H[2, :2] + H[2, 2])[..., None]


def _moving_part(rel: np.ndarray, min_points: int) -> np.ndarray:
    """(4, 2) from (4, G, 2) per-point relative motions (NaN = untrusted): the median vector of the half of
    each patch's trusted points that moved most (a shoe covers part of its patch; the wall around it is
    still), NaN with fewer than min_points trusted ones."""
    mag = np.linalg.norm(rel, axis=-1)                                                     # (4, G) NaN untrusted
    n = np.isfinite(mag).sum(1)
    order = np.argsort(np.where(np.isfinite(mag), -mag, np.inf), axis=1)               # most moved first
    out = np.full((len(rel), 2), np.nan)
    for k in np.flatnonzero(n >= min_points):  # four patches
        top = order[k, : (n[k] + 1) // 2]
        out[k] = np.median(rel[k, top], axis=0)
    return out
