"""Cancel, a refused key, a workbook that cannot be saved, no keyring: nothing that came
back from the server is lost, and the user is asked the right question."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import keyring
import openpyxl
import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt

from sheetsync.core.credentials import NO_KEYRING_HELP, KeyStore
from sheetsync.core.errors import SaveError
from sheetsync.gui import interaction
from sheetsync.gui.key_dialog import KeyDialog
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, Faults, SandboxApi
from sheetsync.sandbox.workbooks import make_contacts_workbook

from .conftest import open_and_wait, prompts
from .test_flow import statuses


@pytest.fixture
def slow_api():
    """The local API answering each request after 100 ms."""
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID], faults=Faults(latency=0.1), seed=7) as api:
        yield api


def ready_window(qtbot, make_window, api, path: Path, *, store_key: bool = True, batch_size: int = 10):
    if store_key:
        KeyStore(env={}).set(api.base_url, DEMO_API_KEY)
    window = make_window(base_url=api.base_url, batch_size=batch_size, concurrency=2)
    open_and_wait(qtbot, window, path)
    window.campaign.campaign.setText(DEMO_CAMPAIGN_ID)
    return window


def test_cancel_in_the_middle_writes_back_what_came_back(qtbot, make_window, slow_api, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 200)
    window = ready_window(qtbot, make_window, slow_api, path)
    with qtbot.waitSignal(window.sync.progressed, timeout=10_000):
        window.start_sync()
    assert window.progress.isVisible() and window.act_cancel.isEnabled()
    with qtbot.waitSignal(window.sync.saved, timeout=30_000):
        qtbot.mouseClick(window.progress.cancel, Qt.MouseButton.LeftButton)
    counts = Counter(statuses(path).values())
    assert counts["created"] > 0 and counts["skipped"] > 0
    assert counts["created"] + counts["skipped"] == 200
    assert len(slow_api.contacts(DEMO_CAMPAIGN_ID)) == counts["created"]
    assert "not sent" in window.results.summary.text()

    # Retry failed rows sends the rest, and only the rest (once the preview is read again).
    qtbot.waitUntil(window.results.retry.isEnabled, timeout=10_000)
    with qtbot.waitSignal(window.sync.saved, timeout=60_000):
        qtbot.mouseClick(window.results.retry, Qt.MouseButton.LeftButton)
    assert Counter(statuses(path).values()) == {"created": 200}
    assert len(slow_api.contacts(DEMO_CAMPAIGN_ID)) == 200


def test_key_refused_in_the_middle_asks_for_a_new_key(qtbot, make_window, slow_api, tmp_path, memory_keyring):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 100)
    window = ready_window(qtbot, make_window, slow_api, path)
    fake = prompts(window)
    shown: list[KeyDialog] = []

    def drive_key_dialog(base_url: str, reason: str, note: str) -> str | None:
        # The real dialog, driven as a user would (the seam only avoids a blocking exec()).
        dialog = KeyDialog(window, base_url=base_url, reason=reason, storage_note=note)
        qtbot.addWidget(dialog)
        dialog.show()
        shown.append(dialog)
        assert not dialog.ok_button.isEnabled()
        assert dialog.edit.echoMode() == dialog.edit.EchoMode.Password
        qtbot.keyClicks(dialog.edit, DEMO_API_KEY)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        assert dialog.result() == KeyDialog.DialogCode.Accepted
        return dialog.key()

    fake.key_answer = drive_key_dialog
    with qtbot.waitSignal(window.sync.progressed, timeout=10_000):
        window.start_sync()
    slow_api.faults.fail_next.append(401)  # the next request is refused
    # First the results so far are saved, then the key is asked, then the rest is sent.
    with qtbot.waitSignals([window.sync.saved, window.sync.started, window.sync.saved], order="simple", timeout=60_000):
        pass
    assert len(shown) == 1 and "refused the API key" in fake.named("ask_key")[0]
    assert Counter(statuses(path).values()) == {"created": 100}
    assert len(slow_api.contacts(DEMO_CAMPAIGN_ID)) == 100


def statuses_by_email(path: Path) -> dict[str, str | None]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb["Contacts"].iter_rows(values_only=True))
    wb.close()
    header = list(rows[0])
    email, status = header.index("E-mail Address"), header.index("Sync Status")
    return {row[email]: row[status] for row in rows[1:] if row[email]}


def insert_contacts_like_excel(path: Path, at: int, emails: list[str]) -> None:
    """Rows inserted above the data (below the header) and saved as Excel does: a new
    file renamed over the old one."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Contacts"]
    ws.insert_rows(at, len(emails))
    for offset, email in enumerate(emails):
        ws.cell(at + offset, 1, f"New{offset}")
        ws.cell(at + offset, 3, email)
    tmp = path.with_name("~$tmp.xlsx")
    wb.save(tmp)
    os.replace(tmp, path)


