"""`cruxlab` subcommands of the reconstruction package: analyze, render, lift, track."""

from __future__ import annotations

import argparse
from pathlib import Path

from cruxlab.cli import add_command


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the `cruxlab` parser."""
    from dataclasses import fields

    from reconstruction.pipeline import AnalyzeOptions

    default = {f.name: f.default for f in fields(AnalyzeOptions)}  # one place for every analysis default
    _add_analyze(sub, default)
    _add_render(sub)
    _add_lift(sub, default)
    _add_track(sub)


def _add_analyze(sub: argparse._SubParsersAction, default: dict) -> None:
    """`cruxlab analyze`; `default`: AnalyzeOptions' field defaults by name."""
    from cruxlab.metadata import OUTCOMES
    from reconstruction.backends.config import add_model_arguments
    from reconstruction.inputs import MANIFEST_COLUMNS

    p = add_command(
        sub, "analyze", "analyse a climbing video: cameras, wall, 3D skeleton and moves into the store",
        "Turn a phone video of a boulderer into a stored attempt: the climber's 2D pose (default MediaPipe,\n"
        "offline), climber masks, cameras by keyframe SfM (or a rotation-only model for tripod/pan videos),\n"
        "the wall frame (plane, gravity, metric scale from --height-m) and the metric 3D skeleton in it;\n"
        "then moves are detected. Every stage is cached under --cache-dir, so re-running with another\n"
        "--height-m only re-lifts. Running the same video with the same parameters again changes nothing.\n\n"
        "  cruxlab analyze climb.mp4 --climber Janja --height-m 1.64 --start 2 --end 14\n"
        "  cruxlab analyze comp.mp4 --climber Adam --mask-backend sam2 --sam2-checkpoint sam2.1_hiera_tiny.pt\n\n"
        "Many videos: give files, folders (every video under them), quoted glob patterns ('clips/**/*.mp4')\n"
        "and manifests (.csv / .json, one row per video). They run in parallel (--jobs N worker processes,\n"
        "or --ray auto|ADDRESS|local on a Ray cluster); this process alone writes the database. One line per\n"
        "video, failures listed at the end (exit status 1; the others are stored), and a re-run skips every\n"
        "video already stored with the same parameters, so an interrupted run resumes where it stopped.\n\n"
        "  cruxlab analyze session-03/ 'archive/**/*.mov' --climber Janja --jobs 2\n"
        "  cruxlab analyze gym.csv --jobs 2                 # manifest: per-video climber, problem, ...\n"
        "  cruxlab analyze gym.csv --ray auto               # on the Ray cluster this machine belongs to\n\n"
        "Manifest columns (header row; empty cells take the command-line value; one video may have several\n"
        "rows with different start/end):\n"
        + "\n".join(f"  {name:<11} {help}" for name, (_, _, help) in MANIFEST_COLUMNS.items())
        + "\nExample CSV:\n  video,climber,problem,grade,outcome,height_m,start,end,date\n"
        "  clips/a.mp4,Janja,Blue 7,7A,top,1.64,0:02,0:14,2026-11-20",
    )
    p.add_argument("inputs", nargs="+", metavar="VIDEO",
                   help="video files (mp4 / mov / webm ...), folders, glob patterns or .csv/.json manifests")
    p.add_argument("--climber", help="who climbs (created on first use); for a manifest, rows without one")
    p.add_argument("--height-m", type=float, default=default["height_m"],
                   help="climber's standing height in metres (sets scale)")
    p.add_argument("--wall-angle", type=float, metavar="DEG",
                   help="overhang angle of the wall (0 vertical, 45 = 45° overhang); fixes gravity when the video "
                        "cannot (tripod, no floor in view)")
    p.add_argument("--pose-backend", default=default["pose_backend"], help="mediapipe | openmmlab | onnx")
    p.add_argument("--mask-backend", default=default["mask_backend"], help="mediapipe | sam2 (climber masks for SfM)")
    p.add_argument("--start", type=float, metavar="S", help="start of the attempt in the video, seconds")
    p.add_argument("--end", type=float, metavar="S", help="end of the attempt in the video, seconds")
    p.add_argument("--fps", type=float, metavar="N", help="analyse about N frames per second (subsampling)")
    p.add_argument("--name", help="attempt name (default: the video's file name)")
    p.add_argument("--problem", help="boulder problem / route name")
    p.add_argument("--outcome", choices=OUTCOMES, help="how the attempt ended")
    p.add_argument("--grade", help="the problem's grade (V scale, e.g. V5, or Font, e.g. 6B+)")
    p.add_argument("--date", metavar="YYYY-MM-DD[ HH:MM]", help="when the attempt was climbed (default: not set)")
    p.add_argument("--max-side", type=int, default=default["max_side"], metavar="PX",
                   help="longest side of the frames given to the pose model (keypoints stay full-size)")
    p.add_argument("--keyframes-per-s", type=float, default=default["keyframes_per_s"],
                   help="SfM keyframes per second (at least 8)")
    p.add_argument("--max-keyframes", type=int, default=default["max_keyframes"],
                   help="at most this many SfM keyframes")
    p.add_argument("--sfm-max-side", type=int, default=default["sfm_max_side"], metavar="PX",
                   help="longest side of the SfM keyframes")
    p.add_argument("--sfm-features", type=int, default=default["sfm_features"], help="SIFT features per SfM keyframe")
    p.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS,
                   help="stage cache folder (default: $CRUXLAB_CACHE or ./cache)")
    p.add_argument("--no-cache", action="store_true", help="compute every stage afresh and keep nothing")
    p.add_argument("--no-detect", action="store_true", help="store the skeleton only; run `moves detect` later")
    p.add_argument("--render", type=Path, metavar="OUT",
                   help="also render the result (.png contact sheet, .webm / .mp4 overlay video)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="analyse N videos at once in worker processes (about one per CPU core); with --ray local: "
                        "the CPUs of the local Ray instance")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run the videos on a Ray cluster: auto (the one this machine joined), HOST:PORT of its "
                        "head, or local (a private instance on this machine); needs `scripts/setup.sh ray`")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_model_arguments(p)
    p.set_defaults(func=cmd_analyze)


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "render", "draw an attempt's skeleton over its video: overlay video or contact sheet",
        "Project the stored wall-frame skeleton through the stored cameras onto the video frames (white dots:\n"
        "the raw 2D detections; top band: frame, time and the moves in progress). --out decides the kind:\n"
        ".png = contact sheet of --frames frames, .webm = VP9 video for browsers (--vp8 for VP8), .mp4 = H.264.\n"
        "Skeleton-only attempts (imports) are drawn on a blank wall seen from behind the climber.",
    )
    p.add_argument("attempt", metavar="ATTEMPT", help="attempt name or id (see `cruxlab attempts`)")
    p.add_argument("--out", type=Path, default=argparse.SUPPRESS,
                   help="output file (default: artifacts/<attempt>.webm)")
    p.add_argument("--frames", type=int, default=12, metavar="N", help="frames on a contact sheet")
    p.add_argument("--max-side", type=int, default=720, metavar="PX", help="longest side of the output frames")
    p.add_argument("--no-2d", action="store_true", help="do not draw the raw 2D detections")
    p.add_argument("--video", type=Path, help="the video, if it moved since the analysis")
    p.add_argument("--no-video", action="store_true", help="draw on a blank wall instead of the video")
    p.add_argument("--vp8", action="store_true", help="WebM with VP8 instead of VP9 (older players; slower)")
    p.add_argument("--holds", action="store_true",
                   help="contact sheet of why the moves are what they are: frames in the middle of the moves with "
                        "the holds used (numbered rings, filled and tied to the limb while it is on them) over "
                        "the contact lanes of the whole attempt (default --out artifacts/<attempt>-holds.png)")
    p.set_defaults(func=cmd_render)


