"""2D pose: MediaPipe on real frames, following the climber among several people, temporal clean-up, masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cruxlab.errors import BackendUnavailableError
from cruxlab.joints import L_ANKLE, L_HIP, L_KNEE, NUM_JOINTS, R_ANKLE, R_HIP, R_KNEE
from reconstruction.pose2d import (_LEG_L, _LEG_R, choose_keyframes, clean_keypoints,
                                   fix_leg_swaps, remove_spikes, spike_window)
from reconstruction.backends import get_pose_backend
from reconstruction.segment import BoxTrack, box_masks, dilate_masks, expand_box, resize_masks, search_window

CLIP = Path(__file__).resolve().parents[1] / "data" / "climbing" / "warp-fixed-input.mp4"


# ------------------------------------------------------------------------------------------ pure helpers
def test_box_track_follows_its_person_and_rejects_a_jump():
    track = BoxTrack(np.array([100, 100, 200, 300]), 0, fps=25)
    for f in range(1, 5):  # moving up 10 px per frame
        track.update(np.array([100, 100 - 10 * f, 200, 300 - 10 * f]), f)
    pred = track.predict(5)
    assert pred[1] == pytest.approx(50, abs=6)        # extrapolates the upward motion
    assert track.matches(np.array([102, 48, 203, 251]), 5)
    assert not track.matches(np.array([400, 300, 600, 700]), 5)   # someone else, elsewhere and larger
    assert not track.matches(np.array([100, 50, 200, 600]), 5)    # same place but twice as tall: not the same box


def test_box_track_uses_joints_when_it_has_them():
    kp = np.stack([np.linspace(100, 200, NUM_JOINTS), np.linspace(100, 300, NUM_JOINTS)], axis=1)
    track = BoxTrack(np.array([100, 100, 200, 300]), 0, kp, fps=25)
    assert track.matches(np.array([100, 100, 200, 300]), 1, kp + 5)
    mirrored = kp.copy()
    mirrored[:, 1] = mirrored[::-1, 1]  # same box, joints scrambled: another pose, not this person
    assert not track.matches(np.array([100, 100, 200, 300]), 1, mirrored)


def test_box_track_keeps_its_size_behind_an_occluder_and_rejects_part_of_a_body():
    kp = np.stack([np.linspace(100, 200, NUM_JOINTS), np.linspace(100, 400, NUM_JOINTS)], axis=1)
    track = BoxTrack(np.array([100, 100, 200, 400]), 0, kp, fps=25)
    for f in range(1, 4):  # legs and hips hidden: the visible box is a third of the climber
        track.update(np.array([100, 100, 200, 200]), f)
    assert track.size[1] > 0.7 * 300                        # the track does not collapse onto the visible part
    whole = np.array([100, 100, 200, 400])
    assert track.matches(whole, 4, kp)
    # a detection of a fragment (a quarter of the size) where the joints agree is still no continuation
    assert not track.matches(np.array([140, 140, 165, 215]), 4, kp)
    # after a long gap the gates stop widening: someone a body length away is not taken
    far = whole + np.array([0, 300, 0, 300])
    assert not track.matches(far, 60)


def test_search_window_has_hysteresis_and_stays_square():
    w = search_window(np.array([100, 100, 200, 300]), (1000, 1000))
    assert w[2] - w[0] == w[3] - w[1]
    assert w[0] < 100 and w[1] < 100 and w[2] > 200 and w[3] > 300
    same = search_window(np.array([110, 105, 210, 305]), (1000, 1000), w)
    assert same is w                                       # small motion: the window stays put
    moved = search_window(np.array([500, 500, 600, 700]), (1000, 1000), w)
    assert moved is not w and moved[0] < 500 and moved[2] > 600 and moved[1] > w[1] + 300   # re-centred


def test_expand_box_clips_and_masks():
    assert expand_box(np.array([10, 10, 20, 20]), 0.5, (100, 50)).tolist() == [5, 5, 25, 25]
    assert expand_box(np.array([-30, 40, 10, 60]), 0.0, (100, 50)).tolist() == [0, 40, 10, 50]
    m = box_masks(np.array([[2, 1, 5, 3], [np.nan] * 4]), 6, 8)
    assert m[0].sum() == 6 and m[0, 1, 2] and not m[0, 3, 2] and not m[1].any()
    grown = dilate_masks(m, 1)
    assert grown[0].sum() > m[0].sum() and grown[0][m[0]].all()
    assert resize_masks(m, 16, 12)[0].sum() == 24


def test_choose_keyframes_spacing():
    k = choose_keyframes(377, 25.0)
    assert k[0] == 0 and k[-1] == 376 and len(k) == 23 and np.all(np.diff(k) > 0)
    assert len(choose_keyframes(20, 25.0)) == 8          # at least 8
    assert len(choose_keyframes(3, 25.0)) == 3           # never more than there are frames
    assert len(choose_keyframes(3000, 25.0)) == 24       # at most 24


def _walking_legs(T: int = 60, seed: int = 0) -> np.ndarray:
    """A stick figure seen from behind, legs apart, drifting down the image, with pixel noise."""
    rng = np.random.default_rng(seed)
    from cruxlab.joints import JOINT_INDEX

    base = {"left_shoulder": (95, 0), "right_shoulder": (145, 0), "left_hip": (100, 100), "right_hip": (140, 100),
            "left_knee": (88, 160), "right_knee": (152, 160), "left_ankle": (84, 220), "right_ankle": (156, 220),
            "left_heel": (80, 230), "right_heel": (160, 230), "left_big_toe": (92, 236), "right_big_toe": (148, 236),
            "nose": (120, -30)}
    kp = np.full((T, NUM_JOINTS, 2), np.nan)
    for name, xy in base.items():
        kp[:, JOINT_INDEX[name]] = xy
    kp[..., 1] += 2.0 * np.arange(T)[:, None]
    return kp + rng.normal(0, 1.0, kp.shape)


def _swapped(kp: np.ndarray, frames: np.ndarray) -> np.ndarray:
    out = kp.copy()
    sub = out[frames]
    sub[:, np.r_[_LEG_L, _LEG_R]] = sub[:, np.r_[_LEG_R, _LEG_L]]
    out[frames] = sub
    return out


@pytest.mark.parametrize("swapped", [np.r_[10:20, 33], np.r_[0:15], np.r_[40:60]])
def test_leg_swaps_are_undone(swapped):
    truth = _walking_legs()
    conf = np.ones(truth.shape[:2])
    bad = _swapped(truth, swapped)
    fixed, conf2, _, n = fix_leg_swaps(bad, conf)
    assert n == len(swapped)
    np.testing.assert_allclose(fixed, truth)
    assert np.array_equal(conf2, conf)


def test_leg_swap_fix_keeps_clean_sequences_and_swaps_3d_too():
    truth = _walking_legs()
    conf = np.ones(truth.shape[:2])
    kp3 = np.random.default_rng(1).normal(size=(len(truth), NUM_JOINTS, 3))
    fixed, _, kp3_fixed, n = fix_leg_swaps(truth, conf, kp3)
    assert n == 0 and np.array_equal(fixed, truth, equal_nan=True) and np.array_equal(kp3_fixed, kp3)
    bad = _swapped(truth, np.r_[20:30])
    bad3 = _swapped(kp3, np.r_[20:30])
    _, _, kp3_back, n = fix_leg_swaps(bad, conf, bad3)
    assert n == 10 and np.array_equal(kp3_back, kp3)


def test_a_foot_on_the_wrong_knee_is_swapped_back():
    truth = _walking_legs()
    bad = truth.copy()
    bad[7, [L_ANKLE, R_ANKLE]] = bad[7, [R_ANKLE, L_ANKLE]]
    from cruxlab.joints import L_HEEL, L_TOE, R_HEEL, R_TOE

    bad[7, [L_HEEL, R_HEEL, L_TOE, R_TOE]] = bad[7, [R_HEEL, L_HEEL, R_TOE, L_TOE]]
    fixed, _, _, n = fix_leg_swaps(bad, np.ones(truth.shape[:2]))
    assert n == 1
    np.testing.assert_allclose(fixed, truth)


def test_spikes_are_repaired_and_marked():
    truth = _walking_legs()
    conf = np.ones(truth.shape[:2])
    bad = truth.copy()
    bad[25, L_ANKLE] += (90, -40)          # a 100 px jump for one frame
    bad[40, R_KNEE] += (0, 70)
    fixed, c, n = remove_spikes(bad, conf, 25.0)
    assert n == 2
    assert np.linalg.norm(fixed[25, L_ANKLE] - truth[25, L_ANKLE]) < 6
    assert np.linalg.norm(fixed[40, R_KNEE] - truth[40, R_KNEE]) < 6
    assert c[25, L_ANKLE] == 0.5 and c[24, L_ANKLE] == 1.0
    # Fast but smooth motion is not a spike.
    fast = truth.copy()
    fast[:, L_ANKLE, 0] += 30.0 * np.arange(len(fast))
    assert remove_spikes(fast, conf, 25.0)[2] == 0


def test_spike_window_is_a_duration_not_a_frame_count():
    """A quick hand move (out 0.7 torso for ~0.12 s, then back) is motion at 25 fps and must stay motion in the
    same video at half the frame rate; a one-frame glitch is a spike at both. A 5-frame window at 12.5 fps
    (0.4 s) took the move for a spike and replaced it by the median, the hand never leaving."""
    from cruxlab.joints import R_WRIST

    kp = _walking_legs(T=60)                                  # torso 100 px
    kp[:, R_WRIST] = kp[:, R_HIP] + (40.0, 0.0)
    kp[20:27, R_WRIST, 0] += (0, 35, 70, 70, 70, 35, 0)       # the move: f21-f25 at 25 fps
    kp[40, R_WRIST] += (0.0, 100.0)                           # a glitch at f40
    conf = np.ones(kp.shape[:2])
    assert spike_window(25.0) == 5 and spike_window(12.5) == 3 and spike_window(60.0) == 11
    fixed25, c25, _ = remove_spikes(kp, conf, 25.0)
    fixed12, c12, _ = remove_spikes(kp[::2], conf[::2], 12.5)
    for fixed, c, step in ((fixed25, c25, 1), (fixed12, c12, 2)):
        moved = fixed[22 // step, R_WRIST, 0] - fixed[20 // step, R_WRIST, 0]
        assert moved > 60, (step, moved)                      # the move is kept ...
        assert c[22 // step, R_WRIST] == 1.0
        assert np.linalg.norm(fixed[40 // step, R_WRIST] - kp[38, R_WRIST]) < 10   # ... the glitch is not
        assert c[40 // step, R_WRIST] == 0.5
    same = np.arange(30) != 20                                # elsewhere: the same track at the same instants
    np.testing.assert_array_equal(fixed12[same, R_WRIST], fixed25[::2][same, R_WRIST])
    with pytest.raises(ValueError, match="fps"):
        spike_window(0.0)


def test_clean_keypoints_zeroes_confidence_of_missing_joints():
    kp = _walking_legs()
    kp[5] = np.nan
    _, conf, _, report = clean_keypoints(kp, np.ones(kp.shape[:2]), 25.0)
    assert (conf[5] == 0).all() and report == {"leg_swaps_fixed": 0, "spikes_repaired": 0}


# ------------------------------------------------------------------------------------------ MediaPipe, real
@pytest.fixture(scope="module")
def real_frames():
    """Frames 300..309 of the tripod clip (the climber high on the wall, arms up) at 960 px."""
    from reconstruction.video import iter_batches, probe, select_frames

    info = probe(CLIP)
    rng = select_frames(info, start_s=12.0, end_s=12.4)
    return np.concatenate([b.frames for b in iter_batches(info, rng, max_side=960)])


def test_mediapipe_finds_the_climber_on_real_frames(real_frames, monkeypatch):
    with get_pose_backend("mediapipe", fps=25.0, segmentation=True) as backend:
        out = backend.process(real_frames)
    B, H, W = real_frames.shape[:3]
    assert out.keypoints.shape == (B, NUM_JOINTS, 2) and out.keypoints3d.shape == (B, NUM_JOINTS, 3)
    assert np.isfinite(out.keypoints[:, :17]).all()          # every body joint in every frame
    assert (out.confidence[:, [L_HIP, R_HIP]] > 0.5).all()
    # World landmarks are metric: hips ~0.2-0.4 m apart, knees below hips (y down).
    hip_w = np.linalg.norm(out.keypoints3d[:, L_HIP] - out.keypoints3d[:, R_HIP], axis=-1)
    assert np.all((hip_w > 0.1) & (hip_w < 0.5))
    assert np.all(out.keypoints3d[:, L_KNEE, 1] > out.keypoints3d[:, L_HIP, 1])
    # The person mask covers the hips and little of the frame; the box surrounds the body.
    for i in range(B):
        x, y = out.keypoints[i, L_HIP].round().astype(int)
        assert out.masks[i, y, x]
        assert 0.01 < out.masks[i].mean() < 0.4
        x0, y0, x1, y1 = out.boxes[i]
        assert x0 <= out.keypoints[i, L_HIP, 0] <= x1 and y0 <= out.keypoints[i, L_HIP, 1] <= y1
    assert backend.stats["detected"] == B
    # Issue 12: asked for the masks of frames 2 and 7 only (an analysis's keyframes), the same poses and the
    # same masks there; the other frames' masks stay empty (not turned into full-frame masks)
    with get_pose_backend("mediapipe", fps=25.0, segmentation=True) as backend:
        backend.want_masks([2, 7])
        some = backend.process(real_frames)
    np.testing.assert_array_equal(some.keypoints, out.keypoints)
    np.testing.assert_array_equal(some.masks[[2, 7]], out.masks[[2, 7]])
    assert not some.masks[[0, 1, 3, 4, 5, 6, 8, 9]].any()
    # Issue 12: they are made in a thread of their own while the tracking model goes on, the same masks as
    # the single-image model makes for those frames and boxes directly
    import threading

    from reconstruction.backends import mediapipe_backend as mb

    made_in, direct = [], mb.climber_mask

    def recording(*args, **kwargs):
        made_in.append(threading.current_thread().name)
        return direct(*args, **kwargs)

    monkeypatch.setattr(mb, "climber_mask", recording)
    with get_pose_backend("mediapipe", fps=25.0, segmentation=True) as backend:
        backend.want_masks([2, 7])
        again = backend.process(real_frames)
        alone = np.stack([direct(backend._image, real_frames[i], again.boxes[i]) for i in (2, 7)])
    assert len(made_in) == 2 and all(name.startswith("cruxlab-masks") for name in made_in)
    np.testing.assert_array_equal(again.masks[[2, 7]], alone)
    np.testing.assert_array_equal(again.masks[[2, 7]], out.masks[[2, 7]])
    # Issue 12: the masks come from the single-image model on the wanted frames alone; without them the poses
    # are the same (the tracking model never segments: it would cost it a quarter more on every frame)
    with get_pose_backend("mediapipe", fps=25.0) as backend:
        plain = backend.process(real_frames)
    assert plain.masks is None
    np.testing.assert_array_equal(plain.keypoints, out.keypoints)
    np.testing.assert_array_equal(plain.confidence, out.confidence)
    np.testing.assert_array_equal(plain.keypoints3d, out.keypoints3d)


def test_climber_mask_tries_a_wider_crop_and_takes_only_the_climber():
    """Issue 12: upside down under the roof (the hand-held clip's first frame) the detector misses the climber
    in the tight crop around their box; the wider crop finds them: a person mask, not the filled box. A box half
    a climber aside gets no mask: both its crops find a person, but one whose box is not that box (IoU < 0.5),
    as a spectator beside the climber would be."""
    from reconstruction.backends.mediapipe_backend import MASK_MARGINS, climber_mask
    from reconstruction.video import iter_batches, probe, select_frames

    info = probe(CLIP.with_name("warp-dynamic-input.mp4"))
    rng = select_frames(info, start_s=0.0, end_s=0.2)
    frames = np.concatenate([b.frames for b in iter_batches(info, rng, max_side=960)])
    with get_pose_backend("mediapipe", fps=25.0, segmentation=True) as backend:
        backend.want_masks([0])
        out = backend.process(frames)
        box = out.boxes[0]
        assert np.isfinite(box).all() and not out.masks[1:].any()
        assert climber_mask(backend._image, frames[0], box, MASK_MARGINS[:1]) is None     # the tight crop alone
        mask = climber_mask(backend._image, frames[0], box)
        beside = box + np.array([0.5, 0, 0.5, 0]) * (box[2] - box[0])
        assert climber_mask(backend._image, frames[0], beside) is None
    np.testing.assert_array_equal(out.masks[0], mask)
    x0, y0 = np.floor(box[:2]).astype(int)
    x1, y1 = np.ceil(box[2:]).astype(int)
    area = (x1 - x0) * (y1 - y0)
    assert mask[y0:y1, x0:x1].sum() > 0.9 * mask.sum() and 0.2 * area < mask.sum() < 0.7 * area


def test_mediapipe_runs_in_the_videos_time(real_frames):
    """MediaPipe's video mode filters its landmarks over time (a one-euro filter), and its legacy solutions stamp
    every frame 33333 us after the last whatever the video. The backend stamps each frame by its time in the
    video, on the time scale of the 25 fps videos the rules were developed on: 33333 us apart at 25 fps (as
    MediaPipe's own stamps), twice that at 12.5 fps; and its waits (re-acquisition, an unconfirmed track, a
    restart after following someone else) are durations: 5, 4 and 3 frames at 25 fps, 3, 2, 2 at 12.5."""
    for fps, step, waits in ((25.0, 33333, (5, 4, 3)), (12.5, 66666, (3, 2, 2))):
        with get_pose_backend("mediapipe", fps=fps) as backend:
            backend.process(real_frames[:4])
            assert backend._video._simulated_timestamp == 33333 + 3 * step
            assert (backend.reacquire_every, backend.unconfirmed_after, backend.restart_after) == waits


def _paste(canvas: np.ndarray, person: np.ndarray, scale: float, x0: int, bottom: int) -> tuple[int, int, int, int]:
    import cv2

    p = cv2.resize(person, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = p.shape[:2]
    y0 = bottom - h
    canvas[y0:y0 + h, x0:x0 + w] = p
    return x0, y0, x0 + w, y0 + h


def test_the_climber_is_followed_not_the_largest_person(real_frames):
    """Two real people pasted on one background: a larger one standing still on the floor (nearer the
    camera) and a smaller one rising up the wall. MediaPipe alone reports the larger one first; the
    tracker must follow the climber."""
    import cv2

    with get_pose_backend("mediapipe", fps=10.0) as backend:
        box = backend.people(real_frames[0])[0].box
        x0, y0, x1, y1 = expand_box(box, 0.05, real_frames.shape[2:0:-1])
        person = real_frames[0, y0:y1, x0:x1]
        rng = np.random.default_rng(0)
        bg = cv2.GaussianBlur(np.clip(rng.normal(150, 20, (960, 720, 3)), 0, 255).astype(np.uint8), (0, 0), 3)
        frames, truth = [], []
        for i in range(12):
            f = bg.copy()
            _paste(f, person, 1.0 * 440 / person.shape[0], 380, 955)                 # spectator
            truth.append(_paste(f, person, 0.6 * 440 / person.shape[0], 60, 900 - 30 * i))  # climber
            frames.append(f)
        frames = np.stack(frames)
        first_found = backend.people(frames[0])
        assert len(first_found) == 2
        assert first_found[0].box[0] > 300                 # the detector's first choice is the spectator
        out = backend.process(frames)
    truth = np.array(truth, dtype=float)
    assert np.isfinite(out.boxes).all()
    centre = (out.boxes[:, :2] + out.boxes[:, 2:]) / 2
    true_centre = (truth[:, :2] + truth[:, 2:]) / 2
    assert np.abs(centre - true_centre).max() < 40         # on the climber in every frame
    assert centre[-1, 1] < centre[0, 1] - 250               # ... all the way up


def test_climber_leaving_the_frame_gives_missing_frames(real_frames):
    frames = real_frames[:8].copy()
    frames[3:6] = 128                                        # nobody in view for three frames
    with get_pose_backend("mediapipe", fps=25.0) as backend:
        out = backend.process(frames)
    found = np.isfinite(out.keypoints).all(-1).any(-1)
    assert found.tolist() == [True, True, True, False, False, False, True, True]
    assert (out.confidence[3:6] == 0).all() and np.isnan(out.boxes[3:6]).all()


def test_mediapipe_masks_backend_segments_inside_the_box(real_frames):
    from reconstruction.backends import get_mask_backend

    from reconstruction.backends.mediapipe_backend import MediaPipePose

    with MediaPipePose(fps=25.0) as pose_be:
        box = pose_be.people(real_frames[0])[0].box
    with get_mask_backend("mediapipe") as masks_be:
        masks = masks_be.segment([real_frames[0], np.full_like(real_frames[0], 128)], np.stack([box, box]))
    assert masks.shape == (2,) + real_frames.shape[1:3]
    x0, y0 = np.ceil(box[:2]).astype(int)
    x1, y1 = np.floor(box[2:]).astype(int)
    inside = masks[0, y0:y1, x0:x1].sum()
    assert inside > 0.9 * masks[0].sum() and masks[0].sum() > 0.15 * (x1 - x0) * (y1 - y0)
    # Nobody in the second frame: the conservative fallback masks the whole box.
    assert masks[1, y0:y1, x0:x1].all() and masks_be.fallback_frames == 1


def test_mediapipe_pose_is_imported_alone_and_the_package_stays_whole():
    """Issue 12: the backend imports MediaPipe's Pose solution without the package's other solutions, its
    Tasks API and Matplotlib (imported by its drawing utilities): ~0.25 CPU-s the pose stage waited for. Code
    importing mediapipe afterwards in the same process still gets the whole package."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys\n"
        "from reconstruction.backends.mediapipe_backend import _pose_module\n"
        "pose = _pose_module()\n"
        "print(sorted(m for m in ('matplotlib', 'mediapipe.tasks', 'mediapipe.python.solutions.hands') "
        "if m in sys.modules))\n"
        "import mediapipe as mp\n"
        "print(mp.__version__, mp.solutions.pose is pose, mp.solutions.hands.Hands.__name__, "
        "mp.tasks.vision.PoseLandmarker.__name__, 'matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = out.stdout.strip().splitlines()[-2:]
    assert before == "[]"
    assert after == "0.10.21 True Hands PoseLandmarker True"


def test_mediapipe_refuses_a_gpu_device():
    with pytest.raises(BackendUnavailableError, match="CPU only"):
        get_pose_backend("mediapipe", device="cuda")


def test_portrait_phone_video_gives_keypoints_in_display_pixels(tmp_path):
    """The same frames stored as a phone does (landscape + display matrix) and stored upright give the same
    keypoints, in the upright (display) pixel frame."""
    from reconstruction.pose2d import estimate_pose
    from reconstruction.video import iter_batches, probe, select_frames, write_video

    info = probe(CLIP)
    display = np.concatenate([b.frames for b in iter_batches(info, select_frames(info, 12.0, 12.4), max_side=720)])
    upright = write_video(tmp_path / "upright.mp4", list(display), 25)
    phone = write_video(tmp_path / "phone.mp4", [np.ascontiguousarray(np.rot90(f, k=1)) for f in display], 25,
                        rotation=-90)
    poses = []
    for path in (upright, phone):
        v = probe(path)
        rng = select_frames(v)
        with get_pose_backend("mediapipe", fps=25.0) as backend:
            pose, _ = estimate_pose(v, rng, backend, keyframe_index=np.array([0]), max_side=None, progress=False)
        poses.append(pose)
    assert probe(phone).rotation == 270 and poses[1].image_size == poses[0].image_size == (540, 720)
    a, b = poses[0].keypoints[:, :17], poses[1].keypoints[:, :17]
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert np.median(np.linalg.norm(a - b, axis=-1)) < 3.0


def test_estimate_pose_starts_a_backend_while_the_first_frames_decode():
    """Issue 12: given a function that makes the backend, decoding has started when it is called (the first
    frames are decoded while MediaPipe's graphs start); the backend it made sees every frame in order and
    is closed after, and a backend that fails to start stops the decoding and is reported."""
    import threading

    from reconstruction.backends.base import PoseBackend, PoseBatch
    from reconstruction.pose2d import estimate_pose
    from reconstruction.video import probe, select_frames

    decoding_at_start, made = [], []

    class Counting(PoseBackend):
        name = "counting"

        def __init__(self):
            decoding_at_start.append(any(t.name == "cruxlab-read-ahead" for t in threading.enumerate()))
            self.seen, self.closed = [], False
            made.append(self)

        def process(self, frames):
            B = len(frames)
            self.seen.append(B)
            kp = np.tile(np.arange(NUM_JOINTS, dtype=np.float32)[None, :, None], (B, 1, 2)) + 100
            return PoseBatch(keypoints=kp, confidence=np.ones((B, NUM_JOINTS), np.float32), keypoints3d=None,
                             boxes=np.tile(np.array([10, 10, 200, 300], np.float32), (B, 1)))

        def close(self):
            self.closed = True

    info = probe(CLIP)
    rng = select_frames(info, 12.0, 13.0)
    pose, keyframes = estimate_pose(info, rng, Counting, keyframe_index=np.array([0, 24]), max_side=320,
                                    progress=False)
    (backend,) = made
    assert decoding_at_start == [True] and backend.closed and sum(backend.seen) == rng.count == 25
    assert pose.detected.all() and pose.backend == "counting" and keyframes.index.tolist() == [0, 24]

    def failing():
        raise BackendUnavailableError("no model here")

    with pytest.raises(BackendUnavailableError, match="no model here"):
        estimate_pose(info, rng, failing, keyframe_index=np.array([0]), max_side=320, progress=False)
    assert not any(t.name == "cruxlab-read-ahead" for t in threading.enumerate())


def test_mediapipe_searches_the_first_frame_while_the_rest_decodes(real_frames, monkeypatch):
    """Issue 12: `prepare(first frame)` runs the acquisition's search of that frame before the batch is
    complete; the acquisition then takes its people and searches only the other frames: the same poses."""
    from reconstruction.backends import mediapipe_backend as mb

    with get_pose_backend("mediapipe", fps=25.0) as backend:
        plain = backend.process(real_frames)
    searched = []
    original = mb.MediaPipePose._candidates

    def counting(self, frame, tiled):
        searched.append(next(i for i, f in enumerate(real_frames) if np.array_equal(f, frame)))
        return original(self, frame, tiled)

    monkeypatch.setattr(mb.MediaPipePose, "_candidates", counting)
    with get_pose_backend("mediapipe", fps=25.0) as backend:
        backend.prepare(real_frames[0])
        assert searched == [0]
        prepared = backend.process(real_frames)
    assert searched[0] == 0 and 0 not in searched[1:] and len(searched) >= 2
    np.testing.assert_array_equal(prepared.keypoints, plain.keypoints)
    np.testing.assert_array_equal(prepared.confidence, plain.confidence)
