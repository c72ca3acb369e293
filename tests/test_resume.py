"""Crash-safe syncs: the journal, a real SIGKILL part-way, and the resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import openpyxl
import pytest

from sheetsync.core.contacts import Plan, RowPlan
from sheetsync.core.engine import JobOptions
from sheetsync.core.errors import JobConfigError
from sheetsync.core.job import load_sheet, plan_job
from sheetsync.core.journal import JobHeader, JobJournal, JournalState, journal_path
from sheetsync.core.paths import AppPaths
from sheetsync.core.resume import pending_journal, prepare_run
from sheetsync.core.results import RowResult
from sheetsync.core.retry import rows_to_retry
from sheetsync.core.syncjob import JobEnd, run_job
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi


def statuses(path: Path) -> list[object]:
    ws = openpyxl.load_workbook(path)["Contacts"]
    return [row[12] if len(row) > 12 else None for row in ws.iter_rows(min_row=2, values_only=True)]


@pytest.mark.slow
def test_sigkill_part_way_then_resume_sends_each_contact_once(contacts_1k: Path, sandbox: SandboxApi) -> None:
    sandbox.faults.latency = 0.15
    args = [sys.executable, "-m", "sheetsync", "sync", str(contacts_1k), "--campaign", DEMO_CAMPAIGN_ID,
            "--base-url", sandbox.base_url, "--batch-size", "50", "--concurrency", "2"]
    env = dict(os.environ, SHEETSYNC_API_KEY=DEMO_API_KEY)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while sum(1 for r in sandbox.requests if r.status == 200) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert statuses(contacts_1k) == [None] * 1000  # the workbook was never touched
    state = pending_journal(contacts_1k)
    assert state is not None and state.results, "the journal recorded the answers before the kill"
    # in flight: the batches on the wire, and the upsert batches journaled while waiting their turn
    assert len(state.in_flight) <= 2 * 2 * 50

    sandbox.faults.latency = 0
    time.sleep(0.5)  # let the server finish the batches that were in flight at the kill
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert "interrupted sync" in again.stdout
    got = statuses(contacts_1k)
    assert set(got) <= {"created", "updated"} and None not in got
    counts = [sandbox.processed_count(f"user{i}@example.com") for i in range(1000)]
    assert min(counts) == 1
    twice = sum(1 for c in counts if c == 2)
    assert twice <= 2 * 50 and max(counts) <= 2  # only the batches in flight at the kill
    assert pending_journal(contacts_1k) is None  # a finished, saved job removes its journal


def _journal_with(plan: Plan, workbook: Path, action: str, *, replied: int, in_flight: int) -> Path:
    path = journal_path(AppPaths.default().journal_dir, workbook)
    header = JobHeader(str(workbook), "Contacts", 1, DEMO_CAMPAIGN_ID, action, "2026-11-26T10:00:00")
    journal = JobJournal.start(path, header, plan.rows)
    rows = plan.to_send
    journal.before_send("b1", [r.number for r in rows[:replied]], "x")
    journal.record("b1", [RowResult(r.number, "created", "", None) for r in rows[:replied]], [{"odd": 1}])
    journal.before_send("b2", [r.number for r in rows[replied : replied + in_flight]], "y")
    journal.close()
    with path.open("ab") as fh:
        fh.write(b'{"type": "reply", "batch": "b2", "resu')  # torn by the crash
    return path


def test_resume_recovers_results_and_resends_in_flight_for_upsert(contacts_1k: Path) -> None:
    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    _journal_with(plan, contacts_1k, "upsert", replied=10, in_flight=5)
    run = prepare_run(loaded, plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID).validated())
    assert run.resumed is not None
    assert len(run.resumed.recovered) == 10 and len(run.resumed.in_flight) == 5
    assert len(run.rows) == 990  # the 985 never sent + the 5 in flight
    assert run.book.unmatched == [{"odd": 1}]  # nothing the server said is dropped
    run.journal.close()


def test_resume_never_repeats_a_removal_in_flight(contacts_1k: Path) -> None:
    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    _journal_with(plan, contacts_1k, "remove", replied=10, in_flight=5)
    run = prepare_run(loaded, plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, action="remove").validated())
    assert len(run.rows) == 985
    unknown = [r for r in run.book.results.values() if r.message.startswith("Outcome unknown")]
    assert len(unknown) == 5 and {r.status for r in unknown} == {"error"}
    run.journal.close()


def test_results_follow_rows_moved_in_excel(contacts_1k: Path, tmp_path: Path) -> None:
    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    _journal_with(plan, contacts_1k, "upsert", replied=3, in_flight=0)
    # The user inserts a row at the top of the data in Excel before the resume.
    wb = openpyxl.load_workbook(contacts_1k)
    wb["Contacts"].insert_rows(2)
    wb["Contacts"]["C2"] = "new@example.com"
    wb.save(contacts_1k)
    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    run = prepare_run(loaded, plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID).validated())
    assert sorted(run.book.results) == [3, 4, 5]  # rows 2-4 then, rows 3-5 now
    run.journal.close()


def test_a_different_job_on_a_pending_journal_is_refused(contacts_1k: Path) -> None:
    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    _journal_with(plan, contacts_1k, "upsert", replied=3, in_flight=0)
    with pytest.raises(JobConfigError, match="interrupted sync"):
        prepare_run(loaded, plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, action="updateOnly").validated())
    run = prepare_run(loaded, plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, action="updateOnly").validated(), restart=True)
    assert run.resumed is None and len(run.rows) == 1000
    run.journal.discard()
    assert JournalState.load(journal_path(AppPaths.default().journal_dir, contacts_1k)) is None


def run_to_end(job: Iterator[object]) -> JobEnd:
    """Drive a ``run_job`` generator to its end; its JobEnd."""
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


def test_run_job_counts_the_summary_on_its_own_thread(contacts_1k: Path, sandbox: SandboxApi, tmp_path: Path) -> None:
    """The window shows JobEnd.summary instead of walking every result in a slot."""
    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    end = run_to_end(run_job(loaded, plan, JobOptions(DEMO_CAMPAIGN_ID), sandbox.base_url, DEMO_API_KEY,
                             threading.Event(), paths=AppPaths.default({"SHEETSYNC_HOME": str(tmp_path / "home")})))
    assert end is not None and end.summary is not None
    assert end.summary.counts == end.run.book.summary().counts
    assert end.summary.total == len(plan.rows)
    assert end.summary.counts["created"] == len(plan.to_send) > 0
    assert end.retry == []  # every row accepted: nothing for "Retry failed rows"


def test_run_job_lists_the_rows_to_retry(contacts_1k: Path, sandbox: SandboxApi, tmp_path: Path) -> None:
    """A batch refused by the server: its rows are the ones Retry failed rows sends."""
    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    sandbox.faults.fail_next = [422]  # the first request is refused as a whole
    end = run_to_end(run_job(loaded, plan, JobOptions(DEMO_CAMPAIGN_ID, batch_size=100, concurrency=1), sandbox.base_url,
                             DEMO_API_KEY, threading.Event(),
                             paths=AppPaths.default({"SHEETSYNC_HOME": str(tmp_path / "home")})))
    assert end is not None and end.retry is not None
    assert [r.number for r in end.retry] == [r.number for r in plan.to_send[:100]]
    assert end.retry == rows_to_retry(plan, end.run.book.results)


def journal_counting_fsyncs(tmp_path: Path, monkeypatch, *, action: str = "upsert",
                            rows: Sequence[RowPlan] = ()) -> tuple[JobJournal, Path, list[int]]:
    """A new journal, and after each fsync the number of lines the file then held."""
    from sheetsync.core import journal as journal_module

    synced_lines: list[int] = []
    real_fsync = os.fsync
    path = tmp_path / "j.jsonl"

    def counting_fsync(fd: int) -> None:
        real_fsync(fd)
        synced_lines.append(path.read_bytes().count(b"\n"))

    monkeypatch.setattr(journal_module.os, "fsync", counting_fsync)
    journal = JobJournal.start(path, JobHeader(str(tmp_path / "b.xlsx"), "S", 1, DEMO_CAMPAIGN_ID, action, "t"), rows)
    return journal, path, synced_lines


def test_send_lines_from_many_threads_are_all_on_disk_before_the_call_returns(tmp_path: Path, monkeypatch) -> None:
    """Group commit: threads share fsyncs, yet each send line returns only once it is synced
    (the batch may go out the moment it returns)."""
    journal, path, synced_lines = journal_counting_fsyncs(tmp_path, monkeypatch)
    problems: list[str] = []

    def writer(t: int) -> None:
        for i in range(100):
            number = t * 1000 + i
            journal.before_send(f"b{number}", [number], "0" * 64)
            data = path.read_bytes()
            line_no = data[: data.index(b'"b%d"' % number)].count(b"\n") + 1
            if not synced_lines or max(synced_lines) < line_no:
                problems.append(f"line {line_no} returned before an fsync covered it")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    state = JournalState.load(path)
    assert state is not None
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1 + 800 and all(line.startswith(b"{") and line.endswith(b"}") for line in lines)
    assert problems == []
    assert len(synced_lines) <= 801


def test_reply_lines_are_written_at_once_and_synced_by_the_next_send_or_close(tmp_path: Path, monkeypatch) -> None:
    """A reply does not wait for the disk, but it is in the file (a killed app keeps it), and
    the next send's fsync, or close() (before the workbook is written), puts it on disk."""
    from sheetsync.core.results import CREATED, now

    journal, path, synced_lines = journal_counting_fsyncs(tmp_path, monkeypatch)
    journal.before_send("b1", [2], "0" * 64)
    fsyncs = len(synced_lines)
    journal.record("b1", [RowResult(2, CREATED, None, now())], [])
    assert len(synced_lines) == fsyncs  # no wait for the disk
    assert path.read_bytes().count(b"\n") == 3  # but written: the OS has it
    journal.before_send("b2", [3], "0" * 64)
    assert synced_lines[-1] == 4  # the next send's fsync covered the reply
    journal.record("b2", [RowResult(3, CREATED, None, now())], [])
    journal.close()
    assert synced_lines[-1] == 5  # close() covered the last one
    state = JournalState.load(path)
    assert state is not None and [r.number for _, r in state.results] == [2, 3] and state.in_flight == []


