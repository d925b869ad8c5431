"""Lift 2D keypoints seen by known cameras to metric 3D joints (the wall frame when the cameras are in it).

Method
------
One robust non-linear least-squares problem over the whole sequence: the unknowns are every joint's 3D
position in every frame, X (T, 21, 3) metres, plus one global body-scale factor. The residuals are

1. **Reprojection**: pinhole projection of X through K, R_t, t_t minus the observed keypoint, in units of
   `sigma_px` and weighted by the detector's confidence (Huber, so detector outliers and left/right swaps
   lose their pull).
2. **Bone lengths**: 30 bones (limbs, a torso quadrilateral with diagonals, feet triangles, head and neck)
   must have the lengths of an anthropometric template scaled to the climber's height (default 1.70 m) times
   the body-scale factor (prior 1 +- 8 %). This is what fixes depth along each ray for a single camera:
   image size at known body size.
3. **Monocular 3D shape** (optional, e.g. MediaPipe world landmarks): the body-centred joint offsets,
   rotated by the camera, must match the backend's 3D pose (loose, Huber). It settles the front/back
   ambiguity of elbows and knees that bone lengths alone leave open.
4. **Temporal smoothness**: second differences (acceleration) of every joint, Huber so that dynos survive.
5. **Wall** (when a wall plane is known): no joint behind the wall (one-sided); hands and feet in contact
   sit at their anatomical offset from the wall plane (wrist ~7 cm, toe ~4 cm, ankle ~13 cm).
6. **Contacts stay still**: an end-effector detected on a hold keeps its 3D position frame to frame.

It is solved by Levenberg-Marquardt with iteratively re-weighted Huber losses on analytic derivatives (the
normal equations are assembled term by term straight into banded storage, one banded Cholesky per step; the
normal matrix is banded in time), in two stages:
stage 1 without contacts, then contacts are detected on the stage-1 trajectory (an end-effector that moves
slower than `contact_speed` m/s for at least `contact_min_s` s, near the wall when a wall is known) and
stage 2 re-solves with the contact terms. Initial depths come from the wall plane (each joint's ray cut with
the wall moved out by the joint's typical distance) or, without a wall, from the image size of the torso.

Output joints unobserved for longer than `max_gap_s` (or never observed, e.g. heels from a COCO-17
backend) are NaN, as are frames before the first and after the last detection; their confidence is 0.

Failure modes (what to expect and why)
--------------------------------------
* Depth is the weak direction: with one camera, the distance of a joint along its ray is set only by bone
  lengths, the monocular prior and the wall. A wrong climber height scales the skeleton's distance from the
  camera by the same factor where no wall is known; give the height (`--height-m`).
* Limbs pointing straight at the camera have a two-fold (front/back) ambiguity; without a monocular 3D cue
  the solver keeps the side of its initial guess (limbs between the torso and the wall).
* A wrong wall plane drags contacts with it: the wall residuals assume holds are a few centimetres proud of
  the plane, so large volumes or a mis-fitted plane bias the hands and feet toward it.
* Contact detection needs the effector to be still for 0.25 s; a fast deadpoint or slap is treated as
  free motion, a hand dragged slowly along the wall may be taken as a contact.
* Frames with wrong cameras (badly interpolated SfM poses) put the whole body on the wrong ray.
* Camera rotation-only footage (no wall plane yet) gives depths from body size alone.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cruxlab.errors import InputError
from cruxlab.intervals import runs
from cruxlab.signal import fill_gaps
from cruxlab.body import DEFAULT_HEIGHT_M, HEAD_TEMPLATE, HEIGHT_RANGE_M, segment_lengths
from cruxlab.joints import (
    JOINT_INDEX, L_ANKLE, L_HEEL, L_HIP, L_SHOULDER, L_TOE, L_WRIST, NUM_JOINTS, R_ANKLE,
    R_HEEL, R_HIP, R_SHOULDER, R_TOE, R_WRIST,
)
from cruxlab.skeleton import Skeleton
from cruxlab.camera import camera_centers, pixel_rays
from reconstruction.geometry import is_rotation

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------- the body prior
#: Bones of the lifting prior: (joint a, joint b, relative sigma class).
_PRIOR_BONES: tuple[tuple[str, str, str], ...] = (
    ("left_shoulder", "left_elbow", "limb"), ("left_elbow", "left_wrist", "limb"),
    ("right_shoulder", "right_elbow", "limb"), ("right_elbow", "right_wrist", "limb"),
    ("left_hip", "left_knee", "limb"), ("left_knee", "left_ankle", "limb"),
    ("right_hip", "right_knee", "limb"), ("right_knee", "right_ankle", "limb"),
    ("left_shoulder", "right_shoulder", "torso"), ("left_hip", "right_hip", "torso"),
    ("left_shoulder", "left_hip", "torso"), ("right_shoulder", "right_hip", "torso"),
    ("left_shoulder", "right_hip", "diag"), ("right_shoulder", "left_hip", "diag"),
    ("left_ankle", "left_heel", "foot"), ("left_ankle", "left_big_toe", "foot"),
    ("left_heel", "left_big_toe", "foot"),
    ("right_ankle", "right_heel", "foot"), ("right_ankle", "right_big_toe", "foot"),
    ("right_heel", "right_big_toe", "foot"),
    ("nose", "left_eye", "head"), ("nose", "right_eye", "head"), ("left_eye", "left_ear", "head"),
    ("right_eye", "right_ear", "head"), ("left_ear", "right_ear", "head"),
    ("nose", "left_shoulder", "neck"), ("nose", "right_shoulder", "neck"),
    ("left_ear", "left_shoulder", "neck"), ("right_ear", "right_shoulder", "neck"),
    ("left_ear", "right_shoulder", "neck"),
)
_BONE_SIGMA_M = {"limb": 0.02, "torso": 0.03, "diag": 0.045, "foot": 0.015, "head": 0.012, "neck": 0.04}

#: Typical distance of each joint from the wall plane while climbing (metres), used for initial depths.
_INIT_WALL_OFFSET = np.array([0.32, 0.30, 0.30, 0.33, 0.33,        # head
                              0.30, 0.30, 0.24, 0.24, 0.07, 0.07,   # shoulders, elbows, wrists
                              0.28, 0.28, 0.26, 0.26, 0.13, 0.13,   # hips, knees, ankles
                              0.16, 0.16, 0.05, 0.05])              # heels, toes

#: End-effector joints of the four limbs (cruxlab.joints.EFFECTOR_LIMBS order): the joint whose stillness defines contact,
#: and the joints held still and on the wall during contact with their (offset m, sigma m) from the wall.
_CONTACT_PROBE = (L_WRIST, R_WRIST, L_ANKLE, R_ANKLE)
_CONTACT_JOINTS: tuple[tuple[tuple[int, float, float], ...], ...] = (
    ((L_WRIST, 0.07, 0.03),),
    ((R_WRIST, 0.07, 0.03),),
    ((L_ANKLE, 0.13, 0.05), (L_TOE, 0.04, 0.03), (L_HEEL, 0.16, 0.06)),
    ((R_ANKLE, 0.13, 0.05), (R_TOE, 0.04, 0.03), (R_HEEL, 0.16, 0.06)),
)


def template_pose(height_m: float = DEFAULT_HEIGHT_M) -> np.ndarray:
    """A standing climber facing the wall (-z), feet on the floor y = 0, arms hanging: (21, 3) metres."""
    r = segment_lengths(height_m)
    up, side, face = np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0])
    kp = np.zeros((NUM_JOINTS, 3))
    toe_dir = 0.95 * face - 0.31 * up              # foot flat on the floor, toe slightly lower than the ankle
    heel_dir = -0.6 * face - 0.8 * up
    ankle_y = 0.039 * height_m                     # ankle height (Winter)
    for sgn, hip, knee, ankle, heel, toe in ((-1, "left_hip", "left_knee", "left_ankle", "left_heel", "left_big_toe"),
                                             (1, "right_hip", "right_knee", "right_ankle", "right_heel", "right_big_toe")):
        x = sgn * r["hip_width"] / 2 * side
        kp[JOINT_INDEX[ankle]] = x + ankle_y * up
        kp[JOINT_INDEX[knee]] = x + (ankle_y + r["shank"]) * up
        kp[JOINT_INDEX[hip]] = x + (ankle_y + r["shank"] + r["thigh"]) * up
        kp[JOINT_INDEX[toe]] = kp[JOINT_INDEX[ankle]] + r["foot"] * toe_dir
        kp[JOINT_INDEX[heel]] = kp[JOINT_INDEX[ankle]] + r["heel"] * heel_dir
    sh_mid = (ankle_y + r["shank"] + r["thigh"] + r["torso"]) * up
    for sgn, sh, el, wr in ((-1, "left_shoulder", "left_elbow", "left_wrist"),
                            (1, "right_shoulder", "right_elbow", "right_wrist")):
        kp[JOINT_INDEX[sh]] = sh_mid + sgn * r["shoulder_width"] / 2 * side
        kp[JOINT_INDEX[el]] = kp[JOINT_INDEX[sh]] - r["upper_arm"] * up
        kp[JOINT_INDEX[wr]] = kp[JOINT_INDEX[el]] - r["forearm"] * up
    for name, (dx, dy, dz) in HEAD_TEMPLATE.items():
        kp[JOINT_INDEX[name]] = sh_mid + height_m * (dx * side + dy * up + dz * face)
    return kp


def bone_prior(height_m: float = DEFAULT_HEIGHT_M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lifting prior's bones: pairs (B, 2) of joint indices, lengths (B,) metres, sigmas (B,) metres."""
    tpl = template_pose(height_m)
    pairs = np.array([(JOINT_INDEX[a], JOINT_INDEX[b]) for a, b, _ in _PRIOR_BONES])
    lengths = np.linalg.norm(tpl[pairs[:, 0]] - tpl[pairs[:, 1]], axis=1)
    sigmas = np.array([_BONE_SIGMA_M[c] for *_, c in _PRIOR_BONES]) * (height_m / DEFAULT_HEIGHT_M)
    return pairs, lengths, sigmas


