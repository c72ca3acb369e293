"""The write-back on every workbook of the corpus saved by Microsoft Excel (one per feature).

For each file: status columns go after the last used column of the first worksheet, on the
header row, two data rows and one new row. The result must read again (openpyxl and
calamine) with the status values present and every original cell unchanged, and every zip
member other than the sheet must be byte-identical, except ``styles.xml`` (one date xf
added) and table parts (the status columns join the table), each checked to carry only
that change. Files the rewriter refuses are listed in ``REFUSED``: a refusal is deliberate.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook, SheetTypeEnum

from sheetsync.core.writeback import UnsupportedWorkbook, patch_sheet, sheet_part_name

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "excel-made"
FILES = sorted(p.name for p in CORPUS.glob("*.xls[xm]")) if CORPUS.is_dir() else []
NAMES = ("Sync Status", "Sync Message", "Synced At")
WHEN = datetime(2026, 1, 5, 14, 30, 15)

# file -> what the refusal message must say. Empty: the rewriter handles every corpus file.
REFUSED: dict[str, str] = {}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FILES, reason=f"the Excel corpus is not at {CORPUS} (clone shared/ beside the repo)"),
]


def _first_worksheet(path: Path) -> tuple[str, int, int, list[list[object]]] | None:
    """(name, header row, last used column, values from row 1/col 1) of the first worksheet."""
    book = CalamineWorkbook.from_path(str(path))
    meta = next((m for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet), None)
    if meta is None:
        return None
    sheet = book.get_sheet_by_name(meta.name)
    values = sheet.to_python(skip_empty_area=False)
    if sheet.start is None:
        return meta.name, 1, 0, values
    # Merged cells count as used: a status value inside them would be hidden (and refused).
    last_col = max([sheet.end[1] + 1] + [end[1] + 1 for _, end in sheet.merged_cell_ranges or []])
    return meta.name, sheet.start[0] + 1, last_col, values


def _calamine_values(path: Path, sheet: str) -> list[list[object]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def _openpyxl_values(path: Path, sheet: str) -> dict[tuple[int, int], object] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ws = openpyxl.load_workbook(path, keep_vba=False)[sheet]
        except Exception:  # openpyxl cannot read some Excel features at all
            return None
    # ws._cells, not iter_rows(): a sheet whose dimension is A1:XFD1048576 would take hours.
    return {key: _plain(c.value) for key, c in ws._cells.items() if c.value is not None}


def _plain(value: object) -> object:
    """openpyxl formula objects (array, data table) compare by identity: compare their fields."""
    if isinstance(value, (str, int, float, bool, datetime)) or value is None:
        return value
    fields = getattr(value, "__dict__", None)
    if fields is None:
        return (type(value).__name__, str(value))
    return (type(value).__name__, sorted((k, str(v)) for k, v in fields.items()))


def _without(values: list[list[object]], cols: set[int], rows: set[int]) -> dict[tuple[int, int], object]:
    return {
        (r + 1, c + 1): v
        for r, row in enumerate(values)
        for c, v in enumerate(row)
        if v != "" and c + 1 not in cols and r + 1 not in rows
    }


def _check_styles(old: bytes, new: bytes) -> None:
    """The only change: one xf appended to cellXfs, with the count raised by one."""
    m = re.search(rb'(<(?:\w+:)?xf numFmtId="22"[^>]*/>)(</(?:\w+:)?cellXfs>)', new)
    assert m, "styles.xml changed but no date xf was appended"
    reverted = new[: m.start(1)] + new[m.end(1) :]
    count = re.compile(rb'(<(?:\w+:)?cellXfs\b[^>]*?count=")(\d+)(")')
    reverted = count.sub(lambda x: x.group(1) + b"%d" % (int(x.group(2)) - 1) + x.group(3), reverted, 1)
    assert reverted == old, "styles.xml has changes besides the date xf"


def _check_table(old: bytes, new: bytes) -> None:
    """The only changes: the status tableColumns added, ref and count attributes grown."""
    added = rb'<(?:\w+:)?tableColumn id="\d+" name="(?:' + b"|".join(n.encode() for n in NAMES) + rb')"/>'
    stripped = re.sub(added, b"", new)
    norm = re.compile(rb'\b(ref|count)="[^"]*"')
    assert norm.sub(rb'\1=""', stripped) == norm.sub(rb'\1=""', old), "table part has unexpected changes"
    assert len(re.findall(added, new)) >= 1


def _check_workbook(old: bytes, new: bytes) -> None:
    """The only change: the end column of the sheet's _xlnm._FilterDatabase range."""
    name = re.compile(rb'(name="_xlnm\._FilterDatabase"[^>]*>[^<]*\$)[A-Z]+(\$\d+<)')
    assert name.search(new), "workbook.xml changed outside the _FilterDatabase name"
    assert name.sub(rb"\1#\2", new) == name.sub(rb"\1#\2", old), "workbook.xml has unexpected changes"


