"""Keyframe SfM in a child process, fed while the pose stage decodes the video.

Each keyframe reaches the worker twice: its image as soon as it is decoded (`CameraWorker.decoded`, in the
decoding thread), so its SIFT features are extracted while the pose stage still tracks the frames before it,
and its climber mask once the pose stage has found the climber there (`CameraWorker.add`: MediaPipe's person
mask from the pose backend, exactly what the mask stage would use; with another pose backend the MediaPipe
mask backend segments it here). The worker then drops the features on the climber and matches the rest with
the keyframes before (`sfm.KeyframeSolver`). When the last frame is tracked only the last keyframe's matching
and the fixed-camera test / mapping remain. The video is decoded once, by the pose stage; the worker loads
pycolmap and OpenCV only (~100 MB, ~300 MB at its peak).

    with CameraWorker(len(keyframe_index), job, keyframe_index) as worker:
        ...                                            # pose stage, decoding: worker.decoded(frames)
        worker.add(image, box, mask)                   # each keyframe, in order, working-size pixels
        masks, cams = worker.result(keyframe_index, n_frames)

A failure in the worker (an InputError such as too little wall texture) is raised again by `result`.
"""

from __future__ import annotations

import pickle
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


#: Blocks of at least this many bytes get their own memory mapping from glibc's malloc (`return_freed_memory`).
MMAP_THRESHOLD = 4 << 20


def return_freed_memory() -> None:
    """Let glibc give freed large blocks back to the system at once: blocks >= 4 MiB (frame batches, band
    matrices, the lift's arrays) get their own mapping. glibc's default threshold grows with the blocks freed
    (up to 32 MiB), after which such blocks are kept in the heap, where freed ones still count as this
    process's memory: a 1080p minute's analysis peaked ~60 MB higher in the pose stage and ~150 MB higher in
    the lift. Single frames (2 MiB at 960 px) stay in the heap, reused without new page faults (at 1 MiB
    decoding took ~0.3 CPU-s more per 377 frames, for the same peak). No-op without glibc."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


#: The worker's niceness (see `CameraWorker.__init__`).
WORKER_NICE = 10


class CameraWorkerDied(RuntimeError):
    """The worker process stopped without a result (killed, out of memory, a crash in a native library)."""


@dataclass(frozen=True)
class CameraJob:
    """What masking and SfM need. mask_options: keyword options of the MediaPipe mask backend; sfm_max_side:
    longest side of the images handed to SfM; scale: full-size pixels per working pixel (of the images
    handed to `add`); sfm: SfmOptions; workdir: COLMAP's folder."""

    mask_options: dict
    sfm_max_side: int
    scale: float
    sfm: object
    workdir: Path


