"""The window's other duties: file watching, mapping files, confirmations, settings and
the key, errors as dialogs, the crash handler, the demo set-up and the self-test."""

from __future__ import annotations

import json
import os
import sys

import openpyxl
import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication, QWidget

from sheetsync.core.credentials import SERVICE, KeyStore
from sheetsync.core.errors import WorkbookError
from sheetsync.gui import app as gui_app
from sheetsync.gui.error_dialog import describe, error_box
from sheetsync.gui.settings_dialog import SettingsDialog
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID

from .conftest import open_and_wait, prompts


def edit_like_excel(path, cell: str, value: str) -> None:
    """Change a cell and save as Excel does: a new file renamed over the old one."""
    wb = openpyxl.load_workbook(path)
    wb["Contacts"][cell] = value
    tmp = path.with_name("~$tmp.xlsx")
    wb.save(tmp)
    os.replace(tmp, path)


def test_reloads_when_the_file_changes_on_disk_and_keeps_the_mapping(qtbot, make_window, workbook):
    window = make_window()
    open_and_wait(qtbot, window, workbook)
    window.mapping.set_target("Company", "contactMetadata", "company")
    edit_like_excel(workbook, "A2", "Janet")
    qtbot.waitUntil(lambda: window.model.data(window.model.index(0, 0)) == "Janet", timeout=10_000)
    assert window.mapping.target_for("Company").key == "company"
    assert str(workbook) in window.load.watcher.files()  # watched again after the replace
    edit_like_excel(workbook, "A2", "Janine")  # and a second time
    qtbot.waitUntil(lambda: window.model.data(window.model.index(0, 0)) == "Janine", timeout=10_000)


def test_sheet_picker_and_header_row(qtbot, make_window, workbook):
    window = make_window()
    open_and_wait(qtbot, window, workbook)
    assert [window.sheet.itemData(i) for i in range(window.sheet.count())] == ["Contacts", "About"]
    assert window.header_row.value() == 1
    with qtbot.waitSignal(window.load.loaded, timeout=10_000):
        window.header_row.setValue(2)  # the first contact's row becomes the header
    assert window.model.sheet.header_row == 2 and window.model.sheet.headers[0] == "Jane"
    with qtbot.waitSignal(window.load.loaded, timeout=10_000):
        window.load.choose_sheet("About")
    assert window.model.sheet.sheet == "About"


def test_mapping_export_and_import_use_the_command_line_files(qtbot, make_window, workbook, tmp_path):
    window = make_window()
    open_and_wait(qtbot, window, workbook)
    window.mapping.set_target("Plan Tier", "contactMetadata", "tier")
    target = tmp_path / "mapping.json"
    prompts(window).mapping_path = target
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(target.exists, timeout=5_000)
    data = json.loads(target.read_text())
    assert data["columns"]["E-mail Address"] == "email"
    assert data["columns"]["Plan Tier"] == "contactMetadata.tier"
    assert data["sheet"] == "Contacts" and data["headerRow"] == 1

    data["columns"]["Company"] = "contactMetadata.employer"
    data["action"] = "updateOnly"
    target.write_text(json.dumps(data))
    with qtbot.waitSignal(window.load.loaded, timeout=10_000):
        window.load.import_mapping()
    assert window.mapping.target_for("Company").key == "employer"
    assert window.campaign.action.currentData() == "updateOnly"


def test_remove_asks_for_confirmation_with_the_row_count(qtbot, make_window, workbook, sandbox):
    KeyStore(env={}).set(sandbox.base_url, DEMO_API_KEY)
    window = make_window(base_url=sandbox.base_url)
    open_and_wait(qtbot, window, workbook)
    window.campaign.campaign.setText(DEMO_CAMPAIGN_ID)
    window.campaign.action.setCurrentIndex(window.campaign.action.findData("remove"))
    fake = prompts(window)
    fake.confirm_answer = False
    window.start_sync()
    qtbot.waitUntil(lambda: bool(fake.named("confirm")) and not window.sync.busy, timeout=10_000)
    assert "removes 19 contact(s)" in fake.named("confirm")[0]
    assert sandbox.requests == []


class PaintCounter(QObject):
    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def test_a_sync_shows_its_progress_at_once_and_takes_it_back_if_nothing_is_sent(qtbot, make_window, workbook,
                                                                                 sandbox):
    """The progress panel is laid out and painted as Sync is clicked, before the worker
    starts checking (a window repainted later, under the busy worker, stalled); declined
    at the removal question, the panel goes and the summary is what it was."""
    KeyStore(env={}).set(sandbox.base_url, DEMO_API_KEY)
    window = make_window(base_url=sandbox.base_url)
    open_and_wait(qtbot, window, workbook)
    window.campaign.campaign.setText(DEMO_CAMPAIGN_ID)
    window.campaign.action.setCurrentIndex(window.campaign.action.findData("remove"))
    before = window.results.summary.text()
    table = window.preview.height()
    fake = prompts(window)
    fake.confirm_answer = False
    painted = PaintCounter(window.progress.bar)
    window.start_sync()
    # synchronously, as the click returns: shown, laid out (the table made room for the
    # panel), painted, and busy until the total is known
    assert window.progress.isVisible() and window.preview.height() < table and painted.count > 0
    assert window.progress.bar.maximum() == 0 and "Checking 20 rows" in window.progress.detail.text()
    assert window.results.summary.text() != before
    qtbot.waitUntil(lambda: bool(fake.named("confirm")) and not window.sync.busy, timeout=10_000)
    assert not window.progress.isVisible()
    assert window.results.summary.text() == before
    assert sandbox.requests == []


