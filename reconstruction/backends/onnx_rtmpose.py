"""`onnx` pose backend: RTMDet (person boxes) + RTMPose (SimCC keypoints) exported to ONNX, run with onnxruntime.

A thin runner of our own (rtmlib would pull opencv-python + contrib beside opencv-python-headless):

    frame (H, W, 3) RGB ─ letterbox ─> RTMDet ─> person boxes (image px) ─ ClimberTracker ─> climber box
    climber box ─ pad x1.25, fix aspect ─> affine crop (h, w) ─> RTMPose ─> simcc_x (K, w*r), simcc_y (K, h*r)
    argmax / r ─> crop px ─ inverse affine ─> image px ─ to_canonical ─> (21, 2) + confidence

Model signatures (mmdeploy "end2end" exports, as shipped with RTMPose/RTMDet releases):
- detector: one input (1, 3, H, W) float32, BGR, (x - mean) / std with mean (103.53, 116.28, 123.675),
  std (57.375, 57.12, 58.395), the image resized to fit H x W keeping its aspect, padded right/bottom with 114;
  outputs `dets` (1, N, 5) x0, y0, x1, y1, score in input pixels and `labels` (1, N) class ids.
- pose: one input (N or 1, 3, h, w) float32, RGB, mean (123.675, 116.28, 103.53), std (58.395, 57.12, 57.375);
  outputs `simcc_x` (N, K, w * r) and `simcc_y` (N, K, h * r), r = split ratio (2.0 for RTMPose).
Model files are local paths the user supplies (see reconstruction/backends/config.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cruxlab.errors import BackendUnavailableError, InputError
from reconstruction.backends.base import PoseBackend, PoseBatch
from reconstruction.backends.common import as_frames, keypoint_set_for
from reconstruction.backends.config import OnnxOptions, require_file, resolve
from reconstruction.climber import ClimberTracker, pad_detections, select_boxes
from reconstruction.keypoints import to_canonical

log = logging.getLogger(__name__)

DET_MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
DET_STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
POSE_MEAN_RGB = np.array([123.675, 116.28, 103.53], dtype=np.float32)
POSE_STD_RGB = np.array([58.395, 57.12, 57.375], dtype=np.float32)
LETTERBOX_PAD = 114

INSTALL_FIX = "install it with `scripts/setup.sh onnx` (or `pip install -e .[onnx]`)"


# ------------------------------------------------------------------------------------ pure geometry
def letterbox(image: np.ndarray, size: tuple[int, int], pad: int = LETTERBOX_PAD) -> tuple[np.ndarray, float]:
    """Resize (H, W, C) to fit (height, width) keeping the aspect, pad right/bottom. Returns (image, ratio):
    a point p in the input image is at p * ratio in the letterboxed one."""
    h, w = image.shape[:2]
    ratio = min(size[0] / h, size[1] / w)
    nh, nw = max(1, round(h * ratio)), max(1, round(w * ratio))
    out = np.full((size[0], size[1], image.shape[2]), pad, dtype=image.dtype)
    out[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, ratio


def boxes_to_center_scale(boxes: np.ndarray, input_wh: tuple[int, int], padding: float = 1.25
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) x0, y0, x1, y1 -> centre (N, 2) and crop size (N, 2) in image pixels: the box enlarged by `padding`
    and widened or heightened to the model input's aspect ratio (mmpose's TopdownAffine)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    wh = (boxes[:, 2:] - boxes[:, :2]) * padding
    aspect = input_wh[0] / input_wh[1]
    w, h = wh[:, 0], wh[:, 1]
    scale = np.where((w > h * aspect)[:, None], np.stack([w, w / aspect], 1), np.stack([h * aspect, h], 1))
    return center, scale


def crop_matrices(center: np.ndarray, scale: np.ndarray, input_wh: tuple[int, int]) -> np.ndarray:
    """(N, 2, 3) affine maps image px -> crop px (no rotation; the crop keeps the aspect, so one scale)."""
    s = input_wh[0] / scale[:, 0]
    m = np.zeros((len(center), 2, 3))
    m[:, 0, 0] = s
    m[:, 1, 1] = s
    m[:, 0, 2] = input_wh[0] / 2 - s * center[:, 0]
    m[:, 1, 2] = input_wh[1] / 2 - s * center[:, 1]
    return m


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray, input_wh: tuple[int, int]
                  ) -> np.ndarray:
    """(N, K, 2) crop pixels -> image pixels (the inverse of `crop_matrices`, as mmpose decodes)."""
    size = np.asarray(input_wh, dtype=np.float64)
    return points / size * scale[:, None, :] + center[:, None, :] - 0.5 * scale[:, None, :]


def simcc_decode(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC logits (N, K, Wx), (N, K, Wy) -> keypoints (N, K, 2) in crop pixels and scores (N, K).

    As mmpose's get_simcc_maximum: argmax per axis, score = the smaller of the two maxima; a score <= 0 means
    not found (NaN)."""
    x = np.argmax(simcc_x, axis=-1).astype(np.float32)
    y = np.argmax(simcc_y, axis=-1).astype(np.float32)
    score = np.minimum(simcc_x.max(axis=-1), simcc_y.max(axis=-1)).astype(np.float32)
    kp = np.stack([x, y], axis=-1) / np.float32(split_ratio)
    kp[score <= 0] = np.nan
    return kp, score


