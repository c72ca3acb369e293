"""The functions the workers run: plain core calls, no Qt (they run off the GUI thread)."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sheetsync.core.client import ContactsApi
from sheetsync.core.contacts import Plan, RowPlan
from sheetsync.core.engine import BatchOutcome, JobOptions, SyncEngine
from sheetsync.core.errors import JobStopped, MappingError, SaveError, WorkbookError
from sheetsync.core.export import export_problems_of
from sheetsync.core.job import (
    FileStamp, LoadedSheet, ResultBook, apply_results_file, load_sheet, plan_job, reload_sheet,
    save_results_unless_open,
)
from sheetsync.core.journal import JobJournal, JournalState
from sheetsync.core.locks import LockInfo, find_lock, save_blocker
from sheetsync.core.mapping import Mapping, ResolvedMapping, resolve
from sheetsync.core.missing import MissingReport, remove_missing
from sheetsync.core.paths import AppPaths
from sheetsync.core.profiles import find_profile
from sheetsync.core.results import RowResult
from sheetsync.core.resume import PreparedRun, Resumed, discard_journal, match_journal, pending_journal, prepare_run
from sheetsync.core.settings import Settings
from sheetsync.core.syncstate import Entry, SyncState
from sheetsync.core.workbook import SheetInfo, default_sheet, list_sheets

log = logging.getLogger("sheetsync.gui.jobs")

__all__ = [
    "Checked", "JobEnd", "LoadResult", "Preflight", "Reapplied", "SaveFailure", "Started", "apply_results",
    "check_rows", "export_problems", "load_workbook", "preflight", "reload_and_save", "run_job", "save_book",
    "save_blocker", "validate_rows",
]


@dataclass
class LoadResult:
    path: Path
    sheets: list[SheetInfo]
    loaded: LoadedSheet
    mapping: Mapping  # the saved mapping for this workbook and sheet (empty if none)
    resolved: ResolvedMapping
    warnings: list[str] = field(default_factory=list)
    profile_used: bool = False  # mapped with the profile saved for these headers
    journal: JournalState | None = None  # an interrupted sync of this workbook


def load_workbook(path: Path, sheet: str | None, header_row: int | None, saved: dict[str, Any],
                  profiles: dict[str, Any] | None = None, paths: AppPaths | None = None) -> LoadResult:
    """Sheets, the chosen sheet's rows, and its mapping (saved for this workbook and sheet,
    else the profile saved for these headers, else automatic); and a pending journal."""
    sheets = list_sheets(path)
    names = [s.name for s in sheets if s.is_worksheet]
    name = sheet if sheet in names else default_sheet(sheets)
    warnings: list[str] = []
    mapping = Mapping()
    data = saved.get(Settings.mapping_key(path, name))
    if data:
        try:
            mapping = Mapping.from_json(data, source="the saved mapping")
        except MappingError as exc:
            warnings.append(f"The saved mapping was not used: {exc}")
    if header_row is None and mapping.header_row:
        try:
            loaded = load_sheet(path, name, mapping.header_row)
        except WorkbookError:
            loaded = load_sheet(path, name, None)
    else:
        loaded = load_sheet(path, name, header_row)
    profile_used = False
    if not data and profiles:
        try:
            profile = find_profile(profiles, loaded.data.headers)
        except MappingError as exc:
            warnings.append(f"The mapping profile for these headers was not used: {exc}")
            profile = None
        if profile is not None:
            mapping, profile_used = profile, True
    status = [loaded.data.is_status_column(i) for i in range(loaded.data.width)]
    try:
        resolved = resolve(loaded.data.headers, mapping, is_status=status)
    except MappingError as exc:
        warnings.append(f"The saved mapping was not used: {exc}")
        resolved = resolve(loaded.data.headers, None, is_status=status)
    journal = pending_journal(Path(path), paths) if paths is not None else None
    settle()
    return LoadResult(Path(path), sheets, loaded, mapping, resolved, warnings + resolved.warnings,
                      profile_used, journal)


def settle() -> None:
    """Move what was just read out of the cyclic GC's way.

    A sheet of 100,000 rows is over a million objects; every full collection walks them
    all while holding the GIL, which stalls the GUI thread for 100-300 ms each time.
    Frozen objects are still freed by reference counting when the sheet is dropped.
    """
    gc.freeze()


def check_rows(sheet: Any, mapping: Mapping, region: str, labels: dict[str, str] | None = None) -> Plan:
    """plan_job, then settle (see above): Validate and Sync start with this."""
    plan = plan_job(sheet, mapping, region=region, campaign_labels=labels)
    settle()
    return plan


@dataclass
class Checked:
    """What Validate found: the plan, the rows unchanged since their last sync, and the
    contacts synced from this sheet before whose rows are gone (for a valid campaign)."""

    plan: Plan
    unchanged: int = 0
    missing: list[Entry] = field(default_factory=list)


def validate_rows(sheet: Any, mapping: Mapping, region: str, labels: dict[str, str] | None,
                  campaign: str | None, action: str, paths: AppPaths) -> Checked:
    plan = check_rows(sheet, mapping, region, labels)
    if campaign is None:
        return Checked(plan)
    state = SyncState.load(sheet.path, sheet.sheet, paths)
    _, unchanged = state.split_unchanged(plan, plan.to_send, campaign=campaign, action=action)
    return Checked(plan, len(unchanged), state.missing(plan, campaign))


@dataclass
class Preflight:
    """Before a sync: the plan, who has the workbook open, an interrupted job, the missing contacts."""

    plan: Plan
    lock: LockInfo | None
    resumed: Resumed | None
    missing: int


def preflight(loaded: LoadedSheet, mapping: Mapping, region: str, labels: dict[str, str] | None,
              campaign: str | None, paths: AppPaths) -> Preflight:
    plan = check_rows(loaded.data, mapping, region, labels)
    path = loaded.data.path
    state = pending_journal(path, paths)
    resumed = match_journal(state, plan) if state is not None else None
    missing = len(SyncState.load(path, loaded.data.sheet, paths).missing(plan, campaign)) if campaign else 0
    return Preflight(plan, find_lock(path), resumed, missing)


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


@dataclass
class JobEnd:
    stop: JobStopped | None
    run: PreparedRun
    missing: MissingReport | None = None


def run_job(
    loaded: LoadedSheet, plan: Plan, options: JobOptions, base_url: str, api_key: str, cancel: threading.Event, *,
    paths: AppPaths, restart: bool = False, resend_in_flight: bool = True, send_all: bool = False,
    rows: Sequence[RowPlan] | None = None, previous: dict[int, RowResult] | None = None,
    remove_gone: bool = False,
) -> Iterator[Started | BatchOutcome]:
    """The CLI's ``run_sync`` without the save: prepare (journal, resume, unchanged rows),
    send, record; yields Started, then one outcome per batch; returns a JobEnd."""
    run = prepare_run(loaded, plan, options, paths=paths, restart=restart, resend_in_flight=resend_in_flight,
                      send_all=send_all, rows=None if rows is None else list(rows))
    for number, result in (previous or {}).items():  # Retry failed rows: the other rows keep theirs
        run.book.results.setdefault(number, result)
    yield Started(len(run.rows), list(run.book.results.values()), run.resumed, run.unchanged, run.book, run.journal)
    holder: dict[str, SyncEngine] = {}
    report: MissingReport | None = None
    try:
        with ContactsApi(base_url, api_key, on_retry=lambda event: holder["engine"].note_retry(event.throttled)) as client:
            engine = SyncEngine(plan, options, client, cancel=cancel, journal=run.journal, rows=run.rows)
            holder["engine"] = engine
            for outcome in engine.run():
                run.book.add(outcome)
                yield outcome
            if remove_gone and engine.stop_error is None and not engine.cancelled:
                run.remember()  # first note what this run sent, then what is missing
                report = remove_missing(run, client)
    finally:
        run.journal.close()
    run.remember()
    return JobEnd(engine.stop_error, run, report)


@dataclass
class SaveFailure:
    """The workbook was not written; the results are in ``error.results_path``."""

    error: SaveError
    changed: bool  # the workbook changed on disk since it was read (rows may have moved)
    blocked: str | None  # why it cannot be written now (open in Excel, read-only): wait for it


def save_book(loaded: LoadedSheet, book: ResultBook, target: Path | None = None,
              journal: JobJournal | None = None) -> tuple[Path, FileStamp] | SaveFailure:
    """Write the results; then the job's journal is no longer needed."""
    try:
        path = save_results_unless_open(loaded.data, book, stamp=loaded.stamp, target=target)
    except SaveError as exc:
        try:
            changed = FileStamp.of(loaded.data.path) != loaded.stamp
        except OSError:
            changed = False
        return SaveFailure(exc, changed, None if changed else save_blocker(Path(target or loaded.data.path)))
    if journal is not None:
        journal.discard()
    return path, FileStamp.of(path)


@dataclass
class Reapplied:
    """Reload and apply: the sheet read again, the results tied to its rows, and the save."""

    loaded: LoadedSheet
    plan: Plan
    book: ResultBook
    lost: list[RowResult]
    saved: tuple[Path, FileStamp] | SaveFailure


def reload_and_save(loaded: LoadedSheet, book: ResultBook, mapping: Mapping, region: str,
                    labels: dict[str, str] | None, journal: JobJournal | None) -> Reapplied:
    fresh = reload_sheet(loaded)
    plan = check_rows(fresh.data, mapping, region, labels)
    new_book, lost = book.rebase(plan)
    return Reapplied(fresh, plan, new_book, lost, save_book(fresh, new_book, None, journal))


def apply_results(results_file: Path, workbook: Path | None, paths: AppPaths) -> tuple[Path, Any]:
    target, summary = apply_results_file(results_file, workbook)
    discard_journal(target, paths)
    return target, summary


def export_problems(workbook: Path, sheet: str, header_row: int, out: Path) -> tuple[Path, int]:
    return export_problems_of(workbook, sheet, header_row, out)
