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
from pathlib import Path
from typing import Any

import orjson

from .atomicfile import write_bytes_atomic
from .contacts import Plan, RowPlan
from .paths import AppPaths
from .results import PROBLEM_STATUSES, REMOVED, SKIPPED, UNCHANGED, RowResult

log = logging.getLogger("sheetsync.state")

FORMAT_VERSION = 1
#: Results that leave no entry: failed (send again next time), removed (no longer there).
_FORGOTTEN = PROBLEM_STATUSES | {REMOVED}


def contact_key(email: str | None, phone: str | None) -> str | None:
    if email:
        return "e:" + email.casefold()
    if phone:
        return "p:" + phone
    return None


def row_fingerprints(plan: Plan, rows: list[RowPlan], action: str) -> list[str]:
    """What each row would send, hashed, without building its contact object.

    The mapped cells (with the field each goes to), the normalised email and phone and the
    action: the same inputs ``build_contact`` reads, so a change to any of them, or to the
    mapping, changes the fingerprint. About 3x cheaper than building the contact.
    """
    mapped = [(c.index, str(c.target)) for c in plan.mapping.mapped()
              if c.target is not None and c.target.field not in ("email", "phone")]
    targets = [t for _, t in mapped]
    columns = [i for i, _ in mapped]
    by_number = plan._index()
    out = []
    for row in rows:
        values = by_number[row.number].values
        width = len(values)
        cells = [values[i] if i < width else None for i in columns]
        data = orjson.dumps([row.action or action, row.email, row.phone, targets, cells])
        out.append(hashlib.blake2b(data, digest_size=12).hexdigest())
    return out


class Entry(list):  # type: ignore[type-arg]
    """[fingerprint, status, at, email, phone]: a list, so orjson writes it as it is
    (100,000 entries are saved after every sync)."""

    __slots__ = ()
    # Built as Entry((fingerprint, status, at, email, phone)): list's own constructor, with no
    # Python __init__ per entry.

    fingerprint = property(lambda self: self[0])
    status = property(lambda self: self[1])
    at = property(lambda self: self[2])
    email = property(lambda self: self[3])
    phone = property(lambda self: self[4])

    @classmethod
    def from_json(cls, item: list[Any]) -> Entry:
        if len(item) != 5:
            raise ValueError(f"a sync state entry has 5 items, not {len(item)}")
        return cls(item)


def state_path(paths: AppPaths, workbook: Path, sheet: str) -> Path:
    digest = hashlib.sha256(f"{Path(workbook).resolve()}::{sheet}".encode()).hexdigest()[:20]
    return paths.state_dir / f"{digest}.json"


def _row_key(row: RowPlan) -> str | None:
    """The state key of a row: its contact, and for a repeated contact its repeat number,
    so each of a contact's rows has its own fingerprint."""
    key = contact_key(row.email, row.phone)
    if key is not None and row.round:
        key += f"#{row.round}"
    return key


