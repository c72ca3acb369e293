"""The sync engine against the real local API: batches, throttling, 413, cancel, stops."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import stamina

from sheetsync.core.client import ContactsApi
from sheetsync.core.contacts import Plan, prepare
from sheetsync.core.engine import BatchOutcome, JobOptions, SyncEngine
from sheetsync.core.errors import JobConfigError, KeyRefused
from sheetsync.core.mapping import resolve
from sheetsync.core.workbook import DataRow, SheetData
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi


def make_plan(n: int, *, dupes: int = 0) -> Plan:
    rows = [DataRow(i + 2, [f"First{i}", f"user{i}@example.com", f"212555{i:04d}"]) for i in range(n)]
    for j in range(dupes):  # rows repeating the email of row j
        rows.append(DataRow(n + 2 + j, [f"Again{j}", f"user{j}@example.com", ""]))
    sheet = SheetData(Path("mem.xlsx"), "S", 1, ["First Name", "Email", "Phone"], rows)
    return prepare(sheet, resolve(sheet.headers))


@pytest.fixture
def no_wait() -> Iterator[None]:
    with stamina.set_testing(True, attempts=20, cap=True):
        yield


def run(plan: Plan, sandbox: SandboxApi, **options: object) -> tuple[SyncEngine, list[BatchOutcome]]:
    holder: dict[str, SyncEngine] = {}
    client = ContactsApi(sandbox.base_url, DEMO_API_KEY, on_retry=lambda e: holder["e"].note_retry(e.throttled))
    engine = SyncEngine(plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, **options), client)  # type: ignore[arg-type]
    holder["e"] = engine
    with client:
        outcomes = list(engine.run())
    return engine, outcomes


def statuses(outcomes: list[BatchOutcome]) -> dict[int, str]:
    return {r.number: r.status for o in outcomes for r in o.results}


def test_rows_go_in_batches_and_every_row_gets_its_result(sandbox: SandboxApi) -> None:
    plan = make_plan(250)
    engine, outcomes = run(plan, sandbox, batch_size=100, concurrency=4)
    assert [len(o.results) for o in sorted(outcomes, key=lambda o: o.index)] != []
    assert sorted(len(o.results) for o in outcomes) == [50, 100, 100]
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert statuses(outcomes) == {n: "created" for n in range(2, 252)}
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 250
    assert engine.stop_error is None
    # The second sync updates the same contacts, it does not duplicate them.
    _, again = run(make_plan(250), sandbox, batch_size=100)
    assert set(statuses(again).values()) == {"updated"}
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 250


def test_request_body_carries_action_and_request_level_external_id(sandbox: SandboxApi) -> None:
    run(make_plan(3), sandbox, external_id_key="hubspotId", external_id_value="1234")
    body = sandbox.requests[-1].body
    assert body["action"] == "upsert" and body["externalIdKey"] == "hubspotId" and body["externalIdValue"] == "1234"
    assert body["contacts"][0] == {"firstName": "First0", "email": "user0@example.com", "phone": "12125550000"}


def test_duplicates_never_travel_in_the_same_request(sandbox: SandboxApi) -> None:
    plan = make_plan(20, dupes=5)
    _, outcomes = run(plan, sandbox, batch_size=100, concurrency=4)
    assert len(statuses(outcomes)) == 25
    for request in sandbox.requests:
        emails = [c.get("email") for c in request.body["contacts"]]
        assert len(emails) == len(set(emails))
    assert len(sandbox.requests) == 2  # round 0 (20 rows) then round 1 (5 repeats)


def test_413_splits_the_batch_and_every_contact_is_processed_once(sandbox: SandboxApi) -> None:
    sandbox.faults.max_batch = 30
    plan = make_plan(200)
    _, outcomes = run(plan, sandbox, batch_size=100, concurrency=2)
    assert set(statuses(outcomes).values()) == {"created"}
    assert len(statuses(outcomes)) == 200
    for i in range(200):
        assert sandbox.processed_count(f"user{i}@example.com") == 1
    accepted = [r for r in sandbox.requests if r.status == 200]
    assert all(r.contacts <= 30 for r in accepted)


def test_429_lowers_the_requests_in_flight(sandbox: SandboxApi, no_wait: None) -> None:
    sandbox.faults.fail_next = [429, 429]
    sandbox.faults.retry_after = "0"
    engine, outcomes = run(make_plan(300), sandbox, batch_size=20, concurrency=4)
    assert set(statuses(outcomes).values()) == {"created"}
    assert engine.lowest_limit == 1  # two 429s: 4 -> 2 -> 1 requests in flight
    assert any(r.status == 429 for r in sandbox.requests)


def test_cancel_stops_after_the_batch_in_flight_and_keeps_its_results(sandbox: SandboxApi) -> None:
    plan = make_plan(500)
    client = ContactsApi(sandbox.base_url, DEMO_API_KEY)
    cancel = threading.Event()
    engine = SyncEngine(plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, batch_size=50, concurrency=1), client, cancel=cancel)
    outcomes = []
    with client:
        for outcome in engine.run():
            outcomes.append(outcome)
            cancel.set()
    got = statuses(outcomes)
    assert len(got) == 500
    created = [n for n, s in got.items() if s == "created"]
    skipped = [n for n, s in got.items() if s == "skipped"]
    # One request on the wire at a time: the next batch may already be sent when the
    # first answer is read (it goes out the moment a slot frees), never more than that.
    assert len(created) in (50, 100) and len(created) + len(skipped) == 500
    # What the rows say is what the server has: every created row is in the campaign.
    stored = set(sandbox.contacts(DEMO_CAMPAIGN_ID))
    assert stored == {f"user{n - 2}@example.com" for n in created}
    assert sum(r.contacts for r in sandbox.requests) == len(created)
    assert "cancelled" in next(r.message for o in outcomes for r in o.results if r.status == "skipped")


def test_a_401_in_the_middle_stops_the_job(sandbox: SandboxApi) -> None:
    plan = make_plan(300)
    client = ContactsApi(sandbox.base_url, DEMO_API_KEY)
    engine = SyncEngine(plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, batch_size=50, concurrency=1), client)
    outcomes = []
    with client:
        for outcome in engine.run():
            outcomes.append(outcome)
            sandbox.faults.fail_next.append(401)
    assert isinstance(engine.stop_error, KeyRefused)
    got = statuses(outcomes)
    assert len(got) == 300
    created = [n for n, s in got.items() if s == "created"]
    assert len(created) in (50, 100)  # the batch already on the wire when the 401 was armed
    assert sum(1 for s in got.values() if s == "skipped") == 300 - len(created)
    assert set(sandbox.contacts(DEMO_CAMPAIGN_ID)) == {f"user{n - 2}@example.com" for n in created}
    assert sandbox.requests[-1].status == 401 and len(sandbox.requests) == len(created) // 50 + 1


def test_a_rejected_batch_marks_its_rows_and_the_job_goes_on(sandbox: SandboxApi) -> None:
    sandbox.faults.fail_next = ["text-error"]
    _, outcomes = run(make_plan(100), sandbox, batch_size=50, concurrency=1)
    got = statuses(outcomes)
    assert sorted(got.values()).count("error") == 50 and sorted(got.values()).count("created") == 50
    failed = next(o for o in outcomes if o.error)
    assert failed.error and all(r.message == failed.error for r in failed.results)


def test_outcome_unknown_is_not_resent(sandbox: SandboxApi) -> None:
    sandbox.faults.fail_next = ["drop-after"]
    _, outcomes = run(make_plan(10), sandbox, batch_size=10, concurrency=1)
    assert set(statuses(outcomes).values()) == {"error"}
    assert "may have processed" in outcomes[0].results[0].message
    assert sandbox.processed_count("user0@example.com") == 1
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"campaign_id": "not-a-uuid"}, "not a campaign ID"),
        ({"campaign_id": DEMO_CAMPAIGN_ID, "action": "delete"}, "Unknown action"),
        ({"campaign_id": DEMO_CAMPAIGN_ID, "batch_size": 0}, "batch size"),
        ({"campaign_id": DEMO_CAMPAIGN_ID, "concurrency": 99}, "in flight"),
        ({"campaign_id": DEMO_CAMPAIGN_ID, "external_id_key": "k"}, "both"),
    ],
)
def test_job_options_are_checked_before_anything_is_sent(options: dict[str, object], match: str) -> None:
    with pytest.raises(JobConfigError, match=match):
        JobOptions(**options).validated()  # type: ignore[arg-type]


def test_batches_go_out_in_row_order(sandbox: SandboxApi) -> None:
    """The gate lets batches through in the order they were prepared, however the threads
    run (two are prepared per request slot): one at a time, they reach the server in row
    order, so a crash leaves the next batch in flight. With several in flight the gate's
    order is the same, but requests already past it may overtake one another on the wire."""
    for attempt in range(5):  # thread scheduling varies: several runs, each must hold
        before = len(sandbox.requests)
        run(make_plan(300), sandbox, batch_size=10, concurrency=1)
        order = [int(r.body["contacts"][0]["email"][4:].split("@")[0]) // 10 for r in sandbox.requests[before:]]
        assert order == list(range(30)), (attempt, order)


@pytest.mark.parametrize("action", ["upsert", "remove"])
def test_a_batch_cancelled_while_waiting_its_turn_is_not_left_in_flight(sandbox: SandboxApi, tmp_path: Path,
                                                                       action: str) -> None:
    """An upsert batch is journaled while it waits for its turn (its fsync overlaps the
    request in flight); cancelled before its turn, it is closed in the journal, so a resumed
    job counts its rows as never sent, not as "outcome unknown". A removal is journaled
    only when it goes out."""
    from sheetsync.core.journal import JobHeader, JobJournal, JournalState

    plan = make_plan(200)
    before = 0
    if action == "remove":
        client = ContactsApi(sandbox.base_url, DEMO_API_KEY)
        with client:
            list(SyncEngine(plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID), client).run())
        before = len(sandbox.requests)
    sandbox.faults.latency = 0.3
    path = tmp_path / "j.jsonl"
    journal = JobJournal.start(path, JobHeader("b.xlsx", "S", 1, DEMO_CAMPAIGN_ID, action, "t"), plan.rows)
    client = ContactsApi(sandbox.base_url, DEMO_API_KEY)
    cancel = threading.Event()

    def cancel_once_the_first_request_is_in() -> None:
        while len(sandbox.requests) <= before:
            time.sleep(0.005)
        time.sleep(0.05)  # the next batch is prepared meanwhile and waits for its turn
        cancel.set()

    threading.Thread(target=cancel_once_the_first_request_is_in, daemon=True).start()
    engine = SyncEngine(plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, action=action, batch_size=50, concurrency=1),
                        client, cancel=cancel, journal=journal)
    with client:
        outcomes = list(engine.run())
    journal.close()
    assert len(sandbox.requests) - before == 1 and statuses(outcomes)[2] != "skipped"
    assert sum(1 for o in outcomes for r in o.results if r.status == "skipped") == 150
    state = JournalState.load(path)
    assert state is not None and state.in_flight == [] and len(state.results) == 50
    journaled = path.read_bytes().count(b'"type":"send"')
    assert journaled == (2 if action == "upsert" else 1)


@pytest.mark.parametrize("action", ["upsert", "remove"])
def test_a_removal_is_on_disk_before_its_request_and_an_upsert_does_not_wait_for_the_disk(
        sandbox: SandboxApi, tmp_path: Path, monkeypatch, action: str) -> None:
    """A removal whose outcome is unknown is never repeated, so its send line is fsync'ed
    before the request goes; an upsert batch is safe to repeat, so the job does not wait
    for the disk once per batch (one fsync per batch was 0.36 s of a 100k-row sync). The
    journal's clock is stopped by the test: no fsync falls due on its own."""
    from test_resume import journal_counting_fsyncs

    from sheetsync.core import journal as journal_module
    from sheetsync.core.journal import JournalState

    plan = make_plan(100)
    if action == "remove":
        run(plan, sandbox)  # the contacts to remove
    monkeypatch.setattr(journal_module, "monotonic", lambda: 1000.0)
    # fsynced: the lines in the file at each fsync
    journal, path, fsynced = journal_counting_fsyncs(tmp_path, monkeypatch, action=action, rows=plan.rows)
    client = ContactsApi(sandbox.base_url, DEMO_API_KEY)
    unsynced_at_request: list[int] = []
    post = client.post_contacts

    def checked_post(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        data = path.read_bytes()
        last_send = data[: data.rindex(b'"type":"send"')].count(b"\n") + 1
        unsynced_at_request.append(last_send - max(fsynced, default=0))
        return post(*args, **kwargs)  # type: ignore[arg-type]

    client.post_contacts = checked_post  # type: ignore[method-assign]
    engine = SyncEngine(plan, JobOptions(campaign_id=DEMO_CAMPAIGN_ID, action=action, batch_size=10, concurrency=1),
                        client, journal=journal)
    with client:
        outcomes = list(engine.run())
    journal.close()
    assert set(statuses(outcomes).values()) == {"removed" if action == "remove" else "created"}
    assert len(unsynced_at_request) == 10
    if action == "remove":
        assert all(n <= 0 for n in unsynced_at_request)  # each send line was on disk first
        assert len(fsynced) == 1 + 10 + 1  # the header, each removal, the last reply (close)
    else:
        assert len(fsynced) == 2  # the header, and close (before the workbook is written)
    assert fsynced[-1] == path.read_bytes().count(b"\n")  # close put every line on disk
    # the digest journaled is that of the very bytes sent (serialised once, for both); the
    # lines may come in another order than the requests (batches are prepared two at a time)
    sent = [orjson.loads(line) for line in path.read_bytes().splitlines() if b'"type":"send"' in line]
    bodies = [r.body for r in sandbox.requests if r.method == "POST"][-10:]
    assert sorted(line["sha256"] for line in sent) == sorted(hashlib.sha256(orjson.dumps(b)).hexdigest() for b in bodies)
    state = JournalState.load(path)
    assert state is not None and len(state.results) == 100 and state.in_flight == []