# ------------------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class LiftOptions:
    """Weights and thresholds of the lifting problem (every sigma is one standard deviation)."""

    sigma_px: float | None = None      # 2D keypoint noise; None = 0.25 % of the image diagonal
    min_confidence: float = 0.2        # 2D keypoints below this are ignored
    huber_px: float = 2.5              # Huber threshold of the reprojection term, in sigmas
    accel_m_s2: float = 4.0            # typical joint acceleration (smoothness), m/s^2
    huber_accel: float = 3.0           # Huber threshold of the smoothness term, in sigmas
    body_scale_sigma: float = 0.08     # prior on the climber's size relative to the given height
    free_body_scale: bool = True       # estimate the size; only meaningful when the wall's scale is not
                                       # itself taken from the body prior (given wall, known distance)
    mono_sigma_m: tuple[float, float, float] = (0.08, 0.08, 0.08)  # monocular 3D, camera x, y, z
    still_m: float = 0.004             # frame-to-frame motion of a contact joint
    penetration_m: float = 0.01        # sigma of the one-sided "not behind the wall" term
    contact_speed: float = 0.12        # m/s: slower than this (smoothed) = holding still
    contact_min_s: float = 0.25        # shortest contact
    contact_max_wall_m: float = 0.60   # stage-1 distance of a contact joint from the wall (if known)
    max_gap_s: float = 0.5             # longer gaps of a joint (or frame) stay NaN in the output
    max_iterations: int = 12           # Levenberg-Marquardt iterations per stage (the cost settles in ~5)


