"""`cruxlab models`: which model backends are installed, configured and usable."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `models` subcommand."""
