"""Limits on what cruxlab accepts and runs, in one place (README "Limits" lists them).

Physical limits are constants: a skeleton or video outside them is not a climb cruxlab can analyse. Resource
limits read an environment variable each time they are asked for, so a deployment can raise or lower them
without code changes; a malformed value is an error that names the variable.
"""

from __future__ import annotations

import os

from cruxlab.errors import InputError

#: Frame rates cruxlab analyses (frames per second). Phones film 24-240 fps; slow motion up to 960.
MIN_FPS = 1.0
MAX_FPS = 1000.0
#: Shortest attempt stored, seconds: one move takes about half a second, and SfM needs two keyframes.
MIN_DURATION_S = 1.0
#: Largest coordinate of a stored skeleton, metres from the wall frame's origin (a wall is tens of metres).
MAX_ABS_COORD_M = 1000.0


def env_number(name: str, default: float, *, minimum: float = 0.0, integer: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise InputError(f"{name}={raw!r} is not a {'whole ' if integer else ''}number; unset it or give one "
                         f"(default {default:g})") from None
    if not value >= minimum:
        raise InputError(f"{name}={raw!r} must be >= {minimum:g} (default {default:g})")
    return value


def max_import_frames() -> int:
    """Most frames one imported skeleton file may hold (CRUXLAB_MAX_FRAMES, default 1,000,000: 4.6 hours at
    60 fps; importing that many takes ~1.5 GB of memory)."""
    return int(env_number("CRUXLAB_MAX_FRAMES", 1_000_000, minimum=1, integer=True))


def max_npz_bytes() -> int:
    """Most bytes the arrays of one .npz file may declare, uncompressed (CRUXLAB_MAX_NPZ_MB, default 1024 MB).
    Checked from the zip and .npy headers before anything is decompressed, so a zip bomb costs nothing."""
    return int(env_number("CRUXLAB_MAX_NPZ_MB", 1024, minimum=0.01) * 1024 * 1024)


def sql_timeout_s() -> float:
    """Seconds a user query (`cruxlab sql`, dashboard SQL page) may run (CRUXLAB_SQL_TIMEOUT, default 30)."""
    return env_number("CRUXLAB_SQL_TIMEOUT", 30.0, minimum=0.1)


def sql_memory_mb() -> int:
    """Memory a user query may take, MB (CRUXLAB_SQL_MEMORY_MB, default 1024); spilling to disk is capped at
    the same size."""
    return int(env_number("CRUXLAB_SQL_MEMORY_MB", 1024, minimum=64))


def sql_max_rows() -> int:
    """Rows a user query returns at most (CRUXLAB_SQL_MAX_ROWS, default 100,000); the rest is cut and said so."""
    return int(env_number("CRUXLAB_SQL_MAX_ROWS", 100_000, minimum=1, integer=True))


def sql_snapshot_mb() -> float:
    """Largest store, MB, that user queries copy to a snapshot first so they never block writers
    (CRUXLAB_SQL_SNAPSHOT_MB, default 4096); a larger one is queried in place."""
    return env_number("CRUXLAB_SQL_SNAPSHOT_MB", 4096, minimum=0)


def check_fps(fps: float, what: str) -> float:
    """`fps` as a float within [MIN_FPS, MAX_FPS]; InputError naming `what` otherwise."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number of frames per second, got {fps!r}") from None
    if value <= 0:
        raise InputError(f"{what} must be > 0, got {value:g}")
    if not (MIN_FPS <= value <= MAX_FPS):  # also refuses NaN and inf
        raise InputError(f"{what} {value:g} is outside the {MIN_FPS:g}..{MAX_FPS:g} frames per second cruxlab "
                         "analyses")
    return value
