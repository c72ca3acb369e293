"""Reading a workbook's values.

Values come from python-calamine (Rust): it reads 100,000 rows x 12 columns in about
1 s where openpyxl's read-only mode takes about 7 s. Calamine reports error cells
(``#N/A``...) as empty strings, so the error cells are found by a quick scan of the
sheet's XML (:func:`sheetsync.core.writeback.find_error_cells`) to warn about them.
"""

from __future__ import annotations

import logging
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import python_calamine as calamine

from .errors import WorkbookError
from .values import CellValue, column_letter, convert_cell

log = logging.getLogger("sheetsync.workbook")

SUPPORTED_SUFFIXES = (".xlsx", ".xlsm")
STATUS_HEADERS = ("Sync Status", "Sync Message", "Synced At")

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .xls or encrypted .xlsx


@dataclass(frozen=True)
class SheetInfo:
    name: str
    visible: bool
    is_worksheet: bool


@dataclass(slots=True)
class DataRow:
    """One data row; ``number`` is its 1-based row number in the sheet, kept end to end."""

    number: int
    values: list[CellValue]

    def get(self, column: int) -> CellValue:
        """Value of the 0-based column, None past the row's end."""
        return self.values[column] if column < len(self.values) else None


@dataclass
class SheetData:
    path: Path
    sheet: str
    header_row: int
    headers: list[str]
    rows: list[DataRow]
    warnings: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.headers)

    def status_columns(self) -> list[int]:
        """1-based columns for Sync Status, Sync Message, Synced At: found by header, else after the last."""
        lowered = [h.strip().casefold() for h in self.headers]
        found = [
            lowered.index(name.casefold()) + 1 if name.casefold() in lowered else None
            for name in STATUS_HEADERS
        ]
        next_free = self.width + 1
        columns = []
        for col in found:
            if col is None:
                col = next_free
                next_free += 1
            columns.append(col)
        return columns

    def is_status_column(self, index: int) -> bool:
        """True for a 0-based column holding one of our status headers."""
        return self.headers[index].strip().casefold() in {h.casefold() for h in STATUS_HEADERS}


def check_workbook_file(path: Path) -> None:
    """Refuse, with a message saying what to do, anything that is not a readable .xlsx/.xlsm."""
    if not path.exists():
        raise WorkbookError(f"The workbook {path} does not exist. Check the path and try again.")
    if path.is_dir():
        raise WorkbookError(f"{path} is a folder, not a workbook.")
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            fh.seek(0)
            cfb = fh.read(64 * 1024) if head == _CFB_MAGIC else b""
    except OSError as exc:
        raise WorkbookError(
            f"The workbook {path.name} cannot be read ({exc.strerror or exc}). "
            "Check that you have permission to open it.",
            details=repr(exc),
        ) from exc
    if head == _CFB_MAGIC:
        if "EncryptedPackage".encode("utf-16-le") in cfb or suffix in SUPPORTED_SUFFIXES:
            raise WorkbookError(
                f"{path.name} is password-protected (encrypted). Open it in Excel, remove the "
                "password (File > Info > Protect Workbook), save, and try again."
            )
        raise WorkbookError(
            f"{path.name} is a legacy Excel 97-2003 workbook (.xls). Open it in Excel and "
            "save it as an Excel Workbook (.xlsx), then open that file."
        )
    if suffix == ".xls":
        raise WorkbookError(
            f"{path.name} is a legacy .xls file. Save it as .xlsx in Excel and open that file."
        )
    if suffix not in SUPPORTED_SUFFIXES:
        raise WorkbookError(
            f"{path.name} is not an Excel workbook Sheet Sync can update: open an .xlsx or "
            ".xlsm file (in Excel, File > Save As > Excel Workbook)."
        )
    if not head:
        raise WorkbookError(f"{path.name} is an empty file (0 bytes), not a workbook.")
    if not zipfile.is_zipfile(path):
        raise WorkbookError(
            f"{path.name} is not a valid Excel workbook: it may be damaged or truncated, or "
            "another kind of file renamed to .xlsx. Open it in Excel to check, or use a backup."
        )


