"""The window keeps the sheet and the campaign in step: an interrupted sync resumed,
unchanged rows not sent again, per-row actions, contacts gone from the sheet, mapping
profiles, and the rows with problems exported to fix. One flow per feature, against the
real local API and real .xlsx files."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import openpyxl
from PySide6.QtCore import Qt

from sheetsync.core.client import ContactsApi
from sheetsync.core.credentials import KeyStore
from sheetsync.core.engine import JobOptions, SyncEngine
from sheetsync.core.export import problems_path
from sheetsync.core.job import load_sheet, plan_job
from sheetsync.core.resume import pending_journal, prepare_run
from sheetsync.gui.preview_model import STATUS_COLOURS
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID
from sheetsync.sandbox.workbooks import make_contacts_workbook

from .conftest import open_and_wait, prompts
from .test_flow import statuses


def keyed_window(make_window, api, **kw):
    KeyStore(env={}).set(api.base_url, DEMO_API_KEY)
    return make_window(base_url=api.base_url, **kw)


def ready(qtbot, window, path: Path) -> None:
    open_and_wait(qtbot, window, path)
    window.campaign.campaign.setText(DEMO_CAMPAIGN_ID)


def sync_and_wait(qtbot, window, timeout: int = 30_000) -> None:
    qtbot.waitUntil(window.act_sync.isEnabled, timeout=10_000)
    with qtbot.waitSignal(window.sync.saved, timeout=timeout):
        window.start_sync()
    # The workbook is read again (status columns as written) before the next step.
    qtbot.waitUntil(lambda: "Sync Status" in window.model.sheet.headers and not window.runner.busy, timeout=10_000)


def validate_and_wait(qtbot, window):
    with qtbot.waitSignal(window.sync.checked, timeout=10_000) as checked:
        window.validate()
    return checked.args[0]


def save_like_excel(wb: openpyxl.Workbook, path: Path) -> None:
    tmp = path.with_name("~$tmp.xlsx")
    wb.save(tmp)
    os.replace(tmp, path)


# -- resume ------------------------------------------------------------------------------------
def crash_part_way(path: Path, base_url: str, *, answered: int) -> None:
    """The core's own job (prepare_run + SyncEngine), stopped as a crash would stop it:
    ``answered`` batches recorded in the journal, the next one sent (the server processed
    it) but its answer never recorded, nothing sent after it, and nothing saved. The
    process "dies" at the HTTP call: the journal holds whatever a real crash leaves (an
    upsert batch waiting for its turn is journaled already)."""
    loaded = load_sheet(path)
    plan = plan_job(loaded.data)
    options = JobOptions(campaign_id=DEMO_CAMPAIGN_ID, batch_size=10, concurrency=1).validated()
    run = prepare_run(loaded, plan, options)
    cancel = threading.Event()
    record, replies = run.journal.record, []

    def crash_before_recording(batch_id, results, unmatched):  # type: ignore[no-untyped-def]
        replies.append(batch_id)
        if len(replies) > answered:
            cancel.set()  # "killed" while this answer was on its way into the journal
            return
        record(batch_id, results, unmatched)

    run.journal.record = crash_before_recording  # type: ignore[method-assign]
    with ContactsApi(base_url, DEMO_API_KEY) as client:
        post, posts = client.post_contacts, []

        def killed_after_the_next_request(campaign, body, content=None):  # type: ignore[no-untyped-def]
            posts.append(campaign)
            if len(posts) > answered + 1:  # the process is dead by now: nothing goes out
                cancel.set()
                raise RuntimeError("killed")
            return post(campaign, body, content)

        client.post_contacts = killed_after_the_next_request  # type: ignore[method-assign]
        for _ in SyncEngine(plan, options, client, cancel=cancel, journal=run.journal, rows=run.rows).run():
            pass
    run.journal.close()


def test_resume_after_a_crash_sends_each_contact_once(qtbot, make_window, sandbox, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 50)
    crash_part_way(path, sandbox.base_url, answered=3)
    state = pending_journal(path)
    assert state is not None
    in_flight = len(state.in_flight)
    assert in_flight in (10, 20) and [r.number for r in state.in_flight][:10] == list(range(32, 42))
    window = keyed_window(make_window, sandbox, batch_size=10)
    fake = prompts(window)
    with qtbot.waitSignal(window.sync.saved, timeout=30_000):
        window.open_path(path)  # asks; the fake chooses the first answer, Resume
    kind, text = fake.named("choose")[0]
    assert kind == "resume"
    # In flight: the batch sent but unanswered, and the next one if it was journaled while
    # it waited for its turn (as it usually is: its fsync overlaps the request in flight).
    assert "interrupted sync of this workbook" in text and "30 row(s) already have results" in text
    assert f"{in_flight} were being sent, or about to be, when it stopped" in text and "Start over" in text
    assert f"{in_flight} row(s) were being sent, or about to be," in fake.named("confirm")[0]  # asked before sending them again
    assert window.campaign.campaign.text() == DEMO_CAMPAIGN_ID  # the interrupted job's campaign
    got = statuses(path, "Contacts")
    assert len(got) == 50 and set(got.values()) <= {"created", "updated"}
    counts = [sandbox.processed_count(f"user{i}@example.com") for i in range(50)]
    assert counts[30:40] == [2] * 10  # only the batch in flight at the crash, sent again
    assert counts[:30] == [1] * 30 and counts[40:] == [1] * 10
    assert pending_journal(path) is None  # finished and saved: no journal left


def test_start_over_forgets_the_interrupted_sync(qtbot, make_window, sandbox, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 30)
    crash_part_way(path, sandbox.base_url, answered=1)
    window = keyed_window(make_window, sandbox, batch_size=10)
    fake = prompts(window)
    fake.choices["resume"] = "restart"
    open_and_wait(qtbot, window, path)
    qtbot.waitUntil(lambda: bool(fake.named("choose")) and not window.sync.busy, timeout=10_000)
    assert "starts over" in window.statusBar().currentMessage()
    window.campaign.campaign.setText(DEMO_CAMPAIGN_ID)
    sync_and_wait(qtbot, window)
    assert len(fake.named("choose")) == 1  # not asked again
    assert [sandbox.processed_count(f"user{i}@example.com") for i in range(30)] == [2] * 20 + [1] * 10
    assert pending_journal(path) is None


# -- changed rows only --------------------------------------------------------------------------
def test_second_sync_sends_only_changed_rows_and_send_all_sends_every_row(qtbot, make_window, sandbox, workbook):
    window = keyed_window(make_window, sandbox)
    ready(qtbot, window, workbook)
    sync_and_wait(qtbot, window)
    first = Counter(statuses(workbook).values())
    assert first["error"] == 2 and first["invalid"] == 1  # the sample's refused and invalid rows
    sent_once = len(sandbox.requests)

    checked = validate_and_wait(qtbot, window)
    assert checked.unchanged == 17  # Jane's two rows (the sample repeats her) are both stable
    assert "17 of them unchanged since their last sync" in window.results.summary.text()
    assert "17 of them are unchanged" in window.report.toPlainText()

    wb = openpyxl.load_workbook(workbook)
    wb["Contacts"]["A2"] = "Janet"  # one contact changed in Excel
    save_like_excel(wb, workbook)
    qtbot.waitUntil(lambda: window.model.data(window.model.index(0, 0)) == "Janet", timeout=10_000)
    sync_and_wait(qtbot, window)
    second = Counter(statuses(workbook).values())
    # Janet's row changed, so both rows of that contact go (the sheet's last row wins).
    assert second == Counter({"unchanged": 15, "updated": 2, "error": 2, "invalid": 1})
    sent = [r for r in sandbox.requests[sent_once:] if r.method == "POST"]
    assert sum(r.contacts for r in sent) == 4  # Janet's two rows and the two rows refused before
    assert "15 unchanged" in window.results.summary.text()
    row2 = next(r for r in range(window.model.rowCount()) if window.model.row_number(r) == 3)
    status_col = window.model.sheet.headers.index("Sync Status")
    assert window.model.data(window.model.index(row2, status_col), Qt.ItemDataRole.BackgroundRole) == STATUS_COLOURS["unchanged"]

    window.campaign.send_all.setChecked(True)
    sync_and_wait(qtbot, window)
    third = Counter(statuses(workbook).values())
    assert third["updated"] + third["created"] == 17 and "unchanged" not in third


# -- per-row actions ------------------------------------------------------------------------------
def action_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contacts"
    ws.append(["Email", "First Name", "Todo"])
    for i in range(6):
        ws.append([f"p{i}@example.com", f"P{i}", "remove" if i in (1, 4) else None])
    wb.save(path)
    return path


def test_action_column_removals_are_confirmed_with_their_count(qtbot, make_window, sandbox, tmp_path):
    path = action_workbook(tmp_path / "actions.xlsx")
    window = keyed_window(make_window, sandbox)
    ready(qtbot, window, path)
    assert window.mapping.combo("Todo").currentData() == ""  # not auto-mapped: ignored
    labels = [window.mapping.combo("Todo").itemText(i) for i in range(window.mapping.combo("Todo").count())]
    assert "Action" in labels and "Campaign" in labels
    sync_and_wait(qtbot, window)
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 6

    window.mapping.set_target("Todo", "action")
    fake = prompts(window)
    fake.confirm_answer = False  # Cancel: nothing is sent
    before = len(sandbox.requests)
    window.start_sync()
    qtbot.waitUntil(lambda: bool(fake.named("confirm")) and not window.sync.busy, timeout=10_000)
    assert "This removes 2 contact(s)" in fake.named("confirm")[0] and "sent last" in fake.named("confirm")[0]
    assert len(sandbox.requests) == before

    fake.confirm_answer = True
    sync_and_wait(qtbot, window)
    got = statuses(path)
    assert got[3] == got[6] == "removed"
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 4
    assert sandbox.find("p1@example.com") is None and sandbox.find("p0@example.com") is not None
    posts = [r for r in sandbox.requests[before:] if r.method == "POST"]
    assert posts[-1].body["action"] == "remove"  # removals go last


# -- rows gone from the sheet ----------------------------------------------------------------------
def test_contacts_gone_from_the_sheet_are_removed_only_when_opted_in(qtbot, make_window, sandbox, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 10)
    window = keyed_window(make_window, sandbox)
    ready(qtbot, window, path)
    sync_and_wait(qtbot, window)
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 10
    wb = openpyxl.load_workbook(path)
    wb["Contacts"].delete_rows(2, 3)  # user0..user2 deleted in Excel
    save_like_excel(wb, path)
    qtbot.waitUntil(lambda: window.model.rowCount() == 7, timeout=10_000)

    checked = validate_and_wait(qtbot, window)
    assert len(checked.missing) == 3
    panel = window.campaign
    assert panel.missing.isVisible() and "3 contact(s) are no longer in the sheet" in panel.missing.text()
    assert panel.remove_missing.isVisible() and not panel.remove_missing.isChecked()  # opt-in
    assert "3 no longer in the sheet" in window.results.summary.text()
    sync_and_wait(qtbot, window)  # not opted in: they stay
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 10
    assert prompts(window).named("confirm") == []

    validate_and_wait(qtbot, window)
    panel.remove_missing.setChecked(True)
    sync_and_wait(qtbot, window)
    assert "removes 3 contact(s) that were synced from this sheet before" in prompts(window).named("confirm")[0]
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 7
    summary = window.results.summary.text()
    assert "3 contact(s) no longer in the sheet: 3 removed" in summary and "user0@example.com: removed" in summary
    validate_and_wait(qtbot, window)
    assert not panel.missing.isVisible()  # nothing is missing any more


# -- mapping profiles ------------------------------------------------------------------------------
def test_a_mapping_profile_maps_a_second_workbook_with_the_same_headers(qtbot, make_window, tmp_path):
    first = make_contacts_workbook(tmp_path / "week1.xlsx", 5)
    second = make_contacts_workbook(tmp_path / "week2.xlsx", 8)
    window = make_window()
    open_and_wait(qtbot, window, first)
    window.mapping.set_target("Plan Tier", "contactMetadata", "tier")
    window.mapping.set_target("Company", "")
    open_and_wait(qtbot, window, second)
    assert window.model.sheet.path == second
    assert window.mapping.target_for("Plan Tier").key == "tier"
    assert window.mapping.target_for("Company") is None
    assert "Mapped with the profile saved for these headers" in window.statusBar().currentMessage()
    assert "Mapped with the profile saved for these headers" in window.results.summary.text()


# -- export problems ----------------------------------------------------------------------------------
def test_export_problems_then_open_the_new_workbook(qtbot, make_window, sandbox, workbook):
    window = keyed_window(make_window, sandbox)
    ready(qtbot, window, workbook)
    assert not window.results.export_problems.isVisible()
    sync_and_wait(qtbot, window)
    assert window.results.export_problems.isVisible() and window.act_export_problems.isEnabled()
    out = problems_path(workbook)
    with qtbot.waitSignal(window.load.loaded, timeout=10_000):
        window.results.export_problems.click()  # default path; "Open it" (the fake confirms)
    assert prompts(window).named("save_problems") == [out]
    assert "3 row(s) with problems" in prompts(window).named("confirm")[0]
    assert window.load.current.path == out
    sheet = window.model.sheet
    assert len(sheet.rows) == 3 and "Source Row" in sheet.headers
    assert sorted(r.get(sheet.headers.index("Source Row")) for r in sheet.rows) == [10, 12, 17]


def test_apply_results_file_from_the_file_menu(qtbot, make_window, workbook):
    from sheetsync.core.job import ResultBook, write_results_file
    from sheetsync.core.results import RowResult

    loaded = load_sheet(workbook)
    plan = plan_job(loaded.data)
    book = ResultBook.for_plan(plan)
    book.results[2] = RowResult(2, "created", "", None)
    results = write_results_file(loaded.data, book)
    window = make_window()
    open_and_wait(qtbot, window, workbook)
    prompts(window).results_path = results
    with qtbot.waitSignal(window.load.loaded, timeout=10_000):
        window.act_apply.trigger()
    got = statuses(workbook)
    assert got[2] == "created" and got[10] == "invalid"
    assert "Results written into contacts.xlsx" in window.results.summary.text()
    assert not results.exists()


# -- routing to several campaigns ----------------------------------------------------------------
def test_campaign_column_routes_rows_by_id_or_saved_label(qtbot, make_window, sandbox, tmp_path):
    second = "0b9f3c52-2f0e-4a43-9d51-6c8e2b1f7a10"
    sandbox.add_campaign(second)
    wb = openpyxl.Workbook()
    wb.active.title = "Contacts"
    wb.active.append(["Email", "Where"])
    for row in (["a@example.com", None], ["b@example.com", second], ["c@example.com", "Spring promo"], ["d@example.com", "nowhere"]):
        wb.active.append(row)
    path = tmp_path / "routed.xlsx"
    wb.save(path)
    window = keyed_window(make_window, sandbox)
    window.store.settings.remember_campaign(second, "Spring promo")  # a label saved earlier
    ready(qtbot, window, path)
    labels = [window.mapping.combo("Where").itemText(i) for i in range(window.mapping.combo("Where").count())]
    assert "Campaign" in labels
    window.mapping.set_target("Where", "campaign")
    sync_and_wait(qtbot, window)
    got = statuses(path)
    assert [got[n] for n in (2, 3, 4, 5)] == ["created", "created", "created", "invalid"]
    assert sorted(sandbox.contacts(DEMO_CAMPAIGN_ID)) == ["a@example.com"]
    assert sorted(sandbox.contacts(second)) == ["b@example.com", "c@example.com"]
