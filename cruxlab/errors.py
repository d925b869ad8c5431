"""User-facing errors. Every message says what went wrong *and* what to do about it.

The CLI prints `CruxlabError`s without a traceback and exits with status 2; anything else is a bug.
"""


class CruxlabError(Exception):
    """An error caused by input or environment, with a message that names the fix."""


class InputError(CruxlabError):
    """A file or argument the user gave is unusable (wrong format, shape, values)."""


class DatabaseBusyError(CruxlabError):
    """Another process holds the DuckDB file's write lock and did not release it in time."""


class DatabaseError(CruxlabError):
    """The database is missing, of an unknown schema, or refused an operation."""


class BackendUnavailableError(CruxlabError):
    """A model backend's packages or weight files are missing; the message names what to install or set."""
