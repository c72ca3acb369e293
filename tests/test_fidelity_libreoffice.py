"""Round-trip fidelity on workbooks written by LibreOffice, read back by LibreOffice.

The workbooks are made here: a rich workbook built with openpyxl (styles, merged cells,
an Excel table, data validation, conditional formats, comments, hyperlinks, defined
names, hidden rows and columns, sheets with formulas across sheets, a chart) and an
Excel-made workbook with an image, each converted by LibreOffice
(``soffice --headless --convert-to xlsx``) so LibreOffice wrote every part. After a
sync, every part but the sheet's (and styles / the table, where the status columns join
it) is byte-identical, and LibreOffice opens the result and shows the status values.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table

from sheetsync.core.client import ContactsApi
from sheetsync.core.engine import JobOptions, SyncEngine
from sheetsync.core.job import ResultBook, load_sheet, plan_job, save_results
from sheetsync.core.writeback import sheet_part_name
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

SOFFICE = shutil.which("soffice")
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "excel-made"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SOFFICE is None, reason="needs LibreOffice (Debian: libreoffice-calc)"),
]


def soffice(args: list[str], profile: Path) -> None:
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", *args],
        check=True, capture_output=True, timeout=180,
    )


def convert(src: Path, out_dir: Path, profile: Path, fmt: str = "xlsx") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    soffice(["--convert-to", fmt, "--outdir", str(out_dir), str(src)], profile)
    return out_dir / (src.stem + "." + fmt.split(":")[0])


def rich_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contacts"
    ws.append(["First Name", "Email", "Phone", "Tier", "Score"])
    for i in range(30):
        ws.append([f"Name{i}", f"p{i}@example.com", f"212555{i:04d}", ["basic", "pro"][i % 2], i * 3])
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="305496")
    ws.add_table(Table(displayName="People", ref="A1:E31"))
    dv = DataValidation(type="list", formula1='"basic,pro"')
    ws.add_data_validation(dv)
    dv.add("D2:D31")
    ws.conditional_formatting.add("E2:E31", CellIsRule(operator="greaterThan", formula=["50"], fill=PatternFill("solid", fgColor="FFC7CE")))
    ws["A2"].comment = Comment("VIP", "Sales")
    ws["B3"].hyperlink = "mailto:p1@example.com"
    ws.row_dimensions[5].hidden = True
    ws.column_dimensions["C"].hidden = True
    ws.freeze_panes = "A2"
    wb.defined_names["Scores"] = DefinedName("Scores", attr_text="Contacts!$E$2:$E$31")
    other = wb.create_sheet("Summary")
    other["A1"] = "Total score"
    other["B1"] = "=SUM(Contacts!E2:E31)"
    other.merge_cells("A3:C3")
    other["A3"] = "merged title"
    other["A4"] = "=Contacts!A2&\" first\""
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=5, min_row=1, max_row=31), titles_from_data=True)
    other.add_chart(chart, "E2")
    wb.save(path)
    return path


def sync_into(path: Path, sheet: str, api: SandboxApi) -> ResultBook:
    loaded = load_sheet(path, sheet)
    plan = plan_job(loaded.data)
    book = ResultBook.for_plan(plan)
    with ContactsApi(api.base_url, DEMO_API_KEY) as client:
        for outcome in SyncEngine(plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID), client).run():
            book.add(outcome)
    save_results(loaded.data, book, stamp=loaded.stamp)
    return book


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def all_values(path: Path) -> dict[str, list[list[object]]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def csv_of_first_sheet(path: Path, out: Path, profile: Path) -> list[list[str]]:
    converted = convert(path, out, profile, 'csv:Text - txt - csv (StarCalc):44,34,76,1')
    with converted.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lo-profile")


def test_libreoffice_rich_workbook_round_trip(tmp_path: Path, profile: Path) -> None:
    made = convert(rich_workbook(tmp_path / "rich.xlsx"), tmp_path / "lo", profile)
    before_parts = parts(made)
    before_values = all_values(made)
    sheet_part = sheet_part_name(made, "Contacts")
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID]) as api:
        book = sync_into(made, "Contacts", api)
    assert book.summary().counts["created"] == 30
    after_parts = parts(made)
    changed = {n for n in before_parts if after_parts.get(n) != before_parts[n]}
    table_parts = {n for n in before_parts if n.startswith("xl/tables/")}
    assert changed <= {sheet_part, "xl/styles.xml"} | table_parts, changed
    assert set(after_parts) == set(before_parts)
    after_values = all_values(made)
    assert after_values["Summary"] == before_values["Summary"]
    for before_row, after_row in zip(before_values["Contacts"], after_values["Contacts"], strict=True):
        assert after_row[: len(before_row)] == before_row
    wb = openpyxl.load_workbook(made)
    ws = wb["Contacts"]
    table = next(iter(ws.tables.values()))
    assert table.ref == "A1:H31"  # the status columns joined the table
    assert [c.name for c in table.tableColumns][-3:] == ["Sync Status", "Sync Message", "Synced At"]
    assert ws.row_dimensions[5].hidden and ws.column_dimensions["C"].hidden
    assert "Scores" in wb.defined_names
    rows = csv_of_first_sheet(made, tmp_path / "csv", profile)
    assert rows[0][5:8] == ["Sync Status", "Sync Message", "Synced At"]
    assert {r[5] for r in rows[1:31]} == {"created"}


@pytest.mark.skipif(not (CORPUS / "image01.xlsx").exists(), reason="the Excel corpus is not beside the repository")
def test_libreoffice_workbook_with_an_image_keeps_it(tmp_path: Path, profile: Path) -> None:
    src = tmp_path / "contacts_image.xlsx"
    shutil.copy(CORPUS / "image01.xlsx", src)
    made = convert(src, tmp_path / "lo", profile)
    before = parts(made)
    assert any(n.startswith("xl/media/") for n in before), "LibreOffice kept the image"
    # A small contact list next to the picture, written by our own lossless writer.
    from sheetsync.core.writeback import patch_sheet

    patched = tmp_path / "lo" / "with_rows.xlsx"
    patch_sheet(made, patched, sheet_name=openpyxl.load_workbook(made).sheetnames[0], header_row=1,
                columns=[(1, "Email")], rows={2: ["img@example.com"], 3: ["img2@example.com"]})
    before = parts(patched)
    sheet = openpyxl.load_workbook(patched).sheetnames[0]
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID]) as api:
        book = sync_into(patched, sheet, api)
    assert book.summary().counts["created"] == 2
    after = parts(patched)
    sheet_part = sheet_part_name(patched, sheet)
    for name, data in before.items():
        if name not in (sheet_part, "xl/styles.xml"):
            assert after[name] == data, name
    assert any(n.startswith("xl/media/") for n in after)
    rows = csv_of_first_sheet(patched, tmp_path / "csv", profile)
    header = rows[0]
    status_col = header.index("Sync Status")
    assert [r[status_col] for r in rows[1:3]] == ["created", "created"]
