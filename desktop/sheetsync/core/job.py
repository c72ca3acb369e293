"""One sync job, step by step: the same steps for the command line and the window.

    sheet = load_sheet(path, sheet_name, header_row)      # read values (calamine)
    plan = plan_job(sheet, mapping, region)               # map, check, find duplicates
    engine = SyncEngine(plan, options, client, ...)       # send; one outcome per batch
    book = ResultBook(plan); book.add(outcome) ...        # every row's result, in memory
    save_results(sheet, book)                             # write back, or a results file

Nothing the server returned is lost: a ``ResultBook`` holds every result until it is in
the workbook, and when the workbook cannot be written the results go to a results file
(``apply_results_file`` writes them in later).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomicfile import write_text_atomic
from .contacts import INVALID as ROW_INVALID
from .contacts import Plan, RowFinder, RowPlan, prepare
from .engine import BatchOutcome
from .errors import InputError, MappingError, SaveError, WorkbookError
from .mapping import Mapping, resolve
from .results import INVALID, RowResult, Summary, now
from .workbook import STATUS_HEADERS, FileStamp, LoadedSheet, SheetData, load_sheet, read_sheet

if TYPE_CHECKING:
    from .writeahead import WriteAhead

log = logging.getLogger("sheetsync.job")

__all__ = ["FileStamp", "LoadedSheet", "load_sheet"]  # defined in .workbook (light to import)

RESULTS_SUFFIX = ".sheetsync-results.json"


def plan_job(
    sheet: SheetData,
    mapping: Mapping | None = None,
    *,
    region: str = "US",
    campaign_labels: dict[str, str] | None = None,
    lazy: bool = False,
) -> Plan:
    """The mapping resolved and every row checked; ``lazy``: the rows are checked later,
    as the sync takes them (``Plan.checking``; ``run_job`` decides)."""
    resolved = resolve(sheet.headers, mapping)
    if not sheet.rows:
        raise WorkbookError(
            f"The sheet '{sheet.sheet}' has a header row (row {sheet.header_row}) but no data "
            "rows below it. Add contacts, or pick another sheet or header row."
        )
    if resolved.column_for("email") is None and resolved.column_for("phone") is None:
        raise MappingError(
            "No column is mapped to Email or Phone, and every contact needs one of them. "
            f"Columns: {', '.join(sheet.headers)}. Map one (in a mapping file: "
            '{"columns": {"E-mail": "email"}}).'
        )
    if lazy:
        return prepare(sheet, resolved, region=region, campaign_labels=campaign_labels, lazy=True)
    started = time.perf_counter()
    plan = prepare(sheet, resolved, region=region, campaign_labels=campaign_labels)
    log.debug("checked %d rows in %.2f s", len(plan.rows), time.perf_counter() - started)
    return plan


@dataclass
class ResultBook:
    """Every row's result of a job, kept until written into the workbook."""

    results: dict[int, RowResult] = field(default_factory=dict)
    unmatched: list[Any] = field(default_factory=list)
    server_messages: list[str] = field(default_factory=list)
    #: who each row was (email, phone) and the mapping, so results can follow moved rows
    keys: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    mapping: dict[str, Any] | None = None

    @classmethod
    def for_plan(cls, plan: Plan) -> ResultBook:
        """The book of the plan's rows checked so far (all of them, unless it is lazy)."""
        book = cls(mapping=plan.mapping.to_mapping().to_json())
        stamp = now()
        for row in plan.rows:
            book.checked(row, stamp)
        return book

    def checked(self, row: RowPlan, at: dt.datetime | None = None) -> RowResult | None:
        """A row of the plan (as a lazy plan checks it): who it is, and its result if it is
        invalid (stamped ``at``, or now)."""
        self.keys[row.number] = (row.email, row.phone)
        if row.state != ROW_INVALID:
            return None
        result = self.results[row.number] = RowResult(row.number, INVALID, row.message, at or now())
        return result

    def add(self, outcome: BatchOutcome) -> None:
        for result in outcome.results:
            self.results[result.number] = result
        self.unmatched.extend(outcome.unmatched)
        if outcome.server_message:
            self.server_messages.append(outcome.server_message)

    def summary(self) -> Summary:
        return Summary.of(self.results.values())

    def problem_rows(self) -> list[int]:
        return sorted(n for n, r in self.results.items() if r.is_problem)

    # -- results file -------------------------------------------------------
    def to_json(self, sheet: SheetData) -> dict[str, Any]:
        return {
            "format": "sheetsync-results",
            "version": 1,
            "workbook": str(sheet.path),
            "sheet": sheet.sheet,
            "headerRow": sheet.header_row,
            "columns": sheet.status_columns(),
            "mapping": self.mapping,
            "rows": {
                str(n): {"status": r.status, "message": r.message, "at": r.at.isoformat() if r.at else None,
                         "email": self.keys.get(n, (None, None))[0], "phone": self.keys.get(n, (None, None))[1]}
                for n, r in sorted(self.results.items())
            },
            "unmatchedServerItems": self.unmatched,
        }

    def rebase(self, plan: Plan) -> tuple[ResultBook, list[RowResult]]:
        """These results tied to ``plan``'s rows (the sheet as it is now), by email or phone.

        Returns the new book and the results whose contact is no longer in the sheet.
        """
        finder = RowFinder(plan)
        book = ResultBook.for_plan(plan)
        book.results.clear()
        book.unmatched = list(self.unmatched)
        lost: list[RowResult] = []
        for number, result in sorted(self.results.items()):
            email, phone = self.keys.get(number, (None, None))
            row = finder.find(number, email, phone)
            if row is None:
                lost.append(result)
                continue
            book.results[row.number] = RowResult(row.number, result.status, result.message, result.at)
        if lost:
            log.warning("results for rows no longer in the sheet: %s", [(r.number, r.status) for r in lost])
        return book, lost


