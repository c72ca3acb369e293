"""A lazy plan: the first batches go out while later rows are still being checked.

The command line plans lazily (``plan_job(lazy=True)``) and ``prepare_run`` keeps it lazy
only when every row goes to the job's campaign and action. These tests check that such a
"streaming" job ends exactly as a fully planned one: the same result for every row,
invalid rows and repeated contacts included, and every row accounted for when it stops.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import openpyxl

from sheetsync.core.engine import JobOptions
from sheetsync.core.job import load_sheet, plan_job
from sheetsync.core.journal import JournalState, journal_path
from sheetsync.core.paths import AppPaths
from sheetsync.core.results import CREATED, INVALID, SKIPPED
from sheetsync.core.syncjob import JobEnd, Started, run_job
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

ROWS = 1200


def tricky_workbook(path: Path) -> Path:
    """Contacts with invalid rows and repeats spread through the sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contacts"
    ws.append(["First Name", "Email", "Phone"])
    for i in range(ROWS):
        if i % 97 == 5:
            ws.append([f"Nobody{i}", None, None])  # invalid: neither email nor phone
        elif i % 89 == 7:
            ws.append([f"Again{i}", f"user{i // 2}@example.com", None])  # repeats an earlier row's email
        elif i % 83 == 3:
            ws.append([f"Odd{i}", "not-an-email", f"212555{i:04d}"])  # sent with the phone only
        else:
            ws.append([f"First{i}", f"user{i}@example.com", f"212555{i:04d}"])
    wb.save(path)
    return path


def run(path: Path, home: Path, sandbox: SandboxApi, *, lazy: bool, cancel: threading.Event | None = None,
        **options: object) -> JobEnd:
    loaded = load_sheet(path)
    plan = plan_job(loaded.data, lazy=lazy)
    job = run_job(loaded, plan, JobOptions(DEMO_CAMPAIGN_ID, **options), sandbox.base_url, DEMO_API_KEY,  # type: ignore[arg-type]
                  cancel or threading.Event(), paths=AppPaths.default({"SHEETSYNC_HOME": str(home)}))
    try:
        while True:
            if not isinstance(next(job), Started) and cancel is not None:
                cancel.set()  # after the first batch's answer
    except StopIteration as stop:
        return stop.value


def test_a_streaming_job_ends_as_a_fully_planned_one(tmp_path: Path, sandbox: SandboxApi) -> None:
    path = tricky_workbook(tmp_path / "list.xlsx")
    eager = run(path, tmp_path / "a", sandbox, lazy=False, batch_size=50)
    eager_requests = sandbox.requests
    sandbox.reset()
    lazy = run(path, tmp_path / "b", sandbox, lazy=True, batch_size=50)

    assert not eager.run.streaming and lazy.run.streaming
    assert lazy.run.plan is not None and lazy.run.plan.complete  # every row was checked in the end
    got = {n: (r.status, r.message) for n, r in lazy.run.book.results.items()}
    want = {n: (r.status, r.message) for n, r in eager.run.book.results.items()}
    assert got.keys() == want.keys() == {n + 2 for n in range(ROWS)}
    assert {n: s for n, (s, _) in got.items()} == {n: s for n, (s, _) in want.items()}
    assert {n: m for n, (s, m) in got.items() if s == INVALID} == {n: m for n, (s, m) in want.items() if s == INVALID}
    assert Counter(s for s, _ in got.values())[INVALID] == len([i for i in range(ROWS) if i % 97 == 5])
    assert lazy.summary is not None and lazy.summary.counts == eager.summary.counts  # type: ignore[union-attr]
    # A repeated contact never travels with its first row, and goes after it.
    first_request: dict[str, int] = {}
    for index, request in enumerate(sandbox.requests):
        emails = [c.get("email") for c in request.body["contacts"] if c.get("email")]
        assert len(emails) == len(set(emails)), "a contact twice in one request"
        for email in emails:
            assert email not in first_request or first_request[email] < index
            first_request.setdefault(email, index)
    assert sum(r.contacts for r in sandbox.requests) == sum(r.contacts for r in eager_requests)


