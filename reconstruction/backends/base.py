"""The interface every model backend implements. Heavy packages are imported inside the backend modules only.

Pose backends are stateful over one video: call `process` on consecutive batches of frames, in order, so
the backend can pick the climber once and track them (not whoever is largest). Mask backends segment a
short sequence of keyframes (SfM needs masks only there) and may treat it as a video (SAM2).

Pixel coordinates are always those of the frames handed in (display orientation, after rotation metadata).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cruxlab.joints import NUM_JOINTS


@dataclass(frozen=True)
class PoseBatch:
    """Pose of the climber in B consecutive frames.

    keypoints:   (B, 21, 2) float32, pixels (x right, y down) in the input frames, NaN = not found.
    confidence:  (B, 21) float32 in [0, 1]; 0 where NaN.
    keypoints3d: (B, 21, 3) float32 metres, body-centred (origin mid-hip), camera axes (x right, y down,
                 z away from the camera), or None when the backend has no 3D output.
    boxes:       (B, 4) float32 climber box x0, y0, x1, y1 in pixels, NaN row = no climber in that frame.
    masks:       (B, H, W) bool climber mask when the backend produces one for free (MediaPipe), else None;
                 a backend with `want_masks(frames)` may leave the masks of other frames empty.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    keypoints3d: np.ndarray | None
    boxes: np.ndarray
    masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        B = len(self.keypoints)
        if self.keypoints.shape != (B, NUM_JOINTS, 2) or self.confidence.shape != (B, NUM_JOINTS):
            raise ValueError(f"bad pose shapes {self.keypoints.shape} / {self.confidence.shape}")
        if self.keypoints3d is not None and self.keypoints3d.shape != (B, NUM_JOINTS, 3):
            raise ValueError(f"bad 3D pose shape {self.keypoints3d.shape}")
        if self.boxes.shape != (B, 4):
            raise ValueError(f"bad box shape {self.boxes.shape}")


class PoseBackend(abc.ABC):
    """2D (and optionally 3D) pose of the climber, frame batch by frame batch."""

    name: ClassVar[str]
    provides_3d: ClassVar[bool] = False

    @abc.abstractmethod
    def process(self, frames: np.ndarray) -> PoseBatch:
        """frames: (B, H, W, 3) uint8 RGB, consecutive frames of one video, in order."""

    def close(self) -> None:
        """Release models and sessions."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MaskBackend(abc.ABC):
    """Climber masks on a short ordered sequence of frames."""

    name: ClassVar[str]

    @abc.abstractmethod
    def segment(self, frames: list[np.ndarray], boxes: np.ndarray, keypoints: np.ndarray | None = None) -> np.ndarray:
        """frames: N images (H, W, 3) uint8 RGB, in time order; boxes: (N, 4) climber box prompts (NaN row =
        none); keypoints: (N, 21, 2) optional point prompts. Returns (N, H, W) bool climber masks."""

    def close(self) -> None:
        """Release models."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
