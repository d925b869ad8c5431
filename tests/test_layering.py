"""The import graph follows the layering (issue 13), and the light packages stay light.

    cruxlab (shared vocabulary)  <-  db  <-  moves  <-  reconstruction  <-  dashboard, labeling

A package may import its own modules and any package of a LOWER layer, never a higher one or one beside it:
db knows only the vocabulary, moves reads and writes through db, reconstruction's pipeline stores through
moves.ingest, and nothing imports dashboard or labeling (they are leaves; neither imports the other).
Every import counts, the lazy ones inside functions too: a lazy import is still a dependency.

`cruxlab.cli` is the composition root: it loads each package's `cli.py` by name (importlib strings), so it
does not appear as an edge here, and every `*/cli.py` may use its `add_command` helper like any cruxlab module.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = {"cruxlab": 0, "db": 1, "moves": 2, "reconstruction": 3, "dashboard": 4, "labeling": 4}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str) -> set[str]:
    """Every module `source` imports (absolute names, relative ones resolved against `module`), wherever the
    import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
    return found


def edges() -> list[tuple[str, str]]:
    """(importing module, imported module) for every import between two of the project's packages."""
    out = []
    for pkg in LAYERS:
        for path in sorted((REPO / pkg).rglob("*.py")):
            module = _module_name(path)
            for target in imports_of(path.read_text(encoding="utf-8"), module):
                if target.split(".")[0] in LAYERS and target.split(".")[0] != pkg:
                    out.append((module, target))
    return out


def violations(pairs: list[tuple[str, str]]) -> list[str]:
    bad = []
    for module, target in pairs:
        src, dst = module.split(".")[0], target.split(".")[0]
        if LAYERS[dst] >= LAYERS[src]:
            bad.append(f"{module} imports {target} ({src} is layer {LAYERS[src]}, {dst} is layer {LAYERS[dst]})")
    return bad


def test_the_checker_sees_lazy_and_relative_imports():
    src = "import numpy\ndef f():\n    from moves.service import detect_and_store\n    from . import store\n"
    assert imports_of(src, "db.ingest") == {"numpy", "moves.service", "db"}
    assert violations([("db.ingest", "moves.service")]) and violations([("dashboard.app", "labeling.sync")])
    assert not violations([("reconstruction.pipeline", "moves.ingest"), ("moves.service", "db.store")])


def test_import_graph_follows_the_layers():
    pairs = edges()
    assert len(pairs) > 50  # the walk really read the packages
    assert violations(pairs) == []


def test_dashboard_and_labeling_read_the_store_through_db_only():
    """They may draw with reconstruction.render (it takes a db.store.RenderData), but every store read goes
    through db: no duckdb of their own outside dashboard/data.py, the dashboard's one data module."""
    for pkg in ("dashboard", "labeling"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            if path.relative_to(REPO).as_posix() == "dashboard/data.py":
                continue
            module = _module_name(path)
            found = imports_of(path.read_text(encoding="utf-8"), module)
            assert "duckdb" not in found, f"{module} opens DuckDB itself; read through db.store"


_HEAVY_MODELS = ["torch", "torchvision", "mediapipe", "sam2", "mmpose", "mmdet", "mmcv", "mmengine",
                 "onnxruntime", "pycolmap", "streamlit", "label_studio_sdk", "selenium", "ray"]
_HEAVY_MEDIA = ["cv2", "av", "plotly", "matplotlib"]


def _modules_of(*packages: str, skip: tuple[str, ...] = ()) -> list[str]:
    return [m for pkg in packages for m in (_module_name(p) for p in sorted((REPO / pkg).rglob("*.py")))
            if not m.startswith(skip)]


def _loaded_after_import(modules: list[str], watch: list[str]) -> list[str]:
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print(json.dumps([n for n in {watch!r} if n in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("packages,watch", [
    (("cruxlab", "db", "moves"), _HEAVY_MODELS + _HEAVY_MEDIA),
    (("reconstruction", "labeling"), _HEAVY_MODELS),
], ids=["vocabulary-store-moves", "reconstruction-labeling"])
def test_importing_a_package_pulls_no_heavy_package(packages, watch):
    """Heavy packages sit behind their adapter and load when used: importing every module of cruxlab, db and
    moves loads no model, UI or video package; reconstruction and labeling load no model or UI package
    (their backends import the model inside the adapter when it is built)."""
    modules = _modules_of(*packages)
    assert len(modules) > 10
    assert _loaded_after_import(modules, watch) == []
