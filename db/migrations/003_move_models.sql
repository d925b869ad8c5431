-- Version 3: move classifiers trained from coach labels, stored in the database with a version.
-- `moves detect` uses the active one (the rule model when none is active).
CREATE SEQUENCE move_models_seq START 1;
CREATE TABLE move_models (
    model_id          INTEGER PRIMARY KEY DEFAULT nextval('move_models_seq'),
    version           VARCHAR NOT NULL UNIQUE,
    kind              VARCHAR NOT NULL,       -- 'rules' | 'learned'
    created_at        TIMESTAMP NOT NULL DEFAULT now(),
    params            VARCHAR,                -- JSON of the estimator's parameters
    metrics           VARCHAR,                -- JSON: cross-validated per-label F1 of this model and the rules
    n_labels          INTEGER,                -- coach-labelled moves it was trained on
    payload           BLOB,                   -- the fitted estimator (pickle)
    active            BOOLEAN NOT NULL DEFAULT false
);
