"""Make the playback files the dashboard is missing, newest attempt first, in a low-priority background process.

Attempts stored by `cruxlab analyze` (or an import) have no playback WebM yet; without one, the first view of
such an attempt transcodes it on the spot (~9 s for a 40 s attempt on 2 busy cores) before the player can show a
frame. `cruxlab dashboard` starts `python -m dashboard.player.prepare --db DB --parent PID` beside the server, at
nice 10, so by the time a coach opens an attempt its file is usually there. The store is read once, briefly, and
closed before any transcoding (a DuckDB writer elsewhere is never blocked for long). The process stops when the
server (PID) is gone. An attempt whose video cannot be read is reported and skipped; the attempt page says why.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cruxlab.errors import InputError
from dashboard.player.media import FrameSelection, cached_playback, make_playback


@dataclass(frozen=True)
class Pending:
    attempt_id: int
    name: str
    video_path: str
    frames: FrameSelection


def missing_playback(db: str | Path, *, cache_dir: str | Path | None = None) -> list[Pending]:
    """Attempts with a readable video file and stored cameras (what the player needs) whose playback file is not
    cached yet, newest first."""
    from db import connect

    with connect(db, read_only=True, create=False) as con:
        rows = con.execute(
            """SELECT a.attempt_id, a.name, v.path, a.video_start_frame, a.video_frame_step, a.n_frames, a.fps
               FROM attempts a JOIN videos v USING (video_id)
               WHERE EXISTS (SELECT 1 FROM cameras c WHERE c.attempt_id = a.attempt_id)
               ORDER BY a.attempt_id DESC"""
        ).fetchall()
    pending = []
    for attempt_id, name, path, start, step, n_frames, fps in rows:
        if not path or not Path(path).is_file():
            continue
        frames = FrameSelection(int(start), int(step), int(n_frames), float(fps))
        if cached_playback(path, frames, cache_dir=cache_dir) is None:
            pending.append(Pending(int(attempt_id), str(name), str(path), frames))
    return pending


def prepare(db: str | Path, *, cache_dir: str | Path | None = None,
            keep_going: Callable[[], bool] = lambda: True,
            log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> list[Path]:
    """Make every missing playback file (newest attempt first) while keep_going() says so; returns those made."""
    made = []
    pending = missing_playback(db, cache_dir=cache_dir)
    for i, p in enumerate(pending, 1):
        if not keep_going():
            break
        try:
            made.append(make_playback(p.video_path, p.frames, cache_dir=cache_dir))
        except (InputError, OSError) as exc:
            log(f"cruxlab: no playback for attempt {p.name!r} ({exc}); its page will say why")
            continue
        log(f"cruxlab: playback ready for attempt {p.name!r} ({i} of {len(pending)})")
    return made


def _parent_alive(pid: int | None) -> Callable[[], bool]:
    if pid is None:
        return lambda: True
    return lambda: os.getppid() == pid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dashboard.player.prepare",
                                 description="make the playback files of stored attempts (newest first)")
    ap.add_argument("--db", required=True, help="DuckDB file of the store")
    ap.add_argument("--parent", type=int, default=None, help="stop when this process (the dashboard) is gone")
    args = ap.parse_args(argv)
    try:
        prepare(args.db, keep_going=_parent_alive(args.parent))
    except InputError as exc:  # e.g. the store does not exist (yet): the dashboard itself says so
        print(f"cruxlab: playback files not prepared: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
