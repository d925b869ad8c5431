"""Label Studio projects and tasks for cruxlab attempts: labelling configs, predictions, frame numbering.

Two kinds of task, one project each (a project has one labelling config):

- video: the attempt's video with the skeleton drawn over it (WebM). `<Video>` + one `<TimelineLabels>`
  with every move label. Label Studio 1.23 draws a video timeline at a fixed 16 px per frame (HtxVideo passes
  defaultStepSize=16 and no zoom; neither <Video> nor <TimelineLabels> has an attribute for it), so a 376-frame
  attempt would be 6000 px wide with ~2 s in view. So that a task opens on the whole attempt, the video plays
  at frameRate = fps / k (`timeline_cell`): one Label Studio frame - a timeline cell - covers k attempt frames
  and the attempt fits TIMELINE_PX. Label Studio then counts, steps and redraws its canvas per cell (fps / k
  while playing); `cruxlab label push --frame-exact` keeps k = 1. Label Studio 1.23 draws new timeline regions only with the FIRST timeline control
  of a video (Video.timelineControl), so "one lane per limb" cannot be done with several controls; the
  limb is a per-region `<Choices perRegion>` instead (one result item with the region's id).
- skeleton: attempts without a video, as a joint-angle time series (CSV: one row per attempt frame,
  `frame` is the time column) with `<TimeSeriesLabels>` and the same per-region limb choice.

Frame numbering, exactly:
- Label Studio's video frames are 1-based: frame 1 is shown at time 0 (Video.fullFrameRange = {1, length},
  and a timeline region [start, end] is inclusive). A pushed video whose frame j (0-based, decode order)
  shows attempt frame i = (j - first) / step gives Label Studio frame j + 1, i.e. `base + i * step` with
  base = first + 1. With cells of k frames, Label Studio frame c + 1 covers attempt frames [c k, (c + 1) k)
  (it seeks to time c k / fps and counts ceil(time * fps / k)); the overlay is padded to whole cells.
  Pushed regions keep their exact frames: each push stores them in the task (`pushes`), and an edge the
  annotator left where cruxlab put it pulls back to that frame; a moved edge gets its cell's first (start)
  or last (end) frame, i.e. it is exact to within k - 1 frames.
- A time series' positions are the values of its time column: we write the attempt frame itself
  (0-based), so base = 0 and step = 1; regions snap to whole frames on the way back.
`FrameMap` holds (base, step) and is stored in each task, so pulling uses exactly what pushing used.

Each prediction region's id is `m<move_id>`, tying it to the cruxlab move; regions a coach adds get
Label Studio's own ids and become new moves.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np

from cruxlab.joints import EFFECTOR_LIMBS, LIMBS
from cruxlab.labels import LABEL_COLORS, MOVE_LABELS
from moves.features import ANGLE_INDEX, ANGLE_NAMES, compute_features

VIDEO = "video"
SKELETON = "skeleton"
KINDS = (VIDEO, SKELETON)
MOVE_CONTROL = "move"
LIMB_CONTROL = "limb"
OBJECT_NAME = {VIDEO: "video", SKELETON: "ts"}
RESULT_TYPE = {VIDEO: "timelinelabels", SKELETON: "timeserieslabels"}
CONTROL_TAG = {VIDEO: "TimelineLabels", SKELETON: "TimeSeriesLabels"}
OBJECT_TAG = {VIDEO: "Video", SKELETON: "TimeSeries"}
REGION_PREFIX = "m"


# ------------------------------------------------------------------------------------------ frame numbers
#: Label Studio 1.23 draws a video timeline at 16 px per Label Studio frame (HtxVideo: defaultStepSize=16, no
#: zoom, no config attribute for it).
LS_FRAME_PX = 16
#: Width a pushed video's whole timeline must fit: the frame lanes of the labelling page in a 1600 px wide
#: browser window with Label Studio's task list and side panels open measure ~850 px.
TIMELINE_PX = 800


@dataclass(frozen=True)
class FrameMap:
    """Attempt frame i (0-based) <-> Label Studio position `base + (i // per_cell) * step`; n_frames attempt
    frames.

    per_cell > 1: one Label Studio position (a timeline cell) covers attempt frames [c * per_cell,
    (c + 1) * per_cell) - a video task plays at frameRate = fps / per_cell so its whole timeline fits the
    screen. Edges map back exactly when they are where cruxlab put them (`near`), else with the cell's
    resolution: a start to the cell's first frame, an end to its last.
    """

    base: int
    step: int
    n_frames: int
    per_cell: int = 1

    def __post_init__(self) -> None:
        if self.step < 1 or self.n_frames < 1 or self.per_cell < 1:
            raise ValueError(f"bad frame map {self}")

    @property
    def n_cells(self) -> int:
        """Label Studio positions the attempt spans (the last cell may hold fewer than per_cell frames)."""
        return -(-self.n_frames // self.per_cell)

    def to_ls(self, frame: int) -> int:
        return self.base + (int(frame) // self.per_cell) * self.step

    def from_ls(self, start: float, end: float,
                near: tuple[int, int] | None = None) -> tuple[int, int] | None:
        """A Label Studio interval [start, end] (inclusive) as attempt frames: the attempt frames it covers,
        clipped to the attempt; None when it covers none (a region outside the attempt). `near`: the region's
        frames as cruxlab last knew them - an edge still on that frame's position comes back as that frame."""
        if not (math.isfinite(start) and math.isfinite(end)):
            return None
        lo, hi = min(start, end), max(start, end)
        c_lo = math.ceil((lo - self.base) / self.step - 1e-9)
        c_hi = math.floor((hi - self.base) / self.step + 1e-9)
        s = max(0, c_lo * self.per_cell)
        e = min(self.n_frames - 1, c_hi * self.per_cell + self.per_cell - 1)
        if near is not None:
            s0, e0 = (int(v) for v in near)
            if 0 <= s0 < self.n_frames and abs(self.to_ls(s0) - lo) < 1e-6:
                s = s0
            if 0 <= e0 < self.n_frames and abs(self.to_ls(e0) - hi) < 1e-6:
                e = e0
        return (s, e) if s <= e else None

    def as_dict(self) -> dict:
        return {"base": self.base, "step": self.step, "n_frames": self.n_frames, "per_cell": self.per_cell}

    @classmethod
    def from_dict(cls, d: dict) -> FrameMap:
        # tasks pushed before timeline cells existed have no per_cell: one attempt frame per position
        return cls(int(d["base"]), int(d["step"]), int(d["n_frames"]), int(d.get("per_cell", 1)))


