"""`sam2` mask backend: SAM 2's video predictor segments the climber on the keyframes, prompted with their box.

    masks = Sam2Masks(checkpoint="sam2.1_hiera_tiny.pt", device="cpu", image_size=512)
    masks.segment(frames, boxes, keypoints)      # (N, H, W) bool, temporally consistent

How it runs: the N keyframes go to a temporary folder of JPEGs (SAM 2's frame loader), `init_state` loads them,
the climber's box (plus, when confident, points on their hips and shoulders) is added as a prompt on the
first keyframe that has a box and on every `PROMPT_EVERY`-th one after it, then `propagate_in_video` runs
forward from the first prompt and backward to the frames before it. A keyframe the propagation never reaches
gets an empty mask.

Weights are a file the user supplies (`{"model": state_dict}` as SAM 2 releases them). Loading is strict: a
missing/corrupt file, or a checkpoint that does not fit the config (missing / unexpected keys, shape
mismatches), is an error that names the keys and the fix. torch and sam2 are imported only here.
"""

from __future__ import annotations

import importlib.resources
import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np

from cruxlab.errors import InputError
from cruxlab.joints import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER
from reconstruction.backends.base import MaskBackend
from reconstruction.backends.common import (
    load_state_strict, read_torch_file, require_modules, restore_torch_threads, set_torch_threads,
)
from reconstruction.backends.config import Sam2Options, check_device, require_file, resolve

log = logging.getLogger(__name__)

INSTALL_FIX = ("install it with `scripts/setup.sh sam2` (CPU torch from the local wheel, then "
               "`SAM2_BUILD_CUDA=0 pip install --no-build-isolation --no-deps sam2==1.1.0 hydra-core iopath`)")
PROMPT_EVERY = 10          # re-prompt with the detected box on every 10th keyframe (drift guard)
POINT_MIN_CONF = 0.5       # keypoints used as positive clicks only above this confidence

# SAM 2's own inference post-processing (build_sam2_video_predictor's apply_postprocessing), minus hole filling
# on the CPU: that step needs SAM 2's CUDA extension.
POSTPROCESSING = {
    "model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability": True,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta": 0.05,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh": 0.98,
    "model.binarize_mask_from_pts_for_mem_enc": True,
}


def _import_sam2():
    require_modules("sam2", ("torch", "hydra", "omegaconf", "sam2"), INSTALL_FIX)
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate, OmegaConf


def config_path(config: str) -> Path:
    """A SAM 2 config: an existing .yaml path, or a name inside the sam2 package ('configs/sam2.1/...yaml')."""
    p = Path(config).expanduser()
    if p.is_file():
        return p
    packaged = importlib.resources.files("sam2") / config
    if not packaged.is_file():
        root = importlib.resources.files("sam2") / "configs"
        names = sorted(f"configs/{d.name}/{f.name}" for d in root.iterdir() if d.is_dir() and "train" not in d.name
                       for f in d.iterdir() if f.name.endswith(".yaml"))
        raise InputError(f"sam2 backend: config {config!r} is neither a file nor a config of the sam2 package; "
                         f"use one of {', '.join(names)} (matching your checkpoint) or a .yaml path")
    return Path(str(packaged))


def build_model(config: str, device: str, image_size: int | None, video: bool = True):
    """Instantiate SAM 2 from its config (random weights) as the video predictor, on `device`."""
    instantiate, OmegaConf = _import_sam2()
    cfg = OmegaConf.load(config_path(config))
    if "model" not in cfg:
        raise InputError(f"sam2 backend: {config} has no `model:` section; is it a SAM 2 model config?")
    if video:
        OmegaConf.update(cfg, "model._target_", "sam2.sam2_video_predictor.SAM2VideoPredictor", force_add=True)
    for key, value in POSTPROCESSING.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    OmegaConf.update(cfg, "model.fill_hole_area", 8 if device.startswith("cuda") else 0, force_add=True)
    if image_size:
        if image_size % 32:
            raise InputError(f"sam2 backend: image_size {image_size} must be a multiple of 32 (e.g. 512, 1024)")
        OmegaConf.update(cfg, "model.image_size", int(image_size), force_add=True)
    OmegaConf.resolve(cfg)
    return instantiate(cfg.model, _recursive_=True)


def load_checkpoint_strict(model, path: Path, config: str) -> None:
    """Load `{"model": state_dict}` into `model`; every mismatch is an InputError naming keys and the fix."""
    blob = read_torch_file(path, "checkpoint", "sam2")
    if not isinstance(blob, dict) or "model" not in blob or not isinstance(blob["model"], dict):
        keys = list(blob)[:5] if isinstance(blob, dict) else type(blob).__name__
        raise InputError(f"sam2 backend: checkpoint {path} is not a SAM 2 checkpoint (expected a dict with a "
                         f"'model' state_dict, found {keys})")
    load_state_strict(model, blob["model"], "sam2",
                      f"the checkpoint does not match config {config}: pass the config of the same model size "
                      f"(hiera_t / hiera_s / hiera_b+ / hiera_l, sam2 vs sam2.1) with --sam2-config")


