-- cruxlab store, version 1: people, problems, videos, attempts and per-frame data.
-- Frames are 0-based everywhere; intervals are inclusive [start_frame, end_frame].
-- Joints are the canonical 21 (cruxlab.joints.JOINT_NAMES) in the wall frame (metres, y up), NaN = missing.

CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
);

CREATE SEQUENCE climbers_seq START 1;
CREATE TABLE climbers (
    climber_id INTEGER PRIMARY KEY DEFAULT nextval('climbers_seq'),
    name       VARCHAR NOT NULL UNIQUE,
    height_m   FLOAT,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE SEQUENCE problems_seq START 1;
CREATE TABLE problems (
    problem_id INTEGER PRIMARY KEY DEFAULT nextval('problems_seq'),
    name       VARCHAR NOT NULL UNIQUE,
    wall       VARCHAR,          -- e.g. "45° board", "comp wall"
    grade      VARCHAR,          -- e.g. "V5", "7A"
    angle_deg  FLOAT,            -- overhang angle: 0 vertical, 45 = 45° overhang
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE SEQUENCE videos_seq START 1;
CREATE TABLE videos (
    video_id   INTEGER PRIMARY KEY DEFAULT nextval('videos_seq'),
    path       VARCHAR NOT NULL,     -- absolute path at analysis time
    sha256     VARCHAR NOT NULL UNIQUE,
    fps        DOUBLE NOT NULL,
    width      INTEGER NOT NULL,     -- after applying rotation metadata
    height     INTEGER NOT NULL,
    n_frames   INTEGER NOT NULL,
    rotation   INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE SEQUENCE attempts_seq START 1;
CREATE TABLE attempts (
    attempt_id       INTEGER PRIMARY KEY DEFAULT nextval('attempts_seq'),
    name             VARCHAR NOT NULL UNIQUE,
    climber_id       INTEGER NOT NULL,
    problem_id       INTEGER,
    video_id         INTEGER,             -- NULL for skeleton-only attempts
    source_kind      VARCHAR NOT NULL,    -- 'skeleton' (imported .npz) | 'video' (analyzed)
    source_path      VARCHAR NOT NULL,
    ingest_key       VARCHAR NOT NULL UNIQUE,  -- sha256(source file sha256 + parameters): re-ingest is a no-op
    params           VARCHAR,             -- JSON of the parameters that produced this attempt
    fps              DOUBLE NOT NULL,
    n_frames         INTEGER NOT NULL,
    video_start_frame INTEGER NOT NULL DEFAULT 0,  -- attempt frame 0 = this frame of the video
    video_frame_step INTEGER NOT NULL DEFAULT 1,   -- attempt frame i = video frame start + i * step
    outcome          VARCHAR,             -- 'top' | 'fall' | 'unknown' | free text
    wall_normal      DOUBLE[3],
    wall_point       DOUBLE[3],
    wall_angle_deg   FLOAT,               -- derived from wall_normal: 0 vertical, > 0 overhang
    climber_height_m FLOAT,
    camera_model     VARCHAR,             -- 'sfm' | 'rotation-only' | NULL (skeleton import)
    report           VARCHAR,             -- JSON: what the pipeline did and measured
    recorded_at      TIMESTAMP,
    created_at       TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE skeleton_frames (
    attempt_id INTEGER NOT NULL,
    frame      INTEGER NOT NULL,
    joints     FLOAT[3][21] NOT NULL,     -- 21 joints x (x, y, z) metres, NaN = missing
    confidence FLOAT[21] NOT NULL
);

CREATE TABLE cameras (
    attempt_id INTEGER NOT NULL,
    frame      INTEGER NOT NULL,
    K          DOUBLE[3][3] NOT NULL,     -- intrinsics (pixels, image after rotation)
    R          DOUBLE[3][3] NOT NULL,     -- world (wall frame) -> camera, OpenCV convention
    t          DOUBLE[3] NOT NULL,
    registered BOOLEAN NOT NULL           -- false = pose interpolated, not registered by SfM
);

CREATE TABLE wall_points (
    attempt_id INTEGER NOT NULL,
    point_id   INTEGER NOT NULL,
    xyz        FLOAT[3] NOT NULL,         -- wall frame, metres
    rgb        UTINYINT[3],
    error      FLOAT                      -- mean reprojection error, pixels
);

CREATE SEQUENCE moves_seq START 1;
-- What a model (or a coach adding a missed move) originally said. Never updated: corrections are edits.
CREATE TABLE moves (
    move_id       INTEGER PRIMARY KEY DEFAULT nextval('moves_seq'),
    attempt_id    INTEGER NOT NULL,
    start_frame   INTEGER NOT NULL,
    end_frame     INTEGER NOT NULL,
    label         VARCHAR NOT NULL,
    limb          VARCHAR NOT NULL,       -- left_hand | right_hand | left_foot | right_foot | body
    confidence    FLOAT NOT NULL,
    source        VARCHAR NOT NULL,       -- 'model' | 'dashboard' | 'label-studio'
    model_version VARCHAR,
    created_at    TIMESTAMP NOT NULL DEFAULT now(),
    CHECK (end_frame >= start_frame AND start_frame >= 0)
);

CREATE SEQUENCE label_edits_seq START 1;
-- Append-only history of coach corrections. Each row holds the move's full state after the edit and
-- before it; the current state of a move is its latest edit by (edited_at, edit_id).
CREATE TABLE label_edits (
    edit_id        INTEGER PRIMARY KEY DEFAULT nextval('label_edits_seq'),
    move_id        INTEGER NOT NULL,
    attempt_id     INTEGER NOT NULL,
    action         VARCHAR NOT NULL,      -- 'add' | 'relabel' | 'retime' | 'edit' | 'delete' | 'restore' | 'undo'
    label          VARCHAR NOT NULL,
    limb           VARCHAR NOT NULL,
    start_frame    INTEGER NOT NULL,
    end_frame      INTEGER NOT NULL,
    deleted        BOOLEAN NOT NULL,
    prev_label     VARCHAR,
    prev_limb      VARCHAR,
    prev_start     INTEGER,
    prev_end       INTEGER,
    prev_deleted   BOOLEAN,
    editor         VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,      -- 'dashboard' | 'label-studio' | 'cli'
    edited_at      TIMESTAMP NOT NULL,
    external_key   VARCHAR UNIQUE,        -- e.g. Label Studio annotation + region id: pulling twice adds nothing
    undoes_edit_id INTEGER,
    note           VARCHAR
);
