"""The lossless write-back on real files made with openpyxl (and hand-edited sheet XML)."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import openpyxl
import pytest
from openpyxl.worksheet.table import Table
from python_calamine import CalamineWorkbook

from sheetsync.core.values import column_letter
from sheetsync.core import writeback
from sheetsync.core.errors import SaveError, WorkbookError
from sheetsync.core.writeback import (
    UnsupportedWorkbook,
    atomic_replace,
    find_error_cells,
    patch_sheet,
    sheet_part_name,
)

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STATUS = [(4, "Sync Status"), (5, "Sync Message"), (6, "Synced At")]
WHEN = datetime(2026, 1, 5, 14, 30, 15)
SHEET = "xl/worksheets/sheet1.xml"


# --------------------------------------------------------------------------- helpers


def make_workbook(path: Path, rows: int = 5, *, sheet: str = "Contacts") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["Name", "Email", "Phone"])
    for i in range(rows):
        ws.append([f"Name {i}", f"user{i}@example.com", 15551230000 + i])
    for cell in ws[1]:
        cell.font = openpyxl.styles.Font(bold=True)
    other = wb.create_sheet("Other")
    other["A1"] = "=Contacts!C2*2"
    wb.save(path)
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def replace_member(path: Path, name: str, data: bytes | None, *, add: dict[str, bytes] | None = None) -> Path:
    """Rewrite the zip with one member's bytes replaced (or removed when data is None)."""
    tmp = path.with_suffix(".tmp.zip")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename == name:
                if data is not None:
                    zout.writestr(info, data)
            else:
                zout.writestr(info, zin.read(info))
        for extra, payload in (add or {}).items():
            zout.writestr(extra, payload)
    tmp.replace(path)
    return path


def edit_sheet(path: Path, edit, name: str = SHEET) -> Path:
    xml = members(path)[name].decode("utf-8")
    return replace_member(path, name, edit(xml).encode("utf-8"))


def calamine_cells(path: Path, sheet: str) -> dict[tuple[int, int], object]:
    """Non-empty cells by 1-based (row, col); skip_empty_area=False keeps absolute positions."""
    cal = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet)
    return {
        (r + 1, c + 1): value
        for r, row in enumerate(cal.to_python(skip_empty_area=False))
        for c, value in enumerate(row)
        if value != ""
    }


def openpyxl_cells(path: Path, sheet: str) -> dict[tuple[int, int], object]:
    ws = openpyxl.load_workbook(path)[sheet]
    return {(c.row, c.column): c.value for row in ws.iter_rows() for c in row if c.value is not None}


