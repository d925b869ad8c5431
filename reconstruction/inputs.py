"""What `cruxlab analyze` should analyse: video files, folders, glob patterns and manifests -> VideoTask list.

    tasks = expand_inputs(["session1/", "clips/*.mp4", "gym.csv"], AnalyzeOptions(climber="Janja"))

- a video file is one task with the command-line options;
- a folder stands for every video file under it (recursively, sorted by path);
- a glob pattern (`*`, `?`, `[...]`, `**` for any depth; quote it so the shell leaves it alone) for every
  video file it matches;
- a manifest (`.csv` or `.json`) lists one video per row with its own metadata (MANIFEST_COLUMNS): the
  command-line options are the defaults for empty cells, relative video paths are relative to the manifest.
  The same video may appear in several rows with different --start/--end (several attempts in one film).

Everything is checked before any video is analysed: paths that do not exist, patterns that match nothing,
and every bad manifest row are reported together in one InputError, so a typo in row 40 costs nothing.
Whether a file really is a readable video is found out per video later (one bad file does not stop the rest).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cruxlab.errors import CruxlabError, InputError
from reconstruction.pipeline import AnalyzeOptions, checked_options
from reconstruction.video import VIDEO_SUFFIXES

MANIFEST_SUFFIXES = (".csv", ".json")

#: Manifest column -> (AnalyzeOptions field, kind, help). Column names are case-insensitive; spaces and
#: dashes count as underscores.
MANIFEST_COLUMNS: dict[str, tuple[str, str, str]] = {
    "video": ("", "path", "the video file (relative paths: relative to the manifest)"),
    "climber": ("climber", "text", "who climbs"),
    "problem": ("problem", "text", "boulder problem / route name"),
    "grade": ("grade", "text", "the problem's grade: V scale (V5, V4+) or Font (6B+, 7A)"),
    "outcome": ("outcome", "text", "top | fall | unknown"),
    "name": ("name", "text", "attempt name (default: the video's file name)"),
    "height_m": ("height_m", "number", "climber's standing height in metres, e.g. 1.72"),
    "start": ("start_s", "time", "start of the attempt in the video: seconds (12.5) or m:ss (1:05.5)"),
    "end": ("end_s", "time", "end of the attempt in the video: seconds or m:ss"),
    "wall_angle": ("wall_angle_deg", "number", "overhang angle in degrees (0 vertical, 45 = 45° overhang)"),
    "date": ("recorded_at", "text", "when it was climbed: YYYY-MM-DD or YYYY-MM-DD HH:MM"),
}
_ALIASES = {"path": "video", "file": "video", "video_path": "video", "height": "height_m", "start_s": "start",
            "end_s": "end", "wall_angle_deg": "wall_angle", "attempt": "name", "recorded_at": "date"}


@dataclass(frozen=True)
class VideoTask:
    """One video to analyse with its own options; origin says where it was asked for (for messages)."""

    video: Path
    options: AnalyzeOptions
    origin: str

    @property
    def label(self) -> str:
        """Short name for progress lines: the attempt name if given, else the file name (+ trim)."""
        if self.options.name:
            return self.options.name
        trim = ""
        if self.options.start_s is not None or self.options.end_s is not None:
            trim = f" [{_fmt_s(self.options.start_s) or '0'}-{_fmt_s(self.options.end_s)}]"
        return self.video.name + trim


def _fmt_s(v: float | None) -> str:
    return "" if v is None else f"{v:g}s"


def is_single_video(inputs: Sequence[str | Path]) -> bool:
    """One input that names one video file (not a folder, pattern or manifest): analysed the one-video way."""
    if len(inputs) != 1:
        return False
    path = Path(inputs[0]).expanduser()
    if path.is_dir() or path.suffix.lower() in MANIFEST_SUFFIXES:
        return False
    return path.exists() or not glob.has_magic(str(inputs[0]))


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _videos_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_video_file(p) and not p.name.startswith("."))


def expand_inputs(inputs: Sequence[str | Path], defaults: AnalyzeOptions) -> list[VideoTask]:
    """Tasks for the given files, folders, patterns and manifests (see the module docstring), in order,
    each (video, options) once. Raises one InputError listing every problem, before any work."""
    tasks: list[VideoTask] = []
    problems: list[str] = []
    plain: list[VideoTask] = []  # videos that take the command-line options
    for item in inputs:
        text = str(item)
        path = Path(text).expanduser()
        if path.is_dir():
            found = _videos_under(path)
            if not found:
                problems.append(f"{text}: the folder holds no video file ({', '.join(VIDEO_SUFFIXES)})")
            plain += [VideoTask(p.resolve(), defaults, text) for p in found]
            tasks += plain[len(plain) - len(found):]
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            try:
                tasks += read_manifest(path, defaults)
            except InputError as exc:
                problems.append(str(exc))
        elif path.is_file():
            plain.append(VideoTask(path.resolve(), defaults, text))
            tasks.append(plain[-1])
        elif glob.has_magic(text):
            matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
            files = [m for m in matches if m.is_file()]
            videos = [m for m in files if is_video_file(m)]
            if not videos:
                what = (f"matches {len(files)} file(s) but no video ({', '.join(VIDEO_SUFFIXES)})" if files
                        else "matches no file")
                problems.append(f"{text}: the pattern {what}; check the folder and the spelling")
            plain += [VideoTask(m.resolve(), defaults, text) for m in videos]
            tasks += plain[len(plain) - len(videos):]
        else:
            problems.append(f"{text}: no such file or folder")
    if problems:
        raise InputError("nothing was analysed; fix these inputs first:\n  " + "\n  ".join(problems))
    if plain:  # the command-line options, refused before any work when no analysis can use them
        checked = checked_options(defaults)
        tasks = [replace(t, options=checked) if t.options is defaults else t for t in tasks]
    tasks = _unique(tasks)
    _check_tasks(tasks)
    return tasks


def _unique(tasks: list[VideoTask]) -> list[VideoTask]:
    """Each (video, options) once, in first-seen order (a file named twice, or inside a named folder)."""
    seen: set[tuple[Path, str]] = set()
    out = []
    for t in tasks:
        key = (t.video, repr(t.options))
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def _check_tasks(tasks: list[VideoTask]) -> None:
    """Problems that only show among several tasks: a given attempt name used twice."""
    names: dict[str, list[str]] = {}
    for t in tasks:
        if t.options.name:
            names.setdefault(t.options.name, []).append(t.origin)
    dup = {n: o for n, o in names.items() if len(o) > 1}
    if dup:
        lines = [f"name {n!r} is given to {len(o)} videos ({'; '.join(o)})" for n, o in dup.items()]
        raise InputError("nothing was analysed; every attempt needs its own name (without --name or a name "
                         "column an attempt is named after its video):\n  " + "\n  ".join(lines))


# ------------------------------------------------------------------------------------------ manifests
def read_manifest(path: str | Path, defaults: AnalyzeOptions) -> list[VideoTask]:
    """Tasks of a CSV or JSON manifest (MANIFEST_COLUMNS; the defaults fill empty cells). Every row is
    checked; InputError lists all bad rows with the fix."""
    path = Path(path)
    rows = _read_csv(path) if path.suffix.lower() == ".csv" else _read_json(path)
    if not rows:
        raise InputError(f"{path}: the manifest lists no video; add one row per video with at least a video "
                         "column" + ("" if defaults.climber else " and a climber column"))
    tasks, problems = [], []
    for where, row in rows:
        try:
            tasks.append(_task_of_row(path, where, row, defaults))
        except InputError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise InputError(f"{path}: {len(problems)} of {len(rows)} rows cannot be analysed; fix them (nothing "
                         "was analysed):\n    " + "\n    ".join(problems))
    grades: dict[str, set[str]] = {}
    for t in tasks:
        if t.options.problem and t.options.grade:
            grades.setdefault(t.options.problem, set()).add(t.options.grade)
    clash = {p: g for p, g in grades.items() if len(g) > 1}
    if clash:
        raise InputError(f"{path}: a problem has one grade, but " + "; ".join(
            f"{p!r} is given {' and '.join(sorted(g))}" for p, g in clash.items()) + "; correct the grade column")
    return tasks


def _column(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return _ALIASES.get(key, key)


def _columns_of(path: Path, names: Sequence[str]) -> dict[str, str]:
    """Original column name -> canonical one; InputError for unknown or twice-given columns."""
    mapping, unknown = {}, []
    for n in names:
        if n is None or not str(n).strip():
            continue
        c = _column(str(n))
        if c not in MANIFEST_COLUMNS:
            unknown.append(str(n))
        elif c in mapping.values():
            raise InputError(f"{path}: the column {c!r} is given twice ({n!r}); keep one")
        else:
            mapping[str(n)] = c
    if unknown:
        raise InputError(f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; a manifest knows "
                         + ", ".join(MANIFEST_COLUMNS) + " (see `cruxlab analyze --help`)")
    if "video" not in mapping.values():
        raise InputError(f"{path}: no 'video' column; name the column holding the video files 'video'")
    return mapping


def _read_csv(path: Path) -> list[tuple[str, dict]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save the manifest as CSV UTF-8") from None
    lines = text.splitlines()
    if not lines:
        return []
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(lines, dialect=dialect)
    mapping = _columns_of(path, reader.fieldnames or [])
    rows = []
    for i, raw in enumerate(reader, start=2):
        if None in raw:  # more cells than columns
            rows.append((f"line {i}", {"__extra__": raw[None]}))
            continue
        row = {mapping[k]: v for k, v in raw.items() if k in mapping}
        if any((v or "").strip() for v in row.values()):
            rows.append((f"line {i}", row))
    return rows


def _read_json(path: Path) -> list[tuple[str, dict]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); a manifest is a list of objects such as "
                         '[{"video": "a.mp4", "climber": "Janja"}]') from None
    if isinstance(data, dict) and isinstance(data.get("videos"), list):
        data = data["videos"]
    if not isinstance(data, list):
        raise InputError(f'{path}: a JSON manifest is a list of objects (or {{"videos": [...]}}), one per video')
    rows = []
    for i, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            rows.append((f"entry {i}", {"__extra__": entry}))
            continue
        mapping = _columns_of(path, list(entry))
        rows.append((f"entry {i}", {mapping[k]: v for k, v in entry.items() if k in mapping}))
    return rows


def _task_of_row(manifest: Path, where: str, row: dict, defaults: AnalyzeOptions) -> VideoTask:
    if "__extra__" in row:
        raise InputError(f"not a row of named values ({row['__extra__']!r}); check the delimiters / quoting")
    values: dict = {}
    for column, raw in row.items():
        field_name, kind, _ = MANIFEST_COLUMNS[column]
        text = "" if raw is None else str(raw).strip()
        if not text:
            continue
        if kind == "path":
            continue
        values[field_name] = _parse(column, kind, raw, text)
    video_text = "" if row.get("video") is None else str(row["video"]).strip()
    if not video_text:
        raise InputError("no video; fill the video column")
    video = Path(video_text).expanduser()
    if not video.is_absolute():
        video = manifest.parent / video
    if not video.is_file():
        raise InputError(f"video {video_text!r} not found (looked at {video}); fix the path (relative paths are "
                         "relative to the manifest's folder)")
    options = dataclasses.replace(defaults, **values)
    if not options.climber:
        raise InputError("no climber; fill the climber column or pass --climber for rows without one")
    if options.grade and not options.problem:
        raise InputError(f"grade {options.grade!r} is a problem's grade; fill the problem column too")
    try:
        options = checked_options(options)
    except InputError as exc:  # the same checks as the command line, told in the manifest's words
        raise InputError(re.sub(r"--(height-m|wall-angle|start|end|climber|problem|grade)\b",
                                lambda m: m.group(1).replace("-", "_"), str(exc))) from None
    return VideoTask(video.resolve(), options, f"{manifest.name} {where}")


def _parse(column: str, kind: str, raw, text: str):
    if kind == "text":
        return text
    if kind == "number":
        try:
            return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else float(text)
        except ValueError:
            hint = " (write 1.75 for 1 m 75)" if column == "height_m" else ""
            raise InputError(f"{column} {text!r} is not a number{hint}") from None
    if kind == "time":
        return parse_time(text, column)
    raise CruxlabError(f"unknown manifest kind {kind}")  # pragma: no cover - MANIFEST_COLUMNS is fixed


def parse_time(text: str, what: str = "time") -> float:
    """Seconds from '12.5', '1:05.5' (m:ss) or '1:02:03' (h:mm:ss)."""
    parts = str(text).strip().split(":")
    try:
        if len(parts) > 3 or any(not p.strip() for p in parts):
            raise ValueError
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"{what} {text!r} is not a time; write seconds (12.5) or m:ss (1:05.5)") from None
    if any(n < 0 for n in numbers) or any(n >= 60 for n in numbers[1:]):
        raise InputError(f"{what} {text!r} is not a time; write seconds (12.5) or m:ss (1:05.5)")
    seconds = 0.0
    for n in numbers:
        seconds = seconds * 60 + n
    return seconds
