"""`cruxlab label serve|push|pull|status`: the Label Studio round trip from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cruxlab.cli import add_attempt_names, add_command

CONNECTION_HELP = (
    "Server: --url/--token, else CRUXLAB_LS_URL + CRUXLAB_LS_TOKEN (+ CRUXLAB_LS_DOCUMENT_ROOT, the folder that\n"
    "server serves local files from), else the local server started by `cruxlab label serve`."
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `cruxlab label ...` to the `cruxlab` parser."""
    p = add_command(
        sub, "label", "Label Studio round trip: serve, push attempts, pull coaches' labels",
        "Coaches correct moves in Label Studio. `serve` starts a local server (127.0.0.1, offline), `push` sends\n"
        "attempts with their predicted moves, `pull` brings the annotations back into the label history.\n\n"
        "  cruxlab label serve --background   # start (first time: installs it and prints the login)\n"
        "  cruxlab label push                 # all attempts; again later updates the same tasks\n"
        "  cruxlab label pull                 # idempotent: pulling twice adds nothing\n"
        "  cruxlab label status",
    )
    lsub = p.add_subparsers(dest="label_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser, project: bool = True) -> None:
        q.add_argument("--url", help="Label Studio URL (default: CRUXLAB_LS_URL or the local server)")
        q.add_argument("--token", help="API token (default: CRUXLAB_LS_TOKEN or the local server's)")
        q.add_argument("--data-dir", type=Path, help="local server's data dir (default: CRUXLAB_LS_DATA_DIR or "
                                                     "./data/labelstudio)")
        if project:
            q.add_argument("--project", default="cruxlab",
                           help="project name; videos go to '<name> · videos', skeleton-only attempts to "
                                "'<name> · skeletons'")

    q = add_command(lsub, "serve", "start a local Label Studio (installed on first use)",
                    "Start Label Studio on 127.0.0.1 with offline settings and a data dir under ./data. The first\n"
                    "start creates the admin user from CRUXLAB_LS_USER / CRUXLAB_LS_PASSWORD / CRUXLAB_LS_TOKEN (or\n"
                    "generates them), prints them once and saves them beside the data dir (mode 600).")
    q.add_argument("--data-dir", type=Path, help="data dir (default: CRUXLAB_LS_DATA_DIR or ./data/labelstudio)")
    q.add_argument("--port", type=int, help="port on 127.0.0.1 (default: 8080, or a free one when 8080 is taken)")
    mode = q.add_mutually_exclusive_group()
    mode.add_argument("--background", action="store_true", help="start it and return (stop with --stop)")
    mode.add_argument("--stop", action="store_true", help="stop the server started with --background")
    q.set_defaults(func=cmd_serve)

    q = add_command(lsub, "push", "send attempts with their current moves to Label Studio",
                    "One task per attempt: the video with the skeleton drawn over it (WebM) and a timeline of the\n"
                    "moves, or for skeleton-only attempts a joint-angle time series. The moves as they stand now\n"
                    "are the prediction (model version, scores). Pushing again updates the tasks.\n\n" + CONNECTION_HELP)
    add_attempt_names(q)
    q.add_argument("--reset-config", action="store_true",
                   help="restore cruxlab's labelling config if it was edited by hand in Label Studio")
    q.add_argument("--frame-exact", action="store_true",
                   help="one Label Studio frame per video frame: frame-by-frame stepping and smooth playback, "
                        "but the timeline scrolls (~2 s in view in a 1600 px window). Default: the whole attempt "
                        "fits the timeline, one step = k frames; edges left untouched keep their exact frames")
    common(q)
    q.set_defaults(func=cmd_push)

    q = add_command(lsub, "pull", "bring submitted annotations into the label history",
                    "Every submitted annotation becomes edits of the moves (source label-studio, the annotator's\n"
                    "e-mail, the annotation's time). Pulling again adds only what changed since.\n\n" + CONNECTION_HELP)
    q.add_argument("--dry-run", action="store_true", help="report what would be written, write nothing")
    common(q)
    q.set_defaults(func=cmd_pull)

    q = add_command(lsub, "status", "show the server, its cruxlab projects and what waits to be pulled",
                    CONNECTION_HELP)
    common(q)
    q.set_defaults(func=cmd_status)


def _client(args: argparse.Namespace):
    from labeling.client import LabelStudioClient, resolve_connection

    return LabelStudioClient(resolve_connection(args.url, args.token, data_dir=args.data_dir))


def cmd_serve(args: argparse.Namespace) -> int:
    from labeling import server

    if args.stop:
        state = server.stop(args.data_dir)
        print(f"stopped Label Studio at {state.url} (PID {state.pid})" if state else
              "no Label Studio started by `cruxlab label serve --background` is running")
        return 0
    state, healthy = server.status(args.data_dir)
    if healthy and state is not None:
        print(f"Label Studio already runs at {state.url} (PID {state.pid}); stop it with "
              "`cruxlab label serve --stop`")
        return 0
    print("starting Label Studio on 127.0.0.1 ...", file=sys.stderr, flush=True)
    running, generated = server.start(args.data_dir, port=args.port)
    creds = running.credentials
    print(f"Label Studio runs at {running.url} (PID {running.state.pid}, data in {running.state.data_dir})")
    if generated:
        print("Log in with (shown once; saved in "
              f"{server.credentials_path(Path(running.state.data_dir))}):\n"
              f"  e-mail:    {creds.user}\n  password:  {creds.password}\n  API token: {creds.token}")
    else:
        print(f"Log in as {creds.user} (password and token in "
              f"{server.credentials_path(Path(running.state.data_dir))})")
    if args.background:
        print("Running in the background; stop it with `cruxlab label serve --stop`")
        return 0
    print("Press Ctrl-C to stop.", flush=True)

    def _terminate(signum, frame):  # `kill PID` of this command stops the server too
        raise KeyboardInterrupt

    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        assert running.process is not None
        running.process.wait()
        print(f"Label Studio exited with status {running.process.returncode} (log {running.state.log_path})",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        running.stop()
        print("Label Studio stopped")
        return 0


def cmd_push(args: argparse.Namespace) -> int:
    from labeling.sync import push

    report = push(args.db, _client(args), args.attempt, project=args.project, reset_config=args.reset_config,
                  frame_exact=args.frame_exact)
    for a in report.attempts:
        verb = "created" if a.created else "updated"
        cell = f", timeline step {a.frame_map.per_cell} frames" if a.frame_map.per_cell > 1 else ""
        print(f"{a.attempt}: task {a.task_id} {verb} ({a.kind}, {a.n_moves} predicted moves{cell}) "
              f"{report.url}/projects/{report.projects[a.kind]}/data?task={a.task_id}")
    for note in report.notes:
        print(f"note: {note}")
    if not report.attempts:
        print("nothing to push")
    return 0


def _print_pull(report, dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    acts = ", ".join(f"{n} {a}" for a, n in sorted(report.actions.items())) or "nothing"
    print(f"{report.n_annotations} annotation(s) in {report.n_tasks} task(s): {verb} {acts}; "
          f"{report.unchanged} region(s) kept as predicted, {report.already} change(s) already in the store")
    if report.unknown_labels:
        labels = ", ".join(f"{lab!r} x{n}" for lab, n in report.unknown_labels.items())
        print(f"warning: label(s) cruxlab does not know were kept as coaches wrote them: {labels}. Add them to "
              "cruxlab.labels.MOVE_LABELS to train on them, or relabel them in Label Studio and pull again")
    for p in report.problems:
        print(f"problem: {p}")
    for n in report.notes:
        print(f"note: {n}")


def cmd_pull(args: argparse.Namespace) -> int:
    from labeling.sync import pull

    report = pull(args.db, _client(args), project=args.project, dry_run=args.dry_run)
    _print_pull(report, args.dry_run)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from labeling import server
    from labeling.client import resolve_connection
    from labeling.sync import status

    state, healthy = server.status(args.data_dir)
    if state is not None:
        print(f"local server: {state.url} (PID {state.pid}) {'up' if healthy else 'NOT answering'}; "
              f"data {state.data_dir}")
    conn = resolve_connection(args.url, args.token, data_dir=args.data_dir)
    from labeling.client import LabelStudioClient

    st = status(args.db if Path(args.db).exists() else None, LabelStudioClient(conn), project=args.project)
    print(f"server {conn.url} ({conn.source}) answers; token of {st.user}")
    if not st.projects:
        print(f"no '{args.project}' projects yet: run `cruxlab label push`")
    for title, (pid, n_tasks, n_annotated, n_annotations) in st.projects.items():
        print(f"  {title} (id {pid}): {n_tasks} task(s), {n_annotated} annotated, {n_annotations} annotation(s)")
    if st.pending is not None:
        _print_pull(st.pending, dry_run=True)
    return 0