def assert_only_changed(src: Path, dst: Path, changed: set[str]) -> None:
    """Same members in the same order, same bytes (except ``changed``), same compression and dates."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst) as b:
        ia, ib = a.infolist(), b.infolist()
        assert [i.filename for i in ia] == [i.filename for i in ib]
        for x, y in zip(ia, ib):
            assert (x.compress_type, x.date_time) == (y.compress_type, y.date_time), x.filename
            if x.filename not in changed:
                assert a.read(x) == b.read(y), f"{x.filename} changed"


def patch(src: Path, rows, *, columns=STATUS, header_row=1, sheet="Contacts", name="out.xlsx") -> Path:
    dst = src.with_name(name)
    patch_sheet(src, dst, sheet_name=sheet, header_row=header_row, columns=columns, rows=rows)
    return dst


def sheet_xml(path: Path, name: str = SHEET) -> str:
    return members(path)[name].decode("utf-8")


# --------------------------------------------------------------------------- the basics


def test_status_columns_are_written_and_everything_else_is_kept(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    before = openpyxl_cells(src, "Contacts")
    dst = patch(src, {2: ["created", "ok", WHEN], 4: ["error", "bad phone", WHEN]})

    cells = openpyxl_cells(dst, "Contacts")
    assert cells[(1, 4)] == "Sync Status" and cells[(1, 5)] == "Sync Message" and cells[(1, 6)] == "Synced At"
    assert (cells[(2, 4)], cells[(2, 5)], cells[(2, 6)]) == ("created", "ok", WHEN)
    assert (cells[(4, 4)], cells[(4, 5)]) == ("error", "bad phone")
    assert (3, 4) not in cells
    assert {k: v for k, v in cells.items() if k[1] < 4} == before
    ws = openpyxl.load_workbook(dst)["Contacts"]
    assert ws["D1"].font.b == ws["C1"].font.b and ws["D1"].style_id == ws["C1"].style_id  # header look
    cal = calamine_cells(dst, "Contacts")
    assert cal[(2, 4)] == "created" and cal[(4, 5)] == "bad phone" and cal[(2, 6)] == WHEN
    assert openpyxl.load_workbook(dst)["Other"]["A1"].value == "=Contacts!C2*2"
    assert_only_changed(src, dst, {SHEET, "xl/styles.xml"})


def test_no_zip64_records_where_none_are_needed(tmp_path: Path) -> None:
    """Excel is strict about zip64 records; a member under 4 GB must not carry them."""
    import struct

    dst = patch(make_workbook(tmp_path / "in.xlsx"), {2: ["created", "ok", WHEN]})
    raw = dst.read_bytes()
    with zipfile.ZipFile(dst) as zf:
        for info in zf.infolist():
            name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
            extra = raw[info.header_offset + 30 + name_len : info.header_offset + 30 + name_len + extra_len]
            assert b"\x01\x00" not in extra[:2], f"{info.filename} has a zip64 extra field"
            assert info.extract_version < 45, info.filename


def test_sheet_part_name_resolves_relative_and_absolute_targets(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    assert sheet_part_name(src, "Contacts") == SHEET
    assert sheet_part_name(src, "other") == "xl/worksheets/sheet2.xml"  # case-insensitive, like Excel
    rels = members(src)["xl/_rels/workbook.xml.rels"].decode()
    rels = rels.replace('Target="worksheets/sheet1.xml"', 'Target="/xl/worksheets/sheet1.xml"')
    replace_member(src, "xl/_rels/workbook.xml.rels", rels.encode())
    assert sheet_part_name(src, "Contacts") == SHEET
    with pytest.raises(WorkbookError, match='no sheet named "Nope".*"Contacts", "Other"'):
        sheet_part_name(src, "Nope")


def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    texts = ["=SUM(A1:A3)", "+15551234567", "-1", "@HYPERLINK(\"http://x\")", "=cmd|' /C calc'!A0"]
    dst = patch(src, {2 + i: [t, t, None] for i, t in enumerate(texts)})
    ws = openpyxl.load_workbook(dst)["Contacts"]
    for i, t in enumerate(texts):
        cell = ws.cell(2 + i, 4)
        assert (cell.value, cell.data_type) == (t, "s")
    assert "<f>" not in sheet_xml(dst).split("<sheetData>")[1].split("Sync Status")[1]
    cal = calamine_cells(dst, "Contacts")
    assert [cal[(2 + i, 5)] for i in range(len(texts))] == texts


def test_dates_get_one_date_time_style_reused_on_the_next_run(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    dst = patch(src, {2: ["created", "", WHEN], 3: ["created", "", WHEN.replace(hour=9)]})
    ws = openpyxl.load_workbook(dst)["Contacts"]
    assert ws["F2"].is_date and ws["F2"].value == WHEN
    assert "h" in ws["F2"].number_format and ws["F2"].number_format == ws["F3"].number_format
    old, new = members(src)["xl/styles.xml"].decode(), members(dst)["xl/styles.xml"].decode()
    n_old = int(re.search(r'<cellXfs count="(\d+)"', old).group(1))
    assert re.search(r'<cellXfs count="(\d+)"', new).group(1) == str(n_old + 1)
    assert new.count("<xf ") == old.count("<xf ") + 1 and 'numFmtId="22"' in new
    again = patch(dst, {2: ["updated", "", WHEN]}, name="again.xlsx")
    assert members(again)["xl/styles.xml"] == members(dst)["xl/styles.xml"]  # reused, not appended
    assert openpyxl.load_workbook(again)["Contacts"]["F2"].is_date


def test_without_a_styles_part_dates_are_iso_text(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    rels = members(src)["xl/_rels/workbook.xml.rels"].decode()
    rels = re.sub(r'<Relationship[^>]*styles[^>]*/>', "", rels)
    replace_member(src, "xl/_rels/workbook.xml.rels", rels.encode())
    replace_member(src, "xl/styles.xml", None)
    ct = members(src)["[Content_Types].xml"].decode()
    replace_member(src, "[Content_Types].xml", re.sub(r'<Override PartName="/xl/styles.xml"[^>]*/>', "", ct).encode())
    dst = patch(src, {2: ["created", "", WHEN]})
    assert calamine_cells(dst, "Contacts")[(2, 6)] == "2026-01-05 14:30:15"


def test_existing_status_cells_are_replaced_and_none_clears_them(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    first = patch(src, {2: ["error", "timeout", WHEN], 3: ["created", "ok", WHEN]}, name="first.xlsx")
    second = patch(first, {2: ["created", None, WHEN.replace(minute=0)], 3: [None, None, None]}, name="second.xlsx")
    cells = openpyxl_cells(second, "Contacts")
    assert cells[(2, 4)] == "created" and (2, 5) not in cells and cells[(2, 6)] == WHEN.replace(minute=0)
    assert not any((3, c) in cells for c in (4, 5, 6))
    assert cells[(3, 1)] == "Name 1"
    xml = sheet_xml(second)
    assert xml.count('r="D2"') == 1 and xml.count('r="D1"') == 1


# --------------------------------------------------------------------------- XML shapes


def _prefixed(xml: str) -> str:
    """Put every element of the main namespace under an 'x:' prefix, as some tools write it."""
    xml = xml.replace(f'xmlns="{MAIN_NS}"', f'xmlns:x="{MAIN_NS}"')
    return re.sub(r"<(/?)(?![?!])([A-Za-z]+)(?=[\s/>])", r"<\1x:\2", xml)


def test_namespace_prefixes_are_kept_and_used_for_new_elements(tmp_path: Path) -> None:
    src = edit_sheet(make_workbook(tmp_path / "in.xlsx"), _prefixed)
    assert "<x:row" in sheet_xml(src)
    dst = patch(src, {2: ["created", "ok", WHEN], 20: ["new row", "", None]})
    xml = sheet_xml(dst)
    assert '<x:c r="D2" t="inlineStr"><x:is><x:t xml:space="preserve">created' in xml
    assert '<x:row r="20"><x:c r="D20"' in xml
    assert "<c " not in xml and "<row" not in xml
    ET.fromstring(xml)
    cal = calamine_cells(dst, "Contacts")
    assert cal[(2, 4)] == "created" and cal[(20, 4)] == "new row" and cal[(2, 1)] == "Name 0"
    assert openpyxl_cells(dst, "Contacts")[(2, 6)] == WHEN


def _strip_r(xml: str) -> str:
    """Remove every row's and cell's r attribute (both are optional in the schema)."""
    xml = re.sub(r'(<row)\s+r="\d+"', r"\1", xml)
    return re.sub(r'(<c)\s+r="[A-Z]+\d+"', r"\1", xml)


def test_rows_and_cells_without_r_attributes(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx", rows=6)
    src = edit_sheet(src, _strip_r)
    assert ' r="' not in sheet_xml(src).split("<sheetData>")[1]
    before = calamine_cells(src, "Contacts")
    dst = patch(src, {3: ["created", "ok", None], 5: ["error", "x", None], 12: ["late", None, None]})
    cells = calamine_cells(dst, "Contacts")
    assert cells[(3, 4)] == "created" and cells[(5, 5)] == "x" and cells[(12, 4)] == "late"
    assert {k: v for k, v in cells.items() if k[1] < 4} == before
    assert openpyxl_cells(dst, "Contacts")[(7, 1)] == "Name 5"


def test_cells_without_r_after_the_status_columns_keep_their_column(tmp_path: Path) -> None:
    """Removing an old status cell must not shift an implicit-column cell that follows it."""
    src = make_workbook(tmp_path / "in.xlsx", rows=2)
    src = patch(src, {2: ["error", "old", None]}, name="first.xlsx")
    def add_tail(xml: str) -> str:
        xml = _strip_r(xml)
        # row 2 gets a user cell in column G (right after the status cells D..E, F empty -> add F)
        return xml.replace("old</t></is></c></row>", 'old</t></is></c><c t="inlineStr"><is><t>F!</t></is></c>'
                           '<c t="inlineStr"><is><t>user note</t></is></c></row>', 1)
    src = edit_sheet(src, add_tail)
    assert calamine_cells(src, "Contacts")[(2, 7)] == "user note"
    dst = patch(src, {2: [None, None, None]}, name="second.xlsx")
    cells = calamine_cells(dst, "Contacts")
    assert cells[(2, 7)] == "user note" and (2, 4) not in cells and (2, 5) not in cells
    assert (2, 6) not in cells and cells[(2, 1)] == "Name 0"


def test_user_data_right_of_the_status_columns_is_kept(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx", rows=3)
    wb = openpyxl.load_workbook(src)
    wb["Contacts"]["H1"], wb["Contacts"]["H2"], wb["Contacts"]["E3"] = "Later", "keep me", "old message"
    wb.save(src)
    dst = patch(src, {2: ["created", "ok", WHEN], 3: ["error", None, None]})
    cells = openpyxl_cells(dst, "Contacts")
    assert cells[(1, 8)] == "Later" and cells[(2, 8)] == "keep me"
    assert (cells[(2, 4)], cells[(2, 5)], cells[(2, 6)]) == ("created", "ok", WHEN)
    assert cells[(3, 4)] == "error" and (3, 5) not in cells
    xml = sheet_xml(dst)
    assert xml.index('r="F2"') < xml.index('r="H2"')


HANDMADE = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="{MAIN_NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<dimension ref="A1:C6"/>
<sheetData>
<row r="1" spans="1:3"><c r="A1" t="inlineStr"><is><t>Name</t></is></c><c r="B1" t="inlineStr"><is><t>Total</t></is></c><c r="C1" t="inlineStr"><is><t>Twice</t></is></c></row>
<row r="2" spans="1:3"><c r="A2" t="inlineStr"><is><r><rPr><b/><color rgb="FFFF0000"/></rPr><t>Rich</t></r><r><t xml:space="preserve"> text</t></r></is></c><c r="B2"><v>3</v></c><c r="C2"><f t="shared" ref="C2:C4" si="0">B2*2</f><v>6</v></c></row>
<row r="3" spans="1:3"/>
<row r="4" spans="1:3"><c r="A4" t="inlineStr"><is><t>Ann</t></is></c><c r="B4"><v>5</v></c><c r="C4"><f t="shared" si="0"/><v>10</v></c></row>
<row r="6"><c r="A6" t="e"><v>#N/A</v></c><c r="B6" t="e"><v>#DIV/0!</v></c></row>
</sheetData>
<autoFilter ref="A1:C6"/>
<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>
</worksheet>"""


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    src = make_workbook(tmp_path / "in.xlsx")
    return replace_member(src, SHEET, HANDMADE.encode())


