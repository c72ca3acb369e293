"""Validate and sync workflow: check (dry run), send with progress, cancel, save the results
(off the GUI thread, with Retry / Save As when the workbook cannot be written), retry the
failed rows, and ask for the API key when there is none or the server refuses it."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sheetsync.core.contacts import Plan, RowPlan
from sheetsync.core.credentials import NO_KEYRING_HELP
from sheetsync.core.engine import JobOptions
from sheetsync.core.errors import JobConfigError, KeyRefused, SaveError, SheetSyncError
from sheetsync.core.job import FileStamp, LoadedSheet, ResultBook
from sheetsync.core.mapping import Mapping
from sheetsync.core.retry import rows_to_retry

from . import interaction
from .interaction import Prompts
from .jobs import check_rows, run_engine, save_book
from .state import Connection, SettingsStore
from .worker import TaskRunner

log = logging.getLogger("sheetsync.gui.sync")


class SyncController(QObject):
    checked = Signal(object)  # Plan, after Validate
    started = Signal(int)  # rows to send
    progressed = Signal(int, int)  # rows done, total
    finished = Signal(object)  # Summary, once the engine is done (before the save)
    saved = Signal(str)  # the workbook written
    save_failed = Signal(str)  # where the results were kept instead
    busy_changed = Signal(bool)
    cancelling = Signal()
    results_arrived = Signal(object)  # list[RowResult], for the preview, as they come

    def __init__(self, runner: TaskRunner, store: SettingsStore, connection: Connection, prompts: Prompts,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.store = store
        self.connection = connection
        self.prompts = prompts
        self.busy = False
        self.cancel_event: threading.Event | None = None
        self.plan: Plan | None = None
        self.options: JobOptions | None = None
        self.loaded: LoadedSheet | None = None
        self.book: ResultBook | None = None
        self.total = 0
        self.done = 0
        self.last_save: Path | None = None
        self.results_file: str | None = None

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busy_changed.emit(busy)

    # -- validate ------------------------------------------------------------------------
    def validate(self, loaded: LoadedSheet, mapping: Mapping) -> None:
        if self.busy:
            return
        self._set_busy(True)
        self.runner.start("check", check_rows, loaded.data, mapping, self._region(),
                          on_success=self._checked, on_failure=self._plan_failed)

    def _checked(self, plan: Plan) -> None:
        self._set_busy(False)
        self.checked.emit(plan)

    def _plan_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.prompts.error(exc, "The rows cannot be sent yet")

    # -- sync ------------------------------------------------------------------------------
    def sync(self, loaded: LoadedSheet, mapping: Mapping, options_of: object) -> None:
        """``options_of(concurrency)`` gives the checked JobOptions (CampaignPanel.options)."""
        if self.busy:
            return
        try:
            options = options_of(self.store.settings.concurrency)  # type: ignore[operator]
        except JobConfigError as exc:
            self.prompts.error(exc, "Check the campaign")
            return
        self._set_busy(True)
        self.runner.start("plan", check_rows, loaded.data, mapping, self._region(),
                          on_success=lambda plan: self._send(loaded, plan, options, None),
                          on_failure=self._plan_failed)

    def retry_failed(self) -> None:
        if self.busy or self.plan is None or self.book is None or self.options is None or self.loaded is None:
            return
        rows = rows_to_retry(self.plan, self.book.results)
        if not rows:
            self.prompts.info("Nothing to retry", "Every row that can be sent was accepted. Rows marked invalid need a fix in the workbook first.")
            return
        self._set_busy(True)
        self._send(self.loaded, self.plan, self.options, rows, book=self.book)

    def retry_rows(self) -> list[RowPlan]:
        if self.plan is None or self.book is None:
            return []
        return rows_to_retry(self.plan, self.book.results)

    def _send(self, loaded: LoadedSheet, plan: Plan, options: JobOptions, rows: list[RowPlan] | None,
              book: ResultBook | None = None) -> None:
        to_send = rows if rows is not None else plan.to_send
        if not to_send:
            self._set_busy(False)
            self.prompts.info("Nothing to send", "No row can be sent: every row is invalid. Validate to see why.")
            return
        if options.action == "remove" and not self.prompts.confirm(
            "Remove contacts?",
            f"This removes {len(to_send):,} contact(s) from campaign {options.campaign_id}. "
            "They stop receiving messages from it.",
            f"Remove {len(to_send):,} contacts",
        ):
            self._set_busy(False)
            return
        key = self._key_or_ask(
            "Sheet Sync needs your API key to send contacts. You find it in your Replify account settings."
        )
        if not key:
            self._set_busy(False)
            return
        self.loaded, self.plan, self.options = loaded, plan, options
        self.book = book if book is not None else ResultBook.for_plan(plan)
        self.total, self.done = len(to_send), 0
        self.cancel_event = threading.Event()
        self.store.settings.remember_campaign(options.campaign_id)
        self.store.changed()
        self.started.emit(self.total)
        if self.book.results:
            self.results_arrived.emit(list(self.book.results.values()))
        self.runner.start(
            "sync", run_engine, plan, options, self.connection.base_url, key, self.cancel_event, rows,
            on_yield=self._outcome, on_success=self._engine_done, on_failure=self._engine_failed,
        )

    def _outcome(self, outcome: object) -> None:
        assert self.book is not None
        self.book.add(outcome)  # type: ignore[arg-type]
        self.results_arrived.emit(outcome.results)  # type: ignore[attr-defined]
        if outcome.sent:  # type: ignore[attr-defined]
            self.done += len(outcome.results)  # type: ignore[attr-defined]
            self.progressed.emit(self.done, self.total)

    def cancel(self) -> None:
        if self.cancel_event is not None and not self.cancel_event.is_set():
            self.cancel_event.set()
            self.cancelling.emit()

    def _engine_failed(self, exc: BaseException) -> None:
        # Not a stop of the API (those end the run normally): a key with bad characters,
        # a bug. What came back is still written.
        self.prompts.error(exc, "The sync stopped")
        self._engine_done(None)

    def _engine_done(self, stop: SheetSyncError | None) -> None:
        assert self.book is not None
        summary = self.book.summary()
        self.finished.emit(summary)
        self._stop = stop
        self._save(None)

    # -- saving --------------------------------------------------------------------------------
    def _save(self, target: Path | None) -> None:
        assert self.loaded is not None and self.book is not None
        self.runner.start("save", save_book, self.loaded, self.book, target,
                          on_success=self._saved, on_failure=self._save_error)

    def _saved(self, result: tuple[Path, FileStamp]) -> None:
        path, stamp = result
        assert self.loaded is not None
        if path == self.loaded.data.path:
            # Our own write moved no row: the plan stays valid for "Retry failed rows".
            self.loaded = LoadedSheet(self.loaded.data, stamp)
        self.last_save = path
        self.results_file = None
        self.saved.emit(str(path))
        self._after_job()

    def _save_error(self, exc: BaseException) -> None:
        if not isinstance(exc, SaveError):
            self.prompts.error(exc, "The results could not be saved")
            self._after_job()
            return
        # A Save As refused before writing anything has no results file of its own: the
        # one from the first failure still holds everything.
        self.results_file = exc.results_path or self.results_file
        self.save_failed.emit(self.results_file or "")
        choice = self.prompts.save_failed(exc)
        if choice == interaction.RETRY:
            self._save(None)
            return
        if choice == interaction.SAVE_AS:
            assert self.loaded is not None
            source = self.loaded.data.path
            target = self.prompts.save_workbook_path(source.with_name(f"{source.stem} (synced){source.suffix}"))
            if target is not None:
                self._save(target)
                return
        self._after_job()

    def _after_job(self) -> None:
        stop, self._stop = getattr(self, "_stop", None), None
        self._set_busy(False)
        if isinstance(stop, KeyRefused):
            key = self.prompts.ask_key(
                self.connection.base_url,
                f"The server refused the API key, so the sync stopped ({stop}). Enter a valid key "
                "to send the remaining rows.",
                self.connection.storage_note(),
            )
            if key:
                self._keep_key(key)
                self.retry_failed()
        elif stop is not None:
            self.prompts.error(stop, "The sync stopped")

    # -- the key ---------------------------------------------------------------------------------
    def _key_or_ask(self, reason: str) -> str | None:
        key = self.connection.key()
        if key:
            return key
        key = self.prompts.ask_key(self.connection.base_url, reason, self.connection.storage_note())
        if not key:
            return None
        self._keep_key(key)
        return key

    def _keep_key(self, key: str) -> None:
        where = self.connection.set_key(key)
        settings = self.store.settings
        if where == "session" and not self.connection.demo and not settings.keyring_notice_shown:
            settings.keyring_notice_shown = True
            self.store.changed()
            self.prompts.info("API key kept for this session only", NO_KEYRING_HELP)

    def _region(self) -> str:
        return self.store.settings.region


def first_contact_json(plan: Plan) -> str:
    first = plan.to_send[:1]
    if not first:
        return "(no row would be sent)"
    contact = next(plan.contacts(first))
    return f"Row {first[0].number}:\n" + json.dumps(contact, indent=2, ensure_ascii=False, default=str)


def check_report(plan: Plan) -> str:
    lines = [
        f"{len(plan.to_send):,} contact(s) to send · {len(plan.invalid):,} invalid · "
        f"{len(plan.duplicates):,} duplicate(s) (sent in a separate request)",
        "",
    ]
    warnings = plan.sheet.warnings + plan.mapping.warnings
    if warnings:
        lines += ["Warnings:"] + [f"  • {w}" for w in warnings] + [""]
    if plan.invalid:
        lines.append("Invalid rows (highlighted in the preview; fix them in the workbook):")
        lines += [f"  Row {r.number}: {r.message}" for r in plan.invalid[:200]]
        if len(plan.invalid) > 200:
            lines.append(f"  ... and {len(plan.invalid) - 200:,} more")
        lines.append("")
    lines.append("The first contact that would be sent:")
    lines.append(first_contact_json(plan))
    return "\n".join(lines)

