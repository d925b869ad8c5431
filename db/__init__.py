"""The DuckDB store: numbered migrations, short-lived connections, and the one reader/writer of each table.

    from db import connect, transaction, store
    with connect("cruxlab.duckdb") as con, transaction(con):
        attempt_id = store.insert_attempt(con, store.AttemptRecord(...))

The names load on first use (DuckDB and Arrow with them), so importing a submodule such as db.cli, which
every `cruxlab` command does to build its parser, stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "store": "db.store", "DEFAULT_DB": "db.connection", "SCHEMA_VERSION": "db.connection",
    "connect": "db.connection", "migrate": "db.connection", "schema_version": "db.connection",
    "transaction": "db.connection",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name == "store":
        return importlib.import_module("db.store")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'db' has no attribute {name!r}")
