"""One sync job from the rows to the results in memory, for the window and the command line.

``run_job`` is a generator: it prepares the run (journal, resume, unchanged rows), yields
``Started``, then one ``BatchOutcome`` per batch as the engine produces them, removes the
contacts gone from the sheet when asked, records what was sent, and returns a ``JobEnd``.
Saving the workbook is the caller's next step (``job.save_results``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .client import ContactsApi
from .contacts import Plan, RowPlan
from .engine import BatchOutcome, JobOptions, SyncEngine
from .errors import JobStopped
from .job import LoadedSheet, ResultBook
from .journal import JobJournal
from .missing import MissingReport, remove_missing
from .paths import AppPaths
from .results import RowResult, Summary
from .retry import rows_to_retry
from .resume import PreparedRun, Resumed, prepare_run
from .writeahead import WriteAhead

log = logging.getLogger("sheetsync.job")


@dataclass
class Started:
    """The first thing ``run_job`` yields: what it sends, and the results known already
    (recovered from the journal, unchanged rows, invalid rows). ``book`` is the job's; the
    GUI thread reads it only once the worker has finished."""

    total: int
    initial: list[RowResult]
    resumed: Resumed | None
    unchanged: int
    book: ResultBook
    journal: JobJournal
    run: PreparedRun


@dataclass
class JobEnd:
    stop: JobStopped | None
    run: PreparedRun
    missing: MissingReport | None = None
    #: counted here, on the job's thread: a window must not walk 100,000 results in a slot
    summary: Summary | None = None
    #: the rows "Retry failed rows" would send (same reason)
    retry: list[RowPlan] | None = None


def run_job(
    loaded: LoadedSheet, plan: Plan, options: JobOptions, base_url: str, api_key: str, cancel: threading.Event, *,
    paths: AppPaths | None = None, restart: bool = False, resend_in_flight: bool = True, send_all: bool = False,
    rows: Sequence[RowPlan] | None = None, previous: dict[int, RowResult] | None = None,
    remove_gone: bool = False, write_ahead: bool = True,
) -> Iterator[Started | BatchOutcome]:
    """Prepare, send, record; yields Started, then one outcome per batch; returns a JobEnd.

    ``previous``: results of rows not sent this time (Retry failed rows keeps the others').
    ``write_ahead``: write the results into a copy of the workbook as they arrive
    (``run.write_ahead``, taken by ``job.save_results``).
    """
    if remove_gone:
        plan.check_all()  # what is missing from the sheet is known only once every row is
    run = prepare_run(loaded, plan, options, paths=paths, restart=restart, resend_in_flight=resend_in_flight,
                      send_all=send_all, rows=None if rows is None else list(rows))
    for number, result in (previous or {}).items():  # Retry failed rows: the other rows keep theirs
        run.book.results.setdefault(number, result)
    if write_ahead and (run.rows or run.streaming):
        # a plan has one row per data row of the sheet (a lazy one, once it is checked)
        run.write_ahead = WriteAhead.start(loaded.data, [r.number for r in loaded.data.rows])
        if run.write_ahead is not None:
            # Rows about to be sent get their new answer; an old one now would be written
            # first and make the copy stale (Retry failed rows keeps the others' results).
            sending = {r.number for r in run.rows}
            run.write_ahead.add(r for n, r in run.book.results.items() if n not in sending)
    total = len(loaded.data.rows) if run.streaming else len(run.rows)
    log.debug("sending %d rows (%d prepared before)%s", total, len(run.book.results),
              "; checking them as they go" if run.streaming else "")
    sending = time.perf_counter()
    yield Started(total, list(run.book.results.values()), run.resumed, run.unchanged, run.book, run.journal, run)
    holder: dict[str, SyncEngine] = {}
    report: MissingReport | None = None
    try:
        with ContactsApi(base_url, api_key, on_retry=lambda event: holder["engine"].note_retry(event.throttled)) as client:
            ahead = run.write_ahead
            stream = _checked_as_taken(plan, run) if run.streaming else None
            engine = SyncEngine(plan, options, client, cancel=cancel, journal=run.journal, rows=run.rows, stream=stream)
            holder["engine"] = engine
            for outcome in engine.run():
                run.book.add(outcome)
                if ahead is not None:
                    ahead.add(outcome.results)
                run.note(outcome.results)  # this thread waits on the network anyway
                yield outcome
            if remove_gone and engine.stop_error is None and not engine.cancelled:
                run.remember()  # first note what this run sent, then what is missing
                report = remove_missing(run, client)
    finally:
        run.journal.close()
    run.remember()
    log.debug("sent and recorded in %.2f s", time.perf_counter() - sending)
    summary = run.book.summary()
    log.info("sync of %s (sheet '%s') to campaign %s: %s%s", loaded.data.path.name, loaded.data.sheet,
             options.campaign_id, summary.line(), f"; stopped: {engine.stop_error}" if engine.stop_error else "")
    return JobEnd(engine.stop_error, run, report, summary, rows_to_retry(plan, run.book.results))


def _checked_as_taken(plan: Plan, run: PreparedRun) -> Iterator[RowPlan]:
    """A lazy plan's rows as the engine takes them (on the job's thread): each is checked,
    made known to the book and the journal, and an invalid one gets its result here (and
    goes into the copy being written); the others go on to be sent."""
    book, journal, ahead = run.book, run.journal, run.write_ahead
    for row in plan.checking():
        journal.know(row)
        invalid = book.checked(row)
        if invalid is None:
            yield row
        elif ahead is not None:
            ahead.add([invalid])
