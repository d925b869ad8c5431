"""Lifting 2D keypoints + known cameras to metric wall-frame 3D joints (reconstruction.lift), on synthetic
views with known truth (reconstruction.synthetic), and the `cruxlab lift` command with its VIEW checks."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from cruxlab.errors import InputError
from cruxlab.joints import EFFECTOR_LIMBS, JOINT_NAMES, L_HIP, LIMB_EFFECTOR, R_HIP
from reconstruction.geometry import Similarity, umeyama
from reconstruction.lift import LiftResult, bone_prior, lift, load_view, template_pose
from reconstruction.synthetic import SyntheticView, make_view
from tests.conftest import run_cli

N_FRAMES = 150


@functools.lru_cache(maxsize=None)
def view(kind: str, noise: float, seed: int = 0, height_m: float = 1.70) -> SyntheticView:
    return make_view(kind, n_frames=N_FRAMES, noise_px=noise, dropout=0.05, seed=seed, height_m=height_m)


@functools.lru_cache(maxsize=None)
def lifted(kind: str, noise: float, seed: int = 0, mono: bool = False, height_m: float = 1.70) -> LiftResult:
    v = view(kind, noise, seed, height_m)
    return lift(v.keypoints2d, v.confidence, v.K, v.R, v.t, fps=v.fps, height_m=1.70,
                wall_normal=v.truth.wall_normal, wall_point=np.zeros(3),
                keypoints3d=v.keypoints3d_mono if mono else None, image_size=v.image_size)


def errors(X: np.ndarray, G: np.ndarray) -> tuple[float, float]:
    """(MPJPE, per-frame rigidly aligned MPJPE) in mm over the joints both have."""
    ok = np.isfinite(X).all(-1) & np.isfinite(G).all(-1)
    mpjpe = np.linalg.norm(X - G, axis=-1)[ok].mean()
    pa = [np.linalg.norm(umeyama(X[f][ok[f]], G[f][ok[f]], with_scale=False).apply(X[f][ok[f]]) - G[f][ok[f]],
                         axis=-1) for f in range(len(X)) if ok[f].sum() >= 4]
    return 1000 * mpjpe, 1000 * np.concatenate(pa).mean()


def contact_slide_mm(X: np.ndarray, contacts: np.ndarray) -> float:
    """Mean distance (mm) of a still end-effector from its own mean position over each true contact."""
    from cruxlab.intervals import runs
    from reconstruction.lift import _CONTACT_PROBE

    d = []
    for li, j in enumerate(_CONTACT_PROBE):
        for a, e in runs(contacts[:, li]):
            P = X[a:e + 1, j]
            P = P[np.isfinite(P).all(1)]
            if len(P) >= 3:
                d.append(np.linalg.norm(P - P.mean(0), axis=1))
    return 1000 * float(np.concatenate(d).mean())


# ------------------------------------------------------------------------------------------ accuracy
@pytest.mark.parametrize("kind", ["handheld", "tripod"])
@pytest.mark.parametrize("noise", [2.0, 8.0])
def test_lift_accuracy_on_synthetic_views(kind: str, noise: float) -> None:
    v = view(kind, noise)
    res = lifted(kind, noise)
    G = v.truth.keypoints
    mpjpe, pa = errors(res.keypoints, G)
    slide = contact_slide_mm(res.keypoints, v.truth.contacts)
    slide_truth = contact_slide_mm(G, v.truth.contacts)
    print(f"{kind} noise {noise} px: W-MPJPE {mpjpe:.1f} mm, aligned {pa:.1f} mm, contact slide {slide:.1f} mm "
          f"(truth {slide_truth:.1f}), {res.report['seconds']:.1f} s")
    assert v.report["dropped_fraction"] > 0.05            # the view really has dropouts
    assert mpjpe <= 100 and pa <= 60
    assert slide <= 10
    # every frame with a body in view gets a skeleton: dropouts are filled, not dropped
    assert res.report["frames_with_skeleton"] == N_FRAMES
    # contacts found where the synthetic climber holds still
    agree = (res.contacts == v.truth.contacts).mean()
    assert agree > 0.9, agree


def test_handheld_camera_really_moves_and_tripod_does_not() -> None:
    def travel(v) -> float:                    # largest distance of a camera centre from the first one, m
        centres = -np.einsum("tji,tj->ti", v.R, v.t)
        return float(np.linalg.norm(centres - centres[0], axis=1).max())

    assert travel(view("handheld", 2.0)) > 0.3
    assert travel(view("tripod", 2.0)) < 1e-9


def test_monocular_3d_cue_improves_depth() -> None:
    G = view("handheld", 8.0).truth.keypoints
    without, _ = errors(lifted("handheld", 8.0).keypoints, G)
    with_mono, _ = errors(lifted("handheld", 8.0, mono=True).keypoints, G)
    assert with_mono < without


def test_wrong_height_prior_is_corrected_by_the_wall() -> None:
    """A 1.85 m climber lifted with the 1.70 m default: contacts on the known wall reveal the size."""
    res = lifted("handheld", 4.0, seed=3, height_m=1.85)
    assert abs(res.report["height_estimate_m"] - 1.85) < 0.09, res.report["height_estimate_m"]
    mpjpe, _ = errors(res.keypoints, view("handheld", 4.0, 3, 1.85).truth.keypoints)
    assert mpjpe <= 100


def test_lift_follows_a_rigid_change_of_world_frame() -> None:
    """Moving the world (cameras, wall) by a rigid transform moves the lifted skeleton by the same one."""
    v = view("handheld", 4.0)
    base = lifted("handheld", 4.0)
    from scipy.spatial.transform import Rotation

    S = Similarity(1.0, Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix(), np.array([3.0, -1.0, 7.0]))
    R2, t2 = S.apply_cameras(v.R, v.t)
    res = lift(v.keypoints2d, v.confidence, v.K, R2, t2, fps=v.fps, wall_normal=S.apply_direction(v.truth.wall_normal),
               wall_point=S.apply(np.zeros(3)), image_size=v.image_size)
    back = S.inverse().apply(res.keypoints.astype(np.float64))
    assert np.nanmax(np.linalg.norm(back - base.keypoints, axis=-1)) < 0.01


def test_the_solves_use_a_second_core_only_when_one_is_free(monkeypatch) -> None:
    """Two cores to itself: each step's banded system is factorised in two halves side by side; a worker of a
    pool that keeps every core busy (`banded.share_cores`) solves on its own core. The same skeleton."""
    from reconstruction import banded

    v = view("handheld", 4.0)
    pools = []
    real = banded.solve_banded_spd

    def spy(ab, b, pool=None, diagonal=None, work=None):
        pools.append(pool)
        return real(ab, b, pool, diagonal, work)

    monkeypatch.setattr(banded, "solve_banded_spd", spy)
    run = functools.partial(lift, v.keypoints2d, v.confidence, v.K, v.R, v.t, fps=v.fps,
                            wall_normal=v.truth.wall_normal, wall_point=np.zeros(3), image_size=v.image_size)
    monkeypatch.setattr(banded, "_CORES", None)
    banded.share_cores(2)
    two = run()
    assert pools and all(p is not None for p in pools)
    pools.clear()
    banded.share_cores(1)
    assert banded.available_cores() == 1
    one = run()
    assert pools and all(p is None for p in pools)
    assert np.nanmax(np.abs(two.keypoints - one.keypoints)) < 1e-5
    assert (np.isnan(two.keypoints) == np.isnan(one.keypoints)).all()


def test_long_gaps_stay_missing_and_short_ones_are_filled() -> None:
    v = view("tripod", 4.0)
    kp, conf = v.keypoints2d.copy(), v.confidence.copy()
    kp[40:70] = np.nan                       # 1.2 s without any detection
    conf[40:70] = 0
    kp[100:104, 9] = np.nan                  # left wrist lost for 4 frames
    conf[100:104, 9] = 0
    res = lift(kp, conf, v.K, v.R, v.t, fps=v.fps, wall_normal=v.truth.wall_normal, image_size=v.image_size)
    assert np.isnan(res.keypoints[45:65]).all()
    assert (res.confidence[45:65] == 0).all()
    assert np.isfinite(res.keypoints[100:104, 9]).all()
    assert (res.confidence[100:104, 9] < 0.5).all()          # filled joints are marked less certain
    assert res.report["frames_with_skeleton"] == N_FRAMES - 30


def test_no_detections_give_an_empty_result() -> None:
    v = view("tripod", 2.0)
    res = lift(np.full_like(v.keypoints2d, np.nan), np.zeros_like(v.confidence), v.K, v.R, v.t, fps=v.fps)
    assert np.isnan(res.keypoints).all() and res.report["frames_with_skeleton"] == 0


def test_normal_equations_are_the_sparse_jacobians_normal_matrix() -> None:
    """The LM step's normal equations, assembled term by term into the band, equal J^T W J and J^T W r of the
    sparse Jacobian (every term active: monocular shape, joints behind the wall, contacts, robust weights)."""
    from reconstruction.lift import LiftOptions, _Problem

    v = make_view("handheld", n_frames=12, noise_px=4.0, dropout=0.1, seed=3)
    wall = (v.truth.wall_normal / np.linalg.norm(v.truth.wall_normal), np.zeros(3))
    def new_problem() -> _Problem:
        p = _Problem(v.keypoints2d, v.confidence, v.K, v.R, v.t, v.fps, 1.70, wall, v.keypoints3d_mono,
                     LiftOptions(), 1000.0)
        p.set_contacts(np.random.default_rng(0).random((12, 4)) < 0.5)
        return p

    problem = new_problem()
    rng = np.random.default_rng(1)
    X = np.nan_to_num(v.truth.keypoints) + rng.normal(0, 0.05, (12, 21, 3)) - 0.1 * wall[0]   # some behind
    x = np.concatenate([X.ravel(), [0.03]])
    r, k, a, Jm = problem.residuals(x, jac=True)
    w = np.where(a <= k, 1.0, k / np.maximum(a, 1e-12))
    assert (w < 1).sum() > 50 and len(problem.contact_terms[0]) > 0 and ((X - wall[1]) @ wall[0] < 0).any()
    A_ref = (Jm.T @ Jm.multiply(w[:, None]).tocsr()).toarray()
    N = problem.normal_equations(x, r, w)
    ab, u = N.ab, N.u
    nx = problem.nx
    A = np.zeros((nx, nx))
    for d in range(u + 1):
        A[np.arange(nx - d), np.arange(d, nx)] = ab[u - d, d:]
    assert np.abs(np.triu(A_ref[:nx, :nx], u + 1)).max() == 0        # nothing outside the band
    scale = np.abs(A_ref).max()
    np.testing.assert_allclose(A, np.triu(A_ref[:nx, :nx]), rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(N.scale_col, A_ref[:nx, nx], rtol=1e-12, atol=1e-12 * scale)
    assert N.scale_diag == pytest.approx(A_ref[nx, nx], rel=1e-12)
    np.testing.assert_allclose(N.g, Jm.T @ (w * r), rtol=0, atol=1e-12 * np.abs(Jm.T @ (w * r)).max())
    # the projection reused from the last residual evaluation is only ever that of the same joints
    ab_first, g_first = N.ab.copy(), N.g.copy()
    x2 = x + rng.normal(0, 0.01, len(x))
    assert np.array_equal(problem.residuals(x2, jac=False)[0], new_problem().residuals(x2, jac=False)[0])
    N = problem.normal_equations(x, r, w)
    assert np.array_equal(N.ab, ab_first) and np.array_equal(N.g, g_first)


def test_body_template_has_the_given_height_and_symmetric_bones() -> None:
    for h in (1.55, 1.90):
        tpl = template_pose(h)
        assert tpl[:, 1].min() == pytest.approx(0.0, abs=0.01)            # toes on the floor
        assert 0.9 * h < tpl[0, 1] < h                                     # nose below the top of the head
        pairs, lengths, _ = bone_prior(h)
        by_name = {(JOINT_NAMES[a], JOINT_NAMES[b]): n for (a, b), n in zip(pairs.tolist(), lengths)}
        mirror = lambda n: n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")  # noqa: E731
        mirrored = 0
        for (a, b), n in by_name.items():                                   # every bone as long as its mirror
            other = by_name.get((mirror(a), mirror(b)), by_name.get((mirror(b), mirror(a))))
            if other is not None:
                assert other == pytest.approx(n), (a, b)
                mirrored += 1
        assert mirrored >= 20
    # a taller climber has proportionally longer bones: the prior scales with the height it is given
    np.testing.assert_allclose(bone_prior(1.90)[1] / bone_prior(1.55)[1], 1.90 / 1.55)
    # the template faces the wall (-z): toes ahead of the ankles
    tpl = template_pose()
    assert (tpl[JOINT_NAMES.index("left_big_toe"), 2] < tpl[JOINT_NAMES.index("left_ankle"), 2])


def test_synthetic_climber_stays_on_its_holds_and_off_the_wall() -> None:
    t = view("tripod", 2.0).truth
    assert (t.keypoints @ t.wall_normal > -1e-6).all()                   # nothing behind the wall
    pelvis = 0.5 * (t.keypoints[:, L_HIP] + t.keypoints[:, R_HIP])
    assert np.ptp(pelvis[:, 1]) > 0.3                                      # the climber moves up
    assert contact_slide_mm(t.keypoints, t.contacts) < 1.0                # contacts are truly still
    assert 0.5 < t.contacts.mean() < 0.98
    speed = np.linalg.norm(np.diff(t.keypoints, axis=0), axis=-1)         # (T-1, 21) m per frame
    for li, limb in enumerate(EFFECTOR_LIMBS):                             # contacts are in EFFECTOR_LIMBS order
        j = LIMB_EFFECTOR[limb]
        held = t.contacts[1:, li] & t.contacts[:-1, li]
        assert speed[held, j].max() < 1e-6 < speed[~held, j].max(), limb


# ------------------------------------------------------------------------------------ cruxlab lift
def test_cli_lift_writes_a_skeleton_in_the_view_frame(tmp_path, artifacts) -> None:
    from cruxlab.skeleton import load_npz

    v = view("handheld", 4.0)
    path = v.save(tmp_path / "view.npz")
    out = tmp_path / "skeleton.npz"
    code, stdout, stderr = run_cli("lift", str(path), "--out", str(out))
    assert code == 0, stderr
    assert "150/150 frames with a skeleton" in stdout
    sk = load_npz(out)
    assert sk.n_frames == N_FRAMES and sk.fps == v.fps
    np.testing.assert_allclose(sk.normal, v.truth.wall_normal, atol=1e-9)
    mpjpe, _ = errors(sk.keypoints, v.truth.keypoints)
    assert mpjpe <= 100
    _draw(v, sk.keypoints, artifacts / "recon_lift_synthetic.png")


def _draw(v: SyntheticView, X: np.ndarray, path) -> None:
    """Front and side views of truth (grey) and lifted (colour) skeletons on a few frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cruxlab.joints import BONES

    frames = np.linspace(10, len(X) - 10, 4).astype(int)
    fig, axes = plt.subplots(2, len(frames), figsize=(3 * len(frames), 7))
    for c, f in enumerate(frames):
        for r, (ax_i, name) in enumerate(((0, "x (m)"), (2, "z (m), out of the wall"))):
            ax = axes[r, c]
            for a, b in BONES:
                ax.plot(v.truth.keypoints[f, [a, b], ax_i], v.truth.keypoints[f, [a, b], 1], color="0.6", lw=3)
                ax.plot(X[f, [a, b], ax_i], X[f, [a, b], 1], color="tab:orange", lw=1.5)
            if r == 1:
                ax.axvline(0, color="k", lw=1)
            ax.set_aspect("equal")
            ax.set_xlabel(name)
            ax.set_title(f"frame {f}" if r == 0 else "side view (wall at z=0)", fontsize=9)
    fig.suptitle(f"lift on a synthetic {v.kind} view, {v.noise_px:.0f} px noise: truth grey, lifted orange")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _save_view(tmp_path, **changes) -> str:
    v = view("tripod", 2.0)
    payload = dict(keypoints2d=v.keypoints2d, joint_names=np.array(JOINT_NAMES), confidence=v.confidence,
                   K=v.K, R=v.R, t=v.t, image_size=np.array(v.image_size), fps=np.float64(v.fps))
    for k, val in changes.items():
        if val is None:
            payload.pop(k)
        else:
            payload[k] = val
    p = tmp_path / "bad_view.npz"
    np.savez(p, **payload)
    return str(p)


