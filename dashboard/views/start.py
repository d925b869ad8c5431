"""Welcome page for a missing or empty database (or one that cannot be opened): how to get a first attempt in."""

import streamlit as st

from dashboard import data

status = data.status()
st.title("🧗 Welcome to cruxlab")
st.markdown("Film a boulderer with a phone, and cruxlab turns the video into a 3D skeleton on the wall, cuts the "
            "attempt into moves (reach, cross-over, match, foot-move, flag, rock-over, dyno…) and brings them here "
            "to watch, correct and compare.")
db = status.path
if status.state == "error":
    st.error(f"**This database cannot be opened.** {status.message}", icon=":material/error:")
elif status.state == "missing":
    st.info(f"There is no database at `{db}` yet. Analyse a first video and it will be created.",
            icon=":material/info:")
else:
    st.info(f"The database `{db}` holds no attempt yet.", icon=":material/info:")

st.subheader("Analyse your first video")
st.markdown("1. **Film** the whole problem with the wall in view (a tripod or a steady hand; portrait is fine).\n"
            "2. **Upload** it from this browser: it is analysed in the background (reconstruction, skeleton, moves) "
            "and written into this database.")
if status.state != "error":  # (the upload page is offered when the store is missing or empty, not broken)
    st.page_link("views/upload.py", label="Upload a video", icon=":material/upload:")
st.markdown("…or analyse it from a terminal:")
st.code(f'cruxlab --db "{db}" analyze climb.mp4 --climber Janja --problem "Blue crimps"', language="bash")
st.markdown("3. **Come back here**: this page turns into the coach dashboard by itself (press *R* to reload).")
with st.expander("Other ways in"):
    st.markdown("Import a skeleton you already have (the interchange `.npz`: keypoints, joint_names, fps):")
    st.code(f'cruxlab --db "{db}" import-skeleton attempt.npz --climber Janja', language="bash")
    st.markdown("Or try the dashboard on synthetic demo attempts (a separate database, nothing of yours "
                "is touched):")
    st.code("cruxlab dashboard --demo", language="bash")