# --------------------------------------------------------------------------------- onnxruntime glue
def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailableError(f"onnx backend: onnxruntime is not installed; {INSTALL_FIX}") from exc
    return ort


def providers_for(device: str) -> list[str]:
    """onnxruntime execution providers for a device request (cuda where none is -> BackendUnavailableError)."""
    ort = _import_ort()
    available = ort.get_available_providers()
    device = (device or "auto").lower()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "auto":
        return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise BackendUnavailableError(
                f"onnx backend: device {device!r} requested but onnxruntime {ort.__version__} has no CUDA "
                f"provider (available: {', '.join(available)}). Use --device cpu, or on a GPU machine "
                f"`pip uninstall onnxruntime && pip install onnxruntime-gpu`")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise InputError(f"device {device!r} for onnx is not one of cpu, cuda, cuda:N, auto")


def open_session(path: Path, providers: list[str], threads: int = 0, what: str = "model"):
    """An onnxruntime session; an unreadable or corrupt file is an InputError naming the file."""
    ort = _import_ort()
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind exception types (InvalidProtobuf, Fail, ...)
        raise InputError(f"onnx backend: {what} {path} could not be loaded ({type(exc).__name__}: "
                         f"{str(exc).strip()[:300]}); is it a complete ONNX export? Re-copy or re-export it") from exc


def _static_hw(session, path: Path, what: str) -> tuple[int, int, int | None]:
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise InputError(f"onnx backend: {what} {path} must have one (N, 3, H, W) input; it has "
                         f"{[(i.name, i.shape) for i in inputs]}")
    n, c, h, w = inputs[0].shape
    if c != 3 or not isinstance(h, int) or not isinstance(w, int):
        raise InputError(f"onnx backend: {what} {path} input {inputs[0].shape} must be (N, 3, H, W) with a fixed "
                         f"H and W; re-export with a static input size")
    return h, w, (n if isinstance(n, int) else None)


@dataclass
class OnnxDetector:
    """Person detector (RTMDet / YOLOX end2end export with NMS inside the graph)."""

    session: object
    path: Path
    input_hw: tuple[int, int]
    category: int = 0
    score_threshold: float = 0.3

    @classmethod
    def load(cls, path: Path, providers: list[str], threads: int, category: int, score_threshold: float
             ) -> OnnxDetector:
        session = open_session(path, providers, threads, "detector")
        h, w, _ = _static_hw(session, path, "detector")
        outs = session.get_outputs()
        shapes = {o.name: o.shape for o in outs}
        if len(outs) != 2 or len(outs[0].shape) != 3 or outs[0].shape[-1] != 5 or len(outs[1].shape) != 2:
            raise InputError(f"onnx backend: detector {path} must output dets (1, N, 5) and labels (1, N) "
                             f"(an mmdeploy end2end export with NMS); it outputs {shapes}")
        return cls(session, path, (h, w), category, score_threshold)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """frame (H, W, 3) uint8 RGB -> person boxes (n, 4) image px x0, y0, x1, y1 and scores (n,)."""
        boxed, ratio = letterbox(np.ascontiguousarray(frame[..., ::-1]), self.input_hw)
        x = ((boxed.astype(np.float32) - DET_MEAN_BGR) / DET_STD_BGR).transpose(2, 0, 1)[None]
        dets, labels = self.session.run(None, {self.session.get_inputs()[0].name: x})
        dets, labels = np.asarray(dets)[0], np.asarray(labels)[0]
        keep = (labels == self.category) & (dets[:, 4] >= self.score_threshold)
        boxes = dets[keep, :4] / ratio
        h, w = frame.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes.astype(np.float32), dets[keep, 4].astype(np.float32)


