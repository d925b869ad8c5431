"""Backend options from flags > environment > cruxlab.toml > defaults (reconstruction/backends/config.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cruxlab.errors import BackendUnavailableError, InputError
from reconstruction.backends import get_pose_backend
from reconstruction.backends.config import (
    add_model_arguments, check_device, options_from_args, require_file, resolve,
)


def test_precedence_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg").mkdir()
    toml = tmp_path / "cfg" / "cruxlab.toml"
    toml.write_text('[models]\ndevice = "cpu"\n[models.onnx]\npose_model = "w/pose.onnx"\n'
                    'det_score_threshold = 0.6\nthreads = 2\n[models.sam2]\ncheckpoint = "/abs/sam.pt"\n')
    env = {"CRUXLAB_CONFIG": str(toml), "CRUXLAB_ONNX_THREADS": "4"}
    r = resolve("onnx", {"det_model": "det.onnx", "device": None}, env=env)
    assert r.options.pose_model == tmp_path / "cfg" / "w" / "pose.onnx"      # relative to the TOML
    assert r.options.det_model == Path("det.onnx")                          # flags are relative to the cwd
    assert r.options.det_score_threshold == 0.6 and r.options.threads == 4
    assert r.options.device == "cpu" and r.sources["device"] == str(toml)
    assert r.sources["threads"] == "env CRUXLAB_ONNX_THREADS" and r.sources["det_model"] == "flag"
    assert r.sources["box_padding"] == "default" and r.options.box_padding == 1.25
    r2 = resolve("onnx", {"device": "cuda"}, env={**env, "CRUXLAB_DEVICE": "auto"})
    assert r2.options.device == "cuda"
    assert resolve("onnx", {}, env={**env, "CRUXLAB_DEVICE": "auto"}).options.device == "auto"
    assert resolve("sam2", {}, env=env).options.checkpoint == Path("/abs/sam.pt")
    # ./cruxlab.toml is read when nothing names a file
    (tmp_path / "cruxlab.toml").write_text('[models.sam2]\nimage_size = 512\nuse_keypoints = false\n')
    r3 = resolve("sam2", {}, env={})
    assert r3.options.image_size == 512 and r3.options.use_keypoints is False
    assert r3.config_file == tmp_path / "cruxlab.toml"


def test_bad_configuration_is_reported(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        resolve("onnx", {}, config_file=tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[models.onnx\n")
    with pytest.raises(InputError, match="not valid TOML"):
        resolve("onnx", {}, config_file=bad, env={})
    bad.write_text('[models.onnx]\npose_modle = "x.onnx"\n')
    with pytest.raises(InputError, match="pose_modle.*valid: det_model, pose_model"):
        resolve("onnx", {}, config_file=bad, env={})
    with pytest.raises(InputError, match="onnx.threads = 'many' .*env CRUXLAB_ONNX_THREADS"):
        resolve("onnx", {}, env={"CRUXLAB_ONNX_THREADS": "many"})
    with pytest.raises(InputError, match="unknown backend"):
        resolve("yolo", {})
    with pytest.raises(InputError, match="unknown pose backend 'yolo'"):
        get_pose_backend("yolo")


def test_device_and_required_files(tmp_path):
    assert check_device("cpu", "x") == "cpu"
    with pytest.raises(InputError, match="not one of"):
        check_device("tpu", "x")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        assert check_device("auto", "x") == "cpu"
        with pytest.raises(BackendUnavailableError, match="--device cpu"):
            check_device("cuda:0", "sam2")
    with pytest.raises(BackendUnavailableError, match="--sam2-checkpoint.*CRUXLAB_SAM2_CHECKPOINT.*models.sam2"):
        require_file(None, "SAM 2 checkpoint", "sam2", "checkpoint")
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    with pytest.raises(InputError, match=r"\.onnx"):
        require_file(f, "pose model", "onnx", "pose_model", (".onnx",))


def test_cli_flags_become_backend_options(tmp_path):
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    args = parser.parse_args(["--config", "c.toml", "--device", "cpu", "--pose-onnx", "p.onnx", "--det-onnx",
                              "d.onnx", "--sam2-checkpoint", "s.pt", "--sam2-image-size", "512",
                              "--model-option", "onnx.det_score_threshold=0.5",
                              "--model-option", "sam2.use_keypoints=false"])
    assert options_from_args(args, "onnx") == {"config_file": "c.toml", "device": "cpu", "det_model": "d.onnx",
                                               "pose_model": "p.onnx", "det_score_threshold": "0.5"}
    assert options_from_args(args, "sam2") == {"config_file": "c.toml", "device": "cpu", "checkpoint": "s.pt",
                                               "image_size": 512, "use_keypoints": "false"}
    sam = resolve("sam2", {k: v for k, v in options_from_args(args, "sam2").items() if k != "config_file"}, env={})
    assert sam.options.use_keypoints is False and sam.options.image_size == 512
    bad = parser.parse_args(["--model-option", "det_score_threshold=0.5"])
    with pytest.raises(InputError, match="BACKEND.OPTION=VALUE"):
        options_from_args(bad, "onnx")


def test_fingerprint_follows_the_weight_file(tmp_path):
    from reconstruction.backends.config import fingerprint

    w = tmp_path / "pose.onnx"
    w.write_bytes(b"a")
    a = fingerprint("onnx", {"pose_model": str(w), "config_file": None})
    assert a["pose_model"].startswith(str(w.resolve())) and a["device"] == "auto"
    w.write_bytes(b"bb")
    assert fingerprint("onnx", {"pose_model": str(w)}) != a
    assert fingerprint("custom", {"x": 1, "config_file": "c.toml"}) == {"x": "1"}