def status_cells(sheet: SheetData, results: Iterable[RowResult]) -> tuple[list[tuple[int, str]], dict[int, list[Any]]]:
    """The header cells and per-row values for the three status columns."""
    columns = list(zip(sheet.status_columns(), STATUS_HEADERS, strict=True))
    rows = {r.number: [r.status, r.message or None, r.at] for r in results}
    return columns, rows


def save_results(sheet: SheetData, book: ResultBook, *, stamp: FileStamp | None = None, target: Path | None = None,
                 ahead: WriteAhead | None = None) -> Path:
    """Write the status columns into the workbook (or ``target``), atomically.

    If the file changed on disk since it was read (rows may have moved), or cannot be
    written, the results go to a results file instead and SaveError says where.
    ``ahead``: the copy written during the sync (``core.writeahead``), used if it holds
    exactly these results; it is consumed either way.
    """
    from .writeback import atomic_replace, patch_sheet

    source = sheet.path
    target = Path(target) if target else source
    copy: Path | None = None
    if ahead is not None:
        if target == source:
            copy = ahead.finish(book.results)
        else:
            ahead.abandon()
    if stamp is not None:  # the rows are read from the source, whatever the target
        try:
            changed = FileStamp.of(source) != stamp
        except OSError:
            changed = True
        if changed:
            if copy is not None:
                _unlink(copy)
            path = write_results_file(sheet, book)
            raise SaveError(
                f"{source.name} changed on disk during the sync (saved in Excel?), so its rows "
                f"may have moved and the results were not written into it. They are safe in "
                f"{path}. Reload the workbook and apply them (File > Apply Results File, or "
                "`sheetsync apply-results`), or sync again.",
                results_path=str(path),
            )
    tmp: Path | None = copy
    try:
        if copy is not None:
            atomic_replace(copy, target)
            log.info("results saved: the copy written during the sync replaced %s", target.name)
            return target
        columns, rows = status_cells(sheet, book.results.values())
        fd, tmp_name = tempfile.mkstemp(prefix=f".~{target.stem}.", suffix=target.suffix, dir=_writable_dir(target))
        os.close(fd)
        tmp = Path(tmp_name)
        patch_sheet(source, tmp, sheet_name=sheet.sheet, header_row=sheet.header_row, columns=columns, rows=rows)
        atomic_replace(tmp, target)
    except (SaveError, WorkbookError, OSError) as exc:
        if tmp is not None:
            _unlink(tmp)
        path = write_results_file(sheet, book)
        raise SaveError(
            f"The results could not be written into {target.name}: {exc} They are safe in "
            f"{path}: close the workbook in Excel (or make it writable) and choose Retry, "
            "or run `sheetsync apply-results` with that file.",
            results_path=str(path),
            details=getattr(exc, "details", None) or repr(exc),
        ) from exc
    except BaseException:
        if tmp is not None:
            _unlink(tmp)
        raise
    return target


