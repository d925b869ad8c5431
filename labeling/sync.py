"""Push attempts with their current moves to Label Studio; pull coaches' annotations into the label history.

push: one task per attempt in the project of its kind (video: overlay WebM + timeline; skeleton-only:
joint-angle time series). The moves as they stand now (model output with coach edits applied) are the task's
prediction, one region per move with id `m<move_id>`. Each push also stores in the task a snapshot of what
it showed (`data.cruxlab.pushes`), the baseline pull compares annotations with. Pushing again updates the
task (media, snapshot, prediction) instead of adding a second one.

pull: every submitted annotation, region by region, against the last state cruxlab knows for that region
(its previous pull, else the push snapshot the coach started from):
  region kept            -> db.store.confirm_move (the annotator vouches for it; once)
  region changed         -> db.store.edit_move   (relabel / retime / edit; restores a deleted move)
  prediction region gone -> edit_move(delete=True)
  new region             -> db.store.add_move
and, when the annotation accounts for every move the attempt holds, db.store.review_attempt: a submitted task
is a reviewed attempt (no region = no move there), so its moves count as training labels.
Every write has source 'label-studio', the annotator's e-mail as editor, the annotation's update time as
edited_at and an external_key `ls:<project>:<annotation>:<region>#<n>`, so pulling twice adds nothing and a
later change of the same annotation adds exactly one row. A dashboard edit and a Label Studio edit of the same
move both stay in the history; `move_state` shows whichever was made last. Labels cruxlab does not know are
stored (allow_unknown_label) and reported. All of Label Studio is read before the database is opened, and
each task's writes are one transaction: a failure leaves the store as it was.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from cruxlab.errors import CruxlabError, InputError
from cruxlab.paths import safe_filename
from cruxlab.labels import MOVE_LABELS
from labeling import tasks as lt
from labeling.client import LabelStudioApiError, LabelStudioAuthError, LabelStudioClient, parse_time
from labeling.tasks import FrameMap, Region, RegionState

log = logging.getLogger(__name__)

SOURCE = "label-studio"
DEFAULT_PROJECT = "cruxlab"
MAX_PUSHES_KEPT = 10
RENDER_VERSION = 1


class ProjectConfigError(CruxlabError):
    """A project's labelling config was edited by hand in a way cruxlab cannot work with silently."""


def project_title(base: str, kind: str) -> str:
    return f"{base} · {'videos' if kind == lt.VIDEO else 'skeletons'}"


def _slug(text: str) -> str:
    """ASCII file-name part (Label Studio serves these files by URL); unique through the id/hash around it."""
    return safe_filename(text, ascii_only=True, lower=True, tag=False, max_bytes=80, fallback="x")


# ------------------------------------------------------------------------------------------------ push
@dataclass(frozen=True)
class AttemptPush:
    """What push did for one attempt."""

    attempt: str
    attempt_id: int
    kind: str
    task_id: int
    created: bool          # False: an existing task was updated
    n_moves: int
    media_path: Path
    frame_map: FrameMap


@dataclass
class PushReport:
    url: str
    projects: dict[str, int] = field(default_factory=dict)   # kind -> project id
    attempts: list[AttemptPush] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _AttemptData:
    attempt_id: int
    name: str
    kind: str
    fps: float
    n_frames: int
    moves: list[tuple[int, RegionState, float]]
    model_versions: list[str]
    skeleton: object
    cameras: object | None
    video_path: str | None
    video_start_frame: int
    video_frame_step: int


def _read_attempts(db_path: str | Path, names: list[str] | None) -> tuple[list[_AttemptData], list[str]]:
    from db import connect, store

    out: list[_AttemptData] = []
    notes: list[str] = []
    with connect(db_path, read_only=True) as con:
        store.require_rows(con)
        for attempt_id, name in store.resolve_attempts(con, names):
            info = store.attempt_info(con, attempt_id)
            moves_df = store.current_moves(con, attempt_id)
            moves = [(int(r.move_id), RegionState(r.label, r.limb, int(r.start_frame), int(r.end_frame)),
                      float(r.confidence)) for r in moves_df.itertuples()]
            versions = sorted({str(v) for v in moves_df["model_version"].dropna()})
            skeleton = store.read_skeleton(con, attempt_id)
            cameras = store.read_cameras(con, attempt_id)
            kind = lt.SKELETON
            if info.video_path:
                if Path(info.video_path).is_file():
                    kind = lt.VIDEO
                else:
                    notes.append(f"{name}: video {info.video_path} is not there any more; pushed as a joint-angle "
                                 "time series")
            out.append(_AttemptData(attempt_id, name, kind, info.fps, info.n_frames, moves, versions, skeleton,
                                    cameras, info.video_path, info.video_start_frame, info.video_frame_step))
    return out, notes


