"""The attempt player: HTML5 video (or a rendered wall) with the skeleton overlay, a 3D view and the move timeline,
all following the video's own clock in the browser; keyboard stepping and edits at the playhead.

    from dashboard.player import TrackView, attempt_track, player, PlayerEvent
    track = attempt_track(attempt_id)                       # cached per attempt; transcodes the video once
    event = player([TrackView(track, moves_df)], key="p", editable=True, on_event=handle)

Several tracks play side by side in sync (compare): player([TrackView(a, moves_a), TrackView(b, moves_b, 1.2)]).
"""

from dashboard.player.attempts import attempt_track, playback_file
from dashboard.player.component import LOW_CONFIDENCE, PlayerEvent, TrackView, move_status, moves_rows, player
from dashboard.player.track import Track, payload, points_in_view

__all__ = ["LOW_CONFIDENCE", "PlayerEvent", "Track", "TrackView", "attempt_track", "move_status", "moves_rows", "payload",
           "playback_file", "player", "points_in_view"]