@pytest.mark.parametrize("changes, message", [
    (dict(R=None), "missing key(s) ['R']"),
    (dict(t=np.zeros((5, 3))), "t must have shape (T, 3) = (150, 3)"),
    (dict(R=np.repeat(np.diag([1.0, 1.0, -1.0])[None], N_FRAMES, 0)), "is not a rotation"),
    (dict(R=np.repeat(2 * np.eye(3)[None], N_FRAMES, 0)), "is not a rotation"),
    (dict(t=np.where(np.arange(N_FRAMES)[:, None] == 7, np.nan, 0.0) + np.ones((N_FRAMES, 3))), "frame 7"),
    (dict(fps=np.float64(0)), "fps must be one number > 0"),
    (dict(fps=np.float64(-25)), "fps must be one number > 0"),
    (dict(K=np.eye(4)), "K must be a finite (3, 3) pinhole matrix"),
    (dict(confidence=np.ones((N_FRAMES, 3))), "confidence must have shape"),
    (dict(joint_names=np.array(["nose"] * 20 + ["elbow"])), "unknown joint name(s) ['elbow']"),
    (dict(keypoints2d=np.zeros((N_FRAMES, 21, 3))), "keypoints2d must have shape (T, J, 2)"),
    (dict(image_size=np.array([0, 10])), "image_size must be (w, h) > 0"),
])
def test_bad_view_files_are_refused_with_the_problem_named(tmp_path, changes, message) -> None:
    path = _save_view(tmp_path, **changes)
    with pytest.raises(InputError) as e:
        load_view(path)
    assert message in str(e.value) and "bad_view.npz" in str(e.value)
    out = tmp_path / "never.npz"
    code, _, stderr = run_cli("lift", path, "--out", str(out))
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_view_that_is_not_an_npz_is_refused(tmp_path) -> None:
    p = tmp_path / "view.npz"
    p.write_text("not a zip")
    with pytest.raises(InputError, match="not a readable .npz"):
        load_view(p)


def test_view_subset_of_joints_in_any_order_is_accepted(tmp_path) -> None:
    """A COCO-17 view in reversed order: joints are matched by name; absent heels/toes come out NaN."""
    v = view("tripod", 2.0)
    order = np.arange(17)[::-1]
    path = _save_view(tmp_path, keypoints2d=v.keypoints2d[:, order], confidence=v.confidence[:, order],
                      joint_names=np.array(JOINT_NAMES)[order])
    w = load_view(path)
    np.testing.assert_array_equal(w.keypoints2d[:, :17], v.keypoints2d[:, :17])
    assert np.isnan(w.keypoints2d[:, 17:]).all() and (w.confidence[:, 17:] == 0).all()
    np.testing.assert_allclose(w.wall_normal, [0, 0, 1])
    assert w.climber_height_m == 1.70
