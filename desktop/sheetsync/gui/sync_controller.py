"""Validate and sync workflow: check (dry run), send with progress, cancel, save the results
(off the GUI thread, with Retry / Save As / Save when the file is closed / Reload and apply
when the workbook cannot be written), resume an interrupted sync from its journal, retry
the failed rows, remove the contacts gone from the sheet (opt-in), and ask for the API key
when there is none or the server refuses it. The order of the core calls is the CLI's
``run_sync``; the calls themselves run in :mod:`.jobs`, off the GUI thread."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from sheetsync.core.contacts import Plan, RowPlan, SendCounts
from sheetsync.core.credentials import NO_KEYRING_HELP
from sheetsync.core.engine import BatchOutcome, JobOptions
from sheetsync.core.errors import JobConfigError, KeyRefused, SheetSyncError
from sheetsync.core.job import FileStamp, LoadedSheet, ResultBook
from sheetsync.core.journal import JobJournal
from sheetsync.core.mapping import Mapping
from sheetsync.core.paths import AppPaths
from sheetsync.core.results import Summary
from sheetsync.core.resume import Resumed
from sheetsync.core.writeahead import WriteAhead
from sheetsync.core.retry import rows_to_retry

from . import interaction
from .interaction import Prompts
from .jobs import (
    Checked, JobEnd, Preflight, Reapplied, SaveFailure, Started, preflight, reload_and_save, run_job, save_blocker,
    save_book, validate_rows,
)
from .state import Connection, SettingsStore
from .worker import TaskRunner

log = logging.getLogger("sheetsync.gui.sync")

RESUME, RESTART = "resume", "restart"
WAIT_POLL_MS = 1500  # "Save when the file is closed": look again this often (and on folder changes)


UI_REFRESH_MS = 100


class SyncController(QObject):
    checked = Signal(object)  # Checked, after Validate
    preparing = Signal(int)  # rows about to be checked, before the worker starts on them
    started = Signal(int)  # rows to send
    progressed = Signal(int, int)  # rows done, total
    finished = Signal(object)  # Summary, once the engine is done (before the save)
    saved = Signal(str)  # the workbook written
    save_failed = Signal(str)  # where the results were kept instead
    busy_changed = Signal(bool)
    cancelling = Signal()
    results_arrived = Signal(object)  # list[RowResult], for the preview, as they come
    resume_settings = Signal(str, str)  # campaign ID, action of the interrupted sync being resumed
    restart_chosen = Signal()  # "Start over": the next sync forgets the interrupted one
    missing_removed = Signal(object)  # MissingReport
    waiting = Signal(str)  # "Save when the file is closed": why it waits (empty: no longer)
    reapplied = Signal(object)  # Reapplied: the workbook was read again and the results tied to its rows

    def __init__(self, runner: TaskRunner, store: SettingsStore, connection: Connection, prompts: Prompts,
                 paths: AppPaths | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.store = store
        self.connection = connection
        self.prompts = prompts
        self.paths = paths or AppPaths.default()
        self.busy = False
        self.cancel_event: threading.Event | None = None
        self.plan: Plan | None = None
        self.options: JobOptions | None = None
        self.loaded: LoadedSheet | None = None
        self.mapping: Mapping | None = None
        self.book: ResultBook | None = None
        self.summary: Summary | None = None  # of ``book``, counted by the job
        self._retry_memo: tuple[Plan, ResultBook, int, list[RowPlan]] | None = None
        self.journal: JobJournal | None = None
        self._running_book: ResultBook | None = None  # the running job's book (the worker's until it ends)
        self._ahead: WriteAhead | None = None  # the running job's copy of the workbook (core.writeahead)
        self.total = 0
        self.done = 0
        self.last_save: Path | None = None
        self.results_file: str | None = None
        self._stop: SheetSyncError | None = None
        self._decisions: dict[Path, str] = {}  # workbook -> RESUME / RESTART, chosen on open
        self._wait_target: Path | None = None
        self._wait_checking = False
        self._wait_watcher: QFileSystemWatcher | None = None
        self._wait_timer = QTimer(self)
        self._wait_timer.setInterval(WAIT_POLL_MS)
        self._wait_timer.timeout.connect(self._check_closed)
        # Results and progress reach the widgets at most every UI_REFRESH_MS: a repaint per
        # batch (a thousand batches for 100,000 rows) would starve the event loop.
        self._pending: list = []
        self._pending_rows = 0
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(UI_REFRESH_MS)
        self._refresh.timeout.connect(self._flush)

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busy_changed.emit(busy)

    def _labels(self) -> dict[str, str]:
        return self.store.settings.campaign_labels()

    # -- validate ------------------------------------------------------------------------
    def validate(self, loaded: LoadedSheet, mapping: Mapping, campaign: str | None = None, action: str = "upsert") -> None:
        """Check every row; with a valid campaign, also count the unchanged rows and the
        contacts no longer in the sheet."""
        if self.busy:
            return
        self._set_busy(True)
        self.runner.start("check", validate_rows, loaded.data, mapping, self._region(), self._labels(),
                          campaign, action, self.paths, on_success=self._checked, on_failure=self._plan_failed)

    def _checked(self, checked: Checked) -> None:
        self._set_busy(False)
        self.checked.emit(checked)

    def _plan_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.prompts.error(exc, "The rows cannot be sent yet")

    # -- an interrupted sync, found when the workbook opens ---------------------------------
    def offer_resume(self, loaded: LoadedSheet, mapping: Mapping, options_of: object) -> None:
        """Tell what the interrupted sync left, and offer Resume or Start over."""
        if self.busy:
            return
        self._set_busy(True)
        self.runner.start("plan", preflight, loaded, mapping, self._region(), self._labels(), None, self.paths,
                          on_success=lambda pf: self._resume_offered(loaded, mapping, options_of, pf),
                          on_failure=self._plan_failed)

    def _resume_offered(self, loaded: LoadedSheet, mapping: Mapping, options_of: object, pf: Preflight) -> None:
        self._set_busy(False)
        if pf.resumed is None:
            return
        choice = self._ask_resume(pf.resumed)
        if choice == RESTART:
            self._decisions[loaded.data.path] = RESTART
            self.restart_chosen.emit()
        elif choice == RESUME:
            header = pf.resumed.state.header
            self.resume_settings.emit(header.campaign_id, header.action)
            self._decisions[loaded.data.path] = RESUME
            self.sync(loaded, mapping, options_of)

    def _ask_resume(self, resumed: Resumed) -> str | None:
        if resumed.in_flight:
            after = ("Resume writes the results already received into the workbook and sends the rest "
                     "(you are asked before the rows whose outcome is unknown are sent again)."
                     if resumed.can_resend_in_flight else
                     "Resume writes the results already received into the workbook and sends the rows never "
                     "sent; the rows whose outcome is unknown are marked error, not removed again blindly.")
        else:
            after = "Resume writes the results already received into the workbook and sends the rows never sent."
        return self.prompts.choose(
            "resume", "An interrupted sync",
            f"{resumed.describe()}\n\n{after} Start over forgets which rows were already sent and sends them all again.",
            [(RESUME, "Resume"), (RESTART, "Start over")],
        )

    # -- sync ------------------------------------------------------------------------------
    def sync(self, loaded: LoadedSheet, mapping: Mapping, options_of: object, *, send_all: bool = False,
             remove_missing: bool = False) -> None:
        """``options_of(concurrency)`` gives the checked JobOptions (CampaignPanel.options)."""
        if self.busy:
            return
        try:
            options = options_of(self.store.settings.concurrency)  # type: ignore[operator]
        except JobConfigError as exc:
            self.prompts.error(exc, "Check the campaign")
            return
        self.stop_waiting()
        self._set_busy(True)
        self.preparing.emit(len(loaded.data.rows))
        self.runner.start(
            "plan", preflight, loaded, mapping, self._region(), self._labels(), options.campaign_id, self.paths,
            on_success=lambda pf: self._preflighted(loaded, mapping, options_of, options, pf, send_all, remove_missing),
            on_failure=self._plan_failed,
        )

    def _preflighted(self, loaded: LoadedSheet, mapping: Mapping, options_of: object, options: JobOptions,
                     pf: Preflight, send_all: bool, remove_missing: bool) -> None:
        path = loaded.data.path
        if pf.lock is not None and not self.prompts.confirm(
            "The workbook is open", f"{pf.lock.describe(path)}\n\nIf it is not open (a lock file left by a crash), "
            "sync anyway.", "Sync anyway",
        ):
            self._set_busy(False)
            return
        restart, resend = False, True
        sending = pf.sending
        if pf.resumed is not None:
            choice = self._decisions.pop(path, None) or self._ask_resume(pf.resumed)
            if choice is None:
                self._set_busy(False)
                return
            restart = choice == RESTART
            if not restart:
                header = pf.resumed.state.header
                if (header.campaign_id, header.action) != (options.campaign_id, options.action):
                    self.resume_settings.emit(header.campaign_id, header.action)
                    options = replace(options, campaign_id=header.campaign_id, action=header.action)
                resumed = pf.resumed
                if resumed.in_flight and resumed.can_resend_in_flight:
                    resend = self.prompts.confirm(
                        "Send them again?",
                        f"{len(resumed.in_flight):,} row(s) were being sent, or about to be, when the sync stopped: whether the "
                        "server processed them is unknown. Send them again? Adding or updating the same contact "
                        "twice is harmless. If you do not, they are marked error.",
                        "Send them again",
                    )
                sending = SendCounts.of(
                    resumed.never_sent + (resumed.in_flight if resend and resumed.can_resend_in_flight else []))
        if not self._confirm_removals(sending, options):
            self._set_busy(False)
            return
        gone = pf.missing if remove_missing else 0
        if gone and not self.prompts.confirm(
            "Remove contacts no longer in the sheet?",
            f"This also removes {gone:,} contact(s) that were synced from this sheet before and whose rows "
            f"are gone from campaign {options.campaign_id}.",
            f"Remove {gone:,} contacts",
        ):
            self._set_busy(False)
            return
        if not sending.rows and pf.resumed is None and not gone:
            self._set_busy(False)
            self.prompts.info("Nothing to send", "No row can be sent: every row is invalid. Validate to see why.")
            return
        self.mapping = mapping
        self._start_job(loaded, pf.plan, options, restart=restart, resend=resend, send_all=send_all,
                        remove_gone=bool(gone))

    def _confirm_removals(self, sending: SendCounts, options: JobOptions) -> bool:
        removals = sending.removals(options.action)
        if not removals:
            return True
        where = "their campaigns" if sending.own_campaign else f"campaign {options.campaign_id}"
        return self.prompts.confirm(
            "Remove contacts?",
            f"This removes {removals:,} contact(s) from {where}. They stop receiving messages from it. "
            "Removals are sent last, after every other row.",
            f"Remove {removals:,} contacts",
        )

    def retry_failed(self) -> None:
        if self.busy or self.plan is None or self.book is None or self.options is None or self.loaded is None:
            return
        rows = self.retry_rows()
        if not rows:
            self.prompts.info("Nothing to retry", "Every row that can be sent was accepted. Rows marked invalid need a fix in the workbook first.")
            return
        if not self._confirm_removals(SendCounts.of(rows), self.options):
            return
        self.stop_waiting()
        self._set_busy(True)
        self.preparing.emit(len(rows))
        self._start_job(self.loaded, self.plan, self.options, rows=rows, previous=dict(self.book.results),
                        restart=True, send_all=True)

    def book_summary(self) -> Summary:
        assert self.book is not None
        if self.summary is None:
            self.summary = self.book.summary()
        return self.summary

    def retry_rows(self) -> list[RowPlan]:
        """Rows "Retry failed rows" sends: the job's list, else worked out once per book."""
        if self.plan is None or self.book is None:
            return []
        memo = self._retry_memo
        if memo is None or memo[0] is not self.plan or memo[1] is not self.book or memo[2] != len(self.book.results):
            memo = self._retry_memo = (self.plan, self.book, len(self.book.results),
                                       rows_to_retry(self.plan, self.book.results))
        return memo[3]

    def _start_job(self, loaded: LoadedSheet, plan: Plan, options: JobOptions, *, rows: list[RowPlan] | None = None,
                   previous: dict | None = None, restart: bool = False, resend: bool = True, send_all: bool = False,
                   remove_gone: bool = False) -> None:
        key = self._key_or_ask(
            "Sheet Sync needs your API key to send contacts. You find it in your Replify account settings."
        )
        if not key:
            self._set_busy(False)
            return
        self.loaded, self.plan, self.options = loaded, plan, options
        self.book, self.journal, self.summary = None, None, None
        self.total, self.done = 0, 0
        self.cancel_event = threading.Event()
        self.store.settings.remember_campaign(options.campaign_id)
        self.store.changed()
        self.runner.start(
            "sync", run_job, loaded, plan, options, self.connection.base_url, key, self.cancel_event,
            paths=self.paths, restart=restart, resend_in_flight=resend, send_all=send_all, rows=rows,
            previous=previous, remove_gone=remove_gone,
            on_yield=self._outcome, on_success=self._engine_done, on_failure=self._engine_failed,
        )

    def _outcome(self, item: object) -> None:
        if isinstance(item, Started):
            self._running_book, self.journal = item.book, item.journal
            self._ahead = item.run.write_ahead
            self.total = item.total
            self.started.emit(item.total)
            if item.initial:
                self.results_arrived.emit(item.initial)
            return
        assert isinstance(item, BatchOutcome)
        self._pending.extend(item.results)
        if item.sent:
            self._pending_rows += len(item.results)
        if not self._refresh.isActive():
            self._refresh.start()

    def _flush(self) -> None:
        """Hand the results and progress gathered since the last refresh to the widgets."""
        self._refresh.stop()
        if self._pending:
            results, self._pending = self._pending, []
            self.results_arrived.emit(results)
        if self._pending_rows:
            self.done += self._pending_rows
            self._pending_rows = 0
            self.progressed.emit(self.done, self.total)

    def cancel(self) -> None:
        if self.cancel_event is not None and not self.cancel_event.is_set():
            self.cancel_event.set()
            self.cancelling.emit()

    def _engine_failed(self, exc: BaseException) -> None:
        self._flush()
        # Not a stop of the API (those end the run normally): a key with bad characters,
        # a pending journal of another job, a bug. What came back is still written.
        self.prompts.error(exc, "The sync stopped")
        book, self._running_book = self._running_book, None
        if book is None:  # nothing was started
            self._set_busy(False)
            return
        self.book = book
        self.summary = book.summary()
        self._stop = None
        self.finished.emit(self.summary)
        self._save(None)

    def _engine_done(self, end: JobEnd) -> None:
        self._flush()
        self._running_book = None
        self.book = end.run.book
        self.summary = end.summary or self.book.summary()
        if end.retry is not None and self.plan is not None:
            self._retry_memo = (self.plan, self.book, len(self.book.results), end.retry)
        self._stop = end.stop
        if end.missing is not None and end.missing.total:
            self.missing_removed.emit(end.missing)
        self.finished.emit(self.summary)
        self._save(None)

    # -- saving --------------------------------------------------------------------------------
    def _save(self, target: Path | None) -> None:
        assert self.loaded is not None and self.book is not None
        ahead, self._ahead = self._ahead, None  # the first save takes the copy, or drops it
        self.runner.start("save", save_book, self.loaded, self.book, target, self.journal, ahead,
                          on_success=self._save_done, on_failure=self._save_error)

    def _save_done(self, result: tuple[Path, FileStamp] | SaveFailure) -> None:
        if isinstance(result, SaveFailure):
            self._save_refused(result)
        else:
            self._saved(result)

    def _saved(self, result: tuple[Path, FileStamp]) -> None:
        path, stamp = result
        assert self.loaded is not None
        if path == self.loaded.data.path:
            # Our own write moved no row: the plan stays valid for "Retry failed rows".
            self.loaded = LoadedSheet(self.loaded.data, stamp)
        self.last_save = path
        self.results_file = None
        self.journal = None
        self.saved.emit(str(path))
        self._after_job()

    def _save_error(self, exc: BaseException) -> None:
        self.prompts.error(exc, "The results could not be saved")
        self._after_job()

    def _save_refused(self, failure: SaveFailure) -> None:
        exc = failure.error
        # A Save As refused before writing anything has no results file of its own: the
        # one from the first failure still holds everything.
        self.results_file = exc.results_path or self.results_file
        self.save_failed.emit(self.results_file or "")
        if failure.changed:
            # Rows may have moved: Save As would read them from the changed file too.
            choices = [interaction.RELOAD_APPLY, interaction.KEEP]
        else:
            choices = [interaction.RETRY, interaction.SAVE_AS]
            choices += [interaction.WAIT] if failure.blocked else []
            choices += [interaction.KEEP]
        choice = self.prompts.save_failed(exc, choices)
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
        if choice == interaction.RELOAD_APPLY:
            self._reload_and_apply()
            return
        if choice == interaction.WAIT and self.loaded is not None:
            self._after_job()
            self._wait_for(self.loaded.data.path, failure.blocked or "")
            return
        self._after_job()

    # -- Reload and apply (the workbook changed on disk) ---------------------------------------
    def _reload_and_apply(self) -> None:
        assert self.loaded is not None and self.book is not None
        mapping = self.mapping or (self.plan.mapping.to_mapping() if self.plan is not None else Mapping())
        self.runner.start("reapply", reload_and_save, self.loaded, self.book, mapping, self._region(), self._labels(),
                          self.journal, on_success=self._reapplied, on_failure=self._save_error)

    def _reapplied(self, result: Reapplied) -> None:
        self.loaded, self.plan, self.book = result.loaded, result.plan, result.book
        self.summary = None  # rebased: counted again when asked
        self.reapplied.emit(result)
        if result.lost:
            self.prompts.info(
                "Some results were not applied",
                f"{len(result.lost):,} result(s) belong to contacts that are no longer in the sheet, so they "
                "have no row to go into (they are kept in the log).",
            )
        self._save_done(result.saved)

    # -- Save when the file is closed ----------------------------------------------------------
    @property
    def waiting_for(self) -> Path | None:
        return self._wait_target

    def _wait_for(self, path: Path, why: str) -> None:
        self._wait_target = path
        self._wait_watcher = QFileSystemWatcher([str(path.parent)], self)
        self._wait_watcher.directoryChanged.connect(lambda _d: self._check_closed())
        self._wait_timer.start()
        self.waiting.emit(f"{why} The results are written into {path.name} as soon as it is closed.".strip())

    def stop_waiting(self) -> None:
        if self._wait_target is None:
            return
        self._wait_target = None
        self._wait_timer.stop()
        if self._wait_watcher is not None:
            self._wait_watcher.deleteLater()
            self._wait_watcher = None
        self.waiting.emit("")

    def _check_closed(self) -> None:
        if self._wait_target is None or self._wait_checking or self.busy:
            return
        self._wait_checking = True
        self.runner.start("lockcheck", save_blocker, self._wait_target,
                          on_success=self._closed_checked, on_failure=lambda _e: self._closed_checked("?"))

    def _closed_checked(self, blocker: str | None) -> None:
        self._wait_checking = False
        if blocker is not None or self._wait_target is None or self.busy or self.book is None:
            return
        log.info("%s closed: writing the results", self._wait_target.name)
        self.stop_waiting()
        self._set_busy(True)
        self._save(None)

    def _after_job(self) -> None:
        stop, self._stop = self._stop, None
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


def check_report(plan: Plan, checked: Checked | None = None) -> str:
    lines = [
        f"{len(plan.to_send):,} contact(s) to send · {len(plan.invalid):,} invalid · "
        f"{len(plan.duplicates):,} duplicate(s) (sent in a separate request)",
        "",
    ]
    if checked is not None and checked.unchanged:
        lines[-1:] = [f"{checked.unchanged:,} of them are unchanged since their last sync and will not be sent "
                      "(\"Send all rows\" sends them anyway).", ""]
    removals = sum(1 for r in plan.to_send if r.action == "remove")
    if removals:
        lines[-1:] = [f"{removals:,} row(s) ask to be removed from the campaign (removals go last).", ""]
    if checked is not None and checked.missing:
        lines += [f"{len(checked.missing):,} contact(s) synced from this sheet before are no longer in the sheet:"]
        lines += [f"  {e.email or e.phone}" for e in checked.missing[:20]]
        if len(checked.missing) > 20:
            lines.append(f"  ... and {len(checked.missing) - 20:,} more")
        lines += ["They stay in the campaign unless you tick \"Remove them from the campaign\".", ""]
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

