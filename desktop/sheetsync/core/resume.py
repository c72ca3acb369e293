"""Starting a job with its journal, and picking up an interrupted one.

``prepare_run`` is the one place that decides which rows a job sends: all the plan's
rows for a new job; for a job whose journal survived a crash or a failed save, only the
rows never sent, plus the rows whose batch was in flight when it stopped if the action
is idempotent (upsert, updateOnly) and the caller agrees. Recorded results are tied to
today's rows by email or phone, so rows moved in Excel meanwhile still get theirs.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .contacts import Plan, RowFinder, RowPlan
from .engine import JobOptions
from .errors import JobConfigError
from .job import LoadedSheet, ResultBook
from .writeahead import WriteAhead
from .syncstate import SyncState
from .journal import JobHeader, JobJournal, JournalState, SentRow, journal_path
from .paths import AppPaths
from .results import ERROR, RowResult, now

log = logging.getLogger("sheetsync.resume")

IDEMPOTENT_ACTIONS = frozenset({"upsert", "updateOnly"})


@dataclass
class Resumed:
    """What an interrupted job left, tied to the sheet as it is now."""

    state: JournalState
    recovered: dict[int, RowResult] = field(default_factory=dict)
    in_flight: list[RowPlan] = field(default_factory=list)
    never_sent: list[RowPlan] = field(default_factory=list)
    lost: list[tuple[SentRow, RowResult]] = field(default_factory=list)  # rows gone from the sheet

    @property
    def can_resend_in_flight(self) -> bool:
        return self.state.header.action in IDEMPOTENT_ACTIONS

    def describe(self) -> str:
        header = self.state.header
        parts = [
            f"An interrupted sync of this workbook (started {header.started.replace('T', ' ') or 'earlier'}, "
            f"action {header.action}) was found: {len(self.recovered):,} row(s) already have "
            f"results, {len(self.never_sent):,} were never sent"
        ]
        if self.in_flight:
            parts.append(
                f"{len(self.in_flight):,} were being sent, or about to be, when it stopped, so whether the "
                "server processed them is unknown"
            )
        if self.lost:
            parts.append(f"{len(self.lost):,} result(s) belong to rows no longer in the sheet (kept in the log)")
        return "; ".join(parts) + "."


@dataclass
class PreparedRun:
    book: ResultBook
    rows: list[RowPlan]  # what the engine sends
    journal: JobJournal
    resumed: Resumed | None = None
    state: SyncState | None = None
    plan: Plan | None = None
    options: JobOptions | None = None
    unchanged: int = 0
    #: the copy of the workbook being written as results arrive (``run_job`` starts it)
    write_ahead: WriteAhead | None = None
    #: the plan is lazy: every row goes, checked as the engine takes it (``rows`` is empty)
    streaming: bool = False

    def note(self, results: list[RowResult]) -> None:
        """A batch's results, recorded in the sync state as they come (saved by ``remember``)."""
        if self.state is None or self.plan is None or self.options is None:
            return
        self.state.note(self.plan, results, campaign=self.options.campaign_id, action=self.options.action)

    def remember(self) -> None:
        """After the engine: note what was sent for each contact (changed rows only, next time)."""
        if self.state is None or self.plan is None or self.options is None:
            return
        self.state.record(self.plan, self.book.results.values(), campaign=self.options.campaign_id, action=self.options.action)
        try:
            self.state.save()
        except OSError as exc:
            log.warning("sync state not saved (%s): the next sync sends every row", exc)


def pending_journal(workbook: Path, paths: AppPaths | None = None) -> JournalState | None:
    paths = paths or AppPaths.default()
    return JournalState.load(journal_path(paths.journal_dir, workbook))


def discard_journal(workbook: Path, paths: AppPaths | None = None) -> None:
    paths = paths or AppPaths.default()
    try:
        journal_path(paths.journal_dir, workbook).unlink()
    except FileNotFoundError:
        pass