def _content_hash(a: _AttemptData, per_cell: int = 1) -> str:
    """Identity of what the pushed file shows (the overlay's top band names the current moves too; a video
    is padded to whole timeline cells)."""
    h = hashlib.sha256()
    h.update(f"{RENDER_VERSION}|{a.kind}|{a.video_path}|{a.video_start_frame}|{a.video_frame_step}|{a.fps}".encode())
    if per_cell != 1:
        h.update(f"|cell {per_cell}".encode())
    h.update(repr([(mid, st.as_list()) for mid, st, _ in a.moves]).encode())
    h.update(np.ascontiguousarray(a.skeleton.keypoints).tobytes())
    if a.cameras is not None:
        for arr in (a.cameras.K, a.cameras.R, a.cameras.t):
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:12]


def _timeline_step(a: _AttemptData, old_task: dict | None, frame_exact: bool, notes: list[str]) -> int:
    """Attempt frames per Label Studio frame for a video task: the whole attempt on the timeline
    (`lt.timeline_cell`), 1 with `frame_exact` - unless the task already holds annotations or drafts: their
    ranges are in the Label Studio frames of the step it was pushed with, so that step is kept."""
    if a.kind == lt.SKELETON:
        return 1
    want = 1 if frame_exact else lt.timeline_cell(a.n_frames, a.fps)
    meta = ((old_task or {}).get("data") or {}).get("cruxlab") or {}
    if not meta.get("frame_map") or int(meta.get("attempt_id", -1)) != a.attempt_id:
        return want
    have = FrameMap.from_dict(meta["frame_map"]).per_cell
    worked_on = any(x.get("result") for x in (old_task.get("annotations") or []) + (old_task.get("drafts") or []))
    if have != want and worked_on:
        notes.append(f"{a.name}: task {old_task['id']} keeps its timeline step of {have} frame(s) (wanted {want}): "
                     "it holds annotations made in those steps. For the new step, pull them, then push into a new "
                     "project (`--project NAME`)")
        return have
    return want


