"""Attempt metadata vocabulary: outcomes, boulder grades, dates, names. Shared by the CLI, the store and the
dashboard so every entry point accepts and refuses the same values with the same message.

Each `check_*` returns the clean value (or None for "not known") and raises InputError saying what to enter.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from cruxlab.errors import InputError

#: How an attempt ended. 'unknown' is stored as such; None means nobody said.
OUTCOMES: tuple[str, ...] = ("top", "fall", "unknown")

MAX_NAME_LEN = 80
EARLIEST_DATE = date(1990, 1, 1)

# V scale: VB, V0-, V0..V17 with an optional +/- ; Fontainebleau: 3..9C with A/B/C and an optional +.
_V_GRADE = re.compile(r"^V(B|\d{1,2})([+-])?$")
_FONT_GRADE = re.compile(r"^([3-9])([ABC])?(\+)?$")


def check_outcome(outcome: str | None) -> str | None:
    if outcome is None or not str(outcome).strip():
        return None
    value = str(outcome).strip().lower()
    if value not in OUTCOMES:
        raise InputError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}; pick one (or leave it empty)")
    return value


def check_grade(grade: str | None) -> str | None:
    """A boulder grade in the V scale (VB, V0..V17, optional +/-) or the Font scale (3..9C, e.g. 6B+), written
    the usual way ('v5' -> 'V5', '6b+' -> '6B+'); None for empty."""
    if grade is None or not str(grade).strip():
        return None
    value = str(grade).strip().upper().replace(" ", "")
    v = _V_GRADE.match(value)
    if v and (v.group(1) == "B" or int(v.group(1)) <= 17):
        return value
    f = _FONT_GRADE.match(value)
    if f and (f.group(2) or int(f.group(1)) <= 5) and not (f.group(1) == "9" and (f.group(2) or "A") > "C"):
        return value
    raise InputError(f"grade {grade!r} is neither a V grade (VB, V0 ... V17, e.g. V5 or V4+) nor a Font grade "
                     "(3 ... 9C, e.g. 6B+ or 7A); correct it, or leave it empty if unknown")


def check_name(value: str | None, what: str, *, required: bool) -> str | None:
    """A climber or problem name: trimmed, at most MAX_NAME_LEN characters, no line breaks."""
    text = "" if value is None else " ".join(str(value).split())
    if not text:
        if required:
            raise InputError(f"the {what} must not be empty; enter a name")
        return None
    if len(text) > MAX_NAME_LEN:
        raise InputError(f"the {what} {text[:20]!r}... is {len(text)} characters long; keep it to {MAX_NAME_LEN}")
    return text


def check_recorded_at(when: datetime | date | str | None, *, now: datetime | None = None) -> datetime | None:
    """When the attempt was climbed (local time, no time zone): not in the future (a day of slack for time
    zones) and not before 1990. Accepts a datetime, a date (midnight) or ISO text ('2026-11-20 18:30')."""
    if when is None or (isinstance(when, str) and not when.strip()):
        return None
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip())
        except ValueError:
            raise InputError(f"date {when!r} is not a date; write it as YYYY-MM-DD or YYYY-MM-DD HH:MM") from None
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    when = when.replace(tzinfo=None, microsecond=0)
    now = now or datetime.now()
    if when > now + timedelta(days=1):
        raise InputError(f"date {when:%Y-%m-%d} is in the future; enter the day the attempt was climbed")
    if when.date() < EARLIEST_DATE:
        raise InputError(f"date {when:%Y-%m-%d} is before {EARLIEST_DATE:%Y}; enter the day the attempt was climbed")
    return when
