"""Store subcommands: sql, export, attempts, migrate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cruxlab.cli import add_attempt_names, add_command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "sql", "run a read-only SQL query over the store",
                    "Run one read-only SQL query. Handy views: moves_current, move_details, moves_per_attempt,\n"
                    "moves_per_label, moves_per_climber, moves_per_problem, attempt_activity, label_edits.\n"
                    "It runs on a snapshot of the store (writers are never blocked), within a time, memory and\n"
                    "row limit; Ctrl-C stops it.")
    p.add_argument("query")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--timeout", type=float, metavar="S", help="stop the query after S seconds "
                   "(default: CRUXLAB_SQL_TIMEOUT or 30)")
    p.add_argument("--max-rows", type=int, metavar="N", help="return at most N rows (default: CRUXLAB_SQL_MAX_ROWS "
                   "or 100000)")
    p.add_argument("--memory-mb", type=int, metavar="MB", help="memory the query may use (default: "
                   "CRUXLAB_SQL_MEMORY_MB or 1024)")
    p.set_defaults(func=cmd_sql)

    p = add_command(sub, "export", "export moves, skeletons and label history to Parquet or CSV files",
                    "Write moves.<fmt> (current moves with original labels), skeletons.<fmt> (long form: one row per\n"
                    "attempt, frame and joint) and label_history.<fmt> into --out. --format npz writes one skeleton\n"
                    "interchange file per attempt instead.")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--format", choices=["parquet", "csv", "npz"], default="parquet")
    add_attempt_names(p)
    p.set_defaults(func=cmd_export)

    p = add_command(sub, "attempts", "list attempts, or delete one")
    p.add_argument("--delete", metavar="NAME", help="delete this attempt with its frames, moves and label history")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_attempts)

    p = add_command(sub, "migrate", "bring the database schema up to date (done automatically on write)")
    p.set_defaults(func=cmd_migrate)


def _blank_missing(df):
    """A copy of `df` whose missing values (SQL NULL: NaN, None, <NA>, NaT) are empty strings, for a table a
    person reads: a NULL grade is no grade, not 'NaN'. Float columns keep their number formatting."""
    import pandas as pd

    out = df.copy()
    for name in out.columns:
        col = out[name]
        if col.isna().any() and not pd.api.types.is_float_dtype(col):
            out[name] = col.astype(object).where(col.notna(), "")
    return out


def print_frame(df, fmt: str, out=None) -> None:
    """Print a DataFrame as an aligned table (missing values blank), CSV (missing = empty field), or a JSON
    list of row objects (missing = null)."""
    out = out or sys.stdout
    if fmt == "csv":
        df.to_csv(out, index=False)
    elif fmt == "json":
        out.write(df.to_json(orient="records", date_format="iso", default_handler=str))
        out.write("\n")
    else:
        if df.empty:
            out.write("(no rows)\n" if len(df.columns) else "(empty result)\n")
        else:
            out.write(_blank_missing(df).to_string(index=False, max_colwidth=60, na_rep="") + "\n")
        out.write(f"({len(df)} row{'s' if len(df) != 1 else ''})\n")


def cmd_sql(args: argparse.Namespace) -> int:
    from db.query import QueryCancelled, QueryError, QueryLimits, run_readonly_query

    if args.timeout is not None and not args.timeout > 0:
        raise QueryError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.max_rows is not None and args.max_rows < 1:
        raise QueryError(f"--max-rows must be >= 1, got {args.max_rows}")
    if args.memory_mb is not None and args.memory_mb < 64:
        raise QueryError(f"--memory-mb must be >= 64, got {args.memory_mb}")
    limits = QueryLimits.configured(args.timeout, args.memory_mb, args.max_rows)
    try:
        result = run_readonly_query(args.db, args.query, limits=limits)
    except QueryCancelled as exc:
        print(f"cruxlab: {exc}", file=sys.stderr)
        return 130
    print_frame(result.rows, args.format)
    if result.truncated:
        print(f"cruxlab: showing the first {limits.max_rows} rows; more matched (add LIMIT/WHERE, or raise "
              "--max-rows / CRUXLAB_SQL_MAX_ROWS)", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from db.export import export

    for path in export(args.db, args.out, fmt=args.format, attempts=args.attempt):
        print(f"wrote {path}")
    return 0


def cmd_attempts(args: argparse.Namespace) -> int:
    from db import connect, store, transaction

    if args.delete:
        with connect(args.db, create=False) as con, transaction(con):
            (attempt_id, name), = store.resolve_attempts(con, [args.delete])
            store.delete_attempt(con, attempt_id)
        print(f"deleted attempt {name!r}")
        return 0
    with connect(args.db, read_only=True) as con:
        df = store.list_attempts(con)
    print_frame(df.drop(columns=["video_path", "recorded_at"]), args.format)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from db.connection import SCHEMA_VERSION, connect

    with connect(args.db):
        pass
    print(f"{args.db}: schema version {SCHEMA_VERSION}")
    return 0