def test_shared_formulas_rich_text_empty_rows_spans_dimension_autofilter(handmade: Path) -> None:
    dst = patch(handmade, {2: ["created", "ok", WHEN], 3: ["updated", "", None], 5: ["new", None, None],
                           6: ["error", "no email", None]})
    xml = sheet_xml(dst)
    root = ET.fromstring(xml)
    assert '<dimension ref="A1:F6"/>' in xml
    assert '<autoFilter ref="A1:F6"/>' in xml
    assert '<row r="2" spans="1:6">' in xml and '<row r="3" spans="1:6">' in xml
    assert '<f t="shared" ref="C2:C4" si="0">B2*2</f><v>6</v>' in xml  # untouched bytes
    assert '<r><rPr><b/><color rgb="FFFF0000"/></rPr><t>Rich</t></r>' in xml
    rows = [int(r.get("r")) for r in root.iter(f"{{{MAIN_NS}}}row")]
    assert rows == [1, 2, 3, 4, 5, 6]
    cal = calamine_cells(dst, "Contacts")
    assert cal[(3, 4)] == "updated" and cal[(5, 4)] == "new" and cal[(6, 5)] == "no email"
    assert cal[(2, 1)] == "Rich text" and cal[(4, 3)] == 10
    ws = openpyxl.load_workbook(dst)["Contacts"]
    assert ws.auto_filter.ref == "A1:F6" and ws["D1"].value == "Sync Status"


