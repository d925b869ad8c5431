"""Comparing two attempts: lining up in time, moving the second climber into the first one's wall frame, pairing
their moves (dashboard.compare), and the Compare page that sends both to the player (AppTest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cruxlab.joints import L_HIP, R_HIP
from dashboard.compare import line_up, pair_moves, pelvis_at, pelvis_shift
from db import connect, store
from test_dashboard_app import app, player_data, texts


def moves(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["label", "limb", "start_s", "duration_s"])


def test_line_up_makes_the_chosen_moments_coincide():
    oa, ob = line_up(1.0, 3.5)
    assert (oa, ob) == (2.5, 0.0)
    master = 3.5  # track i shows its own time = master - offset_i
    assert (master - oa, master - ob) == (1.0, 3.5)
    assert line_up(2.0, 2.0) == (0.0, 0.0)


def test_pelvis_shift_puts_b_on_a():
    kp_a = np.zeros((10, 21, 3))
    kp_a[:, [L_HIP, R_HIP]] = [[0.4, 1.0, 0.2], [0.6, 1.0, 0.2]]
    kp_b = kp_a + np.array([3.0, -0.5, 0.1])
    kp_b[4:, :] = np.nan                         # B's climber out of view from frame 4: nearest frame with hips
    assert np.allclose(pelvis_shift(kp_a, 2, kp_b, 8), [-3.0, 0.5, -0.1])
    assert np.allclose(pelvis_at(kp_b, 9), [3.5, 0.5, 0.3])
    assert np.allclose(pelvis_shift(kp_a, 0, np.full_like(kp_a, np.nan), 0), 0.0), "no pelvis: no shift"


def test_pair_moves_pairs_by_order_label_and_time():
    a = moves(("reach", "left_hand", 1.0, 0.8), ("foot-move", "right_foot", 2.0, 0.5),
              ("cross-over", "right_hand", 3.0, 0.9), ("match", "left_hand", 5.0, 0.4))
    # B: the same sequence 0.5 s later, slower cross-over, no foot move, an extra reach at the end
    b = moves(("reach", "left_hand", 1.5, 0.7), ("cross-over", "right_hand", 3.6, 1.3),
              ("match", "left_hand", 5.4, 0.4), ("reach", "right_hand", 6.5, 0.6))
    p = pair_moves(a, b, 1.0, 1.5)
    assert list(zip(p.label_a.fillna("-"), p.label_b.fillna("-"))) == [
        ("reach", "reach"), ("foot-move", "-"), ("cross-over", "cross-over"), ("match", "match"), ("-", "reach")]
    assert p.same.tolist() == [True, False, True, True, False]
    assert np.allclose(p.delta_s.to_numpy()[[0, 2, 3]], [-0.1, 0.4, 0.0]) and p.delta_s.isna().tolist() == [
        False, True, False, False, True], "B - A duration where both have the move"
    assert p.start_a.iloc[0] == 0.0 and p.start_b.iloc[0] == 0.0, "times from the lined-up moment"
    # a pair of different labels is still a pair when both sequences have one move there
    q = pair_moves(moves(("flag", "left_foot", 1.0, 1.0)), moves(("foot-move", "left_foot", 1.1, 0.5)))
    assert len(q) == 1 and not q.same.iloc[0]
    assert pair_moves(a.iloc[:0], b).label_b.tolist() == b.label.tolist()


# --------------------------------------------------------------------------------------- the page
def ids_of(db, climber_a: str, climber_b: str) -> tuple[int, int]:
    with connect(db, read_only=True) as con:
        df = store.list_attempts(con)
    a = df[df.climber == climber_a].iloc[0]
    b = df[(df.climber == climber_b) & (df.problem != a.problem)].iloc[0]   # another climber, another problem
    return int(a.attempt_id), int(b.attempt_id)


def test_compare_page_plays_any_two_attempts_lined_up(demo):
    from dashboard.compare import pair_moves as pair

    template, db = demo
    a, b = ids_of(db, "Janja", "Alex")
    with connect(db, read_only=True) as con:
        ma = con.execute("SELECT * FROM move_details WHERE attempt_id = ?", [a]).df()
        mb = con.execute("SELECT * FROM move_details WHERE attempt_id = ?", [b]).df()
        names = {a: store.attempt_info(con, a).name, b: store.attempt_info(con, b).name}
    at = app()
    at.session_state["compare_a"], at.session_state["compare_b"] = a, b
    at.switch_page("views/compare.py").run()
    assert not at.exception
    d = player_data(at)
    assert [t["name"] for t in d["tracks"]] == [names[a], names[b]] and not d["editable"]
    ta, tb = ma.start_s.min(), mb.start_s.min()          # default: line up on the first move
    assert [t["offset_s"] for t in d["tracks"]] == pytest.approx(list(line_up(ta, tb)))
    assert [len(t["moves"]) for t in d["tracks"]] == [len(ma), len(mb)]
    table = at.dataframe[0].value
    assert len(table) == len(pair(ma, mb, ta, tb))
    assert "A" in table.columns and "B − A" in table.columns
    assert "moved" in texts(at) and "onto A" in texts(at)

    # the hand paths in one wall frame: A as stored, B moved by the shift the page applied
    from test_dashboard_app import chart, template_skeleton, trace

    from cruxlab.joints import L_WRIST

    ska, skb = template_skeleton(db, a), template_skeleton(db, b)
    frame_a, frame_b = int(round(ta * ska.fps)), int(round(tb * skb.fps))
    shift = pelvis_shift(ska.keypoints, frame_a, skb.keypoints, frame_b)
    paths = chart(at, "compare_paths")
    assert np.allclose(trace(paths, "A · Left hand").x[:20], ska.keypoints[:20, L_WRIST, 0], atol=2e-3, equal_nan=True)
    assert np.allclose(trace(paths, "B · Left hand").y[:20], skb.keypoints[:20, L_WRIST, 1] + shift[1], atol=2e-3,
                       equal_nan=True)
    assert {tr.name for tr in chart(at, "compare_durations").data} == {"A", "B"}

    at.segmented_control(key="compare_line_up").set_value("start").run()
    assert [t["offset_s"] for t in player_data(at)["tracks"]] == [0.0, 0.0]
    at.segmented_control(key="compare_line_up").set_value("move").run()
    pairs = pair(ma, mb)
    both = pairs[pairs.label_a.notna() & pairs.label_b.notna()]
    k = int(both.index[-1])
    at.selectbox(key="compare_pair").set_value(k).run()
    offsets = [t["offset_s"] for t in player_data(at)["tracks"]]
    assert offsets == pytest.approx(list(line_up(pairs.start_a[k], pairs.start_b[k])))
    assert (at.query_params["a"], at.query_params["b"]) == (str(a), str(b)), "the URL names both attempts"


def test_compare_page_refuses_the_same_attempt_twice(demo):
    template, db = demo
    at = app()
    at.session_state["compare_a"] = at.session_state["compare_b"] = template.attempt_ids[0]
    at.switch_page("views/compare.py").run()
    assert any("two different attempts" in i.value for i in at.info)
