"""Speed of the heavy model backends on this machine's CPU: `python -m benchmarks backends`.

Compute cost does not depend on the weights' values, so models are built from their packaged configs with
random weights (no checkpoint is needed): the numbers are the real per-frame costs of these architectures.
Prints, for what is installed:
- mmcv-lite NMS shim on RTMDet's 8400 candidates (the worst case: every anchor above score_thr);
- openmmlab: RTMDet-tiny detection and RTMPose-t top-down pose per 1080x1440 frame;
- sam2: SAM 2.1 hiera-tiny video propagation per keyframe at 512 and 1024 px input.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.timing import best_of


def bench_nms() -> None:
    import torch

    from reconstruction.backends.mmcv_shim import nms

    rng = np.random.default_rng(0)
    for n, spread in ((8400, 640), (8400, 200)):
        xy = rng.uniform(0, spread, (n, 2))
        boxes = torch.tensor(np.concatenate([xy, xy + rng.uniform(10, 200, (n, 2))], 1), dtype=torch.float32)
        scores = torch.tensor(rng.uniform(0, 1, n), dtype=torch.float32)
        kept = len(nms(boxes, scores, 0.65))
        print(f"nms shim: {n} boxes ({kept} kept): {best_of(lambda: nms(boxes, scores, 0.65)) * 1e3:.0f} ms")


def bench_openmmlab(frame: np.ndarray) -> None:
    from reconstruction.backends.openmmlab import import_openmmlab

    det_apis, pose_apis = import_openmmlab()
    import mmdet
    import mmpose

    det_cfg = os.path.join(os.path.dirname(mmdet.__file__), ".mim/configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py")
    pose_cfg = os.path.join(os.path.dirname(mmpose.__file__),
                            ".mim/configs/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = det_apis.init_detector(det_cfg, None, device="cpu")
        pose = pose_apis.init_model(pose_cfg, None, device="cpu")
        import torch
        from mmengine.registry import DefaultScope

        bgr = np.ascontiguousarray(frame[..., ::-1])
        with torch.inference_mode():
            x_det = torch.randn(1, 3, 640, 640)
            t_det_net = best_of(lambda: det(x_det, mode="tensor"))
            x_pose = torch.randn(1, 3, 256, 192)
            t_pose_net = best_of(lambda: pose(x_pose, None, mode="tensor"))
        box = np.array([[400, 300, 700, 1200]], np.float32)
        with DefaultScope.overwrite_default_scope("mmpose"):
            t_pose = best_of(lambda: pose_apis.inference_topdown(pose, bgr, box))
    print(f"openmmlab: RTMDet-tiny network {t_det_net * 1e3:.0f} ms/frame (640x640); RTMPose-t network "
          f"{t_pose_net * 1e3:.0f} ms/person, with mmpose's pipeline {t_pose * 1e3:.0f} ms/person "
          f"({frame.shape[1]}x{frame.shape[0]} frame). Random weights: mmdet's post-processing of an untrained head "
          f"(every anchor above score_thr) is not representative, so detection is timed without it.")


def bench_sam2(frames: list[np.ndarray]) -> None:
    import torch

    from reconstruction.backends.sam2_backend import Sam2Masks, build_model

    for size in (512, 1024):
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Path(tmp) / "sam2_random.pt"
            torch.save({"model": build_model("configs/sam2.1/sam2.1_hiera_t.yaml", "cpu", size).state_dict()}, ckpt)
            with Sam2Masks(checkpoint=ckpt, image_size=size, device="cpu") as masks:
                boxes = np.tile(np.array([[400, 300, 700, 1200]], np.float32), (len(frames), 1))
                t = time.perf_counter()
                masks.segment(frames, boxes)
                dt = time.perf_counter() - t
        print(f"sam2: hiera-tiny at {size} px: {dt / len(frames):.2f} s/keyframe ({len(frames)} keyframes)")


def main() -> None:
    import importlib.util

    from reconstruction.video import iter_batches, probe, select_frames

    video = Path(__file__).resolve().parents[1] / "data" / "climbing" / "warp-fixed-input.mp4"
    info = probe(video)
    batch = next(iter_batches(info, select_frames(info, 6.0, 7.0, 4), max_side=None))
    frames = list(batch.frames)
    if importlib.util.find_spec("torch") is None:
        print("torch is not installed: scripts/setup.sh sam2 openmmlab")
        return
    bench_nms()
    if importlib.util.find_spec("mmpose") is not None:
        bench_openmmlab(frames[0])
    if importlib.util.find_spec("sam2") is not None:
        bench_sam2(frames[:4])


if __name__ == "__main__":
    main()