def video_frame_map(n_frames: int, first_frame: int = 0, step: int = 1, per_cell: int = 1) -> FrameMap:
    """Frames of a pushed video: its (0-based) frame `first_frame + i * step` shows attempt frame i; played
    at fps / per_cell in Label Studio, one Label Studio frame covers per_cell attempt frames."""
    return FrameMap(first_frame + 1, step, n_frames, per_cell)


def series_frame_map(n_frames: int) -> FrameMap:
    return FrameMap(0, 1, n_frames)


def timeline_cell(n_frames: int, fps: float, width_px: int = TIMELINE_PX) -> int:
    """Attempt frames per Label Studio timeline cell so that a video of n_frames fits width_px at
    LS_FRAME_PX per cell: ceil(n_frames * 16 / width_px), at least 1. Capped at floor(fps) because Label
    Studio reads a frameRate below 1 as its inverse; an attempt longer than width_px / 16 seconds
    (50 s at 800 px) therefore still scrolls."""
    if n_frames < 1 or not (fps > 0):
        raise ValueError(f"timeline_cell needs n_frames >= 1 and fps > 0, got {n_frames}, {fps}")
    k = max(1, math.ceil(n_frames * LS_FRAME_PX / max(int(width_px), LS_FRAME_PX)))
    return int(min(k, max(1, math.floor(fps))))


# --------------------------------------------------------------------------------------------- configs
def _labels_xml(indent: str) -> str:
    return "\n".join(
        f'{indent}<Label value={quoteattr(label)} background={quoteattr(LABEL_COLORS.get(label, "#888888"))}/>'
        for label in MOVE_LABELS
    )