def test_a_streaming_job_that_stops_gives_every_row_a_result(tmp_path: Path, sandbox: SandboxApi) -> None:
    path = tricky_workbook(tmp_path / "list.xlsx")
    sandbox.faults.latency = 0.05
    end = run(path, tmp_path / "home", sandbox, lazy=True, cancel=threading.Event(), batch_size=50, concurrency=1)
    assert end.run.streaming and end.run.plan is not None and end.run.plan.complete
    results = end.run.book.results
    assert results.keys() == {n + 2 for n in range(ROWS)}  # the rows never checked during the run too
    statuses = Counter(r.status for r in results.values())
    sent = sum(r.contacts for r in sandbox.requests)
    assert statuses[CREATED] == sent and 50 <= sent < ROWS / 2
    assert statuses[INVALID] == len([i for i in range(ROWS) if i % 97 == 5])
    assert statuses[SKIPPED] == ROWS - sent - statuses[INVALID]
    assert all("cancelled" in r.message for r in results.values() if r.status == SKIPPED)
    # Batches journaled while they waited for their turn are closed: nothing "in flight".
    state = JournalState.load(journal_path(AppPaths.default({"SHEETSYNC_HOME": str(tmp_path / "home")}).journal_dir,
                                           path))
    assert state is not None and state.in_flight == []


def test_a_job_that_may_skip_rows_is_planned_in_full_first(tmp_path: Path, sandbox: SandboxApi) -> None:
    """Unchanged rows are known only from every row's fingerprint: no streaming then."""
    path = tricky_workbook(tmp_path / "list.xlsx")
    home = tmp_path / "home"
    first = run(path, home, sandbox, lazy=True)
    first.run.journal.discard()  # as after saving the results
    again = run(path, home, sandbox, lazy=True)
    assert first.run.streaming and not again.run.streaming
    assert again.run.unchanged == ROWS - again.summary.counts[INVALID] > 0  # type: ignore[union-attr]
    assert run(path, tmp_path / "other", sandbox, lazy=True, action="remove").run.streaming


def test_the_command_line_streams_and_writes_every_row(tmp_path: Path, sandbox: SandboxApi) -> None:
    path = tricky_workbook(tmp_path / "list.xlsx")
    env = dict(os.environ, SHEETSYNC_API_KEY=DEMO_API_KEY, SHEETSYNC_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "sheetsync", "--debug", "sync", str(path), "--campaign",
                           DEMO_CAMPAIGN_ID, "--base-url", sandbox.base_url, "--batch-size", "100"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr  # the invalid rows are problems
    log_text = "".join(p.read_text() for p in (tmp_path / "home" / "logs").glob("*.log"))
    assert "checking them as they go" in log_text
    ws = openpyxl.load_workbook(path)["Contacts"]
    written = [row[3] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert len(written) == ROWS and None not in written
    assert Counter(written)["invalid"] == len([i for i in range(ROWS) if i % 97 == 5])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_command_lines_progress_counts_the_invalid_rows_it_finds_on_the_way(
        tmp_path: Path, sandbox: SandboxApi, monkeypatch) -> None:
    """Streamed, the total is every data row, invalid ones included: the progress line
    ends at that total, not short of it by the invalid rows."""
    from sheetsync.cli import main

    path = tricky_workbook(tmp_path / "list.xlsx")
    monkeypatch.setenv("SHEETSYNC_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("SHEETSYNC_HOME", str(tmp_path / "home"))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["sync", str(path), "--campaign", DEMO_CAMPAIGN_ID, "--base-url", sandbox.base_url,
                 "--batch-size", "100"])
    assert code == 1  # the invalid rows are problems
    lines = [line for line in terminal.getvalue().split("\r") if line.startswith("Syncing:")]
    assert lines and lines[-1].startswith(f"Syncing: {ROWS:,} / {ROWS:,} rows")
