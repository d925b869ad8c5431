-- Version 2: the current state of every move after coach edits, and move statistics.
-- Views only: every number is derived from moves + label_edits, so an edit shows up everywhere at once.

-- Every move with its latest edit applied (deleted moves included, flagged).
CREATE VIEW move_state AS
WITH latest AS (
    SELECT * FROM label_edits
    QUALIFY row_number() OVER (PARTITION BY move_id ORDER BY edited_at DESC, edit_id DESC) = 1
)
SELECT
    m.move_id, m.attempt_id,
    coalesce(l.label, m.label)             AS label,
    coalesce(l.limb, m.limb)               AS limb,
    coalesce(l.start_frame, m.start_frame) AS start_frame,
    coalesce(l.end_frame, m.end_frame)     AS end_frame,
    coalesce(l.deleted, false)             AS deleted,
    m.confidence, m.source, m.model_version,
    m.label       AS original_label,
    m.limb        AS original_limb,
    m.start_frame AS original_start,
    m.end_frame   AS original_end,
    l.edit_id IS NOT NULL AS edited,
    l.editor      AS last_editor,
    l.source      AS last_source,
    l.edited_at   AS last_edited_at
FROM moves m LEFT JOIN latest l USING (move_id);

-- The moves as they stand now: what statistics, exports and training read.
CREATE VIEW moves_current AS
SELECT * EXCLUDE (deleted) FROM move_state WHERE NOT deleted;

-- Current moves with their attempt, climber and problem, times in seconds.
CREATE VIEW move_details AS
SELECT
    mc.*,
    a.name AS attempt, c.name AS climber, p.name AS problem, p.wall, p.grade,
    coalesce(p.angle_deg, a.wall_angle_deg) AS wall_angle_deg,
    a.fps,
    mc.start_frame / a.fps                       AS start_s,
    (mc.end_frame + 1) / a.fps                   AS end_s,
    (mc.end_frame - mc.start_frame + 1) / a.fps  AS duration_s
FROM moves_current mc
JOIN attempts a USING (attempt_id)
JOIN climbers c USING (climber_id)
LEFT JOIN problems p USING (problem_id);

CREATE VIEW moves_per_attempt AS
SELECT
    a.attempt_id, a.name AS attempt, c.name AS climber, p.name AS problem, a.outcome,
    a.n_frames / a.fps AS duration_s,
    count(m.move_id) AS n_moves,
    count(m.move_id) * 60.0 / (a.n_frames / a.fps) AS moves_per_minute,
    histogram(m.label) AS label_counts
FROM attempts a
JOIN climbers c USING (climber_id)
LEFT JOIN problems p USING (problem_id)
LEFT JOIN moves_current m USING (attempt_id)
GROUP BY a.attempt_id, a.name, c.name, p.name, a.outcome, a.n_frames, a.fps;

CREATE VIEW moves_per_label AS
SELECT
    label,
    count(*)                   AS n_moves,
    count(DISTINCT attempt_id) AS n_attempts,
    avg(duration_s)            AS mean_duration_s,
    median(duration_s)         AS median_duration_s,
    min(duration_s)            AS min_duration_s,
    max(duration_s)            AS max_duration_s,
    avg(confidence)            AS mean_confidence
FROM move_details
GROUP BY label;

CREATE VIEW moves_per_climber AS
WITH climbing AS (
    SELECT climber_id, sum(n_frames / fps) AS climbing_s, count(*) AS n_attempts
    FROM attempts GROUP BY climber_id
)
SELECT
    c.name AS climber, d.label,
    count(*)                              AS n_moves,
    count(DISTINCT d.attempt_id)          AS n_attempts_with_label,
    any_value(cl.n_attempts)              AS n_attempts,
    avg(d.duration_s)                     AS mean_duration_s,
    count(*) * 60.0 / any_value(cl.climbing_s) AS moves_per_minute
FROM move_details d
JOIN climbers c ON c.name = d.climber
JOIN climbing cl ON cl.climber_id = c.climber_id
GROUP BY c.name, d.label;

CREATE VIEW moves_per_problem AS
SELECT
    problem, wall, grade, wall_angle_deg, label,
    count(*)                     AS n_moves,
    count(DISTINCT attempt_id)   AS n_attempts,
    count(DISTINCT climber)      AS n_climbers,
    avg(duration_s)              AS mean_duration_s
FROM move_details
GROUP BY ALL;

-- Time still vs moving per attempt. Moving = the union of all current move intervals except static
-- positions (flag, heel-hook, lock-off), merged with gaps-and-islands so overlaps count once.
CREATE VIEW attempt_activity AS
WITH iv AS (
    SELECT attempt_id, start_frame, end_frame FROM moves_current
    WHERE label NOT IN ('flag', 'heel-hook', 'lock-off')
), ordered AS (
    SELECT *, max(end_frame) OVER (
        PARTITION BY attempt_id ORDER BY start_frame, end_frame
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max_end
    FROM iv
), islands AS (
    SELECT *, sum(CASE WHEN prev_max_end IS NULL OR start_frame > prev_max_end + 1 THEN 1 ELSE 0 END) OVER (
        PARTITION BY attempt_id ORDER BY start_frame, end_frame ROWS UNBOUNDED PRECEDING) AS island
    FROM ordered
), merged AS (
    SELECT attempt_id, min(start_frame) AS s, max(end_frame) AS e FROM islands GROUP BY attempt_id, island
), moving AS (
    SELECT attempt_id, sum(least(e, a.n_frames - 1) - s + 1) AS moving_frames
    FROM merged JOIN attempts a USING (attempt_id) GROUP BY attempt_id
)
SELECT
    a.attempt_id, a.name AS attempt, c.name AS climber,
    a.n_frames / a.fps                                   AS total_s,
    coalesce(m.moving_frames, 0) / a.fps                 AS moving_s,
    (a.n_frames - coalesce(m.moving_frames, 0)) / a.fps  AS still_s,
    coalesce(m.moving_frames, 0) / a.n_frames            AS moving_fraction
FROM attempts a
JOIN climbers c USING (climber_id)
LEFT JOIN moving m USING (attempt_id);
