"""Contacts synced from a sheet before whose rows are gone: listed, and removed on request.

Never by default: the command line needs ``--remove-missing``, the window a confirmed
opt-in. They have no row to write a status into, so their results are reported (and
logged) instead.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from .contacts import SEND, RowPlan
from .engine import JobOptions, Sender, SyncEngine
from .results import RowResult
from .syncstate import Entry

log = logging.getLogger("sheetsync.missing")


@dataclass
class MissingReport:
    results: list[tuple[Entry, RowResult]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.results)

    def summary_line(self) -> str:
        counts = Counter(r.status for _, r in self.results)
        return ", ".join(f"{n} {s}" for s, n in counts.most_common())

    def lines(self) -> list[str]:
        return [
            f"{entry.email or entry.phone}: {result.status}" + (f" ({result.message})" if result.message else "")
            for entry, result in self.results
        ]


def missing_entries(run) -> list[Entry]:  # type: ignore[no-untyped-def]
    """The contacts of ``run`` (a PreparedRun) that are no longer in the sheet."""
    if run.state is None or run.plan is None or run.options is None:
        return []
    return run.state.missing(run.plan, run.options.campaign_id)


def remove_missing(run, sender: Sender, entries: list[Entry] | None = None) -> MissingReport:  # type: ignore[no-untyped-def]
    entries = missing_entries(run) if entries is None else entries
    report = MissingReport()
    if not entries:
        return report
    plan, options = run.plan, run.options
    rows: list[RowPlan] = []
    by_number: dict[int, Entry] = {}
    for i, entry in enumerate(entries):
        number = -(i + 1)
        contact = {k: v for k, v in (("email", entry.email), ("phone", entry.phone)) if v}
        plan.detached[number] = contact
        rows.append(RowPlan(number, entry.email, entry.phone, SEND, action="remove"))
        by_number[number] = entry
    removal = JobOptions(options.campaign_id, "remove", options.batch_size, options.concurrency,
                         options.external_id_key, options.external_id_value)
    engine = SyncEngine(plan, removal, sender, rows=rows)
    for outcome in engine.run():
        for result in outcome.results:
            report.results.append((by_number[result.number], result))
    removed = [entry for entry, result in report.results if result.status == "removed"]
    if run.state is not None:
        run.state.forget(options.campaign_id, removed)
    log.info("removed %d contact(s) no longer in the sheet: %s", len(removed), report.summary_line())
    return report