def _open(path: Path) -> calamine.CalamineWorkbook:
    check_workbook_file(path)
    try:
        return calamine.CalamineWorkbook.from_path(str(path))
    except calamine.PasswordError as exc:
        raise WorkbookError(
            f"{path.name} is password-protected. Remove the password in Excel and try again.",
            details=str(exc),
        ) from exc
    except Exception as exc:  # calamine raises several unrelated types for damaged files
        raise WorkbookError(
            f"{path.name} could not be read: it looks damaged or truncated. Open it in Excel "
            "(which can often repair it), save it, and try again.",
            details=f"{type(exc).__name__}: {exc}",
        ) from exc


def _sheet_infos(book: calamine.CalamineWorkbook) -> list[SheetInfo]:
    return [
        SheetInfo(
            name=meta.name,
            visible=meta.visible == calamine.SheetVisibleEnum.Visible,
            is_worksheet=meta.typ == calamine.SheetTypeEnum.WorkSheet,
        )
        for meta in book.sheets_metadata
    ]


def list_sheets(path: Path) -> list[SheetInfo]:
    book = _open(Path(path))
    try:
        return _sheet_infos(book)
    finally:
        book.close()


def default_sheet(sheets: list[SheetInfo]) -> str:
    for info in sheets:
        if info.visible and info.is_worksheet:
            return info.name
    for info in sheets:
        if info.is_worksheet:
            return info.name
    raise WorkbookError("The workbook has no worksheet (only charts). Open a workbook with data.")


def read_sheet(path: Path, sheet: str | None = None, header_row: int | None = None) -> SheetData:
    """Read one sheet: the header row (first non-empty row unless given) and its data rows.

    Blank rows are skipped; every row keeps its sheet row number.
    """
    path = Path(path)
    book = _open(path)
    try:
        sheets = _sheet_infos(book)
        name = sheet if sheet is not None else default_sheet(sheets)
        info = next((s for s in sheets if s.name == name), None)
        if info is None:
            names = ", ".join(f"'{s.name}'" for s in sheets)
            raise WorkbookError(f"There is no sheet named '{name}' in {path.name}. Its sheets: {names}.")
        if not info.is_worksheet:
            raise WorkbookError(f"'{name}' is a chart sheet, not a sheet of data. Pick another sheet.")
        # calamine parses without the GIL: the scan for error cells runs meanwhile
        scan = _ErrorCellScan(path, name)
        try:
            cal_sheet = book.get_sheet_by_name(name)
        except Exception as exc:
            raise WorkbookError(
                f"The sheet '{name}' of {path.name} could not be read: the file looks damaged. "
                "Open it in Excel, save it, and try again.",
                details=f"{type(exc).__name__}: {exc}",
            ) from exc
        data = _read_rows(path, name, cal_sheet, header_row)
    finally:
        book.close()
    _warn_error_cells(data, scan)
    return data


def _read_rows(path: Path, name: str, cal_sheet: calamine.CalamineSheet, header_row: int | None) -> SheetData:
    # iter_rows() yields from the sheet's first row (leading empty rows included) but
    # from the first *used* column: pad the columns back so indexes match the sheet.
    first_row = 1
    first_col = cal_sheet.start[1] if cal_sheet.start else 0
    rows: Iterator[list[object]] = iter(cal_sheet.iter_rows()) if cal_sheet.height else iter(())
    headers: list[str] | None = None
    data_rows: list[DataRow] = []
    hdr_number = 0
    pad = [None] * first_col
    shared = _SharedTexts()
    for offset, raw in enumerate(rows):
        number = first_row + offset
        values = pad + [convert_cell(v) for v in raw] if first_col else [convert_cell(v) for v in raw]
        shared.share(values)
        if headers is None:
            if header_row is not None and number < header_row:
                continue
            if all(v is None for v in values):
                if header_row is not None and number == header_row:
                    raise WorkbookError(f"Row {header_row} of '{name}' is empty: it cannot be the header row.")
                continue
            headers = values  # type: ignore[assignment]
            hdr_number = number
            continue
        while values and values[-1] is None:
            values.pop()
        if values:
            data_rows.append(DataRow(number, values))
    if headers is None:
        if header_row is not None:
            raise WorkbookError(f"The sheet '{name}' has no row {header_row}: pick another header row.")
        raise WorkbookError(f"The sheet '{name}' of {path.name} is empty: there is nothing to sync.")
    names, warnings = _header_names(headers)  # type: ignore[arg-type]
    width = max([len(names)] + [len(r.values) for r in data_rows])
    for col in range(len(names), width):
        names.append(f"Column {column_letter(col + 1)}")
    return SheetData(path, name, hdr_number, names, data_rows, warnings)