def test_filter_database_name_follows_the_autofilter(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.create_sheet("First", 0)
    ws = wb["Sheet"]
    ws.title = "Contacts"
    ws.append(["Name", "Email", "Phone"])
    ws.append(["Ann", "a@x.com", 1])
    ws.auto_filter.ref = "A1:C2"
    src = tmp_path / "af.xlsx"
    wb.save(src)
    book = members(src)["xl/workbook.xml"].decode()
    assert "_xlnm._FilterDatabase" in book and 'localSheetId="1"' in book
    dst = patch(src, {2: ["created", "ok", None]}, sheet="Contacts", name="af_out.xlsx")
    new = members(dst)["xl/workbook.xml"].decode()
    assert "'Contacts'!$A$1:$F$2" in new or "Contacts!$A$1:$F$2" in new
    assert new.replace("$F$2", "$C$2") == book
    assert '<autoFilter ref="A1:F2"' in sheet_xml(dst, "xl/worksheets/sheet2.xml")


@pytest.mark.parametrize("chunk", [3, 17, 64, 1000])
def test_chunk_boundaries_do_not_change_the_output(handmade: Path, monkeypatch, chunk: int) -> None:
    """Every split of tags and rows across reads must give the very same bytes."""
    rows = {r: [f"s{r}", "m & <m>", WHEN] for r in (1, 2, 3, 5, 6, 9)} | {4: [None, None, None]}
    expected = sheet_xml(patch(handmade, rows, name="whole.xlsx"))
    monkeypatch.setattr(writeback, "CHUNK", chunk)
    assert sheet_xml(patch(handmade, rows, name=f"chunk{chunk}.xlsx")) == expected
    assert find_error_cells(handmade, "Contacts") == [(6, 1, "#N/A"), (6, 2, "#DIV/0!")]


def test_error_cells_are_found(handmade: Path, tmp_path: Path) -> None:
    assert find_error_cells(handmade, "Contacts") == [(6, 1, "#N/A"), (6, 2, "#DIV/0!")]
    assert find_error_cells(make_workbook(tmp_path / "clean.xlsx"), "Contacts") == []
    no_r = edit_sheet(handmade, _strip_r)
    assert find_error_cells(no_r, "Contacts") == [(5, 1, "#N/A"), (5, 2, "#DIV/0!")]  # rows renumbered


def table_workbook(path: Path, rows: int) -> Path:
    """Name, Email, Phone and ``rows`` data rows, as the Excel table "People"."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contacts"
    ws.append(["Name", "Email", "Phone"])
    for i in range(rows):
        ws.append([f"N{i}", f"u{i}@x.com", i])
    ws.add_table(Table(displayName="People", ref=f"A1:C{rows + 1}"))
    wb.save(path)
    return path


def test_table_grows_to_include_the_status_columns(tmp_path: Path) -> None:
    src = table_workbook(tmp_path / "table.xlsx", 4)
    dst = patch(src, {2: ["created", "ok", WHEN]})
    table_xml = members(dst)["xl/tables/table1.xml"].decode()
    assert 'ref="A1:F5"' in table_xml and '<tableColumns count="6">' in table_xml
    assert 'name="Sync Status"' in table_xml and 'id="6" name="Synced At"' in table_xml
    assert '<autoFilter ref="A1:F5"' in table_xml
    table = openpyxl.load_workbook(dst)["Contacts"].tables["People"]
    assert table.ref == "A1:F5"
    assert [c.name for c in table.tableColumns] == ["Name", "Email", "Phone", "Sync Status", "Sync Message", "Synced At"]
    assert_only_changed(src, dst, {SHEET, "xl/styles.xml", "xl/tables/table1.xml"})
    again = patch(dst, {3: ["updated", "", WHEN]}, name="again.xlsx")
    assert members(again)["xl/tables/table1.xml"] == members(dst)["xl/tables/table1.xml"]


# --------------------------------------------------------------------------- text content


def test_long_text_is_clipped_to_excel_limit(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    long = "x" * 40_000
    emoji = "\U0001F600" * 20_000  # 2 UTF-16 units each
    exact = "y" * 32_767
    dst = patch(src, {2: ["error", long, None], 3: ["error", emoji, None], 4: ["error", exact, None]})
    cal = calamine_cells(dst, "Contacts")
    assert len(cal[(2, 5)]) == 32_767 and cal[(2, 5)].endswith("\u2026")
    assert len(cal[(3, 5)].encode("utf-16-le")) // 2 <= 32_767
    assert cal[(4, 5)] == exact


def test_control_characters_rtl_and_emoji(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    nasty = "a\x00b\x01c\x0bd\x1fe\tf\ng\rh"
    rtl = "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627"
    emoji = "ok \U0001F44D\U0001F3FD \u2764\ufe0f"
    literal = "_x0041_ & <tag> \"quoted\" 'single'"
    dst = patch(src, {2: [nasty, rtl, None], 3: [emoji, literal, None], 4: ["\ud800lone", "\uffff", None]})
    ET.fromstring(sheet_xml(dst))
    cal = calamine_cells(dst, "Contacts")
    assert cal[(2, 4)] == nasty  # Excel's _xHHHH_ escapes decode to the original characters
    assert cal[(2, 5)] == rtl and cal[(3, 4)] == emoji and cal[(3, 5)] == literal
    assert cal[(4, 4)] == "\ufffdlone" and cal[(4, 5)] == "\ufffd"
    ws = openpyxl.load_workbook(dst)["Contacts"]
    assert ws["E2"].value == rtl and ws["D3"].value == emoji


# --------------------------------------------------------------------------- packages


def test_strict_ooxml(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    swaps = {
        MAIN_NS: "http://purl.oclc.org/ooxml/spreadsheetml/main",
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships": "http://purl.oclc.org/ooxml/officeDocument/relationships",
    }
    for name, data in members(src).items():
        text = data.decode("utf-8")
        for a, b in swaps.items():
            text = text.replace(a, b)
        replace_member(src, name, text.encode("utf-8"))
    assert b"purl.oclc.org" in members(src)["xl/_rels/workbook.xml.rels"]
    assert sheet_part_name(src, "Contacts") == SHEET
    dst = patch(src, {2: ["created", "ok", WHEN]})
    root = ET.fromstring(sheet_xml(dst))
    ns = "{http://purl.oclc.org/ooxml/spreadsheetml/main}"
    texts = [t.text for t in root.iter(f"{ns}t")]
    assert "created" in texts and "Sync Status" in texts
    assert 'numFmtId="22"' in members(dst)["xl/styles.xml"].decode()


def test_xlsm_keeps_the_macro_project_byte_for_byte(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsm")
    vba = bytes(range(256)) * 64
    replace_member(src, "__none__", None, add={"xl/vbaProject.bin": vba})
    dst = patch(src, {2: ["created", "ok", None]}, name="out.xlsm")
    assert members(dst)["xl/vbaProject.bin"] == vba
    assert_only_changed(src, dst, {SHEET})


def test_chartsheet_is_refused(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Data"
    wb.create_chartsheet("Chart")
    src = tmp_path / "chart.xlsx"
    wb.save(src)
    with pytest.raises(UnsupportedWorkbook, match='"Chart" .* is a chart sheet.*Choose the worksheet'):
        patch(src, {2: ["x", "y", None]}, sheet="Chart")
    assert not (tmp_path / "out.xlsx").exists()


def test_dst_must_not_be_src(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    with pytest.raises(ValueError, match="not src itself"):
        patch_sheet(src, src, sheet_name="Contacts", header_row=1, columns=STATUS, rows={})
    assert openpyxl_cells(src, "Contacts")[(1, 1)] == "Name"


def test_missing_sheet_part_is_refused(tmp_path: Path) -> None:
    src = replace_member(make_workbook(tmp_path / "in.xlsx"), SHEET, None)
    with pytest.raises(UnsupportedWorkbook, match="missing from the file.*save a copy"):
        patch(src, {2: ["x", "y", None]})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Name,Email\nAnn,ann@example.com\n", "not an Excel workbook, or it is damaged"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "password-protected workbook or an old .xls"),
    ],
)
def test_not_a_zip_gives_a_clear_workbook_error(tmp_path: Path, content: bytes, message: str) -> None:
    src = tmp_path / "fake.xlsx"
    src.write_bytes(content)
    with pytest.raises(WorkbookError, match=message):
        patch(src, {2: ["x", "y", None]})


def test_corrupt_member_is_a_workbook_error(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx", rows=200)
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(SHEET)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    data[start : start + 40] = b"\xff" * 40
    src.write_bytes(bytes(data))
    with pytest.raises(WorkbookError, match="damaged"):
        patch(src, {2: ["x", "y", None]})
    assert not (tmp_path / "out.xlsx").exists()


def test_a_formula_in_a_status_column_is_refused(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    wb = openpyxl.load_workbook(src)
    wb["Contacts"]["D3"] = "=B3"
    wb.save(src)
    with pytest.raises(UnsupportedWorkbook, match="Cell D3 .* holds a formula"):
        patch(src, {3: ["x", "y", None]})


def test_a_status_cell_inside_merged_cells_is_refused(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    wb = openpyxl.load_workbook(src)
    wb["Contacts"].merge_cells("C3:E4")
    wb.save(src)
    patch(src, {2: ["ok", "fine", None]})  # rows outside the merge are written
    with pytest.raises(UnsupportedWorkbook, match=r"Cell D4 .* inside merged cells \(C3:E4\).*Unmerge"):
        patch(src, {4: ["x", None, None]})
    assert not (tmp_path / "out.xlsx").exists()


def test_a_status_cell_inside_an_array_formula_is_refused(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    wb = openpyxl.load_workbook(src)
    wb["Contacts"]["C5"] = openpyxl.worksheet.formula.ArrayFormula("C5:E5", "=A2:C2")
    wb.save(src)
    patch(src, {2: ["ok", "fine", None]})  # rows outside the array are written
    with pytest.raises(UnsupportedWorkbook, match=r"Cell D5 .* inside an array formula \(C5:E5\)"):
        patch(src, {5: [None, None, None]})


def test_xml_comments_in_cell_data_are_refused(tmp_path: Path) -> None:
    src = edit_sheet(make_workbook(tmp_path / "in.xlsx"), lambda x: x.replace("<sheetData>", "<sheetData><!-- hi -->"))
    with pytest.raises(UnsupportedWorkbook, match="comments or CDATA"):
        patch(src, {3: ["x", "y", None]})


_MEASURE = """
import json, resource, sys
from datetime import datetime
from pathlib import Path
from sheetsync.core.writeback import patch_sheet
when = datetime(2026, 1, 5, 14, 30)
rows = {2: ["a", "b", when], 500000: ["c", "d", None], 1048576: ["last", "row", when]}
patch_sheet(Path(sys.argv[1]), Path(sys.argv[2]), sheet_name="Contacts", header_row=1,
            columns=[(4, "Sync Status"), (5, "Sync Message"), (6, "Synced At")], rows=rows)
try:  # VmHWM is this process's own peak; ru_maxrss also counts the parent's at fork time
    status = open("/proc/self/status").read()
    print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
except (OSError, IndexError):
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_max_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    """A 1,048,576-row sheet is rewritten in a fresh process whose peak RSS stays small."""
    import subprocess
    import sys

    resource = pytest.importorskip("resource")  # POSIX only
    del resource
    src = make_workbook(tmp_path / "in.xlsx", rows=1)
    head, _, tail = sheet_xml(src).partition("<sheetData>")
    tail = tail.partition("</sheetData>")[2]
    big = tmp_path / "big.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != SHEET:
                zout.writestr(info, zin.read(info))
                continue
            with zout.open(info.filename, "w") as out:
                out.write((head + "<sheetData>").encode())
                for start in range(1, writeback.MAX_ROW + 1, 65_536):
                    out.write(b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (r, r, r)
                                       for r in range(start, start + 65_536)))
                out.write(("</sheetData>" + tail).encode())
    dst = tmp_path / "out.xlsx"
    src_dir = Path(writeback.__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(big), str(dst)], check=True,
                          capture_output=True, text=True, env={"PYTHONPATH": str(src_dir)})
    peak_mb = int(done.stdout.strip())
    assert peak_mb < 150, f"peak RSS {peak_mb} MB"
    with zipfile.ZipFile(dst) as zf:
        xml = zf.read(SHEET)
    assert xml.count(b"<row ") == writeback.MAX_ROW
    assert b'<c r="D1048576" t="inlineStr"><is><t xml:space="preserve">last</t>' in xml
    assert b'<c r="E500000" t="inlineStr"><is><t xml:space="preserve">d</t>' in xml
    assert b'<c r="D1" t="inlineStr"><is><t xml:space="preserve">Sync Status</t>' in xml


