"""The Label Studio round trip against a real Label Studio 1.23.2 server.

One server per module, started like `cruxlab label serve` does (a copy of the migrated template that
scripts/setup_labelstudio.sh makes, 127.0.0.1, a free port) and stopped by its PID. Each test pushes into its
own project and works on its own copy of a small store (three skeleton-only attempts and one video attempt
built from the synthetic climber, moves detected by the rule model), so tests do not see each other's tasks.
"""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest

from labeling import server as ls_server
from labeling import sync
from labeling import tasks as lt
from labeling.client import Connection, LabelStudioAuthError, LabelStudioClient, resolve_connection
from labeling.server import LabelStudioUnavailableError

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COACH = "coach@climbing-gym.test"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def ls_and_store(tmp_path_factory):
    """A Label Studio server started by `cruxlab label serve --background` (it boots while the store is
    built) and stopped by `cruxlab label serve --stop`, which ends it by its PID."""
    import os
    import subprocess
    import sys

    if not (ls_server.template_dir() / ".cruxlab-template").is_file() or not ls_server.ls_executable().is_file():
        pytest.fail("Label Studio is not set up: run scripts/setup_labelstudio.sh (scripts/test.sh does)")
    data_dir = tmp_path_factory.mktemp("labelstudio") / "data"
    env = dict(os.environ, CRUXLAB_LS_USER=COACH, CRUXLAB_LS_PASSWORD="climb-hard-42",
               CRUXLAB_LS_TOKEN="cruxlab-test-token-0123456789abcdef")
    serve = [sys.executable, "-m", "cruxlab.cli", "label", "serve", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(serve + ["--background", "--port", str(ls_server.free_port())], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = None
    try:
        base = _build_store(tmp_path_factory.mktemp("store"))
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        state = ls_server.read_state(data_dir)
        assert state is not None and f"runs at {state.url}" in out and f"Log in as {COACH}" in out
        assert "API token:" not in out  # credentials came from the environment: nothing to print
        creds = ls_server.load_credentials(data_dir)
        assert creds == ls_server.Credentials(COACH, "climb-hard-42", "cruxlab-test-token-0123456789abcdef")
        assert oct(ls_server.credentials_path(data_dir).stat().st_mode & 0o777) == "0o600"
        yield ls_server.RunningServer(state, creds), base
    finally:
        if proc.poll() is None:  # let `serve` finish starting (or fail and clean up) rather than orphan it
            try:
                proc.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                proc.kill()
        state = state or ls_server.read_state(data_dir)
        stopped = subprocess.run(serve + ["--stop"], env=env, capture_output=True, text=True, timeout=60)
        if state is not None:
            if ls_server.pid_alive(state.pid):  # never leave a server behind, even if --stop failed
                ls_server.stop_pid(state.pid)
            assert stopped.returncode == 0 and f"PID {state.pid}" in stopped.stdout, stopped.stderr
            assert not ls_server.pid_alive(state.pid)


@pytest.fixture(scope="module")
def ls(ls_and_store):
    return ls_and_store[0]


@pytest.fixture
def db(ls_and_store, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copy(ls_and_store[1], path)
    return path


@pytest.fixture
def client(ls):
    return LabelStudioClient(Connection(ls.url, ls.token, ls.document_root, "test"))


def test_secrets_stay_off_the_command_line_and_the_data_dir_is_private(ls):
    """`ps` shows every user's command lines: neither the password nor the API token may be on one, and the
    data dir holding the token in its sqlite file is the user's alone."""
    import subprocess

    table = subprocess.run(["ps", "-eww", "-o", "sid=,args="], capture_output=True, text=True, check=True).stdout
    # the server and its children (it runs in a session of its own; other sessions on a shared machine may run
    # older code with the same test credentials)
    ours = [line for line in table.splitlines() if line.split(None, 1)[0] == str(ls.state.pid)]
    assert any("label-studio" in line for line in ours)             # the server is in the listing ...
    for secret in (ls.credentials.password, ls.credentials.token):
        assert not any(secret in line for line in ours)             # ... but no secret of it
    data_dir = Path(ls.state.data_dir)
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert (data_dir / "label_studio.sqlite3").stat().st_mode & 0o777 == 0o600
    assert ls.credentials.token not in (data_dir / "server.log").read_text(errors="replace")


# ------------------------------------------------------------------------------------------- test data
CODE_BITS = 9
VIDEO_START, VIDEO_STEP = 3, 2   # attempt frame i = video frame 3 + 2 i


def _write_coded_video(path: Path, background, n_frames: int, fps: float) -> None:
    """A video of `background` whose frame j shows j in binary in the bottom fifth: CODE_BITS black/white
    blocks (white = 1)."""
    from reconstruction.video import write_video

    H, W = background.shape[:2]
    bw = W // CODE_BITS

    def frames():
        for j in range(n_frames):
            img = background.copy()
            for b in range(CODE_BITS):
                img[int(H * 0.8):, b * bw:(b + 1) * bw] = 255 * ((j >> b) & 1)
            yield img

    write_video(path, frames(), fps)


def _read_code(img) -> int:
    """The frame number a `_write_coded_video` frame shows (img: (H, W, 3) RGB of the whole frame)."""
    h, w = img.shape[:2]
    bw = w // CODE_BITS
    means = [img[int(h * 0.83):int(h * 0.97), int(b * bw + bw * 0.25):int(b * bw + bw * 0.75)].mean()
             for b in range(CODE_BITS)]
    return int(sum(int(m > 128) << b for b, m in enumerate(means)))


def _build_store(root: Path) -> Path:
    """Three skeleton-only attempts and one video attempt ("wall-video": a fixed camera films a synthetic
    climber on a textured wall; attempt frame i is video frame VIDEO_START + i * VIDEO_STEP and every video
    frame shows its own number), moves detected by the rule model."""
    import numpy as np

    from cruxlab.skeleton import file_sha256
    from db import connect, store
    from moves.ingest import ingest_attempt
    from moves.synthetic import generate_attempt

    db_path = root / "base.duckdb"
    with connect(db_path) as con:
        for seed in (500, 501, 502):
            sk = generate_attempt(seed, "mild", fps=25, duration_s=10, wall_angle_deg=0,
                                  require_all_labels=False).skeleton
            ingest_attempt(con, store.AttemptRecord(
                name=f"synth-{seed}", climber="Alex", skeleton=sk, source_kind="skeleton",
                source_path=f"synthetic://{seed}", key=store.ingest_key(f"synthetic-{seed}"), problem="Blue crimps"))
    sk = generate_attempt(509, "mild", fps=25, duration_s=8, wall_angle_deg=0, require_all_labels=False).skeleton
    T = sk.n_frames
    W, H = 36 * CODE_BITS, 432
    kp = sk.keypoints.reshape(-1, 3)
    lo, hi = np.nanmin(kp, axis=0), np.nanmax(kp, axis=0)
    dist = 5.0
    f = min(W * 0.85 / (hi[0] - lo[0] + 0.3), H * 0.68 / (hi[1] - lo[1] + 0.3)) * dist
    K = np.array([[f, 0, W / 2], [0, f, H * 0.4], [0, 0, 1]])
    R = np.diag([1.0, -1.0, -1.0])      # looking at the wall (-z), image y down = wall y up
    t = -R @ np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, dist])
    rng = np.random.default_rng(0)
    wall = rng.normal(0, 14, (H // 4, W // 4, 1)).repeat(4, 0).repeat(4, 1) + np.array([196, 176, 146])
    background = np.clip(wall, 0, 255).astype(np.uint8)
    n_video = VIDEO_START + VIDEO_STEP * T + 2
    video = root / "wall-video.mp4"
    _write_coded_video(video, background, n_video, 25.0 * VIDEO_STEP)
    sha = file_sha256(video)
    cams = store.CameraTrack(np.repeat(K[None], T, 0), np.repeat(R[None], T, 0), np.repeat(t[None], T, 0),
                             np.ones(T, dtype=bool))
    with connect(db_path) as con:
        ingest_attempt(con, store.AttemptRecord(
            name="wall-video", climber="Janja", skeleton=sk, source_kind="video", source_path=video,
            key=store.ingest_key(sha), problem="Blue crimps",
            video=store.VideoRecord(str(video.resolve()), sha, 25.0 * VIDEO_STEP, W, H, n_video),
            video_start_frame=VIDEO_START, video_frame_step=VIDEO_STEP, cameras=cams, camera_model="sfm",
        ))
        n_moves = [len(store.current_moves(con, a)) for a, _ in store.resolve_attempts(con)]
    assert min(n_moves) >= 3, n_moves  # every attempt has predictions to correct
    return db_path


def _attempts(db_path, kind: str) -> list[tuple[int, str]]:
    from db import connect, store

    with connect(db_path, read_only=True) as con:
        rows = store.list_attempts(con)
    want = "video" if kind == lt.VIDEO else "skeleton"
    return [(int(r.attempt_id), r.attempt) for r in rows.itertuples() if r.source_kind == want]


def _moves(db_path, attempt_id: int, include_deleted: bool = False):
    from db import connect, store

    with connect(db_path, read_only=True) as con:
        return store.current_moves(con, attempt_id, include_deleted=include_deleted)


def _history(db_path, attempt_id: int):
    from db import connect, store

    with connect(db_path, read_only=True) as con:
        return store.label_history(con, attempt_id)


def _task(client: LabelStudioClient, project_id: int, task_id: int) -> dict:
    return next(t for t in client.tasks(project_id) if int(t["id"]) == task_id)


def _prediction_regions(task: dict, kind: str) -> dict[str, dict]:
    """region id -> {label item, limb item} of the task's (single) prediction."""
    (pred,) = task["predictions"]
    out: dict[str, dict] = {}
    for item in pred["result"]:
        out.setdefault(item["id"], {})[item["from_name"]] = item
    return out


def _coach_result(regions: dict[str, dict]) -> list[dict]:
    return [item for parts in regions.values() for item in parts.values()]


# --------------------------------------------------------------------------------------------- tests
def test_skeleton_attempt_round_trip(ls, client, db):
    """Push a skeleton-only attempt, annotate through the API like a coach, pull, see it in DuckDB."""
    (attempt_id, name), *_ = _attempts(db, lt.SKELETON)
    before = _moves(db, attempt_id)
    report = sync.push(db, client, [name], project="skel")
    (pushed,) = report.attempts
    assert pushed.kind == lt.SKELETON and pushed.created and pushed.n_moves == len(before)
    assert pushed.media_path.suffix == ".csv" and pushed.media_path.is_relative_to(ls.document_root)
    task = _task(client, report.projects[lt.SKELETON], pushed.task_id)
    # the CSV is served to the browser through local-file storage
    import requests

    r = requests.get(ls.url + task["data"]["csv"], headers={"Authorization": f"Token {ls.token}"}, timeout=10)
    assert r.status_code == 200 and r.text.startswith("frame,left_knee")
    regions = _prediction_regions(task, lt.SKELETON)
    assert set(regions) == {lt.region_id(m) for m in before["move_id"]}
    # predicted positions are the attempt frames themselves (time column `frame`)
    for m in before.itertuples():
        v = regions[lt.region_id(m.move_id)]["move"]["value"]
        assert (v["start"], v["end"], v["timeserieslabels"]) == (m.start_frame, m.end_frame, [m.label])
        assert regions[lt.region_id(m.move_id)]["limb"]["value"]["choices"] == [m.limb]

    # The coach relabels and retimes the first move, deletes the second and adds a missed one.
    first, second = before.iloc[0], before.iloc[1]
    r1 = regions.pop(lt.region_id(first.move_id))
    r1["move"]["value"].update(start=int(first.start_frame) + 2, end=int(first.end_frame) + 3,
                               timeserieslabels=["lock-off"])
    regions[lt.region_id(first.move_id)] = r1
    regions.pop(lt.region_id(second.move_id))
    regions["coach1"] = {
        "move": {"id": "coach1", "from_name": "move", "to_name": "ts", "type": "timeserieslabels",
                 "value": {"start": 80.4, "end": 90.6, "instant": False, "timeserieslabels": ["heel-hook"]}},
        "limb": {"id": "coach1", "from_name": "limb", "to_name": "ts", "type": "choices",
                 "value": {"choices": ["right_foot"]}},
    }
    ann = client.create_annotation(pushed.task_id, _coach_result(regions))

    rep = sync.pull(db, client, project="skel")
    assert rep.n_annotations == 1
    # kept regions are the annotator's confirmations; the submitted task reviews the attempt
    assert rep.actions == {"edit": 1, "delete": 1, "add": 1, "confirm": len(before) - 2, "review": 1}
    assert rep.unchanged == len(before) - 2 and not rep.problems and not rep.unknown_labels
    after = _moves(db, attempt_id).set_index("move_id")
    assert second.move_id not in after.index
    got = after.loc[first.move_id]
    assert (got.label, got.limb, got.start_frame, got.end_frame) == (
        "lock-off", first.limb, first.start_frame + 2, first.end_frame + 3)
    added = after[after.source == "label-studio"]
    assert len(added) == 1
    assert (added.label.iloc[0], added.limb.iloc[0], added.start_frame.iloc[0], added.end_frame.iloc[0]) == (
        "heel-hook", "right_foot", 81, 90)  # 80.4..90.6 covers frames 81..90
    hist = _history(db, attempt_id)
    assert len(hist) == 3 + len(before) - 2
    assert sorted(hist.action.unique()) == ["add", "confirm", "delete", "edit"]
    assert set(hist.source) == {"label-studio"} and set(hist.editor) == {COACH}
    from db import connect, store

    with connect(db, read_only=True) as con:
        review = store.review_state(con, attempt_id)
    assert review.reviewed and review.complete and review.reviewed_by == COACH and review.review_source == "label-studio"
    assert review.n_labelled == review.n_moves == len(after), "every move of the submitted task is a label"
    from labeling.client import parse_time

    assert set(hist.edited_at) == {parse_time(ann["updated_at"])}
    assert hist.external_key.str.startswith("ls:").all()

    # Pulling again adds nothing; pushing again updates the same task (no duplicate).
    again = sync.pull(db, client, project="skel")
    assert again.n_written == 0 and len(_history(db, attempt_id)) == len(hist)
    re = sync.push(db, client, [name], project="skel")
    assert [(a.task_id, a.created) for a in re.attempts] == [(pushed.task_id, False)]
    assert len(client.tasks(report.projects[lt.SKELETON])) == 1
    task = _task(client, report.projects[lt.SKELETON], pushed.task_id)
    assert len(task["predictions"]) == 1
    # the new prediction shows the moves as they stand now, the deleted one gone, the added one there
    assert set(_prediction_regions(task, lt.SKELETON)) == {lt.region_id(m) for m in after.index}
    assert len(task["data"]["cruxlab"]["pushes"]) == 2
    assert sync.pull(db, client, project="skel").n_written == 0


def test_later_annotation_change_adds_one_row_and_dashboard_conflicts_resolve_by_time(ls, client, db):
    from db import connect, store, transaction

    (attempt_id, name), *_ = _attempts(db, lt.SKELETON)[1:]
    before = _moves(db, attempt_id)
    rep = sync.push(db, client, [name], project="conflict")
    pushed, pid = rep.attempts[0], rep.projects[lt.SKELETON]
    regions = _prediction_regions(_task(client, pid, pushed.task_id), lt.SKELETON)
    m0, m1 = before.iloc[0], before.iloc[1]
    rid0, rid1 = lt.region_id(m0.move_id), lt.region_id(m1.move_id)
    regions[rid0]["move"]["value"]["timeserieslabels"] = ["drop-knee"]
    regions[rid1]["move"]["value"]["timeserieslabels"] = ["deadpoint"]
    ann = client.create_annotation(pushed.task_id, _coach_result(regions))
    from labeling.client import parse_time

    coach_time = parse_time(ann["updated_at"])
    # A dashboard edit of m0 made after the coach's annotation, one of m1 made before it.
    with connect(db) as con, transaction(con):
        store.edit_move(con, int(m0.move_id), label="reach", editor="dashboard-user", source="dashboard",
                        edited_at=coach_time + timedelta(minutes=5))
        store.edit_move(con, int(m1.move_id), label="match", editor="dashboard-user", source="dashboard",
                        edited_at=coach_time - timedelta(minutes=5))
    rep = sync.pull(db, client, project="conflict")
    assert rep.actions == {"relabel": 2, "confirm": len(before) - 2, "review": 1}
    now = _moves(db, attempt_id).set_index("move_id")
    assert now.loc[m0.move_id, "label"] == "reach"       # dashboard edit is later: it wins
    assert now.loc[m1.move_id, "label"] == "deadpoint"   # coach edit is later: it wins
    hist = _history(db, attempt_id)
    for mid in (m0.move_id, m1.move_id):   # both edits kept in the history
        assert set(hist[hist.move_id == mid].source) == {"dashboard", "label-studio"}

    # The coach changes the annotation again: exactly one new row, at the new time.
    regions[rid0]["move"]["value"]["timeserieslabels"] = ["lock-off"]
    ann2 = client.update_annotation(int(ann["id"]), _coach_result(regions))
    rep2 = sync.pull(db, client, project="conflict")
    assert rep2.n_written == 1
    hist2 = _history(db, attempt_id)
    assert len(hist2) == len(hist) + 1
    newest = hist2[hist2.source == "label-studio"].sort_values("edit_id").iloc[-1]
    assert newest.label == "lock-off" and newest.edited_at == parse_time(ann2["updated_at"])
    # ... yet the dashboard edit (dated 5 minutes after the first annotation) is still the latest word
    assert _moves(db, attempt_id).set_index("move_id").loc[m0.move_id, "label"] == "reach"
    assert sync.pull(db, client, project="conflict").n_written == 0


def test_unknown_labels_are_kept_and_reported(ls, client, db):
    (attempt_id, name), *_ = _attempts(db, lt.SKELETON)[2:]
    before = _moves(db, attempt_id)
    rep = sync.push(db, client, [name], project="unknown")
    pushed = rep.attempts[0]
    regions = _prediction_regions(_task(client, rep.projects[lt.SKELETON], pushed.task_id), lt.SKELETON)
    rid = lt.region_id(before.iloc[0].move_id)
    regions[rid]["move"]["value"]["timeserieslabels"] = ["gaston"]
    client.create_annotation(pushed.task_id, _coach_result(regions))
    pulled = sync.pull(db, client, project="unknown")
    assert pulled.unknown_labels == {"gaston": 1}
    assert _moves(db, attempt_id).set_index("move_id").loc[before.iloc[0].move_id, "label"] == "gaston"


def test_hand_edited_config_is_detected(ls, client, db):
    (_, name), *_ = _attempts(db, lt.SKELETON)
    rep = sync.push(db, client, [name], project="edited")
    pid = rep.projects[lt.SKELETON]
    edited = lt.label_config(lt.SKELETON).replace('<Label value="reach"', '<Label value="gaston"/>\n    <Label value="reach"')
    client.set_label_config(pid, edited)
    with pytest.raises(sync.ProjectConfigError, match="edited by hand.*gaston.*--reset-config"):
        sync.push(db, client, [name], project="edited")
    # pull still reads it (the extra label would come back as an unknown label) and says so
    assert any("edited by hand" in n for n in sync.pull(db, client, project="edited").notes)
    # a config cruxlab cannot read stops the pull with what to do, before anything is written
    client.set_label_config(pid, edited.replace('name="move"', 'name="moves"'))
    with pytest.raises(sync.ProjectConfigError, match="cannot read annotations.*Nothing was pulled.*--reset-config"):
        sync.pull(db, client, project="edited")
    fixed = sync.push(db, client, [name], project="edited", reset_config=True)
    assert any("restored" in n for n in fixed.notes)
    assert not lt.check_label_config(client.project(pid)["label_config"], lt.SKELETON).edited


def test_server_down_and_wrong_token_say_what_to_do(ls, client, db, monkeypatch):
    from db import connect, store

    (attempt_id, name), *_ = _attempts(db, lt.SKELETON)
    with connect(db, read_only=True) as con:
        n_edits = len(store.label_history(con))
    down = LabelStudioClient(Connection(f"http://127.0.0.1:{ls_server.free_port()}", ls.token, ls.document_root, "t"))
    with pytest.raises(LabelStudioUnavailableError, match="does not answer.*Nothing was changed.*cruxlab label serve"):
        sync.pull(db, down)
    with pytest.raises(LabelStudioUnavailableError, match="does not answer"):
        sync.push(db, down, [name])
    wrong = LabelStudioClient(Connection(ls.url, "not-the-token", ls.document_root, "t"))
    with pytest.raises(LabelStudioAuthError, match="rejected the API token.*CRUXLAB_LS_TOKEN"):
        sync.pull(db, wrong)
    with connect(db, read_only=True) as con:
        assert len(store.label_history(con)) == n_edits

    # The CLI prints the message without a traceback and exits 2.
    from cruxlab.cli import main

    monkeypatch.setenv("CRUXLAB_LS_URL", down.url)
    monkeypatch.setenv("CRUXLAB_LS_TOKEN", ls.token)
    assert main(["--db", str(db), "label", "pull"]) == 2
    monkeypatch.delenv("CRUXLAB_LS_URL")
    monkeypatch.delenv("CRUXLAB_LS_TOKEN")
    monkeypatch.setenv("CRUXLAB_LS_DATA_DIR", str(Path(ls.state.data_dir).parent / "nothing-here"))
    with pytest.raises(LabelStudioUnavailableError, match="cruxlab label serve"):
        resolve_connection()


def test_cli_uses_the_local_server_record(ls, db, monkeypatch, capsys):
    """`cruxlab label push/pull/status` find the server `serve` started through its data dir."""
    from cruxlab.cli import main

    monkeypatch.delenv("CRUXLAB_LS_URL", raising=False)
    monkeypatch.delenv("CRUXLAB_LS_TOKEN", raising=False)
    monkeypatch.setenv("CRUXLAB_LS_DATA_DIR", ls.state.data_dir)
    (_, name), *_ = _attempts(db, lt.SKELETON)
    pushes, real_push = [], sync.push
    monkeypatch.setattr(sync, "push", lambda *a, **kw: pushes.append(kw) or real_push(*a, **kw))
    assert main(["--db", str(db), "label", "push", "--attempt", name, "--project", "cli"]) == 0
    out = capsys.readouterr().out
    assert f"{name}: task" in out and "created" in out
    assert main(["--db", str(db), "label", "push", "--attempt", name, "--project", "cli", "--frame-exact"]) == 0
    assert "updated" in capsys.readouterr().out
    assert [kw["frame_exact"] for kw in pushes] == [False, True]
    assert main(["--db", str(db), "label", "status", "--project", "cli"]) == 0
    out = capsys.readouterr().out
    assert "cli · skeletons" in out and "1 task(s), 0 annotated" in out and ls.url in out
    assert main(["--db", str(db), "label", "pull", "--project", "cli"]) == 0
    assert "0 annotation(s)" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- video tasks
def test_video_frames_are_exact_from_source_to_label_studio_and_back(ls, client, db):
    """`push --frame-exact`: attempt frame i = source video frame start + i*step = pushed WebM frame i = Label
    Studio frame i + 1: checked on the pixels of a video whose frames show their own number, then a coach
    region comes back - also from a task pushed before timeline cells existed (no per_cell in its frame map)."""
    import av

    ((attempt_id, name),) = _attempts(db, lt.VIDEO)
    rep = sync.push(db, client, [name], project="coded", frame_exact=True)
    (pushed,) = rep.attempts
    assert pushed.kind == lt.VIDEO and pushed.media_path.suffix == ".webm" and pushed.frame_map.per_cell == 1
    T = pushed.frame_map.n_frames
    with av.open(str(pushed.media_path)) as c:
        assert c.streams.video[0].codec_context.name == "vp8"
        codes = [_read_code(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert codes == [VIDEO_START + i * VIDEO_STEP for i in range(T)]
    task = _task(client, rep.projects[lt.VIDEO], pushed.task_id)
    assert task["data"]["fps"] == 25.0
    regions = _prediction_regions(task, lt.VIDEO)
    moves = _moves(db, attempt_id).set_index("move_id")
    for mid, m in moves.iterrows():
        v = regions[lt.region_id(mid)]["move"]["value"]
        assert v["ranges"] == [{"start": m.start_frame + 1, "end": m.end_frame + 1}]   # 1-based in LS
    # A coach marks Label Studio frames 12..25 as a drop-knee of the left foot: attempt frames 11..24.
    coach = _coach_result(regions) + [
        {"id": "dk", "from_name": "move", "to_name": "video", "type": "timelinelabels",
         "value": {"ranges": [{"start": 12, "end": 25}], "timelinelabels": ["drop-knee"]}},
        {"id": "dk", "from_name": "limb", "to_name": "video", "type": "choices", "value": {"choices": ["left_foot"]}},
    ]
    client.create_annotation(pushed.task_id, coach)
    old_style = dict(task["data"])
    old_style["cruxlab"] = dict(old_style["cruxlab"], frame_map={"base": 1, "step": 1, "n_frames": T})
    client.update_task_data(pushed.task_id, old_style)
    pulled = sync.pull(db, client, project="coded")
    assert pulled.actions == {"add": 1, "confirm": len(moves), "review": 1} and pulled.unchanged == len(moves)
    added = _moves(db, attempt_id).query("label == 'drop-knee'")
    assert (int(added.start_frame.iloc[0]), int(added.end_frame.iloc[0]), added.limb.iloc[0]) == (11, 24, "left_foot")
    # A push without --frame-exact would fit the timeline in steps of k frames, but this task holds an annotation
    # in single frames: it keeps them (or the pull would read 12..25 as steps) and says so
    again = sync.push(db, client, [name], project="coded")
    assert again.attempts[0].frame_map.per_cell == 1 and lt.timeline_cell(T, 25.0) > 1
    assert any("keeps its timeline step of 1 frame" in note for note in again.notes), again.notes
    assert _task(client, rep.projects[lt.VIDEO], pushed.task_id)["data"]["fps"] == 25.0
    assert sync.pull(db, client, project="coded").n_written == 0


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        pytest.fail("chromedriver is missing: run scripts/setup_browser.sh (scripts/test.sh does)")
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1150",
                "--mute-audio"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


def _login(driver, ls) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(ls.url + "/user/login/")
    driver.find_element(By.NAME, "email").send_keys(ls.credentials.user)
    driver.find_element(By.NAME, "password").send_keys(ls.credentials.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/user/login" not in d.current_url)


def _open_task(driver, ls, project_id: int, task_id: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{ls.url}/projects/{project_id}/data?task={task_id}")
    WebDriverWait(driver, 90).until(lambda d: d.execute_script(
        "const v = document.querySelector('video'); return !!(v && v.readyState >= 2 && window.Htx "
        "&& window.Htx.annotationStore.selected && document.querySelector('.lsf-frames-control') "
        "&& document.querySelector('button[aria-label=\"Step forward\"]'))"))


GRAB_VIDEO_FRAME = """
const v = document.querySelector('video');
const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
c.getContext('2d').drawImage(v, 0, 0);
return [document.querySelector('.lsf-frames-control').textContent, c.toDataURL('image/png')];
"""


TIMELINE = """
const scroll = document.querySelector('.lsf-timeline-frames__scroll');
const view = document.querySelector('.lsf-timeline-frames');
const labels = parseFloat(getComputedStyle(view).getPropertyValue('--offset'));
const cell = parseFloat(getComputedStyle(view).getPropertyValue('--frame-size'));
const box = scroll.getBoundingClientRect();
const spans = [...document.querySelectorAll('.lsf-keypoints__lifespan')].map(e => e.getBoundingClientRect().right);
return {lanes_px: scroll.clientWidth - labels, cell_px: cell, scroll_px: scroll.scrollWidth - scroll.clientWidth,
        right: box.right, last_region_right: Math.max(...spans), n_regions: spans.length,
        length: window.Htx.annotationStore.selected.names.get('video').length};
"""


def test_labelling_page_shows_the_whole_timeline_and_round_trips_exactly(ls, client, db):
    """Issue 10: Label Studio opened a video task on ~2 s of timeline. The labelling page in headless Chromium
    (1600 x 1150): a `--frame-exact` task measured as before, then the default task - one Label Studio frame
    per k attempt frames - whose whole attempt is in the lanes without scrolling, the last move's region
    included. Label Studio's frame N shows attempt frame (N - 1) k (read off the pixels, stepping and seeking by
    typing a frame number), the predicted regions are there with their cruxlab ids, a screenshot with a region
    selected goes to artifacts/. The coach moves that region's end two steps later in the side panel and
    submits: the pull confirms every other move with its exact frames and retimes the edited one, keeping its
    untouched start exactly and ending on the last frame of the chosen step."""
    import base64
    import io
    import json
    import re as _re

    import numpy as np
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    ((attempt_id, name),) = _attempts(db, lt.VIDEO)
    exact_rep = sync.push(db, client, [name], project="browser-exact", frame_exact=True)
    (exact,) = exact_rep.attempts
    rep = sync.push(db, client, [name], project="browser")
    (pushed,) = rep.attempts
    fm, pid = pushed.frame_map, rep.projects[lt.VIDEO]
    k, n, fps = fm.per_cell, fm.n_frames, 25.0
    assert k == lt.timeline_cell(n, fps) > 1 and exact.frame_map.per_cell == 1
    assert _task(client, pid, pushed.task_id)["data"]["fps"] == pytest.approx(fps / k)
    moves = _moves(db, attempt_id)

    def grab() -> tuple[int, int]:
        """(Label Studio frame, attempt frame the player shows, read off its pixels)"""
        counter, data_url = driver.execute_script(GRAB_VIDEO_FRAME)
        img = np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"))
        return int(_re.match(r"\s*(\d+)", counter).group(1)), (_read_code(img) - VIDEO_START) // VIDEO_STEP

    driver = _browser()
    try:
        _login(driver, ls)
        # 0. before: one Label Studio frame per attempt frame, 16 px each
        _open_task(driver, ls, exact_rep.projects[lt.VIDEO], exact.task_id)
        before = driver.execute_script(TIMELINE)
        _open_task(driver, ls, pid, pushed.task_id)
        after = driver.execute_script(TIMELINE)
        assert before["length"] == n and after["length"] == fm.n_cells
        in_view = {name: min(m["length"], m["lanes_px"] // m["cell_px"]) * per_cell / fps
                   for name, m, per_cell in (("before", before, 1), ("after", after, k))}
        numbers = {"window": [1600, 1150], "attempt_s": n / fps, "frames": n, "frames_per_step": k,
                   "lanes_px": after["lanes_px"], "visible_s": in_view}
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "labelstudio_timeline.json").write_text(json.dumps(numbers, indent=1))
        print("Label Studio timeline:", numbers)
        assert before["scroll_px"] > 0 and in_view["before"] < 0.5 * n / fps            # the issue, measured
        assert after["scroll_px"] <= 0 and in_view["after"] == pytest.approx(n / fps)   # the whole attempt
        assert after["n_regions"] == len(moves) and after["last_region_right"] <= after["right"]

        # 1. frame numbering, read off the pixels the player shows: stepping, playing, seeking
        step_btn = driver.find_element(By.CSS_SELECTOR, "button[aria-label='Step forward']")
        seen = [grab()]
        for _ in range(2):
            step_btn.click()
            time.sleep(0.7)
            seen.append(grab())
        assert seen[0][0] == 1 and len({f for f, _ in seen}) == 3
        assert all(shown == (f - 1) * k for f, shown in seen), seen      # LS frame N = attempt frames (N-1)k ...
        edited = next(m for m in moves.itertuples() if fm.to_ls(m.end_frame) + 2 <= fm.n_cells)
        control = driver.find_element(By.CSS_SELECTOR, ".lsf-frames-control")
        control.click()
        box = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".lsf-frames-control input"))
        target = fm.to_ls((edited.start_frame + edited.end_frame) // 2)    # inside the move edited below
        driver.execute_script("arguments[0].select()", box)
        box.send_keys(str(target), Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: grab()[0] == target)
        assert grab() == (target, (target - 1) * k)

        # 2. the video and the predicted regions with their cruxlab ids, on Label Studio frames of k
        info = driver.execute_script("""
            const v = document.querySelector('video');
            const ann = window.Htx.annotationStore.selected;
            return {duration: v.duration,
                    regions: ann.regionStore.regions.map(r => [r.cleanId || r.id.split('#')[0],
                        r.labeling ? r.labeling.selectedLabels.map(l => l.value) : [], r.ranges[0].start,
                        r.ranges[0].end])};""")
        assert info["duration"] == pytest.approx(fm.n_cells * k / fps, abs=0.1)
        got = {rid: (labels, start, end) for rid, labels, start, end in info["regions"]}
        want = {lt.region_id(m.move_id): ([m.label], fm.to_ls(m.start_frame), fm.to_ls(m.end_frame))
                for m in moves.itertuples()}
        assert got == want and len(want) >= 3

        # 3. a screenshot with a region selected (limb and steps in the side panel); then the coach moves its
        #    end two steps later in the side panel and submits
        rid = lt.region_id(edited.move_id)
        selected = driver.execute_script("""
            const ann = window.Htx.annotationStore.selected;
            ann.selectArea(ann.regionStore.regions.find(r => r.cleanId === arguments[0]));
            return ann.selectedRegions.map(r => r.cleanId);""", rid)
        assert selected == [rid]
        ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, ".lsf-frames-control")).perform()
        time.sleep(1.0)
        shot = ARTIFACTS / "labelstudio_video_task.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 50_000
        end_box = driver.find_element(By.XPATH, "//label[.//span[normalize-space()='End frame']]//input")
        new_end = fm.to_ls(edited.end_frame) + 2
        driver.execute_script("arguments[0].select()", end_box)
        end_box.send_keys(str(new_end), Keys.ENTER)
        driver.find_element(By.XPATH, "//button[normalize-space()='Submit']").click()
        WebDriverWait(driver, 30).until(lambda d: _task(client, pid, pushed.task_id)["annotations"])
    finally:
        driver.quit()
    ann = _task(client, pid, pushed.task_id)["annotations"][0]
    assert {r["id"] for r in ann["result"]} == set(want)   # the UI keeps the prediction region ids
    ranges = {r["id"]: r["value"]["ranges"] for r in ann["result"] if r["from_name"] == lt.MOVE_CONTROL}
    assert ranges[rid] == [{"start": fm.to_ls(edited.start_frame), "end": new_end}]
    pulled = sync.pull(db, client, project="browser")
    # every region kept is confirmed with its exact frames; the edited one is retimed; the attempt is reviewed
    assert pulled.n_annotations == 1 and pulled.unchanged == len(moves) - 1
    assert pulled.actions == {"confirm": len(moves) - 1, "retime": 1, "review": 1}
    after_pull = _moves(db, attempt_id).set_index("move_id")
    for m in moves.itertuples():
        row = after_pull.loc[m.move_id]
        if m.move_id != edited.move_id:
            assert (row.start_frame, row.end_frame) == (m.start_frame, m.end_frame)
    row = after_pull.loc[edited.move_id]
    assert row.start_frame == edited.start_frame                 # the edge left alone: exact
    assert row.end_frame == new_end * k - 1                      # the moved edge: last frame of its step
    assert fm.to_ls(row.end_frame) == new_end and row.end_frame - edited.end_frame < 3 * k
    hist = _history(db, attempt_id)
    assert len(hist) == len(moves) and (hist.action == "confirm").sum() == len(moves) - 1
    assert list(hist[hist.action != "confirm"].move_id) == [edited.move_id]
    assert sync.pull(db, client, project="browser").n_written == 0


def test_skeleton_task_opens_on_the_whole_attempt(ls, client, db):
    """Issue 10: tasks opened zoomed in. A skeleton-only task's time series now opens with every frame of the
    attempt in view (overviewWidth 100 %; Label Studio's default is a quarter). A screenshot goes to artifacts/."""
    from selenium.webdriver.support.ui import WebDriverWait

    (attempt_id, name), *_ = _attempts(db, lt.SKELETON)
    rep = sync.push(db, client, [name], project="whole")
    (pushed,) = rep.attempts
    driver = _browser()
    try:
        _login(driver, ls)
        driver.get(f"{ls.url}/projects/{rep.projects[lt.SKELETON]}/data?task={pushed.task_id}")
        shown = WebDriverWait(driver, 90).until(lambda d: d.execute_script(
            "const a = window.Htx && window.Htx.annotationStore.selected; const ts = a && a.names.get('ts');"
            "return ts && ts.brushRange && ts.brushRange.length === 2 && ts.dataObj ? [...ts.brushRange] : null;"))
        time.sleep(1.0)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "labelstudio_skeleton_task.png"))
    finally:
        driver.quit()
    assert shown[0] <= 0 and shown[1] >= pushed.frame_map.n_frames - 1, shown


# ---------------------------------------------------------------------------------- active learning
MISSET_RULES = {"match_dist": 0.01, "cross_margin": 0.6, "flag_knee": 178.0, "rock_rise": 0.7}


def _coach_annotation(task: dict, truth, kind: str) -> list[dict]:
    """What a careful coach submits: every true move once; a predicted region of the same limb that overlaps
    it (temporal IoU >= 0.3) is corrected in place (keeps its id), the rest of the predictions are deleted,
    missed moves are added as new regions."""
    from moves.evaluate import move_iou

    from cruxlab.labels import Move

    fmap = lt.FrameMap.from_dict(task["data"]["cruxlab"]["frame_map"])
    predicted, _ = lt.parse_result(task["predictions"][0]["result"], kind, fmap)
    free = {r.region_id: Move(r.state.start_frame, r.state.end_frame, r.state.label, r.state.limb)
            for r in predicted}
    result = []
    for k, m in enumerate(truth):
        match = max((rid for rid, p in free.items() if p.limb == m.limb and move_iou(p, m) >= 0.3),
                    key=lambda rid: move_iou(free[rid], m), default=None)
        rid = match or f"coach{k}"
        free.pop(rid, None)
        result += lt.moves_to_result([(0, lt.RegionState(m.label, m.limb, m.start_frame, m.end_frame), 1.0)],
                                     kind, fmap)
        for item in result[-2:]:
            item["id"] = rid
            item.pop("origin", None)
    return result


def test_active_learning_with_misset_rules(ls, client, tmp_path, monkeypatch, capsys):
    """Rules with deliberately wrong thresholds label synthetic attempts; a coach corrects five of them in
    Label Studio; `label pull` + `moves train` give a model that labels three unseen attempts much better."""
    import json

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cruxlab.cli import main
    from cruxlab.labels import Move
    from db import connect, store
    from moves.evaluate import EVAL_LABELS, evaluate
    from moves.synthetic import generate_set

    db = tmp_path / "al.duckdb"
    train_seeds, test_seeds = range(3100, 3105), range(3200, 3203)
    attempts = {f"s{seed}": a for seed, a in zip([*train_seeds, *test_seeds],
                                                 generate_set([*train_seeds, *test_seeds], noise="mild", fps=25))}
    files = []
    for name, a in attempts.items():
        files.append(str(a.skeleton.save(tmp_path / f"{name}.npz")))
    rules = [arg for k, v in MISSET_RULES.items() for arg in ("--set", f"{k}={v}")]
    assert main(["--db", str(db), "moves", "rules", *rules]) == 0
    assert main(["--db", str(db), "import-skeleton", *files, "--climber", "Synth"]) == 0
    train = [f"s{s}" for s in train_seeds]
    test = [f"s{s}" for s in test_seeds]

    def stored(names):
        with connect(db, read_only=True) as con:
            ids = dict((n, i) for i, n in store.resolve_attempts(con, names))
            return {n: [Move(int(r.start_frame), int(r.end_frame), r.label, r.limb)
                        for r in store.current_moves(con, ids[n]).itertuples()] for n in names}

    def score(names):
        pred = stored(names)
        return evaluate([(attempts[n].moves, pred[n], attempts[n].skeleton.fps, attempts[n].skeleton.n_frames)
                         for n in names])

    before = score(test)
    monkeypatch.setenv("CRUXLAB_LS_URL", ls.url)
    monkeypatch.setenv("CRUXLAB_LS_TOKEN", ls.token)
    monkeypatch.setenv("CRUXLAB_LS_DOCUMENT_ROOT", str(ls.document_root))
    assert main(["--db", str(db), "label", "push", "--project", "active", *[a for n in train for a in ("--attempt", n)]]) == 0
    pid = client.find_project(sync.project_title("active", lt.SKELETON))["id"]
    for task in client.tasks(pid):
        name = task["data"]["cruxlab"]["attempt"]
        client.create_annotation(int(task["id"]), _coach_annotation(task, attempts[name].moves, lt.SKELETON))
    capsys.readouterr()
    assert main(["--db", str(db), "label", "pull", "--project", "active"]) == 0
    assert "5 annotation(s) in 5 task(s)" in capsys.readouterr().out
    coach = stored(train)
    for n in train:   # the coach's labels are now the store's moves
        assert sorted(coach[n]) == sorted(attempts[n].moves)

    # One OpenMP thread: on a busy 2-core machine gradient boosting with a thread per core ran 10x slower.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        assert main(["--db", str(db), "moves", "train", "--folds", "3", "--json"]) == 0
        trained = json.loads(capsys.readouterr().out)
        assert trained["activated"] and trained["learned_macro_f1"] > trained["rules_macro_f1"]
        assert main(["--db", str(db), "moves", "detect", *[a for n in test for a in ("--attempt", n)]]) == 0
    after = score(test)

    result = {
        "misset_rules": MISSET_RULES, "train_attempts": train, "held_out_attempts": test,
        "held_out_macro_f1_before": round(before.all_labels_macro_f1, 4),
        "held_out_macro_f1_after": round(after.all_labels_macro_f1, 4),
        "held_out_per_label_before": {k: round(s.f1, 4) for k, s in before.per_label.items()},
        "held_out_per_label_after": {k: round(s.f1, 4) for k, s in after.per_label.items()},
        "train_cv_macro_f1_learned": round(trained["learned_macro_f1"], 4),
        "train_cv_macro_f1_rules": round(trained["rules_macro_f1"], 4),
        "model_version": trained["version"],
    }
    out = ARTIFACTS
    out.mkdir(exist_ok=True)
    (out / "labeling_active_learning.json").write_text(json.dumps(result, indent=2))
    fig, ax = plt.subplots(figsize=(8, 4.0))
    x = np.arange(len(EVAL_LABELS))
    ax.bar(x - 0.2, [before.per_label[k].f1 for k in EVAL_LABELS], 0.4, label=f"mis-set rules (macro {before.all_labels_macro_f1:.2f})")
    ax.bar(x + 0.2, [after.per_label[k].f1 for k in EVAL_LABELS], 0.4, label=f"after coach labels + train (macro {after.all_labels_macro_f1:.2f})")
    ax.set_xticks(x, EVAL_LABELS)
    ax.set_ylabel("event F1, held-out attempts")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    ax.set_title("Active learning through Label Studio: 5 coach-corrected attempts, 3 unseen ones scored")
    fig.tight_layout()
    fig.savefig(out / "labeling_active_learning.png", dpi=110)
    plt.close(fig)
    print(json.dumps(result, indent=2))
    assert after.all_labels_macro_f1 >= before.all_labels_macro_f1 + 0.2, result