class _SharedTexts:
    """One str object for each text a column repeats (a status, a country, a plan, a date).

    Calamine makes a new str for every cell: at a million rows, the columns that repeat a
    few values held 380 MB of copies. Each column keeps a table of the texts seen so far
    until it holds ``LIMIT`` different ones; then that column is one of unique values (names,
    emails) and is no longer looked up, so its table does not become a second copy.
    """

    LIMIT = 2048

    def __init__(self) -> None:
        self._tables: list[dict[str, str] | None] = []  # by column; None: unique values
        self._active: list[int] = []  # the columns still shared

    def share(self, values: list[CellValue]) -> None:
        tables = self._tables
        if len(values) > len(tables):  # a row wider than any before
            self._active += range(len(tables), len(values))
            tables += [{} for _ in range(len(values) - len(tables))]
        for column in self._active:
            if column >= len(values):
                break  # the active columns are in order
            value = values[column]
            if type(value) is not str:
                continue
            table = tables[column]
            same = table.get(value)  # type: ignore[union-attr]
            if same is not None:
                values[column] = same
            elif len(table) < self.LIMIT:  # type: ignore[arg-type]
                table[value] = value  # type: ignore[index]
            else:
                tables[column] = None
                self._active = [c for c in self._active if c != column]


def _header_names(values: list[CellValue]) -> tuple[list[str], list[str]]:
    """Header texts, made unique: a blank header becomes "Column D", a repeat "Email (F)"."""
    while values and values[-1] is None:
        values.pop()
    names: list[str] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for index, value in enumerate(values):
        letter = column_letter(index + 1)
        text = " ".join(str(value).split()) if value is not None else ""
        if not text:
            text = f"Column {letter}"
        elif text.casefold() in seen:
            warnings.append(f"Column {letter} repeats the header '{text}'; it is called '{text} ({letter})'.")
            text = f"{text} ({letter})"
        seen.add(text.casefold())
        names.append(text)
    return names, warnings


class _ErrorCellScan:
    """``writeback.find_error_cells`` on a thread: (row, col, text) cells, or what it raised."""

    def __init__(self, path: Path, sheet: str) -> None:
        self._cells: list[tuple[int, int, str]] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, sheet), name="error-cells", daemon=True)
        self._thread.start()

    def _run(self, path: Path, sheet: str) -> None:
        from .writeback import find_error_cells

        try:
            self._cells = find_error_cells(path, sheet)
        except BaseException as exc:  # handed to the reading thread, which reports it
            self._error = exc

    def result(self) -> list[tuple[int, int, str]]:
        """The cells found; raises what the scan raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._cells


def _warn_error_cells(data: SheetData, scan: _ErrorCellScan) -> None:
    try:
        cells = scan.result()
    except WorkbookError as exc:
        log.warning("error-cell scan skipped: %s", exc)
        return
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError) as exc:
        # calamine read the values, but a part of the package is damaged: writing the
        # results back would fail later, so say it now.
        raise WorkbookError(
            f"{data.path.name} is damaged (a part of the file fails its checksum). Open it in "
            "Excel, which can often repair it, save it, and try again.",
            details=f"{type(exc).__name__}: {exc}",
        ) from exc
    if not cells:
        return
    shown = ", ".join(f"{column_letter(c)}{r} ({text})" for r, c, text in cells[:5])
    more = f" and {len(cells) - 5} more" if len(cells) > 5 else ""
    data.warnings.append(
        f"{len(cells)} cell(s) hold an Excel error and count as empty: {shown}{more}."
    )


# -- a sheet as loaded for a job ---------------------------------------------------------


@dataclass(frozen=True)
class FileStamp:
    """Size and modification time: tells whether the workbook changed since it was read."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        st = Path(path).stat()
        return cls(st.st_size, st.st_mtime_ns)


@dataclass
class LoadedSheet:
    data: SheetData
    stamp: FileStamp


def load_sheet(path: Path, sheet: str | None = None, header_row: int | None = None) -> LoadedSheet:
    path = Path(path)
    started = time.perf_counter()
    data = read_sheet(path, sheet, header_row)
    log.debug("read %d rows of '%s' in %.2f s", len(data.rows), data.sheet, time.perf_counter() - started)
    return LoadedSheet(data, FileStamp.of(path))
