"""Stage-cache files of `cruxlab analyze`: the one writer and the one reader of each artifact kind.

    KINDS["pose"].save(path, pose)          KINDS["pose"].load(path) -> Pose2D
    kinds: pose (Pose2D), keyframes (Keyframes), masks ((N, h, w) bool), cameras (sfm.CameraSolution),
           lift (wall.WallReconstruction), flow (db.store.EffectorFlow)

Every file is an .npz of named arrays, written with `write_npz`. Bool masks are packed 8 per byte along the
last axis next to their width (`pack_masks` / `unpack_masks`: one spelling for keyframe and mask files).
Anything that is not an array (sizes, names, reports) goes into one JSON entry `meta`. Each reader names the
fields it expects, so a file of another layout fails loudly instead of being guessed from type strings; the
stage keys hash this module's source (`pipeline.code_version`), so a layout change never reads old files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cruxlab.camera import CameraTrack, WallPoints


def write_npz(path: str | Path, payload: dict[str, np.ndarray]) -> Path:
    """np.savez_compressed to exactly `path` (no ".npz" appended), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **payload)
    return path


def _json_default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _meta(**values: Any) -> np.ndarray:
    return np.array(json.dumps(values, default=_json_default))


def _read_meta(d) -> dict:
    return json.loads(str(d["meta"]))


def pack_masks(masks: np.ndarray, prefix: str = "masks") -> dict[str, np.ndarray]:
    """(..., w) bool -> {prefix: bits packed along the last axis, prefix_width: w}."""
    return {prefix: np.packbits(np.asarray(masks, dtype=bool), axis=-1), f"{prefix}_width": np.int64(masks.shape[-1])}


def unpack_masks(d, prefix: str = "masks") -> np.ndarray:
    return np.unpackbits(d[prefix], axis=-1, count=int(d[f"{prefix}_width"])).astype(bool)


# ------------------------------------------------------------------------------------------ pose, keyframes
def save_pose(path: Path, pose) -> Path:
    payload = dict(keypoints=pose.keypoints, confidence=pose.confidence, boxes=pose.boxes,
                   meta=_meta(image_size=pose.image_size, fps=pose.fps, backend=pose.backend, report=pose.report))
    if pose.keypoints3d is not None:
        payload["keypoints3d"] = pose.keypoints3d
    return write_npz(path, payload)


def load_pose(path: Path):
    from reconstruction.pose2d import Pose2D

    with np.load(path, allow_pickle=False) as d:
        meta = _read_meta(d)
        return Pose2D(keypoints=d["keypoints"], confidence=d["confidence"],
                      keypoints3d=d["keypoints3d"] if "keypoints3d" in d.files else None, boxes=d["boxes"],
                      image_size=tuple(int(v) for v in meta["image_size"]), fps=float(meta["fps"]),
                      backend=str(meta["backend"]), report=meta["report"])


def save_keyframes(path: Path, keyframes) -> Path:
    payload = dict(index=keyframes.index, images=keyframes.images, meta=_meta(scale=keyframes.scale))
    if keyframes.masks is not None:
        payload.update(pack_masks(keyframes.masks))
    return write_npz(path, payload)


def load_keyframes(path: Path):
    from reconstruction.pose2d import Keyframes

    with np.load(path, allow_pickle=False) as d:
        masks = unpack_masks(d) if "masks" in d.files else None
        return Keyframes(index=d["index"], images=d["images"], masks=masks, scale=float(_read_meta(d)["scale"]))


# ------------------------------------------------------------------------------------------ masks
def save_masks(path: Path, masks: np.ndarray) -> Path:
    return write_npz(path, pack_masks(masks))


def load_masks(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as d:
        return unpack_masks(d)


# ------------------------------------------------------------------------------------------ cameras, lift
def save_cameras(path: Path, cams) -> Path:
    return write_npz(path, dict(
        K=cams.K, R=cams.R, t=cams.t, registered=cams.registered, keyframes=cams.keyframes,
        keyframe_registered=cams.keyframe_registered, points3d=cams.points3d, rgb=cams.rgb,
        point_error=cams.point_error,
        meta=_meta(model=cams.model, reprojection_error=cams.reprojection_error, image_size=cams.image_size,
                   report=cams.report)))


def load_cameras(path: Path):
    from reconstruction.sfm import CameraSolution

    with np.load(path, allow_pickle=False) as d:
        meta = _read_meta(d)
        return CameraSolution(
            K=d["K"], R=d["R"], t=d["t"], registered=d["registered"], keyframes=d["keyframes"],
            keyframe_registered=d["keyframe_registered"], model=meta["model"], points3d=d["points3d"], rgb=d["rgb"],
            point_error=d["point_error"], reprojection_error=float(meta["reprojection_error"]),
            image_size=tuple(int(v) for v in meta["image_size"]), report=meta["report"])


def save_flow(path: Path, flow) -> Path:
    return write_npz(path, dict(rel=flow.rel, wall=flow.wall))


def load_flow(path: Path):
    from db.store import EffectorFlow

    with np.load(path, allow_pickle=False) as d:
        return EffectorFlow(rel=d["rel"], wall=d["wall"])


def save_geometry(path: Path, rec) -> Path:
    cams, pts = rec.cameras, rec.wall_points
    payload = dict(keypoints=rec.keypoints, confidence=rec.confidence, contacts=rec.contacts, K=cams.K, R=cams.R,
                   t=cams.t, registered=cams.registered, points=pts.xyz, wall_normal=rec.wall_normal,
                   wall_point=rec.wall_point, meta=_meta(camera_model=rec.camera_model, report=rec.report))
    payload.update({k: v for k, v in (("rgb", pts.rgb), ("error", pts.error)) if v is not None})
    return write_npz(path, payload)


def load_geometry(path: Path):
    from reconstruction.wall import WallReconstruction

    with np.load(path, allow_pickle=False) as d:
        meta = _read_meta(d)
        opt = {k: d[k] if k in d.files else None for k in ("rgb", "error")}
        return WallReconstruction(
            keypoints=d["keypoints"], confidence=d["confidence"], contacts=d["contacts"],
            cameras=CameraTrack(d["K"], d["R"], d["t"], d["registered"]),
            wall_points=WallPoints(d["points"], opt["rgb"], opt["error"]), wall_normal=d["wall_normal"],
            wall_point=d["wall_point"], camera_model=meta["camera_model"], report=meta["report"])


# ------------------------------------------------------------------------------------------ registry
@dataclass(frozen=True)
class ArtifactKind:
    """How one stage's output goes to and comes from its cache file."""

    save: Callable[[Path, Any], Path]
    load: Callable[[Path], Any]


KINDS: dict[str, ArtifactKind] = {
    "pose": ArtifactKind(save_pose, load_pose),
    "keyframes": ArtifactKind(save_keyframes, load_keyframes),
    "masks": ArtifactKind(save_masks, load_masks),
    "cameras": ArtifactKind(save_cameras, load_cameras),
    "lift": ArtifactKind(save_geometry, load_geometry),
    "flow": ArtifactKind(save_flow, load_flow),
}
