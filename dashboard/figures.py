"""Pure drawing for the dashboard: plotly figures and RGB images built from arrays and DataFrames.

Nothing here touches the database or Streamlit; pages fetch through `dashboard.data` and hand the results
in. Coordinates are the wall frame (metres: x along the wall, y up, z out of the wall toward the viewer).
In 3D plots the wall's y (up) is plotly's z axis, and plotly's y axis shows the wall's z reversed, so the
view is a proper rotation of the wall frame (not a mirror image) with the viewer behind the climber.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cruxlab.draw import EFFECTOR_COLORS, hex_rgb, project, wall_background, wall_view_camera
from cruxlab.joints import LIMB_TITLES, LIMBS
from cruxlab.labels import LABEL_COLORS

#: Lanes of the move timeline, top to bottom.
LANES: tuple[str, ...] = LIMBS
_FONT = dict(family="Inter, Segoe UI, sans-serif", size=12)
#: `st.plotly_chart(..., config=STATIC)`: a chart to read, without Plotly's toolbar.
STATIC = {"displayModeBar": False}


# ------------------------------------------------------------------------------------------------ bounds
def scene_bounds(keypoints: np.ndarray, wall_xyz: np.ndarray | None = None, margin: float = 0.3) -> np.ndarray:
    """(2, 3) lower/upper corner of everything worth showing: all frames of the skeleton plus the central 98 %
    of the wall points (outliers from SfM would otherwise shrink the climber), with a margin in metres."""
    pts = keypoints.reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = (pts.min(axis=0), pts.max(axis=0)) if len(pts) else (np.zeros(3), np.ones(3))
    if wall_xyz is not None and len(wall_xyz):
        w = wall_xyz[np.isfinite(wall_xyz).all(axis=1)]
        if len(w):
            lo = np.minimum(lo, np.percentile(w, 1, axis=0))
            hi = np.maximum(hi, np.percentile(w, 99, axis=0))
    return np.stack([lo - margin, hi + margin])


# ---------------------------------------------------------------------------------------------- 3D view
def timeline_figure(
    moves: pd.DataFrame, n_frames: int, fps: float, *, frame: int | None = None,
    selected_move: int | None = None, height: int = 250,
) -> go.Figure:
    """One lane per limb, one bar per current move coloured by label; opacity and hover show the model's
    confidence; corrected moves carry a pencil mark, confirmed ones a tick. Every bar's customdata is its move_id.
    moves: rows of moves_current/move_state (deleted rows are skipped)."""
    fig = go.Figure()
    if "deleted" in moves:
        moves = moves[~moves["deleted"].astype(bool)]
    for label, grp in moves.groupby("label", sort=False):
        start = grp["start_frame"].to_numpy() / fps
        dur = (grp["end_frame"].to_numpy() - grp["start_frame"].to_numpy() + 1) / fps
        conf = grp["confidence"].to_numpy(dtype=float)
        col = "corrected" if "corrected" in grp else "edited"  # corrected: differs from the model, net of undos
        edited = grp[col].to_numpy(dtype=bool) if col in grp else np.zeros(len(grp), bool)
        confirmed = grp["confirmed"].to_numpy(dtype=bool) if "confirmed" in grp else np.zeros(len(grp), bool)
        sel = grp["move_id"].to_numpy() == selected_move
        fig.add_trace(go.Bar(
            orientation="h", base=start, x=dur, y=[LIMB_TITLES.get(limb, limb) for limb in grp["limb"]],
            name=label,
            marker=dict(  # confidence as opacity; the selected move outlined
                color=[_with_alpha(LABEL_COLORS.get(label, "#888888"), 0.35 + 0.65 * c) for c in conf],
                line=dict(color=np.where(sel, "#111", "rgba(0,0,0,0.25)").tolist(),
                          width=np.where(sel, 3, 1).tolist())),
            text=[("✎ " if e else "✓ " if c else "") + label for e, c in zip(edited, confirmed)],
            textposition="inside", insidetextanchor="middle",
            textfont=dict(color="white", size=11),
            # plain lists: the browser's click event hands customdata back to Python as it was sent
            customdata=np.stack([grp["move_id"].to_numpy(), grp["start_frame"].to_numpy(),
                                 grp["end_frame"].to_numpy(), conf, edited.astype(int)], axis=1).tolist(),
            selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=1.0)),
            hovertemplate=("<b>%{fullData.name}</b> · %{y}<br>frames %{customdata[1]}–%{customdata[2]}"
                           " (%{x:.2f} s)<br>confidence %{customdata[3]:.2f}<extra></extra>"),
        ))
    duration = n_frames / fps
    if frame is not None:
        t = frame / fps
        fig.add_vline(x=t, line=dict(color="#d62728", width=2))
    fig.update_layout(
        barmode="overlay", height=height, margin=dict(l=8, r=8, t=28, b=30), font=_FONT,
        xaxis=dict(title=None, range=[0, duration], ticksuffix=" s", showgrid=True, gridcolor="#eee"),
        yaxis=dict(categoryorder="array", categoryarray=[LIMB_TITLES[x] for x in reversed(LANES)],
                   range=[-0.5, len(LANES) - 0.5], fixedrange=True),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, title=None, font=dict(size=11)),
        plot_bgcolor="white", bargap=0.25, dragmode="pan", clickmode="event+select",
    )
    return fig


def _with_alpha(hex_color: str, alpha: float) -> str:
    r, g, b = hex_rgb(hex_color)
    return f"rgba({r},{g},{b},{alpha:.2f})"


def angles_figure(
    angles: np.ndarray, names: Sequence[str], fps: float, first: int, *,
    move: tuple[int, int] | None = None, frame: int | None = None, label: str | None = None, height: int = 300,
) -> go.Figure:
    """Joint angles (degrees, 180 = straight) over a window of frames. angles: (N, A) for frames
    first..first+N-1; names: A angle names like 'left_knee'; move: (start, end) frames shaded."""
    t = (first + np.arange(len(angles))) / fps
    fig = go.Figure()
    palette = {"knee": "#54A24B", "hip": "#B279A2", "elbow": "#4C78A8", "shoulder": "#E45756"}
    for i, name in enumerate(names):
        side, joint = name.split("_", 1)
        fig.add_trace(go.Scatter(
            x=t, y=angles[:, i], mode="lines", name=name.replace("_", " "), legendgroup=joint,
            line=dict(color=palette.get(joint, "#888"), width=2, dash="solid" if side == "left" else "dot"),
            hovertemplate="%{fullData.name}: %{y:.0f}°<extra></extra>",
        ))
    if move is not None:
        fig.add_vrect(x0=move[0] / fps, x1=(move[1] + 1) / fps, fillcolor=LABEL_COLORS.get(label or "", "#999"),
                      opacity=0.15, line_width=0, annotation_text=label, annotation_position="top left")
    if frame is not None and first <= frame < first + len(angles):
        fig.add_vline(x=frame / fps, line=dict(color="#d62728", width=2))
    fig.update_layout(
        height=height, margin=dict(l=8, r=8, t=10, b=30), font=_FONT, hovermode="x unified",
        xaxis=dict(ticksuffix=" s"), yaxis=dict(title="angle (°)", range=[0, 185]), plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, font=dict(size=11)),
    )
    return fig


# ---------------------------------------------------------------------------------------------- images
@dataclass(frozen=True)
class WallView:
    """A virtual camera behind the climber looking at the wall (cruxlab.draw.wall_view_camera, framing
    the whole attempt) and the wall with its 0.5 m grid as that camera sees it. K, R, t: OpenCV pinhole,
    world (wall frame) -> camera; size: (w, h) pixels; background: (h, w, 3) RGB."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]
    background: np.ndarray


