"""The DuckDB store: numbered migrations, short-lived connections, and the one reader/writer of each table.

    from db import connect, transaction, store
    with connect("cruxlab.duckdb") as con, transaction(con):
        attempt_id = store.insert_attempt(con, store.AttemptRecord(...))
"""

from db import store
from db.connection import DEFAULT_DB, SCHEMA_VERSION, connect, migrate, schema_version, transaction

__all__ = ["DEFAULT_DB", "SCHEMA_VERSION", "connect", "migrate", "schema_version", "store",
           "transaction"]