@dataclass(frozen=True)
class LiftResult:
    """Lifted joints.

    keypoints:  (T, 21, 3) float32 metres in the cameras' world frame, NaN = missing.
    confidence: (T, 21) float32 in [0, 1]: the 2D confidence where observed, lower where filled, 0 if NaN.
    contacts:   (T, 4) bool, limb holding still (EFFECTOR_LIMBS order: left_hand, right_hand, left_foot,
                right_foot).
    report:     numbers for the log: iterations, costs, reprojection RMS px, bone-length RMS m, body scale,
                estimated height, contact fraction, seconds.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    contacts: np.ndarray
    report: dict = field(default_factory=dict)


# -------------------------------------------------------------------------------------------- the problem
class _Problem:
    """Residuals and sparse Jacobian of the lifting problem; variables x = [X.ravel() (T*21*3), log s]."""

    def __init__(self, kp2d, conf, K, R, t, fps, height_m, wall, mono, opts: LiftOptions, image_diag: float):
        self.T = len(kp2d)
        self.nx = self.T * NUM_JOINTS * 3
        self.n = self.nx + 1
        self.K = np.broadcast_to(K, (self.T, 3, 3))
        self.R, self.t = R, t
        self.opts = opts
        sigma_px = opts.sigma_px or 0.0025 * image_diag
        ok = np.isfinite(kp2d).all(-1) & (conf >= opts.min_confidence)
        self.obs_t, self.obs_j = np.nonzero(ok)
        self.obs_uv = kp2d[ok].astype(np.float64)
        self.obs_w = np.sqrt(np.clip(conf[ok], 0, 1)) / sigma_px
        self.pairs, self.lengths, bone_sig = bone_prior(height_m)
        self.bone_w = 1.0 / bone_sig
        self.acc_sigma = opts.accel_m_s2 / fps**2
        self.wall = wall
        self.mono = None
        if mono is not None:
            mok = np.isfinite(mono).all(-1)
            mt, mj = np.nonzero(mok)
            scale = _mono_scale(mono, self.pairs, self.lengths)
            self.mono = (mt, mj, mono[mok].astype(np.float64) * scale, 1.0 / np.asarray(opts.mono_sigma_m))
        # Every iteration needs the same per-row cameras: gathered once here.
        self._obs_cams = (self.R[self.obs_t], self.K[self.obs_t], self.t[self.obs_t])
        if self.mono is not None:
            Rm = self.R[mt]
            Rw = Rm * self.mono[3][None, :, None]                      # row i scaled by 1/sigma_i
            self._mono_cams = (Rm, Rw, sum(Rw[:, k, :, None] * Rw[:, k, None, :] for k in range(3)))
        self._projected: tuple | None = None   # (X, _project(X)) of the last projection (see _project)
        self.contact_terms: tuple | None = None
        self._band: _Band | None = None    # the normal matrix's band, reused (normal_equations)
        self.scale_sigma = 1e-4            # body scale pinned until contacts anchor the depth (set_contacts)

    def var(self, tt, jj):
        return (np.asarray(tt) * NUM_JOINTS + np.asarray(jj)) * 3

    def set_contacts(self, contacts: np.ndarray) -> None:
        """contacts (T, 4) bool -> still and wall terms for the limbs' contact joints."""
        st, sj, wt, wj, woff, wsig = [], [], [], [], [], []
        for li, joints in enumerate(_CONTACT_JOINTS):
            c = contacts[:, li]
            both = np.flatnonzero(c[:-1] & c[1:])
            on = np.flatnonzero(c)
            for j, off, sig in joints:
                st.append(both), sj.append(np.full(len(both), j))
                wt.append(on), wj.append(np.full(len(on), j)), woff.append(np.full(len(on), off))
                wsig.append(np.full(len(on), sig))
        cat = lambda xs, dt=np.int64: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
        self.contact_terms = (cat(st), cat(sj), cat(wt), cat(wj), cat(woff, float), cat(wsig, float))
        # every (frame, joint) at most once per term: normal_equations adds them with plain fancy indexing
        for tt, jj in ((self.contact_terms[0], self.contact_terms[1]), (self.contact_terms[2], self.contact_terms[3])):
            assert len(np.unique(tt * NUM_JOINTS + jj)) == len(tt), "a contact joint appears twice in one frame"
        # A free body scale is only observable when contacts tie the body to a known wall; elsewhere
        # shrinking the body toward the camera makes every metric term cheaper (a degenerate optimum).
        anchored = (self.opts.free_body_scale and self.wall is not None and contacts.any(0).sum() >= 2
                    and contacts.mean() > 0.2)
        self.scale_sigma = self.opts.body_scale_sigma if anchored else 1e-4

    # ---------------------------------------------------------------------------------------------------
    def residuals(self, x: np.ndarray, jac: bool):
        """Every term's residuals stacked: r (m,), Huber k per row (inf = plain least squares), the norm of
        each row's group (a 2D reprojection error, a 3D acceleration: robust weights act on the group's norm,
        so the loss does not depend on how the world axes are oriented) and, with `jac`, the sparse
        Jacobian (m, n): the reference `normal_equations` is tested against (the solver does not build it)."""
        X = x[:self.nx].reshape(self.T, NUM_JOINTS, 3)
        log_s = x[self.nx]
        blocks = [self._reprojection(X, jac), self._bones(X, log_s, jac)]
        if self.T >= 3:
            blocks.append(self._smoothness(X, jac))
        if self.mono is not None:
            blocks.append(self._mono_shape(X, jac))
        if self.wall is not None:
            dist = (X - self.wall[1]) @ self.wall[0]                      # (T, J) signed distance to the wall
            blocks.append(self._behind_wall(dist, jac))
            if self.contact_terms is not None:
                blocks.append(self._contacts_on_wall(dist, jac))
        if self.contact_terms is not None:
            blocks.append(self._contacts_still(X, jac))
        blocks.append(_Block(np.array([log_s / self.scale_sigma]), None,
                             (np.array([0]), np.array([self.nx]), np.array([1.0 / self.scale_sigma])) if jac else None))
        r_all = np.concatenate([b.r for b in blocks])
        k_all = np.concatenate([np.full(len(b.r), np.inf if b.huber is None else b.huber) for b in blocks])
        a_all = np.concatenate([np.repeat(np.linalg.norm(b.r.reshape(-1, b.group), axis=1), b.group) for b in blocks])
        if not jac:
            return r_all, k_all, a_all, None
        import scipy.sparse as sp

        rows, cols, vals, off = [], [], [], 0
        for b in blocks:
            rr, cc, vv = b.jac
            rows.append(rr + off), cols.append(cc), vals.append(vv)
            off += len(b.r)
        Jm = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(off, self.n))
        return r_all, k_all, a_all, Jm

    def normal_equations(self, x: np.ndarray, r: np.ndarray, w: np.ndarray) -> "_Normal":
        """The IRLS-weighted normal equations J^T W J, J^T W r of `residuals(x)` (rows weighted by `w`),
        assembled term by term straight into the banded layout `_banded_solve` factorises: every joint's
        3x3 blocks within a frame (reprojection, bones, monocular shape, wall), the same-coordinate couplings
        of a joint across +-1 and +-2 frames (smoothness, contacts) and the body-scale column. No sparse
        Jacobian, no sparse product: what `residuals(x, jac=True)` would give, up to floating-point
        summation order."""
        T, J = self.T, NUM_JOINTS
        X = x[:self.nx].reshape(T, J, 3)
        log_s = x[self.nx]
        if self._band is None:                        # one band for every assembly: its pages stay mapped
            self._band = _Band(T)
        band = self._band
        band.ab[...] = 0.0                            # blocks between two joints go straight into the band
        # (T, J, ...) views of joint-major arrays: one joint's frames are contiguous (the bones add per joint)
        Dj = np.zeros((J, T, 3, 3)).transpose(1, 0, 2, 3)   # each joint's own 3x3 block
        diag = np.zeros((T, J, 3))                    # extra diagonal (smoothness, contacts)
        off1 = np.zeros((max(T - 1, 0), J, 3))        # A[(t, j, c), (t+1, j, c)]
        off2 = np.zeros((max(T - 2, 0), J, 3))        # A[(t, j, c), (t+2, j, c)]
        g = np.zeros((J, T, 3)).transpose(1, 0, 2)
        cs = np.zeros((J, T, 3)).transpose(1, 0, 2)   # A[(t, j, c), log s]
        at = 0

        def take(n):
            nonlocal at
            sl = slice(at, at + n)
            at += n
            return r[sl], w[sl]

        # reprojection: rows (u, v) per observation, one weight per pair
        tt, jj = self.obs_t, self.obs_j
        Ju, Jv = self._reprojection_jac(X)
        rr, ww = take(2 * len(tt))
        wg = ww[0::2]
        Dj[tt, jj] += wg[:, None, None] * (Ju[:, :, None] * Ju[:, None, :] + Jv[:, :, None] * Jv[:, None, :])
        g[tt, jj] += (wg * rr[0::2])[:, None] * Ju + (wg * rr[1::2])[:, None] * Jv
        # bones: (T, B) rows, worked on bone-major (B, T, ...) so that each bone's frames are contiguous
        a, b = self.pairs[:, 0], self.pairs[:, 1]
        Xj = X.transpose(1, 0, 2)
        d = Xj[a] - Xj[b]
        ln = np.linalg.norm(d, axis=-1)
        s = np.exp(log_s)
        unit = d / np.maximum(ln, 1e-9)[..., None] * self.bone_w[:, None, None]
        rr, ww = take(T * len(a))
        rr, ww = rr.reshape(T, -1), ww.reshape(T, -1)
        js = -s * self.lengths * self.bone_w                           # d r / d log s per bone
        wb = ww.T
        uu = wb[..., None, None] * (unit[..., :, None] * unit[..., None, :])
        gu = (wb * rr.T)[..., None] * unit
        cu = (wb * js[:, None])[..., None] * unit
        for i, (ja, jb) in enumerate(zip(a, b)):
            Dj[:, ja] += uu[i]
            Dj[:, jb] += uu[i]
            band.block(min(ja, jb), max(ja, jb))[...] -= uu[i]       # uu is symmetric
            g[:, ja] += gu[i]
            g[:, jb] -= gu[i]
            cs[:, ja] += cu[i]
            cs[:, jb] -= cu[i]
        d_s = float(np.sum(ww * js**2))
        g_s = float(np.sum(ww * js * rr))
        # smoothness: 3 rows per (t, j) acceleration, coefficients (1, -2, 1) over frames t, t+1, t+2
        if T >= 3:
            rr, ww = take(3 * (T - 2) * J)
            q = ww.reshape(T - 2, J, 3) / self.acc_sigma**2
            diag[:-2] += q
            diag[1:-1] += 4 * q
            diag[2:] += q
            off1[:-1] -= 2 * q
            off1[1:] -= 2 * q
            off2 += q
            h = (ww * rr).reshape(T - 2, J, 3) / self.acc_sigma
            g[:-2] += h
            g[1:-1] -= 2 * h
            g[2:] += h
        # monocular shape: 3 rows per (t, j), coefficients 1 on j and -1/2 on each hip
        if self.mono is not None:
            mt, mj = self.mono[:2]
            rr, ww = take(3 * len(mt))
            _, Rw, RwtRw = self._mono_cams
            wg = ww[0::3]
            G = np.zeros((J, T, 3, 3)).transpose(1, 0, 2, 3)   # joint-major like Dj
            G[mt, mj] = wg[:, None, None] * RwtRw
            H = np.zeros((T, J, 3))
            H[mt, mj] = np.einsum("mki,mk->mi", Rw, (wg[:, None] * rr.reshape(-1, 3)))
            S = 0.25 * G.sum(1)
            Dj += G
            for hip in (L_HIP, R_HIP):         # A[(j, x), (hip, y)] = A[(hip, x), (j, y)] = -G[j, x, y] / 2
                Dj[:, hip] -= G[:, hip]
                band.before(hip)[...] -= 0.5 * G[:, :hip]
                band.after(hip)[...] -= 0.5 * G[:, hip + 1:]
            Dj[:, L_HIP] += S
            Dj[:, R_HIP] += S
            band.block(min(L_HIP, R_HIP), max(L_HIP, R_HIP))[...] += S
            Hs = 0.5 * H.sum(1)
            g[:, L_HIP] -= Hs
            g[:, R_HIP] -= Hs
            g += H
        if self.wall is not None:
            nrm = self.wall[0]
            nn = np.outer(nrm, nrm)
            dist = (X - self.wall[1]) @ nrm
            # behind the wall: one row per (t, j), Jacobian n / sigma where behind
            rr, ww = take(T * J)
            bw = np.where(dist < 0, ww.reshape(T, J), 0.0) / self.opts.penetration_m
            Dj += (bw / self.opts.penetration_m)[..., None, None] * nn
            g += (bw * rr.reshape(T, J))[..., None] * nrm
            if self.contact_terms is not None:
                _, _, wt, wj, _, wsig = self.contact_terms
                rr, ww = take(len(wt))
                Dj[wt, wj] += (ww / wsig**2)[:, None, None] * nn          # (wt, wj) pairs are unique
                g[wt, wj] += (ww * rr / wsig)[:, None] * nrm
        if self.contact_terms is not None:
            st, sj = self.contact_terms[:2]
            rr, ww = take(3 * len(st))
            q = np.repeat(ww[0::3, None], 3, 1) / self.opts.still_m**2
            diag[st, sj] += q                          # (st, sj) pairs are unique (set_contacts)
            diag[st + 1, sj] += q
            off1[st, sj] += -q
            h = (ww * rr).reshape(-1, 3) / self.opts.still_m
            g[st + 1, sj] += h
            g[st, sj] += -h
        rr, ww = take(1)
        d_s += float(ww[0]) / self.scale_sigma**2
        g_s += float(ww[0] * rr[0]) / self.scale_sigma
        assert at == len(r), "normal_equations walked a different set of residual rows than residuals()"
        band.add_own_blocks(Dj)
        band.add_couplings(diag.ravel(), off1.ravel(), off2.ravel())
        return _Normal(band.ab, band.u, cs.ravel(), d_s, np.concatenate([g.ravel(), [g_s]]), band.scratch)

    def _xyz_cols(self, tt, jj) -> np.ndarray:
        """(m, 3) variable columns of the x, y, z of joints jj at frames tt."""
        return self.var(tt, jj)[:, None] + np.arange(3)

    def _reprojection(self, X: np.ndarray, jac: bool) -> "_Block":
        """Observed 2D keypoints against the projected joints, in sigma units (pairs u, v)."""
        tt, jj = self.obs_t, self.obs_j
        _, Kt, zs, xn, yn, w = self._project(X)
        u = Kt[:, 0, 0] * xn + Kt[:, 0, 1] * yn + Kt[:, 0, 2]
        v = Kt[:, 1, 1] * yn + Kt[:, 1, 2]
        r = np.stack([(u - self.obs_uv[:, 0]) * w, (v - self.obs_uv[:, 1]) * w], 1).ravel()
        entry = None
        if jac:
            Ju, Jv = self._reprojection_jac(X)
            rows = np.repeat(np.arange(2 * len(tt)), 3)
            cols = self._xyz_cols(tt, jj).repeat(2, axis=0).ravel()
            entry = (rows, cols, np.stack([Ju, Jv], 1).ravel())
        return _Block(r, self.opts.huber_px, entry, 2)

    def _project(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        """The observed joints in each observation's camera: (R, K, depth zs (1 behind the camera), normalised
        xn, yn, weight w: the observation's, 0 behind the camera), shared by the residuals and their rows."""
        last = self._projected
        if last is not None and np.array_equal(last[0], X):   # the solver's next step starts where the
            return last[1]                                     # last accepted cost was evaluated
        tt, jj = self.obs_t, self.obs_j
        Rt, Kt, tv = self._obs_cams
        pc = np.einsum("mij,mj->mi", Rt, X[tt, jj]) + tv
        z = pc[:, 2]
        front = z > 0.05
        zs = np.where(front, z, 1.0)
        out = Rt, Kt, zs, pc[:, 0] / zs, pc[:, 1] / zs, self.obs_w * front
        self._projected = (X.copy(), out)
        return out

    def _reprojection_jac(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows d u / d X, d v / d X (m, 3) of the reprojection residuals (sigma units)."""
        Rt, Kt, zs, xn, yn, w = self._project(X)
        dxn = np.stack([1 / zs, np.zeros_like(zs), -xn / zs], 1)       # d xn / d pc
        dyn = np.stack([np.zeros_like(zs), 1 / zs, -yn / zs], 1)
        du = Kt[:, 0, 0, None] * dxn + Kt[:, 0, 1, None] * dyn
        dv = Kt[:, 1, 1, None] * dyn
        Ju = sum(du[:, k, None] * Rt[:, k] for k in range(3)) * w[:, None]
        Jv = sum(dv[:, k, None] * Rt[:, k] for k in range(3)) * w[:, None]
        return Ju, Jv

    def _bones(self, X: np.ndarray, log_s: float, jac: bool) -> "_Block":
        """Bone lengths against the prior's, times the body scale exp(log_s)."""
        T = self.T
        a, b = self.pairs[:, 0], self.pairs[:, 1]
        d = X[:, a] - X[:, b]                                           # (T, B, 3)
        ln = np.linalg.norm(d, axis=-1)
        s = np.exp(log_s)
        r = ((ln - s * self.lengths) * self.bone_w).ravel()
        entry = None
        if jac:
            unit = d / np.maximum(ln, 1e-9)[..., None] * self.bone_w[:, None]
            nb = len(a)
            tix = np.repeat(np.arange(T), nb)
            rows = np.arange(T * nb)
            u3 = unit.reshape(-1, 3)
            rows3 = np.repeat(rows, 3)
            cols = np.concatenate([self._xyz_cols(tix, np.tile(a, T)).ravel(),
                                   self._xyz_cols(tix, np.tile(b, T)).ravel(), np.full(T * nb, self.nx)])
            vals = np.concatenate([u3.ravel(), -u3.ravel(), np.tile(-s * self.lengths * self.bone_w, T)])
            entry = (np.concatenate([rows3, rows3, rows]), cols, vals)
        return _Block(r, None, entry)

    def _smoothness(self, X: np.ndarray, jac: bool) -> "_Block":
        """Second differences (accelerations) of every joint, in sigma units."""
        r = ((X[:-2] - 2 * X[1:-1] + X[2:]) / self.acc_sigma).ravel()
        entry = None
        if jac:
            m = r.size
            base = np.arange(m)                                         # index into (T-2, J, 3)
            cols = np.concatenate([base, base + NUM_JOINTS * 3, base + 2 * NUM_JOINTS * 3])
            vals = np.concatenate([np.full(m, 1.0), np.full(m, -2.0), np.full(m, 1.0)]) / self.acc_sigma
            entry = (np.tile(base, 3), cols, vals)
        return _Block(r, self.opts.huber_accel, entry, 3)

    def _mono_shape(self, X: np.ndarray, jac: bool) -> "_Block":
        """The monocular 3D pose (hip-centred, camera axes) against the joints seen from that camera."""
        mt, mj, M, inv_sig = self.mono
        Rm, Rw, _ = self._mono_cams
        rel = X[mt, mj] - 0.5 * (X[mt, L_HIP] + X[mt, R_HIP])
        r = ((np.einsum("mij,mj->mi", Rm, rel) - M) * inv_sig).ravel()
        entry = None
        if jac:
            rows = np.repeat(np.arange(3 * len(mt)), 3)
            cols_j, cols_l, cols_r = (self._xyz_cols(mt, j)[:, None, :].repeat(3, 1).ravel()
                                      for j in (mj, L_HIP, R_HIP))
            entry = (np.concatenate([rows, rows, rows]), np.concatenate([cols_j, cols_l, cols_r]),
                     np.concatenate([Rw.ravel(), -0.5 * Rw.ravel(), -0.5 * Rw.ravel()]))
        return _Block(r, 2.0, entry, 3)

    def _behind_wall(self, dist: np.ndarray, jac: bool) -> "_Block":
        """Nothing behind the wall plane."""
        behind = dist < 0
        r = np.where(behind, dist, 0.0).ravel() / self.opts.penetration_m
        entry = None
        if jac:
            idx = np.flatnonzero(behind.ravel())
            entry = (np.repeat(idx, 3), (idx[:, None] * 3 + np.arange(3)).ravel(),
                     np.tile(self.wall[0] / self.opts.penetration_m, len(idx)))
        return _Block(r, None, entry)

    def _contacts_on_wall(self, dist: np.ndarray, jac: bool) -> "_Block":
        """Contact joints at their offset from the wall."""
        _, _, wt, wj, woff, wsig = self.contact_terms
        r = (dist[wt, wj] - woff) / wsig
        entry = None
        if jac:
            entry = (np.repeat(np.arange(len(wt)), 3), self._xyz_cols(wt, wj).ravel(),
                     (self.wall[0][None, :] / wsig[:, None]).ravel())
        return _Block(r, None, entry)

    def _contacts_still(self, X: np.ndarray, jac: bool) -> "_Block":
        """Contact joints hold still from one frame to the next."""
        st, sj = self.contact_terms[:2]
        r = ((X[st + 1, sj] - X[st, sj]) / self.opts.still_m).ravel()
        entry = None
        if jac:
            m = len(st)
            rows = np.arange(3 * m)
            c0, c1 = self._xyz_cols(st, sj).ravel(), self._xyz_cols(st + 1, sj).ravel()
            entry = (np.concatenate([rows, rows]), np.concatenate([c1, c0]),
                     np.concatenate([np.full(3 * m, 1.0), np.full(3 * m, -1.0)]) / self.opts.still_m)
        return _Block(r, 3.0, entry, 3)


@dataclass(frozen=True)
class _Block:
    """One term of the lifting problem: residuals r (m,), its Huber k (None: plain least squares), the
    Jacobian entries (rows local to the block, columns, values) or None, and the rows per robust group."""

    r: np.ndarray
    huber: float | None
    jac: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    group: int = 1


def _huber_cost(r: np.ndarray, k: np.ndarray, a: np.ndarray) -> float:
    """Sum over residual groups of Huber(|group|), spread over the group's rows by their share r^2/|group|^2."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(a > 0, r**2 / a**2, 0.0)
    return float(np.sum(share * np.where(a <= k, 0.5 * a**2, k * (a - 0.5 * k))))


class _Band:
    """The joints' block of the lifting normal matrix in LAPACK upper banded storage `ab` (u + 1, nx), Fortran
    order (A[i, j], i <= j, at ab[u + i - j, j]; u = two frames of joint coordinates), with in-place views of
    the within-frame 3x3 blocks between joints: the terms add their blocks straight into the band."""

    def __init__(self, T: int):
        m = 3 * NUM_JOINTS
        self.T, self.m = T, m
        self.u = m - 1 if T == 1 else min(2, T - 1) * m
        self.ab = np.zeros((self.u + 1, T * m), order="F")
        self._flat = self.ab.T.reshape(-1)           # a view: one column after the other
        self.scratch: dict = {}                      # the solves' factors (`banded.solve_banded_spd`'s `work`)

    def _view(self, ja: int, jb: int, shape: tuple, joint_step: int) -> np.ndarray:
        """In-place view of A[(t, ja + k, x), (t, jb + k', y)] with (t, [k,] x, y) axes: the element of
        column c = t m + 3 jb + y, row 3 ja + x - 3 jb - y below the diagonal sits at c (u + 1) + u + row."""
        u1, it = self.u + 1, self._flat.itemsize
        start = 3 * jb * u1 + self.u + 3 * (ja - jb)
        strides = (self.m * u1 * it,) + ((joint_step * it,) if joint_step else ()) + (it, self.u * it)
        return np.lib.stride_tricks.as_strided(self._flat[start:], shape, strides)

    def block(self, ja: int, jb: int) -> np.ndarray:
        """(T, 3, 3) view of A[(t, ja, x), (t, jb, y)], ja < jb."""
        assert ja < jb
        return self._view(ja, jb, (self.T, 3, 3), 0)

    def before(self, j: int) -> np.ndarray:
        """(T, j, 3, 3) view of A[(t, k, x), (t, j, y)] for the joints k < j."""
        return self._view(0, j, (self.T, j, 3, 3), 3)

    def after(self, j: int) -> np.ndarray:
        """(T, J - 1 - j, 3, 3) view of A[(t, j, x), (t, k, y)] for the joints k > j."""
        return self._view(j, j + 1, (self.T, NUM_JOINTS - 1 - j, 3, 3), 3 * self.u)

    def add_own_blocks(self, Dj: np.ndarray) -> None:
        """Add each joint's own 3x3 block, Dj (T, J, 3, 3) (its upper triangle: the band holds no more)."""
        per_frame = self.ab.T.reshape(self.T, self.m, self.u + 1)    # (frame, column, band row)
        for y in range(3):                                           # columns 3 j + y of every joint j
            per_frame[:, y::3, self.u - y:] += Dj[:, :, :y + 1, y]

    def add_couplings(self, diag: np.ndarray, off1: np.ndarray, off2: np.ndarray) -> None:
        """Add to the diagonal and set the couplings of each joint coordinate with itself one (off1) and two
        (off2) frames later (both outside every within-frame block)."""
        m, u = self.m, self.u
        self.ab[u] += diag
        if self.T >= 2:
            self.ab[u - m, m:] = off1
        if self.T >= 3:
            self.ab[u - 2 * m, 2 * m:] = off2


@dataclass(frozen=True)
class _Normal:
    """The lifting normal equations A step = -g (`_Problem.normal_equations`): `ab` the joints' block of A in
    LAPACK upper banded storage (u + 1, nx), Fortran order;
    `scale_col` (nx,) and `scale_diag` the body-scale row of A; `g` (n,) the gradient J^T W r; `scratch` the
    arrays the band's solves reuse."""

    ab: np.ndarray
    u: int
    scale_col: np.ndarray
    scale_diag: float
    g: np.ndarray
    scratch: dict


def _banded_solve(A: _Normal, lam: float, pool: Executor | None = None) -> np.ndarray | None:
    """The step solving (A + lam diag(A)) step = -g for the lifting normal equations (n = nx + 1 unknowns),
    or None if that matrix is not positive definite.

    The first nx variables (joints ordered by frame) couple only within +-2 frames, so that block is banded
    and factorised by a banded Cholesky (on two cores with `pool`: `reconstruction.banded`); the last variable
    (body scale) couples to everything and is eliminated by a Schur complement (one banded solve with two
    right-hand sides). A is left as it is: a rejected step is solved again with more damping."""
    from reconstruction.banded import NotPositiveDefinite, solve_banded_spd

    d = A.ab[A.u]
    iso = np.repeat(d.reshape(-1, 3).mean(1), 3)      # same damping on x, y, z of a joint: rotation-invariant
    c = A.scale_col
    nx = len(c)
    try:
        y = solve_banded_spd(A.ab, np.column_stack([-A.g[:nx], c]), pool, diagonal=d + lam * iso + 1e-9,
                             work=A.scratch)
    except NotPositiveDefinite:
        return None
    y1, y2 = y[:, 0], y[:, 1]
    schur = A.scale_diag * (1.0 + lam) + 1e-9 - c @ y2
    ds = (-A.g[nx] - c @ y1) / schur
    return np.concatenate([y1 - y2 * ds, [ds]])


def _levenberg_marquardt(problem: _Problem, x: np.ndarray, max_iterations: int) -> tuple[np.ndarray, dict]:
    """Robust (IRLS Huber) Levenberg-Marquardt on the sparse problem.

    BLAS runs single-threaded here: OpenBLAS threads made the banded Cholesky 10-50x slower on a busy
    2-core machine (measured: 0.33 s vs 0.01 s per factorisation of 120 frames). With two cores to itself
    (`banded.available_cores`: not so in a worker of `--jobs 2` on two cores) the banded system is split in two
    halves factorised side by side instead (`reconstruction.banded`)."""
    from concurrent.futures import ThreadPoolExecutor

    import scipy.linalg  # noqa: F401  (load SciPy's OpenBLAS first: threadpoolctl limits loaded libraries only)
    from threadpoolctl import threadpool_limits

    from reconstruction.banded import available_cores

    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(1, thread_name_prefix="cruxlab-lift") as pool:
        return _lm_loop(problem, x, max_iterations, pool if available_cores() >= 2 else None)


def _lm_loop(problem: _Problem, x: np.ndarray, max_iterations: int, pool: Executor | None = None
             ) -> tuple[np.ndarray, dict]:
    r, k, a, _ = problem.residuals(x, jac=False)
    cost = _huber_cost(r, k, a)
    cost0, lam, it = cost, 1e-3, 0
    for it in range(1, max_iterations + 1):
        w = np.where(a <= k, 1.0, k / np.maximum(a, 1e-12))           # IRLS weights of the Huber loss
        improved = False
        A = problem.normal_equations(x, r, w)
        for attempt in range(8):
            step = _banded_solve(A, lam, pool)
            if step is not None:
                x_new = x + step
                r_new, k_new, a_new, _ = problem.residuals(x_new, jac=False)
                cost_new = _huber_cost(r_new, k_new, a_new)
                if np.isfinite(cost_new) and cost_new < cost:
                    improved = True
                    break
            lam *= 5.0
        if not improved:
            break
        rel = (cost - cost_new) / max(cost, 1e-12)
        x, cost = x_new, cost_new
        lam = max(lam / 3.0, 1e-7)
        r, k, a = r_new, k_new, a_new
        if rel < 1e-5 or np.linalg.norm(step[:problem.nx].reshape(-1, 3), axis=1).max() < 2e-5:
            break
    return x, {"iterations": it, "cost_initial": cost0, "cost_final": cost}


def _mono_scale(mono: np.ndarray, pairs: np.ndarray, lengths: np.ndarray) -> float:
    """Factor that brings the monocular skeleton's bone lengths to the prior's (median over bones/frames)."""
    ln = np.linalg.norm(mono[:, pairs[:, 0]] - mono[:, pairs[:, 1]], axis=-1)
    ratio = lengths[None, :] / ln
    ratio = ratio[np.isfinite(ratio) & (ln > 1e-3)]
    return float(np.median(ratio)) if ratio.size else 1.0


# ---------------------------------------------------------------------------------------- initialisation
def _initial_guess(kp2d, ok, K, R, t, height_m, wall, mono) -> np.ndarray:
    """Initial X (T, J, 3): rays cut with the wall moved out by each joint's typical offset; or, without a
    wall, at the depth where the torso has its template size (plus monocular depth offsets if given)."""
    T = len(kp2d)
    C = camera_centers(R, t)
    rays = pixel_rays(np.where(ok[..., None], kp2d, np.nan), K, R)     # (T, J, 3)
    X = np.full((T, NUM_JOINTS, 3), np.nan)
    if wall is not None:
        nrm, p0 = wall
        # plane moved out by the joint's offset: n.(X - p0) = off  <=>  n.(X - (p0 + off n)) = 0
        lam = (((p0[None, None] + _INIT_WALL_OFFSET[None, :, None] * nrm) - C[:, None]) @ nrm) / (rays @ nrm)
        good = np.isfinite(lam) & (lam > 0.3)
        X = np.where(good[..., None], C[:, None] + lam[..., None] * rays, np.nan)
    missing = ~np.isfinite(X).all(-1) & ok
    if missing.any():
        # size-based depth: torso template lengths over their image lengths
        Kf = np.broadcast_to(K, (T, 3, 3))
        f = 0.5 * (Kf[:, 0, 0] + Kf[:, 1, 1])
        pairs, lengths, _ = bone_prior(height_m)
        torso = np.array([i for i, (a, b, c) in enumerate(_PRIOR_BONES) if c == "torso"])
        pix = np.linalg.norm(kp2d[:, pairs[torso, 0]] - kp2d[:, pairs[torso, 1]], axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cand = np.where(pix > 2, f[:, None] * lengths[torso] / pix, np.nan)
        seen = np.isfinite(cand).any(1)
        depth = np.full(T, np.nan)
        depth[seen] = np.nanmedian(cand[seen], axis=1)
        depth = fill_gaps(depth)
        if not np.isfinite(depth).any():
            depth = np.full(T, 4.0)
        cam_dirs = np.einsum("tij,tnj->tni", R, rays)                    # rays in camera axes
        zoff = np.zeros((T, NUM_JOINTS)) if mono is None else np.nan_to_num(mono[..., 2])
        lam = (depth[:, None] + zoff) / np.maximum(cam_dirs[..., 2], 1e-3)
        Xs = C[:, None] + lam[..., None] * rays
        X = np.where(missing[..., None], Xs, X)
    return X


def detect_contacts(keypoints: np.ndarray, fps: float, *, wall: tuple[np.ndarray, np.ndarray] | None = None,
                    camera_centers: np.ndarray | None = None, speed: float = 0.12, min_s: float = 0.25,
                    max_wall_m: float = 0.30) -> np.ndarray:
    """(T, 4) bool: each limb's end-effector (wrist/ankle) holds still (cruxlab.contacts.detect_contacts, the
    one contact detector, with the lift's own thresholds).

    Still = slower than `speed` m/s after smoothing over ~0.1 s, for at least `min_s` s (gaps under 0.1 s
    closed). Only the motion that depth errors of a single camera barely touch is counted: along the wall
    plane when `wall` (normal, point) is given (and the effector must stay within `max_wall_m` of it), else
    across the viewing ray from `camera_centers` (T, 3); else the full 3D motion. keypoints: (T, 21, 3) m."""
    from scipy.ndimage import gaussian_filter1d

    from cruxlab.contacts import ContactParams
    from cruxlab.contacts import detect_contacts as detect

    T = len(keypoints)
    if T < 2:
        return np.zeros((T, 4), bool)
    P = keypoints[:, list(_CONTACT_PROBE)]
    P = gaussian_filter1d(P, max(fps * 0.1, 0.5), axis=0, mode="nearest")
    vel = np.gradient(P, axis=0) * fps                              # (T, 4, 3)
    if wall is not None:
        vel = vel - (vel @ wall[0])[..., None] * wall[0]
    elif camera_centers is not None:
        ray = P - camera_centers[:, None]
        ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
        vel = vel - (vel * ray).sum(-1, keepdims=True) * ray
    vel = np.where(np.isnan(vel), 1e6, vel)                         # unknown counts as moving (and far) here
    P = np.where(np.isnan(P), 1e6, P)
    params = ContactParams(still_speed=speed, move_speed=speed, still_disp=np.inf, move_disp=np.inf,
                           hand_near=max_wall_m, foot_near=max_wall_m, hand_trust_s=np.inf, foot_trust_s=np.inf,
                           min_contact_s=max(min_s, 2 / fps), min_flight_s=0.1 + 0.5 / fps, adaptive=False,
                           near_per_frame=True, keep_edge_runs=False)
    return detect(P, fps, wall_normal=None if wall is None else wall[0], wall_point=None if wall is None else wall[1],
                  params=params, velocity=vel).contact


# ------------------------------------------------------------------------------------------------- lifting
def lift(keypoints2d: np.ndarray, confidence: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, *,
         fps: float, height_m: float = DEFAULT_HEIGHT_M, wall_normal: np.ndarray | None = None,
         wall_point: np.ndarray | None = None, keypoints3d: np.ndarray | None = None,
         image_size: tuple[int, int] | None = None, options: LiftOptions = LiftOptions()) -> LiftResult:
    """Metric 3D joints from 2D keypoints and cameras (see the module docstring for the method).

    keypoints2d: (T, 21, 2) pixels, NaN = missing;  confidence: (T, 21) in [0, 1].
    K: (3, 3) or (T, 3, 3) pixels;  R: (T, 3, 3), t: (T, 3) world -> camera (OpenCV), world in metres.
    wall_normal, wall_point: the wall plane in world coordinates (normal pointing out of the wall); None =
        no wall known (depth from body size only, no contact-on-wall terms).
    keypoints3d: optional (T, 21, 3) monocular 3D pose, metres, origin mid-hip, camera axes.
    image_size: (w, h) for the default pixel noise; None = from K's principal point.
    """
    import time

    t0 = time.perf_counter()
    kp2d = np.asarray(keypoints2d, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64))
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    T = len(kp2d)
    if kp2d.shape != (T, NUM_JOINTS, 2) or conf.shape != (T, NUM_JOINTS) or R.shape != (T, 3, 3) or t.shape != (T, 3):
        raise InputError(f"lift needs keypoints2d (T, 21, 2), confidence (T, 21), R (T, 3, 3), t (T, 3); got "
                         f"{kp2d.shape}, {conf.shape}, {R.shape}, {t.shape}")
    wall = None
    if wall_normal is not None:
        nrm = np.asarray(wall_normal, float)
        nrm = nrm / np.linalg.norm(nrm)
        wall = (nrm, np.zeros(3) if wall_point is None else np.asarray(wall_point, float))
    ok = np.isfinite(kp2d).all(-1) & (conf >= options.min_confidence)
    empty = LiftResult(np.full((T, NUM_JOINTS, 3), np.nan, np.float32), np.zeros((T, NUM_JOINTS), np.float32),
                       np.zeros((T, 4), bool), {"frames_with_skeleton": 0})
    frames_obs = np.flatnonzero(ok.sum(1) >= 4)
    if len(frames_obs) == 0:
        return empty
    # Work on the span between the first and last frame with a body in view.
    f0, f1 = int(frames_obs[0]), int(frames_obs[-1]) + 1
    sl = slice(f0, f1)
    Ks = K[sl] if K.ndim == 3 else K
    mono = None if keypoints3d is None else np.asarray(keypoints3d, float)[sl]
    if image_size is None:
        Kc = K if K.ndim == 2 else K[0]
        image_size = (2 * Kc[0, 2], 2 * Kc[1, 2])
    diag = float(np.hypot(*image_size))

    X0 = _initial_guess(kp2d[sl], ok[sl], Ks, R[sl], t[sl], height_m, wall, mono)
    known = np.isfinite(X0).all(-1)
    X0 = fill_gaps(X0, known)
    # joints never seen: park them on the pelvis so the solver has finite numbers (they are NaN on output)
    pelvis = np.nanmean(X0[:, [L_HIP, R_HIP, L_SHOULDER, R_SHOULDER]], axis=1)
    X0 = np.where(np.isfinite(X0), X0, pelvis[:, None])
    problem = _Problem(kp2d[sl], conf[sl], Ks, R[sl], t[sl], fps, height_m, wall, mono, options, diag)
    x = np.concatenate([X0.ravel(), [0.0]])
    x, info1 = _levenberg_marquardt(problem, x, options.max_iterations)
    X1 = x[:problem.nx].reshape(-1, NUM_JOINTS, 3)
    contacts_s = detect_contacts(X1, fps, wall=wall, camera_centers=camera_centers(R[sl], t[sl]),
                                 speed=options.contact_speed, min_s=options.contact_min_s,
                                 max_wall_m=options.contact_max_wall_m)
    problem.set_contacts(contacts_s)
    x, info2 = _levenberg_marquardt(problem, x, options.max_iterations)
    X = x[:problem.nx].reshape(-1, NUM_JOINTS, 3)

    obs = ok[sl]
    valid = _kept(obs, int(round(options.max_gap_s * fps)))
    out = np.full((T, NUM_JOINTS, 3), np.nan, np.float32)
    out[sl] = np.where(valid[..., None], X, np.nan)
    c_out = np.zeros((T, NUM_JOINTS), np.float32)
    c_obs = np.where(obs, conf[sl], 0.3)
    c_out[sl] = np.where(valid, c_obs, 0.0)
    contacts = np.zeros((T, 4), bool)
    contacts[sl] = contacts_s
    report = {
        "frames": T, "frames_with_skeleton": int(np.isfinite(out).all(-1).any(-1).sum()),
        "iterations": info1["iterations"] + info2["iterations"],
        **_fit_quality(problem, x, height_m),
        "contact_fraction": float(contacts_s.mean()), "wall": wall is not None, "monocular_3d": mono is not None,
        "seconds": time.perf_counter() - t0,
    }
    log.info("lift: %s", report)
    return LiftResult(out, c_out, contacts, report)


def _kept(obs: np.ndarray, max_gap: int) -> np.ndarray:
    """(T, J) bool: which solved joints `lift` outputs, given where they were observed (`obs`, (T, J) bool).
    Dropped: joints never seen, gaps longer than `max_gap` frames (half that before the first / after the
    last sighting, where the solver extrapolates), and stretches of frames without a body (< 4 joints seen)
    longer than `max_gap`."""
    valid = np.repeat(obs.any(0, keepdims=True), len(obs), axis=0)
    for j in np.flatnonzero(obs.any(0)):
        for a, e in runs(~obs[:, j]):
            at_end = a == 0 or e == len(obs) - 1
            if e - a + 1 > (max_gap // 2 if at_end else max_gap):
                valid[a:e + 1, j] = False
    for a, e in runs(obs.sum(1) < 4):
        if e - a + 1 > max_gap:
            valid[a:e + 1] = False
    return valid


def _fit_quality(problem: _Problem, x: np.ndarray, height_m: float) -> dict:
    """The solution's quality numbers for the lift report: reprojection error (px) of the observations,
    bone-length RMS (m) against the scaled template, the body scale and, when the scale was free, the
    height it implies."""
    X = x[:problem.nx].reshape(-1, NUM_JOINTS, 3)
    scale = float(np.exp(x[problem.nx]))
    r, _, _, _ = problem.residuals(x, jac=False)
    reproj_px = r[:2 * len(problem.obs_t)].reshape(-1, 2) / problem.obs_w[:, None]
    bone_len = np.linalg.norm(X[:, problem.pairs[:, 0]] - X[:, problem.pairs[:, 1]], axis=-1)
    nan = float("nan")
    return {
        "reprojection_median_px": float(np.median(np.linalg.norm(reproj_px, axis=-1))) if len(reproj_px) else nan,
        "reprojection_rms_px": float(np.sqrt(np.mean(np.sum(reproj_px**2, -1)))) if len(reproj_px) else nan,
        "bone_length_rms_m": float(np.sqrt(np.mean((bone_len - scale * problem.lengths) ** 2))),
        "body_scale": scale,
        "height_estimate_m": scale * height_m if problem.scale_sigma > 1e-3 else None,
    }


# --------------------------------------------------------------------------------------- VIEW.npz files
VIEW_REQUIRED = ("keypoints2d", "joint_names", "confidence", "K", "R", "t", "image_size", "fps")


@dataclass(frozen=True)
class View:
    """A lifting problem read from VIEW.npz (see `load_view`).

    keypoints2d (T, 21, 2) px canonical order, NaN = missing; confidence (T, 21); K (3, 3); R (T, 3, 3),
    t (T, 3) world -> camera with world = wall frame in metres; image_size (w, h); fps; wall_normal /
    wall_point (3,) (default: the vertical wall z = 0); climber_height_m (default 1.70)."""

    keypoints2d: np.ndarray
    confidence: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]
    fps: float
    wall_normal: np.ndarray
    wall_point: np.ndarray
    climber_height_m: float


def load_view(path: str | Path) -> View:
    """Read and validate a VIEW.npz; raise `InputError` naming the file, the problem and the fix."""
    from cruxlab.npz import read_npz
    from cruxlab.skeleton import canonical_order, plane_vectors

    path = Path(path)

    def fail(problem: str) -> InputError:
        return InputError(f"{path}: {problem}")

    arrays = read_npz(path, VIEW_REQUIRED, "a VIEW file (optional: wall_normal, wall_point, climber_height_m)",
                      optional=("wall_normal", "wall_point", "climber_height_m"))
    for k in ("keypoints2d", "confidence", "K", "R", "t", "image_size", "fps"):
        if not np.issubdtype(arrays[k].dtype, np.number):
            raise fail(f"{k} must be numeric, got dtype {arrays[k].dtype}")
    kp, conf = arrays["keypoints2d"].astype(np.float64), arrays["confidence"].astype(np.float64)
    if kp.ndim != 3 or kp.shape[2] != 2:
        raise fail(f"keypoints2d must have shape (T, J, 2) pixels, got {kp.shape}")
    T, J = kp.shape[:2]
    if T == 0:
        raise fail("keypoints2d has zero frames")
    order = canonical_order(arrays["joint_names"], J, fail)
    if conf.shape != (T, J):
        raise fail(f"confidence must have shape (T, J) = {(T, J)}, got {conf.shape}")
    if np.isinf(kp).any():
        raise fail("keypoints2d contains infinite values; use NaN for missing joints")
    K, R, tv = _view_cameras(arrays, T, fail)
    size = arrays["image_size"].reshape(-1)
    if size.shape != (2,) or not np.isfinite(size).all() or (size <= 0).any():
        raise fail(f"image_size must be (w, h) > 0 pixels, got {arrays['image_size'].tolist()}")
    fps = np.asarray(arrays["fps"], dtype=np.float64).reshape(-1)
    if fps.size != 1 or not np.isfinite(fps[0]) or fps[0] <= 0:
        raise fail(f"fps must be one number > 0, got {arrays['fps'].tolist()}")
    extras = plane_vectors(arrays, fail)
    if "wall_normal" in extras:
        nn = np.linalg.norm(extras["wall_normal"])
        if nn < 1e-9:
            raise fail("wall_normal must not be the zero vector")
        extras["wall_normal"] = extras["wall_normal"] / nn
    height = _view_height(arrays, fail)
    kp21 = np.full((T, NUM_JOINTS, 2), np.nan)
    c21 = np.zeros((T, NUM_JOINTS))
    kp21[:, order] = kp
    c21[:, order] = np.nan_to_num(conf)
    c21[~np.isfinite(kp21).all(-1)] = 0.0
    if not (c21 > 0).any():
        raise fail("no keypoint is present (all NaN or zero confidence); there is nothing to lift")
    return View(kp21, c21, K, R, tv, (int(size[0]), int(size[1])), float(fps[0]),
                extras.get("wall_normal", np.array([0.0, 0.0, 1.0])), extras.get("wall_point", np.zeros(3)),
                height)


def _view_cameras(arrays: dict, T: int, fail) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K (3, 3), R (T, 3, 3), t (T, 3) of a VIEW file, checked: a pinhole K, one finite world->camera
    rotation and translation per frame. `fail(problem)` builds the error."""
    K = arrays["K"].astype(np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0 or abs(K[2, 2] - 1) > 1e-6:
        raise fail(f"K must be a finite (3, 3) pinhole matrix [[fx,0,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0, "
                   f"got {K.tolist() if K.size == 9 else K.shape}")
    R, tv = arrays["R"].astype(np.float64), arrays["t"].astype(np.float64)
    if R.shape != (T, 3, 3):
        raise fail(f"R must have shape (T, 3, 3) = {(T, 3, 3)} (one world->camera rotation per frame), got {R.shape}")
    if tv.shape != (T, 3):
        raise fail(f"t must have shape (T, 3) = {(T, 3)}, got {tv.shape}")
    bad_cam = ~(np.isfinite(R).all((1, 2)) & np.isfinite(tv).all(1))
    if bad_cam.any():
        raise fail(f"cameras of {int(bad_cam.sum())} frame(s) contain NaN/inf (first: frame "
                   f"{int(np.flatnonzero(bad_cam)[0])}); interpolate or drop those frames before lifting")
    not_rot = ~is_rotation(R, atol=1e-4)
    if not_rot.any():
        f = int(np.flatnonzero(not_rot)[0])
        raise fail(f"R of {int(not_rot.sum())} frame(s) is not a rotation (first: frame {f}, det "
                   f"{np.linalg.det(R[f]):.4f}); R must be orthonormal with det +1 (world->camera, OpenCV)")
    return K, R, tv


def _view_height(arrays: dict, fail) -> float:
    """The VIEW file's climber_height_m (metres, within HEIGHT_RANGE_M), DEFAULT_HEIGHT_M when it has none."""
    if "climber_height_m" not in arrays:
        return DEFAULT_HEIGHT_M
    height = float(np.asarray(arrays["climber_height_m"]).reshape(-1)[0])
    lo, hi = HEIGHT_RANGE_M
    if not (np.isfinite(height) and lo <= height <= hi):
        raise fail(f"climber_height_m must be a height in metres between {lo:g} and {hi:g}, got {height}")
    return height


def lift_view(view: View, options: LiftOptions = LiftOptions()) -> tuple[Skeleton, LiftResult]:
    """Lift a VIEW into the skeleton interchange form (same world frame as the cameras)."""
    res = lift(view.keypoints2d, view.confidence, view.K, view.R, view.t, fps=view.fps,
               height_m=view.climber_height_m, wall_normal=view.wall_normal, wall_point=view.wall_point,
               image_size=view.image_size, options=options)
    skel = Skeleton(keypoints=res.keypoints, fps=view.fps, confidence=res.confidence,
                    wall_normal=view.wall_normal, wall_point=view.wall_point)
    return skel, res
