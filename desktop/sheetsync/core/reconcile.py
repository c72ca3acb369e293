"""Tie a response's success and error items back to the rows of the batch.

The contract does not say whether items come back in request order, nor whether the
server normalises emails and phones before echoing them, nor the shape of an error
item. So items are matched by normalised email, then phone (exact digits, then a unique
suffix of at least 7 digits for a server that drops or adds a country code), never by
position. A row mentioned in neither list is ``not processed``; an item that matches no
row is kept and reported, never dropped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .contacts import RowPlan, email_key, phone_key
from .results import ERROR, NOT_PROCESSED, RowResult, status_word

_MESSAGE_KEYS = ("error", "message", "reason", "detail", "details", "errors", "description", "msg", "code")
_CONTACT_KEYS = ("contact", "data", "item", "input")
_MIN_SUFFIX = 7


@dataclass
class Reconciled:
    results: list[RowResult]
    unmatched: list[Any] = field(default_factory=list)  # items naming no row of the batch


def describe_item(item: Any, *, limit: int = 300) -> str:
    """Human text for an error item of unknown shape."""
    if isinstance(item, str):
        return _clip(item, limit)
    if isinstance(item, dict):
        for key in _MESSAGE_KEYS:
            if key in item and item[key] not in (None, "", [], {}):
                value = item[key]
                return _clip(value if isinstance(value, str) else _flatten(value), limit)
    return _clip(_flatten(item), limit)


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = [describe_item(value)] if any(k in value for k in _MESSAGE_KEYS) else []
        return inner[0] if inner else json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list):
        return "; ".join(_flatten(v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _identity(item: Any) -> tuple[str | None, str | None]:
    """(email key, phone key) of an item, looking one level into nested objects."""
    if not isinstance(item, dict):
        return None, None
    email = item.get("email")
    phone = item.get("phone")
    for key in _CONTACT_KEYS:
        inner = item.get(key)
        if isinstance(inner, dict):
            email = email or inner.get("email")
            phone = phone or inner.get("phone")
    return (
        email_key(email) if isinstance(email, str) else None,
        phone_key(phone) if isinstance(phone, (str, int)) else None,
    )


class _Index:
    def __init__(self, rows: Sequence[RowPlan]) -> None:
        self.by_email = {r.email.casefold(): r for r in rows if r.email}
        self.by_phone = {r.phone: r for r in rows if r.phone}

    def find(self, item: Any) -> RowPlan | None:
        if type(item) is dict:  # the usual item: its own email names a row of the batch
            email = item.get("email")
            if type(email) is str and (row := self.by_email.get(email.strip().casefold())) is not None:
                return row  # what the full search below finds first, without its lookups
        email, phone = _identity(item)
        if email and email in self.by_email:
            return self.by_email[email]
        if phone:
            if phone in self.by_phone:
                return self.by_phone[phone]
            if len(phone) >= _MIN_SUFFIX:
                hits = [r for key, r in self.by_phone.items() if key.endswith(phone) or phone.endswith(key)]
                if len(hits) == 1:
                    return hits[0]
        return None


def reconcile(
    rows: Sequence[RowPlan],
    success: Sequence[Any],
    errors: Sequence[Any],
    *,
    server_message: str | None,
    action: str,
    at: dt.datetime,
) -> Reconciled:
    index = _Index(rows)
    found: dict[int, RowResult] = {}
    unmatched: list[Any] = []
    for item in success:
        row = index.find(item)
        if row is None:
            unmatched.append(item)
            continue
        word = status_word(item.get("action") if isinstance(item, dict) else None)
        if word == "ok" and action == "remove":
            word = "removed"
        previous = found.get(row.number)
        if previous is not None and previous.status == ERROR:
            previous.message += f" (the server also listed it as {word})"
            continue
        found[row.number] = RowResult(row.number, word, row.message, at)  # the row's own warnings
    for item in errors:
        row = index.find(item)
        if row is None:
            unmatched.append(item)
            continue
        reason = describe_item(item)
        previous = found.get(row.number)
        if previous is not None and previous.status == ERROR:
            previous.message += f"; {reason}"
            continue
        also = f" (the server also listed it as {previous.status})" if previous else ""
        found[row.number] = RowResult(row.number, ERROR, reason + also, at)
    missing = _not_processed_message(server_message, unmatched, action)
    results = [found.get(r.number) or RowResult(r.number, NOT_PROCESSED, missing, at) for r in rows]
    return Reconciled(results, unmatched)


def _not_processed_message(server_message: str | None, unmatched: list[Any], action: str) -> str:
    parts = ["The server's answer did not mention this contact"]
    if action == "updateOnly":
        parts[0] += " (updateOnly ignores contacts that are not in the campaign)"
    if server_message:
        parts.append(f"it said: {_clip(server_message, 200)}")
    if unmatched:
        parts.append("it also reported: " + " | ".join(describe_item(i, limit=120) for i in unmatched[:3]))
    return "; ".join(parts) + "."
