"""What was last sent for each contact of a sheet, so the next sync sends only changes.

Kept in the app's data folder (never in hidden cells a user could break), one file per
workbook and sheet, per campaign: contact key (the email, else the phone) -> fingerprint
of the exact contact sent (mapped values and action), its status and when. Rows are
recognised by their email or phone, not by row number, so sorting, inserting or filtering
rows in Excel between syncs does not resend everything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .atomicfile import write_bytes_atomic
from .contacts import Plan, RowPlan
from .paths import AppPaths
from .results import PROBLEM_STATUSES, REMOVED, SKIPPED, UNCHANGED, RowResult

log = logging.getLogger("sheetsync.state")

FORMAT_VERSION = 1


def contact_key(email: str | None, phone: str | None) -> str | None:
    if email:
        return "e:" + email.casefold()
    if phone:
        return "p:" + phone
    return None


def fingerprint(contact: dict[str, Any], action: str) -> str:
    data = orjson.dumps([action, contact], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()[:24]


@dataclass
class Entry:
    fingerprint: str
    status: str
    at: str
    email: str | None
    phone: str | None

    def to_json(self) -> list[Any]:
        return [self.fingerprint, self.status, self.at, self.email, self.phone]

    @classmethod
    def from_json(cls, item: list[Any]) -> Entry:
        return cls(*item)


def state_path(paths: AppPaths, workbook: Path, sheet: str) -> Path:
    digest = hashlib.sha256(f"{Path(workbook).resolve()}::{sheet}".encode()).hexdigest()[:20]
    return paths.state_dir / f"{digest}.json"


class SyncState:
    def __init__(self, path: Path, entries: dict[str, dict[str, Entry]] | None = None) -> None:
        self.path = path
        self.entries = entries or {}

    @classmethod
    def load(cls, workbook: Path, sheet: str, paths: AppPaths | None = None) -> SyncState:
        path = state_path(paths or AppPaths.default(), workbook, sheet)
        try:
            data = orjson.loads(path.read_bytes())
            entries = {
                campaign: {key: Entry.from_json(item) for key, item in items.items()}
                for campaign, items in data.get("campaigns", {}).items()
            }
        except FileNotFoundError:
            entries = {}
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            log.warning("sync state %s unreadable (%s): every row will be sent", path.name, exc)
            entries = {}
        return cls(path, entries)

    def save(self) -> None:
        data = {
            "version": FORMAT_VERSION,
            "campaigns": {c: {k: e.to_json() for k, e in items.items()} for c, items in self.entries.items()},
        }
        write_bytes_atomic(self.path, orjson.dumps(data))

    # -- before a sync ----------------------------------------------------------
    def split_unchanged(self, plan: Plan, rows: list[RowPlan], *, campaign: str, action: str) -> tuple[list[RowPlan], list[RowResult]]:
        """(rows to send, results for the unchanged rows that are not sent)."""
        send: list[RowPlan] = []
        unchanged: list[RowResult] = []
        for row, contact in zip(rows, plan.contacts(rows), strict=True):
            target = row.campaign or campaign
            key = contact_key(row.email, row.phone)
            entry = self.entries.get(target, {}).get(key) if key else None
            row_action = row.action or action
            if entry is not None and entry.fingerprint == fingerprint(contact, row_action) and row_action != "remove":
                unchanged.append(RowResult(
                    row.number, UNCHANGED,
                    f"Not sent: unchanged since it was synced ({entry.status}, {entry.at.replace('T', ' ')}).",
                    None,
                ))
            else:
                send.append(row)
        return send, unchanged

    def missing(self, plan: Plan, campaign: str) -> list[Entry]:
        """Contacts synced from this sheet before whose rows are gone (email and phone both absent)."""
        emails = {r.email.casefold() for r in plan.rows if r.email}
        phones = {r.phone for r in plan.rows if r.phone}
        return [
            e for e in self.entries.get(campaign, {}).values()
            if not (e.email and e.email.casefold() in emails) and not (e.phone and e.phone in phones)
        ]

    # -- after a sync -------------------------------------------------------------
    def record(self, plan: Plan, results: Iterable[RowResult], *, campaign: str, action: str) -> None:
        by_number = {r.number: r for r in plan.rows}
        changed = [(by_number[r.number], r) for r in results if r.number in by_number and r.status not in (SKIPPED, UNCHANGED)]
        rows = [row for row, _ in changed]
        now = dt.datetime.now().isoformat(timespec="seconds")
        for (row, result), contact in zip(changed, plan.contacts(rows), strict=True):
            target = row.campaign or campaign
            key = contact_key(row.email, row.phone)
            if key is None:
                continue
            items = self.entries.setdefault(target, {})
            if result.status in PROBLEM_STATUSES or result.status == REMOVED:
                items.pop(key, None)  # failed: send again next time; removed: no longer there
            else:
                items[key] = Entry(fingerprint(contact, row.action or action), result.status, now, row.email, row.phone)

    def forget(self, campaign: str, entries: Iterable[Entry]) -> None:
        items = self.entries.get(campaign, {})
        for entry in entries:
            items.pop(contact_key(entry.email, entry.phone) or "", None)