@dataclass
class OnnxPoseModel:
    """Top-down RTMPose with SimCC outputs."""

    session: object
    path: Path
    input_wh: tuple[int, int]
    batch: int | None            # fixed batch size of the export (None: dynamic)
    num_keypoints: int
    split_ratio: float
    keypoint_set: str
    padding: float = 1.25

    @classmethod
    def load(cls, path: Path, providers: list[str], threads: int, keypoint_set: str | None, padding: float
             ) -> OnnxPoseModel:
        session = open_session(path, providers, threads, "pose model")
        h, w, batch = _static_hw(session, path, "pose model")
        outs = session.get_outputs()
        shapes = [o.shape for o in outs]
        if len(outs) != 2 or any(len(s) != 3 for s in shapes) or not all(isinstance(s[2], int) for s in shapes):
            raise InputError(f"onnx backend: pose model {path} must output simcc_x (N, K, W*r) and simcc_y "
                             f"(N, K, H*r) like RTMPose; it outputs {[(o.name, o.shape) for o in outs]}")
        by_name = {o.name: o.shape for o in outs}
        sx, sy = (by_name["simcc_x"], by_name["simcc_y"]) if {"simcc_x", "simcc_y"} <= set(by_name) else shapes
        ratio_x, ratio_y = sx[2] / w, sy[2] / h
        if abs(ratio_x - ratio_y) > 1e-6 or sx[1] != sy[1]:
            raise InputError(f"onnx backend: pose model {path}: simcc_x {sx} and simcc_y {sy} do not match the "
                             f"input {w}x{h} with one split ratio; is this an RTMPose SimCC export?")
        k = sx[1]
        if not isinstance(k, int):
            raise InputError(f"onnx backend: pose model {path} has no fixed keypoint count ({sx})")
        return cls(session, path, (w, h), batch, k, float(ratio_x), keypoint_set_for(k, keypoint_set), padding)

    def __call__(self, images: list[np.ndarray] | np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images: one (H, W, 3) RGB image per box; boxes (n, 4) image px -> keypoints (n, K, 2) image px
        (NaN = not found) and scores (n, K). All crops go through the model in as few runs as its batch allows."""
        center, scale = boxes_to_center_scale(boxes, self.input_wh, self.padding)
        mats = crop_matrices(center, scale, self.input_wh)
        crops = np.stack([cv2.warpAffine(img, m, self.input_wh, flags=cv2.INTER_LINEAR)
                          for img, m in zip(images, mats, strict=True)])
        x = ((crops.astype(np.float32) - POSE_MEAN_RGB) / POSE_STD_RGB).transpose(0, 3, 1, 2)
        name = self.session.get_inputs()[0].name
        out_names = [o.name for o in self.session.get_outputs()]
        order = [out_names.index("simcc_x"), out_names.index("simcc_y")] if "simcc_x" in out_names else [0, 1]
        step = self.batch or len(x)
        parts = [self.session.run(None, {name: x[i:i + step]}) for i in range(0, len(x), step)]
        simcc_x = np.concatenate([p[order[0]] for p in parts])
        simcc_y = np.concatenate([p[order[1]] for p in parts])
        kp, score = simcc_decode(simcc_x, simcc_y, self.split_ratio)
        return crop_to_image(kp, center, scale, self.input_wh).astype(np.float32), score


class OnnxRTMPose(PoseBackend):
    """RTMDet + RTMPose ONNX models, the climber picked among the detected people and tracked."""

    name = "onnx"
    provides_3d = False

    def __init__(self, config_file: str | Path | None = None, **options) -> None:
        resolved = resolve("onnx", options, config_file)
        o: OnnxOptions = resolved.options
        self.options = o
        providers = providers_for(o.device)
        det_path = require_file(o.det_model, "RTMDet/YOLOX detector ONNX", "onnx", "det_model", (".onnx",))
        pose_path = require_file(o.pose_model, "RTMPose ONNX", "onnx", "pose_model", (".onnx",))
        self.detector = OnnxDetector.load(det_path, providers, o.threads, o.det_category, o.det_score_threshold)
        self.pose = OnnxPoseModel.load(pose_path, providers, o.threads, o.keypoint_set, o.box_padding)
        self.tracker = ClimberTracker(min_score=o.det_score_threshold)
        log.info("onnx backend: detector %s (%dx%d), pose %s (%s, %dx%d, K=%d) on %s", det_path.name,
                 *self.detector.input_hw[::-1], pose_path.name, self.pose.keypoint_set, *self.pose.input_wh,
                 self.pose.num_keypoints, providers[0])

    def process(self, frames: np.ndarray) -> PoseBatch:
        frames = as_frames(frames, "onnx")
        dets = [self.detector(f) for f in frames]
        boxes, scores = pad_detections(dets)
        climber = select_boxes(boxes, self.tracker.update(boxes, scores))
        B = len(frames)
        kp = np.full((B, self.pose.num_keypoints, 2), np.nan, dtype=np.float32)
        conf = np.zeros((B, self.pose.num_keypoints), dtype=np.float32)
        found = np.flatnonzero(np.isfinite(climber).all(axis=1))
        if len(found):
            kp[found], conf[found] = self.pose(frames[found], climber[found])
        kp21, conf21 = to_canonical(kp, np.clip(conf, 0.0, 1.0), self.pose.keypoint_set)
        return PoseBatch(kp21, conf21, None, climber)

    def close(self) -> None:
        self.detector = self.pose = None  # type: ignore[assignment]
