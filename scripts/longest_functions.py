#!/usr/bin/env python3
"""Print the longest functions (and their parameter counts) of the cruxlab tree.

    python scripts/longest_functions.py [--top 10] [--params] [DIR ...]

Length = lines from the ``def`` to the last line of the body (decorators and the docstring included), the
number a reader has to hold in their head. ``--params`` sorts by parameter count instead. Reads files with
``ast`` only: nothing is imported or run. Default folders: the packages the library is made of (tests and
benchmarks are left out; pass them explicitly to include them).
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cruxlab", "db", "moves", "reconstruction", "dashboard", "labeling")


@dataclass(frozen=True)
class Function:
    path: str
    qualname: str
    line: int
    n_lines: int
    n_params: int


def _n_params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names = [n for n in names if n not in ("self", "cls")]
    return len(names) + (a.vararg is not None) + (a.kwarg is not None)


def functions(path: Path, root: Path = REPO) -> list[Function]:
    """Every function and method in ``path`` with its dotted name inside the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    found: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                found.append(Function(rel, name, child.lineno, child.end_lineno - first + 1, _n_params(child)))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", type=Path, help=f"folders to read (default: {' '.join(PACKAGES)})")
    ap.add_argument("--top", type=int, default=10, help="how many rows (default 10)")
    ap.add_argument("--params", action="store_true", help="sort by parameter count instead of length")
    args = ap.parse_args(argv)
    dirs = args.dirs or [REPO / p for p in PACKAGES]
    fns = [f for d in dirs for p in sorted(Path(d).rglob("*.py")) for f in functions(p.resolve())]
    key = (lambda f: (f.n_params, f.n_lines)) if args.params else (lambda f: (f.n_lines, f.n_params))
    for f in sorted(fns, key=key, reverse=True)[: args.top]:
        print(f"{f.n_lines:4d} lines {f.n_params:3d} params  {f.path}:{f.line}  {f.qualname}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
