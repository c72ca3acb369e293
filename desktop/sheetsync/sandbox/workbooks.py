"""Contact workbooks of any size, for the tests, the demo and the benchmarks.

Written with openpyxl's write-only mode, so a million rows stream to disk without
holding the sheet in memory. ``styled=True`` adds what real lists carry: a styled
header, number formats, a frozen pane, an autofilter, column widths, and a second
sheet of formulas that point at the contacts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

HEADERS = [
    "First Name", "Last Name", "E-mail Address", "Mobile Phone", "Company", "Plan Tier",
    "Signed Up", "Score", "City", "Country", "Notes", "Status",
]
_TIERS = ("basic", "pro", "enterprise")
_CITIES = ("Austin", "Boston", "Chicago", "Denver", "Seattle", "Miami")


def contact_row(i: int) -> list[object]:
    """Row i (0-based) of a generated list: unique email and phone per row (i < 7.9 million)."""
    exchange = 201 + (i // 10_000) % 799
    line = i % 10_000
    phone = f"(212) {exchange}-{line:04d}" if i % 7 == 0 else f"212{exchange}{line:04d}"
    return [
        f"First{i}", f"Last{i}", f"user{i}@example.com", phone,
        f"Company {i % 97}", _TIERS[i % 3], dt.date(2025, 1, 1) + dt.timedelta(days=i % 365),
        (i * 7) % 100, _CITIES[i % len(_CITIES)], "US", "private note" if i % 5 == 0 else None, None,
    ]


def make_contacts_workbook(path: Path, rows: int, *, styled: bool = True) -> Path:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Contacts")
    if styled:
        ws.freeze_panes = "A2"
        for index, width in enumerate((12, 12, 28, 18, 14, 10, 12, 8, 10, 8, 16, 10), start=1):
            ws.column_dimensions[chr(64 + index)].width = width
        ws.auto_filter.ref = f"A1:L{rows + 1}"
        header_font = Font(bold=True, color="FFFFFF")
        header_fill = PatternFill("solid", fgColor="2F5597")
        header = []
        for text in HEADERS:
            cell = WriteOnlyCell(ws, value=text)
            cell.font = header_font
            cell.fill = header_fill
            header.append(cell)
        ws.append(header)
        date_cell = WriteOnlyCell(ws)
        for i in range(rows):
            values = contact_row(i)
            date_cell = WriteOnlyCell(ws, value=values[6])
            date_cell.number_format = "yyyy-mm-dd"
            values[6] = date_cell
            ws.append(values)
        summary = wb.create_sheet("Summary")
        summary.append(["Contacts", f"=COUNTA(Contacts!C2:C{rows + 1})"])
        summary.append(["Average score", f"=AVERAGE(Contacts!H2:H{rows + 1})"])
        summary.append(["First email", "=Contacts!C2"])
    else:
        ws.append(HEADERS)
        for i in range(rows):
            ws.append(contact_row(i))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def make_plain_workbook(path: Path, rows: int) -> Path:
    """A bare two-column contacts workbook (Email, First Name) written as raw XML.

    Streams at several hundred thousand rows a second, for the checks at Excel's row
    limit (1,048,576) where openpyxl would take minutes to write the file.
    """
    import zipfile

    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{ns}" xmlns:r="{rel}">'
            '<sheets><sheet name="Contacts" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, text in parts.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{ns}"><sheetData>'.encode())
            fh.write(b'<row r="1"><c r="A1" t="inlineStr"><is><t>Email</t></is></c><c r="B1" t="inlineStr"><is><t>First Name</t></is></c></row>')
            chunk: list[str] = []
            for i in range(rows):
                r = i + 2
                chunk.append(
                    f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>user{i}@example.com</t></is></c>'
                    f'<c r="B{r}" t="inlineStr"><is><t>First{i}</t></is></c></row>'
                )
                if len(chunk) == 10_000:
                    fh.write("".join(chunk).encode())
                    chunk.clear()
            fh.write("".join(chunk).encode())
            fh.write(b"</sheetData></worksheet>")
    return path