def _limb_xml(to_name: str) -> str:
    choices = "\n".join(f"    <Choice value={quoteattr(limb)}/>" for limb in LIMBS)
    return (f'  <Header value="Limb of the selected move"/>\n'
            f'  <Choices name="{LIMB_CONTROL}" toName="{to_name}" perRegion="true" required="true" '
            f'choice="single-radio" showInline="true">\n{choices}\n  </Choices>')


def label_config(kind: str) -> str:
    """The labelling config cruxlab creates for a project of this kind (XML text)."""
    if kind == VIDEO:
        return (
            "<View>\n"
            '  <Header value="$title"/>\n'
            '  <Video name="video" value="$video" frameRate="$fps" height="540" timelineHeight="260"/>\n'
            f'  <TimelineLabels name="{MOVE_CONTROL}" toName="video">\n{_labels_xml("    ")}\n  </TimelineLabels>\n'
            f"{_limb_xml('video')}\n"
            "</View>\n"
        )
    if kind == SKELETON:
        channels = "\n".join(
            f'    <Channel column={quoteattr(c)} legend={quoteattr(legend)} units={quoteattr(unit)}/>'
            for c, legend, unit in SERIES_CHANNELS
        )
        return (
            "<View>\n"
            '  <Header value="$title"/>\n'
            f'  <TimeSeriesLabels name="{MOVE_CONTROL}" toName="ts">\n{_labels_xml("    ")}\n  </TimeSeriesLabels>\n'
            # overviewWidth 100 %: the task opens on the whole attempt (Label Studio's default shows a quarter)
            '  <TimeSeries name="ts" value="$csv" valueType="url" timeColumn="frame" sep="," overviewWidth="100%">\n'
            f"{channels}\n  </TimeSeries>\n"
            f"{_limb_xml('ts')}\n"
            "</View>\n"
        )
    raise ValueError(f"unknown task kind {kind!r}; expected one of {KINDS}")


@dataclass(frozen=True)
class ConfigCheck:
    """How a project's labelling config compares with cruxlab's.

    usable: cruxlab can still read annotations (the move and limb controls and their object exist).
    semantic: differences that change what can be labelled (labels, limbs, controls) - push refuses them.
    cosmetic: other differences (headers, colours, sizes) - kept as the user made them.
    """

    usable: bool
    semantic: tuple[str, ...]
    cosmetic: tuple[str, ...]
    extra_labels: tuple[str, ...]

    @property
    def edited(self) -> bool:
        return bool(self.semantic or self.cosmetic)


def _values(el: ET.Element | None, child: str) -> list[str]:
    return [] if el is None else [c.get("value", "") for c in el.iter(child)]


def check_label_config(actual: str, kind: str) -> ConfigCheck:
    """Compare a project's config with `label_config(kind)`."""
    want = label_config(kind)
    try:
        root = ET.fromstring(actual)
    except ET.ParseError as exc:
        return ConfigCheck(False, (f"the config is not valid XML ({exc})",), (), ())
    semantic: list[str] = []
    obj_name = OBJECT_NAME[kind]
    by_name = {el.get("name"): el for el in root.iter() if el.get("name")}
    obj = by_name.get(obj_name)
    move = by_name.get(MOVE_CONTROL)
    limb = by_name.get(LIMB_CONTROL)
    usable = True
    if obj is None or obj.tag != OBJECT_TAG[kind]:
        semantic.append(f'the <{OBJECT_TAG[kind]} name="{obj_name}"> object is missing or changed')
        usable = False
    if move is None or move.tag != CONTROL_TAG[kind] or move.get("toName") != obj_name:
        semantic.append(f'the <{CONTROL_TAG[kind]} name="{MOVE_CONTROL}" toName="{obj_name}"> control is missing '
                        "or changed")
        usable = False
    labels = _values(move, "Label")
    missing = [lab for lab in MOVE_LABELS if lab not in labels]
    extra = tuple(lab for lab in labels if lab not in MOVE_LABELS)
    if missing:
        semantic.append(f"move label(s) removed: {', '.join(missing)}")
    if extra:
        semantic.append(f"move label(s) cruxlab does not know added: {', '.join(extra)}")
    if limb is None or limb.tag != "Choices" or limb.get("perRegion", "").lower() != "true":
        semantic.append(f'the per-region <Choices name="{LIMB_CONTROL}"> limb control is missing or changed')
    else:
        limbs = _values(limb, "Choice")
        if sorted(limbs) != sorted(LIMBS):
            semantic.append(f"limb choices changed to {limbs} (cruxlab's limbs: {list(LIMBS)})")
    cosmetic: list[str] = []
    if not semantic and _canonical(actual) != _canonical(want):
        cosmetic.append("layout or colours differ from cruxlab's config")
    return ConfigCheck(usable, tuple(semantic), tuple(cosmetic), extra)