def test_campaign_id_is_checked_as_you_type(qtbot, make_window, workbook):
    window = make_window()
    open_and_wait(qtbot, window, workbook)
    panel = window.campaign
    qtbot.keyClicks(panel.campaign, "3f2b8c1e-4d5a")
    assert "Not a campaign ID" in panel.check.text() and not window.sync_button.isEnabled()
    panel.campaign.setText(DEMO_CAMPAIGN_ID)
    assert "Valid" in panel.check.text() and window.sync_button.isEnabled()


def test_settings_store_and_remove_the_key(qtbot, make_window, memory_keyring, sandbox):
    window = make_window(base_url=sandbox.base_url)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialog = window.findChild(SettingsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.key.echoMode() == dialog.key.EchoMode.Password
    qtbot.keyClicks(dialog.key, "secret-key-1")
    dialog.region.setText("gb")
    dialog.accept()
    account = (SERVICE, sandbox.base_url.rstrip("/").lower())
    assert memory_keyring.passwords[account] == "secret-key-1"
    assert window.store.settings.region == "GB"
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialog = [d for d in window.findChildren(SettingsDialog) if d.isVisible()][0]
    assert "stored in" in dialog.key_state.text()
    qtbot.mouseClick(dialog.remove, Qt.MouseButton.LeftButton)
    dialog.accept()
    assert account not in memory_keyring.passwords
    settings_file = window.paths.settings_file
    window.store.save_now()
    qtbot.waitUntil(settings_file.exists, timeout=5_000)
    assert "secret-key-1" not in settings_file.read_text()


def test_settings_refuses_a_bad_base_url(qtbot, make_window):
    window = make_window()
    dialog = SettingsDialog(window, window.store.settings, window.connection.keys.status("https://x"))
    qtbot.addWidget(dialog)
    dialog.base_url.setText("ftp://example.com")
    dialog.accept()
    assert dialog.problem.isVisibleTo(dialog) and "https" in dialog.problem.text()
    assert dialog.result() != dialog.DialogCode.Accepted


def test_a_broken_file_is_an_error_dialog_not_a_traceback(qtbot, make_window, tmp_path):
    bad = tmp_path / "broken.xlsx"
    bad.write_text("not a zip")
    window = make_window()
    window.open_path(bad)
    fake = prompts(window)
    qtbot.waitUntil(lambda: bool(fake.named("error")), timeout=10_000)
    error = fake.named("error")[0]
    assert isinstance(error, WorkbookError) and "not a valid Excel workbook" in str(error)
    assert window.stack.currentIndex() == 0


def test_error_dialog_folds_the_details(qtbot):
    box = error_box(None, WorkbookError("The file is damaged. Open it in Excel.", details="BadZipFile: x"))
    qtbot.addWidget(box)
    assert box.text() == "The file is damaged. Open it in Excel."
    assert box.detailedText() == "BadZipFile: x"
    try:
        raise ValueError("boom")
    except ValueError as exc:
        message, details = describe(exc)
    assert "Traceback" not in message and "Traceback" in details and "boom" in details


def test_crash_handler_logs_and_shows_a_dialog(qtbot, monkeypatch, caplog):
    shown = []
    monkeypatch.setattr(gui_app, "crash_box", lambda parent, exc, log_file: shown.append((exc, log_file)) or _NoExec())
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    gui_app.install_crash_handler(None)
    try:
        raise RuntimeError("unexpected")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert shown and isinstance(shown[0][0], RuntimeError)
    assert "uncaught exception" in caplog.text


class _NoExec:
    def exec(self) -> int:
        return 0


def test_about_names_the_log_file(qtbot, make_window):
    window = make_window()
    window.show_about()
    text = prompts(window).named("info")[0]
    assert str(window.paths.log_file) in text


def test_demo_window_uses_the_local_api_and_never_the_keyring(qtbot, make_window, workbook, sandbox, memory_keyring):
    window = make_window(demo_url=sandbox.base_url, demo_key=DEMO_API_KEY)
    gui_app.prefill_demo(window, DEMO_CAMPAIGN_ID)
    assert window.windowTitle().endswith("(demo)")
    open_and_wait(qtbot, window, workbook)
    assert window.sync_button.isEnabled()
    with qtbot.waitSignal(window.sync.saved, timeout=30_000):
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
    assert memory_keyring.passwords == {}
    assert prompts(window).named("ask_key") == []


def test_app_icon_is_never_empty(qapp):
    assert not gui_app.app_icon().isNull()
    assert QApplication.instance() is not None


@pytest.mark.slow
def test_selftest_passes(qtbot):
    from sheetsync.selftest import run_selftest

    assert run_selftest() == 0


def test_macos_open_with_event_opens_the_workbook(qtbot, make_window, workbook):
    """Finder's "Open With" sends a QFileOpenEvent to the application."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QFileOpenEvent

    from sheetsync.gui.app import FileOpenForwarder

    window = make_window()
    forwarder = FileOpenForwarder(window)
    app = QCoreApplication.instance()
    app.installEventFilter(forwarder)
    try:
        QCoreApplication.sendEvent(app, QFileOpenEvent(str(workbook)))
        qtbot.waitUntil(lambda: window.model.rowCount() == 20, timeout=10_000)
    finally:
        app.removeEventFilter(forwarder)