def wall_view(skeleton, height_px: int = 640, wall_xyz: np.ndarray | None = None,
              wall_rgb: np.ndarray | None = None) -> WallView:
    """The rendered view for attempts without a usable video: built once per attempt, drawn on per frame."""
    import cv2

    K, R, t, size = wall_view_camera(skeleton, height_px)
    img = wall_background(skeleton, K, R, t, size)
    if wall_xyz is not None and len(wall_xyz):
        uv = project(wall_xyz.astype(np.float64), K, R, t)
        ok = np.isfinite(uv).all(axis=1)
        cols = wall_rgb[ok] if wall_rgb is not None else np.full((int(ok.sum()), 3), 150, np.uint8)
        for (u, v), c in zip(uv[ok].round().astype(int), cols):
            cv2.circle(img, (int(u), int(v)), 4 if np.ptp(c.astype(int)) > 30 else 1, tuple(int(x) for x in c), -1,
                       cv2.LINE_AA)
    return WallView(K, R, t, size, img)


def label_counts_figure(per_label: pd.DataFrame, height: int = 320) -> go.Figure:
    """Bar chart of how many moves each label has (rows of moves_per_label)."""
    df = per_label.sort_values("n_moves", ascending=True)
    fig = go.Figure(go.Bar(
        x=df["n_moves"], y=df["label"], orientation="h",
        marker_color=[LABEL_COLORS.get(x, "#888") for x in df["label"]],
        customdata=np.stack([df["n_attempts"], df["mean_confidence"]], axis=1),
        hovertemplate="%{y}: %{x} moves in %{customdata[0]} attempts<br>mean confidence "
                      "%{customdata[1]:.2f}<extra></extra>",
    ))
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=10, b=30), font=_FONT, plot_bgcolor="white",
                      xaxis=dict(title="moves", gridcolor="#eee"))
    return fig


