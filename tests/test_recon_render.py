"""Renders: the stored skeleton projected through the stored cameras onto the video; blank-wall views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cruxlab.draw import JOINT_COLORS, project, wall_view_camera
from cruxlab.errors import InputError
from cruxlab.joints import JOINT_INDEX, L_HIP, L_WRIST, NUM_JOINTS, R_HIP, R_WRIST
from cruxlab.labels import LABEL_COLORS, Move
from cruxlab.skeleton import Skeleton
from db import store
from db.connection import connect, transaction
from reconstruction.render import contact_sheet, iter_overlays, write_overlay_video
from reconstruction.video import probe, write_video

T, W, H, FPS = 8, 320, 240, 10.0


def standing(t: int) -> np.ndarray:
    """A simple climber on the wall z = 0 (facing -z, 0.3 m out), moving right 5 cm per frame: (21, 3) m."""
    pts = {"nose": (0, 1.6, 0.35), "left_eye": (-0.03, 1.63, 0.33), "right_eye": (0.03, 1.63, 0.33),
           "left_ear": (-0.07, 1.6, 0.3), "right_ear": (0.07, 1.6, 0.3),
           "left_shoulder": (-0.18, 1.4, 0.3), "right_shoulder": (0.18, 1.4, 0.3),
           "left_elbow": (-0.3, 1.65, 0.25), "right_elbow": (0.3, 1.65, 0.25),
           "left_wrist": (-0.35, 1.9, 0.08), "right_wrist": (0.35, 1.9, 0.08),
           "left_hip": (-0.1, 0.95, 0.3), "right_hip": (0.1, 0.95, 0.3),
           "left_knee": (-0.2, 0.6, 0.2), "right_knee": (0.2, 0.6, 0.2),
           "left_ankle": (-0.25, 0.2, 0.13), "right_ankle": (0.25, 0.2, 0.13),
           "left_heel": (-0.25, 0.15, 0.16), "right_heel": (0.25, 0.15, 0.16),
           "left_big_toe": (-0.27, 0.18, 0.04), "right_big_toe": (0.27, 0.18, 0.04)}
    kp = np.zeros((NUM_JOINTS, 3))
    for name, xyz in pts.items():
        kp[JOINT_INDEX[name]] = xyz
    kp[:, 0] += 0.05 * t
    return kp


def cameras() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A camera 4 m behind the climber, looking at the wall (OpenCV axes), panning slightly."""
    K = np.array([[260.0, 0, W / 2], [0, 260.0, H / 2], [0, 0, 1]])
    R0 = np.diag([1.0, -1.0, -1.0])
    Rs, ts = [], []
    for t in range(T):
        C = np.array([0.02 * t, 1.1, 4.0])
        Rs.append(R0)
        ts.append(-R0 @ C)
    return np.repeat(K[None], T, 0), np.stack(Rs), np.stack(ts)


@pytest.fixture()
def db(tmp_path):
    """A store with a video attempt (gray video, known cameras, detections 6 px off) and a skeleton import."""
    video = write_video(tmp_path / "gray.mp4", [np.full((H, W, 3), 90, np.uint8)] * T, FPS)
    info = probe(video)
    kp3 = np.stack([standing(t) for t in range(T)]).astype(np.float32)
    kp3[5] = np.nan                                         # a frame without a skeleton
    sk = Skeleton(keypoints=kp3, fps=FPS)
    K, R, t = cameras()
    det = project(kp3.astype(np.float64), K, R, t) + 6.0
    path = tmp_path / "store.duckdb"
    with connect(path) as con, transaction(con):
        a = store.insert_attempt(con, store.AttemptRecord(
            name="on-video", climber="Ada", skeleton=sk, source_kind="video", source_path=video, key="k1",
            video=store.VideoRecord(str(video), info.sha256, FPS, W, H, T), camera_model="sfm",
            cameras=store.CameraTrack(K=K, R=R, t=t, registered=np.ones(T, bool)),
            keypoints2d=store.Keypoints2D(det.astype(np.float32), np.ones((T, NUM_JOINTS), np.float32), None,
                                          np.zeros((T, 4), np.float32))))
        store.replace_model_moves(con, a, [Move(2, 4, "reach", "right_hand", 0.9)], "test")
        store.insert_attempt(con, store.AttemptRecord(name="imported", climber="Ada",
                                                      skeleton=Skeleton(keypoints=kp3, fps=FPS),
                                                      source_kind="skeleton", source_path="x.npz", key="k2"))
    return path, video, det


