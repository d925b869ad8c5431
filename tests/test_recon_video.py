"""Video decoding: probing, rotation metadata, trimming/subsampling, batches, bad files, the WebM writer."""

from __future__ import annotations

import numpy as np
import pytest

from cruxlab.errors import InputError
from cruxlab.skeleton import file_sha256
from reconstruction.video import FrameRange, iter_batches, probe, read_frames, select_frames, working_size, write_video

FPS = 25


def numbered_frames(n: int, w: int = 160, h: int = 120) -> list[np.ndarray]:
    """Frames whose brightness encodes their index (4 * i + 20, i < 55), with a white marker in the top-left corner."""
    out = []
    for i in range(n):
        img = np.full((h, w, 3), 4 * i + 20, dtype=np.uint8)
        img[: h // 4, : w // 4] = 255
        out.append(img)
    return out


def frame_number(img: np.ndarray) -> int:
    """Index encoded by `numbered_frames`, read away from the marker."""
    h, w = img.shape[:2]
    return int(round((float(np.median(img[h // 2:, w // 2:])) - 20) / 4))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "numbered.mp4"
    return write_video(path, numbered_frames(24), FPS)


def test_probe_reads_size_rate_count_and_hash(clip):
    info = probe(clip)
    assert (info.width, info.height, info.n_frames, info.rotation) == (160, 120, 24, 0)
    assert info.fps == pytest.approx(FPS)
    assert info.sha256 == file_sha256(clip)
    assert not info.truncated


def test_frames_come_out_in_order_with_the_right_content(clip):
    info = probe(clip)
    got = np.concatenate([b.frames for b in iter_batches(info, select_frames(info), batch_size=5, max_side=None)])
    assert len(got) == 24
    assert [frame_number(f) for f in got] == list(range(24))


def test_batch_buffers_are_reused_only_once_no_batch_uses_them(clip):
    """Issue 12: a consumer that drops each batch before the next gets its frames in a few buffers, used
    again (no fresh memory, so no page faults, per batch); one that keeps the batches gets a buffer each, and
    the right frames either way."""
    info = probe(clip)
    buffers, numbers = set(), []
    for b in iter_batches(info, select_frames(info), batch_size=3, max_side=None):
        buffers.add(b.frames.__array_interface__["data"][0])
        numbers += [frame_number(f) for f in b.frames]
    assert numbers == list(range(24))
    assert len(buffers) <= 2                         # 8 batches: the one handed out and the one decoded next
    kept = [b.frames for b in iter_batches(info, select_frames(info), batch_size=3, max_side=None)]
    assert len({f.__array_interface__["data"][0] for f in kept}) == 8
    assert [frame_number(f) for b in kept for f in b] == list(range(24))


def test_trim_and_subsample_select_the_right_video_frames(clip):
    info = probe(clip)
    rng = select_frames(info, start_s=0.2, end_s=0.8, fps=10)  # video frames 5..19, step round(25/10) = 2
    assert (rng.start, rng.step) == (5, 2)
    assert rng.fps == pytest.approx(12.5)
    assert rng.video_indices.tolist() == list(range(5, 20, 2))
    batches = list(iter_batches(info, rng, batch_size=3, max_side=None))
    assert [len(b.index) for b in batches] == [3, 3, 2]
    got = [frame_number(f) for b in batches for f in b.frames]
    assert got == rng.video_indices.tolist()
    picked = read_frames(info, rng, [1, 6])
    assert [frame_number(f) for f in picked] == [7, 17]


def test_working_size_downscales_and_reports_the_scale(clip):
    info = probe(clip)
    w, h, scale = working_size(info, 80)
    assert (w, h) == (80, 60) and scale == pytest.approx(2.0)
    batch = next(iter_batches(info, select_frames(info), max_side=80))
    assert batch.frames.shape[1:] == (60, 80, 3) and batch.scale == pytest.approx(2.0)


def test_rotation_metadata_gives_the_display_orientation(tmp_path):
    # A portrait phone video: stored landscape, with a display matrix that turns it clockwise by 90 degrees.
    display = np.full((160, 96, 3), 40, dtype=np.uint8)
    display[:40, :24] = 255                                        # marker at the display's top-left
    stored = np.ascontiguousarray(np.rot90(display, k=1))          # what the sensor wrote (96 x 160 -> 160 x 96)
    path = write_video(tmp_path / "portrait.mp4", [stored] * 3, FPS, rotation=-90)
    info = probe(path)
    assert info.rotation == 270
    assert (info.width, info.height) == (96, 160)
    frame = next(iter_batches(info, select_frames(info), max_side=None)).frames[0]
    assert frame.shape == (160, 96, 3)
    assert frame[:40, :24].mean() > 200 and frame[-40:, -24:].mean() < 100


def test_select_frames_rejects_bad_ranges(clip):
    info = probe(clip)
    with pytest.raises(InputError, match="after --start"):
        select_frames(info, start_s=0.5, end_s=0.2)
    with pytest.raises(InputError, match="past the end"):
        select_frames(info, start_s=5.0)
    with pytest.raises(InputError, match="--fps must be > 0"):
        select_frames(info, fps=0)


def test_not_a_video_and_empty_files_are_clear_errors(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a readable video"):
        probe(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        probe(empty)
    with pytest.raises(InputError, match="no such video"):
        probe(tmp_path / "missing.mp4")


def test_zero_frame_video_is_a_clear_error(tmp_path):
    import av

    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=FPS)
        s.width, s.height = 64, 48
        c.start_encoding()  # header only, no frame
    with pytest.raises(InputError, match="zero video frames"):
        probe(path)


def test_truncated_video_names_the_readable_part(tmp_path):
    import av

    full = tmp_path / "full.mp4"
    # moov atom at the front (as phones do when recording finished): a cut file still opens.
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("mpeg4", rate=FPS)
        s.width, s.height, s.pix_fmt, s.bit_rate = 160, 120, "yuv420p", 4_000_000
        for img in numbered_frames(50):
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    info = probe(cut)
    assert info.truncated and 0 < info.n_frames < 50
    with pytest.raises(InputError, match="truncated.*--end"):
        select_frames(info)
    # The readable part can still be analysed.
    rng = select_frames(info, end_s=(info.n_frames - 1) / FPS)
    got = [frame_number(f) for b in iter_batches(info, rng, max_side=None) for f in b.frames]
    assert got == list(range(rng.count))


def test_webm_writer_makes_vp9_that_reads_back(tmp_path):
    path = write_video(tmp_path / "out.webm", numbered_frames(10, 96, 64), 10)
    info = probe(path)
    assert info.codec == "vp9"
    assert info.n_frames == 10 and (info.width, info.height) == (96, 64)
    got = [frame_number(f) for b in iter_batches(info, select_frames(info), max_side=None) for f in b.frames]
    assert got == list(range(10))


def test_writer_leaves_no_partial_file_on_error(tmp_path):
    def frames():
        yield numbered_frames(1)[0]
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        write_video(tmp_path / "broken.webm", frames(), 10)
    assert not (tmp_path / "broken.webm").exists()


def test_frame_range_indices():
    rng = FrameRange(start=3, step=4, count=5, fps=6.25)
    assert rng.video_indices.tolist() == [3, 7, 11, 15, 19]
    assert rng.stop == 20


def test_grey_frames_read_back_what_was_decoded_once(clip, tmp_path):
    """Issue 12 (decode once): the pose stage's decoded batches, kept in grey, read back in order are
    pixel for pixel OpenCV's grey of each decoded frame, in batches of any size."""
    import cv2

    from reconstruction.video import GreyFrames

    info = probe(clip)
    frames = select_frames(info, fps=12.5)
    decoded = [b.frames for b in iter_batches(info, frames, max_side=80, batch_size=5)]
    w, h, scale = working_size(info, 80)
    with GreyFrames.open(frames.count, w, h, scale, tmp_path, spare_bytes=0) as grey:
        assert not grey.complete
        for batch in decoded:
            grey.write(batch)
        assert grey.complete
        back = list(grey.batches(batch_size=4))
        # read again, each batch dropped before the next: the same frames in buffers used again
        streamed, buffers = [], set()
        for _, b in grey.batches(batch_size=4):
            streamed.append(b.copy())
            buffers.add(b.__array_interface__["data"][0])
        assert len(buffers) <= 2
        np.testing.assert_array_equal(np.concatenate(streamed), np.concatenate([b for _, b in back]))
        with pytest.raises(ValueError, match="expected"):
            grey.write(decoded[0])                                        # more frames than the attempt has
    assert [len(b) for _, b in back] == [4, 4, 4] and {s for s, _ in back} == {scale}
    want = np.stack([cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) for batch in decoded for img in batch])
    np.testing.assert_array_equal(np.concatenate([b for _, b in back]), want)
    assert [frame_number(np.repeat(g[..., None], 3, -1)) for g in want] == list(range(0, 24, 2))
    # no room for them in the folder: no grey frames (the flow stage decodes the video again)
    assert GreyFrames.open(frames.count, w, h, scale, tmp_path, spare_bytes=1 << 60) is None


def test_read_ahead_gives_the_same_batches_and_raises_where_decoding_failed(clip):
    """Issue 12: the pose stage decodes the next batch in a thread while the model works on this one: the
    same frames in the same order, an error at its place in the sequence, and leaving early stops it."""
    from reconstruction.video import read_ahead

    info = probe(clip)
    frames = select_frames(info)
    plain = [b.frames for b in iter_batches(info, frames, batch_size=5)]
    ahead = [b.frames for b in read_ahead(iter_batches(info, frames, batch_size=5), depth=2)]
    assert [len(b) for b in ahead] == [5, 5, 5, 5, 4]
    for a, b in zip(ahead, plain, strict=True):
        np.testing.assert_array_equal(a, b)

    closed = []

    def failing():
        try:
            yield 1
            yield 2
            raise InputError("corrupt packet")
        finally:
            closed.append(True)

    got = []
    with pytest.raises(InputError, match="corrupt packet"):
        for item in read_ahead(failing()):
            got.append(item)
    assert got == [1, 2] and closed == [True]

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.append("stopped")

    for item in read_ahead(endless()):
        if item == 3:
            break
    assert closed[-1] == "stopped"

    # a slow consumer: the producer stays at most `depth` items ahead of the one being worked on
    import time

    made = []

    def counted():
        for i in range(8):
            made.append(i)
            yield i

    ahead_of = []
    for item in read_ahead(counted(), depth=2):
        time.sleep(0.05)
        ahead_of.append(len(made) - 1 - item)
    assert max(ahead_of) == 2

    # it starts at once: items are made before the first is asked for (while the caller starts its model),
    # and closing it before that still stops the thread and closes the items
    import threading

    started, stopped = [], []

    def forever():
        try:
            while True:
                started.append(len(started))
                yield started[-1]
        finally:
            stopped.append(True)

    ahead = read_ahead(forever(), depth=1)
    deadline = time.monotonic() + 5
    while len(started) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert started == [0, 1]                          # the caller's item and one ahead, none asked for yet
    ahead.close()
    assert stopped == [True] and list(ahead) == []
    assert not any(t.name == "cruxlab-read-ahead" for t in threading.enumerate())


def test_the_first_frame_is_handed_over_before_its_batch(clip):
    """Issue 12: `on_first` hears the first frame as soon as it is decoded (the pose backend searches it for
    the climber while the rest of the first batch decodes), once; with None when no frame comes."""
    from reconstruction.video import FrameRange

    info = probe(clip)
    frames = select_frames(info)
    got, order = [], []
    batches = iter_batches(info, frames, batch_size=5, on_first=lambda f: (got.append(f.copy()), order.append("first")))
    for b in batches:
        order.append(len(b.frames))
    assert order == ["first", 5, 5, 5, 5, 4] and len(got) == 1
    np.testing.assert_array_equal(got[0], next(iter_batches(info, frames, batch_size=5)).frames[0])
    none = []
    past = FrameRange(start=info.n_frames + 3, step=1, count=1, fps=frames.fps)
    with pytest.raises(InputError, match="stream ended"):
        list(iter_batches(info, past, on_first=none.append))
    assert none == [None]
