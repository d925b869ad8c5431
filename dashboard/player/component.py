"""The player as a Streamlit custom component (components v2: inline JS/CSS, no iframe, no build step).

    from dashboard.player import TrackView, attempt_track, player
    event = player([TrackView(attempt_track(aid), moves_df)], key="attempt_player", editable=True,
                   on_event=handle)           # handle(PlayerEvent) runs before the page renders

Python sends each track once (media + per-frame JSON through Streamlit's media endpoint, fetched by URL) and
the moves whenever they change; the browser plays, steps and draws on its own. Discrete actions come back as
a `PlayerEvent`: select, retime, relabel, confirm, add. Several tracks play in sync on one clock (the compare
page): track i shows its own time = master time - views[i].offset_s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from cruxlab.draw import EFFECTOR_COLORS
from cruxlab.joints import LIMB_TITLES, LIMBS
from cruxlab.labels import LABEL_COLORS, MOVE_LABELS
from dashboard.player.track import Track, background_png, payload

FRONTEND = Path(__file__).resolve().parent / "frontend"
COMPONENT_NAME = "cruxlab_player"
#: Model moves below this confidence are drawn hatched with a dashed outline ("?" in front of the label); the
#: attempt page passes moves.calibration.SURE (calibrated confidences: at or above it a move is "sure").
LOW_CONFIDENCE = 0.5
EVENT_KINDS = ("select", "retime", "relabel", "confirm", "add", "review", "ready")

_component = st.components.v2.component(
    COMPONENT_NAME,
    html="",
    css=(FRONTEND / "player.css").read_text(),
    js=(FRONTEND / "player.js").read_text(),
)


@dataclass(frozen=True)
class PlayerEvent:
    """One action of the coach in the player (attempt frames, track 0).

    kind:    'select' (move clicked or reached with shift+arrows), 'retime' (set start/end here, dragged
             edge: start/end are the new frames), 'relabel' (number key: label), 'confirm' (Enter / button),
             'add' (A / button: a new move starting at `frame`), 'review' (the attempt's review button:
             `reviewed` says mark or withdraw), 'ready' (asked for with notify_ready: the first frame is on
             screen, or loading failed, or 4 s passed).
    frame:   the playhead when it happened.
    """

    kind: str
    frame: int
    move_id: int | None = None
    start: int | None = None
    end: int | None = None
    label: str | None = None
    reviewed: bool | None = None
    nonce: str = ""

    @classmethod
    def from_value(cls, value: dict | None) -> PlayerEvent | None:
        if not isinstance(value, dict) or value.get("kind") not in EVENT_KINDS:
            return None

        def opt_int(k: str) -> int | None:
            v = value.get(k)
            return None if v is None else int(v)

        return cls(kind=str(value["kind"]), frame=int(value.get("frame") or 0), move_id=opt_int("move_id"),
                   start=opt_int("start"), end=opt_int("end"),
                   label=None if value.get("label") is None else str(value["label"]),
                   reviewed=None if value.get("reviewed") is None else bool(value["reviewed"]),
                   nonce=str(value.get("nonce", "")))


def move_status(moves: pd.DataFrame) -> pd.Series:
    """Per move: 'added' (by a coach), 'edited' (differs from what the model said), 'confirmed' (a coach said
    it is right), 'reviewed' (its attempt's review covers it), else 'model' (only the model's word).
    Columns of db.store.current_moves; corrected, confirmed and reviewed are optional."""
    added = moves["source"] != "model"
    # `corrected` (move_state, migration 007): differs from the model's word now, net of undos
    col = "corrected" if "corrected" in moves else "edited"
    edited = moves[col].astype(bool) if col in moves else pd.Series(False, index=moves.index)
    confirmed = moves["confirmed"].astype(bool) if "confirmed" in moves else pd.Series(False, index=moves.index)
    reviewed = moves["reviewed"].astype(bool) if "reviewed" in moves else pd.Series(False, index=moves.index)
    out = pd.Series("model", index=moves.index, dtype=object)
    out[reviewed] = "reviewed"
    out[confirmed] = "confirmed"
    out[edited] = "edited"
    out[added] = "added"
    return out


def moves_rows(moves: pd.DataFrame | None) -> list[list]:
    """[move_id, label, limb, start, end, confidence, status] per current (not deleted) move."""
    if moves is None or moves.empty:
        return []
    if "deleted" in moves:
        moves = moves[~moves["deleted"].astype(bool)]
    status = move_status(moves)
    return [[int(r.move_id), str(r.label), str(r.limb), int(r.start_frame), int(r.end_frame),
             round(float(r.confidence), 3), s] for r, s in zip(moves.itertuples(), status)]


def _media_url(content: bytes | str, mimetype: str, coordinates: str) -> str:
    """Serve bytes (or a file) through Streamlit's media endpoint (range requests, so the video seeks)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():  # bare mode (no server): nothing can be fetched anyway
        return ""
    return Runtime.instance().media_file_mgr.add(content, mimetype, coordinates)


