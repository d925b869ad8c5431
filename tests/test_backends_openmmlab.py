"""The `openmmlab` backend on mmcv-lite: real mmdet/mmpose inference with checkpoints the test saves.

Models: RTMDet-tiny and RTMPose-t from the configs shipped inside the mmdet/mmpose packages, random weights
saved as OpenMMLab checkpoints and loaded strictly by the adapter. To make the outputs checkable, the test
replaces two *intermediate* tensors with forward hooks (everything after them is the libraries' real code):
- the detector head's raw maps: a confident "person" on the floor that never moves and a second person that
  climbs; mmdet decodes, thresholds, runs NMS (cruxlab's shim) and rescales them to the frame;
- the pose head's GAU features, set to ones, with cls_x / cls_y weights that put the SimCC maximum at a chosen
  bin: mmpose decodes it, and the keypoints must land where the crop geometry says, in image pixels.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/setup.sh openmmlab)")
pytest.importorskip("mmpose", reason="the OpenMMLab stack is not installed (scripts/install_openmmlab.sh)")
pytest.importorskip("mmdet", reason="the OpenMMLab stack is not installed (scripts/install_openmmlab.sh)")

from cruxlab.errors import BackendUnavailableError, InputError  # noqa: E402
from cruxlab.joints import JOINT_INDEX  # noqa: E402
from reconstruction.backends import get_pose_backend, mmcv_shim  # noqa: E402
from reconstruction.backends.onnx_rtmpose import boxes_to_center_scale, crop_to_image  # noqa: E402
from reconstruction.backends.openmmlab import import_openmmlab, rtmw3d_to_body_frame  # noqa: E402


@pytest.fixture(scope="module")
def apis():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_openmmlab()


@pytest.fixture(scope="module")
def files(apis, tmp_path_factory):
    import mmdet
    import mmpose

    det_apis, pose_apis = apis
    d = tmp_path_factory.mktemp("openmmlab")
    det_cfg = os.path.join(os.path.dirname(mmdet.__file__), ".mim/configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py")
    base_pose = os.path.join(os.path.dirname(mmpose.__file__),
                             ".mim/configs/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py")
    pose_cfg = d / "rtmpose-t_noflip.py"        # a user config inheriting from a packaged one
    pose_cfg.write_text(f"_base_ = [{base_pose!r}]\nmodel = dict(test_cfg=dict(flip_test=False))\n")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = det_apis.init_detector(det_cfg, None, device="cpu")
        pose = pose_apis.init_model(str(pose_cfg), None, device="cpu")
    sd = pose.state_dict()
    sd["head.cls_x.weight"].zero_()
    sd["head.cls_y.weight"].zero_()
    sd["head.cls_x.weight"][150] = 1.0 / sd["head.cls_x.weight"].shape[1]   # simcc x bin 150 -> crop x 75
    sd["head.cls_y.weight"][300] = 1.0 / sd["head.cls_y.weight"].shape[1]   # simcc y bin 300 -> crop y 150
    torch.save({"state_dict": det.state_dict(), "meta": {"dataset_meta": {"classes": ("person", "bicycle")}}},
               d / "det.pth")
    torch.save({"state_dict": sd, "meta": {}}, d / "pose.pth")
    return {"det_config": det_cfg, "det_checkpoint": d / "det.pth", "pose_config": pose_cfg,
            "pose_checkpoint": d / "pose.pth", "dir": d}


# the two people, in the 480 x 640 network input (frames are 240 x 320: mmdet resizes x2 and back)
FLOOR = (100, 200, 260, 440)        # x0, y0, x1, y1: a big, confident spectator standing on the floor


def climber_box(frame: int) -> tuple[int, int, int, int]:
    return (400, 240 - 24 * frame, 480, 440 - 24 * frame)


def _hook_detector(model, n_classes: int = 80):
    """Replace the RTMDet head's outputs by maps with two boxes (per call = per frame)."""
    calls = {"n": 0}
    strides = (8, 16, 32)

    def hook(_module, _inputs, outputs):
        cls_scores, bbox_preds = outputs
        frame = calls["n"]
        calls["n"] += 1
        new_cls = [torch.full_like(c, -20.0) for c in cls_scores]
        new_reg = [torch.zeros_like(r) for r in bbox_preds]
        for box, score in ((FLOOR, 3.0), (climber_box(frame), 2.0)):    # sigmoid: 0.95, 0.88
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            gx, gy = int(cx // strides[0]), int(cy // strides[0])       # level 0, priors at gx * 8 (offset 0)
            px, py = gx * strides[0], gy * strides[0]
            new_cls[0][0, 0, gy, gx] = score
            new_reg[0][0, :, gy, gx] = torch.tensor([px - box[0], py - box[1], box[2] - px, box[3] - py],
                                                    dtype=new_reg[0].dtype)
        return new_cls, new_reg

    return model.bbox_head.register_forward_hook(hook)


def _hook_pose(model):
    return model.head.gau.register_forward_hook(lambda _m, _i, out: torch.ones_like(out))


def test_shim_nms_matches_bruteforce(monkeypatch):
    monkeypatch.setattr(mmcv_shim, "NMS_BLOCK", 64)       # several blocks: the block hand-over is exercised
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (300, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + rng.uniform(5, 40, (300, 2))], 1), dtype=torch.float32)
    scores = torch.tensor(rng.uniform(0, 1, 300), dtype=torch.float32)
    keep = mmcv_shim.nms(boxes, scores, 0.5).numpy()
    # reference: plain greedy loop
    order, ref = list(np.argsort(-scores.numpy(), kind="stable")), []
    b = boxes.numpy()
    while order:
        i = order.pop(0)
        ref.append(i)
        def iou(j):
            w = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]))
            h = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
            inter = w * h
            return inter / ((b[i, 2] - b[i, 0]) * (b[i, 3] - b[i, 1]) + (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1])
                            - inter)
        order = [j for j in order if iou(j) <= 0.5]
    np.testing.assert_array_equal(keep, ref)
    assert 20 < len(keep) < 300


def test_shim_names_the_fix_for_compiled_ops(apis):
    import mmcv.ops

    assert not mmcv_shim.has_compiled_ops()
    with pytest.raises(BackendUnavailableError, match="roi_align_forward.*mmcv-lite.*RTMDet"):
        mmcv.ops.roi_align(torch.zeros(1, 1, 8, 8), torch.tensor([[0, 0, 0, 4, 4.0]]), (2, 2))
    # batched_nms (what RTMDet's head calls) runs on the shim
    dets, keep = mmcv.ops.batched_nms(torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10.0]]),
                                      torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 1]),
                                      {"type": "nms", "iou_threshold": 0.5})
    assert sorted(keep.tolist()) == [0, 2]


def test_openmmlab_picks_the_climber_and_maps_keypoints(files):
    opts = {k: v for k, v in files.items() if k != "dir"}
    with get_pose_backend("openmmlab", device="cpu", threads=1, **opts) as backend:
        assert backend.keypoint_set == "coco17" and backend.person_class == 0
        hooks = [_hook_detector(backend.detector), _hook_pose(backend.pose_model)]
        frames = np.random.default_rng(0).integers(0, 255, (6, 240, 320, 3), dtype=np.uint8)
        first = backend.process(frames[:3])            # batches: the tracker keeps its state
        second = backend.process(frames[3:])
        for h in hooks:
            h.remove()
    boxes = np.concatenate([first.boxes, second.boxes])
    kp = np.concatenate([first.keypoints, second.keypoints])
    conf = np.concatenate([first.confidence, second.confidence])
    expected = np.array([climber_box(i) for i in range(6)], np.float32) / 2   # back in frame pixels
    # once the second person has climbed, it is the climber (not the bigger, more confident spectator)
    np.testing.assert_allclose(boxes[2:], expected[2:], atol=0.5)
    # keypoints: SimCC bin (150, 300) -> crop (75, 150) px -> image px through the climber box's crop
    center, scale = boxes_to_center_scale(boxes, (192, 256), 1.25)
    want = crop_to_image(np.tile([[75.0, 150.0]], (6, 1, 1)), center, scale, (192, 256))[:, 0]
    coco = [JOINT_INDEX[n] for n in ("nose", "left_hip", "right_ankle")]
    for j in coco:
        np.testing.assert_allclose(kp[:, j], want, atol=0.6)
    np.testing.assert_allclose(conf[:, :17], 1.0, atol=1e-4)
    assert np.isnan(kp[:, 17:]).all() and first.keypoints3d is None


def test_openmmlab_strict_loading_and_bad_input(files, tmp_path):
    opts = {k: v for k, v in files.items() if k != "dir"}
    with pytest.raises(BackendUnavailableError, match="--pose-checkpoint"):
        get_pose_backend("openmmlab", device="cpu", **{**opts, "pose_checkpoint": None})
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        get_pose_backend("openmmlab", device="cpu", **{**opts, "det_checkpoint": tmp_path / "gone.pth"})
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(files["pose_checkpoint"].read_bytes()[:1000])
    with pytest.raises(InputError, match="could not be read"):
        get_pose_backend("openmmlab", device="cpu", **{**opts, "pose_checkpoint": corrupt})
    # the detector's weights where the pose model's belong: keys of another architecture
    with pytest.raises(InputError, match=r"does not match config rtmpose-t_noflip.py.*Missing keys: \d+ .*"
                                         r"unexpected keys: \d+ \(neck\."):
        get_pose_backend("openmmlab", device="cpu", **{**opts, "pose_checkpoint": files["det_checkpoint"]})
    partial = tmp_path / "partial.pth"
    sd = torch.load(files["pose_checkpoint"], weights_only=True)["state_dict"]
    sd.pop("head.cls_x.weight")
    sd["head.cls_y.weight"] = sd["head.cls_y.weight"][:10]
    torch.save({"state_dict": sd}, partial)
    with pytest.raises(InputError, match="size mismatch for head.cls_y.weight"):
        get_pose_backend("openmmlab", device="cpu", **{**opts, "pose_checkpoint": partial})
    bad_cfg = tmp_path / "bad.py"
    bad_cfg.write_text("model = dict(type='NoSuchPoseEstimator')\n")
    with pytest.raises(InputError, match="bad.py"):
        get_pose_backend("openmmlab", device="cpu", **{**opts, "pose_config": bad_cfg})
    with pytest.raises(BackendUnavailableError, match="sees no CUDA GPU"):
        get_pose_backend("openmmlab", device="cuda", **opts)
    with pytest.raises(BackendUnavailableError, match="projects/rtmpose3d"):
        get_pose_backend("openmmlab", device="cpu", **{**opts, "pose3d_config": files["pose_config"],
                                                       "pose3d_checkpoint": files["pose_checkpoint"],
                                                       "pose3d_project": tmp_path})


def test_rtmw3d_conversion_on_recorded_outputs():
    """RTMPose3D needs mmpose's projects/rtmpose3d (not in the pip package): its conversion is checked on
    outputs in the model's format (2D px + SimCC z bins), against the codec's decode by hand."""
    k = 133
    kp2d = np.zeros((1, k, 2))
    kp2d[0, :, 0] = 500 + np.arange(k)          # joints spread along x, one pixel apart
    kp2d[0, :, 1] = 300
    kp2d[0, 11] = [600, 400]                    # left hip
    kp2d[0, 12] = [640, 400]                    # right hip
    z = np.full((1, k), 144.0)                  # bin 144 of 288 = root depth
    z[0, 0] = 288.0                             # nose: +z_range behind the root
    out = rtmw3d_to_body_frame(kp2d, z, 288.0, focal_px=1000.0, root_z=5.0, z_range=2.0)
    assert out.shape == (1, k, 3)
    np.testing.assert_allclose(out[0, [11, 12]].mean(0), 0, atol=1e-6)          # origin mid-hip
    np.testing.assert_allclose(out[0, 12, 0] - out[0, 11, 0], 40 * 5.0 / 1000)   # 40 px at 5 m, f 1000
    np.testing.assert_allclose(out[0, 0, 2], 2.0, atol=1e-6)                     # nose 2 m further away
    np.testing.assert_allclose(out[0, 0, 0], (500 - 620) * 7.0 / 1000, atol=1e-6)