def match_journal(state: JournalState, plan: Plan) -> Resumed:
    finder = RowFinder(plan)

    def find(sent: SentRow) -> RowPlan | None:
        return finder.find(sent.number, sent.email, sent.phone)

    resumed = Resumed(state)
    for sent, result in state.results:
        row = find(sent)
        if row is None:
            resumed.lost.append((sent, result))
            continue
        result.number = row.number
        resumed.recovered[row.number] = result
    seen = set(resumed.recovered)
    for sent in state.in_flight:
        row = find(sent)
        if row is not None and row.number not in seen:
            resumed.in_flight.append(row)
            seen.add(row.number)
    resumed.never_sent = [r for r in plan.to_send if r.number not in seen]
    if resumed.lost:
        log.warning("journal results for rows no longer in the sheet: %s",
                    [(s.number, s.email, s.phone, r.status) for s, r in resumed.lost])
    return resumed


def prepare_run(
    loaded: LoadedSheet,
    plan: Plan,
    options: JobOptions,
    *,
    paths: AppPaths | None = None,
    restart: bool = False,
    resend_in_flight: bool = True,
    send_all: bool = False,
    rows: list[RowPlan] | None = None,
) -> PreparedRun:
    """The rows to send, the result book so far, and the journal to record into.

    Rows whose mapped values did not change since their last successful sync are
    ``unchanged`` and not sent, unless ``send_all``. ``rows`` narrows the job to some
    rows (Retry failed rows).

    A lazy plan (rows not checked yet) stays lazy when every row will go, to the job's
    campaign and action: a new job, nothing synced to that campaign before (or
    ``send_all``), no Campaign or Action column. The run is then ``streaming``: the
    engine takes the rows as they are checked. Otherwise the plan is checked here.
    """
    paths = paths or AppPaths.default()
    path = journal_path(paths.journal_dir, loaded.data.path)
    sync_state = SyncState.load(loaded.data.path, loaded.data.sheet, paths)
    journal_state = None if restart else JournalState.load(path)
    streaming = not plan.complete and rows is None and journal_state is None \
        and (send_all or not sync_state.entries.get(options.campaign_id)) \
        and plan.mapping.column_for("campaign") is None and plan.mapping.column_for("action") is None
    if not streaming:
        plan.check_all()
    book = ResultBook.for_plan(plan)
    if journal_state is None:
        header = JobHeader(str(loaded.data.path), loaded.data.sheet, loaded.data.header_row,
                           options.campaign_id, options.action, dt.datetime.now().isoformat(timespec="seconds"))
        if streaming:
            return PreparedRun(book, [], JobJournal.start(path, header, plan.rows), None, sync_state, plan, options,
                               streaming=True)
    candidates = list(plan.to_send if rows is None else rows)
    if journal_state is None:
        unchanged: list[RowResult] = []
        if not send_all:
            candidates, unchanged = sync_state.split_unchanged(plan, candidates, campaign=options.campaign_id, action=options.action)
            stamp = now()
            for result in unchanged:
                result.at = stamp
                book.results[result.number] = result
        return PreparedRun(book, candidates, JobJournal.start(path, header, plan.rows), None,
                           sync_state, plan, options, len(unchanged))
    state = journal_state
    header = state.header
    if header.campaign_id != options.campaign_id or header.action != options.action or header.sheet != loaded.data.sheet:
        raise JobConfigError(
            f"An interrupted sync of this workbook (sheet '{header.sheet}', campaign "
            f"{header.campaign_id}, action {header.action}) has not finished. Sync with those "
            "same settings to finish it, or start over (--restart, or Start over in the window); "
            "starting over forgets which rows were already sent."
        )
    resumed = match_journal(state, plan)
    book.results.update(resumed.recovered)
    book.unmatched.extend(state.unmatched)
    to_send = list(resumed.never_sent)
    if not send_all:
        to_send, unchanged_rows = sync_state.split_unchanged(plan, to_send, campaign=options.campaign_id, action=options.action)
        for result in unchanged_rows:
            result.at = now()
            book.results[result.number] = result
    if resumed.in_flight and resumed.can_resend_in_flight and resend_in_flight:
        to_send = sorted(to_send + resumed.in_flight, key=lambda r: r.number)
    else:
        stamp = now()
        for row in resumed.in_flight:
            book.results[row.number] = RowResult(
                row.number, ERROR,
                "Outcome unknown: Sheet Sync stopped while this row's batch was being sent. "
                "Check the campaign, then sync again (Retry failed rows) to send it again.",
                stamp,
            )
    return PreparedRun(book, to_send, JobJournal.resume(path, plan.rows), resumed, sync_state, plan, options)
