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
from sheetsync.core.contacts import RowPlan
from sheetsync.core.engine import BatchOutcome, JobOptions, SyncEngine
from sheetsync.core.errors import JobStopped, MappingError, WorkbookError
from sheetsync.core.job import FileStamp, LoadedSheet, ResultBook, load_sheet, plan_job, save_results
from sheetsync.core.mapping import Mapping, ResolvedMapping, resolve
from sheetsync.core.settings import Settings
from sheetsync.core.workbook import SheetInfo, default_sheet, list_sheets

log = logging.getLogger("sheetsync.gui.jobs")

__all__ = ["LoadResult", "check_rows", "load_workbook", "run_engine", "save_book"]


@dataclass
class LoadResult:
    path: Path
    sheets: list[SheetInfo]
    loaded: LoadedSheet
    mapping: Mapping  # the saved mapping for this workbook and sheet (empty if none)
    resolved: ResolvedMapping
    warnings: list[str] = field(default_factory=list)


def load_workbook(path: Path, sheet: str | None, header_row: int | None, saved: dict[str, Any]) -> LoadResult:
    """Sheets, the chosen sheet's rows, and its mapping (saved, else automatic)."""
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
    status = [loaded.data.is_status_column(i) for i in range(loaded.data.width)]
    try:
        resolved = resolve(loaded.data.headers, mapping, is_status=status)
    except MappingError as exc:
        warnings.append(f"The saved mapping was not used: {exc}")
        resolved = resolve(loaded.data.headers, None, is_status=status)
    settle()
    return LoadResult(Path(path), sheets, loaded, mapping, resolved, warnings + resolved.warnings)


def settle() -> None:
    """Move what was just read out of the cyclic GC's way.

    A sheet of 100,000 rows is over a million objects; every full collection walks them
    all while holding the GIL, which stalls the GUI thread for 100-300 ms each time.
    Frozen objects are still freed by reference counting when the sheet is dropped.
    """
    gc.freeze()


def check_rows(sheet: Any, mapping: Mapping, region: str) -> Any:
    """plan_job, then settle (see above): Validate and Sync start with this."""
    plan = plan_job(sheet, mapping, region=region)
    settle()
    return plan


def run_engine(
    plan: Any, options: JobOptions, base_url: str, api_key: str, cancel: threading.Event,
    rows: Sequence[RowPlan] | None = None,
) -> Iterator[BatchOutcome]:
    """Send the plan's rows; yields one outcome per batch; returns the engine's stop error."""
    holder: dict[str, SyncEngine] = {}
    with ContactsApi(base_url, api_key, on_retry=lambda event: holder["engine"].note_retry(event.throttled)) as client:
        engine = SyncEngine(plan, options, client, cancel=cancel, rows=rows)
        holder["engine"] = engine
        yield from engine.run()
    stop: JobStopped | None = engine.stop_error
    return stop


def save_book(loaded: LoadedSheet, book: ResultBook, target: Path | None = None) -> tuple[Path, FileStamp]:
    """Write the results (raises SaveError, the results then kept in a results file)."""
    path = save_results(loaded.data, book, stamp=loaded.stamp, target=target)
    return path, FileStamp.of(path)