def _canonical(xml: str) -> str:
    try:
        return ET.canonicalize(xml, strip_text=True)
    except ET.ParseError:
        return xml


# ----------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RegionState:
    """What one region says about a move: label, limb and inclusive attempt frames."""

    label: str
    limb: str
    start_frame: int
    end_frame: int

    def as_list(self) -> list:
        return [self.label, self.limb, self.start_frame, self.end_frame]

    @classmethod
    def from_list(cls, v: Sequence) -> RegionState:
        return cls(str(v[0]), str(v[1]), int(v[2]), int(v[3]))


@dataclass(frozen=True)
class Region:
    """A labelled region of an annotation, converted to attempt frames.

    state is None when the region cannot become a move (no limb chosen, outside the attempt, no label);
    `problem` then says why.
    """

    region_id: str
    state: RegionState | None
    ls_start: float
    ls_end: float
    problem: str | None = None


def region_id(move_id: int) -> str:
    return f"{REGION_PREFIX}{int(move_id)}"


def move_id_of(region: str) -> int | None:
    """The cruxlab move a prediction region id names (`m<move_id>`), else None."""
    if region.startswith(REGION_PREFIX) and region[len(REGION_PREFIX):].isdigit():
        return int(region[len(REGION_PREFIX):])
    return None


def moves_to_result(moves: Iterable[tuple[int, RegionState, float]], kind: str, fmap: FrameMap) -> list[dict]:
    """Prediction results for (move_id, state, confidence) triples: a labels item and a limb item per move,
    both with the region id `m<move_id>`."""
    obj = OBJECT_NAME[kind]
    rtype = RESULT_TYPE[kind]
    out: list[dict] = []
    for move_id, st, confidence in moves:
        rid = region_id(move_id)
        if kind == VIDEO:
            value = {"ranges": [{"start": fmap.to_ls(st.start_frame), "end": fmap.to_ls(st.end_frame)}],
                     "timelinelabels": [st.label]}
        else:
            value = {"start": fmap.to_ls(st.start_frame), "end": fmap.to_ls(st.end_frame), "instant": False,
                     "timeserieslabels": [st.label]}
        out.append({"id": rid, "from_name": MOVE_CONTROL, "to_name": obj, "type": rtype, "value": value,
                    "score": round(float(confidence), 4), "origin": "prediction"})
        out.append({"id": rid, "from_name": LIMB_CONTROL, "to_name": obj, "type": "choices",
                    "value": {"choices": [st.limb]}, "origin": "prediction"})
    return out