def status_places(src: Path) -> tuple[str, int, list[int], int, list[list[object]]]:
    """Where a corpus file's status values go: (sheet, header row, the three columns after the
    last used one, a row that does not exist yet, the sheet's values before). Skips a file
    with chart sheets only."""
    found = _first_worksheet(src)
    if found is None:
        pytest.skip("no worksheet (chart sheets only)")
    sheet, header_row, last_col, before = found
    return sheet, header_row, [last_col + 1, last_col + 2, last_col + 3], max(len(before), header_row + 2) + 2, before


@pytest.mark.parametrize("name", FILES)
def test_corpus_file(name: str, tmp_path: Path) -> None:
    src = CORPUS / name
    sheet, header_row, cols, new_row, before = status_places(src)
    rows = {header_row + 1: ["created", "=not a formula", WHEN], header_row + 2: ["error", "bad & <odd>", None],
            new_row: ["new row", "\u05e9\u05dc\u05d5\u05dd \U0001F600", WHEN]}
    dst = tmp_path / ("out" + src.suffix)
    try:
        patch_sheet(src, dst, sheet_name=sheet, header_row=header_row,
                    columns=list(zip(cols, NAMES)), rows=rows)
    except UnsupportedWorkbook as exc:
        assert name in REFUSED, f"unexpected refusal: {exc}"
        assert REFUSED[name] in str(exc)
        assert not dst.exists()
        return
    assert name not in REFUSED, "this file is listed as refused but was written"

    # Every other member byte-identical; styles and tables carry only the intended change.
    part = sheet_part_name(src, sheet)
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst) as b:
        assert [i.filename for i in a.infolist()] == [i.filename for i in b.infolist()]
        for x, y in zip(a.infolist(), b.infolist()):
            assert (x.compress_type, x.date_time) == (y.compress_type, y.date_time)
            old, new = a.read(x), b.read(y)
            if x.filename == part or old == new:
                continue
            if x.filename.endswith("styles.xml"):
                _check_styles(old, new)
            elif "/tables/" in x.filename:
                _check_table(old, new)
            elif x.filename.endswith("workbook.xml"):
                _check_workbook(old, new)
            else:
                pytest.fail(f"{x.filename} changed")

    # Calamine: status values present, every original cell unchanged.
    after = _calamine_values(dst, sheet)
    c1, c2, c3 = (c - 1 for c in cols)
    assert after[header_row - 1][c1 : c3 + 1] == list(NAMES)
    assert after[header_row][c1 : c3 + 1] == ["created", "=not a formula", WHEN]
    assert after[header_row + 1][c1 : c2 + 1] == ["error", "bad & <odd>"]
    assert after[new_row - 1][c1] == "new row"
    assert _without(after, set(cols), {new_row}) == _without(before, set(cols), {new_row})

    # openpyxl, where it can read the original at all.
    old_cells = _openpyxl_values(src, sheet)
    if old_cells is not None:
        new_cells = _openpyxl_values(dst, sheet)
        assert new_cells is not None, "openpyxl read the original but not the result"
        assert new_cells[(header_row + 1, cols[0])] == "created"
        assert new_cells[(header_row + 1, cols[2])] == WHEN
        assert {k: v for k, v in new_cells.items() if k[1] not in cols and k[0] != new_row} == {
            k: v for k, v in old_cells.items() if k[1] not in cols and k[0] != new_row
        }

    # A later run over the result: cells replaced or cleared; styles and tables not touched again.
    again = tmp_path / ("again" + src.suffix)
    later = WHEN.replace(hour=9)
    patch_sheet(dst, again, sheet_name=sheet, header_row=header_row, columns=list(zip(cols, NAMES)),
                rows={header_row + 1: ["updated", None, later], header_row + 2: [None, None, None]})
    values = _calamine_values(again, sheet)
    assert values[header_row][c1 : c3 + 1] == ["updated", "", later]
    assert values[header_row + 1][c1 : c3 + 1] == ["", "", ""]
    assert _without(values, set(cols), set()) == _without(after, set(cols), set())
    with zipfile.ZipFile(dst) as a, zipfile.ZipFile(again) as b:
        changed = [i.filename for i in a.infolist() if a.read(i) != b.read(i.filename)]
    assert changed == [part]
