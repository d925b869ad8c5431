-- Version 6: learned move models are stored as plain arrays (an .npz of numbers read without pickle, see
-- moves/trees.py) with their format and a SHA-256 of the payload; cruxlab refuses any other payload.
-- Pickled models written by earlier versions could run code when loaded, so their payloads are removed here.
-- The rows stay (history, metrics) marked 'pickle-removed'; using one asks for `cruxlab moves train`.
ALTER TABLE move_models ADD COLUMN payload_format VARCHAR;
ALTER TABLE move_models ADD COLUMN payload_sha256 VARCHAR;
UPDATE move_models SET payload_format = 'pickle-removed', payload = NULL WHERE payload IS NOT NULL;