def _write_media(db_path: str | Path, a: _AttemptData, folder: Path, k: int = 1) -> tuple[Path, FrameMap, float]:
    """Write (or reuse) the file a task shows; returns it, the frame map and the frame rate Label Studio
    plays it at (a video: fps / k with k attempt frames per Label Studio frame, see `_timeline_step`)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{a.attempt_id:05d}-{_slug(a.name)}-{_content_hash(a, k)}"
    if a.kind == lt.SKELETON:
        path = folder / f"{stem}.csv"
        if not path.is_file():
            tmp = path.with_suffix(".csv.tmp")
            tmp.write_text(lt.series_csv(a.skeleton))
            tmp.replace(path)
        return path, lt.series_frame_map(a.n_frames), a.fps
    fmap = lt.video_frame_map(a.n_frames, per_cell=k)
    path = folder / f"{stem}.webm"
    if not path.is_file():
        from db import connect, store
        from reconstruction.render import write_overlay_video

        with connect(db_path, read_only=True) as con:
            data = store.read_render_data(con, a.attempt_id)
        tmp = path.with_name(path.stem + ".tmp.webm")
        # VP8: measured to play in Label Studio's player (Chromium). Padded to whole cells (the last frame held)
        # so that Label Studio, which counts round(duration * frameRate) frames, shows the last partial cell.
        write_overlay_video(data, tmp, codec="libvpx", progress=True,
                            hold_last=fmap.n_cells * k - a.n_frames)
        tmp.replace(path)
    # The overlay holds one frame per attempt frame (the renderer decodes video frame start + i * step for
    # attempt frame i): its frame i shows attempt frame i, which Label Studio calls frame i // k + 1.
    return path, fmap, a.fps / k


def _ensure_project(client: LabelStudioClient, title: str, kind: str, reset_config: bool,
                    notes: list[str]) -> dict:
    want = lt.label_config(kind)
    project = client.find_project(title)
    if project is None:
        return client.create_project(
            title, want, "Moves of climbing attempts pushed by cruxlab (`cruxlab label push`). Correct the "
            "predicted regions, add missed moves, delete wrong ones, choose each move's limb, then Submit; "
            "`cruxlab label pull` brings the labels back.")
    check = lt.check_label_config(project.get("label_config") or "", kind)
    if check.edited and reset_config:
        client.set_label_config(int(project["id"]), want)
        notes.append(f"project {title!r}: labelling config restored to cruxlab's (it had been edited: "
                     f"{'; '.join(check.semantic + check.cosmetic)})")
        return client.project(int(project["id"]))
    if check.semantic:
        raise ProjectConfigError(
            f"the labelling config of Label Studio project {title!r} (id {project['id']}) was edited by hand: "
            f"{'; '.join(check.semantic)}. cruxlab did not change anything. Either restore cruxlab's config with "
            "`cruxlab label push --reset-config` (Label Studio refuses it if existing annotations use labels it "
            "would remove), or push into a new project with `--project NAME`"
        )
    if check.cosmetic:
        notes.append(f"project {title!r}: labelling config was edited by hand (cosmetic only: "
                     f"{'; '.join(check.cosmetic)}); kept")
    return project


def _task_data(a: _AttemptData, media_url_key: str, media_url: str, fmap: FrameMap, fps: float,
               previous: dict | None) -> dict:
    pushes = list((previous or {}).get("pushes") or [])[-(MAX_PUSHES_KEPT - 1):]
    pushes.append({
        "at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds"),
        "moves": {lt.region_id(mid): st.as_list() for mid, st, _ in a.moves},
    })
    title = (f"{a.name}: {a.n_frames} frames at {a.fps:g} fps, {len(a.moves)} predicted moves "
             f"({', '.join(a.model_versions) or 'no model'})")
    if fmap.per_cell > 1:
        title += f"; timeline: 1 step = {fmap.per_cell} frames ({fmap.per_cell / a.fps:.2f} s)"
    return {
        media_url_key: media_url,
        "fps": fps,
        "title": title,
        "attempt": a.name,
        "cruxlab": {"attempt": a.name, "attempt_id": a.attempt_id, "kind": a.kind, "frame_map": fmap.as_dict(),
                    "pushes": pushes},
    }


def _prediction(a: _AttemptData, fmap: FrameMap) -> tuple[list[dict], str, float]:
    result = lt.moves_to_result(a.moves, a.kind, fmap)
    version = "+".join(a.model_versions) or "cruxlab"
    score = float(np.mean([c for *_, c in a.moves])) if a.moves else 0.0
    return result, version, round(score, 4)


def push(
    db_path: str | Path,
    client: LabelStudioClient,
    attempts: list[str] | None = None,
    *,
    project: str = DEFAULT_PROJECT,
    reset_config: bool = False,
    frame_exact: bool = False,
) -> PushReport:
    """Push attempts (all when `attempts` is None) as tasks with their current moves as predictions.
    A video task's timeline fits the screen (one Label Studio frame = k attempt frames, see
    labeling.tasks.timeline_cell); `frame_exact` keeps one Label Studio frame per attempt frame (the
    timeline then scrolls)."""
    report = PushReport(client.url)
    if client.conn.document_root is None:
        raise InputError(
            f"cruxlab must write the videos where Label Studio at {client.url} serves local files from: set "
            "CRUXLAB_LS_DOCUMENT_ROOT to that server's LOCAL_FILES_DOCUMENT_ROOT (a folder on this machine)"
        )
    client.whoami()  # fail fast (server down / wrong token) before rendering anything
    data, notes = _read_attempts(db_path, attempts)
    report.notes += notes
    by_kind: dict[str, list[_AttemptData]] = {}
    for a in data:
        by_kind.setdefault(a.kind, []).append(a)
    for kind, group in by_kind.items():
        title = project_title(project, kind)
        proj = _ensure_project(client, title, kind, reset_config, report.notes)
        pid = int(proj["id"])
        report.projects[kind] = pid
        folder = client.conn.document_root / _slug(f"{project}-{kind}")
        folder.mkdir(parents=True, exist_ok=True)
        client.ensure_local_storage(pid, folder, title=f"cruxlab {kind} files")
        existing: dict[str, dict] = {}
        for t in client.tasks(pid):
            meta = (t.get("data") or {}).get("cruxlab") or {}
            if meta.get("attempt"):
                existing[str(meta["attempt"])] = t
        new_tasks: list[tuple[_AttemptData, dict, Path, FrameMap]] = []
        try:
            from tqdm import tqdm
            iterator = tqdm(group, desc=f"push {kind}s", unit="attempt", disable=len(group) < 2)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            iterator = group
        for a in iterator:
            old = existing.get(a.name)
            media, fmap, fps = _write_media(db_path, a, folder, _timeline_step(a, old, frame_exact, report.notes))
            rel = media.relative_to(client.conn.document_root).as_posix()
            url = f"/data/local-files/?d={rel}"
            key = "video" if kind == lt.VIDEO else "csv"
            result, version, score = _prediction(a, fmap)
            old_meta = ((old or {}).get("data") or {}).get("cruxlab") or {}
            if old is not None and int(old_meta.get("attempt_id", -1)) != a.attempt_id:
                report.notes.append(f"{a.name}: task {old['id']} belonged to an earlier attempt of that name "
                                    f"(id {old_meta.get('attempt_id')}); its annotations can no longer be pulled "
                                    "and it was replaced")
                old_meta = {}
            task_data = _task_data(a, key, url, fmap, fps, old_meta)
            if old is None:
                new_tasks.append((a, {"data": task_data, "predictions": [
                    {"result": result, "model_version": version, "score": score}]}, media, fmap))
                continue
            tid = int(old["id"])
            client.update_task_data(tid, task_data)
            for p in client.predictions(tid):
                client.delete_prediction(int(p["id"]))
            client.create_prediction(tid, result, version, score)
            report.attempts.append(AttemptPush(a.name, a.attempt_id, kind, tid, False, len(a.moves), media, fmap))
        if new_tasks:
            ids = client.import_tasks(pid, [t for _, t, _, _ in new_tasks])
            if len(ids) != len(new_tasks):
                raise CruxlabError(f"Label Studio created {len(ids)} tasks for {len(new_tasks)} attempts; run "
                                   "`cruxlab label push` again (existing tasks are updated, not duplicated)")
            for (a, _, media, fmap), tid in zip(new_tasks, ids):
                report.attempts.append(AttemptPush(a.name, a.attempt_id, kind, tid, True, len(a.moves), media, fmap))
    return report


# ------------------------------------------------------------------------------------------------ pull
@dataclass
class PullReport:
    url: str
    n_tasks: int = 0
    n_annotations: int = 0
    actions: Counter = field(default_factory=Counter)     # edit action -> rows written
    unchanged: int = 0                                     # regions equal to what cruxlab knew
    already: int = 0                                       # changes the store already had (nothing written)
    unknown_labels: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_written(self) -> int:
        return sum(self.actions.values())


@dataclass(frozen=True)
class _Annotation:
    annotation_id: int
    task_id: int
    editor: str
    edited_at: datetime
    created_at: datetime
    result: list


@dataclass(frozen=True)
class _TaskPull:
    project_key: str
    task_id: int
    kind: str
    attempt: str
    attempt_id: int
    frame_map: FrameMap
    pushes: list
    annotations: list[_Annotation]


def _baseline(pushes: list, created_at: datetime) -> dict[str, RegionState]:
    """The push snapshot an annotation started from: the latest push before it was created."""
    chosen = None
    for p in pushes:
        at = datetime.fromisoformat(p["at"])
        if at <= created_at or chosen is None:
            chosen = p
    return {rid: RegionState.from_list(v) for rid, v in ((chosen or {}).get("moves") or {}).items()}


def _fetch(client: LabelStudioClient, project: str, report: PullReport) -> list[_TaskPull]:
    emails = None
    out: list[_TaskPull] = []
    for kind in lt.KINDS:
        title = project_title(project, kind)
        proj = client.find_project(title)
        if proj is None:
            continue
        check = lt.check_label_config(proj.get("label_config") or "", kind)
        if not check.usable:
            raise ProjectConfigError(
                f"cannot read annotations of Label Studio project {title!r} (id {proj['id']}): its labelling "
                f"config was edited by hand ({'; '.join(check.semantic)}). Nothing was pulled. Restore cruxlab's "
                "config with `cruxlab label push --reset-config` (or undo the edit in Label Studio's Settings > "
                "Labeling Interface) and pull again"
            )
        if check.edited:
            report.notes.append(f"project {title!r}: labelling config was edited by hand "
                                f"({'; '.join(check.semantic + check.cosmetic)}); pulled what cruxlab can read")
        created = parse_time(proj.get("created_at") or "1970-01-01T00:00:00")
        project_key = f"{proj['id']}@{created:%Y%m%dT%H%M%S}"
        for t in client.tasks(int(proj["id"])):
            meta = (t.get("data") or {}).get("cruxlab") or {}
            anns = [a for a in (t.get("annotations") or []) if not a.get("was_cancelled")]
            if not meta or not anns:
                if anns:
                    report.problems.append(f"task {t['id']} of {title!r} was not pushed by cruxlab; skipped")
                continue
            if emails is None:
                try:
                    emails = client.user_emails()
                except (LabelStudioAuthError, LabelStudioApiError):  # a non-admin token may not list users
                    emails = {}
            annotations = []
            for a in anns:
                who = a.get("completed_by")
                who_id = who.get("id") if isinstance(who, dict) else who
                editor = emails.get(int(who_id)) if who_id is not None else None
                if not editor:
                    editor = (a.get("created_username") or "").strip().split(",")[0].strip() or "label-studio user"
                annotations.append(_Annotation(
                    int(a["id"]), int(t["id"]), editor, parse_time(a.get("updated_at") or a["created_at"]),
                    parse_time(a["created_at"]), list(a.get("result") or [])))
            annotations.sort(key=lambda x: (x.edited_at, x.annotation_id))
            out.append(_TaskPull(project_key, int(t["id"]), meta.get("kind", kind), str(meta["attempt"]),
                                 int(meta["attempt_id"]), FrameMap.from_dict(meta["frame_map"]),
                                 list(meta.get("pushes") or []), annotations))
    return out


def _known_states(history, prefix: str) -> dict[str, tuple[int, int, RegionState | None]]:
    """region id -> (rows recorded, move_id, last recorded state or None when deleted) from the history rows
    whose external_key starts with `prefix`."""
    out: dict[str, tuple[int, int, RegionState | None]] = {}
    if history.empty:
        return out
    rows = history[history["external_key"].fillna("").str.startswith(prefix)]
    rows = rows.sort_values(["edited_at", "edit_id"])
    for r in rows.itertuples():
        rid = r.external_key[len(prefix):].rsplit("#", 1)[0]
        n = out.get(rid, (0, 0, None))[0] + 1
        state = None if r.deleted else RegionState(r.label, r.limb, int(r.start_frame), int(r.end_frame))
        out[rid] = (n, int(r.move_id), state)
    return out


def _edit_key_prefix(tp: _TaskPull, ann: _Annotation) -> str:
    """Start of the external_key of every edit one annotation makes: `ls:<project>:<annotation>:`."""
    return f"ls:{tp.project_key}:{ann.annotation_id}:"


@dataclass(frozen=True)
class _AnnotationPull:
    """One submitted annotation being written into the label history: its task and attempt, the prefix of
    its edits' external keys, what cruxlab recorded of its regions before (`known`), the push snapshot the
    annotator started from (`baseline`), the moves the attempt holds (grows as regions are added)."""

    con: Any
    task: _TaskPull
    ann: _Annotation
    attempt_id: int
    known: dict[str, tuple[int, int, RegionState | None]]
    baseline: dict[str, RegionState]
    existing_moves: set[int]
    report: PullReport

    @property
    def prefix(self) -> str:
        return _edit_key_prefix(self.task, self.ann)

    @property
    def signed(self) -> dict[str, Any]:
        """Who and when every edit of this annotation is signed with (keywords of db.store's edit writers)."""
        return dict(editor=self.ann.editor, source=SOURCE, edited_at=self.ann.edited_at, allow_unknown_label=True)

    def last_state(self, rid: str) -> RegionState | None:
        """What cruxlab last knew of a region: this annotation's previous pull of it, else the push snapshot."""
        if rid in self.known:
            return self.known[rid][2]
        return self.baseline.get(rid)

    def reference_frames(self) -> dict[str, tuple[int, int]]:
        """region id -> (start, end) attempt frames last known: edges left there pull back exactly."""
        out = {}
        for rid in set(self.known) | set(self.baseline):
            st = self.last_state(rid)
            if st is not None:
                out[rid] = (st.start_frame, st.end_frame)
        return out

    def where(self, rid: str) -> str:
        return f"Label Studio task {self.task.task_id} annotation {self.ann.annotation_id}, region {rid}"


def _apply_task(con, tp: _TaskPull, report: PullReport) -> None:
    from db import store

    attempt_id = store.find_attempt(con, name=tp.attempt)
    if attempt_id is None or attempt_id != tp.attempt_id:
        report.problems.append(
            f"task {tp.task_id}: attempt {tp.attempt!r} (id {tp.attempt_id}) is not in this database "
            f"{'any more' if attempt_id is None else f'(it is now id {attempt_id})'}; its annotations were not "
            "pulled. Push the attempt again to label it anew")
        return
    existing_moves = set(store.current_moves(con, attempt_id, include_deleted=True)["move_id"].astype(int))
    history = store.label_history(con, attempt_id)
    for ann in tp.annotations:
        known = _known_states(history, _edit_key_prefix(tp, ann))
        pull = _AnnotationPull(con, tp, ann, attempt_id, known, _baseline(tp.pushes, ann.created_at), existing_moves,
                               report)
        regions, notes = lt.parse_result(ann.result, tp.kind, tp.frame_map, pull.reference_frames())
        report.problems += [f"task {tp.task_id} annotation {ann.annotation_id}: {n}" for n in notes]
        seen: set[str] = set()
        for reg in regions:
            seen.add(reg.region_id)
            if reg.state is None:
                report.problems.append(f"task {tp.task_id} annotation {ann.annotation_id}: {reg.problem}; "
                                       "fix it in Label Studio and pull again")
                continue
            _apply_region(pull, reg)
        _apply_deletions(pull, seen)
        _review(pull, seen, regions)


def _apply_deletions(pull: _AnnotationPull, seen: set[str]) -> None:
    """Regions cruxlab knew (pushed or pulled before) that the annotation no longer has: deleted moves."""
    from db import store

    tp, report = pull.task, pull.report
    for rid in (set(pull.baseline) | set(pull.known)) - seen:
        n, move_id, last = pull.known.get(rid, (0, lt.move_id_of(rid) or -1, pull.baseline.get(rid)))
        if last is None:  # already recorded as deleted
            continue
        if move_id not in pull.existing_moves:
            report.problems.append(f"task {tp.task_id}: region {rid} names move {move_id}, which is no longer "
                                   "stored (moves re-detected?); its deletion was not recorded")
            continue
        edit = store.edit_move(pull.con, move_id, delete=True, external_key=f"{pull.prefix}{rid}#{n}",
                               note=f"Label Studio task {tp.task_id} annotation {pull.ann.annotation_id}: region "
                                    "deleted", **pull.signed)
        _count(report, edit, "delete")


def _review(pull: _AnnotationPull, seen: set[str], regions: list[Region]) -> None:
    """A submitted annotation is the annotator's review of the whole attempt (kept = confirmed, removed =
    deleted, drawn = added, and no region = no move), when it covers every move the attempt holds now."""
    from db import store

    if any(r.state is None for r in regions):
        return  # a region could not be read: the annotation is not a complete account of the attempt
    con, tp, ann, attempt_id = pull.con, pull.task, pull.ann, pull.attempt_id
    covered = {m for m in (lt.move_id_of(r) for r in seen) if m is not None}
    history = store.label_history(con, attempt_id)
    ours = history[history["external_key"].fillna("").str.startswith(pull.prefix) & (history["action"] == "add")]
    covered |= set(ours["move_id"].astype(int))
    current = set(store.current_moves(con, attempt_id)["move_id"].astype(int))
    if not current <= covered:
        pull.report.notes.append(
            f"task {tp.task_id}: {len(current - covered)} move(s) of {tp.attempt} were not in the task "
            "(detected after the push?), so the attempt is not marked reviewed; push it again and submit it")
        return
    done = store.review_attempt(con, attempt_id, editor=ann.editor, source=SOURCE, reviewed_at=ann.edited_at,
                                external_key=f"{pull.prefix}review",
                                note=f"Label Studio task {tp.task_id} annotation {ann.annotation_id} submitted")
    if done is not None:
        pull.report.actions["review"] += 1


def _apply_region(pull: _AnnotationPull, reg: Region) -> None:
    """One region of the annotation against what cruxlab knew of it: kept (confirmed once), changed
    (edited), or new (added)."""
    from db import store

    st, rid, report = reg.state, reg.region_id, pull.report
    assert st is not None
    if st.label not in MOVE_LABELS:
        report.unknown_labels[st.label] += 1
    if rid in pull.known:
        n, move_id, last = pull.known[rid]
    elif rid in pull.baseline:
        n, move_id, last = 0, lt.move_id_of(rid), pull.baseline[rid]
    else:
        n, move_id, last = 0, None, None
    key = f"{pull.prefix}{rid}#{n}"
    note = pull.where(rid)
    signed = pull.signed
    if move_id is not None and st == last:
        report.unchanged += 1
        if rid not in pull.known and move_id in pull.existing_moves:
            # submitted as predicted: the annotator confirms it (when the store still says the same)
            done = store.confirm_move(pull.con, move_id, editor=signed["editor"], source=SOURCE,
                                      edited_at=signed["edited_at"], external_key=key, note=note + ": kept",
                                      expect=(st.label, st.limb, st.start_frame, st.end_frame))
            if done is not None:
                report.actions["confirm"] += 1
        return
    if move_id is None or move_id not in pull.existing_moves:
        if move_id is not None:
            report.notes.append(f"task {pull.task.task_id}: move {move_id} of region {rid} is no longer stored; "
                                "the coach's region was added as a new move")
        new_id = store.add_move(pull.con, pull.attempt_id, label=st.label, limb=st.limb, start_frame=st.start_frame,
                                end_frame=st.end_frame, external_key=key, note=note, **signed)
        if new_id is not None:
            pull.existing_moves.add(new_id)
        _count(report, new_id, "add")
        return
    edit = store.edit_move(pull.con, move_id, label=st.label, limb=st.limb, start_frame=st.start_frame,
                           end_frame=st.end_frame, restore=True, external_key=key, note=note, **signed)
    _count(report, edit, _action(last, st))


def _action(old: RegionState | None, new: RegionState) -> str:
    """How a region changed relative to what cruxlab knew (for the report)."""
    if old is None:
        return "restore"
    what = (old.label, old.limb) != (new.label, new.limb)
    when = (old.start_frame, old.end_frame) != (new.start_frame, new.end_frame)
    return "edit" if what and when else "relabel" if what else "retime"


def _count(report: PullReport, written: int | None, action: str) -> None:
    if written is None:
        report.already += 1
    else:
        report.actions[action] += 1


def pull(db_path: str | Path, client: LabelStudioClient, *, project: str = DEFAULT_PROJECT,
         dry_run: bool = False) -> PullReport:
    """Bring every submitted annotation of the project's tasks into the label history (idempotent).
    With `dry_run` the same edits are made inside a transaction that is rolled back: the report says what a
    pull would write."""
    from db import connect, transaction
    from db.connection import rolled_back

    report = PullReport(client.url)
    client.whoami()
    fetched = _fetch(client, project, report)  # everything from Label Studio before touching the store
    report.n_tasks = len(fetched)
    report.n_annotations = sum(len(t.annotations) for t in fetched)
    if not fetched:
        return report
    with connect(db_path, create=False) as con:
        if dry_run:
            with rolled_back(con):
                for tp in fetched:
                    _apply_task(con, tp, report)
        else:
            for tp in fetched:
                with transaction(con):
                    _apply_task(con, tp, report)
    return report


@dataclass
class Status:
    """The server's cruxlab projects: title -> (id, tasks, annotated tasks, annotations); pending: what a pull
    would write now (None without a database)."""

    user: str
    projects: dict[str, tuple[int, int, int, int]]
    pending: PullReport | None


def status(db_path: str | Path | None, client: LabelStudioClient, *, project: str = DEFAULT_PROJECT) -> Status:
    me = client.whoami()
    projects: dict[str, tuple[int, int, int, int]] = {}
    for kind in lt.KINDS:
        title = project_title(project, kind)
        proj = client.find_project(title)
        if proj is None:
            continue
        ts = client.tasks(int(proj["id"]))
        anns = [[a for a in (t.get("annotations") or []) if not a.get("was_cancelled")] for t in ts]
        projects[title] = (int(proj["id"]), len(ts), sum(1 for a in anns if a), sum(len(a) for a in anns))
    pending = pull(db_path, client, project=project, dry_run=True) if db_path and projects else None
    return Status(str(me.get("email") or me.get("username") or me.get("id")), projects, pending)
