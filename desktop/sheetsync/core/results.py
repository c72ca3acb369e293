"""Per-row results: the status words written to the sheet, and a summary of them."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

CREATED = "created"
UPDATED = "updated"
REMOVED = "removed"
ERROR = "error"
INVALID = "invalid"
NOT_PROCESSED = "not processed"
SKIPPED = "skipped"
UNCHANGED = "unchanged"  # not sent: the same as last time (see syncstate)

#: Statuses that mean "the server did not accept this row"; exit code 1 and "Retry failed rows".
PROBLEM_STATUSES = frozenset({ERROR, INVALID, NOT_PROCESSED})
#: Words a server may use for a removal, a creation, an update.
_REMOVAL_WORDS = frozenset({"removed", "deleted", "remove", "delete"})
_CREATION_WORDS = frozenset({CREATED, "added", "inserted"})
_UPDATE_WORDS = frozenset({UPDATED, "modified"})
#: The words as the contract's examples spell them: one lookup for nearly every item.
_EXACT = {CREATED: CREATED, UPDATED: UPDATED, REMOVED: REMOVED}


def status_word(server_action: object) -> str:
    """The status for a success item's ``action``; unknown words are kept as they come."""
    if not isinstance(server_action, str) or not server_action.strip():
        return "ok"
    exact = _EXACT.get(server_action)
    if exact is not None:
        return exact
    word = server_action.strip()
    lowered = word.casefold()
    if lowered in _REMOVAL_WORDS:
        return REMOVED
    if lowered in _CREATION_WORDS:
        return CREATED
    if lowered in _UPDATE_WORDS:
        return UPDATED
    return word


@dataclass(slots=True)
class RowResult:
    number: int  # sheet row number
    status: str
    message: str = ""
    at: dt.datetime | None = None

    @property
    def is_problem(self) -> bool:
        return self.status in PROBLEM_STATUSES


def now() -> dt.datetime:
    """Local wall-clock time without tzinfo (Excel dates have none), to the second."""
    return dt.datetime.now().replace(microsecond=0)


@dataclass
class Summary:
    counts: Counter[str]

    @classmethod
    def of(cls, results: Iterable[RowResult]) -> Summary:
        return cls(Counter(r.status for r in results))

    @property
    def problems(self) -> int:
        return sum(n for status, n in self.counts.items() if status in PROBLEM_STATUSES)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        order = [CREATED, UPDATED, REMOVED, UNCHANGED, ERROR, INVALID, NOT_PROCESSED, SKIPPED]
        parts = [f"{self.counts[s]} {s}" for s in order if self.counts.get(s)]
        parts += [f"{n} {s}" for s, n in sorted(self.counts.items()) if s not in order and n]
        return ", ".join(parts) if parts else "no rows"
