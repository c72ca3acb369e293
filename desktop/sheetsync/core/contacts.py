"""From sheet rows to contact objects, checked before anything is sent.

``prepare`` reads every row once and keeps only what the sync needs per row: its number,
its normalised email and phone (the values sent, and the keys results are matched by),
its problems, and its duplicate "round". The contact objects themselves are built lazily,
batch by batch (``build_contact``), so memory holds one copy of the sheet's values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .mapping import ResolvedMapping, action_for
from .phones import normalise_phone
from .values import as_text
from .workbook import DataRow, SheetData

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+"
    r"@(?:[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]{0,61}[A-Za-z0-9\u0080-\uffff])?\.)+"
    r"[A-Za-z\u0080-\uffff]{2,63}$"
)
_STOP_STATUSES = ("completed", "disqualified")

SEND = "send"
INVALID = "invalid"


def normalise_email(text: str) -> str | None:
    """Trimmed, lowercased email if its syntax is right, else None."""
    email = text.strip()
    if email[:1] == "<" or email[-1:] == ">":
        email = email.strip("<>").strip()
    if email[:7].lower() == "mailto:":
        email = email[7:]
    if len(email) > 254 or ".." in email or not _EMAIL.match(email):
        return None
    local, _, domain = email.rpartition("@")
    if local.startswith(".") or local.endswith("."):
        return None
    return f"{local}@{domain.lower()}"


def email_key(text: str | None) -> str | None:
    return text.strip().casefold() if text else None


def phone_key(text: str | None) -> str | None:
    if not text:
        return None
    text = str(text)
    if text.isdigit():  # the usual echo, e.g. 15551234567
        return text
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits or None


@dataclass(slots=True)
class RowPlan:
    """What the sync knows about one data row."""

    number: int  # sheet row number
    email: str | None
    phone: str | None
    state: str  # SEND or INVALID
    messages: list[str] = field(default_factory=list)
    duplicate_of: int | None = None
    round: int = 0  # rows sharing an email/phone go in successive rounds, never together
    action: str | None = None  # from an Action column; None: the job's action
    campaign: str | None = None  # from a Campaign column (a UUID); None: the job's campaign

    @property
    def message(self) -> str:
        return "; ".join(self.messages)


@dataclass
class Plan:
    sheet: SheetData
    mapping: ResolvedMapping
    region: str
    rows: list[RowPlan]
    #: contacts with no row (negative numbers): ones removed because their rows are gone
    detached: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: rows not checked yet (a lazy plan, ``prepare(lazy=True)``); ``rows`` holds the others
    pending: Iterator[RowPlan] | None = None

    @property
    def complete(self) -> bool:
        return self.pending is None

    def checking(self) -> Iterator[RowPlan]:
        """Check the rest of the rows one by one: each is in ``rows`` when it is yielded."""
        pending, rows = self.pending, self.rows
        if pending is None:
            return
        for row in pending:
            rows.append(row)
            yield row
        self.pending = None

    def check_all(self) -> Plan:
        for _ in self.checking():
            pass
        return self

    @property
    def to_send(self) -> list[RowPlan]:
        return [r for r in self.check_all().rows if r.state == SEND]

    @property
    def invalid(self) -> list[RowPlan]:
        return [r for r in self.check_all().rows if r.state == INVALID]

    @property
    def duplicates(self) -> list[RowPlan]:
        return [r for r in self.check_all().rows if r.duplicate_of is not None]

    def contacts(self, plans: list[RowPlan]) -> Iterator[dict[str, Any]]:
        """The contact objects for ``plans``, built now, in order."""
        by_number = self._index()
        for plan in plans:
            if plan.number < 0:
                yield self.detached[plan.number]
            else:
                yield build_contact(by_number[plan.number], plan, self.mapping)

    def _index(self) -> dict[int, DataRow]:
        cached = getattr(self, "_by_number", None)
        if cached is None:
            cached = {r.number: r for r in self.sheet.rows}
            self._by_number = cached
        return cached


class RowFinder:
    """Finds today's row for a contact known by (row number, email, phone) from earlier.

    The row at the same number wins if it still holds that email or phone; otherwise the
    first row with that email, then that phone: rows moved in Excel keep their results.
    """

    def __init__(self, plan: Plan) -> None:
        self.by_number = {r.number: r for r in plan.rows}
        self.by_email = {r.email.casefold(): r for r in reversed(plan.rows) if r.email}
        self.by_phone = {r.phone: r for r in reversed(plan.rows) if r.phone}

    def find(self, number: int, email: str | None, phone: str | None) -> RowPlan | None:
        row = self.by_number.get(number)
        if row is not None and (
            (email is None and phone is None)
            or (email and row.email and email.casefold() == row.email.casefold())
            or (phone and row.phone == phone)
        ):
            return row
        if email and email.casefold() in self.by_email:
            return self.by_email[email.casefold()]
        if phone and phone in self.by_phone:
            return self.by_phone[phone]
        return None


def prepare(
    sheet: SheetData,
    mapping: ResolvedMapping,
    *,
    region: str = "US",
    campaign_labels: dict[str, str] | None = None,
    lazy: bool = False,
) -> Plan:
    """Check every row. ``campaign_labels`` maps saved labels (casefolded) to campaign IDs.

    ``lazy``: check none yet; ``Plan.checking`` checks them one by one (a sync can start
    sending the first rows while later ones are checked), ``Plan.check_all`` the rest."""
    rows = check_rows(sheet, mapping, region=region, campaign_labels=campaign_labels)
    if lazy:
        return Plan(sheet, mapping, region, [], pending=rows)
    return Plan(sheet, mapping, region, list(rows))


def check_rows(
    sheet: SheetData,
    mapping: ResolvedMapping,
    *,
    region: str = "US",
    campaign_labels: dict[str, str] | None = None,
) -> Iterator[RowPlan]:
    """Each row checked, in sheet order (``prepare``'s work, one row at a time)."""
    email_col = mapping.column_for("email")
    phone_col = mapping.column_for("phone")
    action_col = mapping.column_for("action")
    campaign_col = mapping.column_for("campaign")
    labels = {k.casefold(): v for k, v in (campaign_labels or {}).items()}
    # Contacts seen so far, by email and by phone (within a campaign, for a Campaign
    # column): their first row, and their last round if they repeat. Keyed by the value
    # itself, or (campaign, value). Plain ints: a million rows' keys add up.
    by_email: dict[object, int] = {}
    by_phone: dict[object, int] = {}
    rounds: dict[tuple[int, object], int] = {}  # (0 email / 1 phone, key) -> last round, repeats only
    email_index = email_col.index if email_col else None
    phone_index = phone_col.index if phone_col else None
    for row in sheet.rows:
        plan = _check_row(row, email_index, phone_index, region)
        if action_col is not None:
            _row_action(plan, row.get(action_col.index))
        if campaign_col is not None:
            _row_campaign(plan, row.get(campaign_col.index), labels)
        if plan.state == SEND:
            scope = plan.campaign
            e_key = plan.email and (plan.email.casefold() if not scope else (scope, plan.email.casefold()))
            p_key = plan.phone and (plan.phone if not scope else (scope, plan.phone))
            seen_e = by_email.get(e_key) if e_key else None
            seen_p = by_phone.get(p_key) if p_key else None
            if seen_e is None and seen_p is None:  # the usual row: a contact not seen before
                if e_key:
                    by_email[e_key] = plan.number
                if p_key:
                    by_phone[p_key] = plan.number
            else:
                seen = [(kind, key, first) for kind, key, first in ((0, e_key, seen_e), (1, p_key, seen_p))
                        if first is not None]
                plan.duplicate_of = min(first for _, _, first in seen)
                plan.round = max(rounds.get((kind, key), 0) for kind, key, _ in seen) + 1
                what = "email" if seen_e is not None else "phone"
                plan.messages.append(f"same {what} as row {plan.duplicate_of}; sent in a separate request")
                for kind, key, index in ((0, e_key, by_email), (1, p_key, by_phone)):
                    if key:
                        index.setdefault(key, plan.number)
                        rounds[(kind, key)] = plan.round
        yield plan


def _row_action(plan: RowPlan, value: object) -> None:
    text = as_text(value)  # type: ignore[arg-type]
    if not text:
        return
    action = action_for(text)
    if action is None:
        plan.state = INVALID
        plan.messages.append(f"action '{_clip(text)}' is not upsert, update or remove")
    else:
        plan.action = action


def _row_campaign(plan: RowPlan, value: object, labels: dict[str, str]) -> None:
    text = as_text(value)  # type: ignore[arg-type]
    if not text:
        return
    try:
        plan.campaign = str(uuid.UUID(text))
        return
    except ValueError:
        pass
    if text.casefold() in labels:
        plan.campaign = labels[text.casefold()]
        return
    plan.state = INVALID
    plan.messages.append(f"campaign '{_clip(text)}' is neither a campaign ID nor a saved label")


def _check_row(row: DataRow, email_col: int | None, phone_col: int | None, region: str) -> RowPlan:
    messages: list[str] = []
    email = phone = None
    bad_email = bad_phone = False
    values = row.values
    if email_col is not None:
        raw = as_text(values[email_col] if email_col < len(values) else None)
        if raw:
            email = normalise_email(raw)
            if email is None:
                bad_email = True
                messages.append(f"email '{_clip(raw)}' is not a valid address")
    if phone_col is not None:
        raw = as_text(values[phone_col] if phone_col < len(values) else None)
        if raw:
            result = normalise_phone(raw, region)
            phone = result.digits
            bad_phone = phone is None
            if result.warning:
                messages.append(result.warning)
    if email is None and phone is None:
        if not messages:
            messages.append("no email or phone: at least one is needed")
        return RowPlan(row.number, None, None, INVALID, messages)
    if bad_email:
        messages.append("sent with the phone only")
    elif bad_phone:
        messages.append("sent with the email only")
    return RowPlan(row.number, email, phone, SEND, messages)


@dataclass(frozen=True)
class SendCounts:
    """What rows about to be sent ask for, counted in one pass (off the window's thread):
    how many, how many remove, and whether any names its own campaign."""

    rows: int = 0
    removals_asked: int = 0  # rows whose Action column says remove
    default_action: int = 0  # rows with no action of their own: they take the job's
    own_campaign: bool = False

    @classmethod
    def of(cls, rows: Iterable[RowPlan]) -> SendCounts:
        count = removals = default = 0
        own_campaign = False
        for row in rows:
            count += 1
            if row.action is None:
                default += 1
            elif row.action == "remove":
                removals += 1
            own_campaign = own_campaign or bool(row.campaign)
        return cls(count, removals, default, own_campaign)

    def removals(self, job_action: str) -> int:
        return self.removals_asked + (self.default_action if job_action == "remove" else 0)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_contact(row: DataRow, plan: RowPlan, mapping: ResolvedMapping) -> dict[str, Any]:
    """The JSON object for one row; empty fields are left out, never sent as ''."""
    contact: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for col in mapping.columns:
        target = col.target
        if target is None:
            continue
        if target.key is not None:
            value = row.get(col.index)
            if value is None:
                continue
            metadata[target.key] = value.strip() if isinstance(value, str) else value
            continue
        name = target.field
        if name in ("email", "phone", "action", "campaign"):
            continue
        text = as_text(row.get(col.index))
        if not text:
            continue
        if name == "status" and text.casefold() in _STOP_STATUSES:
            text = text.casefold()
        contact[name] = text
    if plan.email:
        contact["email"] = plan.email
    if plan.phone:
        contact["phone"] = plan.phone
    if metadata:
        contact["contactMetadata"] = metadata
    return contact
