"""Upload a video: the coach picks a clip and says who climbed what; the analysis runs in the background
(dashboard.jobs) while this page shows its stage and percent, then the attempt opens like any other."""

from datetime import date, datetime
from datetime import time as dt_time

import streamlit as st

from cruxlab.body import DEFAULT_HEIGHT_M, HEIGHT_RANGE_M
from cruxlab.errors import CruxlabError, InputError
from cruxlab.metadata import EARLIEST_DATE, OUTCOMES, check_grade, check_name, check_outcome, check_recorded_at
from dashboard import components as ui
from dashboard import data
from cruxlab.paths import safe_filename
from dashboard.jobs import STAGE_TITLES, VIDEO_SUFFIXES, AnalysisRequest

ss = st.session_state
FORM = "upload"

st.title("Upload a video")
st.caption("Film the whole problem with the wall in view (tripod or a steady hand; portrait is fine). The "
           "analysis runs on this machine in the background — you can keep using the dashboard meanwhile.")

status = data.status()
ready = status.state == "ready"
attempts = data.attempts() if ready else None
heights, problems = data.names() if ready else ({}, {})
climbers = list(heights)


def default_name(climber: str, problem: str | None, day: date | None) -> str:
    """climber-problem-YYYY-MM-DD-N, with N the first number no stored attempt or running upload uses."""
    base = safe_filename("-".join(filter(None, [climber, problem, f"{day:%Y-%m-%d}" if day else None])),
                         lower=True, tag=False, max_bytes=60)
    taken = set(attempts["attempt"]) if attempts is not None else set()
    taken |= {job.request.name for job in data.analysis_jobs() if not job.status.final}
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _submit() -> None:
    v = {k: ss.get(f"{FORM}-{k}") for k in ("video", "climber", "height", "problem", "grade", "outcome", "day",
                                            "time", "name", "start", "end", "fps")}
    try:
        if v["video"] is None:
            raise InputError("choose a video file first")
        climber = check_name(v["climber"], "climber", required=True)
        problem = check_name(None if v["problem"] == ui.NO_PROBLEM else v["problem"], "problem", required=False)
        grade = check_grade(v["grade"])
        if grade and not problem:
            raise InputError("a grade belongs to a problem; enter the problem's name too (or leave the grade empty)")
        when = None if v["day"] is None else check_recorded_at(datetime.combine(v["day"], v["time"] or dt_time(12)))
        name = check_name(v["name"], "attempt name", required=False) or default_name(climber, problem, v["day"])
        if attempts is not None and name in set(attempts["attempt"]):
            raise InputError(f"an attempt named {name!r} exists already; choose another name (or leave it empty)")
        start, end = v["start"] or None, v["end"] or None
        if start is not None and end is not None and end <= start:
            raise InputError(f"the end ({end:g} s) must come after the start ({start:g} s); or leave them empty")
        height = v["height"] or heights.get(climber) or DEFAULT_HEIGHT_M  # as typed, else as stored, else the default
        request = AnalysisRequest(
            climber=climber, name=name, height_m=float(height), problem=problem, grade=grade,
            outcome=check_outcome(None if v["outcome"] == "—" else v["outcome"]),
            recorded_at=None if when is None else when.isoformat(), start_s=start, end_s=end,
            fps=None if v["fps"] == "every frame" else float(v["fps"]))
        job = data.submit_analysis(v["video"], v["video"].name, request)
    except CruxlabError as exc:
        ui.flash(f"Not started: {exc}", "error")
        return
    ss["upload_job"] = job.name
    ui.flash(f"Uploaded. Analysing **{name}** in the background: follow it below.", "info")