def duration_box_figure(quantiles: pd.DataFrame, height: int = 320) -> go.Figure:
    """Move duration distribution per label from precomputed quantiles (label, min_s, q1_s, median_s, q3_s,
    max_s): one box per label, whiskers at min/max."""
    from cruxlab.labels import MOVE_LABELS

    fig = go.Figure()
    order = {label: i for i, label in enumerate(MOVE_LABELS)}
    for row in sorted(quantiles.itertuples(), key=lambda r: order.get(r.label, len(order))):
        fig.add_trace(go.Box(
            name=row.label, x=[row.label], q1=[row.q1_s], median=[row.median_s], q3=[row.q3_s], lowerfence=[row.min_s],
            upperfence=[row.max_s], marker_color=LABEL_COLORS.get(row.label, "#888"), boxpoints=False,
            orientation="v", showlegend=False,
        ))
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=10, b=30), font=_FONT, plot_bgcolor="white",
                      yaxis=dict(title="duration (s)", gridcolor="#eee"))
    return fig


def heatmap_figure(df: pd.DataFrame, rows: str, cols: str, value: str, *, fmt: str = ".0f",
                   colorscale: str = "Blues", height: int | None = None) -> go.Figure:
    """A rows x cols heatmap of `value` (e.g. climber x label move counts), labels in LABEL order."""
    from cruxlab.labels import MOVE_LABELS

    table = df.pivot_table(index=rows, columns=cols, values=value, aggfunc="sum")
    order = [c for c in MOVE_LABELS if c in table.columns] + [c for c in table.columns if c not in MOVE_LABELS]
    table = table[order]
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(), x=list(table.columns), y=list(table.index), colorscale=colorscale,
        texttemplate=f"%{{z:{fmt}}}", hovertemplate=f"%{{y}} · %{{x}}: %{{z:{fmt}}}<extra></extra>", showscale=False,
    ))
    fig.update_layout(height=height or max(220, 40 + 28 * len(table)), margin=dict(l=8, r=8, t=10, b=30),
                      font=_FONT, yaxis=dict(autorange="reversed"))
    return fig


