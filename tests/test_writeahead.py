"""Results written into a copy of the workbook while the sync runs (core.writeahead).

The copy must be byte for byte what the in-process write-back makes from the same results,
be used only when it holds exactly the book's results, and leave nothing behind when it
is not used, when its process dies, or when the app dies.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from sheetsync.core import writeback
from sheetsync.core.job import ResultBook, load_sheet, plan_job, save_results, status_cells
from sheetsync.core.results import CREATED, ERROR, UPDATED, RowResult
from sheetsync.core.writeahead import WriteAhead
from sheetsync.core.writeback import KEEP, StreamedRows, Value, patch_sheet
from sheetsync.sandbox.workbooks import make_contacts_workbook

from test_writeback_corpus import CORPUS, FILES, NAMES, WHEN, status_places

WHEN2 = datetime(2026, 2, 3, 4, 5, 6)


class Given(StreamedRows):
    """Streamed rows whose values are all there already (rows mapped to None get KEEP)."""

    def __init__(self, rows: dict[int, Sequence[Value] | None]) -> None:
        self.rows = rows

    def __getitem__(self, rnum: int) -> Sequence[Value]:
        if self.header is not None and rnum == self.header[0]:
            return self.header[1]
        values = self.rows[rnum]
        return KEEP if values is None else values

    def __iter__(self) -> Iterator[int]:
        keys = list(self.rows)
        if self.header is not None and self.header[0] not in self.rows:
            keys.append(self.header[0])
        return iter(keys)

    def __len__(self) -> int:
        return len(list(iter(self)))

    def size_bound(self) -> int:
        return 4096 + len(self) * 1000


def members(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


@pytest.mark.slow
@pytest.mark.skipif(not FILES, reason=f"the Excel corpus is not at {CORPUS}")
@pytest.mark.parametrize("name", FILES[::8])
def test_a_streamed_write_is_the_in_process_write(name: str, tmp_path: Path) -> None:
    """Every 8th Excel-made file: same bytes in every member, rows without values kept."""
    src = CORPUS / name
    sheet, header_row, cols, new_row, _ = status_places(src)
    columns = list(zip(cols, NAMES))
    rows: dict[int, Sequence[Value]] = {header_row + 1: ["created", "a & b", WHEN], new_row: ["new", None, WHEN2]}
    keep = header_row + 2  # known to the stream, never given values: left as it is
    direct, streamed = tmp_path / f"direct{src.suffix}", tmp_path / f"streamed{src.suffix}"
    try:
        patch_sheet(src, direct, sheet_name=sheet, header_row=header_row, columns=columns, rows=rows)
    except writeback.UnsupportedWorkbook:
        with pytest.raises(writeback.UnsupportedWorkbook):
            patch_sheet(src, streamed, sheet_name=sheet, header_row=header_row, columns=columns, rows={},
                        streamed=Given({**rows, keep: None}))
        return
    patch_sheet(src, streamed, sheet_name=sheet, header_row=header_row, columns=columns, rows={},
                streamed=Given({**rows, keep: None}))
    assert members(streamed) == members(direct)


@pytest.fixture
def sheet_1k(tmp_path: Path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 1000, styled=True)
    loaded = load_sheet(path)
    return loaded, plan_job(loaded.data)


def book_for(loaded, plan, status: str = CREATED) -> ResultBook:
    book = ResultBook.for_plan(plan)
    for row in plan.to_send:
        book.results[row.number] = RowResult(row.number, status, None, WHEN)
    return book


def status_column(path: Path) -> list[object]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Contacts").to_python(skip_empty_area=False)
    col = [str(v) for v in rows[0]].index("Sync Status")
    return [r[col] if col < len(r) else "" for r in rows[1:]]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".~"))


def no_in_process_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the workbook was written in-process although the copy was ready")

    monkeypatch.setattr(writeback, "patch_sheet", refuse)


def test_the_copy_written_during_the_sync_is_the_saved_workbook(sheet_1k, monkeypatch, tmp_path: Path) -> None:
    loaded, plan = sheet_1k
    book = book_for(loaded, plan)
    expected = tmp_path / "expected.xlsx"
    columns, rows = status_cells(loaded.data, book.results.values())
    patch_sheet(loaded.data.path, expected, sheet_name="Contacts", header_row=1, columns=columns, rows=rows)

    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    results = list(book.results.values())
    for start in range(len(results), 0, -100):  # out of order, in batches
        ahead.add(results[max(0, start - 100):start])
    no_in_process_write(monkeypatch)
    save_results(loaded.data, book, stamp=loaded.stamp, ahead=ahead)
    assert members(loaded.data.path) == members(expected)
    assert leftovers(loaded.data.path.parent) == []


def test_a_result_that_comes_after_its_row_was_written_is_not_lost(sheet_1k, tmp_path: Path) -> None:
    loaded, plan = sheet_1k
    book = book_for(loaded, plan)
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    ahead.add(book.results.values())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the copy is complete: every row is written
        try:
            with zipfile.ZipFile(ahead.path) as z:
                if z.testzip() is None:
                    break
        except (zipfile.BadZipFile, OSError):
            pass
        time.sleep(0.05)
    first = plan.to_send[0].number
    book.results[first] = RowResult(first, ERROR, "changed after it was written", WHEN2)
    save_results(loaded.data, book, stamp=loaded.stamp, ahead=ahead)
    statuses = status_column(loaded.data.path)
    assert statuses[first - 2] == ERROR
    assert statuses.count(CREATED) == len(plan.to_send) - 1
    assert leftovers(loaded.data.path.parent) == []


def test_a_writer_that_dies_changes_nothing(sheet_1k) -> None:
    loaded, plan = sheet_1k
    book = book_for(loaded, plan, UPDATED)
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    ahead.add(list(book.results.values())[:10])
    ahead._process.kill()
    ahead._process.join(10)
    ahead.add(list(book.results.values())[10:])  # the pipe is broken: noted, not raised
    save_results(loaded.data, book, stamp=loaded.stamp, ahead=ahead)
    assert status_column(loaded.data.path).count(UPDATED) == len(plan.to_send)
    assert leftovers(loaded.data.path.parent) == []


def test_rows_without_a_result_keep_their_old_status(sheet_1k) -> None:
    """An interrupted sync: only the rows answered get new statuses, the others keep theirs."""
    loaded, plan = sheet_1k
    save_results(loaded.data, book_for(loaded, plan), stamp=loaded.stamp)  # a first sync
    loaded = load_sheet(loaded.data.path)
    plan = plan_job(loaded.data)
    book = ResultBook.for_plan(plan)
    answered = plan.to_send[:20]  # the rest: no answer (Ctrl+C)
    for row in answered:
        book.results[row.number] = RowResult(row.number, UPDATED, None, WHEN2)
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    ahead.add(book.results.values())
    save_results(loaded.data, book, stamp=loaded.stamp, ahead=ahead)
    statuses = status_column(loaded.data.path)
    assert statuses.count(UPDATED) == 20
    assert statuses.count(CREATED) == len(plan.to_send) - 20


def test_nothing_is_left_beside_the_workbook_when_the_app_dies(tmp_path: Path) -> None:
    path = make_contacts_workbook(tmp_path / "list.xlsx", 1000, styled=False)
    script = textwrap.dedent(f"""
        import os
        from sheetsync.core.job import load_sheet, plan_job
        from sheetsync.core.writeahead import WriteAhead

        if __name__ == "__main__":
            loaded = load_sheet({str(path)!r})
            plan = plan_job(loaded.data)
            ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
            assert ahead is not None and ahead.path.exists()
            print("started", flush=True)
            os._exit(0)  # no clean-up of any kind: the writer must notice on its own
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "started" in done.stdout, done.stderr
    deadline = time.monotonic() + 20
    while leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path) == []