# --------------------------------------------------------------------------- saving


def test_atomic_replace(tmp_path: Path) -> None:
    target = tmp_path / "book.xlsx"
    target.write_bytes(b"old")
    tmp = tmp_path / "book.tmp"
    tmp.write_bytes(b"new")
    atomic_replace(tmp, target)
    assert target.read_bytes() == b"new" and not tmp.exists()


def test_atomic_replace_failure_is_a_save_error(tmp_path: Path) -> None:
    target = tmp_path / "book.xlsx"
    target.mkdir()  # cannot be replaced by a file, like a file locked by Excel
    tmp = tmp_path / "book.tmp"
    tmp.write_bytes(b"new")
    with pytest.raises(SaveError, match="may be open in Excel"):
        atomic_replace(tmp, target)
    assert tmp.read_bytes() == b"new"


@pytest.mark.slow
def test_libreoffice_opens_the_result_and_shows_the_status_values(tmp_path: Path) -> None:
    import csv
    import shutil
    import subprocess

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (Debian package libreoffice-calc) is not installed")
    src = table_workbook(tmp_path / "table.xlsx", 3)
    dst = patch(src, {2: ["created", "=1+1 & <x>", WHEN], 6: ["new", "\u05e9\u05dc\u05d5\u05dd \U0001F600", None]})
    profile = (tmp_path / "lo-profile").as_uri()  # a private profile: parallel runs do not collide
    subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path), str(dst)],
                   check=True, capture_output=True, timeout=180)
    with open(tmp_path / "out.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Name", "Email", "Phone", "Sync Status", "Sync Message", "Synced At"]
    assert rows[1][:5] == ["N0", "u0@x.com", "0", "created", "=1+1 & <x>"] and "2026" in rows[1][5]
    assert rows[5][3:5] == ["new", "\u05e9\u05dc\u05d5\u05dd \U0001F600"]