def test_workbook_changed_at_save_time_offers_reload_and_apply(qtbot, make_window, slow_api, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 60)
    window = ready_window(qtbot, make_window, slow_api, path)
    fake = prompts(window)
    fake.save_choices = [interaction.RELOAD_APPLY]
    with qtbot.waitSignal(window.sync.started, timeout=10_000):
        window.start_sync()
    # As if the user inserted rows above the data in Excel and saved during the sync: the
    # rows moved, so save_results refuses to write by row number (and Save As would read
    # the moved rows too).
    new = ["new0@example.com", "new1@example.com", "new2@example.com"]
    insert_contacts_like_excel(path, 2, new)
    with qtbot.waitSignal(window.sync.saved, timeout=30_000) as saved:
        pass
    failures = fake.named("save_failed")
    assert len(failures) == 1 and isinstance(failures[0], SaveError)
    assert "changed on disk" in str(failures[0])
    assert fake.named("save_choices") == [[interaction.RELOAD_APPLY, interaction.KEEP]]
    assert Path(failures[0].results_path).exists()  # the results were safe all along
    assert saved.args == [str(path)]
    # Each result went to its contact's row, wherever the row moved; the new rows have none.
    got = statuses_by_email(path)
    assert {got[f"user{i}@example.com"] for i in range(60)} == {"created"}
    assert [got[e] for e in new] == [None, None, None]
    assert fake.named("info") == []  # no result was lost
    assert window.sync.loaded.data.rows[0].get(2) == "new0@example.com"  # the plan follows the reloaded sheet
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)


def test_reload_and_apply_says_when_results_are_lost(qtbot, make_window, slow_api, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 30)
    window = ready_window(qtbot, make_window, slow_api, path)
    fake = prompts(window)
    fake.save_choices = [interaction.RELOAD_APPLY]
    with qtbot.waitSignal(window.sync.started, timeout=10_000):
        window.start_sync()
    wb = openpyxl.load_workbook(path)
    wb["Contacts"].delete_rows(2, 2)  # user0 and user1 deleted in Excel meanwhile
    wb.save(path)
    with qtbot.waitSignal(window.sync.saved, timeout=30_000):
        pass
    assert "2 result(s) belong to contacts that are no longer in the sheet" in fake.named("info")[0]
    got = statuses_by_email(path)
    assert len(got) == 28 and set(got.values()) == {"created"}


def headers(path: Path) -> list[object]:
    wb = openpyxl.load_workbook(path, read_only=True)
    first = [c.value for c in next(wb["Contacts"].iter_rows(max_row=1))]
    wb.close()
    return first


def write_excel_owner_file(workbook: Path, user: str = "Pat") -> Path:
    """What Excel leaves beside a workbook it has open: ~$name.xlsx, the user's name inside."""
    owner = workbook.with_name("~$" + workbook.name)
    owner.write_bytes(bytes([len(user)]) + user.encode("cp1252") + b"\x00" * (54 - len(user)))
    return owner


