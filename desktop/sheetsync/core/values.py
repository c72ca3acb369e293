"""Cell values as Excel holds them, in the few Python types the rest of the core knows.

python-calamine gives str, int, float, bool, datetime.date, datetime.datetime,
datetime.time and datetime.timedelta. The core works with ``CellValue``: str, int,
float, bool or None (empty). Dates become ISO 8601 text, whole floats become int (a
phone number typed into Excel is a float, often shown in scientific notation).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TypeAlias

CellValue: TypeAlias = str | int | float | bool | None

#: Excel stores at most 15 significant digits; a float at or above this is no
#: longer an exact integer, so it is not rendered as one.
_EXACT_INT_LIMIT = 2**53


def convert_cell(value: object) -> CellValue:
    """One raw calamine value -> CellValue. Empty strings become None.

    Called once per cell (a million times for 100,000 rows): the common types are
    tested first, by exact type.
    """
    kind = type(value)
    if kind is str:
        return value if value and not value.isspace() else None  # type: ignore[return-value]
    if kind is float:
        return _convert_float(value)  # type: ignore[arg-type]
    if kind is int or kind is bool or value is None:
        return value  # type: ignore[return-value]
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if not value.microsecond else "milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta):
        return _format_duration(value)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return _convert_float(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value)


def _convert_float(value: float) -> CellValue:
    if value != value or value in (math.inf, -math.inf):
        return None
    if not value.is_integer():
        # Excel shows 15 significant digits: 0.1+0.2 is 0.3 there, so here too.
        value = float(f"{value:.15g}")
    if value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
        return int(value)
    return value


def _format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def as_text(value: CellValue) -> str:
    """The text a contact field gets from a cell: no ``.0``, booleans as true/false."""
    if type(value) is str:  # nearly every email and phone cell: the one test they need
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.15g}"
    return str(value).strip()


def column_letter(index: int) -> str:
    """1-based column index -> Excel letters (1 -> A, 27 -> AA)."""
    if index < 1:
        raise ValueError(index)
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
