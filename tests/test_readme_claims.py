"""Every accuracy number the README states is re-measured here: a change that moves a number fails until the
README says the new one (`cruxlab moves eval` prints the synthetic table's numbers, `cruxlab moves eval --real
data/climbing/labels` on the two bundled clips analysed with default options the real-footage table's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
LABEL_FILES = README.parent / "data" / "climbing" / "labels"
LABELS = ("reach", "cross-over", "match", "foot-move", "flag", "rock-over", "dyno")


def accuracy_table() -> tuple[range, dict[str, dict[str, float]]]:
    """(seeds, {noise: {label | 'macro' | 'boundary': F1}}) from the README's synthetic accuracy section."""
    text = README.read_text(encoding="utf-8")
    seeds = re.search(r"\*\*Accuracy\*\* \(`cruxlab moves eval`.*?seeds (\d+)-(\d+)", text, re.S)
    assert seeds, "the README's accuracy section no longer names its seeds"
    header = re.search(r"^\| noise \|(.*)\|\s*$", text, re.M)
    assert header, "the README's accuracy table is gone"
    columns = [c.strip() for c in header.group(1).split("|")]
    assert columns == [*LABELS, "macro-F1 flag/cross/rock", "boundary F1"], columns
    rows = {}
    for noise in ("clean", "mild", "hard"):
        row = re.search(rf"^\| {noise}\b[^|]*\|(.*)\|\s*$", text, re.M)
        assert row, f"no {noise} row in the README's accuracy table"
        values = [float(v.strip().strip("*")) for v in row.group(1).split("|")]
        rows[noise] = dict(zip([*LABELS, "macro", "boundary"], values))
    return range(int(seeds.group(1)), int(seeds.group(2)) + 1), rows


SEEDS, TABLE = accuracy_table()


@pytest.mark.slow
@pytest.mark.parametrize("noise", sorted(TABLE))
def test_readme_accuracy_table_is_what_the_eval_measures(noise):
    from moves.evaluate import run_synthetic_eval

    report = run_synthetic_eval(SEEDS, noise)
    measured = {label: report.per_label[label].f1 for label in LABELS}
    measured["macro"] = report.macro_f1
    measured["boundary"] = report.boundary.f1
    wrong = {k: (TABLE[noise][k], round(v, 3)) for k, v in measured.items() if abs(v - TABLE[noise][k]) > 0.0005}
    assert not wrong, f"README says / eval measures, {noise} noise, seeds {SEEDS.start}-{SEEDS.stop - 1}: {wrong}"


def real_footage_rows() -> dict[str, dict[str, str]]:
    """{row name: {column: cell}} of the README's "now" rows of the real-footage table (bold marks and the
    "(4 of 4)" counts dropped)."""
    text = README.read_text(encoding="utf-8")
    start = text.find("**Accuracy on real footage**")
    assert start >= 0, "the README's real-footage accuracy section is gone"
    header = re.search(r"^\| \| (.*)\|\s*$", text[start:], re.M)
    assert header, "the README's real-footage table is gone"
    columns = [c.strip().strip("*") for c in header.group(1).split("|")]
    rows = {}
    for m in re.finditer(r"^\| (now[^|]*)\|(.*)\|\s*$", text[start:], re.M):
        cells = [re.sub(r"\(.*?\)", "", c).strip().strip("*").strip() for c in m.group(2).split("|")]
        rows[m.group(1).strip()] = dict(zip(columns, cells))
    assert {"now, both"} <= set(rows) and len(rows) >= 3, f"the real-footage table lost its 'now' rows: {sorted(rows)}"
    return rows


@pytest.mark.slow
def test_readme_real_footage_table_is_what_the_eval_measures(bundled_store):
    """Every cell of the "now" rows: each clip's row (matched by its number of labelled events) and both clips
    pooled. F1 is '-' where the label has no true and no predicted event."""
    from moves.evaluate import RealReport
    from moves.service import real_eval

    report, missing = real_eval(bundled_store, LABEL_FILES)
    assert not missing
    wrong = {}
    for name, claimed in real_footage_rows().items():
        if name == "now, both":
            clips = report.clips
        else:
            n_events = int(re.search(r"\((\d+) events\)", name).group(1))
            clips = tuple(c for c in report.clips if len(c.truth) == n_events)
            assert len(clips) == 1, f"README row {name!r}: no single bundled clip with {n_events} labelled events"
        r = RealReport(clips, report.labels, report.min_iou).as_dict()
        measured = {label: f"{s['f1']:.3f}" if s["support"] or s["fp"] else "-" for label, s in r["per_label"].items()}
        measured.update({"dyno (false)": str(r["per_label"]["dyno"]["fp"]), "micro-F1": f"{r['micro_f1']:.3f}",
                         "hand-move F1": f"{r['hand_move_f1']:.3f}", "in not-move spans": str(r["not_move_predictions"])})
        wrong.update({f"{name} / {col}": (cell, measured[col]) for col, cell in claimed.items()
                      if cell != measured[col]})
    assert not wrong, (f"README says / eval measures on the bundled clips: {wrong}; update the README's real-footage "
                       "table (`cruxlab moves eval --real data/climbing/labels` prints the numbers)")
