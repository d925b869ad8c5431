-- Version 8: what move detection sees besides the moves, so coaches can see why (moves.onwall,
-- cruxlab.contacts). Rewritten with the model's moves on every detection; coach edits are not involved.

-- When the climber is on the wall (inclusive attempt frames) and how the attempt ended.
CREATE TABLE attempt_wall (
    attempt_id    INTEGER PRIMARY KEY,
    start_frame   INTEGER NOT NULL,      -- first frame on the wall
    end_frame     INTEGER NOT NULL,      -- last frame on the wall
    start_reason  VARCHAR NOT NULL,      -- 'left the floor' | 'video start'
    end_reason    VARCHAR NOT NULL,      -- 'top-out' | 'fall' | 'drop-off' | 'video end'
    outcome       VARCHAR,               -- 'top' | 'fall' | NULL when the video does not show it
    floor_y       FLOAT,                 -- floor level in the wall frame (m) when a foot was seen on it
    model_version VARCHAR,
    CHECK (end_frame >= start_frame AND start_frame >= 0)
);

-- Holds the climber used: contacts clustered per attempt (a contact is "on hold k").
CREATE TABLE holds (
    attempt_id INTEGER NOT NULL,
    hold_id    INTEGER NOT NULL,         -- 0-based within the attempt
    kind       VARCHAR NOT NULL,         -- 'hand' | 'foot' | 'floor'
    xyz        FLOAT[3] NOT NULL,        -- wall frame, metres (NaN when only seen hidden)
    n_frames   INTEGER NOT NULL          -- limb-frames spent on it
);

-- Per frame, the hold each limb is on: left_hand, right_hand, left_foot, right_foot; -1 = not on a hold.
CREATE TABLE contact_frames (
    attempt_id INTEGER NOT NULL,
    frame      INTEGER NOT NULL,
    hold_id    INTEGER[4] NOT NULL
);

-- Attempts with their on-the-wall interval in seconds; `outcome` is the coach's when given, else the
-- detected one.
CREATE VIEW attempt_on_wall AS
SELECT
    a.attempt_id, a.name AS attempt, c.name AS climber,
    w.start_frame, w.end_frame,
    w.start_frame / a.fps                        AS start_s,
    (w.end_frame + 1) / a.fps                    AS end_s,
    (w.end_frame - w.start_frame + 1) / a.fps    AS on_wall_s,
    w.start_reason, w.end_reason,
    w.outcome                                    AS detected_outcome,
    coalesce(a.outcome, w.outcome)               AS outcome
FROM attempts a
JOIN climbers c USING (climber_id)
JOIN attempt_wall w USING (attempt_id);

-- Current moves with their certainty: 'sure' when the calibrated confidence is at least 0.7
-- (moves.calibration.SURE), else 'unsure'. Coach-added moves carry confidence 1.
CREATE VIEW move_certainty AS
SELECT d.*, CASE WHEN d.confidence >= 0.7 THEN 'sure' ELSE 'unsure' END AS certainty
FROM move_details d;