def keyframe_mask(mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(h, w) bool climber mask of one keyframe; the filled box where the segmenter found nobody but the
    pose found the climber (SfM must not use the climber's features either way), as `run_masks` does."""
    from reconstruction.segment import fill_empty_masks

    return fill_empty_masks(np.array(mask, dtype=bool)[None], box[None])[0]


def sfm_image(image: np.ndarray, max_side: int, scale: float) -> tuple[np.ndarray, float]:
    """A keyframe at `max_side` for SfM, and the full-size pixels per pixel of the result."""
    import cv2

    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return image, scale
    nw, nh = max(2, round(w * s)), max(2, round(h * s))
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA), scale * w / nw


def sfm_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A keyframe's climber mask at the (w, h) of its `sfm_image`."""
    from reconstruction.segment import resize_masks

    return mask if mask.shape[::-1] == tuple(size) else resize_masks(mask[None], *size)[0]


def sfm_keyframe(image: np.ndarray, mask: np.ndarray, max_side: int, scale: float
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """A keyframe and its mask at `max_side` for SfM, and the full-size pixels per pixel of the result."""
    small, scale = sfm_image(image, max_side, scale)
    return small, sfm_mask(mask, small.shape[1::-1]), scale


def _serve(inbox, outbox) -> None:
    """The worker: the job, then SfM keyframe by keyframe (features of each image as it comes, matched once
    its mask comes), then the cameras of every frame."""
    from collections import deque

    from reconstruction.sfm import KeyframeSolver

    t_cpu = time.process_time()
    try:
        n_keyframes, job = pickle.load(inbox)
        solver = None
        extracted = deque()  # features of the keyframes whose masks have not come yet
        while (msg := pickle.load(inbox))[0] in ("image", "mask"):
            if msg[0] == "image":
                small, scale = sfm_image(msg[1], job.sfm_max_side, job.scale)
                if solver is None:
                    solver = KeyframeSolver(job.workdir, n_keyframes, small.shape[1::-1], scale=scale,
                                            options=job.sfm)
                extracted.append(solver.extract(small))
            else:
                solver.add(extracted.popleft(), sfm_mask(msg[1], solver.size))
        if msg[0] != "solve" or solver is None:
            return
        cams = solver.solve(msg[1], msg[2])
        cams.report["worker_cpu_s"] = round(time.process_time() - t_cpu, 2)
        reply = ("ok", cams)
    except EOFError:  # the caller went away without asking for the result
        return
    except Exception as exc:  # noqa: BLE001 - every failure travels back to the caller
        reply = ("error", type(exc).__module__, type(exc).__name__, str(exc))
    try:
        pickle.dump(reply, outbox, protocol=pickle.HIGHEST_PROTOCOL)
        outbox.flush()
    except BrokenPipeError:  # the caller went away meanwhile
        pass


class CameraWorker:
    """A child process (`python -m reconstruction.camera_worker`: a fresh interpreter, as MediaPipe's threads
    do not survive a fork, and no re-import of the caller's script as multiprocessing's spawn would do) that
    masks and solves the keyframes handed to `decoded` and `add` (see the module docstring). Messages are
    pickled over its stdin / a pipe of its own. keyframe_index: the attempt frames of the keyframes, for
    `decoded` to find them. Use as a context manager: leaving it stops the process if it still runs."""

    def __init__(self, n_keyframes: int, job: CameraJob, keyframe_index: np.ndarray | None = None):
        import os
        import subprocess
        import sys

        import queue

        read_fd, write_fd = os.pipe()
        # The child imports this checkout whatever the caller's working directory (a pool or Ray worker, a
        # script run from elsewhere): it runs in the checkout's root, which also leads its PYTHONPATH.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        # COLMAP's thread pools each get a glibc malloc arena: two arenas keep the worker's peak at ~200 MB
        # instead of ~300 MB (the tripod clip's 15 keyframes; CPU time the same within noise).
        env.setdefault("MALLOC_ARENA_MAX", "2")
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD))  # see `return_freed_memory`
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "reconstruction.camera_worker", str(write_fd)],
                                          stdin=subprocess.PIPE, pass_fds=(write_fd,), env=env,
                                          cwd=ROOT)
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        # Below the pose stage's priority, from its start-up on (the threads it starts later inherit it): the
        # pose stage runs one chain (decode, MediaPipe's graph, the next frame) that the whole stage waits
        # for, while the keyframes only need to be solved by its end. The worker still takes any core nothing
        # else wants (the same CPU time), and after the pose stage it runs beside the flow only.
        try:
            os.setpriority(os.PRIO_PROCESS, self._proc.pid, WORKER_NICE)
        except OSError:  # it has already stopped (its error comes with `result`), or no permission
            pass
        self._out = os.fdopen(read_fd, "rb")
        # A thread writes to the worker, so the pose stage never waits while the worker is busy.
        self._queue: queue.Queue = queue.Queue()
        self._feeder = threading.Thread(target=self._feed, name="cruxlab-cameras-feed", daemon=True)
        self._feeder.start()
        self._send((n_keyframes, job))
        self.job = job
        self.masks: list[np.ndarray] = []
        self._masker = None
        self._keyframe_index = np.asarray([] if keyframe_index is None else keyframe_index, dtype=np.int64)
        self._decoded = 0          # attempt frames seen by `decoded`
        self._images_sent = 0      # keyframe images sent to the worker (by `decoded` or `add`)
        self._lock = threading.Lock()

    def _send(self, msg) -> None:
        self._queue.put(msg)

    def _feed(self) -> None:
        while (msg := self._queue.get()) is not None:
            try:
                pickle.dump(msg, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                return  # the worker stopped early; `result` reports what it said

    def decoded(self, frames: np.ndarray) -> None:
        """The next decoded attempt frames (B, h, w, 3) uint8 RGB at working size, in order (`estimate_pose`'s
        `on_decoded`, in the decoding thread): the keyframes among them go to the worker at once, which
        extracts their features before the pose stage reaches them."""
        with self._lock:
            first, self._decoded = self._decoded, self._decoded + len(frames)
            for k in np.flatnonzero((self._keyframe_index >= first) & (self._keyframe_index < self._decoded)):
                if k == self._images_sent:
                    self._send(("image", np.array(frames[self._keyframe_index[k] - first])))
                    self._images_sent += 1

    def add(self, image: np.ndarray, box: np.ndarray, mask: np.ndarray | None = None) -> None:
        """The next keyframe (h, w, 3) uint8 RGB at working size, the climber's box there (4,), NaN = none, and
        the pose backend's person mask (h, w) bool when it makes them (MediaPipe: as the mask stage would use
        it); else the keyframe is masked here by the MediaPipe mask backend. Solved in the worker; the image
        is sent only if `decoded` has not sent it already."""
        box = np.asarray(box, dtype=np.float64)
        if mask is None:
            if self._masker is None:
                from reconstruction.backends import get_mask_backend

                self._masker = get_mask_backend("mediapipe", **self.job.mask_options)
            mask = self._masker.segment([image], box[None])[0]
        self.masks.append(keyframe_mask(mask, box))
        with self._lock:
            if self._images_sent < len(self.masks):
                self._send(("image", np.ascontiguousarray(image)))
                self._images_sent += 1
        self._send(("mask", self.masks[-1]))

    def result(self, frame_indices: np.ndarray, n_frames: int):
        """(masks (N, h, w) bool at working size, sfm.CameraSolution of all n_frames) once the worker is done."""
        self._send(("solve", np.asarray(frame_indices, dtype=np.int64), int(n_frames)))
        try:
            msg = pickle.load(self._out)
        except EOFError:
            raise CameraWorkerDied(f"the camera worker stopped (exit code {self._proc.wait()}) without a "
                                   "result") from None
        if msg[0] == "error":
            raise _rebuild(*msg[1:])
        return np.stack(self.masks), msg[1]

    def close(self) -> None:
        if self._masker is not None:
            self._masker.close()
            self._masker = None
        if self._proc.poll() is None:
            self._send(("stop",))
        self._send(None)
        self._feeder.join(timeout=10)
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a worker that does not stop is killed
            self._proc.kill()
            self._proc.wait()
        self._out.close()

    def __enter__(self) -> "CameraWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _rebuild(module: str, name: str, message: str) -> Exception:
    """The worker's exception in this process: the same cruxlab error class when it is one."""
    import importlib

    try:
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls(message)
    except (ImportError, AttributeError, TypeError):
        pass
    return RuntimeError(f"{name}: {message}")


def _main(argv: list[str]) -> None:
    import os
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes the pipe, the worker stops

    out = os.fdopen(int(argv[0]), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the reply pipe
    sys.stdout = sys.stderr
    _serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
