"""Compare any two attempts (any climbers, any problems): both videos side by side on one clock, lined up on the
start, the first move or a chosen pair of moves; both skeletons in one wall frame (the player's 3D view, the
second climber moved onto the first); and a per-move timing table."""

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from cruxlab.joints import LIMB_EFFECTOR, LIMB_TITLES
from cruxlab.labels import LABEL_COLORS
from dashboard import components as ui
from dashboard import data
from dashboard import figures as fg
from dashboard.compare import line_up, pair_moves, pelvis_shift
from dashboard.player import TrackView, attempt_track, player

ss = st.session_state
st.html("<style>[data-testid='stMainBlockContainer']{padding-top:2.2rem}</style>")
df = data.attempts()
labels = ui.attempt_labels(df)
ids = list(labels)
if len(ids) < 2:
    st.info("Comparing needs two attempts; upload or analyse another one.", icon=":material/info:")
    st.stop()


def _from_url(param: str, fallback: int) -> int:
    try:
        value = int(st.query_params.get(param, ""))
    except ValueError:
        return fallback
    return value if value in labels else fallback


# defaults: the attempt being looked at, and the latest other attempt of the same problem (else the latest other)
current = ss.get("attempt_id") if ss.get("attempt_id") in labels else int(df.sort_values("date").iloc[-1]["attempt_id"])
problem = df.set_index("attempt_id").loc[current, "problem"]
others = df[df["attempt_id"] != current].sort_values("date", ascending=False)
same = others[others["problem"] == problem] if ui.present(problem) else others.iloc[:0]
ss.setdefault("compare_a", _from_url("a", current))
ss.setdefault("compare_b", _from_url("b", int((same if len(same) else others).iloc[0]["attempt_id"])))

st.subheader("Compare two attempts", anchor=False)
pick_a, pick_b = st.columns(2)
a_id = pick_a.selectbox("Attempt A", ids, format_func=labels.get, key="compare_a")
b_id = pick_b.selectbox("Attempt B", ids, format_func=labels.get, key="compare_b")
st.query_params.update({"a": str(a_id), "b": str(b_id)})
if a_id == b_id:
    st.info("Pick two different attempts.", icon=":material/info:")
    st.stop()

info_a, info_b = data.attempt_info(a_id), data.attempt_info(b_id)
moves_a, moves_b = data.move_details(a_id), data.move_details(b_id)
rows = df.set_index("attempt_id")

# ---------------------------------------------------------------------------------------- lining up
LINE_UP = {"start": "start of each attempt", "first": "first move", "move": "a pair of moves"}
c1, c2, c3 = st.columns([3, 4, 2], vertical_alignment="bottom")
mode = c1.segmented_control("Line up on", list(LINE_UP), format_func=LINE_UP.get, default="first",
                            key="compare_line_up") or "first"
t_a = t_b = 0.0
if mode == "first" and len(moves_a) and len(moves_b):
    t_a, t_b = float(moves_a["start_s"].min()), float(moves_b["start_s"].min())
if mode == "move":
    # the choices come from pairing on the attempts' own clocks, so they stay put when one is picked
    base = pair_moves(moves_a, moves_b)
    base = base[base["label_a"].notna() & base["label_b"].notna()]
    if base.empty:
        c2.caption("No move of A pairs with one of B.")
    else:
        def pair_title(k: int) -> str:
            r = base.loc[k]
            return (f"{r.label_a} ({LIMB_TITLES[r.limb_a]}) at {r.start_a:.1f} s ↔ {r.label_b} "
                    f"({LIMB_TITLES[r.limb_b]}) at {r.start_b:.1f} s")
        k = c2.selectbox("Pair", list(base.index), format_func=pair_title, key="compare_pair",
                         label_visibility="collapsed")
        t_a, t_b = float(base.loc[k, "start_a"]), float(base.loc[k, "start_b"])
pairs = pair_moves(moves_a, moves_b, t_a, t_b)
both = pairs[pairs["label_a"].notna() & pairs["label_b"].notna()]
together = c3.toggle("Same spot in 3D", value=True, key="compare_together",
                     help="Move B's skeleton so its pelvis is on A's at the lined-up moment (different videos have "
                          "their own wall origin); off: each where its own reconstruction put it")

# ---------------------------------------------------------------------------------------- the player
track_a, track_b = attempt_track(a_id), attempt_track(b_id)
shift = np.zeros(3)
if together:
    shift = pelvis_shift(track_a.keypoints3d, int(round(t_a * track_a.fps)), track_b.keypoints3d,
                         int(round(t_b * track_b.fps)))
    track_b = dataclasses.replace(track_b, keypoints3d=track_b.keypoints3d + shift,
                                  wall_xyz=track_b.wall_xyz + shift, wall_point=track_b.wall_point + shift)