def test_small_sheets_are_written_after_the_sync(tmp_path: Path) -> None:
    """Under MIN_ROWS rows a second interpreter costs more than the write it saves."""
    from sheetsync.core import writeahead

    loaded = load_sheet(make_contacts_workbook(tmp_path / "small.xlsx", writeahead.MIN_ROWS - 10, styled=False))
    assert WriteAhead.start(loaded.data, [r.number for r in plan_job(loaded.data).rows]) is None
    assert leftovers(tmp_path) == []


def test_an_unreadable_message_makes_the_writer_give_up_not_hang(sheet_1k) -> None:
    loaded, plan = sheet_1k
    book = book_for(loaded, plan)
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    ahead._conn.send(("rows", [("not", "a row")]))  # what a bug in the feed could send
    ahead.add(book.results.values())
    started = time.monotonic()
    save_results(loaded.data, book, stamp=loaded.stamp, ahead=ahead)
    assert time.monotonic() - started < 30
    assert status_column(loaded.data.path).count(CREATED) == len(plan.to_send)
    assert leftovers(loaded.data.path.parent) == []


def test_ctrl_c_in_the_terminal_does_not_stop_the_writer(sheet_1k, monkeypatch) -> None:
    import os
    import signal

    loaded, plan = sheet_1k
    book = book_for(loaded, plan)
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    ahead.add(list(book.results.values())[:300])
    time.sleep(1.0)  # the writer is up (spawned interpreters take a moment)
    os.kill(ahead._process.pid, signal.SIGINT)
    ahead.add(list(book.results.values())[300:])
    no_in_process_write(monkeypatch)
    save_results(loaded.data, book, stamp=loaded.stamp, ahead=ahead)
    assert status_column(loaded.data.path).count(CREATED) == len(plan.to_send)