def trajectories_figure(attempts: Sequence[tuple[str, dict[str, np.ndarray], float]], bounds: np.ndarray, *,
                        wall_xyz: np.ndarray | None = None, title: str = "", height: int = 520) -> go.Figure:
    """Front view of the wall (x along, y up; metres) with the hand and foot paths of one or more attempts in
    one wall frame: per attempt (name, {limb: (T, 3) path}, fps); the first solid, the next dashed/dotted,
    each limb in its colour."""
    fig = go.Figure()
    if wall_xyz is not None and len(wall_xyz):
        fig.add_trace(go.Scattergl(x=wall_xyz[:, 0], y=wall_xyz[:, 1], mode="markers", hoverinfo="skip",
                                   marker=dict(size=3, color="#c9c0ad"), showlegend=False))
    for k, (name, tracks, fps) in enumerate(attempts):
        dash = ("solid", "dash", "dot")[k % 3]
        for limb, path in tracks.items():
            t = np.arange(len(path)) / fps
            step = max(1, len(path) // 400)
            fig.add_trace(go.Scatter(
                x=path[::step, 0], y=path[::step, 1], mode="lines", name=f"{name} · {LIMB_TITLES[limb]}",
                line=dict(color=EFFECTOR_COLORS[limb], width=2.5 if k == 0 else 2, dash=dash),
                opacity=1.0 if k == 0 else 0.8, customdata=t[::step],
                hovertemplate=f"{name} · {LIMB_TITLES[limb]} at %{{customdata:.1f}} s: x %{{x:.2f}} m, "
                              "y %{y:.2f} m<extra></extra>",
            ))
    (x0, y0, _), (x1, y1, _) = bounds
    fig.update_layout(
        title=dict(text=title, x=0, font=dict(size=14)), height=height, font=_FONT, plot_bgcolor="#f7f3ea",
        margin=dict(l=8, r=8, t=36 if title else 10, b=30), legend=dict(orientation="h", y=-0.1),
        xaxis=dict(range=[x0, x1], title="x along wall (m)", gridcolor="#e6dfcf", zeroline=False),
        yaxis=dict(range=[y0, y1], title="y up (m)", scaleanchor="x", gridcolor="#e6dfcf", zeroline=False),
    )
    return fig


def duration_comparison_figure(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str,
                               height: int = 320) -> go.Figure:
    """Mean move duration per label for two attempts side by side (rows of move_details: label, duration_s)."""
    from cruxlab.labels import MOVE_LABELS

    labels = [x for x in MOVE_LABELS if x in set(a["label"]) | set(b["label"])]
    fig = go.Figure()
    for df, name, color in ((a, name_a, "#4C78A8"), (b, name_b, "#F58518")):
        g = df.groupby("label")["duration_s"].agg(["mean", "count"]).reindex(labels)
        fig.add_trace(go.Bar(x=labels, y=g["mean"], name=name, marker_color=color,
                             customdata=g["count"].fillna(0).astype(int),
                             hovertemplate="%{x}: %{y:.2f} s mean over %{customdata} moves<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group", height=height, margin=dict(l=8, r=8, t=10, b=30), font=_FONT,
                      plot_bgcolor="white", yaxis=dict(title="mean duration (s)", gridcolor="#eee"),
                      legend=dict(orientation="h", y=1.08))
    return fig


# ------------------------------------------------------------------------------------ climber progress
#: Marker colour and symbol of an attempt's outcome (None = nobody said).
OUTCOME_STYLE = {"top": ("#2e9d57", "star"), "fall": ("#d9534f", "x"), "unknown": ("#9a9a9a", "circle"),
                 None: ("#9a9a9a", "circle-open")}


def _outcome_style(outcomes: pd.Series) -> tuple[list[str], list[str]]:
    styles = [OUTCOME_STYLE.get(o if isinstance(o, str) else None, OUTCOME_STYLE[None]) for o in outcomes]
    return [c for c, _ in styles], [s for _, s in styles]


def attempts_over_time_figure(attempts: pd.DataFrame, height: int | None = None) -> go.Figure:
    """One row per problem, one marker per attempt at its date: colour and shape = outcome (star = top,
    x = fall), size = number of moves. attempts: rows of dashboard.data.attempts()."""
    df = attempts.assign(problem=attempts["problem"].fillna("(no problem)")).sort_values("date")
    colors, symbols = _outcome_style(df["outcome"])
    grade = df["grade"].where(df["grade"].notna(), "")
    fig = go.Figure(go.Scatter(
        x=df["date"], y=df["problem"], mode="markers",
        marker=dict(color=colors, symbol=symbols, size=10 + 2.5 * np.sqrt(df["n_moves"].clip(lower=0)),
                    line=dict(width=1, color="#555")),
        customdata=np.stack([df["attempt"], grade, df["outcome"].fillna("not set"), df["n_moves"],
                             df["duration_s"]], axis=1),
        hovertemplate="%{customdata[0]}<br>%{y} %{customdata[1]} · %{x|%d %b %Y %H:%M}<br>outcome "
                      "%{customdata[2]} · %{customdata[3]} moves in %{customdata[4]:.1f} s<extra></extra>",
        showlegend=False,
    ))
    for outcome, (color, symbol) in OUTCOME_STYLE.items():  # legend entries only
        if outcome is None or not (df["outcome"] == outcome).any():
            continue
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=outcome,
                                 marker=dict(color=color, symbol=symbol, size=10, line=dict(width=1, color="#555"))))
    n_rows = df["problem"].nunique()
    fig.update_layout(height=height or 120 + 40 * n_rows, margin=dict(l=8, r=8, t=10, b=30), font=_FONT,
                      plot_bgcolor="white", legend=dict(orientation="h", y=1.12),
                      xaxis=dict(gridcolor="#eee", title=None), yaxis=dict(gridcolor="#eee", title=None))
    return fig


