"""Label Studio task building without a server: configs, frame numbering, predictions <-> regions."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from cruxlab.joints import JOINT_INDEX, LIMBS, NUM_JOINTS
from cruxlab.labels import MOVE_LABELS
from cruxlab.skeleton import Skeleton
from labeling import tasks as lt
from labeling.tasks import FrameMap, RegionState


@pytest.mark.parametrize("first,step", [(0, 1), (3, 2), (10, 3)])
def test_video_frame_map_is_one_based_and_inverts_exactly(first, step):
    fm = lt.video_frame_map(40, first_frame=first, step=step)
    # Attempt frame 0 is the pushed video's frame `first` (0-based), which Label Studio calls first + 1.
    assert fm.to_ls(0) == first + 1
    assert fm.to_ls(39) == first + 39 * step + 1
    for s in range(0, 40, 7):
        for e in range(s, 40, 5):
            assert fm.from_ls(fm.to_ls(s), fm.to_ls(e)) == (s, e)


def test_frame_map_snaps_clips_and_rejects_outside():
    fm = FrameMap(base=4, step=2, n_frames=10)  # attempt frame i <-> LS 4 + 2i: 4, 6, ..., 22
    assert fm.from_ls(5, 9) == (1, 2)        # LS 5..9 covers attempt frames at LS 6 and 8
    assert fm.from_ls(9, 5) == (1, 2)        # reversed ranges are normalised
    assert fm.from_ls(1, 100) == (0, 9)      # clipped to the attempt
    assert fm.from_ls(7, 7) is None          # between two attempt frames
    assert fm.from_ls(30, 40) is None        # after the attempt
    assert fm.from_ls(float("nan"), 5) is None
    assert lt.series_frame_map(10).from_ls(2.4, 6.6) == (3, 6)


def test_timeline_cells_fit_the_attempt_into_the_timeline_width():
    # 376 frames at 30 fps at 16 px per Label Studio frame: 6016 px; in cells of 8 frames: 47 cells = 752 px
    assert lt.timeline_cell(376, 30.0) == 8
    assert lt.timeline_cell(376, 30.0) * lt.LS_FRAME_PX >= 376 * lt.LS_FRAME_PX / lt.TIMELINE_PX
    for n, fps in [(1, 25.0), (40, 25.0), (50, 30.0), (51, 30.0), (200, 25.0), (1400, 29.97)]:
        k = lt.timeline_cell(n, fps)
        fm = lt.video_frame_map(n, per_cell=k)
        assert fm.n_cells * lt.LS_FRAME_PX <= lt.TIMELINE_PX            # the whole attempt is in view
        assert k == 1 or -(-n // (k - 1)) * lt.LS_FRAME_PX > lt.TIMELINE_PX  # the finest cell that fits
        assert fps / k >= 1.0                                            # LS inverts a frameRate below 1
    assert lt.timeline_cell(50, 30.0) == 1                               # short attempts stay frame-exact
    # longer than 800 / 16 = 50 s: Label Studio cannot play below 1 cell/s, the timeline scrolls
    assert lt.timeline_cell(30 * 120, 30.0) == 30
    with pytest.raises(ValueError):
        lt.timeline_cell(0, 25.0)


def test_cells_map_edges_exactly_when_untouched_and_to_the_cell_when_moved():
    fm = lt.video_frame_map(103, per_cell=5)        # LS frame c + 1 covers attempt frames 5c .. 5c + 4
    assert fm.n_cells == 21 and fm.to_ls(0) == 1 and fm.to_ls(4) == 1 and fm.to_ls(5) == 2 and fm.to_ls(102) == 21
    assert fm.from_ls(3, 4) == (10, 19)              # an edited region: whole cells
    assert fm.from_ls(21, 21) == (100, 102)          # the last, partial cell is clipped to the attempt
    assert fm.from_ls(22, 30) is None
    rng = np.random.default_rng(3)
    for _ in range(200):
        s, e = np.sort(rng.integers(0, 103, 2))
        ls_s, ls_e = fm.to_ls(s), fm.to_ls(e)
        assert fm.from_ls(ls_s, ls_e, near=(s, e)) == (s, e)               # untouched: exact
        moved = fm.from_ls(ls_s, ls_e + 1, near=(s, e))                      # end dragged one cell later
        if ls_e + 1 <= fm.n_cells:
            assert moved[0] == s and moved[1] == min(102, (ls_e + 1) * 5 - 1)
            assert 0 < moved[1] - e <= 2 * 5 - 1
        start_moved = fm.from_ls(ls_s - 1, ls_e, near=(s, e)) if ls_s > 1 else None
        if start_moved is not None:
            assert start_moved == ((ls_s - 2) * 5, e)
    # tasks pushed before cells existed store no per_cell: one attempt frame per Label Studio frame
    old = FrameMap.from_dict({"base": 1, "step": 1, "n_frames": 40})
    assert old.per_cell == 1 and old.from_ls(3, 7) == (2, 6) and FrameMap.from_dict(fm.as_dict()) == fm


def test_cell_predictions_parse_back_exactly_with_the_push_snapshot():
    fm = lt.video_frame_map(120, per_cell=6)
    moves = [(7, RegionState("reach", "left_hand", 1, 13), 0.9), (8, RegionState("flag", "right_foot", 31, 55), 0.6),
             (12, RegionState("dyno", "body", 119, 119), 0.75)]
    result = lt.moves_to_result(moves, lt.VIDEO, fm)
    assert result[0]["value"]["ranges"] == [{"start": 1, "end": 3}]
    snapshot = {lt.region_id(mid): (st.start_frame, st.end_frame) for mid, st, _ in moves}
    regions, _ = lt.parse_result(result, lt.VIDEO, fm, snapshot)
    assert {r.region_id: r.state for r in regions} == {lt.region_id(mid): st for mid, st, _ in moves}
    without, _ = lt.parse_result(result, lt.VIDEO, fm)   # no snapshot: cell resolution
    assert [(r.state.start_frame, r.state.end_frame) for r in without] == [(0, 17), (30, 59), (114, 119)]


@pytest.mark.parametrize("kind", lt.KINDS)
def test_config_has_every_label_and_limb(kind):
    root = ET.fromstring(lt.label_config(kind))
    move = next(el for el in root.iter() if el.get("name") == lt.MOVE_CONTROL)
    assert move.tag == lt.CONTROL_TAG[kind] and move.get("toName") == lt.OBJECT_NAME[kind]
    assert [lab.get("value") for lab in move.iter("Label")] == list(MOVE_LABELS)
    limb = next(el for el in root.iter() if el.get("name") == lt.LIMB_CONTROL)
    assert limb.get("perRegion") == "true"
    assert [c.get("value") for c in limb.iter("Choice")] == list(LIMBS)
    check = lt.check_label_config(lt.label_config(kind), kind)
    assert check.usable and not check.edited


def test_config_check_tells_hand_edits_apart():
    cfg = lt.label_config(lt.VIDEO)
    cosmetic = lt.check_label_config(cfg.replace('timelineHeight="260"', 'timelineHeight="400"'), lt.VIDEO)
    assert cosmetic.usable and cosmetic.cosmetic and not cosmetic.semantic
    extra = lt.check_label_config(cfg.replace('<Label value="reach"', '<Label value="gaston"/>\n<Label value="reach"'),
                                  lt.VIDEO)
    assert extra.usable and extra.extra_labels == ("gaston",) and any("gaston" in s for s in extra.semantic)
    removed = lt.check_label_config(cfg.replace('<Label value="dyno" background="#FF9DA6"/>', ""), lt.VIDEO)
    assert removed.usable and any("dyno" in s for s in removed.semantic)
    broken = lt.check_label_config(cfg.replace('name="move"', 'name="moves"'), lt.VIDEO)
    assert not broken.usable
    assert not lt.check_label_config("<View><Video", lt.VIDEO).usable
    # the video config is not a time-series config
    assert not lt.check_label_config(cfg, lt.SKELETON).usable


@pytest.mark.parametrize("kind,fm", [(lt.VIDEO, lt.video_frame_map(120, 3, 2)), (lt.SKELETON, lt.series_frame_map(120))])
def test_predictions_parse_back_to_the_same_moves(kind, fm):
    moves = [(7, RegionState("reach", "left_hand", 0, 12), 0.9),
             (8, RegionState("flag", "right_foot", 30, 55), 0.6),
             (12, RegionState("dyno", "body", 119, 119), 0.75)]
    result = lt.moves_to_result(moves, kind, fm)
    assert {r["id"] for r in result} == {"m7", "m8", "m12"}
    assert all(r["to_name"] == lt.OBJECT_NAME[kind] for r in result)
    scores = {r["id"]: r["score"] for r in result if r["from_name"] == lt.MOVE_CONTROL}
    assert scores == {"m7": 0.9, "m8": 0.6, "m12": 0.75}
    regions, notes = lt.parse_result(result, kind, fm)
    assert notes == []
    assert {r.region_id: r.state for r in regions} == {lt.region_id(mid): st for mid, st, _ in moves}
    assert [lt.move_id_of(r.region_id) for r in regions] == [7, 8, 12]


def test_video_prediction_frames_are_label_studio_frames():
    fm = lt.video_frame_map(50)  # overlay video: frame k shows attempt frame k
    (item, _limb) = lt.moves_to_result([(1, RegionState("match", "right_hand", 10, 20), 1.0)], lt.VIDEO, fm)
    assert item["value"]["ranges"] == [{"start": 11, "end": 21}]
    assert item["value"]["timelinelabels"] == ["match"]


def test_parse_result_reports_regions_it_cannot_use():
    fm = lt.video_frame_map(30)
    result = [
        {"id": "a", "from_name": "move", "type": "timelinelabels",
         "value": {"ranges": [{"start": 2, "end": 5}], "timelinelabels": ["reach"]}},           # no limb
        {"id": "b", "from_name": "move", "type": "timelinelabels",
         "value": {"ranges": [{"start": 2, "end": 5}], "timelinelabels": ["reach", "match"]}},  # two labels
        {"id": "b", "from_name": "limb", "type": "choices", "value": {"choices": ["left_hand"]}},
        {"id": "c", "from_name": "move", "type": "timelinelabels",
         "value": {"ranges": [{"start": 40, "end": 50}], "timelinelabels": ["reach"]}},         # after the end
        {"id": "c", "from_name": "limb", "type": "choices", "value": {"choices": ["left_hand"]}},
        {"id": "d", "from_name": "move", "type": "timelinelabels",
         "value": {"ranges": [{"start": 3, "end": 9}], "timelinelabels": ["gaston"]}},          # unknown label: fine
        {"id": "d", "from_name": "limb", "type": "choices", "value": {"choices": ["right_hand"]}},
        {"id": "e", "from_name": "comment", "type": "textarea", "value": {"text": ["nice"]}},
    ]
    regions, notes = lt.parse_result(result, lt.VIDEO, fm)
    by_id = {r.region_id: r for r in regions}
    assert "no limb" in by_id["a"].problem and by_id["a"].state is None
    assert "several labels" in by_id["b"].problem
    assert "outside" in by_id["c"].problem
    assert by_id["d"].state == RegionState("gaston", "right_hand", 2, 8)
    assert len(notes) == 1 and "comment" in notes[0]


def _straight_skeleton(T: int = 20) -> Skeleton:
    kp = np.zeros((T, NUM_JOINTS, 3), dtype=np.float32)
    for name, (x, y) in {
        "left_shoulder": (-0.2, 1.4), "right_shoulder": (0.2, 1.4), "left_elbow": (-0.2, 1.7),
        "right_elbow": (0.5, 1.4), "left_wrist": (-0.2, 2.0), "right_wrist": (0.8, 1.4),
        "left_hip": (-0.1, 0.9), "right_hip": (0.1, 0.9), "left_knee": (-0.1, 0.5), "right_knee": (0.1, 0.5),
        "left_ankle": (-0.1, 0.1), "right_ankle": (0.1, 0.1), "nose": (0.0, 1.6),
        "left_eye": (-0.03, 1.63), "right_eye": (0.03, 1.63), "left_ear": (-0.07, 1.6), "right_ear": (0.07, 1.6),
        "left_heel": (-0.1, 0.05), "right_heel": (0.1, 0.05), "left_big_toe": (-0.1, 0.05),
        "right_big_toe": (0.1, 0.05),
    }.items():
        kp[:, JOINT_INDEX[name]] = (x, y, 0.2)
    kp[:, :, 1] += np.linspace(0, 0.5, T, dtype=np.float32)[:, None]  # the climber rises 0.5 m
    return Skeleton(kp, fps=25.0)


def test_series_csv_holds_angles_and_heights_per_attempt_frame():
    csv = lt.series_csv(_straight_skeleton())
    lines = csv.strip().split("\n")
    header = lines[0].split(",")
    assert header == ["frame"] + [c for c, _, _ in lt.SERIES_CHANNELS]
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert rows.shape == (20, len(header))
    assert np.array_equal(rows[:, 0], np.arange(20))
    col = {name: rows[:, i] for i, name in enumerate(header)}
    assert np.allclose(col["left_knee"], 180.0, atol=0.5)     # straight legs
    assert np.allclose(col["right_elbow"], 180.0, atol=0.5)   # arm straight out to the side
    # left arm straight up; the hip sits 10 cm inward of the shoulder, 50 cm below it
    assert np.allclose(col["left_shoulder"], 180.0 - np.degrees(np.arctan2(0.1, 0.5)), atol=0.5)
    assert col["pelvis_height"][-1] - col["pelvis_height"][0] == pytest.approx(50.0, abs=6.0)
