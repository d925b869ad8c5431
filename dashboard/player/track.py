"""What the player shows of one attempt (`Track`), built once per attempt and sent to the browser once.

The browser draws every frame itself (video, skeleton overlay, 3D view, timeline cursor) from a `Track`, so
nothing goes back to Python while a coach plays or steps. A Track holds per-frame arrays; they travel as one
compact JSON file (little-endian int16/uint8 arrays in base64: 2D points in quarter pixels, 3D points in
millimetres), served by Streamlit's media endpoint and fetched once per attempt.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cruxlab.draw import project
from cruxlab.joints import BONES, JOINT_NAMES, LIMB_EFFECTOR

#: Joints below this confidence are not drawn (as in cruxlab.draw.draw_skeleton).
MIN_CONFIDENCE = 0.2
#: Most wall points sent to the 3D view (a random but fixed subset beyond that).
MAX_WALL_POINTS = 4000
_MISSING = np.iinfo(np.int16).min


@dataclass(frozen=True)
class Track:
    """One attempt as the player draws it.

    name:        title shown on the view.
    fps:         attempt frames per second; frame i is shown at time i / fps.
    n_frames:    T.
    media:       the playback WebM (frame i at i / fps, dashboard.player.media), or None: then `background`
                 (the rendered wall) is shown and the player runs its own clock.
    background:  (H, W, 3) uint8 RGB still for attempts without a playable video, else None.
    size:        (w, h) pixels of the picture `points2d` refers to (the video's full display size, or the
                 background's).
    points2d:    (T, J, 2) float pixels in `size`, NaN where the joint is not drawn.
    keypoints3d: (T, J, 3) float metres in the wall frame (y up, z out of the wall), NaN = missing.
    wall_xyz:    (N, 3) float metres, wall frame, sparse wall points; (0, 3) when none.
    wall_rgb:    (N, 3) uint8 colours of the wall points.
    wall_normal, wall_point: (3,) the wall plane (z = 0 plane when unknown).
    source:      one line saying what the picture is (for the caption).
    """

    name: str
    fps: float
    n_frames: int
    media: Path | None
    background: np.ndarray | None
    size: tuple[int, int]
    points2d: np.ndarray
    keypoints3d: np.ndarray
    wall_xyz: np.ndarray
    wall_rgb: np.ndarray
    wall_normal: np.ndarray
    wall_point: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        T = self.n_frames
        if self.points2d.shape[:1] != (T,) or self.points2d.shape[2:] != (2,):
            raise ValueError(f"points2d must be ({T}, J, 2), got {self.points2d.shape}")
        if self.keypoints3d.shape[:1] != (T,) or self.keypoints3d.shape[2:] != (3,):
            raise ValueError(f"keypoints3d must be ({T}, J, 3), got {self.keypoints3d.shape}")
        if (self.media is None) == (self.background is None):
            raise ValueError("a Track shows either a playback video (media) or a rendered background, not both")


def points_in_view(keypoints: np.ndarray, confidence: np.ndarray | None, K: np.ndarray, R: np.ndarray,
                   t: np.ndarray) -> np.ndarray:
    """Project (T, J, 3) wall-frame joints through per-frame (T, 3, 3)/(T, 3) or fixed (3, 3)/(3,) cameras into
    (T, J, 2) pixels; joints missing, behind the camera or below MIN_CONFIDENCE come out NaN. Vectorised."""
    uv = project(keypoints.astype(np.float64), K, R, t)
    if confidence is not None:
        uv[confidence < MIN_CONFIDENCE] = np.nan
    return uv


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()).decode()


def _quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """float -> int16 (values * scale, rounded; NaN and out-of-range -> int16 min = missing)."""
    q = np.round(values * scale)
    bad = ~np.isfinite(q) | (np.abs(q) > 32000)
    return np.where(bad, _MISSING, np.nan_to_num(q)).astype(np.int16)


def wall_subset(xyz: np.ndarray, rgb: np.ndarray | None, limit: int = MAX_WALL_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` wall points (a fixed random subset), with colours (grey when the store has none)."""
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    rgb = np.full((len(xyz), 3), 160, np.uint8) if rgb is None else np.asarray(rgb, np.uint8).reshape(-1, 3)
    ok = np.isfinite(xyz).all(axis=1)
    xyz, rgb = xyz[ok], rgb[ok]
    if len(xyz) > limit:
        keep = np.sort(np.random.default_rng(0).choice(len(xyz), limit, replace=False))
        xyz, rgb = xyz[keep], rgb[keep]
    return xyz, rgb


def payload(track: Track) -> bytes:
    """The per-frame JSON the browser fetches once per attempt (see the module docstring for the encoding)."""
    side = ["l" if n.startswith("left") else "r" if n.startswith("right") else "c" for n in JOINT_NAMES]
    doc = {
        "version": 1,
        "n_frames": track.n_frames,
        "fps": track.fps,
        "n_joints": int(track.points2d.shape[1]),
        "size": [int(track.size[0]), int(track.size[1])],
        "p2": _b64(_quantize(track.points2d, 4.0)),          # quarter pixels
        "p3": _b64(_quantize(track.keypoints3d, 1000.0)),    # millimetres
        "wall": _b64(_quantize(track.wall_xyz, 1000.0)),
        "wall_rgb": _b64(np.asarray(track.wall_rgb, np.uint8)),
        "n_wall": int(len(track.wall_xyz)),
        "wall_normal": [float(v) for v in track.wall_normal],
        "wall_point": [float(v) for v in track.wall_point],
        "bones": [[int(a), int(b)] for a, b in BONES],
        "side": side,
        "effectors": {limb: int(j) for limb, j in LIMB_EFFECTOR.items()},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def background_png(track: Track) -> bytes | None:
    """The rendered wall as PNG bytes (None for video tracks)."""
    if track.background is None:
        return None
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(track.background[..., ::-1]))
    if not ok:
        raise RuntimeError("could not encode the rendered wall view as PNG")
    return buf.tobytes()