def load_render_data(path, attempt):
    with connect(path, read_only=True) as con:
        return store.read_render_data(con, attempt)


def _is_color(img: np.ndarray, xy: np.ndarray, rgb, tol: int = 40) -> bool:
    x, y = np.round(xy).astype(int)
    patch = img[max(0, y - 1):y + 2, max(0, x - 1):x + 2].reshape(-1, 3).astype(int)
    return bool((np.abs(patch - np.array(rgb)).max(axis=1) <= tol).any())


def test_skeleton_is_projected_through_the_stored_cameras(db):
    path, _, det = db
    data = load_render_data(path, "on-video")
    assert data.video_size == (W, H) and data.moves == [(2, 4, "reach", "right_hand")]
    K, R, t = cameras()
    uv = project(data.skeleton.keypoints.astype(np.float64), K, R, t) / 2.0    # rendered at half size
    frames = dict(iter_overlays(data, [1, 3, 5], max_side=160, show_2d=True))
    assert sorted(frames) == [1, 3, 5] and frames[1].shape == (H // 2, W // 2, 3)
    for f in (1, 3):
        img = frames[f]
        for j in (L_HIP, R_HIP, L_WRIST, R_WRIST):
            assert _is_color(img, uv[f, j], JOINT_COLORS[j]), (f, j)
        assert _is_color(img, det[f, L_HIP] / 2.0, (255, 255, 255), tol=30)        # raw detection dot
    # Frame 5 has no skeleton: nothing but the gray video (and the band) is drawn below the band.
    assert np.abs(frames[5][30:].astype(int) - 90).max() < 12
    # The band names the move in frames 2..4 in its label colour.
    reach = tuple(int(LABEL_COLORS["reach"][i:i + 2], 16) for i in (1, 3, 5))
    band = frames[3][:20].reshape(-1, 3).astype(int)
    assert (np.abs(band - reach).max(axis=1) < 10).any()
    assert not (np.abs(frames[1][:20].reshape(-1, 3).astype(int) - reach).max(axis=1) < 10).any()


@pytest.mark.parametrize("codec,name", [(None, "vp9"), ("libvpx", "vp8")])
def test_overlay_video_is_webm_with_every_frame(db, tmp_path, codec, name):
    path, _, _ = db
    out = write_overlay_video(load_render_data(path, "on-video"), tmp_path / "out.webm", max_side=160, codec=codec)
    info = probe(out)
    assert info.codec == name and info.n_frames == T and (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(FPS)


def test_overlay_video_can_hold_its_last_frame(db, tmp_path):
    """Label Studio pushes pad the overlay to whole timeline cells: frames T.. repeat frame T - 1."""
    import av

    path, _, _ = db
    out = write_overlay_video(load_render_data(path, "on-video"), tmp_path / "held.webm", max_side=160,
                              codec="libvpx", hold_last=3)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]
    assert len(frames) == T + 3
    assert all(np.abs(f - frames[T - 1]).mean() < 1.0 for f in frames[T:])     # held (up to VP8 noise)
    assert np.abs(frames[T - 2] - frames[T - 1]).mean() > 1.0                  # the climber still moved before


def test_skeleton_only_attempt_renders_on_a_blank_wall(db, tmp_path):
    path, _, _ = db
    data = load_render_data(path, "imported")
    assert data.cameras is None and data.video_path is None
    K, R, t, (w, h) = wall_view_camera(data.skeleton, 400)
    uv = project(data.skeleton.keypoints.astype(np.float64), K, R, t)
    ok = np.isfinite(uv).all(-1)
    assert (uv[ok] > 0).all() and (uv[ok][:, 0] < w).all() and (uv[ok][:, 1] < h).all()   # everyone in view
    assert (uv[0, L_HIP, 0] < uv[0, R_HIP, 0])             # seen from behind: the left hip is on the left
    assert (uv[0, L_WRIST, 1] < uv[0, L_HIP, 1])           # y up in the world is up in the image
    img = dict(iter_overlays(data, [0], max_side=400))[0]
    assert _is_color(img, uv[0, L_HIP], JOINT_COLORS[L_HIP])
    out = contact_sheet(load_render_data(path, "imported"), tmp_path / "sheet.png", n=4, cols=2, tile_height=200)
    sheet = cv2.imread(str(out))
    assert sheet.shape[0] == 44 + 2 * 200
    right = JOINT_COLORS[R_HIP][::-1]                      # BGR in the file
    assert (np.abs(sheet.reshape(-1, 3).astype(int) - right).max(axis=1) < 20).sum() > 50


def test_contact_sheet_over_the_video_picks_frames_with_a_skeleton(db, tmp_path):
    path, _, _ = db
    out = contact_sheet(load_render_data(path, "on-video"), tmp_path / "sheet.png", n=12, cols=4, tile_height=120)
    sheet = cv2.imread(str(out))
    assert sheet.shape[0] == 44 + 2 * 120                  # 7 frames with a skeleton -> 2 rows of 4


def test_missing_video_names_the_fix(db, tmp_path):
    path, video, _ = db
    moved = tmp_path / "moved.mp4"
    video.rename(moved)
    with pytest.raises(InputError, match="--video"):
        contact_sheet(load_render_data(path, "on-video"), tmp_path / "x.png")
    assert contact_sheet(load_render_data(path, "on-video"), tmp_path / "y.png", video_path=moved).is_file()
    assert contact_sheet(load_render_data(path, "on-video"), tmp_path / "z.png", use_video=False).is_file()


def test_unknown_attempt_and_bad_output_are_clear_errors(db, tmp_path):
    path, _, _ = db
    with pytest.raises(InputError, match="unknown attempt"):
        load_render_data(path, "nope")
    with pytest.raises(InputError, match="no attempt with id 99"):
        load_render_data(path, 99)
    with pytest.raises(InputError, match=".webm"):
        write_overlay_video(load_render_data(path, "on-video"), tmp_path / "out.gif")


def test_contact_sheet_zooms_on_the_climber(db, tmp_path):
    from reconstruction.render import climber_region

    path, _, _ = db
    data = load_render_data(path, "on-video")
    box = climber_region(data, margin=0.1)
    K, R, t = cameras()
    uv = project(data.skeleton.keypoints.astype(np.float64), K, R, t).reshape(-1, 2)
    uv = uv[np.isfinite(uv).all(1)]
    inner = (uv > np.percentile(uv, 5, axis=0)).all(1) & (uv < np.percentile(uv, 95, axis=0)).all(1)
    assert (uv[inner] >= box[:2]).all() and (uv[inner] <= box[2:]).all()
    assert (box[2] - box[0]) * (box[3] - box[1]) < 0.8 * W * H          # a real crop, not the whole frame
    wide = cv2.imread(str(contact_sheet(load_render_data(path, "on-video"), tmp_path / "a.png", n=4, tile_height=100, zoom=False)))
    tight = cv2.imread(str(contact_sheet(load_render_data(path, "on-video"), tmp_path / "b.png", n=4, tile_height=100)))
    assert wide.shape[1] == 4 * round(100 * W / H) and tight.shape[1] != wide.shape[1]
    assert load_render_data(path, "imported").cameras is None
    assert climber_region(load_render_data(path, "imported")) is None
