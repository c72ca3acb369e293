"""Mapping profiles that find their sheet: a saved mapping remembers the headers it was
made for, and any sheet with the same headers (a weekly CRM export) gets it with no clicks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from .mapping import Mapping, normalise_header
from .workbook import STATUS_HEADERS

#: Columns an "Export problems" workbook adds; they do not change a sheet's signature.
EXPORT_HEADERS = ("Source Row",)
_IGNORED = {normalise_header(h) for h in (*STATUS_HEADERS, *EXPORT_HEADERS)}


def header_signature(headers: Sequence[str]) -> str:
    names = [normalise_header(h) for h in headers]
    names = [n for n in names if n and n not in _IGNORED and not n.startswith("column")]
    return hashlib.sha256("\x1f".join(names).encode("utf-8")).hexdigest()[:20]


def save_profile(profiles: dict[str, dict[str, Any]], headers: Sequence[str], mapping: Mapping) -> str:
    signature = header_signature(headers)
    data = mapping.to_json()
    data.pop("sheet", None)  # a profile applies to any sheet with these headers
    data.pop("headerRow", None)
    profiles[signature] = {
        "headers": list(headers),
        "mapping": data,
        "saved": dt.datetime.now().isoformat(timespec="seconds"),
    }
    return signature


def find_profile(profiles: dict[str, dict[str, Any]], headers: Sequence[str]) -> Mapping | None:
    entry = profiles.get(header_signature(headers))
    if not entry:
        return None
    return Mapping.from_json(entry["mapping"], source="the saved mapping profile")
