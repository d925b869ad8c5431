"""`openmmlab` pose backend: MMDet person boxes + MMPose top-down 2D (RTMPose / RTMW) or RTMPose3D (RTMW3D).

    frames (B, H, W, 3) RGB ─ mmdet.apis.inference_detector (batched) ─> people (boxes, scores)
      ─ ClimberTracker ─> the climber's box per frame ─ mmpose.apis.inference_topdown ─> keypoints, scores
      ─ to_canonical (coco17 | halpe26 | coco_wholebody133) ─> PoseBatch (+ 3D for RTMPose3D)

Configs and checkpoints are files the user supplies (reconstruction/backends/config.py). Models are built
from the config with random weights and the checkpoint is then loaded *strictly* by this module: missing and
unexpected keys, or shape mismatches, are an InputError that names them. mmcv-lite (no compiled ops) is
enough for these one-stage / top-down models: mmcv_shim supplies NMS; a model that needs another compiled op
fails with a message saying what to install.

RTMPose3D lives in mmpose's `projects/rtmpose3d` (not in the pip package): point `pose3d_project` at that
folder so its modules register. Its 3D output is turned into PoseBatch.keypoints3d (body-centred, camera axes,
metres) by `rtmw3d_to_body_frame`.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np

from cruxlab.errors import BackendUnavailableError, InputError
from cruxlab.joints import L_HIP, R_HIP
from reconstruction.backends.base import PoseBackend, PoseBatch
from reconstruction.backends.common import (
    as_frames, keypoint_set_for, load_state_strict, read_torch_file, require_modules, restore_torch_threads,
    set_torch_threads,
)
from reconstruction.backends.config import OpenMMLabOptions, check_device, require_file, resolve
from reconstruction.climber import ClimberTracker, pad_detections, select_boxes
from reconstruction.keypoints import KEYPOINT_SETS, to_canonical

log = logging.getLogger(__name__)

INSTALL_FIX = ("install the stack with `scripts/setup.sh openmmlab` (torch CPU wheel, then mmengine 0.10.7, "
               "mmcv-lite 2.1.0, mmdet 3.3.0, mmpose 1.3.2 without their opencv-python pins; see README "
               "\"Model backends\")")

# RTMW3D's SimCC3DLabel codec and TopdownPoseEstimator3D defaults (mmpose projects/rtmpose3d)
RTMW3D_ROOT_Z = 5.14388          # mean root depth of its training set, metres
RTMW3D_Z_RANGE = 2.1744869       # z half-range of the SimCC z axis, metres
RTMW3D_FOCAL = 1145.04940459     # default camera focal length, pixels


def import_openmmlab():
    """Import mmdet.apis and mmpose.apis (with the mmcv-lite shim); BackendUnavailableError naming the fix."""
    require_modules("openmmlab", ("torch", "mmcv", "mmengine"), INSTALL_FIX)
    from reconstruction.backends import mmcv_shim

    mmcv_shim.install()
    try:
        with mmcv_shim.torchvision_standin(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mmdet.apis as det_apis
            import mmpose.apis as pose_apis
    except ImportError as exc:
        raise BackendUnavailableError(f"openmmlab backend: importing mmdet/mmpose failed ({exc}); {INSTALL_FIX}"
                                      ) from exc
    return det_apis, pose_apis


def load_strict(model, path: Path, what: str, config: Path) -> dict:
    """Load a checkpoint's state_dict into `model`; any mismatch is an InputError with the keys. Returns meta."""
    blob = read_torch_file(path, what, "openmmlab", full_unpickle=True)
    if not isinstance(blob, dict):
        raise InputError(f"openmmlab backend: {what} {path} is not a checkpoint dict ({type(blob).__name__})")
    state = blob.get("state_dict", blob)
    if not isinstance(state, dict) or not state:
        raise InputError(f"openmmlab backend: {what} {path} has no state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    load_state_strict(model, state, "openmmlab", f"{what} {path.name} does not match config {config.name}: pass "
                      f"the config the checkpoint was trained with")
    meta = blob.get("meta", {})
    return meta if isinstance(meta, dict) else {}


