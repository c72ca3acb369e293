"""Which rows "Retry failed rows" sends again (no Qt; used by the window)."""

from __future__ import annotations

from .contacts import SEND, Plan, RowPlan
from .results import PROBLEM_STATUSES, SKIPPED, RowResult

#: Statuses worth sending again: the server did not accept the row, or it was never sent.
RETRY_STATUSES = frozenset((PROBLEM_STATUSES | {SKIPPED}))


def rows_to_retry(plan: Plan, results: dict[int, RowResult]) -> list[RowPlan]:
    """The plan's sendable rows whose last result failed or never came (invalid rows need a fix first)."""
    return [
        row
        for row in plan.rows
        if row.state == SEND and (r := results.get(row.number)) is not None and r.status in RETRY_STATUSES
    ]
