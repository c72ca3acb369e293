"""The main window: layout, menus and shortcuts, and the wiring of the two controllers
(open/load in :mod:`.load_controller`, validate/sync in :mod:`.sync_controller`)."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QComboBox, QGroupBox, QHBoxLayout, QLabel, QMainWindow, QPlainTextEdit, QProgressBar, QPushButton,
    QSpinBox, QSplitter, QStackedWidget, QStyle, QTabWidget, QVBoxLayout, QWidget,
)

from sheetsync.core.export import problems_path
from sheetsync.core.missing import MissingReport
from sheetsync.core.mapping import Mapping
from sheetsync.core.paths import AppPaths
from sheetsync.core.results import Summary
from sheetsync.core.settings import Settings
from sheetsync.core.workbook import SUPPORTED_SUFFIXES

from .about import about_text
from .campaign_panel import CampaignPanel
from .interaction import Prompts
from .jobs import Checked, LoadResult, apply_results, export_problems
from .load_controller import LoadController
from .mapping_table import MappingTable
from .sheet_view import SheetView
from .preview_model import ProblemsFilter, SheetModel
from .progress_panel import ProgressPanel
from .results_panel import ResultsPanel
from .settings_dialog import SettingsDialog
from .state import Connection, SettingsStore
from .sync_controller import SyncController, check_report
from .worker import TaskRunner

APP_TITLE = "Sheet Sync"


class MainWindow(QMainWindow):
    def __init__(self, store: SettingsStore, connection: Connection, runner: TaskRunner, paths: AppPaths) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.store, self.connection, self.runner, self.paths = store, connection, runner, paths
        self.prompts = Prompts(self)
        self.load = LoadController(runner, store, self.prompts, paths, self)
        self.sync = SyncController(runner, store, connection, self.prompts, paths, self)
        self._closing = False
        self._was_waiting = False
        self._missing_report: MissingReport | None = None
        self._build()
        self._actions()
        self._wire()
        self._restore()
        self._update_title()
        self._update_enabled()

    def set_prompts(self, prompts: Prompts) -> None:
        """Replace the seam for questions (tests answer without modal dialogs)."""
        self.prompts = self.load.prompts = self.sync.prompts = prompts

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.setAcceptDrops(True)

        empty = QWidget()
        box = QVBoxLayout(empty)
        box.addStretch(2)
        logo = QLabel()
        logo.setPixmap(QApplication.windowIcon().pixmap(72, 72))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        box.addWidget(logo)
        self.empty_label = QLabel("<h2>Sync a contact list into a campaign</h2>"
                                  "<p>Open an Excel workbook (.xlsx), or drop it here.</p>")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton("Open workbook...")
        self.open_button.setObjectName("openButton")
        self.open_button.setToolTip("Open an Excel workbook (Ctrl+O)")
        self.open_button.setMinimumWidth(220)
        box.addWidget(self.empty_label)
        box.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignCenter)
        box.addStretch(3)
        self.stack.addWidget(empty)

        work = QWidget()
        page = QVBoxLayout(work)
        top = QHBoxLayout()
        self.file_label = QLabel()
        self.file_label.setObjectName("fileLabel")
        self.sheet = QComboBox()
        self.sheet.setObjectName("sheetPicker")
        self.sheet.setToolTip("The sheet with the contacts")
        self.header_row = QSpinBox()
        self.header_row.setObjectName("headerRow")
        self.header_row.setRange(1, 1_048_576)
        self.header_row.setToolTip("The row with the column names (detected: the first row that is not empty)")
        sheet_label = QLabel("&Sheet:")
        sheet_label.setBuddy(self.sheet)
        header_label = QLabel("&Header row:")
        header_label.setBuddy(self.header_row)
        top.addWidget(self.file_label, 1)
        top.addWidget(sheet_label)
        top.addWidget(self.sheet)
        top.addWidget(header_label)
        top.addWidget(self.header_row)
        page.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        side = QVBoxLayout(left)
        side.setContentsMargins(0, 0, 0, 0)
        map_box = QGroupBox("1. Columns")
        QVBoxLayout(map_box).addWidget(mapping_holder := QWidget())
        self.mapping = MappingTable()
        lay = QVBoxLayout(mapping_holder)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.mapping)
        camp_box = QGroupBox("2. Campaign")
        self.campaign = CampaignPanel()
        QVBoxLayout(camp_box).addWidget(self.campaign)
        buttons = QHBoxLayout()
        self.validate_button = QPushButton("Validate")
        self.validate_button.setObjectName("validateButton")
        self.validate_button.setToolTip("Check every row without sending anything (Ctrl+K)")
        self.sync_button = QPushButton("Sync")
        self.sync_button.setObjectName("syncButton")
        self.sync_button.setToolTip("Send the contacts to the campaign and write each row's result back (Ctrl+Enter)")
        self.sync_button.setDefault(True)
        buttons.addWidget(self.validate_button)
        buttons.addWidget(self.sync_button, 1)
        side.addWidget(map_box, 3)
        side.addWidget(camp_box, 0)
        side.addLayout(buttons)

        self.tabs = QTabWidget()
        self.model = SheetModel(self)
        # The filter sits between the model and the view only while "problems only" is on:
        # attached, it would walk all rows (in Python) on every reset of a 100,000-row sheet.
        self.proxy = ProblemsFilter(self)
        self.preview = SheetView()
        self.preview.setObjectName("preview")
        self.preview.setModel(self.model)
        self.preview.setAlternatingRowColors(True)
        self.preview.setWordWrap(False)
        self.preview.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.preview.horizontalHeader().setDefaultSectionSize(130)
        self.preview.setToolTip("")
        self.report = QPlainTextEdit()
        self.report.setObjectName("checkReport")
        self.report.setReadOnly(True)
        self.report.setPlaceholderText("Validate (Ctrl+K) checks every row and shows here what would be sent.")
        self.tabs.addTab(self.preview, "&Preview")
        self.tabs.addTab(self.report, "C&heck")
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([520, 760])
        page.addWidget(split, 1)

        self.progress = ProgressPanel()
        self.progress.setVisible(False)
        self._summary_before_sync: str | None = None
        self.results = ResultsPanel()
        page.addWidget(self.progress)
        page.addWidget(self.results)
        self.stack.addWidget(work)

        self.busy_label = QLabel()
        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("busyIndicator")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(160)
        self.busy_bar.setVisible(False)
        self.statusBar().addPermanentWidget(self.busy_label)
        self.statusBar().addPermanentWidget(self.busy_bar)

        # Tab order follows the workflow: sheet, header row, mapping, campaign, validate, sync, results.
        order = [self.sheet, self.header_row, self.mapping, self.campaign.recent, self.campaign.campaign,
                 self.campaign.label, self.campaign.action, self.campaign.more, self.campaign.ext_key,
                 self.campaign.ext_value, self.campaign.batch, self.campaign.send_all, self.campaign.remove_missing,
                 self.validate_button, self.sync_button, self.tabs, self.preview, self.results.problems_only,
                 self.results.retry, self.results.export_problems, self.results.open_excel]
        for first, second in zip(order, order[1:]):
            QWidget.setTabOrder(first, second)

    def _action(self, menu, text: str, shortcut: QKeySequence | str | None, slot, tip: str) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _actions(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.act_open = self._action(file, "&Open...", QKeySequence.StandardKey.Open, self.open_dialog, "Open an Excel workbook")
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.act_reload = self._action(file, "Re&load", QKeySequence.StandardKey.Refresh, self.load.reload, "Read the workbook again from disk")
        file.addSeparator()
        self.act_import = self._action(file, "&Import Mapping...", "Ctrl+I", self.load.import_mapping, "Use a mapping file (JSON), as the command line does")
        self.act_export = self._action(file, "&Export Mapping...", "Ctrl+Shift+E", lambda: self.load.export_mapping(self._mapping()), "Save the mapping to a file (JSON) for the command line or later")
        self.act_apply = self._action(file, "&Apply Results File...", None, self.apply_results_file, "Write a saved results file (from a save that failed) into its workbook")
        self.act_export_problems = self._action(file, "Export &Problems...", None, self.export_problems, "Write the rows with problems to a new workbook, to fix them there and sync it")
        self.act_excel = self._action(file, "Open in E&xcel", "Ctrl+Shift+O", self.open_in_excel, "Open the workbook in the default app for .xlsx files")
        file.addSeparator()
        self._action(file, "&Settings...", "Ctrl+,", self.open_settings, "API address, phone region, API key")
        self._action(file, "&Quit", QKeySequence.StandardKey.Quit, self.close, "Close Sheet Sync")
        sync = bar.addMenu("&Sync")
        self.act_validate = self._action(sync, "&Validate", "Ctrl+K", self.validate, "Check every row without sending anything")
        self.act_sync = self._action(sync, "&Sync", "Ctrl+Return", self.start_sync, "Send the contacts and write the results back")
        self.act_cancel = self._action(sync, "&Cancel", "Esc", self.sync.cancel, "Stop after the batches already sent")
        self.act_retry = self._action(sync, "&Retry Failed Rows", "Ctrl+R", self.sync.retry_failed, "Send again the rows that failed or were not sent")
        self.act_problems = self._action(sync, "Show &Problems Only", "Ctrl+E", lambda: self.results.problems_only.toggle(), "Show only rows that need attention")
        help_ = bar.addMenu("&Help")
        self._action(help_, "&About Sheet Sync", QKeySequence.StandardKey.HelpContents, self.show_about, "Version, log file")

    def _wire(self) -> None:
        self.open_button.clicked.connect(self.open_dialog)
        self.sheet.activated.connect(lambda _i: self.load.choose_sheet(self.sheet.currentData()))
        self._header_timer = QTimer(self)
        self._header_timer.setSingleShot(True)
        self._header_timer.setInterval(600)
        self._header_timer.timeout.connect(lambda: self.load.choose_header_row(self.header_row.value()))
        self.header_row.valueChanged.connect(lambda _v: self._header_timer.start())
        self.mapping.changed.connect(self._mapping_changed)
        self.campaign.changed.connect(self._update_enabled)
        self.validate_button.clicked.connect(self.validate)
        self.sync_button.clicked.connect(self.start_sync)
        self.progress.cancel_requested.connect(self.sync.cancel)
        self.results.problems_only.toggled.connect(self._problems_only)
        self.results.retry.clicked.connect(self.sync.retry_failed)
        self.results.open_excel.clicked.connect(self.open_in_excel)
        self.results.export_problems.clicked.connect(self.export_problems)
        self.campaign.set_recent(self.store.settings.recent_campaigns)

        self.load.loading.connect(self._loading)
        self.load.loaded.connect(self._loaded)
        self.load.load_failed.connect(lambda _e: self._busy(None))
        self.load.mapping_imported.connect(self._apply_job_settings)
        self.sync.checked.connect(self._checked)
        self.sync.preparing.connect(self._sync_preparing)
        self.sync.started.connect(self._sync_started)
        self.sync.results_arrived.connect(self.model.add_results)
        self.sync.progressed.connect(lambda done, _t: self.progress.advance(done - self.progress.rows))
        self.sync.cancelling.connect(self.progress.cancelling)
        self.sync.finished.connect(self._sync_finished)
        self.sync.saved.connect(self._saved)
        self.sync.save_failed.connect(self._save_failed)
        self.sync.busy_changed.connect(self._sync_busy)
        self.sync.resume_settings.connect(self._resume_settings)
        self.sync.restart_chosen.connect(lambda: self._status(
            "The next sync starts over: every row is sent again, the interrupted sync is forgotten."))
        self.sync.missing_removed.connect(self._missing_removed)
        self.sync.waiting.connect(self._waiting)
        self.runner.busy_changed.connect(self._runner_idle)

    # -- workflow --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        folder = str(Path(self.store.settings.recent_files[0]).parent) if self.store.settings.recent_files else ""
        path = self.prompts.open_workbook_path(folder)
        if path is not None:
            self.load.open(path)

    def open_path(self, path: Path) -> None:
        self.load.open(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for text in self.store.settings.recent_files:
            self.recent_menu.addAction(Path(text).name, lambda t=text: self.load.open(Path(t))).setToolTip(text)
        if not self.store.settings.recent_files:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _loading(self, name: str) -> None:
        self._busy(f"Reading {name}...")
        if self.load.current is None:
            self.empty_label.setText(f"<h2>Reading {name}...</h2>")

    def _loaded(self, result: LoadResult) -> None:
        first_time = self.model.sheet is None or self.model.sheet.path != result.path
        data = result.loaded.data
        self._busy(None)
        self.stack.setCurrentIndex(1)
        self.sheet.clear()
        for info in result.sheets:
            if info.is_worksheet:
                self.sheet.addItem(info.name if info.visible else f"{info.name} (hidden)", info.name)
        self.sheet.setCurrentIndex(max(0, self.sheet.findData(data.sheet)))
        self.header_row.blockSignals(True)
        self.header_row.setValue(data.header_row)
        self.header_row.blockSignals(False)
        self.model.set_sheet(data)
        self.proxy.refresh()
        self.mapping.set_columns(data, result.resolved)
        self.file_label.setText(f"<b>{result.path.name}</b> · {len(data.rows):,} rows")
        self.file_label.setToolTip(str(result.path))
        if first_time:
            self._apply_job_settings(result.mapping)
            self.campaign.set_missing(0)
            if self.sync.waiting_for is not None and self.sync.waiting_for != result.path:
                self.sync.stop_waiting()
        self._fit_columns()
        warnings = result.warnings + data.warnings
        if warnings:
            self.results.show_text(" ".join(warnings))
        elif first_time and result.profile_used:
            self.results.show_text("Mapped with the profile saved for these headers. Check the campaign, then Validate or Sync.")
        elif first_time:
            self.results.show_text("Check the columns and the campaign, then Validate or Sync.")
        if result.profile_used:
            self._status("Mapped with the profile saved for these headers.")
        self._update_title()
        self._update_enabled()
        if first_time and result.journal is not None:
            self.sync.offer_resume(result.loaded, self._mapping(), self.campaign.options)

    def _fit_columns(self) -> None:
        """Each column as wide as its header and first rows need (60 to 260 px).

        Measured here from the texts, not with resizeColumnsToContents(): that asks the
        model for every role of every sampled cell, thousands of calls into Python while
        the window waits, right as a 100,000-row sheet appears.
        """
        header = self.preview.horizontalHeader()
        metrics = self.preview.fontMetrics()
        padding = 2 * self.preview.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 16
        for column, texts in enumerate(self.model.column_texts(rows=25)):
            width = max(metrics.horizontalAdvance(text) for text in texts) + padding
            header.resizeSection(column, min(max(width, 60), 260))

    def _apply_job_settings(self, mapping: Mapping) -> None:
        self.campaign.set_action(mapping.action)
        if mapping.external_id_key:
            self.campaign.ext_key.setText(mapping.external_id_key)
            self.campaign.ext_value.setText(mapping.external_id_value or "")

    def _mapping(self) -> Mapping:
        base = Mapping(action=self.campaign.action.currentData(),
                       external_id_key=self.campaign.ext_key.text().strip() or None,
                       external_id_value=self.campaign.ext_value.text().strip() or None)
        return self.mapping.mapping(base)

    def _mapping_changed(self) -> None:
        self.load.remember_mapping(self._mapping())
        self.model.set_checks({})

    def validate(self) -> None:
        if self.load.current is not None and self.act_validate.isEnabled():
            campaign = self.campaign.campaign.text().strip() if self.campaign.campaign_ok() else None
            self.sync.validate(self.load.current.loaded, self._mapping(), campaign, self.campaign.action.currentData())

    def _checked(self, checked: Checked) -> None:
        plan = checked.plan
        self.model.set_checks({r.number: r.message for r in plan.invalid})
        self.proxy.refresh()
        self.report.setPlainText(check_report(plan, checked))
        self.tabs.setCurrentWidget(self.report)
        self.campaign.set_missing(len(checked.missing))
        unchanged = (f" ({checked.unchanged:,} of them unchanged since their last sync: not sent unless "
                     "\"Send all rows\")") if checked.unchanged else ""
        gone = f" · {len(checked.missing):,} no longer in the sheet" if checked.missing else ""
        self.results.show_text(
            f"<b>Validated:</b> {len(plan.to_send):,} to send{unchanged} · {len(plan.invalid):,} invalid · "
            f"{len(plan.duplicates):,} duplicates{gone}. Nothing was sent."
        )

    def start_sync(self) -> None:
        if self.load.current is not None and self.act_sync.isEnabled():
            self.load.remember_mapping(self._mapping())
            remove = self.campaign.remove_missing.isVisible() and self.campaign.remove_missing.isChecked()
            self.sync.sync(self.load.current.loaded, self._mapping(), self.campaign.options,
                           send_all=self.campaign.send_all.isChecked(), remove_missing=remove)

    def _resume_settings(self, campaign_id: str, action: str) -> None:
        """Resuming an interrupted sync: it goes on with its own campaign and action."""
        self.campaign.campaign.setText(campaign_id)
        self.campaign.set_action(action)

    def _missing_removed(self, report: MissingReport) -> None:
        self._missing_report = report

    def _waiting(self, text: str) -> None:
        if text:
            self._was_waiting = True
            name = self.sync.waiting_for.name if self.sync.waiting_for else "the workbook"
            self._status(f"Waiting for {name} to be closed, to write the results into it...", 0)
            self.results.show_text(f"{self.results.summary.text()}<br>{html.escape(text)}")
        else:
            self.statusBar().clearMessage()

    def _status(self, text: str, timeout_ms: int = 15_000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def _sync_preparing(self, rows: int) -> None:
        """The sync's look, painted now, before the worker starts checking and sending.

        The progress panel's arrival changes the window's layout, so the whole window
        repaints. Every widget's paint calls into Python and waits for the GIL while the
        worker runs, so that repaint, left to the event loop, came as the worker started
        and stalled the window 60-80 ms; the worker is idle now.
        """
        self.tabs.setCurrentWidget(self.preview)
        self.model.show_status_columns()
        self.progress.prepare(f"Checking {rows:,} rows...")
        if self._summary_before_sync is None:
            self._summary_before_sync = self.results.summary.text()  # back if nothing starts
        self.results.show_text(f"Checking {rows:,} rows before sending...")
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)  # sizes settled first
        self.repaint()  # then painted at once, not on a later turn of the event loop

    def _sync_started(self, total: int) -> None:
        self._summary_before_sync = None
        self._missing_report = None
        self.campaign.set_missing(0)
        self.model.begin_results()
        self.tabs.setCurrentWidget(self.preview)
        self.progress.start(total)
        self.results.show_text(f"Sending {total:,} contacts...")

    def _sync_finished(self, _summary: Summary) -> None:
        # The summary shows once the results are saved: a two-line label now would resize
        # the table, and repainting it while the worker writes the workbook stalls the window.
        self.progress.saving()
        self.results.show_text("Writing the results into the workbook...")

    def _saved(self, path: str) -> None:
        self.progress.finish()
        self.proxy.refresh()
        summary = self.sync.book_summary()
        self.results.show_summary(summary, f"Results written into {Path(path).name}.")
        self._show_missing_report()
        self.results.retry.setEnabled(bool(self.sync.retry_rows()))
        self.results.export_problems.setVisible(summary.problems > 0)
        self.campaign.set_recent(self.store.settings.recent_campaigns)
        if self._was_waiting:
            self._status(f"{Path(path).name} was closed: the results are written into it now.", 0)
        self._was_waiting = False

    def _show_missing_report(self) -> None:
        report = getattr(self, "_missing_report", None)
        if report is not None and report.total:
            self.results.add_lines(f"{report.total:,} contact(s) no longer in the sheet: {report.summary_line()}:",
                                   report.lines())

    def _save_failed(self, results_file: str) -> None:
        self.progress.finish()
        self.proxy.refresh()
        self.results.show_summary(self.sync.book_summary(),
                                  f"Not written into the workbook yet; the results are kept in {results_file}.")
        self._show_missing_report()
        self.results.retry.setEnabled(bool(self.sync.retry_rows()))

    def _sync_busy(self, busy: bool) -> None:
        if not busy:
            self.progress.finish()  # saved, or stopped before it started (asked, cancelled, refused)
            if self._summary_before_sync is not None:  # nothing was sent: the summary is still true
                self.results.show_text(self._summary_before_sync)
                self._summary_before_sync = None
        self.load.hold_reloads(busy)
        self._update_enabled()
        if not busy and self.sync.last_save is not None and self.load.current is not None \
                and self.sync.last_save == self.load.current.path:
            self.load.reload()  # show the status columns as written

    def _runner_idle(self, busy: bool) -> None:
        if not busy and self._closing:
            self.close()

    def _problems_only(self, on: bool) -> None:
        if on:
            self.proxy.setSourceModel(self.model)
            self.proxy.set_enabled(True)
            self.preview.setModel(self.proxy)
        else:
            self.preview.setModel(self.model)
            self.proxy.set_enabled(False)
            self.proxy.setSourceModel(None)

    # -- results files, problems --------------------------------------------------------------------
    def apply_results_file(self) -> None:
        current = self.load.current
        folder = str(current.path.parent) if current else ""
        source = self.prompts.open_results_path(folder)
        if source is None:
            return
        workbook = current.path if current and source.name.startswith(current.path.name) else None
        self._busy(f"Applying {source.name}...")
        self.runner.start("apply", apply_results, source, workbook, self.paths,
                          on_success=self._results_applied, on_failure=self._apply_failed)

    def _results_applied(self, result: tuple[Path, Summary]) -> None:
        target, summary = result
        self._busy(None)
        self.results.show_summary(summary, f"Results written into {target.name}.")
        if self.load.current is not None and self.load.current.path == target:
            self.load.reload()
        else:
            self.load.open(target)

    def _apply_failed(self, exc: BaseException) -> None:
        self._busy(None)
        self.prompts.error(exc, "The results file could not be applied")

    def export_problems(self) -> None:
        current = self.load.current
        if current is None:
            return
        out = self.prompts.save_problems_path(problems_path(current.path))
        if out is None:
            return
        data = current.loaded.data
        self._busy(f"Writing {out.name}...")
        self.runner.start("export-problems", export_problems, current.path, data.sheet, data.header_row, out,
                          on_success=self._problems_exported, on_failure=self._apply_failed)

    def _problems_exported(self, result: tuple[Path, int]) -> None:
        out, count = result
        self._busy(None)
        self._status(f"{count:,} row(s) with problems written to {out.name}.")
        if self.prompts.confirm(
            "Problems exported",
            f"{count:,} row(s) with problems, and why, are in {out}. Fix them there and sync that workbook: "
            "the same contacts are updated. Open it in Sheet Sync now?",
            "Open it",
        ):
            self.load.open(out)

    def open_in_excel(self) -> None:
        if self.load.current is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.load.current.path)))

    def open_settings(self) -> None:
        settings = self.store.settings
        dialog = SettingsDialog(self, settings, self.connection.keys.status(settings.base_url), demo=self.connection.demo)
        dialog.accepted.connect(lambda: self._apply_settings(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self._settings_dialog = dialog

    def _apply_settings(self, dialog: SettingsDialog) -> None:
        choice = dialog.choice()
        settings = self.store.settings
        if choice.remove_key:
            self.connection.keys.clear(settings.base_url)
        settings.base_url, settings.region, settings.concurrency = choice.base_url, choice.region, choice.concurrency
        self.store.changed()
        if choice.new_key and not self.connection.demo:
            self.sync._keep_key(choice.new_key)

    def show_about(self) -> None:
        self.prompts.info("About Sheet Sync", about_text(self.paths))

    # -- state -------------------------------------------------------------------------------------
    def _busy(self, text: str | None) -> None:
        self.busy_label.setText(text or "")
        self.busy_bar.setVisible(bool(text))
        self._update_enabled()

    def _update_title(self) -> None:
        demo = " (demo)" if self.connection.demo else ""
        name = self.load.current.path.name if self.load.current else None
        self.setWindowTitle(f"{name} — {APP_TITLE}{demo}" if name else f"{APP_TITLE}{demo}")

    def _update_enabled(self) -> None:
        have = self.load.current is not None
        syncing = self.sync.busy
        loading = self.load.loading_now
        ready = have and not syncing and not loading
        for widget in (self.sheet, self.header_row, self.mapping, self.campaign):
            widget.setEnabled(ready)
        self.act_open.setEnabled(not syncing)
        self.open_button.setEnabled(not syncing)
        for action in (self.act_reload, self.act_import, self.act_export):
            action.setEnabled(ready)
        self.act_validate.setEnabled(ready)
        self.validate_button.setEnabled(ready)
        can_sync = ready and self.campaign.campaign_ok()
        self.act_sync.setEnabled(can_sync)
        self.sync_button.setEnabled(can_sync)
        self.act_cancel.setEnabled(syncing)
        retry = ready and bool(self.sync.retry_rows())
        self.act_retry.setEnabled(retry)
        self.results.retry.setEnabled(retry)
        self.act_excel.setEnabled(have)
        self.act_apply.setEnabled(not syncing and not loading)
        self.act_export_problems.setEnabled(ready)
        self.results.open_excel.setEnabled(have)

    def _restore(self) -> None:
        geometry = self.store.settings.window_geometry
        if not geometry or not self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii"))):
            self.resize(1240, 760)

    # -- drag and drop, close ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).suffix.lower() in SUPPORTED_SUFFIXES:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.load.open(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.runner.busy:
            if self.sync.busy and not self._closing and not self.prompts.confirm(
                "A sync is running",
                "Stop the sync after the batches already sent, write their results into the "
                "workbook, and close?", "Stop and close",
            ):
                event.ignore()
                return
            self._closing = True
            self.sync.cancel()
            self.busy_label.setText("Finishing: writing the results before closing...")
            event.ignore()  # closes when the last task is done (_runner_idle)
            return
        self.store.settings.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        self.store.changed()
        self.store.flush()
        self.runner.wait_all()
        event.accept()


def default_settings(paths: AppPaths) -> Settings:
    return Settings.load(paths.settings_file)