class SyncState:
    def __init__(self, path: Path, entries: dict[str, dict[str, Entry]] | None = None) -> None:
        self.path = path
        self.entries = entries or {}
        #: fingerprints computed this run, by row number: the contacts are built once
        self._fingerprints: dict[int, str] = {}
        #: rows whose result was recorded this run (``note``): each row is answered once
        self._noted: set[int] = set()
        self._rows_by_number: tuple[Plan, dict[int, RowPlan]] | None = None

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
            "campaigns": self.entries,
        }
        write_bytes_atomic(self.path, orjson.dumps(data))

    def _fingerprints_of(self, plan: Plan, rows: list[RowPlan], action: str) -> list[str]:
        if not self._fingerprints:  # none made up front (a first sync): make these now
            return row_fingerprints(plan, rows, action)
        missing = [r for r in rows if r.number not in self._fingerprints]
        for row, print_ in zip(missing, row_fingerprints(plan, missing, action), strict=True):
            self._fingerprints[row.number] = print_
        return [self._fingerprints[r.number] for r in rows]

    # -- before a sync ----------------------------------------------------------
    def split_unchanged(self, plan: Plan, rows: list[RowPlan], *, campaign: str, action: str) -> tuple[list[RowPlan], list[RowResult]]:
        """(rows to send, results for the unchanged rows that are not sent).

        A contact on several rows is sent on all of them as soon as one changed, so the
        campaign ends with what the sheet's last row for it says.
        """
        if not any(self.entries.get(c) for c in {row.campaign or campaign for row in rows}):
            # Nothing synced to these campaigns before: every row goes. The fingerprints are
            # made as the answers come (``note``), while the sync waits on the network.
            return list(rows), []
        same: list[tuple[RowPlan, Entry]] = []
        changed_contacts: set[tuple[str, str | None]] = set()
        send: list[RowPlan] = []
        for row, print_ in zip(rows, self._fingerprints_of(plan, rows, action), strict=True):
            target = row.campaign or campaign
            key = _row_key(row)
            entry = self.entries.get(target, {}).get(key) if key else None
            if entry is not None and entry.fingerprint == print_ and (row.action or action) != "remove":
                same.append((row, entry))
            else:
                send.append(row)
                changed_contacts.add((target, contact_key(row.email, row.phone)))
        unchanged: list[RowResult] = []
        for row, entry in same:
            if ((row.campaign or campaign), contact_key(row.email, row.phone)) in changed_contacts:
                send.append(row)
                continue
            unchanged.append(RowResult(
                row.number, UNCHANGED,
                f"Not sent: unchanged since it was synced ({entry.status}, {entry.at.replace('T', ' ')}).",
                None,
            ))
        order = {r.number: i for i, r in enumerate(rows)}
        send.sort(key=lambda r: order[r.number])
        return send, unchanged

    def missing(self, plan: Plan, campaign: str) -> list[Entry]:
        """Contacts synced from this sheet before whose rows are gone (email and phone both absent)."""
        emails = {r.email.casefold() for r in plan.rows if r.email}
        phones = {r.phone for r in plan.rows if r.phone}
        gone: dict[str | None, Entry] = {}
        for entry in self.entries.get(campaign, {}).values():
            if not (entry.email and entry.email.casefold() in emails) and not (entry.phone and entry.phone in phones):
                gone.setdefault(contact_key(entry.email, entry.phone), entry)  # once per contact
        return list(gone.values())

    # -- after a sync -------------------------------------------------------------
    def note(self, plan: Plan, results: Iterable[RowResult], *, campaign: str, action: str) -> None:
        """Record these results now (a batch's, as it comes back); ``record`` skips them later."""
        results = list(results)
        self.record(plan, results, campaign=campaign, action=action)
        numbers = [result.number for result in results]
        self._noted.update(numbers)
        fingerprints = self._fingerprints
        if fingerprints:  # kept in its entry now; a million rows add up
            for number in numbers:
                fingerprints.pop(number, None)

    def _row_index(self, plan: Plan) -> dict[int, RowPlan]:
        if self._rows_by_number is None or self._rows_by_number[0] is not plan:
            self._rows_by_number = (plan, {r.number: r for r in plan.rows})
        index = self._rows_by_number[1]
        if len(index) < len(plan.rows):  # a lazy plan checked more rows since
            index.update((r.number, r) for r in plan.rows[len(index):])
        return index

    def record(self, plan: Plan, results: Iterable[RowResult], *, campaign: str, action: str) -> None:
        """Note what was sent for each row's contact: results already ``note``d are skipped.

        Runs once per batch of a sync, on the thread that takes the batches: kept lean.
        """
        by_number = self._row_index(plan)
        noted = self._noted
        rows: list[RowPlan] = []
        statuses: list[str] = []
        for result in results:
            number, status = result.number, result.status
            if status in (SKIPPED, UNCHANGED) or number in noted or number not in by_number:
                continue
            rows.append(by_number[number])
            statuses.append(status)
        prints = self._fingerprints_of(plan, rows, action)
        now = dt.datetime.now().isoformat(timespec="seconds")
        job_items = self.entries.setdefault(campaign, {})
        for row, status, print_ in zip(rows, statuses, prints, strict=True):
            key = _row_key(row)
            if key is None:
                continue
            items = job_items if row.campaign is None else self.entries.setdefault(row.campaign, {})
            if status in _FORGOTTEN:
                items.pop(key, None)
            else:
                items[key] = Entry((print_, status, now, row.email, row.phone))

    def forget(self, campaign: str, entries: Iterable[Entry]) -> None:
        """Drop every row entry of these contacts (they were removed from the campaign)."""
        gone = {contact_key(e.email, e.phone) for e in entries}
        items = self.entries.get(campaign, {})
        for key in [k for k, e in items.items() if contact_key(e.email, e.phone) in gone]:
            del items[key]
