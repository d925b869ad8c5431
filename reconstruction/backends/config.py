"""Options of the model backends: weight/config paths, device and thresholds, from flags, environment or TOML.

Every backend has one options dataclass (fields = the option names, each with a comment). A value comes from,
highest priority first:

1. a keyword the caller passes (the CLI flags of `cruxlab analyze` / `cruxlab models`, e.g. `--pose-onnx`),
2. the environment: `CRUXLAB_<BACKEND>_<OPTION>` (e.g. `CRUXLAB_SAM2_CHECKPOINT`), and `CRUXLAB_DEVICE`
   for every backend's device,
3. `cruxlab.toml` (the file `--config` / `CRUXLAB_CONFIG` names, else `./cruxlab.toml` if present):

       [models]
       device = "cpu"                       # default device of every backend: cpu | cuda | cuda:N | auto
       [models.onnx]
       det_model = "weights/rtmdet-nano.onnx"     # relative paths are relative to the TOML file
       pose_model = "weights/rtmpose-m.onnx"
       [models.sam2]
       checkpoint = "weights/sam2.1_hiera_tiny.pt"
       config = "configs/sam2.1/sam2.1_hiera_t.yaml"

4. the dataclass default.

`resolve(backend, overrides)` returns the filled dataclass plus where each value came from (the doctor prints it).
Nothing here imports torch or any model package; `check_device` imports torch only when asked about CUDA.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cruxlab.errors import BackendUnavailableError, InputError

DEFAULT_CONFIG_NAME = "cruxlab.toml"
CONFIG_ENV = "CRUXLAB_CONFIG"
DEVICE_ENV = "CRUXLAB_DEVICE"


@dataclass(frozen=True)
class OpenMMLabOptions:
    """`openmmlab`: MMDet person detector + MMPose top-down 2D (RTMPose / RTMW) and optional RTMPose3D."""

    det_config: Path | None = None        # mmdet config .py (e.g. rtmdet_m_8xb32-300e_coco.py)
    det_checkpoint: Path | None = None    # its .pth weights
    pose_config: Path | None = None       # mmpose top-down config .py (RTMPose coco17 / RTMW wholebody133)
    pose_checkpoint: Path | None = None   # its .pth weights
    pose3d_config: Path | None = None     # optional RTMPose3D (RTMW3D) config; replaces the 2D model when set
    pose3d_checkpoint: Path | None = None  # its .pth weights
    pose3d_project: Path | None = None    # folder holding mmpose's projects/rtmpose3d (registers its modules)
    device: str = "auto"                  # cpu | cuda | cuda:N | auto (cuda when available)
    det_score_threshold: float = 0.3      # person boxes below this score are ignored
    det_category: int = 0                 # class id of "person" in the detector's classes (COCO: 0)
    focal_px: float | None = None         # RTMPose3D: camera focal length in pixels (None: the model's default)
    threads: int = 0                      # torch intra-op threads while the backend is open (0: torch decides)


@dataclass(frozen=True)
class OnnxOptions:
    """`onnx`: RTMDet (person boxes) + RTMPose (SimCC) exported to ONNX, run with onnxruntime."""

    det_model: Path | None = None         # RTMDet/YOLOX end2end ONNX: input (1,3,H,W) -> dets (1,N,5), labels (1,N)
    pose_model: Path | None = None        # RTMPose ONNX: input (1,3,h,w) -> simcc_x (1,K,w*r), simcc_y (1,K,h*r)
    device: str = "auto"                  # cpu | cuda | cuda:N | auto (CUDAExecutionProvider when available)
    det_score_threshold: float = 0.3      # person boxes below this score are ignored
    det_category: int = 0                 # class id of "person" in the detector's labels (COCO: 0)
    keypoint_set: str | None = None       # coco17 | halpe26 | coco_wholebody133; None: from the output's K
    box_padding: float = 1.25             # crop = climber box enlarged by this factor (mmpose's default)
    threads: int = 0                      # onnxruntime intra-op threads (0: onnxruntime decides)


@dataclass(frozen=True)
class Sam2Options:
    """`sam2`: SAM 2 video predictor on the keyframes, prompted with the climber's box (and keypoints)."""

    checkpoint: Path | None = None        # .pt file with {"model": state_dict} (e.g. sam2.1_hiera_tiny.pt)
    config: str = "configs/sam2.1/sam2.1_hiera_t.yaml"  # sam2 package config name, or a .yaml path
    device: str = "auto"                  # cpu | cuda | cuda:N | auto
    image_size: int | None = None         # model input size (None: the config's, 1024); 512 is ~3x faster on CPU
    use_keypoints: bool = True            # also prompt with confident hip/shoulder points of the climber
    threads: int = 0                      # torch intra-op threads while the backend is open (0: torch decides)


@dataclass(frozen=True)
class MediaPipeOptions:
    """`mediapipe`: bundled BlazePose + selfie segmentation (no weight files)."""

    device: str = "cpu"                   # MediaPipe's Python solutions run on the CPU only


OPTIONS: dict[str, type] = {
    "openmmlab": OpenMMLabOptions,
    "onnx": OnnxOptions,
    "sam2": Sam2Options,
    "mediapipe": MediaPipeOptions,
}


