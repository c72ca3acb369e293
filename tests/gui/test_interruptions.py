"""Cancel, a refused key, a workbook that cannot be saved, no keyring: nothing that came
back from the server is lost, and the user is asked the right question."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import keyring
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


def test_workbook_changed_at_save_time_offers_retry_and_save_as(qtbot, make_window, slow_api, tmp_path):
    path = make_contacts_workbook(tmp_path / "list.xlsx", 60)
    window = ready_window(qtbot, make_window, slow_api, path)
    fake = prompts(window)
    fake.save_choices = [interaction.RETRY, interaction.SAVE_AS]
    fake.save_as_path = tmp_path / "list (synced).xlsx"
    with qtbot.waitSignal(window.sync.progressed, timeout=10_000):
        window.start_sync()
    # As if the user saved the workbook in Excel during the sync: save_results refuses to
    # write rows that may have moved.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    with qtbot.waitSignal(window.sync.saved, timeout=30_000) as saved:
        pass
    failures = fake.named("save_failed")
    assert len(failures) == 2 and all(isinstance(e, SaveError) for e in failures)
    assert "changed on disk" in str(failures[0])
    kept = Path(failures[0].results_path)
    assert kept.exists()  # the results were safe all along
    assert saved.args == [str(fake.save_as_path)]
    assert Counter(statuses(fake.save_as_path).values()) == {"created": 60}
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    assert "Sync Status" not in [c.value for c in next(wb["Contacts"].iter_rows(max_row=1))]
    wb.close()


def test_save_as_into_a_missing_folder_keeps_the_results(qtbot, make_window, slow_api, workbook, tmp_path):
    window = ready_window(qtbot, make_window, slow_api, workbook, batch_size=5)
    fake = prompts(window)
    fake.save_choices = [interaction.SAVE_AS, interaction.KEEP]
    fake.save_as_path = tmp_path / "no such folder" / "copy.xlsx"
    with qtbot.waitSignal(window.sync.progressed, timeout=10_000):
        window.start_sync()
    st = workbook.stat()
    os.utime(workbook, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    qtbot.waitUntil(lambda: len(fake.named("save_failed")) == 2 and not window.sync.busy, timeout=30_000)
    first, second = fake.named("save_failed")
    assert "changed on disk" in str(first) and "read-only" in str(second) or "copy.xlsx" in str(second)
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