def prompt_points(keypoints: np.ndarray | None, confidence: np.ndarray | None = None) -> np.ndarray:
    """(N, 21, 2) keypoints -> (N, 2, 2) positive clicks: mid-hip and mid-shoulder, NaN where not confident.

    Keypoints given without confidence are taken as confident where finite."""
    n = 0 if keypoints is None else len(keypoints)
    out = np.full((n, 2, 2), np.nan, dtype=np.float32)
    if keypoints is None:
        return out
    kp = np.asarray(keypoints, dtype=np.float32)
    ok = np.isfinite(kp).all(axis=-1)
    if confidence is not None:
        ok &= np.asarray(confidence) >= POINT_MIN_CONF
    for slot, (a, b) in enumerate(((L_HIP, R_HIP), (L_SHOULDER, R_SHOULDER))):
        both = ok[:, a] & ok[:, b]
        out[both, slot] = (kp[both, a] + kp[both, b]) / 2
    return out


def prompt_frames(boxes: np.ndarray, every: int = PROMPT_EVERY) -> np.ndarray:
    """Indices of the keyframes to prompt: the first with a box, then every `every`-th frame that has one."""
    has = np.flatnonzero(np.isfinite(boxes).all(axis=1))
    if len(has) == 0:
        return has
    chosen = [has[0]]
    for i in has[1:]:
        if i - chosen[-1] >= every:
            chosen.append(i)
    return np.asarray(chosen, dtype=np.int64)


class Sam2Masks(MaskBackend):
    """SAM 2 video predictor with a checkpoint the user supplies."""

    name = "sam2"

    def __init__(self, config_file: str | Path | None = None, **options) -> None:
        resolved = resolve("sam2", options, config_file)
        o: Sam2Options = resolved.options
        self.options = o
        _import_sam2()
        self.device = check_device(o.device, "sam2")
        checkpoint = require_file(o.checkpoint, "SAM 2 checkpoint", "sam2", "checkpoint", (".pt", ".pth"))
        model = build_model(o.config, self.device, o.image_size)
        load_checkpoint_strict(model, checkpoint, o.config)
        self.predictor = model.to(self.device).eval()
        self._threads_before = set_torch_threads(o.threads)
        log.info("sam2: %s (%s) at %d px on %s", checkpoint.name, o.config, self.predictor.image_size, self.device)

    def segment(self, frames: list[np.ndarray], boxes: np.ndarray, keypoints: np.ndarray | None = None
                ) -> np.ndarray:
        import torch

        n = len(frames)
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.shape != (n, 4):
            raise InputError(f"sam2 backend: boxes must be (N, 4) for N={n} frames, got {boxes.shape}")
        if n == 0:
            return np.zeros((0, 0, 0), dtype=bool)
        h, w = frames[0].shape[:2]
        if any(f.shape != (h, w, 3) for f in frames):
            raise InputError("sam2 backend: all keyframes must be (H, W, 3) RGB images of one size")
        masks = np.zeros((n, h, w), dtype=bool)
        prompts = prompt_frames(boxes)
        if len(prompts) == 0:
            log.warning("sam2: no climber box on any keyframe; masks are empty")
            return masks
        points = prompt_points(keypoints) if self.options.use_keypoints else prompt_points(None)
        with tempfile.TemporaryDirectory(prefix="cruxlab-sam2-") as tmp, torch.inference_mode():
            for i, frame in enumerate(frames):
                cv2.imwrite(str(Path(tmp) / f"{i:05d}.jpg"), np.ascontiguousarray(frame[..., ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
            state = self.predictor.init_state(video_path=tmp, offload_video_to_cpu=True)
            for i in prompts:
                p = points[i][np.isfinite(points[i]).all(axis=1)] if len(points) else np.zeros((0, 2))
                kwargs = {"points": p, "labels": np.ones(len(p), np.int32)} if len(p) else {}
                self.predictor.add_new_points_or_box(state, frame_idx=int(i), obj_id=1, box=boxes[i], **kwargs)
            for reverse in (False, True):
                if reverse and prompts[0] == 0:
                    break
                for idx, _obj_ids, logits in self.predictor.propagate_in_video(
                        state, start_frame_idx=int(prompts[0]), reverse=reverse):
                    masks[idx] = (logits[0, 0] > 0).cpu().numpy()
            self.predictor.reset_state(state)
        return masks

    def close(self) -> None:
        self.predictor = None
        restore_torch_threads(self._threads_before)
        self._threads_before = None