def _build(init, config: Path, device: str, what: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return init(str(config), None, device=device)
    except BackendUnavailableError:
        raise
    except KeyError as exc:   # mmengine registries: "XYZ is not in the model registry"
        raise InputError(f"openmmlab backend: {what} config {config} names a module that is not registered "
                         f"({exc}); for RTMPose3D set pose3d_project to mmpose's projects/rtmpose3d folder") from exc
    except Exception as exc:
        raise InputError(f"openmmlab backend: {what} config {config} could not be built ({type(exc).__name__}: "
                         f"{str(exc).strip()[:300]}); is it an mmdet 3.x / mmpose 1.x config?") from exc


def register_project(folder: Path | None, module: str = "rtmpose3d") -> None:
    """Import an mmpose project package (registers its models/codecs), e.g. projects/rtmpose3d."""
    if folder is None:
        return
    folder = Path(folder)
    if not (folder / module / "__init__.py").is_file():
        raise BackendUnavailableError(
            f"openmmlab backend: pose3d_project {folder} has no {module}/ package; point it at the "
            f"projects/rtmpose3d folder of an mmpose checkout (git clone the mmpose repository)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    __import__(module)


def rtmw3d_to_body_frame(keypoints2d: np.ndarray, simcc_z: np.ndarray, depth_bins: float,
                         focal_px: float = RTMW3D_FOCAL, root_z: float = RTMW3D_ROOT_Z,
                         z_range: float = RTMW3D_Z_RANGE) -> np.ndarray:
    """RTMW3D outputs -> (N, K, 3) metres, origin mid-hip, camera axes (x right, y down, z away).

    keypoints2d: (N, K, 2) image pixels (`transformed_keypoints`); simcc_z: (N, K) z location on the SimCC z axis
    in input units (`keypoints_simcc[..., 2]`), 0..depth_bins. z relative to the root is
    (simcc_z / (depth_bins / 2) - 1) * z_range (the codec's decode); x, y follow the model's own pinhole
    assumption (a person at `root_z` metres seen with `focal_px`): offset_px * depth / focal_px. The COCO-WholeBody
    hips are joints 11 and 12, as in the codec's root.
    """
    kp = np.asarray(keypoints2d, dtype=np.float64)
    z_rel = (np.asarray(simcc_z, dtype=np.float64) / (depth_bins / 2.0) - 1.0) * z_range
    depth = root_z + z_rel
    root_uv = kp[:, [L_HIP, R_HIP]].mean(axis=1, keepdims=True)
    xy = (kp - root_uv) * depth[..., None] / focal_px
    out = np.concatenate([xy, z_rel[..., None]], axis=-1)
    out -= out[:, [L_HIP, R_HIP]].mean(axis=1, keepdims=True)
    return out.astype(np.float32)


class OpenMMLabPose(PoseBackend):
    """MMDet detector + MMPose top-down model (2D, or RTMPose3D for 2D + 3D), weights the user supplies."""

    name = "openmmlab"
    provides_3d = False

    def __init__(self, config_file: str | Path | None = None, **options) -> None:
        resolved = resolve("openmmlab", options, config_file)
        o: OpenMMLabOptions = resolved.options
        self.options = o
        self.device = check_device(o.device, "openmmlab")
        det_apis, pose_apis = import_openmmlab()
        self._inference_detector = det_apis.inference_detector
        det_cfg = require_file(o.det_config, "MMDet detector config", "openmmlab", "det_config", (".py",))
        det_ckpt = require_file(o.det_checkpoint, "MMDet detector checkpoint", "openmmlab", "det_checkpoint",
                                (".pth", ".pt"))
        self.is_3d = o.pose3d_config is not None
        if self.is_3d:
            pose_cfg = require_file(o.pose3d_config, "RTMPose3D config", "openmmlab", "pose3d_config", (".py",))
            pose_ckpt = require_file(o.pose3d_checkpoint, "RTMPose3D checkpoint", "openmmlab", "pose3d_checkpoint",
                                     (".pth", ".pt"))
            register_project(o.pose3d_project)
        else:
            pose_cfg = require_file(o.pose_config, "MMPose config", "openmmlab", "pose_config", (".py",))
            pose_ckpt = require_file(o.pose_checkpoint, "MMPose checkpoint", "openmmlab", "pose_checkpoint",
                                     (".pth", ".pt"))
        self.detector = _build(det_apis.init_detector, det_cfg, self.device, "detector")
        det_meta = load_strict(self.detector, det_ckpt, "detector checkpoint", det_cfg)
        if "dataset_meta" in det_meta:
            self.detector.dataset_meta = det_meta["dataset_meta"]
        classes = list(self.detector.dataset_meta.get("classes", ()))
        self.person_class = (classes.index("person") if "person" in classes and resolved.sources["det_category"]
                             == "default" else o.det_category)
        self.pose_model = _build(pose_apis.init_model, pose_cfg, self.device, "pose")
        pose_meta = load_strict(self.pose_model, pose_ckpt, "pose checkpoint", pose_cfg)
        if "dataset_meta" in pose_meta:
            self.pose_model.dataset_meta = pose_meta["dataset_meta"]
        k = int(self.pose_model.dataset_meta["num_keypoints"])
        self.keypoint_set = keypoint_set_for(k, None)
        if self.is_3d:
            self.provides_3d = True
            self.pose_model.test_cfg["mode"] = "vis"   # keypoints = SimCC (x, y, z); transformed_keypoints = 2D px
            codec = self.pose_model.cfg.get("codec", {})
            self.depth_bins = float(codec.get("input_size", (0, 0, 288))[2])
        from mmengine.dataset import Compose
        from mmengine.registry import DefaultScope

        with DefaultScope.overwrite_default_scope("mmpose"):
            self._pose_pipeline = Compose(self.pose_model.cfg.test_dataloader.dataset.pipeline)
        self.tracker = ClimberTracker(min_score=o.det_score_threshold)
        self._threads_before = set_torch_threads(o.threads)
        log.info("openmmlab: detector %s, pose %s (%s, K=%d%s) on %s", det_cfg.name, pose_cfg.name,
                 self.keypoint_set, k, ", 3D" if self.is_3d else "", self.device)

    def detect(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """People in B frames: NaN-padded boxes (B, P, 4) image px and scores (B, P)."""
        from mmengine.registry import DefaultScope

        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
        with DefaultScope.overwrite_default_scope("mmdet"):   # the pipeline's transforms live in mmdet's scope
            results = self._inference_detector(self.detector, bgr)
        per_frame = []
        for r in results:
            inst = r.pred_instances.cpu().numpy()
            keep = (inst.labels == self.person_class) & (inst.scores >= self.options.det_score_threshold)
            per_frame.append((inst.bboxes[keep].astype(np.float32), inst.scores[keep].astype(np.float32)))
        return pad_detections(per_frame)

    def topdown(self, frames: np.ndarray, boxes: np.ndarray) -> list:
        """One person box per frame -> mmpose PoseDataSamples, in one batched forward pass.

        What mmpose.apis.inference_topdown does for the boxes of one image, across frames instead, with the
        test pipeline built once (inference_topdown rebuilds it on every call)."""
        import torch
        from mmengine.dataset import pseudo_collate
        from mmengine.registry import DefaultScope

        if len(frames) == 0:
            return []
        with warnings.catch_warnings(), DefaultScope.overwrite_default_scope("mmpose"):
            warnings.simplefilter("ignore")
            data = []
            for frame, box in zip(frames, boxes, strict=True):
                info = {"img": np.ascontiguousarray(frame[..., ::-1]), "bbox": box[None].astype(np.float32),
                        "bbox_score": np.ones(1, dtype=np.float32), **self.pose_model.dataset_meta}
                data.append(self._pose_pipeline(info))
            with torch.no_grad():
                return self.pose_model.test_step(pseudo_collate(data))

    def process(self, frames: np.ndarray) -> PoseBatch:
        frames = as_frames(frames, "openmmlab")
        B = len(frames)
        boxes, scores = self.detect(frames)
        climber = select_boxes(boxes, self.tracker.update(boxes, scores))
        k = len(KEYPOINT_SETS[self.keypoint_set])
        kp = np.full((B, k, 2), np.nan, dtype=np.float32)
        conf = np.zeros((B, k), dtype=np.float32)
        kp3 = np.full((B, k, 3), np.nan, dtype=np.float32) if self.is_3d else None
        found = np.flatnonzero(np.isfinite(climber).all(axis=1))
        for i, sample in zip(found, self.topdown(frames[found], climber[found]), strict=True):
            inst = sample.pred_instances
            conf[i] = np.asarray(inst.keypoint_scores).reshape(-1, k)[0]
            if self.is_3d:
                kp2d = np.asarray(inst.transformed_keypoints).reshape(-1, k, 2)[:1]
                simcc = np.asarray(inst.keypoints).reshape(-1, k, 3)[:1]
                kp3[i] = rtmw3d_to_body_frame(kp2d, simcc[..., 2], self.depth_bins,
                                              self.options.focal_px or RTMW3D_FOCAL)[0]
                kp[i] = kp2d[0]
            else:
                kp[i] = np.asarray(inst.keypoints).reshape(-1, k, 2)[0]
        conf = np.clip(conf, 0.0, 1.0)
        kp21, conf21 = to_canonical(kp, conf, self.keypoint_set)
        kp3_21 = None
        if kp3 is not None:
            kp3_21, _ = to_canonical(kp3, conf, self.keypoint_set)
        return PoseBatch(kp21, conf21, kp3_21, climber)

    def close(self) -> None:
        self.detector = self.pose_model = None
        restore_torch_threads(self._threads_before)
        self._threads_before = None
