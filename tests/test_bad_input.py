"""Every bad input gets a clear answer and leaves the file as it was."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheetsync.cli import main
from sheetsync.core.errors import JobConfigError, SheetSyncError
from sheetsync.core.job import load_sheet, plan_job
from sheetsync.core.locks import find_lock
from sheetsync.core.workbook import list_sheets, read_sheet
from sheetsync.sandbox import DEMO_CAMPAIGN_ID


def make_book(path: Path, rows: list[list[object]], title: str = "Contacts") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return make_book(tmp_path / "good.xlsx", [["Name", "Email"], ["A", "a@example.com"]])


def run_cli(*args: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def sync(path: Path, *extra: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    return run_cli("sync", path, "--campaign", DEMO_CAMPAIGN_ID, "--dry-run", *extra, capsys=capsys)


def assert_one_line(code: int, err: str, needle: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err


def test_truncated_workbook(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(good.read_bytes()[:600])
    before = broken.read_bytes()
    assert_one_line(*sync(broken, capsys=capsys), "damaged or truncated")
    assert broken.read_bytes() == before


def test_corrupt_part_inside_a_valid_zip(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(corrupt, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    code, err = sync(corrupt, capsys=capsys)
    assert code == 2 and "damaged" in err


def test_text_file_renamed_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "contacts.xlsx"
    fake.write_text("name,email\nA,a@example.com\n")
    assert_one_line(*sync(fake, capsys=capsys), "another kind of file renamed")


def test_legacy_xls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    assert_one_line(*sync(xls, capsys=capsys), "Excel 97-2003")


def test_password_protected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enc = tmp_path / "secret.xlsx"
    enc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 100)
    assert_one_line(*sync(enc, capsys=capsys), "password-protected")


def test_missing_and_empty_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line(*sync(tmp_path / "nope.xlsx", capsys=capsys), "does not exist")
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    assert_one_line(*sync(empty, capsys=capsys), "empty file")
    assert_one_line(*sync(tmp_path, capsys=capsys), "folder")


def test_empty_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "blank.xlsx"
    openpyxl.Workbook().save(path)
    assert_one_line(*sync(path, capsys=capsys), "is empty")


def test_sheet_with_only_a_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_book(tmp_path / "h.xlsx", [["Name", "Email"]])
    assert_one_line(*sync(path, capsys=capsys), "no data rows")


def test_unknown_sheet(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line(*sync(good, "--sheet", "Leads", capsys=capsys), "There is no sheet named 'Leads'")


def test_no_email_or_phone_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_book(tmp_path / "x.xlsx", [["Name", "Notes"], ["A", "b"]])
    assert_one_line(*sync(path, capsys=capsys), "No column is mapped to Email or Phone")


def test_duplicate_and_blank_headers_are_named_and_usable(tmp_path: Path) -> None:
    path = make_book(tmp_path / "d.xlsx", [["Email", None, "Email", "Phone"], ["a@example.com", "x", "b@example.com", ""]])
    data = read_sheet(path)
    assert data.headers == ["Email", "Column B", "Email (C)", "Phone"]
    assert any("repeats the header 'Email'" in w for w in data.warnings)
    plan = plan_job(data)
    assert next(plan.contacts(plan.to_send)) == {"email": "a@example.com"}


def test_mapping_file_errors(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "m.json"
    bad.write_text("not json")
    assert_one_line(*sync(good, "--mapping", bad, capsys=capsys), "not valid JSON")
    bad.write_text(json.dumps({"columns": {"Email": "e-mail"}}))
    assert_one_line(*sync(good, "--mapping", bad, capsys=capsys), "Unknown field 'e-mail'")


def test_campaign_id_and_base_url(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli("sync", good, "--campaign", "1234", capsys=capsys)
    assert_one_line(code, err, "not a campaign ID")
    code, err = run_cli("sync", good, "--campaign", DEMO_CAMPAIGN_ID, "--base-url", "http://api.example.com/api/v1", capsys=capsys)
    assert code == 2 and "https" in err.lower()
    with pytest.raises(JobConfigError):
        from sheetsync.core.client import check_base_url

        check_base_url("http://10.0.0.5/api")


def test_workbook_open_in_excel_or_libreoffice(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    owner = good.with_name("~$" + good.name)
    owner.write_bytes(bytes([5]) + b"Alice" + b"\0" * 50)
    lock = find_lock(good)
    assert lock is not None and lock.app == "Excel" and lock.owner == "Alice"
    code, err = run_cli("sync", good, "--campaign", DEMO_CAMPAIGN_ID, capsys=capsys)
    assert_one_line(code, err, "is open in Excel by Alice")
    owner.unlink()
    office = good.with_name(f".~lock.{good.name}#")
    office.write_text("Bob Smith,bob,host,26.11.2026 10:00,file:///x;")
    lock = find_lock(good)
    assert lock is not None and lock.app == "LibreOffice" and lock.owner == "bob"
    office.unlink()
    assert find_lock(good) is None


def test_extreme_cells_survive_the_round_trip(tmp_path: Path) -> None:
    long_text = "x" * 32_767
    odd = "ctrl_x0001__x0002_ rtl: مرحبا بالعالم emoji: 👩‍💻🚀"  # how Excel stores control characters
    path = make_book(tmp_path / "e.xlsx", [["Email", "Notes", "Name"], ["a@example.com", long_text, odd]])
    data = read_sheet(path)
    assert data.rows[0].values[1] == long_text
    assert data.rows[0].values[2].startswith("ctrl\x01\x02 rtl: مرحبا")
    assert "👩‍💻" in data.rows[0].values[2]


@pytest.mark.slow
def test_a_full_sheet_of_1048576_rows(tmp_path: Path) -> None:
    """Excel's row limit: read, checked, and results written into every row."""
    from sheetsync.core.job import ResultBook, save_results
    from sheetsync.core.results import RowResult
    from sheetsync.sandbox.workbooks import make_plain_workbook

    path = make_plain_workbook(tmp_path / "max.xlsx", 1_048_575)
    loaded = load_sheet(path)
    assert len(loaded.data.rows) == 1_048_575 and loaded.data.rows[-1].number == 1_048_576
    plan = plan_job(loaded.data)
    assert len(plan.to_send) == 1_048_575
    book = ResultBook({n: RowResult(n, "created") for n in (2, 500_000, 1_048_576)})
    save_results(loaded.data, book, stamp=loaded.stamp)
    import python_calamine

    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert rows[0][2] == "Sync Status" and rows[1][2] == "created" and rows[-1][2] == "created"
    assert rows[-1][0] == "user1048574@example.com"


