"""Screenshots of the main window's states, for the README and reviews.

    xvfb-run -a -s "-screen 0 1280x800x24" env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py

Writes docs/screenshots/{1-empty,2-mapped,3-syncing,4-results}.png: the window on a copy
of the sample workbook, syncing into the local API (latency added so progress shows); then
a second round of editing in Excel ({5-validate-changes,6-unchanged}.png: unchanged rows and
contacts gone from the sheet), an interrupted sync found on open (7-resume.png), and a save
refused while Excel has the workbook open ({8-save-failed,9-waiting}.png).
Nothing of the user's (settings, keyring) is touched: everything lives in a temp folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sheetsync-shots-"))
    os.environ["SHEETSYNC_HOME"] = str(tmp / "home")
    from PySide6.QtCore import QEventLoop, QTimer

    from sheetsync.core.demo import copy_sample_workbook
    from sheetsync.core.paths import AppPaths
    from sheetsync.gui.app import create_window, make_app, prefill_demo
    from sheetsync.gui.interaction import KEEP, Prompts
    from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, Faults, SandboxApi

    from PySide6.QtWidgets import QApplication, QMessageBox

    def answer_dialog(name: str, button: str) -> None:
        """Screenshot the modal box the window shows, then click one of its buttons."""
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(100, lambda: answer_dialog(name, button))
            return
        OUT.mkdir(parents=True, exist_ok=True)
        box.grab().save(str(OUT / f"{name}.png"), "PNG", 9)
        print(f"docs/screenshots/{name}.png")
        next(b for b in box.buttons() if b.text() == button).click()

    class Quiet(Prompts):
        dialogs: dict[str, tuple[str, str]] = {}  # question -> (screenshot name, button to click)

        def error(self, exc: BaseException, title: str = "") -> None:
            print(f"error: {exc}", file=sys.stderr)

        def info(self, title: str, text: str) -> None:
            pass

        def confirm(self, title: str, text: str, ok_text: str) -> bool:
            return True

        def choose(self, kind, title, text, options):  # type: ignore[no-untyped-def]
            if kind in self.dialogs:
                QTimer.singleShot(300, lambda: answer_dialog(*self.dialogs.pop(kind)))
                return super().choose(kind, title, text, options)
            return options[0][0]

        def save_failed(self, exc: Exception, choices: object = ()) -> str:
            if "save_failed" in self.dialogs:
                QTimer.singleShot(300, lambda: answer_dialog(*self.dialogs.pop("save_failed")))
                return super().save_failed(exc, choices)  # type: ignore[arg-type]
            print(f"save failed: {exc}", file=sys.stderr)
            return KEEP

    app = make_app()  # noqa: F841 - keeps the QApplication alive while the script runs

    def wait(condition=lambda: False, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        loop = QEventLoop()
        timer = QTimer()
        timer.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline else None)
        timer.start(20)
        loop.exec()
        timer.stop()

    def shot(window, name: str) -> None:  # type: ignore[no-untyped-def]
        wait(timeout=0.4)  # let the paint settle
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"{name}.png"
        window.grab().save(str(path), "PNG", 9)
        print(f"{path.relative_to(ROOT)}  ({path.stat().st_size // 1024} KB)")

    workbook = copy_sample_workbook(tmp / "work")
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID], faults=Faults(latency=0.35)) as api:
        window = create_window(AppPaths.default(), demo_url=api.base_url, demo_key=DEMO_API_KEY)
        window.set_prompts(Quiet(window))
        window.store.settings.concurrency = 1
        window.resize(1180, 720)
        window.show()
        shot(window, "1-empty")

        prefill_demo(window, DEMO_CAMPAIGN_ID)
        window.open_path(workbook)
        wait(lambda: window.load.current is not None and not window.load.loading_now)
        window.mapping.set_target("Plan Tier", "contactMetadata", "tier")
        shot(window, "2-mapped")

        window.campaign.batch.setValue(2)
        window.start_sync()
        wait(lambda: window.progress.rows >= 8)
        shot(window, "3-syncing")

        wait(lambda: window.sync.last_save is not None and not window.runner.busy, timeout=60)
        wait(lambda: "Sync Status" in (window.model.sheet.headers if window.model.sheet else []))
        window.preview.scrollTo(window.model.index(0, window.model.columnCount() - 1))
        shot(window, "4-results")

        # A second round of editing in Excel: one contact changed, two rows deleted.
        import openpyxl

        api.faults.latency = 0.05
        wb = openpyxl.load_workbook(workbook)
        wb["Contacts"]["A3"] = "Johnny"
        wb["Contacts"].delete_rows(5, 2)
        tmp_file = workbook.with_name("~$tmp.xlsx")
        wb.save(tmp_file)
        os.replace(tmp_file, workbook)
        wait(lambda: window.model.rowCount() == 18 and not window.runner.busy)
        checked: list[object] = []
        window.sync.checked.connect(checked.append)
        window.validate()
        wait(lambda: bool(checked))
        window.campaign.more.setChecked(True)
        shot(window, "5-validate-changes")
        window.campaign.more.setChecked(False)
        saves = [window.sync.last_save]
        window.sync.saved.connect(saves.append)
        window.start_sync()
        wait(lambda: len(saves) > 1 and not window.runner.busy, timeout=60)
        wait(lambda: "Sync Status" in (window.model.sheet.headers if window.model.sheet else []))
        window.preview.scrollTo(window.model.index(0, window.model.columnCount() - 1))
        shot(window, "6-unchanged")

        # An interrupted sync of another workbook, found when it is opened.
        second = copy_sample_workbook(tmp / "work2")
        crash_part_way(second, api.base_url, DEMO_API_KEY, DEMO_CAMPAIGN_ID)
        window.prompts.dialogs["resume"] = ("7-resume", "Resume")  # type: ignore[attr-defined]
        window.open_path(second)
        wait(lambda: len(saves) > 2 and not window.runner.busy, timeout=60)

        # Excel has it open: the save is refused, and done by itself once it is closed.
        owner = second.with_name("~$" + second.name)
        owner.write_bytes(bytes([3]) + b"Pat" + b"\x00" * 51)
        window.prompts.dialogs["save_failed"] = ("8-save-failed", "Save when the file is closed")  # type: ignore[attr-defined]
        window.campaign.send_all.setChecked(True)
        window.start_sync()
        wait(lambda: window.sync.waiting_for is not None, timeout=60)
        shot(window, "9-waiting")
        owner.unlink()
        wait(lambda: len(saves) > 3 and not window.runner.busy, timeout=30)
        window.close()
        wait(lambda: not window.runner.busy)
        window.runner.wait_all()
    return 0


def crash_part_way(path: Path, base_url: str, key: str, campaign: str) -> None:
    """The core's job stopped as a crash would stop it: two answers in the journal, one
    batch sent but unanswered, the rest never sent, nothing saved."""
    import threading

    from sheetsync.core.client import ContactsApi
    from sheetsync.core.engine import JobOptions, SyncEngine
    from sheetsync.core.job import load_sheet, plan_job
    from sheetsync.core.resume import prepare_run

    loaded = load_sheet(path)
    plan = plan_job(loaded.data)
    options = JobOptions(campaign_id=campaign, batch_size=5, concurrency=1).validated()
    run = prepare_run(loaded, plan, options)
    cancel = threading.Event()
    record, replies = run.journal.record, []

    def crash(batch_id, results, unmatched):  # type: ignore[no-untyped-def]
        replies.append(batch_id)
        if len(replies) > 2:
            cancel.set()
            return
        record(batch_id, results, unmatched)

    run.journal.record = crash  # type: ignore[method-assign]
    with ContactsApi(base_url, key) as client:
        for _ in SyncEngine(plan, options, client, cancel=cancel, journal=run.journal, rows=run.rows).run():
            pass
    run.journal.close()


if __name__ == "__main__":
    sys.exit(main())
