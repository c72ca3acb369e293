"""Failed rows out, fixed rows back: the rows with problems, in a new workbook.

The new workbook has the sheet's own columns (so the same mapping applies), the status
and reason of each row in the usual Sync Status / Sync Message columns, and the row's
number in the source sheet. Fix the rows there and sync that workbook: upsert updates
the same contacts, matched by email or phone.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from .errors import WorkbookError
from .profiles import EXPORT_HEADERS
from .results import PROBLEM_STATUSES
from .workbook import STATUS_HEADERS, SheetData, read_sheet


def problems_path(workbook: Path) -> Path:
    return workbook.with_name(f"{workbook.stem} - problems.xlsx")


def export_problems(sheet: SheetData, out: Path | None = None) -> tuple[Path, int]:
    """Write the rows whose Sync Status is error, invalid or not processed; (path, rows)."""
    status_col, message_col, _ = (c - 1 for c in sheet.status_columns())
    if status_col >= sheet.width:
        raise WorkbookError(f"The sheet '{sheet.sheet}' has no Sync Status column yet: sync it first.")
    keep = [i for i in range(sheet.width) if not sheet.is_status_column(i)]
    problems = [
        [row.get(i) for i in keep] + [row.get(status_col), row.get(message_col), row.number]
        for row in sheet.rows
        if row.get(status_col) in PROBLEM_STATUSES
    ]
    if not problems:
        raise WorkbookError("No row has a problem (error, invalid or not processed): nothing to export.")
    out = Path(out) if out else problems_path(sheet.path)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet.sheet[:31])
    ws.append([sheet.headers[i] for i in keep] + [STATUS_HEADERS[0], STATUS_HEADERS[1], EXPORT_HEADERS[0]])
    for values in problems:
        ws.append(values)
    count = len(problems)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".~{out.name}")
    wb.save(tmp)
    _bold_header(tmp)
    tmp.replace(out)
    return out, count


def _bold_header(path: Path) -> None:
    """Write-only workbooks cannot style after the fact; the header is bolded by a reload."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    for cell in wb.active[1]:
        cell.font = Font(bold=True)
    wb.active.freeze_panes = "A2"
    wb.save(path)


def export_problems_of(workbook: Path, sheet: str | None = None, header_row: int | None = None, out: Path | None = None) -> tuple[Path, int]:
    return export_problems(read_sheet(workbook, sheet, header_row), out)
