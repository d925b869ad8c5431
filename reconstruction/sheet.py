"""A contact sheet that shows why the moves are what they are: frames of the video with the holds the climber
used (numbered rings; filled and tied to the limb while it is on them) and the skeleton, above the contact
lanes of the whole attempt (`cruxlab.draw.contact_band`: which hold each limb is on, the moves, unsure ones
hatched, the time off the wall greyed, the sheet's frames ticked).

    cruxlab render warp-fixed-input --holds          # -> artifacts/warp-fixed-input-holds.png

Frames are picked in the middle of the moves (and at the start and end of the climb), so every tile shows a
move being made. Attempts without a video are drawn on the blank wall view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cruxlab.errors import InputError

LIMB_EFFECTOR_POINT = ("left_wrist", "right_wrist", "left_big_toe", "right_big_toe")


@dataclass(frozen=True)
class SheetData:
    """What the sheet reads from the store (one short read-only connection)."""

    render: object                     # db.store.RenderData
    moves: list[tuple[int, int, str, str, float]]
    contacts: object | None            # db.store.HoldContacts
    wall: object | None                # db.store.WallInterval


def read_sheet_data(db_path, attempt: int | str) -> SheetData:
    from db import connect, store

    with connect(db_path, read_only=True) as con:
        render = store.read_render_data(con, attempt)
        df = store.current_moves(con, render.attempt_id)
        moves = [(int(r.start_frame), int(r.end_frame), str(r.label), str(r.limb), float(r.confidence))
                 for r in df.itertuples()]
        return SheetData(render, moves, store.read_contacts(con, render.attempt_id),
                         store.read_wall_interval(con, render.attempt_id))


def pick_frames(data: SheetData, n: int) -> np.ndarray:
    """Up to n frames: the middle of every move (longest first when there are too many) and the first and
    last frame on the wall, in time order."""
    sk = data.render.skeleton
    seen = np.flatnonzero(np.isfinite(sk.keypoints).all(axis=-1).any(axis=-1))
    if len(seen) == 0:
        return np.zeros(0, np.int64)
    moves = sorted(data.moves, key=lambda m: m[0] - m[1])
    picks = [(s + e) // 2 for s, e, *_ in moves][: max(n - 2, 1)]
    if data.wall is not None:
        picks += [data.wall.start_frame, data.wall.end_frame]
    if len(picks) < n:
        picks += list(seen[np.linspace(0, len(seen) - 1, n - len(picks)).round().astype(int)])
    picks = np.unique(np.clip(picks, seen[0], seen[-1]))
    return picks[np.linspace(0, len(picks) - 1, min(n, len(picks))).round().astype(int)]


def _effector_points(sk) -> np.ndarray:
    from cruxlab.joints import JOINT_INDEX

    idx = [JOINT_INDEX[j] for j in LIMB_EFFECTOR_POINT]
    pts = sk.keypoints[:, idx].astype(np.float64)
    ankles = sk.keypoints[:, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]]
    pts[:, 2:] = np.where(np.isnan(pts[:, 2:]), ankles, pts[:, 2:])   # skeletons without toes
    return pts


def contact_sheet(db_path, attempt: int | str, out_path: str | Path, *, n: int = 12, cols: int = 4,
                  tile_height: int = 320) -> Path:
    """Write the sheet of `attempt` to `out_path` (PNG); see the module docstring."""
    from cruxlab.draw import contact_band, draw_holds, project, tile_grid, title_bar, wall_view_camera, write_png
    from cruxlab.joints import EFFECTOR_LIMBS
    from reconstruction.render import climber_region, iter_overlays

    data = read_sheet_data(db_path, attempt)
    r = data.render
    sk = r.skeleton
    picks = pick_frames(data, n)
    if len(picks) == 0:
        raise InputError(f"attempt {r.name!r} has no frame with a skeleton; there is nothing to draw")
    crop = climber_region(r, aspect=0.75)
    side = max(tile_height * 2, 480)
    if crop is not None and r.video_size:
        side = int(min(max(r.video_size), side * max(r.video_size) / max(crop[3] - crop[1], 1.0)))
    on_video = r.video_path is not None and r.cameras is not None and Path(r.video_path).is_file()
    if on_video:
        from reconstruction.video import probe, working_size

        _, _, scale = working_size(probe(r.video_path, with_hash=False), side)
        K = r.cameras.K.copy()
        K[:, :2] /= scale
        R, t = r.cameras.R, r.cameras.t
        offset = np.zeros(2) if crop is None else np.round(np.asarray(crop[:2]) / scale)
    else:
        K, R, t, _ = wall_view_camera(sk, height_px=side)
        K, R, t = (np.repeat(v[None], sk.n_frames, axis=0) for v in (K, R, t))
        offset = np.zeros(2)
    c = data.contacts
    holds_px = limbs_px = None
    if c is not None and len(c.holds):
        holds_px = project(np.broadcast_to(c.holds.astype(np.float64), (sk.n_frames, *c.holds.shape)), K, R, t) - offset
        limbs_px = project(_effector_points(sk), K, R, t) - offset
    tiles = []
    for i, img in iter_overlays(r, picks, max_side=side, use_video=on_video, crop=crop if on_video else None):
        if holds_px is not None:
            on = {int(c.hold[i, k]): limb for k, limb in enumerate(EFFECTOR_LIMBS) if c.hold[i, k] >= 0}
            draw_holds(img, holds_px[i], c.kinds, on, {limb: limbs_px[i, k] for k, limb in enumerate(EFFECTOR_LIMBS)})
        tiles.append(img)
    grid = tile_grid(tiles, cols, tile_height)
    band = contact_band(np.zeros((sk.n_frames, 4), np.int64) - 1 if c is None else c.hold, data.moves,
                        width=grid.shape[1], lane_height=max(18, grid.shape[1] // 70),
                        wall=None if data.wall is None else (data.wall.start_frame, data.wall.end_frame),
                        marks=[int(p) for p in picks], fps=sk.fps)
    w = data.wall
    text = (f"{r.name} | {r.climber} | {sk.n_frames} frames @ {sk.fps:g} fps | {len(data.moves)} moves, "
            f"{sum(m[4] >= 0.7 for m in data.moves)} sure | "
            + ("on the wall: not stored" if w is None else
               f"on the wall f{w.start_frame}-{w.end_frame} ({w.start_reason} .. {w.end_reason}"
               + (f", outcome {w.outcome})" if w.outcome else ")"))
            + (f" | {len(c.holds)} holds" if c is not None else ""))
    return write_png(out_path, np.concatenate([title_bar(text, grid.shape[1]), grid, band]))
