"""Cell values as Excel holds them."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.values import as_text, column_letter, convert_cell


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("Jane", "Jane"),
        (42.0, 42),
        (1.5551234567e10, 15551234567),  # a phone typed into Excel, shown as 1.56E+10
        (0.1 + 0.2, 0.3),  # Excel shows 15 significant digits
        (2.5, 2.5),
        (True, True),
        (False, False),
        (dt.date(2026, 1, 5), "2026-01-05"),
        (dt.datetime(2026, 1, 5, 0, 0), "2026-01-05"),
        (dt.datetime(2026, 1, 5, 13, 4, 5), "2026-01-05T13:04:05"),
        (dt.time(9, 30), "09:30:00"),
        (dt.timedelta(hours=26, minutes=3), "26:03:00"),
        (float("nan"), None),
    ],
)
def test_convert_cell(raw: object, expected: object) -> None:
    value = convert_cell(raw)
    assert value == expected
    assert type(value) is type(expected)


def test_as_text_has_no_trailing_zero() -> None:
    assert as_text(15551234567) == "15551234567"
    assert as_text(2.5) == "2.5"
    assert as_text(True) == "true"
    assert as_text("  x ") == "x"
    assert as_text(None) == ""


@pytest.mark.parametrize(("index", "letters"), [(1, "A"), (26, "Z"), (27, "AA"), (702, "ZZ"), (703, "AAA"), (16384, "XFD")])
def test_column_letter(index: int, letters: str) -> None:
    assert column_letter(index) == letters


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_whole_floats_become_ints(n: int) -> None:
    value = convert_cell(float(n))
    assert value == n and isinstance(value, int)
    assert "." not in as_text(value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_converts_to_a_finite_number_or_none(x: float) -> None:
    value = convert_cell(x)
    assert value is None or isinstance(value, int | float)
    if isinstance(value, float):
        assert value == value and abs(value) != float("inf")
        assert not value.is_integer() or abs(value) >= 2**53


@given(st.one_of(st.text(), st.booleans(), st.integers(), st.dates(), st.datetimes(), st.times()))
def test_convert_cell_never_raises_and_is_stable(raw: object) -> None:
    value = convert_cell(raw)
    assert convert_cell(value) == value  # converting twice changes nothing


def test_a_column_that_repeats_a_few_texts_holds_each_once_and_a_unique_one_is_not_tracked(tmp_path) -> None:
    """A real workbook read back: every value as it was, the repeated texts of a column
    (a status, a country, a date) one object each (380 MB of copies at a million rows),
    and the column of unique values (emails) no longer looked up once it passed the limit."""
    import openpyxl

    from sheetsync.core.workbook import _SharedTexts, read_sheet

    n = _SharedTexts.LIMIT + 500
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "Country", "Joined", "Score"])
    for i in range(n):
        ws.append([f"user{i}@example.com", ["US", "GB", "DE"][i % 3], dt.date(2026, 1, 1 + i % 28), i % 7])
    wb.save(tmp_path / "b.xlsx")
    sheet = read_sheet(tmp_path / "b.xlsx")
    assert [r.values for r in sheet.rows[:4]] == [
        ["user0@example.com", "US", "2026-01-01", 0], ["user1@example.com", "GB", "2026-01-02", 1],
        ["user2@example.com", "DE", "2026-01-03", 2], ["user3@example.com", "US", "2026-01-04", 3]]
    assert len({id(r.values[1]) for r in sheet.rows}) == 3
    assert len({id(r.values[2]) for r in sheet.rows}) == 28
    assert len({r.values[0] for r in sheet.rows}) == n  # nothing lost or merged

    shared = _SharedTexts()
    for i in range(n):
        shared.share([f"user{i}@example.com", "US"])
    assert shared._active == [1] and shared._tables[0] is None  # the unique column was dropped
