"""Core helpers the window uses after a failed save (no Qt): a workbook open in Excel is
not written (the results go to a results file), what blocks a save, and the sheet read
again when rows were inserted above its header."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from sheetsync.core.errors import SaveError
from sheetsync.core.job import ResultBook, load_results_file, load_sheet, plan_job, reload_sheet, save_results_unless_open
from sheetsync.core.locks import save_blocker
from sheetsync.core.results import RowResult
from sheetsync.sandbox.workbooks import make_contacts_workbook


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETSYNC_HOME", str(tmp_path / "home"))


def test_a_workbook_open_in_excel_is_not_written_and_the_results_are_kept(tmp_path: Path) -> None:
    path = make_contacts_workbook(tmp_path / "list.xlsx", 5)
    loaded = load_sheet(path)
    book = ResultBook.for_plan(plan_job(loaded.data))
    book.results[2] = RowResult(2, "created", "", None)
    owner = path.with_name("~$list.xlsx")
    owner.write_bytes(bytes([3]) + b"Pat" + b"\x00" * 51)
    before = path.read_bytes()
    assert save_blocker(path) == "list.xlsx is open in Excel by Pat."
    with pytest.raises(SaveError, match="open in Excel by Pat") as caught:
        save_results_unless_open(loaded.data, book, stamp=loaded.stamp)
    assert path.read_bytes() == before
    _, kept = load_results_file(Path(caught.value.results_path))
    assert kept.results[2].status == "created"
    owner.unlink()
    assert save_blocker(path) is None
    assert save_results_unless_open(loaded.data, book, stamp=loaded.stamp) == path


def test_reload_sheet_finds_the_header_again_below_inserted_rows(tmp_path: Path) -> None:
    path = make_contacts_workbook(tmp_path / "list.xlsx", 5)
    loaded = load_sheet(path, "Contacts", 1)
    wb = openpyxl.load_workbook(path)
    wb["Contacts"].insert_rows(1, 2)  # blank rows above the header
    wb.save(path)
    fresh = reload_sheet(loaded)
    assert fresh.data.header_row == 3 and fresh.data.headers == loaded.data.headers
    assert len(fresh.data.rows) == 5