offsets = line_up(t_a, t_b)


def title(tag: str, aid: int) -> str:
    r = rows.loc[aid]
    return f"{tag} · {r['attempt']} · {r['climber']} · {ui.problem_title(r['problem'], r['grade'])}"


player([TrackView(track_a, data.moves(a_id), offsets[0], title=title("A", a_id)),
        TrackView(track_b, data.moves(b_id), offsets[1], title=title("B", b_id))], key=f"compare_player_{a_id}_{b_id}",
       stage_height="clamp(220px, calc(100vh - 520px), 560px)")
lag = offsets[1] - offsets[0]
st.caption(f"One clock for both: A's {t_a:.1f} s and B's {t_b:.1f} s show together"
           + (f" (B starts {abs(lag):.1f} s {'later' if lag > 0 else 'earlier'})" if abs(lag) >= 0.05 else "")
           + ". 3D view: A in colour, B in green/purple"
           + (f", moved {np.linalg.norm(shift):.2f} m onto A" if together and np.any(shift) else "") + ".")

# ---------------------------------------------------------------------------------------- numbers
k = st.columns(2)
for col, aid, mv in ((k[0], a_id, moves_a), (k[1], b_id, moves_b)):
    r = rows.loc[aid]
    m = col.columns(4)
    m[0].metric("Duration", f"{r['duration_s']:.1f} s")
    m[1].metric("Moves", len(mv))
    m[2].metric("Moving", f"{100 * np.nan_to_num(r['moving_fraction']):.0f} %")
    m[3].metric("Outcome", r["outcome"] if ui.present(r["outcome"]) else "—")

st.markdown(f"**Move by move** · times from the lined-up moment; {len(both)} pair{'s' if len(both) != 1 else ''} "
            f"of moves, {int(pairs['same'].sum())} with the same label")
def _seconds(values: pd.Series, signed: bool = False) -> list[str]:
    return ["" if pd.isna(v) else (f"{v:+.2f} s" if signed else f"{v:.2f} s") for v in values]


def _move(labels: pd.Series, limbs: pd.Series) -> list[str]:
    return [f"{lab} · {LIMB_TITLES[limb]}" if ui.present(lab) else "—" for lab, limb in zip(labels, limbs)]


table = pd.DataFrame({
    "A": _move(pairs["label_a"], pairs["limb_a"]), "A start": _seconds(pairs["start_a"]),
    "A takes": _seconds(pairs["duration_a"]),
    "B": _move(pairs["label_b"], pairs["limb_b"]), "B start": _seconds(pairs["start_b"]),
    "B takes": _seconds(pairs["duration_b"]), "B − A": _seconds(pairs["delta_s"], signed=True),
})


def _shade(row: pd.Series) -> list[str]:
    """Label cells in their timeline colour; B's duration red when slower by >= 0.1 s, green when faster."""
    out = [""] * len(row)
    delta = pairs.loc[row.name, "delta_s"]
    for i, name in enumerate(row.index):
        if name in ("A", "B") and row[name] != "—":
            out[i] = f"background-color: {LABEL_COLORS.get(row[name].split(' · ')[0], '#dddddd')}33"
        if name == "B − A" and pd.notna(delta) and abs(delta) >= 0.1:
            out[i] = "color: #c0392b" if delta > 0 else "color: #1e8449"
    return out


right_aligned = st.column_config.TextColumn(alignment="right")
st.dataframe(table.style.apply(_shade, axis=1), hide_index=True, key="compare_table",
             height="auto" if len(table) <= 16 else 600,
             column_config={c: right_aligned for c in ("A start", "A takes", "B start", "B takes", "B − A")})

# ---------------------------------------------------------------------------------------- paths and labels
left, right = st.columns([3, 2])
with left:
    st.markdown("**Hand and foot paths on the wall** · A solid, B dashed" + (" (moved onto A)" if together else ""))
    limbs = st.pills("Limbs", list(LIMB_EFFECTOR), default=["left_hand", "right_hand"], selection_mode="multi",
                     format_func=LIMB_TITLES.get, key="compare_limbs", label_visibility="collapsed") or []
    paths = [(name, {lb: tr.keypoints3d[:, LIMB_EFFECTOR[lb]] for lb in limbs}, tr.fps)
             for name, tr in (("A", track_a), ("B", track_b))]
    bounds = fg.scene_bounds(np.concatenate([track_a.keypoints3d, track_b.keypoints3d]), None, margin=0.3)
    st.plotly_chart(fg.trajectories_figure(paths, bounds, wall_xyz=track_a.wall_xyz), key="compare_paths",
                    config={"displaylogo": False})
with right:
    st.markdown("**Mean duration per label**")
    st.plotly_chart(fg.duration_comparison_figure(moves_a, moves_b, "A", "B"), key="compare_durations",
                    config=fg.STATIC)

