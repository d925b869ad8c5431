"""`cruxlab import-skeleton` and `cruxlab moves ...`: detect, train, evaluate, models, synthetic data, plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cruxlab.cli import add_attempt_names, add_command
from cruxlab.errors import InputError
from cruxlab.metadata import OUTCOMES


def _seed_range(text: str) -> range:
    try:
        lo, hi = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are a range FIRST:STOP, e.g. 1000:1040, got {text!r}") from None
    if hi <= lo:
        raise argparse.ArgumentTypeError("the seed range is empty")
    return range(lo, hi)


def _rule_params(items: list[str] | None) -> dict:
    from moves.classify import RuleMoveClassifier

    known = RuleMoveClassifier().get_params()
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if key not in known or not value:
            raise InputError(f"--set takes NAME=VALUE with NAME one of {', '.join(known)}; got {item!r}")
        try:
            out[key] = float(value)
        except ValueError:
            raise InputError(f"{key} must be a number, got {value!r}") from None
    return out


def register(sub: argparse._SubParsersAction) -> None:
    _add_import_skeleton(sub)
    moves = add_command(sub, "moves", "detect, train and evaluate move classification",
                        "Cut attempts into moves and name them; train the learned classifier from coach labels.")
    msub = moves.add_subparsers(dest="moves_command", metavar="ACTION", required=True)
    _add_detect_train(msub)
    _add_eval_calibrate(msub)
    _add_data_and_models(msub)


def _add_import_skeleton(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "import-skeleton", "import skeleton .npz files (one attempt each) and detect their moves",
        "Import wall-frame skeleton files (the interchange .npz: keypoints, joint_names, fps, ...). Each file\n"
        "becomes one attempt named after the file's stem (or --name). Every file is validated before anything\n"
        "is written; re-importing the same file is a no-op.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE.npz")
    p.add_argument("--climber", required=True, help="who climbs (created on first use)")
    p.add_argument("--name", help="attempt name (only with a single file; default: the file's stem)")
    p.add_argument("--problem", help="boulder problem / route name")
    p.add_argument("--outcome", choices=OUTCOMES, help="how the attempt ended")
    p.add_argument("--no-detect", action="store_true", help="store the skeleton only; run `moves detect` later")
    p.set_defaults(func=cmd_import_skeleton)


def _add_detect_train(msub: argparse._SubParsersAction) -> None:
    p = add_command(msub, "detect", "(re)detect moves of stored attempts with the active classifier",
                    "Replaces each attempt's model moves; moves a coach corrected or added are kept.")
    add_attempt_names(p)
    p.set_defaults(func=cmd_detect)

    p = add_command(msub, "train", "fit the learned classifier from coach labels and compare it with the rules",
                    "Uses every attempt with coach edits (dashboard or Label Studio) as ground truth. Reports\n"
                    "cross-validated per-label F1 of the learned model and the active rules, stores the model\n"
                    "with a version, and makes it active when it beats the rules.")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (grouped by attempt)")
    p.add_argument("--no-activate", action="store_true", help="store the model but keep the current one active")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_train)


def _add_eval_calibrate(msub: argparse._SubParsersAction) -> None:
    p = add_command(msub, "eval", "accuracy on synthetic attempts with known moves, or on labelled real clips",
                    "Generates attempts the rules were never tuned on (default seeds 1000:1040) at each noise\n"
                    "level and prints per-label event F1 (temporal IoU >= 0.3), macro-F1 over flag, cross-over,\n"
                    "rock-over, and move-boundary F1 (start within 0.25 s).\n\n"
                    "--real DIR scores the stored attempts of --db instead, against the frame-inspected label files\n"
                    "in DIR (e.g. data/climbing/labels; matched to attempts by video file name): per-label event F1,\n"
                    "micro-F1, hand-move F1, boundary errors and the predictions inside not-move spans.")
    p.add_argument("--noise", nargs="+", default=["clean", "mild", "hard"], choices=["clean", "mild", "hard"])
    p.add_argument("--seeds", type=_seed_range, default=range(1000, 1040), help="FIRST:STOP")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="rule threshold override (repeatable)")
    p.add_argument("--plot", type=Path, metavar="DIR", help="also draw the first attempt of each noise level")
    p.add_argument("--real", type=Path, metavar="DIR", help="score stored attempts against the label files in DIR")
    add_attempt_names(p, "with --real: which stored attempt(s) to score when a video was analysed more than once")
    p.add_argument("--redetect", action="store_true",
                   help="with --real: score a fresh detection by the active classifier (the store is not changed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = add_command(msub, "calibrate", "fit the move-confidence calibration and report its reliability",
                    "Fits moves/calibration.json: for imported skeletons a logistic map from how clearly a move\n"
                    "meets its rule and how well its limb was seen to the chance it is right, fitted on synthetic\n"
                    "attempts (seeds --seeds, mild and hard noise); for moves read from videos, with --real DIR,\n"
                    "the rate at which foot-moves and other moves are right on the labelled real clips analysed\n"
                    "into --db. Prints its reliability on synthetic attempts it never saw and, with --real,\n"
                    "leave-one-clip-out on the real clips (each scored by a fit without it) next to a synthetic-\n"
                    "only fit. Without real clips, video moves get the synthetic map (over-confident on phone\n"
                    "footage): `cruxlab --db cruxlab.duckdb moves calibrate --real data/climbing/labels`.")
    p.add_argument("--real", type=Path, metavar="DIR", help="label files of real clips analysed into --db")
    p.add_argument("--seeds", type=_seed_range, default=range(0, 30), help="synthetic training seeds FIRST:STOP")
    p.add_argument("--check-seeds", type=_seed_range, default=range(1000, 1010), help="synthetic seeds to check on")
    p.add_argument("--out", type=Path, help="where to write the calibration (default: moves/calibration.json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)


def _add_data_and_models(msub: argparse._SubParsersAction) -> None:
    p = add_command(msub, "synth", "write synthetic skeleton files with known moves (+ truth JSON and plots)")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--n", type=int, default=3, help="number of attempts")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--noise", default="mild", choices=["clean", "mild", "hard"])
    p.add_argument("--plot", action="store_true", help="draw each attempt to a PNG")
    p.set_defaults(func=cmd_synth)

    p = add_command(msub, "plot", "draw a stored attempt: skeleton, trajectories, moves, angles, contacts")
    p.add_argument("attempt", help="attempt name")
    p.add_argument("--out", type=Path, help="PNG path (default: artifacts/<attempt>-moves.png)")
    p.set_defaults(func=cmd_plot)

    p = add_command(msub, "models", "list stored move classifiers (the active one is used by detect)")
    p.set_defaults(func=cmd_models)

    p = add_command(msub, "use", "make a stored model active ('rules' = the built-in rule defaults)")
    p.add_argument("version")
    p.set_defaults(func=cmd_use)

    p = add_command(msub, "rules", "store rule thresholds as a model version and make it active",
                    "e.g. `cruxlab moves rules --set flag_min_s=0.5 --set cross_margin=0.08`")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", required=True)
    p.set_defaults(func=cmd_rules)


def cmd_import_skeleton(args: argparse.Namespace) -> int:
    from moves.ingest import import_skeletons

    if args.name and len(args.files) > 1:
        raise InputError("--name names a single attempt; import several files without it (names = file stems)")
    results = import_skeletons(
        args.db, args.files, climber=args.climber, name=args.name, problem=args.problem, outcome=args.outcome,
        detect=not args.no_detect,
    )
    for r in results:
        if r.created:
            moves = "" if r.n_moves is None else f", {r.n_moves} moves ({r.model_version})"
            print(f"imported {r.path} as attempt {r.name!r}: {r.n_frames} frames at {r.fps:g} fps{moves}")
        else:
            print(f"{r.path} was already imported as attempt {r.name!r}; nothing changed")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from moves.service import detect_attempts

    for name, n, version in detect_attempts(args.db, args.attempt):
        print(f"{name}: {n} moves ({version})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from moves.service import train_from_db

    report = train_from_db(args.db, folds=args.folds, activate=not args.no_activate)
    if args.json:
        print(json.dumps({"version": report.version, "activated": report.activated,
                          "learned_f1": report.learned_f1, "rules_f1": report.rules_f1,
                          "learned_macro_f1": report.learned_macro, "rules_macro_f1": report.rules_macro,
                          "n_attempts": report.n_attempts, "n_labels": report.n_labels}, indent=2))
    else:
        print(report.format())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.real is not None:
        return _cmd_eval_real(args)
    from moves.evaluate import run_synthetic_eval

    params = _rule_params(args.set)
    results = {}
    for noise in args.noise:
        report = run_synthetic_eval(args.seeds, noise, rule_params=params, plot_dir=args.plot)
        results[noise] = report
        if not args.json:
            print(report.format(f"== {noise} noise, seeds {args.seeds.start}:{args.seeds.stop} =="))
            print()
    if args.json:
        print(json.dumps({k: r.as_dict() for k, r in results.items()}, indent=2))
    return 0


def _cmd_eval_real(args: argparse.Namespace) -> int:
    import sys

    from moves.service import real_eval

    report, missing = real_eval(args.db, args.real, args.attempt, redetect=args.redetect)
    for clip in missing:
        print(f"note: no stored attempt analyses {clip}; analyse it with `cruxlab --db {args.db} analyze "
              f"data/climbing/{clip} --climber NAME` to score it", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.format(f"== real clips: {args.real} against {args.db} =="))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from moves.calibration import (
        CALIBRATION_FILE, fit_sets, leave_one_clip_out, reliability, scored, synthetic_set,
    )

    syn = synthetic_set(args.seeds)
    real = []
    if args.real is not None:
        from moves.service import real_labelled

        real = real_labelled(args.db, args.real)
    if not real:
        import sys

        print(f"note: no labelled real clip in {args.db}: moves read from videos get the synthetic map, which is "
              f"over-confident on phone footage; analyse the clips of a label folder into --db and pass it, e.g. "
              f"`cruxlab --db {args.db} moves calibrate --real data/climbing/labels`", file=sys.stderr)
    cal = fit_sets([*syn, *real])
    report = {"synthetic seeds it never saw": reliability(*scored(cal, synthetic_set(args.check_seeds)))}
    if real:
        p, right, per_clip = leave_one_clip_out(syn, real)
        report["real clips, each left out of the fit"] = {**reliability(p, right), "per_clip": per_clip}
        report["real clips, fitted on synthetic attempts only"] = reliability(*scored(fit_sets(syn), real))
    report["fitted_on"] = {"synthetic_seeds": f"{args.seeds.start}:{args.seeds.stop}", "noise": ["mild", "hard"],
                           "real_clips": sorted({s.group for s in real})}
    path = replace(cal, report=report).save(args.out or CALIBRATION_FILE)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, r in report.items():
        if name == "fitted_on" or not r.get("n"):
            continue
        print(f"== {name}: {r['n']} moves, expected calibration error {r['ece']:.3f}; 'sure' (>= 0.7): "
              f"{r['sure_n']} moves, {r['sure_precision']} right; unsure: {r['unsure_precision']} right")
        for b in r["bins"]:
            print(f"   confidence {b['bin']}: {b['n']:4d} moves, mean {b['mean_confidence']:.2f}, right {b['right']:.2f}")
        for clip, c in r.get("per_clip", {}).items():
            print(f"   left out {clip}: {c['n']} moves, ECE {c['ece']:.3f}, sure {c['sure_n']} "
                  f"({c['sure_precision']} right), unsure {c['n'] - c['sure_n']} ({c['unsure_precision']} right)")
    print(f"wrote {path}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from moves.plot import plot_attempt
    from moves.synthetic import generate_attempt

    args.out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seed, args.seed + args.n):
        a = generate_attempt(seed, args.noise)
        path = a.skeleton.save(args.out / f"synthetic-{args.noise}-{seed}.npz")
        truth = path.with_suffix(".moves.json")
        truth.write_text(json.dumps({"seed": seed, "noise": args.noise, "fps": a.skeleton.fps,
                                     "wall_angle_deg": a.wall_angle_deg, "height_m": a.height_m,
                                     "moves": [asdict(m) for m in a.moves]}, indent=1))
        print(f"wrote {path} ({a.skeleton.n_frames} frames, {len(a.moves)} true moves) and {truth.name}")
        if args.plot:
            plot_attempt(a.skeleton, truth=a.moves, out=path.with_suffix(".png"),
                         title=f"synthetic seed {seed}, {args.noise} noise")
            print(f"drew {path.with_suffix('.png')}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from cruxlab.labels import Move
    from cruxlab.paths import data_path
    from db import connect, store
    from moves.plot import plot_attempt

    with connect(args.db, read_only=True) as con:
        (attempt_id, name), = store.resolve_attempts(con, [args.attempt])
        skeleton = store.read_skeleton(con, attempt_id)
        df = store.current_moves(con, attempt_id)
    moves = [Move(int(r.start_frame), int(r.end_frame), r.label, r.limb, float(r.confidence))
             for r in df.itertuples()]
    out = args.out or data_path("artifacts", name, "-moves.png")
    plot_attempt(skeleton, predicted=moves, out=out, title=f"attempt {name}")
    print(f"drew {out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from db import connect, store
    from db.cli import print_frame

    with connect(args.db, read_only=True) as con:
        df = store.list_models(con)
    if df.empty or not df.active.any():
        from moves.classify import RULES_VERSION

        print(f"active: built-in rules ({RULES_VERSION})")
    print_frame(df.drop(columns=["metrics"]), "table")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    from db import connect, transaction
    from moves.service import activate_model

    with connect(args.db, create=False) as con, transaction(con):
        activate_model(con, args.version)
    print(f"active model: {args.version}; run `cruxlab moves detect` to relabel stored attempts")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from db import connect, transaction
    from moves.classify import RuleMoveClassifier
    from moves.service import save_model

    clf = RuleMoveClassifier(**_rule_params(args.set)).fit()
    with connect(args.db) as con, transaction(con):
        version = save_model(con, clf, kind="rules", version=clf.version, activate=True)
    print(f"active model: {version}; run `cruxlab moves detect` to relabel stored attempts")
    return 0
