"""`cruxlab` command line: a thin layer over the library.

Each package contributes its subcommands through `register(subparsers)` in its own `cli.py`; command
functions import heavy packages only when they run, so `cruxlab --help` is instant.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys

from cruxlab import __version__
from cruxlab.errors import CruxlabError

COMMAND_MODULES = (
    "db.cli", "moves.cli", "reconstruction.cli", "reconstruction.backends.cli", "dashboard.cli", "labeling.cli",
)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cruxlab",
        formatter_class=_Formatter,
        description=(
            "Climbing-move analytics: turn a phone video of a boulderer into a metric 3D skeleton in the wall's\n"
            "frame, cut it into moves (reach, cross-over, flag, rock-over, ...), store everything in DuckDB,\n"
            "and browse, correct and query it.\n\n"
            "Typical session:\n"
            "  cruxlab analyze climb.mp4 --climber Janja     # video -> skeleton -> moves in ./cruxlab.duckdb\n"
            "  cruxlab dashboard                             # browse, watch, correct labels\n"
            "  cruxlab sql \"SELECT * FROM moves_per_label\"   # ask questions"
        ),
    )
    parser.add_argument("--db", default="cruxlab.duckdb", help="DuckDB file of the store")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details of every stage")
    parser.add_argument("--version", action="version", version=f"cruxlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def add_command(sub: argparse._SubParsersAction, name: str, help: str, description: str | None = None
                ) -> argparse.ArgumentParser:
    """Create a subcommand parser with the house formatter (defaults shown in --help)."""
    return sub.add_parser(name, help=help, description=description or help, formatter_class=_Formatter)


def add_attempt_names(parser: argparse.ArgumentParser,
                      help: str = "only these attempts (one or more; repeatable)") -> None:
    """`--attempt NAME ...`, repeatable: both `--attempt a b` and `--attempt a --attempt b` give [a, b]."""
    parser.add_argument("--attempt", action="extend", nargs="+", metavar="NAME", help=help)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except CruxlabError as exc:
        print(f"cruxlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cruxlab: interrupted; nothing was written for the unfinished attempt", file=sys.stderr)
        return 130


def console(argv: list[str] | None = None) -> int:
    """The `cruxlab` command: `main`, after which the process ends. Every object left is frozen out of the
    garbage collector first: the interpreter's final collections would walk all of them (an analysis leaves
    MediaPipe's, NumPy's and DuckDB's) only to free memory the operating system takes back anyway: ~0.06 of
    the ~0.1 s an analysis takes to exit. Objects are still released as the modules are torn down (their
    finalizers run); only garbage already unreachable in reference cycles is left to the operating system."""
    code = main(argv)
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
