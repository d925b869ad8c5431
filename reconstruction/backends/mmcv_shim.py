"""Let `mmdet.apis` / `mmpose.apis` import and run on mmcv-lite (no compiled ops) and a torch without torchvision.

Full mmcv has no wheel for Python 3.11 + a current CPU torch and compiles for about an hour; mmcv-lite is the
same Python code without `mmcv._ext`, the compiled ops. Importing mmdet or mmpose imports `mmcv.ops`, whose
modules all call `ext_loader.load_ext('_ext', [...])` at import time and fail. The one op the one-stage
detectors and top-down pose models we use (RTMDet, YOLOX, RTMPose, RTMW, RTMPose3D) call at inference is NMS,
so this module provides:

- `mmcv._ext`, a stand-in module whose `nms` is a pure-torch NMS with mmcv's signature and results, and whose
  every other op is a function that raises BackendUnavailableError naming the op and the fix when a model
  actually calls it (two-stage detectors' RoIAlign, deformable convolutions, ...);
- while mmpose is imported, a minimal `torchvision.transforms.ToPILImage` (mmpose's SimCC visualiser imports it
  at module level) when torchvision is missing or broken (the PyPI wheel does not load beside the CPU torch).

`install()` does nothing when the real compiled ops import. Nothing is patched at import of this module.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

from cruxlab.errors import BackendUnavailableError

FULL_MMCV_FIX = (
    "use a one-stage detector and a top-down pose model (RTMDet / YOLOX + RTMPose / RTMW: they need only NMS, "
    "which cruxlab supplies), or replace mmcv-lite with full mmcv compiled for your torch: "
    "`pip uninstall -y mmcv-lite && MMCV_WITH_OPS=1 pip install --no-build-isolation --no-binary mmcv mmcv==2.1.0` "
    "(about an hour on 2 CPU cores; add FORCE_CUDA=1 on a GPU machine)"
)


NMS_BLOCK = 512   # rows of the IoU matrix computed at a time (512 x 8400 anchors ~ 17 MB per array)


def nms(bboxes, scores, iou_threshold: float, offset: int = 0):
    """Greedy NMS as mmcv's compiled `nms`: (N, 4) x0, y0, x1, y1 + (N,) -> kept indices (int64), best first.

    `offset` 1 is mmcv's legacy pixel convention (width = x1 - x0 + 1). Exact greedy suppression, vectorised:
    IoU rows of NMS_BLOCK boxes against every lower-scored box at once in numpy, then one cheap pass over
    boolean rows (RTMDet's 8400 candidates of a 640 px input: ~0.5 s on one core).
    """
    import numpy as np
    import torch

    if bboxes.numel() == 0:
        return bboxes.new_zeros(0, dtype=torch.long)
    order = np.argsort(-scores.detach().float().cpu().numpy(), kind="stable")
    b = bboxes.detach().float().cpu().numpy()[order]
    x0, y0, x1, y1 = b.T
    area = np.clip(x1 - x0 + offset, 0, None) * np.clip(y1 - y0 + offset, 0, None)
    n = len(b)
    removed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for start in range(0, n, NMS_BLOCK):
        rows = start + np.flatnonzero(~removed[start:start + NMS_BLOCK])   # boxes still standing
        if len(rows) == 0:
            continue
        iw = np.clip(np.minimum(x1[rows, None], x1[None, start:]) - np.maximum(x0[rows, None], x0[None, start:])
                     + offset, 0, None)
        ih = np.clip(np.minimum(y1[rows, None], y1[None, start:]) - np.maximum(y0[rows, None], y0[None, start:])
                     + offset, 0, None)
        inter = iw * ih
        union = area[rows, None] + area[None, start:] - inter
        over = inter > iou_threshold * np.maximum(union, 1e-12)
        for r, i in enumerate(rows):
            if removed[i]:
                continue
            keep.append(i)
            removed[start:] |= over[r]
    return torch.as_tensor(order[keep], dtype=torch.long, device=bboxes.device)


class _MissingOps(types.ModuleType):
    """`mmcv._ext` for mmcv-lite: pure-Python ops where they exist, a clear error for the compiled rest."""

    PROVIDED = {"nms": nms}

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self.PROVIDED:
            return self.PROVIDED[name]

        def missing(*_args, **_kwargs):
            raise BackendUnavailableError(
                f"openmmlab: this model calls mmcv's compiled op `{name}`, which mmcv-lite does not have; "
                f"{FULL_MMCV_FIX}")

        missing.__name__ = name
        return missing


def has_compiled_ops() -> bool:
    """True when the real `mmcv._ext` (full mmcv) imports."""
    current = sys.modules.get("mmcv._ext")
    if isinstance(current, _MissingOps):
        return False
    try:
        importlib.import_module("mmcv._ext")
    except ImportError:
        return False
    return True


def install() -> bool:
    """Register the stand-in `mmcv._ext` unless full mmcv's compiled ops import. Returns True when shimmed."""
    if has_compiled_ops():
        return False
    if not isinstance(sys.modules.get("mmcv._ext"), _MissingOps):
        ext = _MissingOps("mmcv._ext", "pure-Python stand-in for mmcv's compiled ops (cruxlab)")
        # a spec without a loader: mmengine's mmcv_full_available() then (rightly) answers False
        ext.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)
        sys.modules["mmcv._ext"] = ext
    return True


def torchvision_usable() -> bool:
    """True when torchvision imports with its C++ ops (the PyPI wheel beside the CPU torch does not)."""
    try:
        importlib.import_module("torchvision")
    except Exception:  # ImportError, or RuntimeError "operator torchvision::nms does not exist"
        return False
    return True


class ToPILImage:
    """torchvision.transforms.ToPILImage for mmpose's SimCC visualiser: CHW tensor / HWC array -> PIL image."""

    def __call__(self, pic):
        import numpy as np
        from PIL import Image

        arr = pic.detach().cpu().numpy() if hasattr(pic, "detach") else np.asarray(pic)
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
        return Image.fromarray(arr.squeeze())


@contextmanager
def torchvision_standin() -> Iterator[bool]:
    """While active, `torchvision.transforms.ToPILImage` imports even without a working torchvision.

    Removed again afterwards so that code needing the real torchvision fails as it should. Yields True when
    the stand-in was used."""
    if torchvision_usable():
        yield False
        return
    tv = types.ModuleType("torchvision", "cruxlab stand-in: only transforms.ToPILImage, for mmpose's imports")
    tvt = types.ModuleType("torchvision.transforms")
    tvt.ToPILImage = ToPILImage  # type: ignore[attr-defined]
    tv.transforms = tvt  # type: ignore[attr-defined]
    saved = {k: sys.modules.get(k) for k in ("torchvision", "torchvision.transforms")}
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tvt})
    try:
        yield True
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