# --------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TEXT = st.lists(st.characters() | st.sampled_from(
    ["\x00", "\x0b", "\r", "_x0041_", "_x", "&", "<", "\ud800", "\uffff"]), max_size=8).map("".join)


@st.composite
def _sheets(draw):
    """(sheet XML, original cells, rows to write, status columns, chunk size)."""
    prefix = draw(st.sampled_from(["", "x:"]))
    rows_xml, cells = [], {}
    rnum = 0
    for _ in range(draw(st.integers(0, 8))):
        gap = draw(st.integers(1, 3))
        explicit = gap > 1 or draw(st.booleans())
        rnum += gap
        col, parts = 0, []
        for _ in range(draw(st.integers(0, 6))):
            cgap = draw(st.integers(1, 3))
            col += cgap
            ref = f' r="{column_letter(col)}{rnum}"' if cgap > 1 or draw(st.booleans()) else ""
            if draw(st.booleans()):
                number = draw(st.integers(-5, 10**6))
                parts.append(f"<{prefix}c{ref}><{prefix}v>{number}</{prefix}v></{prefix}c>")
                cells[(rnum, col)] = str(number)
            else:
                parts.append(f'<{prefix}c{ref} t="inlineStr"><{prefix}is><{prefix}t>v{rnum}.{col}</{prefix}t></{prefix}is></{prefix}c>')
                cells[(rnum, col)] = f"v{rnum}.{col}"
        r_attr = f' r="{rnum}"' if explicit else ""
        spans = ' spans="1:2"' if draw(st.booleans()) else ""
        rows_xml.append(f"<{prefix}row{r_attr}{spans}>{''.join(parts)}</{prefix}row>" if parts
                        else f"<{prefix}row{r_attr}{spans}/>")
    ns = f'xmlns{":x" if prefix else ""}="{MAIN_NS}"'
    data = f"<{prefix}sheetData>{''.join(rows_xml)}</{prefix}sheetData>" if rows_xml or draw(st.booleans()) \
        else f"<{prefix}sheetData/>"
    xml = f'<?xml version="1.0" encoding="UTF-8"?><{prefix}worksheet {ns}><{prefix}dimension ref="A1"/>{data}</{prefix}worksheet>'
    first = draw(st.integers(1, 8))
    status = [first, first + 1, first + 2] if draw(st.booleans()) else [first, first + 2, first + 5]
    header = draw(st.integers(1, 4))
    targets = draw(st.dictionaries(st.integers(1, rnum + 3), st.lists(
        st.none() | _TEXT | st.just(WHEN), min_size=3, max_size=3), max_size=6))
    targets.pop(header, None)
    return xml, cells, header, status, targets, draw(st.sampled_from([5, 13, 64, 1 << 20]))


