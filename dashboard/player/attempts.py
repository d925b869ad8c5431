"""Tracks of stored attempts: the store's skeleton, cameras and wall, and the playback video, as a `Track`.

`attempt_track(attempt_id)` is what a page calls; it reads through `dashboard.data` (the one data module)
and caches the result per attempt (per-frame data never changes once stored). The first view of an attempt
with a video transcodes its frames once (dashboard.player.media), showing progress on the page.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from dashboard import data
from dashboard.player.media import FrameSelection, cached_playback, make_playback
from dashboard.player.track import Track, points_in_view, wall_subset


def _rendered_track(name: str, sk, wall, reason: str) -> Track:
    from dashboard import figures as fg

    view = fg.wall_view(sk, 640, None if wall is None else wall.xyz, None if wall is None else wall.rgb)
    uv = points_in_view(sk.keypoints, sk.confidence, view.K, view.R, view.t)
    xyz, rgb = wall_subset(np.zeros((0, 3)) if wall is None else wall.xyz, None if wall is None else wall.rgb)
    return Track(name=name, fps=sk.fps, n_frames=sk.n_frames, media=None, background=view.background,
                 size=view.size, points2d=uv, keypoints3d=sk.keypoints, wall_xyz=xyz, wall_rgb=rgb,
                 wall_normal=sk.normal, wall_point=sk.point, source=reason)


@st.cache_data(show_spinner=False, max_entries=16)
def _track(db: str, attempt_id: int, identity: tuple, playback: str | None) -> Track:
    info = data.attempt_info(attempt_id)
    sk = data.skeleton(attempt_id)
    cams = data.cameras(attempt_id)
    wall = data.wall_points(attempt_id)
    if playback is None or cams is None:
        why = ("rendered view of the wall (no video)" if not info.video_path
               else "rendered view of the wall (video not on disk)" if not data.video_exists(info.video_path)
               else "rendered view of the wall (no cameras stored)")
        return _rendered_track(info.name, sk, wall, why)
    uv = points_in_view(sk.keypoints, sk.confidence, cams.K, cams.R, cams.t)
    xyz, rgb = wall_subset(np.zeros((0, 3)) if wall is None else wall.xyz, None if wall is None else wall.rgb)
    interpolated = int((~cams.registered).sum())
    source = (f"video frames {info.video_start_frame}+{info.video_frame_step}·i of {Path(info.video_path).name}"
              + (f" · {interpolated} cameras interpolated" if interpolated else ""))
    return Track(name=info.name, fps=sk.fps, n_frames=sk.n_frames, media=Path(playback), background=None,
                 size=info.video_size, points2d=uv, keypoints3d=sk.keypoints, wall_xyz=xyz,
                 wall_rgb=rgb, wall_normal=sk.normal, wall_point=sk.point, source=source)


def frame_selection(attempt_id: int) -> FrameSelection:
    info = data.attempt_info(attempt_id)
    return FrameSelection(info.video_start_frame, info.video_frame_step, info.n_frames, info.fps)


def playback_file(attempt_id: int, *, show_progress: bool = True) -> Path | None:
    """The attempt's playback WebM, transcoding it now (with a progress bar) when it is not cached yet; None
    when the attempt has no video on disk, no cameras, or the video cannot be read (the page then shows the
    rendered wall and says why)."""
    info = data.attempt_info(attempt_id)
    if not data.video_exists(info.video_path) or data.cameras(attempt_id) is None:
        return None
    frames = frame_selection(attempt_id)
    path = cached_playback(info.video_path, frames)
    if path is not None:
        return path
    from cruxlab.errors import InputError

    bar = st.progress(0.0, text="Preparing the video for the browser (once per attempt)…") if show_progress else None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.progress(min(1.0, done / max(total, 1)),
                         text=f"Preparing the video for the browser (once per attempt): frame {done} of {total}")

    try:
        path = make_playback(info.video_path, frames, progress=progress)
    except InputError as exc:
        st.warning(f"The video cannot be played: {exc}. Showing the rendered wall instead.",
                   icon=":material/videocam_off:")
        return None
    finally:
        if bar is not None:
            bar.empty()
    return path


def attempt_track(attempt_id: int, *, show_progress: bool = True) -> Track:
    """The Track of a stored attempt: its playback video with the skeleton projected through the stored cameras,
    or the rendered wall view when there is no usable video."""
    playback = playback_file(attempt_id, show_progress=show_progress)
    info = data.attempt_info(attempt_id)
    identity = (info.name, info.n_frames, info.source_path)
    return _track(str(data.db_path()), int(attempt_id), identity, None if playback is None else str(playback))
