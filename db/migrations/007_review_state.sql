-- Version 7: review state. Which moves a coach has vouched for, so that only those count as training labels.
--
-- A coach *confirms* a move: a label_edits row with action 'confirm' whose state is the move's state (nothing
-- changes; the history records who said it is right, when, from where). A coach *reviews* an attempt: every
-- move it holds now is right and none is missing; attempt_reviews is that append-only history (reviewed = false
-- withdraws a review). A review covers the moves that existed when it was made (move_id <= max_move_id): moves
-- detected again afterwards are not vouched for by it.

CREATE SEQUENCE attempt_reviews_seq START 1;
CREATE TABLE attempt_reviews (
    review_id    INTEGER PRIMARY KEY DEFAULT nextval('attempt_reviews_seq'),
    attempt_id   INTEGER NOT NULL,
    reviewed     BOOLEAN NOT NULL,      -- true: reviewed; false: the review was withdrawn
    max_move_id  INTEGER,               -- the attempt's moves at review time: move_id <= this (NULL: none)
    editor       VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,      -- 'dashboard' | 'label-studio' | 'cli'
    reviewed_at  TIMESTAMP NOT NULL,
    external_key VARCHAR UNIQUE,        -- e.g. a Label Studio annotation: pulling twice adds nothing
    note         VARCHAR
);

-- move_state gains: confirmed (latest history entry is a confirmation), corrected (the state differs from what
-- the model said: relabelled, retimed, deleted, or added by a coach and still there; net of undos), reviewed
-- (covered by its attempt's current review) and labelled (not deleted, and confirmed, corrected or reviewed:
-- what training takes as truth). `edited` keeps its meaning: the move has coach history.
CREATE OR REPLACE VIEW move_state AS
WITH latest AS (
    SELECT * FROM label_edits
    QUALIFY row_number() OVER (PARTITION BY move_id ORDER BY edited_at DESC, edit_id DESC) = 1
), review AS (
    SELECT * FROM attempt_reviews
    QUALIFY row_number() OVER (PARTITION BY attempt_id ORDER BY reviewed_at DESC, review_id DESC) = 1
), state AS (
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
        l.edited_at   AS last_edited_at,
        coalesce(l.action = 'confirm', false) AS confirmed,
        coalesce(r.reviewed AND m.move_id <= r.max_move_id, false) AS reviewed
    FROM moves m LEFT JOIN latest l USING (move_id) LEFT JOIN review r ON r.attempt_id = m.attempt_id
), judged AS (
    SELECT *,
        CASE WHEN source = 'model' THEN deleted OR label <> original_label OR limb <> original_limb
             OR start_frame <> original_start OR end_frame <> original_end ELSE NOT deleted END AS corrected
    FROM state
)
SELECT *, NOT deleted AND (confirmed OR corrected OR reviewed) AS labelled FROM judged;

-- Per attempt: its latest review and how many of its current moves are vouched for. complete = reviewed and
-- every current move labelled (a re-detection after the review leaves it incomplete until reviewed again).
CREATE VIEW attempt_review_state AS
WITH review AS (
    SELECT * FROM attempt_reviews
    QUALIFY row_number() OVER (PARTITION BY attempt_id ORDER BY reviewed_at DESC, review_id DESC) = 1
), counts AS (
    SELECT attempt_id, count(*) FILTER (WHERE NOT deleted) AS n_moves,
           count(*) FILTER (WHERE labelled) AS n_labelled, count(*) FILTER (WHERE confirmed AND NOT deleted) AS n_confirmed,
           count(*) FILTER (WHERE NOT deleted AND NOT labelled) AS n_unlabelled
    FROM move_state GROUP BY attempt_id
)
SELECT
    a.attempt_id, a.name AS attempt,
    coalesce(r.reviewed, false)      AS reviewed,
    r.editor                         AS reviewed_by,
    r.source                         AS review_source,
    r.reviewed_at,
    coalesce(c.n_moves, 0)           AS n_moves,
    coalesce(c.n_labelled, 0)        AS n_labelled,
    coalesce(c.n_confirmed, 0)       AS n_confirmed,
    coalesce(r.reviewed, false) AND coalesce(c.n_unlabelled, 0) = 0 AS complete
FROM attempts a LEFT JOIN review r USING (attempt_id) LEFT JOIN counts c USING (attempt_id);