def _excel_text(value: str) -> str:
    """What Excel shows for text the writer was given (its _xHHHH_ escapes decoded)."""
    value = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" or ch in "\ufffe\uffff" else ch for ch in value)
    return value


def _read_cells(xml: bytes) -> dict[tuple[int, int], str]:
    """Cells of a sheet by (row, col), implicit r resolved; rows and cells must ascend."""
    ns = f"{{{MAIN_NS}}}"
    out, prev_row = {}, 0
    for row in ET.fromstring(xml).iter(f"{ns}row"):
        rnum = int(row.get("r") or prev_row + 1)
        assert rnum > prev_row, "rows out of order"
        prev_row, prev_col = rnum, 0
        for c in row.iter(f"{ns}c"):
            ref = c.get("r")
            col = writeback._col_number(re.match(r"[A-Z]+", ref).group().encode()) if ref else prev_col + 1
            assert col > prev_col, "cells out of order"
            prev_col = col
            if c.get("t") == "inlineStr":
                text = "".join(c.find(f"{ns}is").itertext())
                out[(rnum, col)] = re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)
            else:
                out[(rnum, col)] = c.findtext(f"{ns}v")
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_sheets())
def test_random_sheets_match_a_reference_model(tmp_path_factory, monkeypatch, case) -> None:
    xml, cells, header, status, targets, chunk = case
    tmp = tmp_path_factory.mktemp("prop")
    src = replace_member(make_workbook(tmp / "in.xlsx", rows=0), SHEET, xml.encode())
    names = ["Sync Status", "Sync Message", "Synced At"]
    monkeypatch.setattr(writeback, "CHUNK", chunk)
    dst = patch(src, targets, columns=list(zip(status, names)), header_row=header)
    expected = dict(cells)
    for rnum, values in [*targets.items(), (header, names)]:
        for col, value in zip(status, values):
            expected.pop((rnum, col), None)
            if isinstance(value, str):
                expected[(rnum, col)] = _excel_text(value)
            elif isinstance(value, datetime):
                expected[(rnum, col)] = writeback.excel_serial(value)
    assert _read_cells(members(dst)[SHEET]) == expected