@st.cache_data(show_spinner=False, max_entries=16)
def _payload_bytes(_track: Track, identity: str) -> bytes:
    return payload(_track)


@st.cache_data(show_spinner=False, max_entries=16)
def _png_bytes(_track: Track, identity: str) -> bytes | None:
    return background_png(_track)


def _identity(track: Track) -> str:
    h = hashlib.sha256()
    h.update(f"{track.name}|{track.fps}|{track.n_frames}|{track.media}|{track.size}".encode())
    h.update(track.points2d.tobytes())
    h.update(track.keypoints3d.tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TrackView:
    """One attempt as a player shows it: its Track and what is drawn with it.

    moves:    its moves (rows of moves_current / move_state), or None.
    offset_s: master time at which its frame 0 shows (several tracks play on one clock: the compare page).
    on_wall:  (first, last) frame the climber is on the wall, drawn above the lanes, with an optional caption
              as a third item (e.g. "left the floor → top-out"); None = no band.
    title:    the caption over its view (default: the track's name and source).
    """

    track: Track
    moves: pd.DataFrame | None = None
    offset_s: float = 0.0
    on_wall: tuple[int, int] | tuple[int, int, str] | None = None
    title: str | None = None


def _track_spec(view: TrackView, key: str, i: int) -> dict:
    track, on_wall = view.track, view.on_wall
    ident = _identity(track)
    spec = {
        "name": track.name, "title": view.title or f"{track.name} · {track.source}", "fps": track.fps,
        "n_frames": track.n_frames, "offset_s": float(view.offset_s),
        "payload_url": _media_url(_payload_bytes(track, ident), "application/json", f"{key}.{i}.payload"),
        "moves": moves_rows(view.moves),
        "on_wall": None if on_wall is None else [int(on_wall[0]), int(on_wall[1]), *[str(v) for v in on_wall[2:3]]],
    }
    if track.media is not None:
        spec["media_url"] = _media_url(str(track.media), "video/webm", f"{key}.{i}.media")
    else:
        spec["image_url"] = _media_url(_png_bytes(track, ident), "image/png", f"{key}.{i}.image")
    return spec


def player(
    views: Sequence[TrackView],
    *,
    key: str,
    editable: bool = False,
    selected_move: int | None = None,
    seek: tuple[int, int] | None = None,
    review: dict | None = None,
    on_event: Callable[[PlayerEvent], None] | None = None,
    revision: int = 0,
    stage_height: str = "clamp(240px, calc(100vh - 450px), 640px)",
    low_confidence: float = LOW_CONFIDENCE,
    notify_ready: bool = False,
    page_css: str | None = None,
) -> PlayerEvent | None:
    """Mount the player; returns the event of this run (None when the run was not caused by the player).

    views:         one or more TrackViews (a dashboard.player.attempt_track with its moves, offset, on-the-wall
                   band, title); several play side by side in sync.
    editable:      show the edit controls (set start/end here, confirm, add, number keys relabel) for track 0.
    selected_move: the move outlined in track 0's timeline; changing it here selects it in the browser.
    seek:          (frame, nonce): move track 0's playhead to `frame` once per new nonce.
    review:        track 0's review state for the review button ({"reviewed", "complete", "by", "n_moves",
                   "n_labelled"}), or None for no button.
    on_event:      called with the PlayerEvent from a Streamlit callback, i.e. before the page renders, so
                   what it changes (an edit in the store) is already on the page that follows.
    revision:      bump after handling an event so the browser re-reads the moves even when they are equal
                   (an edit the store refused then snaps back).
    notify_ready:  send a 'ready' event once the player shows its first frame (once per mount): a page that
                   drew only the player can then draw the rest.
    page_css:      CSS for the page around the player (e.g. a tighter top margin), in the document while the
                   player is mounted; no st.html element (and its code) needed for it.
    """
    views = list(views)
    if not views:
        raise ValueError("player() needs at least one track")
    data = {
        "tracks": [_track_spec(view, key, i) for i, view in enumerate(views)],
        "labels": [{"name": lab, "color": LABEL_COLORS.get(lab, "#888888")} for lab in MOVE_LABELS],
        "limbs": [{"id": limb, "title": LIMB_TITLES[limb], "color": EFFECTOR_COLORS.get(limb)} for limb in LIMBS],
        "editable": bool(editable),
        "selected": None if selected_move is None else int(selected_move),
        "seek": None if seek is None else {"frame": int(seek[0]), "nonce": str(seek[1])},
        "low_confidence": float(low_confidence),
        "stage_height": stage_height,
        "session_key": key,
        "review": review,
        "revision": int(revision),
        "notify_ready": bool(notify_ready),
        "page_css": page_css or "",
    }

    def callback() -> None:
        if on_event is None:
            return
        state = st.session_state.get(key)
        value = state.get("event") if isinstance(state, dict) else getattr(state, "event", None)
        event = PlayerEvent.from_value(value)
        if event is not None:
            on_event(event)

    result = _component(key=key, data=data, on_event_change=callback)
    return PlayerEvent.from_value(getattr(result, "event", None))