def _add_lift(sub: argparse._SubParsersAction, default: dict) -> None:
    p = add_command(
        sub, "lift", "lift 2D keypoints seen by known cameras to a metric 3D skeleton file",
        "The lifting stage on its own, for keypoints that came from elsewhere. VIEW.npz holds keypoints2d\n"
        "(T, J, 2) pixels with joint_names (J,), confidence (T, J), K (3, 3), R (T, 3, 3) and t (T, 3)\n"
        "world->camera (OpenCV; world = wall frame, metres), image_size (w, h), fps, and optionally\n"
        "wall_normal, wall_point (default: the vertical wall z = 0) and climber_height_m (default "
        f"{default['height_m']:.2f}).\n"
        "Writes the skeleton interchange file (keypoints (T, 21, 3) in the same world frame).\n\n"
        "  cruxlab lift view.npz --out skeleton.npz\n"
        "  cruxlab import-skeleton skeleton.npz --climber Janja     # then store it",
    )
    p.add_argument("view", type=Path, metavar="VIEW.npz", help="2D keypoints + cameras (see above)")
    p.add_argument("--out", type=Path, required=True, metavar="SKELETON.npz", help="skeleton file to write")
    p.add_argument("--height-m", type=float, help="climber's height in metres (overrides climber_height_m)")
    p.set_defaults(func=cmd_lift)