VALID = None


def _valid_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    global VALID
    if VALID is None:
        folder = tmp_path_factory.mktemp("fuzz")
        VALID = make_book(folder / "v.xlsx", [["Name", "Email", "Phone"], ["A", "a@example.com", 5551234567], ["B", None, "x"]]).read_bytes()
    return VALID


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_workbooks_are_read_or_refused_cleanly(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Flip, cut or splice bytes of a valid workbook: reading either works or raises a user error."""
    raw = bytearray(_valid_bytes(tmp_path_factory))
    how = data.draw(st.sampled_from(["flip", "cut", "splice"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    elif how == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=200))
    path = tmp_path_factory.mktemp("f") / "f.xlsx"
    path.write_bytes(bytes(raw))
    try:
        list_sheets(path)
        data_ = load_sheet(path).data
        plan_job(data_)
    except SheetSyncError as exc:
        assert str(exc) and "Traceback" not in str(exc)


def test_extreme_cells_are_sent_intact_and_results_written(tmp_path: Path, sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from sheetsync.sandbox import DEMO_API_KEY

    monkeypatch.setenv("SHEETSYNC_API_KEY", DEMO_API_KEY)
    name = "ctrl_x0001_ مرحبا 👩‍💻" + "y" * 40_000
    path = make_book(tmp_path / "e.xlsx", [["Email", "First Name"], ["a@example.com", name[:32_767]]])
    code = main(["sync", str(path), "--campaign", DEMO_CAMPAIGN_ID, "--base-url", sandbox.base_url])
    assert code == 0, capsys.readouterr().err
    stored = sandbox.find("a@example.com")
    assert stored["firstName"].startswith("ctrl\x01 مرحبا 👩‍💻") and len(stored["firstName"]) == 32_767 - 6
    ws = openpyxl.load_workbook(path).active
    assert ws["C2"].value == "created" and ws["B2"].value == name[:32_767]


def test_error_cells_count_as_empty_with_a_warning(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "Phone"])
    ws.append(["a@example.com", "#N/A"])
    ws["B2"].data_type = "e"
    ws.append(["#DIV/0!", "2125550100"])
    ws["A3"].data_type = "e"
    path = tmp_path / "err.xlsx"
    wb.save(path)
    data = read_sheet(path)
    assert data.rows[0].values == ["a@example.com"] and data.rows[1].values == [None, "2125550100"]
    assert any("2 cell(s) hold an Excel error" in w and "B2 (#N/A)" in w and "A3 (#DIV/0!)" in w for w in data.warnings)