def activity_figure(attempts: pd.DataFrame, height: int = 320) -> go.Figure:
    """Time on the wall per attempt (oldest left), split into moving (in a move that is not a held position)
    and still (hanging, resting, reading). attempts: rows with attempt, date, moving_s, still_s."""
    df = attempts.sort_values("date")
    x = df["date"].dt.strftime("%d %b") + " · " + df["attempt"]
    fig = go.Figure()
    for col, name, color in (("moving_s", "moving", "#4C78A8"), ("still_s", "still", "#c9c0ad")):
        fig.add_trace(go.Bar(x=x, y=df[col], name=name, marker_color=color,
                             hovertemplate="%{x}<br>" + name + " %{y:.1f} s<extra></extra>"))
    fig.update_layout(barmode="stack", height=height, margin=dict(l=8, r=8, t=10, b=30), font=_FONT,
                      plot_bgcolor="white", legend=dict(orientation="h", y=1.1),
                      yaxis=dict(title="seconds on the wall", gridcolor="#eee"), xaxis=dict(tickangle=-30))
    return fig


#: What the progress chart can plot per attempt: column -> axis title.
PROGRESS_MEASURES = {"moves_per_minute": "moves per minute", "duration_s": "seconds on the wall",
                     "n_moves": "moves", "moving_pct": "% of the time moving"}


def progress_figure(attempts: pd.DataFrame, measure: str = "moves_per_minute", height: int = 340) -> go.Figure:
    """One measure per attempt over time, one line per problem (attempts of the same problem joined in date
    order); markers show the outcome. attempts: rows of dashboard.data.attempts()."""
    if measure not in PROGRESS_MEASURES:
        raise ValueError(f"unknown measure {measure!r}; one of {list(PROGRESS_MEASURES)}")
    df = attempts.assign(
        problem=attempts["problem"].fillna("(no problem)"),
        moves_per_minute=attempts["n_moves"] * 60.0 / attempts["duration_s"],
        moving_pct=100.0 * attempts["moving_fraction"].fillna(0.0),
    ).sort_values("date")
    fig = go.Figure()
    palette = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#9D755D", "#EECA3B"]
    for i, (problem, grp) in enumerate(df.groupby("problem", sort=True)):
        colors, symbols = _outcome_style(grp["outcome"])
        fig.add_trace(go.Scatter(
            x=grp["date"], y=grp[measure], name=problem, mode="lines+markers",
            line=dict(color=palette[i % len(palette)], width=2),
            marker=dict(color=colors, symbol=symbols, size=11, line=dict(width=1, color="#555")),
            customdata=np.stack([grp["attempt"], grp["outcome"].fillna("not set")], axis=1),
            hovertemplate="%{customdata[0]} (%{customdata[1]})<br>%{x|%d %b %Y}: %{y:.1f}<extra>" + problem + "</extra>",
        ))
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=10, b=30), font=_FONT, plot_bgcolor="white",
                      legend=dict(orientation="h", y=1.12), xaxis=dict(gridcolor="#eee"),
                      yaxis=dict(title=PROGRESS_MEASURES[measure], gridcolor="#eee", rangemode="tozero"))
    return fig
