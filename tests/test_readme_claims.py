"""Every accuracy number the README states is re-measured here: a change that moves a number fails until the
README says the new one (`cruxlab moves eval` prints the table's numbers)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
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