def save_results_unless_open(sheet: SheetData, book: ResultBook, *, stamp: FileStamp | None = None,
                             target: Path | None = None, ahead: WriteAhead | None = None) -> Path:
    """``save_results``, refused while the target is open in Excel or LibreOffice.

    On Windows Excel's lock makes the write fail anyway; elsewhere the write would succeed
    and Excel would overwrite the results on its next save. Either way the results go to a
    results file and SaveError says so.
    """
    from .locks import find_lock

    target_path = Path(target) if target else sheet.path
    lock = find_lock(target_path)
    if lock is None:
        return save_results(sheet, book, stamp=stamp, target=target, ahead=ahead)
    if ahead is not None:
        ahead.abandon()
    path = write_results_file(sheet, book)
    who = f" by {lock.owner}" if lock.owner else ""
    raise SaveError(
        f"{target_path.name} is open in {lock.app}{who}, so the results were not written into it "
        f"({lock.app} would overwrite them when it saves next). They are safe in {path}: close "
        "the workbook there and choose Retry, or run `sheetsync apply-results` with that file.",
        results_path=str(path),
    )


def reload_sheet(loaded: LoadedSheet) -> LoadedSheet:
    """The same sheet read again from disk; the header row found again if rows were
    inserted above it (the headers, not the row number, identify it)."""
    data = loaded.data
    try:
        fresh: LoadedSheet | None = load_sheet(data.path, data.sheet, data.header_row)
    except WorkbookError:  # that row is empty now
        fresh = None
    if fresh is None or _own_headers(fresh.data) != _own_headers(data):
        try:
            detected = load_sheet(data.path, data.sheet, None)
        except WorkbookError:
            if fresh is None:
                raise
            return fresh
        if fresh is None or _own_headers(detected.data) == _own_headers(data):
            return detected
    return fresh


def _own_headers(sheet: SheetData) -> list[str]:
    return [h for i, h in enumerate(sheet.headers) if not sheet.is_status_column(i)]


def _writable_dir(target: Path) -> Path:
    folder = target.parent
    if folder.is_dir() and os.access(folder, os.W_OK):
        return folder
    if not folder.is_dir():
        raise SaveError(f"The folder {folder} does not exist.")
    raise SaveError(f"The folder {folder} is read-only, so {target.name} cannot be updated there. Use Save As to write a copy elsewhere.")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def results_file_for(workbook: Path, fallback_dir: Path | None = None) -> Path:
    path = workbook.with_name(workbook.name + RESULTS_SUFFIX)
    if os.access(path.parent, os.W_OK) or fallback_dir is None:
        return path
    return fallback_dir / path.name


def write_results_file(sheet: SheetData, book: ResultBook, fallback_dir: Path | None = None) -> Path:
    from .paths import AppPaths

    fallback = fallback_dir or AppPaths.default().data_dir / "results"
    path = results_file_for(sheet.path, fallback)
    try:
        write_text_atomic(path, json.dumps(book.to_json(sheet), indent=1, ensure_ascii=False, default=str))
    except OSError:
        path = fallback / path.name
        write_text_atomic(path, json.dumps(book.to_json(sheet), indent=1, ensure_ascii=False, default=str))
    log.info("results kept in %s", path)
    return path


def load_results_file(path: Path) -> tuple[dict[str, Any], ResultBook]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"The results file {path} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{Path(path).name} is not a Sheet Sync results file ({exc}).") from exc
    if not isinstance(data, dict) or data.get("format") != "sheetsync-results":
        raise InputError(f"{Path(path).name} is not a Sheet Sync results file.")
    book = ResultBook(unmatched=list(data.get("unmatchedServerItems") or []), mapping=data.get("mapping"))
    for number, item in (data.get("rows") or {}).items():
        at = dt.datetime.fromisoformat(item["at"]) if item.get("at") else None
        book.results[int(number)] = RowResult(int(number), item["status"], item.get("message") or "", at)
        book.keys[int(number)] = (item.get("email"), item.get("phone"))
    return data, book


def apply_results_file(path: Path, workbook: Path | None = None) -> tuple[Path, Summary]:
    """Write a results file (from a failed save) into its workbook."""
    data, book = load_results_file(path)
    target = Path(workbook or data["workbook"])
    sheet = read_sheet(target, data["sheet"], data["headerRow"])
    if book.mapping is not None and any(e or p for e, p in book.keys.values()):
        # Rows may have moved since (the workbook was edited): follow the contacts.
        plan = plan_job(sheet, Mapping.from_json(book.mapping, source="the results file"))
        book, lost = book.rebase(plan)
        if lost:
            log.warning("%d result(s) not applied: their contacts are no longer in the sheet", len(lost))
    save_results(sheet, book)
    from .resume import discard_journal

    discard_journal(target)  # its results are in the workbook now
    try:
        Path(path).unlink()
    except OSError:
        pass
    return target, book.summary()
