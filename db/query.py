"""Read-only SQL for users (CLI `sql`, dashboard SQL page)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from cruxlab.errors import CruxlabError
from db.connection import sandboxed_reader


class QueryError(CruxlabError):
    """The user's SQL failed or tried to change something."""


def run_readonly_query(db_path: str | Path, sql: str, timeout_s: float | None = None) -> pd.DataFrame:
    """Run one query on a read-only, sandboxed connection and return the rows.

    Whatever the text says, the store cannot change: the connection is read-only, external file access is
    off, and the configuration is locked. Errors come back as QueryError with DuckDB's explanation.
    """
    if not sql or not sql.strip():
        raise QueryError("the query is empty; try: SELECT * FROM moves_per_label")
    with sandboxed_reader(db_path, timeout_s=timeout_s) as con:
        try:
            rel = con.sql(sql)
        except duckdb.Error as exc:
            raise _explain(exc) from None
        if rel is None:
            raise QueryError("the statement returned no rows (only SELECT-style queries are allowed here)")
        try:
            return rel.df()
        except duckdb.Error as exc:
            raise _explain(exc) from None


_REFUSALS = ("read-only mode", "disabled by configuration", "configuration has been locked")


def _explain(exc: Exception) -> QueryError:
    first = _first_line(exc)
    if any(marker in first for marker in _REFUSALS):
        return QueryError(f"refused: queries here are read-only and cannot change the store or touch files ({first})")
    return QueryError(f"query failed: {first}")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
