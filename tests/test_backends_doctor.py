"""`cruxlab models`, the backend doctor: what it reports, where values came from, and its exit status."""

from __future__ import annotations

import json

import pytest

from cruxlab.cli import main

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (scripts/setup.sh onnx)")


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    from test_backends_onnx import make_detector, make_pose

    d = tmp_path_factory.mktemp("doctor")
    return make_detector(d / "det.onnx"), make_pose(d / "pose.onnx")


def test_doctor_ready_backend_loads_weights(onnx_models, capsys, monkeypatch, tmp_path):
    det, pose = onnx_models
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRUXLAB_ONNX_POSE_MODEL", str(pose))
    assert main(["models", "--check", "onnx", "--det-onnx", str(det), "--device", "cpu", "--load"]) == 0
    out = capsys.readouterr().out
    assert "onnx       READY   device: CPUExecutionProvider" in out
    assert f"pose_model: {pose} (found" in out and "from env CRUXLAB_ONNX_POSE_MODEL" in out
    assert f"det_model: {det} (found" in out and "from flag" in out
    assert "weights loaded (strict)" in out and "fix:" not in out


def test_doctor_names_fixes_and_fails_the_check(onnx_models, capsys, monkeypatch, tmp_path):
    det, _ = onnx_models
    monkeypatch.chdir(tmp_path)
    for var in ("CRUXLAB_ONNX_POSE_MODEL", "CRUXLAB_ONNX_DET_MODEL", "CRUXLAB_CONFIG", "CRUXLAB_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "cruxlab.toml").write_text(f'[models.onnx]\ndet_model = "{det}"\npose_model = "gone.onnx"\n')
    assert main(["models", "--check", "onnx", "--json"]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    onnx = report["backends"][0]
    assert report["config_file"] == str(tmp_path / "cruxlab.toml")
    assert onnx["status"] == "missing-weights" and onnx["ready"] is False
    files = {f["option"]: f for f in onnx["files"]}
    assert files["det_model"]["found"] and not files["pose_model"]["found"]
    assert files["pose_model"]["path"] == str(tmp_path / "gone.onnx")       # relative to the TOML
    assert any("--pose-onnx" in fix and "CRUXLAB_ONNX_POSE_MODEL" in fix for fix in onnx["fixes"])
    assert "not ready: onnx (pose_model:" in captured.err


def test_doctor_reports_cuda_and_packages(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("sam2")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the no-CUDA message cannot be provoked")
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "sam.pt"
    ckpt.write_bytes(b"not really")
    assert main(["models", "--check", "sam2", "--sam2-checkpoint", str(ckpt), "--device", "cuda"]) == 2
    captured = capsys.readouterr()
    assert "sam2       ERROR" in captured.out and "sam2 1.1.0" in captured.out
    assert "sees no CUDA GPU" in captured.out and "--device cpu" in captured.err
    assert "configs/sam2.1/sam2.1_hiera_t.yaml ->" in captured.out
