-- Version 9: how each hand's and foot's image patch moved relative to the wall (moves.evidence.effector_flow,
-- one optical-flow pass over the video at analysis time), so move detection can tell a placed foot from a
-- wandering keypoint without the video, and re-detection gives the analysis's moves.
CREATE TABLE effector_flow (
    attempt_id INTEGER NOT NULL,
    frame      INTEGER NOT NULL,          -- attempt frame (0-based): motion from this frame to the next
    rel        FLOAT[2][4] NOT NULL,      -- left_hand, right_hand, left_foot, right_foot x (dx, dy) full-size
                                          -- pixels: the patch's motion minus the wall's there; NaN = unknown
    wall       FLOAT[2][4] NOT NULL       -- the wall's (camera's) image motion at each patch centre, pixels
);