@dataclass(frozen=True)
class Resolved:
    """A backend's options and, per option name, where the value came from (flag | env NAME | FILE | default)."""

    backend: str
    options: Any
    sources: dict[str, str] = field(default_factory=dict)
    config_file: Path | None = None


def env_name(backend: str, option: str) -> str:
    """Environment variable of one option, e.g. CRUXLAB_ONNX_POSE_MODEL."""
    return f"CRUXLAB_{backend.upper()}_{option.upper()}"


def find_config_file(path: str | Path | None = None, env: dict[str, str] | None = None) -> Path | None:
    """The TOML file to read: the given path (must exist), else $CRUXLAB_CONFIG (must exist), else ./cruxlab.toml
    when it exists, else None."""
    env = os.environ if env is None else env
    for given, what in ((path, "--config"), (env.get(CONFIG_ENV), f"${CONFIG_ENV}")):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise InputError(f"config file {p} (from {what}) does not exist; create it or drop {what} "
                                 f"(format: see `cruxlab models --help`)")
            return p
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def read_config_file(path: Path | None) -> dict[str, Any]:
    """The `[models]` table of a cruxlab.toml ({} when there is no file)."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid TOML ({exc}); fix the file or point --config elsewhere") from exc
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise InputError(f"{path}: [models] must be a table, e.g.\n[models.onnx]\npose_model = \"rtmpose.onnx\"")
    return models


def _field_types(cls: type) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def _convert(backend: str, name: str, value: Any, type_str: str, base: Path | None, origin: str) -> Any:
    """Coerce a raw value (str from env/flags, TOML scalar) to the option's type; paths made absolute."""
    if value is None:
        return None
    try:
        if "Path" in type_str:
            p = Path(str(value)).expanduser()
            if base is not None and not p.is_absolute():
                p = base / p
            return p
        if type_str.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        if type_str.startswith("int"):
            return int(value)
        if type_str.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"option {backend}.{name} = {value!r} (from {origin}) is invalid: {exc}; "
                         f"expected {type_str}") from exc


