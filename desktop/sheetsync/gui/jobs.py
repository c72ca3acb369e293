"""The functions the workers run: plain core calls, no Qt (they run off the GUI thread)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sheetsync.core.contacts import Plan, SendCounts
from sheetsync.core.errors import MappingError, SaveError, WorkbookError
from sheetsync.core.export import export_problems_of
from sheetsync.core.job import (
    FileStamp, LoadedSheet, ResultBook, apply_results_file, load_sheet, plan_job, reload_sheet,
    save_results_unless_open,
)
from sheetsync.core.journal import JobJournal, JournalState
from sheetsync.core.locks import LockInfo, find_lock, save_blocker
from sheetsync.core.mapping import Mapping, ResolvedMapping, resolve
from sheetsync.core.paths import AppPaths
from sheetsync.core.profiles import find_profile
from sheetsync.core.results import RowResult
from sheetsync.core.writeahead import WriteAhead
from sheetsync.core.resume import Resumed, discard_journal, match_journal, pending_journal
from sheetsync.core.syncjob import JobEnd, Started, run_job
from sheetsync.core.settings import Settings
from sheetsync.core.syncstate import Entry, SyncState
from sheetsync.core.workbook import SheetInfo, default_sheet, list_sheets

log = logging.getLogger("sheetsync.gui.jobs")

__all__ = [
    "Checked", "JobEnd", "LoadResult", "Preflight", "Reapplied", "SaveFailure", "Started", "apply_results",
    "export_problems", "load_workbook", "plan_rows", "preflight", "reload_and_save", "run_job", "save_blocker",
    "save_book", "validate_rows",
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
    return LoadResult(Path(path), sheets, loaded, mapping, resolved, warnings + resolved.warnings,
                      profile_used, journal)


def plan_rows(sheet: Any, mapping: Mapping, region: str, labels: dict[str, str] | None = None) -> Plan:
    """plan_job with the window's region and campaign labels: Validate and Sync start with this.

    (The worker keeps the cyclic GC out of the way of what it builds: worker._quiet_gc.)
    """
    return plan_job(sheet, mapping, region=region, campaign_labels=labels)


@dataclass
class Checked:
    """What Validate found: the plan, the rows unchanged since their last sync, and the
    contacts synced from this sheet before whose rows are gone (for a valid campaign)."""

    plan: Plan
    unchanged: int = 0
    missing: list[Entry] = field(default_factory=list)


def validate_rows(sheet: Any, mapping: Mapping, region: str, labels: dict[str, str] | None,
                  campaign: str | None, action: str, paths: AppPaths) -> Checked:
    plan = plan_rows(sheet, mapping, region, labels)
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
    sending: SendCounts  # the plan's rows to send, counted here rather than on the window's thread


def preflight(loaded: LoadedSheet, mapping: Mapping, region: str, labels: dict[str, str] | None,
              campaign: str | None, paths: AppPaths) -> Preflight:
    from sheetsync.core.client import tls_context  # httpx: imported when first needed

    tls_context()  # built now, while the window waits anyway, not as the sync starts
    plan = plan_rows(loaded.data, mapping, region, labels)
    path = loaded.data.path
    state = pending_journal(path, paths)
    resumed = match_journal(state, plan) if state is not None else None
    missing = len(SyncState.load(path, loaded.data.sheet, paths).missing(plan, campaign)) if campaign else 0
    return Preflight(plan, find_lock(path), resumed, missing, SendCounts.of(plan.to_send))


@dataclass
class SaveFailure:
    """The workbook was not written; the results are in ``error.results_path``."""

    error: SaveError
    changed: bool  # the workbook changed on disk since it was read (rows may have moved)
    blocked: str | None  # why it cannot be written now (open in Excel, read-only): wait for it


def save_book(loaded: LoadedSheet, book: ResultBook, target: Path | None = None,
              journal: JobJournal | None = None, ahead: WriteAhead | None = None) -> tuple[Path, FileStamp] | SaveFailure:
    """Write the results (``ahead``: the copy written during the sync, consumed here); then
    the job's journal is no longer needed."""
    try:
        path = save_results_unless_open(loaded.data, book, stamp=loaded.stamp, target=target, ahead=ahead)
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
    plan = plan_rows(fresh.data, mapping, region, labels)
    new_book, lost = book.rebase(plan)
    return Reapplied(fresh, plan, new_book, lost, save_book(fresh, new_book, None, journal))


def apply_results(results_file: Path, workbook: Path | None, paths: AppPaths) -> tuple[Path, Any]:
    target, summary = apply_results_file(results_file, workbook)
    discard_journal(target, paths)
    return target, summary


def export_problems(workbook: Path, sheet: str, header_row: int, out: Path) -> tuple[Path, int]:
    return export_problems_of(workbook, sheet, header_row, out)