def test_lines_a_resume_would_repeat_anyway_do_not_wait_for_the_disk(tmp_path: Path, monkeypatch) -> None:
    """An upsert's send line and every reply are in the file at once (a killed app loses
    none), and one fsync covers them all within LAZY_SYNC_SECONDS; a removal's send line
    is on disk before the call returns. (The clock is the journal's, set by the test.)"""
    from sheetsync.core import journal as journal_module
    from sheetsync.core.results import CREATED, now

    clock = [1000.0]
    monkeypatch.setattr(journal_module, "monotonic", lambda: clock[0])
    journal, path, synced_lines = journal_counting_fsyncs(tmp_path, monkeypatch)
    assert synced_lines == [1]  # the header
    journal.before_send("b1", [2], "0" * 64, durable=False)
    journal.record("b1", [RowResult(2, CREATED, None, now())], [])
    clock[0] += journal_module.LAZY_SYNC_SECONDS / 2
    journal.before_send("b2", [3], "0" * 64, durable=False)
    assert synced_lines == [1]  # nothing waited for the disk
    assert path.read_bytes().count(b"\n") == 4  # but the OS has every line
    clock[0] += journal_module.LAZY_SYNC_SECONDS / 2
    journal.record("b2", [RowResult(3, CREATED, None, now())], [])
    assert synced_lines == [1, 5]  # the first line after LAZY_SYNC_SECONDS: one fsync for all
    journal.before_send("b3", [4], "0" * 64)  # durable: a removal's
    assert synced_lines == [1, 5, 6]
    journal.close()
    state = JournalState.load(path)
    assert state is not None and [r.number for _, r in state.results] == [2, 3]
    assert [s.number for s in state.in_flight] == [4]
