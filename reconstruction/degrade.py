"""Real clips made harder with a known transform, to measure the pose stage where it fails on real footage.

A board or gym video filmed from far away shows a small climber (~180 px tall in a 480x854 frame); phones
drop frames, and spotters walk through the picture. `small_climber_clip` makes such a clip out of a bundled
clip whose climber is large:

    spec = SmallClimber(climber_px=180, canvas=(480, 854), blank=((60, 72),), occlude=((150, 165),))
    out = small_climber_clip("data/climbing/warp-fixed-input.mp4", "small.mp4", spec, climber_box_px=600.0,
                             boxes=reference_boxes)
    small_kp = out.to_small(reference_keypoints)       # full-size pixels -> pixels of the small clip

Every frame is scaled by `out.scale` and pasted at `out.offset` into a canvas whose border repeats the
frame's edge pixels (no second person appears). Blanked frames are a flat grey (a dropped signal);
occluded frames get a dark box over the climber's torso (a spotter passing in front), which needs the
climber's box per frame. Because the transform is known, the pose found on the full-size clip maps exactly
onto the small one: that is the reference the small clip's pose is compared with (`agreement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SmallClimber:
    """How to degrade a clip.

    climber_px: the climber's median box height in the output, pixels.
    canvas:     (w, h) output size in pixels.
    anchor:     (x, y) in [0, 1]: where the scaled frame sits in the canvas (0 = left/top, 1 = right/bottom).
    blank:      inclusive (first, last) frame spans replaced by flat grey.
    occlude:    inclusive (first, last) frame spans where a dark box covers the climber's torso and hips.
    """

    climber_px: float = 180.0
    canvas: tuple[int, int] = (480, 854)
    anchor: tuple[float, float] = (0.5, 0.6)
    blank: tuple[tuple[int, int], ...] = ()
    occlude: tuple[tuple[int, int], ...] = ()

    def frames_in(self, spans: tuple[tuple[int, int], ...], n_frames: int) -> np.ndarray:
        """(n_frames,) bool: frames inside any of `spans`."""
        out = np.zeros(n_frames, dtype=bool)
        for a, b in spans:
            out[max(a, 0): min(b, n_frames - 1) + 1] = True
        return out


@dataclass(frozen=True)
class SmallClip:
    """The degraded clip and its transform: small pixel = full-size pixel * scale + offset."""

    path: Path
    scale: float
    offset: np.ndarray      # (2,) pixels
    spec: SmallClimber
    n_frames: int

    def to_small(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) full-size pixels -> pixels of the small clip."""
        return np.asarray(xy, dtype=np.float64) * self.scale + self.offset

    @property
    def blanked(self) -> np.ndarray:
        return self.spec.frames_in(self.spec.blank, self.n_frames)

    @property
    def occluded(self) -> np.ndarray:
        return self.spec.frames_in(self.spec.occlude, self.n_frames)


def _paste(img: np.ndarray, scale: float, offset: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    import cv2

    M = np.array([[scale, 0, offset[0]], [0, scale, offset[1]]], dtype=np.float64)
    return cv2.warpAffine(img, M, canvas, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def small_climber_clip(src: str | Path, out: str | Path, spec: SmallClimber, *, climber_box_px: float,
                       boxes: np.ndarray | None = None, start_s: float | None = None, end_s: float | None = None
                       ) -> SmallClip:
    """Write the degraded clip of the trim [start_s, end_s) (see the module docstring); return its transform.

    climber_box_px: the climber's median box height in the source clip (full-size pixels).
    boxes: (T, 4) the climber's box in every frame of the trim, full-size pixels; needed for `spec.occlude`.
    Frame spans in `spec` count frames of the trim.
    """
    from reconstruction.video import iter_batches, probe, select_frames, write_video

    info = probe(src, with_hash=False)
    frames = select_frames(info, start_s, end_s)
    scale = spec.climber_px / float(climber_box_px)
    cw, ch = spec.canvas
    offset = np.array([(cw - info.width * scale) * spec.anchor[0], (ch - info.height * scale) * spec.anchor[1]])
    blank = spec.frames_in(spec.blank, frames.count)
    occlude = spec.frames_in(spec.occlude, frames.count)
    if occlude.any() and boxes is None:
        raise ValueError("occluding the climber needs their box per frame (boxes=...)")

    def generate():
        for batch in iter_batches(info, frames, max_side=None, batch_size=8):
            for img, i in zip(batch.frames, batch.index):
                small = _paste(img, scale, offset, spec.canvas)
                if blank[i]:
                    small[:] = 128
                elif occlude[i] and np.isfinite(boxes[i]).all():
                    x0, y0, x1, y1 = boxes[i] * scale + np.r_[offset, offset]
                    top, bottom = y0 + 0.25 * (y1 - y0), y0 + 0.75 * (y1 - y0)
                    small[int(max(top, 0)):int(bottom), int(max(x0 - 10, 0)):int(x1 + 10)] = (40, 40, 48)
                yield small

    path = write_video(out, generate(), info.fps)
    return SmallClip(path=Path(path), scale=scale, offset=offset, spec=spec, n_frames=frames.count)


def agreement(kp: np.ndarray, ref: np.ndarray, ref_conf: np.ndarray, *, min_conf: float = 0.5,
              tolerance: float = 0.1) -> dict[str, float]:
    """How well keypoints (T, J, 2) agree with reference keypoints in the same pixels.

    Errors are in units of the reference climber's box height per frame (scale-free). Only joints the
    reference is confident about count. Returns the median error and PCK (share of those joints within
    `tolerance` x box height) over frames where both have the joint.
    """
    from reconstruction.segment import box_from_keypoints

    box = box_from_keypoints(ref, ref_conf, min_confidence=min_conf, pad=0.0)
    height = (box[:, 3] - box[:, 1])[:, None]
    err = np.linalg.norm(np.asarray(kp, np.float64) - ref, axis=-1) / height
    ok = np.isfinite(err) & (ref_conf >= min_conf)
    e = err[ok]
    return {"median_error": float(np.median(e)) if len(e) else float("nan"),
            "pck": float(np.mean(e <= tolerance)) if len(e) else float("nan"),
            "joints": int(ok.sum())}