def _add_track(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "track", "track stored attempts' hands and feet against the wall (the flow stage), then redetect",
        "The analysis's flow stage for attempts stored before it existed: each attempt's video is decoded\n"
        "again and every hand's and foot's image patch is tracked against the wall (optical flow minus the\n"
        "wall's homography), then its moves are detected again with the active model (coach edits kept).\n"
        "Attempts tracked already are skipped (--redo tracks them again).\n\n"
        "  cruxlab track                                   # every attempt without it\n"
        "  cruxlab track climb-03 --video /mnt/new/climb-03.mp4",
    )
    p.add_argument("attempts", nargs="*", metavar="ATTEMPT", help="attempt names (default: all)")
    p.add_argument("--video", type=Path, help="the video of the one named attempt, if it moved since the analysis")
    p.add_argument("--redo", action="store_true", help="track attempts that have the flow already, too")
    p.set_defaults(func=cmd_track)


def cmd_track(args: argparse.Namespace) -> int:
    from reconstruction.pipeline import track_stored

    for name, what in track_stored(args.db, args.attempts or None, video=args.video, redo=args.redo,
                                   progress=False):
        print(f"{name}: {what}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from cruxlab.errors import InputError
    from cruxlab.metadata import check_recorded_at
    from reconstruction.backends.config import options_from_args
    from reconstruction.inputs import is_single_video
    from reconstruction.pipeline import DEFAULT_CACHE_DIR, AnalyzeOptions, analyze

    options = AnalyzeOptions(
        climber=args.climber, height_m=args.height_m, wall_angle_deg=args.wall_angle, pose_backend=args.pose_backend,
        mask_backend=args.mask_backend, pose_options=options_from_args(args, args.pose_backend),
        mask_options=options_from_args(args, args.mask_backend),
        start_s=args.start, end_s=args.end, fps=args.fps, name=args.name, problem=args.problem,
        outcome=args.outcome, grade=args.grade, recorded_at=check_recorded_at(args.date), max_side=args.max_side,
        keyframes_per_s=args.keyframes_per_s,
        max_keyframes=args.max_keyframes, sfm_max_side=args.sfm_max_side, sfm_features=args.sfm_features,
        cache_dir=None if args.no_cache else getattr(args, "cache_dir", DEFAULT_CACHE_DIR),
        detect_moves=not args.no_detect,
    )
    if args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {args.jobs}")
    if is_single_video(args.inputs) and args.ray is None:
        # One video: the stage-by-stage progress and the full summary, as always.
        result = analyze(args.db, Path(args.inputs[0]), options, progress=not args.quiet)
        print(result.summary())
        if args.render:
            _render(args.db, result.attempt_id, args.render, frames=12, max_side=720, show_2d=True)
            print(f"  render:              {args.render}")
        return 0
    return _analyze_many(args, options)


def _analyze_many(args: argparse.Namespace, options) -> int:
    from cruxlab.errors import InputError
    from reconstruction.batch import analyze_many
    from reconstruction.inputs import expand_inputs

    tasks = expand_inputs(args.inputs, options)
    if len(tasks) > 1 and args.render:
        raise InputError(f"--render draws one attempt but {len(tasks)} videos were given; render them afterwards "
                         "with `cruxlab render NAME --out FILE`")
    if not args.quiet:
        print(f"analysing {len(tasks)} video(s) into {args.db}"
              + (f" on Ray ({args.ray})" if args.ray else f" with {min(args.jobs, len(tasks))} process(es)"),
              flush=True)
    report = analyze_many(args.db, tasks, jobs=args.jobs, ray=args.ray, progress=not args.quiet)
    print(report.summary())
    if args.render and report.analysed + report.stored:
        _, result = (report.analysed + report.stored)[0]
        _render(args.db, result.attempt_id, args.render, frames=12, max_side=720, show_2d=True)
        print(f"  render:              {args.render}")
    return 1 if report.failed else 0


def _render(db, attempt, out: Path, *, frames: int, max_side: int, show_2d: bool, video: Path | None = None,
            use_video: bool = True, vp8: bool = False) -> Path:
    from cruxlab.errors import InputError
    from db import connect, store
    from reconstruction.render import contact_sheet, write_overlay_video

    suffix = out.suffix.lower()
    if suffix not in (".png", ".webm", ".mp4", ".mov", ".mkv"):
        raise InputError(f"--out {out}: use .png (contact sheet), .webm (browser video) or .mp4 (H.264)")
    with connect(db, read_only=True) as con:
        data = store.read_render_data(con, attempt)
    if suffix == ".png":
        return contact_sheet(data, out, n=frames, show_2d=show_2d, video_path=video, use_video=use_video)
    return write_overlay_video(data, out, max_side=max_side, show_2d=show_2d, video_path=video,
                               use_video=use_video, progress=True,
                               codec="libvpx" if vp8 and suffix == ".webm" else None)


def cmd_render(args: argparse.Namespace) -> int:
    from cruxlab.paths import data_path

    if args.holds:
        from reconstruction.sheet import contact_sheet

        out = getattr(args, "out", None) or data_path("artifacts", args.attempt, "-holds.png")
        print(f"wrote {contact_sheet(args.db, args.attempt, out, n=args.frames)}")
        return 0
    out = getattr(args, "out", None) or data_path("artifacts", args.attempt, ".webm")
    path = _render(args.db, args.attempt, out, frames=args.frames, max_side=args.max_side, show_2d=not args.no_2d,
                   video=args.video, use_video=not args.no_video, vp8=args.vp8)
    print(f"wrote {path}")
    return 0


def cmd_lift(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cruxlab.skeleton import save_npz
    from reconstruction.lift import lift_view, load_view

    view = load_view(args.view)
    if args.height_m is not None:
        from cruxlab.body import check_height

        check_height(args.height_m)
        view = replace(view, climber_height_m=args.height_m)
    skeleton, result = lift_view(view)
    path = save_npz(skeleton, args.out)
    r = result.report
    height = "n/a (no wall contacts)" if r["height_estimate_m"] is None else f"{r['height_estimate_m']:.2f} m"
    print(f"wrote {path}: {r['frames_with_skeleton']}/{r['frames']} frames with a skeleton, reprojection "
          f"{r['reprojection_median_px']:.1f} px (median), height estimate {height}, "
          f"contacts {100 * r['contact_fraction']:.0f} % of limb-frames, {r['seconds']:.1f} s")
    return 0
