"""The `sam2` mask backend with a random-initialised SAM 2.1 hiera-tiny checkpoint the test saves (256 px input).

Random weights segment nothing meaningful, so the checks are on the real code path: prompts go to the frames
we expect, propagation covers every keyframe (forward and backward), the masks returned are exactly the
predictor's logits > 0 at video resolution, and strict loading names what does not fit.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/setup.sh sam2)")
pytest.importorskip("sam2", reason="sam2 is not installed (scripts/setup.sh sam2)")

from cruxlab.errors import BackendUnavailableError, InputError  # noqa: E402
from cruxlab.joints import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER  # noqa: E402
from reconstruction.backends import get_mask_backend  # noqa: E402
from reconstruction.backends.sam2_backend import build_model, prompt_frames, prompt_points  # noqa: E402

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(CONFIG, "cpu", 256)
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_t_random.pt"
    torch.save({"model": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def backend(checkpoint):
    # one torch thread: on 2 shared cores torch's spin-waiting otherwise costs ~5x
    with get_mask_backend("sam2", checkpoint=checkpoint, config=CONFIG, image_size=256, device="cpu",
                          threads=1) as b:
        assert torch.get_num_threads() == 1
        yield b


def _frames(n: int, h: int = 120, w: int = 160) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        f = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        f[30 - 2 * i:100 - 2 * i, 60:100] = (200, 180, 160)
        out.append(f)
    return out


def test_prompt_helpers():
    boxes = np.full((25, 4), np.nan, np.float32)
    boxes[[2, 3, 5, 12, 13, 22, 24]] = [1, 2, 3, 4]
    np.testing.assert_array_equal(prompt_frames(boxes, every=10), [2, 12, 22])
    kp = np.full((2, 21, 2), np.nan, np.float32)
    kp[0, [L_HIP, R_HIP]] = [[10, 50], [20, 54]]
    kp[0, L_SHOULDER] = [12, 20]                     # right shoulder missing -> no shoulder click
    kp[1, [L_SHOULDER, R_SHOULDER]] = [[0, 0], [4, 2]]
    pts = prompt_points(kp)
    np.testing.assert_allclose(pts[0, 0], [15, 52])
    assert np.isnan(pts[0, 1]).all() and np.isnan(pts[1, 0]).all()
    np.testing.assert_allclose(pts[1, 1], [2, 1])


def test_sam2_segment_runs_the_video_predictor(backend, monkeypatch):
    frames = _frames(4)
    boxes = np.full((4, 4), np.nan, np.float32)
    boxes[1:] = [[60, 28, 100, 98], [60, 26, 100, 96], [60, 24, 100, 94]]
    kp = np.full((4, 21, 2), np.nan, np.float32)
    kp[:, [L_HIP, R_HIP]] = [[70, 70], [90, 70]]
    pred = backend.predictor
    prompted, emitted = [], {}
    add, propagate = pred.add_new_points_or_box, pred.propagate_in_video

    def spy_add(state, frame_idx, obj_id, points=None, labels=None, box=None, **kw):
        prompted.append((frame_idx, None if points is None else np.asarray(points).copy(), np.asarray(box).copy()))
        return add(state, frame_idx=frame_idx, obj_id=obj_id, points=points, labels=labels, box=box, **kw)

    def spy_propagate(state, **kw):
        for idx, ids, logits in propagate(state, **kw):
            emitted.setdefault(idx, (logits[0, 0] > 0).cpu().numpy())
            yield idx, ids, logits

    monkeypatch.setattr(pred, "add_new_points_or_box", spy_add)
    monkeypatch.setattr(pred, "propagate_in_video", spy_propagate)
    masks = backend.segment(frames, boxes, kp)
    assert masks.shape == (4, 120, 160) and masks.dtype == bool
    # prompted on the first frame with a box, with the box and the mid-hip click
    assert [p[0] for p in prompted] == [1]
    np.testing.assert_allclose(prompted[0][2], boxes[1])
    np.testing.assert_allclose(prompted[0][1], [[80, 70]])
    # forward from frame 1 and backward to frame 0: every keyframe reached, masks = the predictor's logits > 0
    assert sorted(emitted) == [0, 1, 2, 3]
    for i in range(4):
        np.testing.assert_array_equal(masks[i], emitted[i])
    # deterministic: the state is reset between calls
    monkeypatch.undo()
    np.testing.assert_array_equal(backend.segment(frames, boxes, kp), masks)


def test_threads_are_restored_on_close(checkpoint):
    before = torch.get_num_threads()
    b = get_mask_backend("sam2", checkpoint=checkpoint, config=CONFIG, image_size=256, device="cpu",
                         threads=before + 1)
    assert torch.get_num_threads() == before + 1
    b.close()
    assert torch.get_num_threads() == before


def test_sam2_no_box_gives_empty_masks(backend):
    masks = backend.segment(_frames(2), np.full((2, 4), np.nan, np.float32))
    assert masks.shape == (2, 120, 160) and not masks.any()
    with pytest.raises(InputError, match="boxes must be"):
        backend.segment(_frames(2), np.zeros((3, 4), np.float32))


def test_sam2_strict_loading(checkpoint, tmp_path):
    opts = {"config": CONFIG, "image_size": 256, "device": "cpu"}
    with pytest.raises(BackendUnavailableError, match="CRUXLAB_SAM2_CHECKPOINT"):
        get_mask_backend("sam2", **opts)
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        get_mask_backend("sam2", checkpoint=tmp_path / "missing.pt", **opts)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:4096])
    with pytest.raises(InputError, match="could not be read"):
        get_mask_backend("sam2", checkpoint=corrupt, **opts)
    wrong = tmp_path / "not_sam2.pt"
    torch.save({"state_dict": {}}, wrong)
    with pytest.raises(InputError, match="not a SAM 2 checkpoint"):
        get_mask_backend("sam2", checkpoint=wrong, **opts)
    keys = tmp_path / "keys.pt"
    torch.save({"model": {"bogus.weight": torch.zeros(1)}}, keys)
    with pytest.raises(InputError, match=r"Missing keys: \d+ \(.*unexpected keys: 1 \(bogus.weight\)"):
        get_mask_backend("sam2", checkpoint=keys, **opts)
    shape = tmp_path / "shape.pt"
    torch.save({"model": {"image_encoder.trunk.pos_embed": torch.zeros(1, 2, 3, 4)}}, shape)
    with pytest.raises(InputError, match="size mismatch"):
        get_mask_backend("sam2", checkpoint=shape, **opts)
    # a hiera-small config cannot take the tiny checkpoint: the depths differ
    with pytest.raises(InputError, match="does not match config configs/sam2.1/sam2.1_hiera_s.yaml"):
        get_mask_backend("sam2", checkpoint=checkpoint, **{**opts, "config": "configs/sam2.1/sam2.1_hiera_s.yaml"})
    with pytest.raises(InputError, match="neither a file nor a config"):
        get_mask_backend("sam2", checkpoint=checkpoint, **{**opts, "config": "configs/sam3/huge.yaml"})
    with pytest.raises(BackendUnavailableError, match="sees no CUDA GPU"):
        get_mask_backend("sam2", checkpoint=checkpoint, **{**opts, "device": "cuda"})


def test_analyze_cli_runs_onnx_pose_and_sam2_masks(checkpoint, tmp_path, monkeypatch, capsys):
    """`cruxlab analyze --pose-backend onnx --mask-backend sam2`: the flags reach our backends through the
    pipeline, whose pose and mask stages run on them (the tiny ONNX models see a red 'person'), and the
    attempt is stored."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (scripts/setup.sh onnx)")
    from conftest import table_counts
    from test_backends_onnx import make_detector, make_pose, person_frames

    from cruxlab.cli import main
    from reconstruction import backends
    from reconstruction.backends.onnx_rtmpose import OnnxRTMPose
    from reconstruction.backends.sam2_backend import Sam2Masks
    from reconstruction.video import write_video

    det, pose = make_detector(tmp_path / "det.onnx"), make_pose(tmp_path / "pose.onnx")
    frames, rects, _ = person_frames(10)
    video = write_video(tmp_path / "red_person.mp4", list(frames), 10)
    made: dict = {"pose_out": [], "masks": None}
    real_pose, real_mask = backends.get_pose_backend, backends.get_mask_backend

    def spy_pose(name, **options):
        b = real_pose(name, **options)
        made["pose"], made["pose_path"], process = b, b.pose.path, b.process
        b.process = lambda f: made["pose_out"].append(process(f)) or made["pose_out"][-1]
        return b

    def spy_mask(name, **options):
        b = real_mask(name, **options)
        made["mask"], made["image_size"], segment = b, b.predictor.image_size, b.segment
        def seg(*a, **k):
            made["masks"] = segment(*a, **k)
            return made["masks"]
        b.segment = seg
        return b

    monkeypatch.setattr(backends, "get_pose_backend", spy_pose)
    monkeypatch.setattr(backends, "get_mask_backend", spy_mask)
    rc = main(["--db", str(tmp_path / "s.duckdb"), "analyze", str(video), "--climber", "T", "-q", "--no-detect",
               "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
               "--pose-backend", "onnx", "--det-onnx", str(det), "--pose-onnx", str(pose),
               "--mask-backend", "sam2", "--sam2-checkpoint", str(checkpoint), "--sam2-image-size", "256",
               "--sam2-config", CONFIG, "--model-option", "sam2.threads=1"])
    err = capsys.readouterr().err
    assert isinstance(made["pose"], OnnxRTMPose) and made["pose_path"] == pose
    assert isinstance(made["mask"], Sam2Masks) and made["image_size"] == 256
    boxes = np.concatenate([b.boxes for b in made["pose_out"]])
    assert len(boxes) == 10
    np.testing.assert_allclose(boxes, rects, atol=4)          # H.264 blurs the edges by a pixel or two
    masks = made["masks"]
    assert masks.dtype == bool and masks.ndim == 3 and masks.shape[1:] == frames.shape[1:3] and len(masks) >= 8
    # what follows (cameras, wall, lift) is not this test's business; if it refused, it was not our stages
    # and the analysis went through to the store on them
    assert rc == 0, err
    assert table_counts(tmp_path / "s.duckdb")["keypoints2d"] == 10
