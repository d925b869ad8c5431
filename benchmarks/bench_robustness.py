"""Does the real-footage move detection generalise? Both bundled clips, perturbed with known ground truth.

    .venv/bin/python -m benchmarks.bench_robustness [--only NAME ...] [--keep DIR] [--cache DIR]

Each bundled clip (data/climbing/*.mp4) is re-encoded four ways and its frame-inspected label file
(data/climbing/labels/*.json) transformed exactly alongside it:

- mirror:    every frame flipped left <-> right; each `limb` of the labels swaps its side (left_hand <->
             right_hand, left_foot <-> right_foot); move kinds and frames unchanged.
- half-res:  half the width and height (a small climber, like a phone further away).
- half-fps:  every other frame dropped (frame i of the new clip is frame 2i); label frames are halved and
             rounded outward (start down, end up), `fps` and `n_frames` follow.
- low-rate:  the same frames re-encoded at 0.5 Mbit/s (the originals carry 1.8-3.3 Mbit/s): compression noise.

The geometric variants are encoded at 0.2 bit per pixel (more than the originals), so only the named change
differs. Every variant is analysed like a user would (`cruxlab analyze`, default options; stage cache in
--cache) into its own store and scored with `cruxlab moves eval --real` against its transformed labels.
Prints per clip x variant: micro event-F1, hand-move F1, per-label F1 and predictions inside not-move spans;
writes the whole result to artifacts/robustness.json. ~10-20 min on 2 busy cores (the originals come from
the cache when it holds them).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("warp-fixed-input", "warp-dynamic-input")
VARIANTS = ("original", "mirror", "half-res", "half-fps", "low-rate")
LOW_RATE = 500_000          # bit/s of the low-rate variant
GEOMETRIC_BPP = 0.2         # bit per pixel of the geometric variants (near-lossless for these clips)
SIDE_SWAP = {"left": "right", "right": "left"}


def mirror_limb(limb: str) -> str:
    """left_hand <-> right_hand, left_foot <-> right_foot; "body" (and anything without a side) unchanged."""
    side, _, part = limb.partition("_")
    return f"{SIDE_SWAP[side]}_{part}" if side in SIDE_SWAP and part else limb


def transform_labels(labels: dict, variant: str, clip_name: str) -> dict:
    """The label file of `variant` of a clip: same JSON format (moves.evaluate.load_labels), frames and
    limbs mapped exactly (see the module docstring)."""
    out = json.loads(json.dumps(labels))
    out["clip"] = clip_name
    out["labelled_by"] = f"{labels.get('labelled_by', '')}, transformed for the {variant} variant".lstrip(", ")
    if variant == "mirror":
        for ev in out["events"]:
            ev["limb"] = mirror_limb(ev["limb"])
    elif variant == "half-fps":
        out["fps"] = labels["fps"] / 2
        out["n_frames"] = math.ceil(labels["n_frames"] / 2)
        for item in out["events"] + out.get("not_moves", []):
            item["start_frame"] = item["start_frame"] // 2
            item["end_frame"] = min(math.ceil(item["end_frame"] / 2), out["n_frames"] - 1)
    return out


def _frames(src: Path):
    """(fps, iterator of RGB frames in display orientation, full size) of a video."""
    from reconstruction.video import iter_batches, probe, select_frames

    info = probe(src, with_hash=False)
    return info, (img for batch in iter_batches(info, select_frames(info), max_side=None) for img in batch.frames)


def make_variant(src: Path, dst: Path, variant: str) -> Path:
    """Write `variant` of the video `src` to `dst` (an .mp4)."""
    import cv2

    from reconstruction.video import write_video

    info, frames = _frames(src)
    w, h, fps = info.width, info.height, info.fps
    if info.rotation in (90, 270):
        w, h = h, w
    if variant == "mirror":
        frames = (np.ascontiguousarray(img[:, ::-1]) for img in frames)
    elif variant == "half-res":
        w, h = w // 2, h // 2
        frames = (cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) for img in frames)
    elif variant == "half-fps":
        fps = fps / 2
        frames = (img for i, img in enumerate(frames) if i % 2 == 0)
    elif variant != "low-rate":
        raise ValueError(f"unknown variant {variant!r}: one of {', '.join(VARIANTS[1:])}")
    rate = LOW_RATE if variant == "low-rate" else int(GEOMETRIC_BPP * w * h * fps)
    return write_video(dst, frames, fps, bitrate=rate)


def run_variant(variant: str, work: Path, cache: Path) -> dict:
    """Build (unless original), analyse and score both clips of one variant; the eval report as a dict."""
    from moves.service import real_eval
    from reconstruction.pipeline import AnalyzeOptions, analyze

    vdir, ldir = work / variant / "video", work / variant / "labels"
    vdir.mkdir(parents=True, exist_ok=True)
    ldir.mkdir(parents=True, exist_ok=True)
    db = work / variant / "store.duckdb"
    db.unlink(missing_ok=True)
    timings = {}
    for clip in CLIPS:
        src = ROOT / "data" / "climbing" / f"{clip}.mp4"
        labels = json.loads((ROOT / "data" / "climbing" / "labels" / f"{clip}.json").read_text())
        if variant == "original":
            video, name = src, src.name
        else:
            name = f"{clip}--{variant}.mp4"
            video = vdir / name
            if not video.exists():
                make_variant(src, video, variant)
        (ldir / f"{clip}.json").write_text(json.dumps(transform_labels(labels, variant, name), indent=1))
        t = time.perf_counter()
        analyze(db, video, AnalyzeOptions(climber="Tommy", cache_dir=cache), progress=False)
        timings[clip] = round(time.perf_counter() - t, 1)
    report, missing = real_eval(db, ldir)
    assert not missing, missing
    out = {"all": report.as_dict(), "analyse_s": timings}
    for c in report.clips:
        out[c.clip.split("--")[0].removesuffix(".mp4")] = report._sub([c]).as_dict()
    return out


def _row(clip: str, variant: str, d: dict) -> str:
    per = d["per_label"]
    labels = ("reach", "match", "foot-move", "flag", "rock-over")
    cells = "  ".join(f"{per[k]['f1']:.2f}" if k in per and per[k]["tp"] + per[k]["fn"] + per[k]["fp"] else "  - "
                      for k in labels)
    return (f"{clip:<19}{variant:<10}{d['micro_f1']:6.3f}  {d['hand_move_f1']:6.3f}  {cells}"
            f"  {d['not_move_predictions']:3d}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=VARIANTS, help="variants to run (default: all)")
    ap.add_argument("--keep", type=Path, default=ROOT / "cache" / "robustness",
                    help="folder of the perturbed clips, labels and stores (default: cache/robustness)")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache", help="analysis stage cache (default: cache/)")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "robustness.json")
    args = ap.parse_args([] if argv is None else argv)
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    result = {"variants": {}, "load_avg_start": load}
    if args.out.exists():  # --only adds to (or refreshes) the variants of an earlier run
        result["variants"] = json.loads(args.out.read_text()).get("variants", {})
    for variant in args.only or VARIANTS:
        t = time.perf_counter()
        result["variants"][variant] = run_variant(variant, args.keep, args.cache)
        print(f"{variant}: {time.perf_counter() - t:.0f} s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(f"\nload average at start: {' '.join(load)}")
    print(f"{'clip':<19}{'variant':<10}{'micro':>6}  {'hand':>6}  reach match foot  flag  rock  in-not-move")
    for clip in (*CLIPS, "all"):
        for variant in VARIANTS:
            if variant in result["variants"]:
                print(_row(clip, variant, result["variants"][variant][clip]))
    print(f"(written to {args.out})")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