@given(st.binary(max_size=40) | st.lists(st.sampled_from([b"<", b"!", b"?", b'"', b"array", b"dataTable", b"y", b"b", b"x"]),
                                         max_size=12).map(b"".join),
       st.sampled_from([(b"<!", 1), (b"<?", 1), (b'"array"', 5), (b'"dataTable"', 7)]), st.data())
def test_the_rare_byte_search_finds_what_bytes_find_finds(buf: bytes, needle_anchor: tuple[bytes, int], data) -> None:
    """The scans for comments and array formulas look for a rare byte of the needle first;
    they must answer exactly as ``needle in buf[start:stop]``."""
    needle, anchor = needle_anchor
    start = data.draw(st.integers(0, len(buf)))
    stop = data.draw(st.integers(start, len(buf)))
    assert writeback._has(buf, needle, anchor, start, stop) == (needle in buf[start:stop])


@pytest.mark.parametrize("markup", ["<![CDATA[x]]>", "<?pi x?>"])
def test_cdata_and_processing_instructions_in_cell_data_are_refused(tmp_path: Path, markup: str) -> None:
    src = edit_sheet(make_workbook(tmp_path / "in.xlsx"), lambda x: x.replace("</sheetData>", markup + "</sheetData>"))
    with pytest.raises(UnsupportedWorkbook, match="comments or CDATA"):
        patch(src, {3: ["x", "y", None]})