def parse_result(result: Sequence[dict], kind: str, fmap: FrameMap,
                 near: Mapping[str, tuple[int, int]] | None = None) -> tuple[list[Region], list[str]]:
    """The regions of an annotation's result, in attempt frames, and notes about items that were skipped
    (other controls, regions without a label). `near`: region id -> (start, end) attempt frames cruxlab last
    knew for it; edges still at those frames' positions come back exactly (see FrameMap.from_ls)."""
    rtype = RESULT_TYPE[kind]
    labels_key = rtype
    spans: dict[str, tuple[list[str], float, float]] = {}
    limbs: dict[str, str] = {}
    notes: list[str] = []
    for item in result or []:
        rid = str(item.get("id", ""))
        value = item.get("value") or {}
        if item.get("type") == "choices" and item.get("from_name") == LIMB_CONTROL:
            chosen = value.get("choices") or []
            if chosen:
                limbs[rid] = str(chosen[0])
        elif item.get("type") == rtype and item.get("from_name") == MOVE_CONTROL:
            labels = [str(v) for v in value.get(labels_key) or []]
            if kind == VIDEO:
                ranges = value.get("ranges") or []
                if not ranges:
                    notes.append(f"region {rid} has no frame range; skipped")
                    continue
                starts = [r.get("start") for r in ranges]
                ends = [r.get("end") if r.get("end") is not None else r.get("start") for r in ranges]
                try:
                    start, end = float(min(s for s in starts if s is not None)), float(max(e for e in ends if e is not None))
                except ValueError:
                    notes.append(f"region {rid} has an empty frame range; skipped")
                    continue
            else:
                try:
                    start, end = float(value["start"]), float(value.get("end", value["start"]))
                except (KeyError, TypeError, ValueError):
                    notes.append(f"region {rid} has no start/end; skipped")
                    continue
            spans[rid] = (labels, start, end)
        elif item.get("from_name") not in (MOVE_CONTROL, LIMB_CONTROL):
            notes.append(f"result of control {item.get('from_name')!r} ({item.get('type')}) is not cruxlab's; ignored")
    regions: list[Region] = []
    for rid, (labels, start, end) in spans.items():
        frames = fmap.from_ls(start, end, (near or {}).get(rid))
        problem = None
        if not labels:
            problem = f"region {rid} at {start:g}-{end:g} has no move label"
        elif len(labels) > 1:
            problem = f"region {rid} at {start:g}-{end:g} has several labels {labels}; keep one"
        elif frames is None:
            problem = f"region {rid} at {start:g}-{end:g} lies outside the attempt's frames"
        elif rid not in limbs:
            problem = f"region {rid} ({labels[0]}, {start:g}-{end:g}) has no limb chosen"
        elif limbs[rid] not in LIMBS:
            problem = f"region {rid} has limb {limbs[rid]!r}, not one of {', '.join(LIMBS)}"
        state = None if problem else RegionState(labels[0], limbs[rid], frames[0], frames[1])
        regions.append(Region(rid, state, start, end, problem))
    return regions, notes


# ------------------------------------------------------------------------------------------ time series
#: Channels of the skeleton-only time series: (CSV column, legend, units): the joint angles of the move
#: features, then heights above the origin (wall-frame y, up).
SERIES_CHANNELS: tuple[tuple[str, str, str], ...] = (
    *((name, f"{name.replace('_', ' ')} angle", "deg") for name in ANGLE_NAMES),
    ("pelvis_height", "pelvis height", "cm"),
    *((f"{limb}_height", f"{limb.replace('_', ' ')} height", "cm") for limb in EFFECTOR_LIMBS),
)


def series_table(skeleton) -> tuple[list[str], np.ndarray]:
    """Joint angles (degrees) and heights (cm, wall-frame y) per attempt frame: (columns, (T, C) array),
    the first column the 0-based attempt frame. Uses the move features (gap-filled, smoothed)."""
    feats = compute_features(skeleton)
    cols: list[np.ndarray] = [np.arange(skeleton.n_frames, dtype=np.float64)]
    names = ["frame"]
    effector_index = {f"{limb}_height": i for i, limb in enumerate(EFFECTOR_LIMBS)}
    for col, _, _ in SERIES_CHANNELS:
        if col in ANGLE_INDEX:
            cols.append(feats.angles[:, ANGLE_INDEX[col]].astype(np.float64))
        elif col == "pelvis_height":
            cols.append(feats.pelvis[:, 1] * 100.0)
        else:
            cols.append(feats.effectors[:, effector_index[col], 1] * 100.0)
        names.append(col)
    return names, np.stack(cols, axis=1)


def series_csv(skeleton) -> str:
    """The CSV a skeleton-only task shows (missing values as empty cells)."""
    names, table = series_table(skeleton)
    buf = io.StringIO()
    buf.write(",".join(names) + "\n")
    text = np.char.mod("%.2f", np.round(table, 2))
    text[:, 0] = np.char.mod("%d", table[:, 0].astype(np.int64))
    text[~np.isfinite(table)] = ""
    buf.write("\n".join(",".join(row) for row in text.tolist()))
    buf.write("\n")
    return buf.getvalue()