def test_the_writer_reads_a_private_copy_that_is_removed_after(sheet_1k, tmp_path: Path, monkeypatch) -> None:
    """The workbook itself is not held open during the sync (Windows could not replace it)."""
    import tempfile

    private = tmp_path / "private-temp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    loaded, plan = sheet_1k
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    copies = list(private.glob("sheetsync-source-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == loaded.data.path.read_bytes()
    save_results(loaded.data, book_for(loaded, plan), stamp=loaded.stamp, ahead=ahead)
    assert list(private.iterdir()) == []


def test_retry_failed_rows_still_uses_the_copy(sheet_1k, tmp_path: Path, caplog) -> None:
    """Only the failed rows are sent again; their old results must not make the copy stale.

    The answers take 0.8 s, so the writer has long reached those rows when they come.
    """
    import logging
    import threading

    from sheetsync.core.engine import JobOptions
    from sheetsync.core.paths import AppPaths
    from sheetsync.core.syncjob import run_job
    from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, Faults, SandboxApi

    caplog.set_level(logging.INFO, logger="sheetsync.job")
    loaded, plan = sheet_1k
    previous = book_for(loaded, plan).results
    failed = plan.to_send[:150]
    for row in failed:
        previous[row.number] = RowResult(row.number, ERROR, "server error", WHEN)
    paths = AppPaths.default({"SHEETSYNC_HOME": str(tmp_path / "home")})
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID], faults=Faults(latency=0.8)) as sandbox:
        job = run_job(loaded, plan, JobOptions(DEMO_CAMPAIGN_ID), sandbox.base_url, DEMO_API_KEY,
                      threading.Event(), paths=paths, rows=failed, previous=previous, restart=True, send_all=True)
        started = next(job)
        for _ in job:
            pass
    save_results(loaded.data, started.run.book, stamp=loaded.stamp, ahead=started.run.write_ahead)
    assert "the copy written during the sync replaced list.xlsx" in caplog.text
    statuses = status_column(loaded.data.path)
    assert statuses.count(ERROR) == 0 and statuses.count(CREATED) == len(plan.to_send)


def test_rows_the_writer_cannot_take_are_left_to_the_in_process_write(sheet_1k) -> None:
    loaded, plan = sheet_1k
    numbers = [r.number for r in plan.rows]
    assert WriteAhead.start(loaded.data, numbers + [loaded.data.header_row]) is None
    assert WriteAhead.start(loaded.data, numbers + [-1]) is None
    assert leftovers(loaded.data.path.parent) == []


def test_a_workbook_saved_in_excel_during_the_sync_is_not_overwritten(sheet_1k) -> None:
    """The copy was made from the workbook as it was: a newer save wins, results go aside."""
    import os

    from sheetsync.core.errors import SaveError

    loaded, plan = sheet_1k
    book = book_for(loaded, plan)
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    assert ahead is not None
    ahead.add(book.results.values())
    edited = loaded.data.path.read_bytes()  # "saved in Excel": same bytes, a newer file
    loaded.data.path.write_bytes(edited)
    os.utime(loaded.data.path, (time.time() + 5, time.time() + 5))
    with pytest.raises(SaveError) as info:
        save_results(loaded.data, book, stamp=loaded.stamp, ahead=ahead)
    assert "changed on disk" in str(info.value)
    assert Path(info.value.results_path).exists()
    assert loaded.data.path.read_bytes() == edited
    assert leftovers(loaded.data.path.parent) == []
