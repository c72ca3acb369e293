"""Network faults through the whole pipeline: workbook on disk -> local API with faults ->
every row's status in the workbook, and nothing the server said dropped."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from sheetsync.core.client import ContactsApi, RetryPolicy
from sheetsync.core.engine import JobOptions, SyncEngine
from sheetsync.core.errors import ServerUnavailable
from sheetsync.core.job import load_sheet, plan_job, save_results
from sheetsync.core.resume import prepare_run
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

FAST = RetryPolicy(attempts=3, total_timeout=5, wait_initial=0.01, wait_max=0.05, wait_jitter=0)


def sync_file(path: Path, api: SandboxApi, *, batch: int = 100, timeout: float = 30, between=None):  # type: ignore[no-untyped-def]
    """One job as the CLI and the window run it; ``between`` runs after each batch."""
    loaded = load_sheet(path)
    plan = plan_job(loaded.data)
    options = JobOptions(campaign_id=DEMO_CAMPAIGN_ID, batch_size=batch, concurrency=1).validated()
    run = prepare_run(loaded, plan, options)
    with ContactsApi(api.base_url, DEMO_API_KEY, retry=FAST, timeout=timeout) as client:
        engine = SyncEngine(plan, options, client, journal=run.journal, rows=run.rows)
        for outcome in engine.run():
            run.book.add(outcome)
            if between:
                between(outcome)
    run.journal.close()
    run.remember()
    save_results(loaded.data, run.book, stamp=loaded.stamp)
    run.journal.discard()
    return engine, run.book


def statuses(path: Path) -> list[object]:
    ws = openpyxl.load_workbook(path)["Contacts"]
    return [row[12] for row in ws.iter_rows(min_row=2, values_only=True)]


def test_503_storm_longer_than_the_budget_stops_cleanly_and_the_rest_follows(contacts_1k: Path, sandbox: SandboxApi) -> None:
    def storm(outcome) -> None:  # type: ignore[no-untyped-def]
        if outcome.index == 2:
            sandbox.faults.fail_next.extend([503] * 10)

    engine, book = sync_file(contacts_1k, sandbox, between=storm)
    assert isinstance(engine.stop_error, ServerUnavailable)
    got = statuses(contacts_1k)
    # The 4th batch goes out the moment the 3rd's answer frees the slot: it may be on the
    # wire before the storm starts, and then it is answered normally.
    done = got.count("created")
    assert done in (300, 400) and got.count("skipped") == 1000 - done  # results so far saved
    sandbox.faults.fail_next.clear()
    engine, _ = sync_file(contacts_1k, sandbox)  # the next sync sends the rest, only the rest
    assert engine.stop_error is None
    got = statuses(contacts_1k)
    assert got.count("created") == 1000 - done and got.count("unchanged") == done
    assert all(sandbox.processed_count(f"user{i}@example.com") == 1 for i in range(1000))


@pytest.mark.parametrize("fault", ["drop-after", "slow"])
def test_sent_but_unanswered_is_marked_not_resent(contacts_1k: Path, sandbox: SandboxApi, fault: str) -> None:
    sandbox.faults.fail_next = [fault]
    sandbox.faults.slow_seconds = 3
    engine, _ = sync_file(contacts_1k, sandbox, timeout=1)
    got = statuses(contacts_1k)
    assert got.count("error") == 100 and got.count("created") == 900
    ws = openpyxl.load_workbook(contacts_1k)["Contacts"]
    assert "may have processed" in ws["N2"].value
    assert sandbox.processed_count("user0@example.com") == 1  # processed once, never re-sent


@pytest.mark.parametrize("limit", [1, 7, 99])
def test_413_at_any_batch_size(contacts_1k: Path, sandbox: SandboxApi, limit: int) -> None:
    sandbox.faults.max_batch = limit
    sync_file(contacts_1k, sandbox, batch=100)
    assert set(statuses(contacts_1k)) == {"created"}
    assert all(sandbox.processed_count(f"user{i}@example.com") == 1 for i in range(0, 1000, 13))


def test_answers_that_are_not_json_mark_their_batch(contacts_1k: Path, sandbox: SandboxApi) -> None:
    sandbox.faults.fail_next = ["not-json", "not-object"]
    sync_file(contacts_1k, sandbox)
    got = statuses(contacts_1k)
    assert got.count("error") == 200 and got.count("created") == 800


def test_extra_and_missing_fields_are_tolerated(contacts_1k: Path, sandbox: SandboxApi) -> None:
    sandbox.faults.fail_next = ["extra-fields", "missing-fields"]
    sync_file(contacts_1k, sandbox)
    got = statuses(contacts_1k)
    # A reply without success/errors lists mentions no row: "not processed", with its message.
    assert got.count("not processed") == 100 and got.count("created") == 900
    ws = openpyxl.load_workbook(contacts_1k)["Contacts"]
    messages = [row[13] for row in ws.iter_rows(min_row=2, values_only=True) if row[12] == "not processed"]
    assert all("did not mention this contact" in m for m in messages)


def test_429_storm_is_ridden_out(contacts_1k: Path, sandbox: SandboxApi) -> None:
    sandbox.faults.fail_next = [429, 429]
    sandbox.faults.retry_after = "0"
    sync_file(contacts_1k, sandbox)
    assert set(statuses(contacts_1k)) == {"created"}
