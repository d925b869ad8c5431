"""Pictures of an attempt: skeleton snapshots on the wall, trajectories, the move timeline and the signals
the rules look at. matplotlib only (imported when a plot is made)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cruxlab.joints import BONES, EFFECTOR_LIMBS, LIMBS
from cruxlab.labels import LABEL_COLORS, Move
from cruxlab.skeleton import Skeleton
from moves.features import Features, compute_features


def _timeline(ax, moves: Sequence[Move], fps: float, title: str) -> None:
    lanes = list(LIMBS)
    for m in moves:
        y = lanes.index(m.limb)
        ax.barh(y, (m.end_frame - m.start_frame + 1) / fps, left=m.start_frame / fps, height=0.7,
                color=LABEL_COLORS.get(m.label, "#888888"), alpha=0.35 + 0.65 * float(m.confidence),
                edgecolor="black", linewidth=0.4)
    ax.set_yticks(range(len(lanes)), lanes, fontsize=7)
    ax.set_ylim(-0.5, len(lanes) - 0.5)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=9, loc="left")


def plot_attempt(
    skeleton: Skeleton,
    truth: Sequence[Move] | None = None,
    predicted: Sequence[Move] | None = None,
    features: Features | None = None,
    out: str | Path | None = None,
    title: str = "",
):
    """A one-page figure: wall view with skeleton snapshots and effector paths, side view, move timelines
    (truth and prediction), knee angles, pelvis height and effector speeds with contacts shaded.
    Saves a PNG when `out` is given; returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    f = features or compute_features(skeleton)
    kp = f.keypoints
    T, fps = f.n_frames, f.fps
    t = np.arange(T) / fps
    fig = plt.figure(figsize=(15, 10), constrained_layout=True)
    gs = fig.add_gridspec(5, 3, width_ratios=[1.1, 0.45, 2.4])
    ax_wall = fig.add_subplot(gs[:, 0])
    ax_side = fig.add_subplot(gs[:, 1], sharey=ax_wall)
    colors = {"left_hand": "#1f77b4", "right_hand": "#ff7f0e", "left_foot": "#2ca02c", "right_foot": "#d62728"}
    snaps = np.linspace(0, T - 1, 9).astype(int)
    for i, s in enumerate(snaps):
        alpha = 0.25 + 0.75 * i / (len(snaps) - 1)
        for a, b in BONES:
            if np.isfinite(kp[s, [a, b]]).all():
                ax_wall.plot(kp[s, [a, b], 0], kp[s, [a, b], 1], color="0.3", alpha=alpha, lw=1)
                ax_side.plot(kp[s, [a, b], 2], kp[s, [a, b], 1], color="0.3", alpha=alpha, lw=1)
    for k, limb in enumerate(EFFECTOR_LIMBS):
        ax_wall.plot(f.effectors[:, k, 0], f.effectors[:, k, 1], color=colors[limb], lw=0.8, label=limb)
        held = f.contact[:, k]
        ax_wall.scatter(f.effectors[held, k, 0], f.effectors[held, k, 1], s=2, color=colors[limb])
    ax_wall.plot(f.pelvis[:, 0], f.pelvis[:, 1], color="k", lw=1, ls="--", label="pelvis")
    ax_wall.set_aspect("equal")
    ax_wall.set_xlabel("x along the wall (m)")
    ax_wall.set_ylabel("y up (m)")
    ax_wall.legend(fontsize=7, loc="lower right")
    ax_wall.set_title("wall view (dots: on a hold)", fontsize=9, loc="left")
    ax_side.set_xlabel("z out of wall (m)")
    ax_side.set_title("side view", fontsize=9, loc="left")

    row = 0
    if truth is not None:
        _timeline(fig.add_subplot(gs[row, 2]), truth, fps, "moves: ground truth")
        row += 1
    if predicted is not None:
        _timeline(fig.add_subplot(gs[row, 2]), predicted, fps, "moves: detected")
        row += 1
    ax = fig.add_subplot(gs[row, 2])
    ax.plot(t, f.angle("left_knee"), label="left knee", color=colors["left_foot"])
    ax.plot(t, f.angle("right_knee"), label="right knee", color=colors["right_foot"])
    ax.axhline(140, color="0.5", lw=0.5, ls=":")
    ax.axhline(80, color="0.5", lw=0.5, ls=":")
    ax.set_ylabel("deg", fontsize=8)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("knee angles (flag > 140, rock-over start <= 80)", fontsize=9, loc="left")
    row += 1
    ax = fig.add_subplot(gs[row, 2])
    ax.plot(t, f.pelvis[:, 1], color="k", label="pelvis height")
    ax.plot(t, f.com[:, 1], color="0.5", label="centre of mass")
    ax.set_ylabel("m", fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    row += 1
    if row < 5:
        ax = fig.add_subplot(gs[row, 2])
        for k, limb in enumerate(EFFECTOR_LIMBS):
            ax.plot(t, f.speed[:, k] + 2.0 * k, color=colors[limb], lw=0.7)
            ax.fill_between(t, 2.0 * k, 2.0 * k + 1.5, where=f.contact[:, k], color=colors[limb], alpha=0.15)
        ax.set_yticks([2.0 * k for k in range(4)], EFFECTOR_LIMBS, fontsize=7)
        ax.set_xlabel("time (s)")
        ax.set_title("effector speed, shaded = on a hold", fontsize=9, loc="left")
    handles = [Patch(color=c, label=lbl) for lbl, c in LABEL_COLORS.items()]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, y=1.02, fontsize=11)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig
