"""The `onnx` pose backend run end to end on tiny ONNX graphs with RTMDet's and RTMPose's signatures.

The graphs are built here with onnx.helper and compute something checkable from the image:
- the detector returns the bounding box of the red pixels (in its letterboxed input) as `dets`, plus a second,
  non-person detection (label 1) that the runner must drop;
- the pose model puts every keypoint's SimCC maximum on the green pixels of its crop.
So a red "person" with a green dot must come back as a box around the red rectangle and keypoints on the dot,
in image pixels: that checks letterbox scaling, the affine crop, SimCC decoding and crop -> image conversion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (scripts/setup.sh onnx)")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (scripts/setup.sh onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cruxlab.errors import BackendUnavailableError, InputError  # noqa: E402
from cruxlab.joints import JOINT_INDEX  # noqa: E402
from reconstruction.backends import get_pose_backend  # noqa: E402
from reconstruction.backends.onnx_rtmpose import (  # noqa: E402
    boxes_to_center_scale, crop_matrices, crop_to_image, letterbox, simcc_decode,
)

OPSET = [helper.make_opsetid("", 17)]


def _const(name: str, array: np.ndarray):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))


def _first_last(prefix: str, mask_profile: str, n: int) -> list:
    """Nodes computing first and last+1 index where a (1, n) 0/1 profile is 1, as float (1, 1) tensors."""
    ramp = np.arange(n, dtype=np.float32)
    return [
        _const(f"{prefix}_rev", (n - ramp)[None]),
        _const(f"{prefix}_fwd", (ramp + 1)[None]),
        helper.make_node("Mul", [mask_profile, f"{prefix}_rev"], [f"{prefix}_a"]),
        helper.make_node("Mul", [mask_profile, f"{prefix}_fwd"], [f"{prefix}_b"]),
        helper.make_node("ArgMax", [f"{prefix}_a"], [f"{prefix}_ia"], axis=1, keepdims=1),
        helper.make_node("ArgMax", [f"{prefix}_b"], [f"{prefix}_ib"], axis=1, keepdims=1),
        helper.make_node("Cast", [f"{prefix}_ia"], [f"{prefix}_lo"], to=TensorProto.FLOAT),
        helper.make_node("Cast", [f"{prefix}_ib"], [f"{prefix}_hi0"], to=TensorProto.FLOAT),
        _const(f"{prefix}_one", np.ones((1, 1), np.float32)),
        helper.make_node("Add", [f"{prefix}_hi0", f"{prefix}_one"], [f"{prefix}_hi"]),
    ]


def make_detector(path: Path, size: tuple[int, int] = (320, 320)) -> Path:
    """RTMDet-like end2end graph: input (1,3,H,W) BGR normalised -> dets (1,2,5), labels (1,2)."""
    h, w = size
    nodes = [
        _const("ch_idx", np.array(2, np.int64)),
        helper.make_node("Gather", ["input", "ch_idx"], ["red"], axis=1),           # (1, H, W)
        _const("zero", np.array(0.0, np.float32)),
        helper.make_node("Greater", ["red", "zero"], ["red_mask_b"]),
        helper.make_node("Cast", ["red_mask_b"], ["red_mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["red_mask"], ["colprof"], axes=[1], keepdims=0),  # (1, W)
        helper.make_node("ReduceMax", ["red_mask"], ["rowprof"], axes=[2], keepdims=0),  # (1, H)
        helper.make_node("ReduceMax", ["colprof"], ["score"], axes=[1], keepdims=1),     # (1, 1)
        *_first_last("x", "colprof", w),
        *_first_last("y", "rowprof", h),
        helper.make_node("Concat", ["x_lo", "y_lo", "x_hi", "y_hi", "score"], ["det"], axis=1),  # (1, 5)
        _const("shift", np.array([[5, 5, 5, 5, 0]], np.float32)),
        helper.make_node("Add", ["det", "shift"], ["det_other"]),
        helper.make_node("Concat", ["det", "det_other"], ["dets2"], axis=0),                 # (2, 5)
        _const("axes0", np.array([0], np.int64)),
        helper.make_node("Unsqueeze", ["dets2", "axes0"], ["dets"]),                         # (1, 2, 5)
        _const("labels", np.array([[0, 1]], np.int64)),
    ]
    graph = helper.make_graph(
        nodes, "tiny_rtmdet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, 2, 5]),
         helper.make_tensor_value_info("labels", TensorProto.INT64, [1, 2])],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def make_pose(path: Path, k: int = 17, size_wh: tuple[int, int] = (192, 256), ratio: int = 2) -> Path:
    """RTMPose-like graph: input (N,3,h,w) RGB normalised -> simcc_x (N,K,w*r), simcc_y (N,K,h*r) whose maxima
    sit on the green pixels of the crop (every keypoint at the same place)."""
    w, h = size_wh
    up_x = np.zeros((w, w * ratio), np.float32)
    up_x[np.arange(w), np.arange(w) * ratio] = 1.0
    up_y = np.zeros((h, h * ratio), np.float32)
    up_y[np.arange(h), np.arange(h) * ratio] = 1.0
    nodes = [
        _const("ch_idx", np.array(1, np.int64)),
        helper.make_node("Gather", ["input", "ch_idx"], ["green"], axis=1),          # (N, h, w)
        _const("thr", np.array(1.0, np.float32)),
        helper.make_node("Greater", ["green", "thr"], ["g_b"]),
        helper.make_node("Cast", ["g_b"], ["g"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["g"], ["xprof"], axes=[1], keepdims=0),       # (N, w)
        helper.make_node("ReduceMax", ["g"], ["yprof"], axes=[2], keepdims=0),       # (N, h)
        _const("up_x", up_x), _const("up_y", up_y),
        helper.make_node("MatMul", ["xprof", "up_x"], ["sx"]),                        # (N, w*r)
        helper.make_node("MatMul", ["yprof", "up_y"], ["sy"]),
        _const("axes1", np.array([1], np.int64)),
        helper.make_node("Unsqueeze", ["sx", "axes1"], ["sx1"]),
        helper.make_node("Unsqueeze", ["sy", "axes1"], ["sy1"]),
        _const("reps", np.array([1, k, 1], np.int64)),
        helper.make_node("Tile", ["sx1", "reps"], ["simcc_x"]),
        helper.make_node("Tile", ["sy1", "reps"], ["simcc_y"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_rtmpose",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, h, w])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, ["batch", k, w * ratio]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, ["batch", k, h * ratio])],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def person_frames(n: int, h: int = 480, w: int = 640, seed: int = 0):
    """Frames with a red rectangle (the person) moving up and a green 5x5 dot inside it.

    Returns frames (n, h, w, 3) uint8, boxes (n, 4) x0, y0, x1, y1 (exclusive end), dots (n, 2) dot centres."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[..., 2] = rng.integers(0, 120, (n, h, w), dtype=np.uint8)   # blue noise: neither red nor green
    boxes = np.zeros((n, 4), np.float32)
    dots = np.zeros((n, 2), np.float32)
    for i in range(n):
        x0, y0 = 250 + 3 * i, 200 - 10 * i
        x1, y1 = x0 + 90, y0 + 220
        frames[i, y0:y1, x0:x1] = (255, 0, 0)
        dx, dy = x0 + 30 + 2 * i, y0 + 60 + 5 * i
        frames[i, dy - 2:dy + 3, dx - 2:dx + 3] = (0, 255, 0)
        boxes[i] = (x0, y0, x1, y1)
        dots[i] = (dx, dy)
    return frames, boxes, dots


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("onnx_models")
    return {
        "det": make_detector(d / "rtmdet.onnx"),
        "pose17": make_pose(d / "rtmpose17.onnx", k=17),
        "pose133": make_pose(d / "rtmw133.onnx", k=133, size_wh=(288, 384)),
    }


def test_geometry_roundtrip_crop_to_image():
    boxes = np.array([[100, 50, 200, 450], [10, 10, 400, 60]], np.float64)
    center, scale = boxes_to_center_scale(boxes, (192, 256), 1.25)
    # aspect fixed to 192:256 and the box enlarged by 1.25 on its long side
    np.testing.assert_allclose(scale[:, 0] / scale[:, 1], 0.75)
    np.testing.assert_allclose(scale[0], [375, 500])
    np.testing.assert_allclose(scale[1], [487.5, 650])
    pts = np.array([[[120.0, 80.0], [199.0, 449.0]], [[15.0, 20.0], [300.0, 55.0]]])
    mats = crop_matrices(center, scale, (192, 256))
    crop_pts = np.einsum("nij,nkj->nki", mats[:, :, :2], pts) + mats[:, None, :, 2]
    np.testing.assert_allclose(crop_to_image(crop_pts, center, scale, (192, 256)), pts, atol=1e-9)


def test_letterbox_and_simcc_decode():
    img = np.zeros((100, 200, 3), np.uint8)
    out, ratio = letterbox(img, (320, 320))
    assert out.shape == (320, 320, 3) and ratio == pytest.approx(1.6)
    assert (out[160:, :] == 114).all() and (out[:160, :] == 0).all()
    sx = np.full((1, 2, 20), -1.0)
    sy = np.full((1, 2, 30), -1.0)
    sx[0, 0, 7], sy[0, 0, 12] = 0.9, 0.6
    sx[0, 1, 3] = 0.5                       # joint 1: y never positive -> not found
    kp, score = simcc_decode(sx, sy, 2.0)
    np.testing.assert_allclose(kp[0, 0], [3.5, 6.0])
    assert score[0, 0] == pytest.approx(0.6) and np.isnan(kp[0, 1]).all()


def test_onnx_backend_boxes_and_keypoints_in_image_pixels(models):
    frames, boxes, dots = person_frames(4)
    with get_pose_backend("onnx", det_model=models["det"], pose_model=models["pose17"], device="cpu") as backend:
        batch = backend.process(frames)
    assert batch.keypoints.shape == (4, 21, 2) and batch.confidence.shape == (4, 21)
    assert batch.keypoints3d is None and batch.boxes.shape == (4, 4)
    # detector: letterboxed (ratio 0.5) and mapped back; the box edges within a pixel or two of the rectangle
    np.testing.assert_allclose(batch.boxes, boxes, atol=2.5)
    coco = [JOINT_INDEX[n] for n in ("nose", "left_wrist", "right_ankle")]
    for i in range(4):
        # the dot is 5 px wide and the crop downsamples ~2x: argmax lands on its first crop column/row
        np.testing.assert_allclose(batch.keypoints[i, coco], np.repeat(dots[i][None], 3, 0), atol=4.0)
    np.testing.assert_allclose(batch.confidence[:, :17], 1.0)
    # a COCO-17 model has no heels / big toes: NaN with confidence 0
    assert np.isnan(batch.keypoints[:, 17:]).all() and (batch.confidence[:, 17:] == 0).all()


def test_onnx_backend_wholebody_maps_feet(models, tmp_path):
    frames, _, dots = person_frames(2, seed=1)
    (tmp_path / "cruxlab.toml").write_text(
        f'[models.onnx]\ndet_model = "{models["det"]}"\npose_model = "{models["pose133"].name}"\n'
        f'device = "cpu"\n')
    # pose_model is relative to the TOML's folder: put a copy there
    (tmp_path / models["pose133"].name).write_bytes(models["pose133"].read_bytes())
    with get_pose_backend("onnx", config_file=tmp_path / "cruxlab.toml") as backend:
        assert backend.pose.keypoint_set == "coco_wholebody133"
        assert backend.pose.input_wh == (288, 384)
        batch = backend.process(frames)
    assert np.isfinite(batch.keypoints).all()   # COCO-WholeBody has heels and big toes
    np.testing.assert_allclose(batch.keypoints[:, JOINT_INDEX["left_heel"]], dots, atol=4.0)


def test_onnx_backend_frames_without_person(models):
    frames = np.zeros((3, 240, 320, 3), np.uint8)
    frames[1, 50:150, 100:140] = (255, 0, 0)
    frames[1, 80:83, 110:113] = (0, 255, 0)
    with get_pose_backend("onnx", det_model=models["det"], pose_model=models["pose17"], device="cpu") as backend:
        batch = backend.process(frames)
    assert np.isnan(batch.boxes[[0, 2]]).all() and np.isfinite(batch.boxes[1]).all()
    assert np.isnan(batch.keypoints[[0, 2]]).all() and (batch.confidence[[0, 2]] == 0).all()


def test_onnx_backend_bad_inputs(models, tmp_path):
    with pytest.raises(BackendUnavailableError, match="CRUXLAB_ONNX_POSE_MODEL"):
        get_pose_backend("onnx", det_model=models["det"], device="cpu")
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        get_pose_backend("onnx", det_model=models["det"], pose_model=tmp_path / "nope.onnx", device="cpu")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(models["pose17"].read_bytes()[:200])
    with pytest.raises(InputError, match="could not be loaded"):
        get_pose_backend("onnx", det_model=models["det"], pose_model=corrupt, device="cpu")
    with pytest.raises(InputError, match="simcc_x"):          # a detector where the pose model belongs
        get_pose_backend("onnx", det_model=models["det"], pose_model=models["det"], device="cpu")
    with pytest.raises(InputError, match="dets"):
        get_pose_backend("onnx", det_model=models["pose17"], pose_model=models["pose17"], device="cpu")
    with pytest.raises(InputError, match="has 17 joints but the pose model outputs 133"):
        get_pose_backend("onnx", det_model=models["det"], pose_model=models["pose133"], device="cpu",
                         keypoint_set="coco17")
    with pytest.raises(BackendUnavailableError, match="no CUDA provider"):
        get_pose_backend("onnx", det_model=models["det"], pose_model=models["pose17"], device="cuda")
    with pytest.raises(InputError, match="unknown option"):
        get_pose_backend("onnx", det_model=models["det"], pose_model=models["pose17"], checkpoint="x")