with st.form(FORM, clear_on_submit=True):
    st.file_uploader("Video", type=[s.lstrip(".") for s in VIDEO_SUFFIXES], key=f"{FORM}-video",
                     help="Analysed on this machine; the file is kept beside the database for playback.")
    c1, c2, c3 = st.columns([3, 3, 2])
    c1.selectbox("Climber", climbers, index=None, accept_new_options=True, key=f"{FORM}-climber",
                 placeholder="pick or type a name")
    c2.selectbox("Problem", [ui.NO_PROBLEM, *problems], index=0, accept_new_options=True, key=f"{FORM}-problem",
                 help="Pick one, or type a new problem's name")
    c3.text_input("Grade", key=f"{FORM}-grade", placeholder="e.g. V5 or 6B+",
                  help="The problem's grade (V or Font scale); leave empty to keep a known problem's grade")
    c4, c5, c6, c7 = st.columns([2, 2, 2, 2])
    c4.selectbox("Outcome", ["—", *OUTCOMES], key=f"{FORM}-outcome")
    c5.date_input("Date climbed", value=date.today(), min_value=EARLIEST_DATE, max_value=date.today(),
                  key=f"{FORM}-day", format="YYYY-MM-DD")
    c6.time_input("Time", value=datetime.now().time().replace(second=0, microsecond=0), key=f"{FORM}-time",
                  step=60)
    c7.number_input("Climber's height (m)", *HEIGHT_RANGE_M, None, 0.01, key=f"{FORM}-height",
                    placeholder=f"stored, else {DEFAULT_HEIGHT_M:.2f}",
                    help="Sets the metric scale of the skeleton. Empty: the height stored for this climber "
                         f"(from an earlier analysis), else {DEFAULT_HEIGHT_M:.2f} m")
    with st.expander("More options: attempt name, trim, frame rate"):
        a1, a2, a3, a4 = st.columns([3, 1, 1, 1.4])
        a1.text_input("Attempt name", key=f"{FORM}-name", placeholder="default: climber-problem-date-N")
        a2.number_input("Start (s)", 0.0, None, None, 0.5, key=f"{FORM}-start", placeholder="0")
        a3.number_input("End (s)", 0.0, None, None, 0.5, key=f"{FORM}-end", placeholder="end")
        a4.selectbox("Analyse", ["every frame", 30.0, 15.0, 12.5, 10.0], key=f"{FORM}-fps",
                     format_func=lambda f: f if isinstance(f, str) else f"~{f:g} frames/s",
                     help="Fewer frames analyse faster; every frame gives the smoothest playback")
    st.form_submit_button("Upload and analyse", type="primary", icon=":material/upload:", on_click=_submit)

ui.show_flash()

# ------------------------------------------------------------------------------------------ progress
jobs = data.analysis_jobs()
active = any(not job.status.final for job in jobs)


def _open(attempt_id: int) -> None:
    ui.select_attempt(attempt_id)
    ss["_open_uploaded"] = True


@st.fragment(run_every=1.0 if active else None)
def progress() -> None:
    if ss.pop("_open_uploaded", False):
        st.switch_page("views/attempt.py")
    shown = data.analysis_jobs()
    if not shown:
        return
    st.subheader("Analyses")
    if active and all(job.status.final for job in shown):
        st.rerun(scope="app")  # the last one finished: new attempts, no more polling
    for job in shown:
        s, r = job.status, job.request
        who = " · ".join(filter(None, [r.climber, r.problem, r.grade]))
        with st.container(border=True):
            head, side = st.columns([5, 1.3], vertical_alignment="center")
            head.markdown(f"**{r.name}** — {who} · uploaded {s.submitted_at[:16].replace('T', ' ')} UTC")
            if s.state in ("queued", "running"):
                stage = STAGE_TITLES.get(s.stage, s.stage)
                if 0.0 < s.stage_fraction < 1.0:  # stages that count their items (the pose, frame by frame)
                    stage += f" ({100 * s.stage_fraction:.0f} %)"
                head.progress(min(max(s.overall, 0.0), 1.0),
                              text=f"{stage} · {100 * s.overall:.0f} % overall · {s.elapsed_s:.0f} s")
                side.button("Cancel", key=f"cancel-{s.job_id}", icon=":material/cancel:",
                            on_click=data.cancel_analysis, args=(job.dir,))
            elif s.state == "done":
                head.success(f"{s.message} — upload to analysed in {s.elapsed_s:.0f} s", icon=":material/check_circle:")
                if s.attempt_id is not None:
                    side.button("Open attempt", key=f"open-{s.job_id}", type="primary", icon=":material/play_circle:",
                                on_click=_open, args=(int(s.attempt_id),))
            elif s.state == "cancelled":
                head.info(s.message, icon=":material/cancel:")
            else:
                head.error(f"**The analysis failed:** {s.message}", icon=":material/error:")
                from dashboard.jobs import log_tail

                with head.expander("Log"):
                    st.code(log_tail(job.dir, 30) or "(empty)", language=None)


progress()