def test_workbook_open_in_excel_warns_then_saves_when_it_is_closed(qtbot, make_window, slow_api, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 30)
    owner = write_excel_owner_file(path)
    window = ready_window(qtbot, make_window, slow_api, path)
    fake = prompts(window)
    fake.save_choices = [interaction.WAIT]
    with qtbot.waitSignal(window.sync.save_failed, timeout=30_000):
        window.start_sync()  # "Sync anyway" (the fake confirms)
    warning = fake.named("confirm")[0]
    assert "list.xlsx is open in Excel by Pat" in warning and "results could not be saved" in warning
    failure = fake.named("save_failed")[0]
    assert "open in Excel" in str(failure) and Path(failure.results_path).exists()
    assert fake.named("save_choices") == [[interaction.RETRY, interaction.SAVE_AS, interaction.WAIT, interaction.KEEP]]
    qtbot.waitUntil(lambda: window.sync.waiting_for == path, timeout=5_000)
    assert "Waiting for list.xlsx to be closed" in window.statusBar().currentMessage()
    assert "as soon as it is closed" in window.results.summary.text()
    assert "Sync Status" not in headers(path)  # not written while Excel has it open
    qtbot.wait(300)
    assert not window.sync.busy and window.sync.waiting_for == path  # still waiting

    with qtbot.waitSignal(window.sync.saved, timeout=10_000) as saved:
        owner.unlink()  # Excel closed the workbook
    assert saved.args == [str(path)]
    assert Counter(statuses(path).values()) == {"created": 30}
    assert "was closed" in window.statusBar().currentMessage()
    assert window.sync.waiting_for is None
    assert len(fake.named("save_failed")) == 1


def test_workbook_open_in_excel_cancel_sends_nothing(qtbot, make_window, slow_api, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 10)
    write_excel_owner_file(path)
    window = ready_window(qtbot, make_window, slow_api, path)
    fake = prompts(window)
    fake.confirm_answer = False  # Cancel
    window.start_sync()
    qtbot.waitUntil(lambda: bool(fake.named("confirm")) and not window.sync.busy, timeout=10_000)
    assert slow_api.requests == []


def test_save_as_into_a_missing_folder_keeps_the_results(qtbot, make_window, slow_api, workbook, tmp_path):
    write_excel_owner_file(workbook)
    window = ready_window(qtbot, make_window, slow_api, workbook, batch_size=5)
    fake = prompts(window)
    fake.save_choices = [interaction.SAVE_AS, interaction.KEEP]
    fake.save_as_path = tmp_path / "no such folder" / "copy.xlsx"
    window.start_sync()
    qtbot.waitUntil(lambda: len(fake.named("save_failed")) == 2 and not window.sync.busy, timeout=30_000)
    first, second = fake.named("save_failed")
    assert "open in Excel" in str(first) and "does not exist" in str(second)
    assert window.sync.results_file == first.results_path and Path(first.results_path).exists()
    assert first.results_path in window.results.summary.text()
    assert not fake.save_as_path.exists()


def test_no_keyring_keeps_the_key_for_the_session_and_says_so_once(qtbot, make_window, sandbox, workbook):
    # Stands in for a desktop without a keyring daemon (no D-Bus Secret Service).
    keyring.set_keyring(keyring.backends.fail.Keyring())
    window = make_window(base_url=sandbox.base_url)
    fake = prompts(window)
    fake.key_answer = DEMO_API_KEY
    open_and_wait(qtbot, window, workbook)
    window.campaign.campaign.setText(DEMO_CAMPAIGN_ID)
    with qtbot.waitSignal(window.sync.saved, timeout=30_000):
        window.start_sync()
    assert len(fake.named("ask_key")) == 1
    assert fake.named("info") == [NO_KEYRING_HELP]
    assert window.connection.keys.status(sandbox.base_url).source == "session"
    # A second sync uses the session key: no question, no second notice.
    qtbot.waitUntil(window.act_sync.isEnabled, timeout=10_000)
    with qtbot.waitSignal(window.sync.saved, timeout=30_000):
        window.start_sync()
    assert len(fake.named("ask_key")) == 1 and fake.named("info") == [NO_KEYRING_HELP]
    assert window.store.settings.keyring_notice_shown
