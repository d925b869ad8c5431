-- Version 4: the raw 2D detections of analysed videos, so renders can overlay them and the lifting stage
-- can be re-run (`cruxlab lift`, a new climber height) without running the pose model again.
CREATE TABLE keypoints2d (
    attempt_id INTEGER NOT NULL,
    frame      INTEGER NOT NULL,          -- attempt frame (0-based)
    joints     FLOAT[2][21] NOT NULL,     -- 21 joints x (x, y) pixels of the full-size display frame, NaN = missing
    confidence FLOAT[21] NOT NULL,
    body3d     FLOAT[3][21],              -- the backend's monocular 3D pose (metres, mid-hip origin, camera
                                          -- axes), NULL when the backend has none
    box        FLOAT[4]                   -- climber box x0, y0, x1, y1 pixels, NaN when not seen
);