def resolve(backend: str, overrides: dict[str, Any] | None = None, config_file: str | Path | None = None,
            env: dict[str, str] | None = None) -> Resolved:
    """Fill `backend`'s options from overrides > environment > TOML > defaults (see the module docstring).

    Overrides whose value is None are ignored (unset CLI flags). An unknown option name is an InputError that
    lists the valid ones.
    """
    if backend not in OPTIONS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(OPTIONS)}")
    env = os.environ if env is None else env
    cls = OPTIONS[backend]
    types = _field_types(cls)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - set(types))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)} for the {backend} backend; "
                         f"valid: {', '.join(types)}")
    path = find_config_file(config_file, env)
    models = read_config_file(path)
    table = models.get(backend, {})
    if not isinstance(table, dict):
        raise InputError(f"{path}: [models.{backend}] must be a table")
    bad = sorted(set(table) - set(types))
    if bad:
        raise InputError(f"{path}: unknown option(s) {', '.join(bad)} in [models.{backend}]; "
                         f"valid: {', '.join(types)}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    base = path.parent if path is not None else None
    for name, type_str in types.items():
        raw, origin, rel = None, "default", None
        if name in overrides:
            raw, origin = overrides[name], "flag"
        elif env.get(env_name(backend, name)):
            raw, origin = env[env_name(backend, name)], f"env {env_name(backend, name)}"
        elif name == "device" and env.get(DEVICE_ENV):
            raw, origin = env[DEVICE_ENV], f"env {DEVICE_ENV}"
        elif name in table:
            raw, origin, rel = table[name], str(path), base
        elif name == "device" and "device" in models and not isinstance(models["device"], dict):
            raw, origin = models["device"], str(path)
        if origin != "default":
            values[name] = _convert(backend, name, raw, type_str, rel, origin)
        sources[name] = origin
    return Resolved(backend, cls(**values), sources, path)


def check_device(device: str, backend: str) -> str:
    """Turn a device request into a torch device string ('cpu', 'cuda', 'cuda:1').

    'auto' becomes CUDA when torch sees a GPU, else the CPU. Asking for CUDA where there is none raises
    BackendUnavailableError naming the fixes (run on the CPU, or install a CUDA build of torch).
    """
    device = (device or "auto").strip().lower()
    if device == "cpu":
        return "cpu"
    if device != "auto" and not device.startswith("cuda"):
        raise InputError(f"device {device!r} for {backend} is not one of cpu, cuda, cuda:N, auto")
    import torch  # lazily: only backends that use torch get here

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        build = "a CPU-only build" if torch.version.cuda is None else f"a CUDA {torch.version.cuda} build"
        raise BackendUnavailableError(
            f"{backend}: device {device!r} requested but torch {torch.__version__} ({build}) sees no CUDA GPU. "
            f"Run with --device cpu (or set {DEVICE_ENV}=cpu / [models] device = \"cpu\"), or on a GPU machine "
            f"install a CUDA torch: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128")
    if ":" in device:
        index = int(device.split(":", 1)[1])
        if index >= torch.cuda.device_count():
            raise BackendUnavailableError(
                f"{backend}: device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist; "
                f"use cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return device


def require_file(path: Path | None, what: str, backend: str, option: str, suffixes: tuple[str, ...] = ()) -> Path:
    """A configured weight/config file that must exist; the error names every way to set it."""
    flag = "--" + option.replace("_", "-")
    how = (f"pass it with the `{backend}` flag {FLAGS.get((backend, option), flag)}, set "
           f"{env_name(backend, option)}, or put `{option} = \"...\"` under [models.{backend}] in cruxlab.toml")
    if path is None:
        raise BackendUnavailableError(f"{backend}: no {what} configured; {how} (`cruxlab models` shows the status)")
    if not path.is_file():
        raise BackendUnavailableError(f"{backend}: {what} {path} does not exist; fix the path ({how})")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{backend}: {what} {path} should be a {' or '.join(suffixes)} file")
    return path


# ---------------------------------------------------------------------------------------------- CLI flags
#: (backend, option) -> the `cruxlab analyze` / `cruxlab models` flag that sets it.
FLAGS: dict[tuple[str, str], str] = {
    ("openmmlab", "det_config"): "--det-config",
    ("openmmlab", "det_checkpoint"): "--det-checkpoint",
    ("openmmlab", "pose_config"): "--pose-config",
    ("openmmlab", "pose_checkpoint"): "--pose-checkpoint",
    ("openmmlab", "pose3d_config"): "--pose3d-config",
    ("openmmlab", "pose3d_checkpoint"): "--pose3d-checkpoint",
    ("onnx", "det_model"): "--det-onnx",
    ("onnx", "pose_model"): "--pose-onnx",
    ("sam2", "checkpoint"): "--sam2-checkpoint",
    ("sam2", "config"): "--sam2-config",
    ("sam2", "image_size"): "--sam2-image-size",
}


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the model-backend flags (--config, --device, weight paths, --model-option) to a subcommand."""
    g = parser.add_argument_group(
        "model backends", "weights are files you supply; flags override $CRUXLAB_<BACKEND>_<OPTION> and "
        "cruxlab.toml [models.<backend>] (run `cruxlab models` to see what is set and found)")
    g.add_argument("--config", metavar="TOML", help="cruxlab.toml with a [models] table (default: ./cruxlab.toml)")
    g.add_argument("--device", help="cpu | cuda | cuda:N | auto, for every model backend (default: auto)")
    for (backend, option), flag in FLAGS.items():
        kind = "file" if option != "config" or backend != "sam2" else "name or .yaml"
        if option == "image_size":
            g.add_argument(flag, type=int, dest=f"{backend}__{option}", metavar="PX",
                           help=f"{backend} {option.replace('_', ' ')} (input size; 512 is ~3x faster on CPU)")
        else:
            g.add_argument(flag, dest=f"{backend}__{option}", metavar="PATH",
                           help=f"{backend} {option.replace('_', ' ')} ({kind})")
    g.add_argument("--model-option", action="append", default=[], metavar="BACKEND.OPTION=VALUE",
                   help="any other backend option, e.g. onnx.det_score_threshold=0.5 (repeatable)")


def options_from_args(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    """Keyword options for `get_pose_backend(backend, **options)` / `get_mask_backend` from parsed flags.

    Includes `config_file` (the TOML) and `device`; pass the result on unchanged.
    """
    out: dict[str, Any] = {"config_file": getattr(args, "config", None)}
    if getattr(args, "device", None):
        out["device"] = args.device
    for (b, option), _flag in FLAGS.items():
        value = getattr(args, f"{b}__{option}", None)
        if b == backend and value is not None:
            out[option] = value
    for item in getattr(args, "model_option", None) or []:
        key, sep, value = item.partition("=")
        b, dot, option = key.strip().partition(".")
        if not sep or not dot:
            raise InputError(f"--model-option {item!r} must look like BACKEND.OPTION=VALUE, "
                             f"e.g. onnx.det_score_threshold=0.5")
        if b not in OPTIONS:
            raise InputError(f"--model-option {item!r}: unknown backend {b!r}; choose one of {', '.join(OPTIONS)}")
        if b == backend:
            out[option] = value
    return out




def fingerprint(backend: str, options: dict[str, Any]) -> dict[str, str]:
    """Every resolved option of a backend as text, weight files with their size and mtime: a cache key that
    changes when a weight file is replaced or configured through the environment / cruxlab.toml instead of
    flags. `options` are the keywords given to the backend (may contain `config_file`)."""
    if backend not in OPTIONS:
        return {k: str(v) for k, v in sorted(options.items()) if v is not None and k != "config_file"}
    opts = dict(options)
    config_file = opts.pop("config_file", None)
    resolved = resolve(backend, opts, config_file)
    out = {}
    for f in dataclasses.fields(resolved.options):
        value = getattr(resolved.options, f.name)
        if isinstance(value, Path) and value.is_file():
            st = value.stat()
            out[f.name] = f"{value.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        elif value is not None:
            out[f.name] = str(value)
    return out
