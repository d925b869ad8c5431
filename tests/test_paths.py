"""File names derived from data stay inside their folder (export, moves plot, render, Label Studio media)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli

from cruxlab.paths import MAX_STEM_BYTES, data_path, safe_filename

HOSTILE = ["../../x", "/etc/passwd", "..", ".", "a/b", "a\\b", "x\x00y", "-rf", ".hidden", "CON", "nul.txt",
           "é" * 300, "a" * 300, "", "   ", "tab\tand\nnewline", "😀 climb"]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_filename_is_one_harmless_component(tmp_path, name):
    fn = safe_filename(name, ".npz")
    assert "/" not in fn and "\\" not in fn and "\x00" not in fn and "\n" not in fn
    assert not fn.startswith((".", "-"))
    assert fn.endswith(".npz") and len(fn.encode()) <= MAX_STEM_BYTES + 4
    assert fn.split(".")[0].upper() not in ("CON", "NUL")
    p = data_path(tmp_path, name, ".npz")
    assert p.parent == tmp_path
    p.write_bytes(b"ok")  # the OS accepts it (no ENAMETOOLONG, no missing folder)


def test_safe_names_stay_and_changed_names_stay_distinct():
    assert safe_filename("janja-attempt-1", ".npz") == "janja-attempt-1.npz"
    assert safe_filename("Škof_2.b") == "Škof_2.b"                 # letters of any script are kept
    assert safe_filename("a/b") != safe_filename("a:b") != safe_filename("a-b")
    assert safe_filename("a" * 300) != safe_filename("a" * 301)     # the cut keeps a digest of the whole name
    assert safe_filename("Blue 7", ascii_only=True, lower=True, tag=False) == "blue-7"


def _import(db, tmp_path, name, skeleton_file):
    code, out, err = run_cli("--db", str(db), "import-skeleton", str(skeleton_file), "--climber", "A",
                             "--name", name, "--no-detect")
    assert code == 0, err


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs-escaped", "x" * 300])
def test_export_npz_and_moves_plot_write_inside_their_folder(tmp_path, monkeypatch, skeleton_file, name):
    db = tmp_path / "s.duckdb"
    _import(db, tmp_path, name, skeleton_file)
    out = tmp_path / "deep" / "er" / "out"
    code, stdout, err = run_cli("--db", str(db), "export", "--out", str(out), "--format", "npz")
    assert code == 0, err
    written = list(out.iterdir())
    assert len(written) == 1 and written[0].suffix == ".npz"
    assert not (tmp_path / "deep" / "escaped.npz").exists() and not list(tmp_path.glob("**/abs-escaped.npz"))
    data = np.load(written[0])
    assert data["keypoints"].shape[1:] == (21, 3)

    monkeypatch.chdir(tmp_path / "deep")
    code, stdout, err = run_cli("--db", str(db), "moves", "plot", name)
    assert code == 0, err
    pngs = list((tmp_path / "deep" / "artifacts").iterdir())
    assert len(pngs) == 1 and pngs[0].name.endswith("-moves.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "janja-attempt-1.npz", "s.duckdb"]
