"""Per-move clips (MP4, GIF) and the attempt export the attempt page offers for download, on the synthetic demo
store (its videos are rendered from the same skeletons, so the overlay must land on the climber)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from cruxlab.errors import InputError
from dashboard.clips import GIF_MAX_FPS, GIF_MAX_HEIGHT, clip_frames, clip_name, move_clip
from db import connect, store


def test_clip_frames_keep_a_margin_inside_the_attempt():
    assert list(clip_frames(50, 60, 300, 25.0)) == list(range(38, 73))       # 0.5 s = 12.5 -> 12 frames
    assert clip_frames(3, 10, 300, 25.0)[0] == 0 and clip_frames(290, 299, 300, 25.0)[-1] == 299
    with pytest.raises(InputError, match="not a move"):
        clip_frames(10, 400, 300, 25.0)
    assert clip_name("janja/../x", "cross-over", 50, 25.0, "gif") == "janja-..-x-cross-over-2.0s.gif"


def _a_move(db, attempt_id):
    with connect(db, read_only=True) as con:
        rd = store.read_render_data(con, attempt_id)
        move = store.current_moves(con, attempt_id).iloc[0]
    return rd, int(move["start_frame"]), int(move["end_frame"])


def test_mp4_and_gif_clips_of_a_move(demo, tmp_path, artifacts):
    import av
    from PIL import Image

    template, db = demo
    rd, s, e = _a_move(db, template.attempt_ids[1])          # an attempt with a (rendered) video
    assert rd.video_path is not None and rd.cameras is not None
    frames = clip_frames(s, e, rd.skeleton.n_frames, rd.skeleton.fps)
    mp4 = move_clip(rd, frames, "mp4")
    (tmp_path / "clip.mp4").write_bytes(mp4)
    with av.open(str(tmp_path / "clip.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
    assert len(decoded) == len(frames), "one video frame per attempt frame of the clip"
    assert float(stream.average_rate) == pytest.approx(rd.skeleton.fps, rel=1e-3)
    assert max(decoded[0].shape[:2]) <= 720

    gif = move_clip(rd, frames, "gif")
    (artifacts / "move_clip_example.gif").write_bytes(gif)
    im = Image.open(io.BytesIO(gif))
    step = int(np.ceil(rd.skeleton.fps / GIF_MAX_FPS))
    assert im.n_frames == len(frames[::step]) and im.height <= GIF_MAX_HEIGHT
    assert im.info["duration"] == round(1000 * step / rd.skeleton.fps) and im.info["loop"] == 0
    # not a still: consecutive frames differ (the climber moves)
    im.seek(0)
    first = np.asarray(im.convert("RGB")).astype(int)
    im.seek(im.n_frames - 1)
    last = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(first - last).mean() > 1.0


def test_clip_of_a_skeleton_only_attempt_is_drawn_on_the_wall(demo):
    template, db = demo
    rd, s, e = _a_move(db, template.attempt_ids[-1])
    assert rd.video_path is None
    mp4 = move_clip(rd, clip_frames(s, e, rd.skeleton.n_frames, rd.skeleton.fps), "mp4")
    assert mp4[4:8] == b"ftyp" and len(mp4) > 2_000


def test_attempt_export_zips_the_db_export(demo, monkeypatch):
    import pandas as pd

    from dashboard import data

    template, db = demo
    aid = template.attempt_ids[0]
    with connect(db, read_only=True) as con:
        info = store.attempt_info(con, aid)
        n_moves = len(store.current_moves(con, aid))
    for fmt, names in (("csv", {"moves.csv", "label_history.csv", "skeletons.csv"}),
                       ("parquet", {"moves.parquet", "label_history.parquet", "skeletons.parquet"}),
                       ("npz", {f"{info.name}.npz"})):
        zf = zipfile.ZipFile(io.BytesIO(data.export_attempt(aid, fmt)))
        assert set(zf.namelist()) == names, fmt
    moves = pd.read_csv(io.BytesIO(zipfile.ZipFile(io.BytesIO(data.export_attempt(aid, "csv"))).read("moves.csv")))
    assert len(moves) == n_moves and set(moves["attempt"]) == {info.name}
