"""``sheetsync --selftest``: the window, offscreen, syncs a copy of the sample workbook into
an embedded local API; exit 0 only if every row got a status back in the workbook on disk.
Used as a smoke test of a frozen build (no display, no keyring, no user settings touched)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def run_selftest(timeout_s: float = 60.0) -> int:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QDeadlineTimer, QEventLoop, QTimer

    from sheetsync.core.demo import copy_sample_workbook
    from sheetsync.core.paths import AppPaths
    from sheetsync.core.workbook import STATUS_HEADERS, read_sheet
    from sheetsync.gui.app import create_window, make_app, prefill_demo
    from sheetsync.gui.interaction import KEEP, Prompts
    from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

    class Quiet(Prompts):
        """Answers without dialogs and remembers what went wrong."""

        problems: list[str] = []

        def error(self, exc: BaseException, title: str = "") -> None:
            self.problems.append(f"{title}: {exc}")

        def info(self, title: str, text: str) -> None:
            pass

        def confirm(self, title: str, text: str, ok_text: str) -> bool:
            return True

        def ask_key(self, base_url: str, reason: str, storage_note: str) -> str | None:
            self.problems.append(f"key asked: {reason}")
            return None

        def save_failed(self, exc: Exception, choices: object = ()) -> str:
            self.problems.append(f"save failed: {exc}")
            return KEEP

    app = make_app()
    with tempfile.TemporaryDirectory(prefix="sheetsync-selftest-") as tmp:
        root = Path(tmp)
        paths = AppPaths(root / "config", root / "data", root / "logs")
        workbook = copy_sample_workbook(root / "work")
        with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID]) as api:
            window = create_window(paths, demo_url=api.base_url, demo_key=DEMO_API_KEY)
            prompts = Quiet(window)
            window.set_prompts(prompts)
            prefill_demo(window, DEMO_CAMPAIGN_ID)
            window.show()
            deadline = QDeadlineTimer(int(timeout_s * 1000))

            def wait_for(condition) -> bool:  # type: ignore[no-untyped-def]
                loop = QEventLoop()
                timer = QTimer()
                timer.timeout.connect(lambda: loop.quit() if condition() or deadline.hasExpired() else None)
                timer.start(20)
                loop.exec()
                timer.stop()
                return bool(condition())

            window.open_path(workbook)
            ok = wait_for(lambda: window.load.current is not None and not window.load.loading_now or bool(prompts.problems))
            if ok and not prompts.problems:
                window.start_sync()
                ok = wait_for(lambda: (window.sync.last_save is not None or bool(prompts.problems)) and not window.runner.busy)
            window.close()
            wait_for(lambda: not window.runner.busy)
            window.runner.wait_all()
        if not ok or prompts.problems:
            print("selftest: FAILED:", "; ".join(prompts.problems) or "timed out", file=sys.stderr)
            return 1
        sheet = read_sheet(workbook)
        lowered = [h.casefold() for h in sheet.headers]
        if STATUS_HEADERS[0].casefold() not in lowered:
            print("selftest: FAILED: no Sync Status column in the workbook", file=sys.stderr)
            return 1
        column = lowered.index(STATUS_HEADERS[0].casefold())
        missing = [r.number for r in sheet.rows if not r.get(column)]
        if missing:
            print(f"selftest: FAILED: rows without a status: {missing[:10]}", file=sys.stderr)
            return 1
        problem = _check_write_ahead(root)
        if problem is not None:
            print(f"selftest: FAILED: {problem}", file=sys.stderr)
            return 1
        print(f"selftest: ok ({len(sheet.rows)} rows synced and written back; the write-ahead process runs)")
        del app
        return 0


def _check_write_ahead(root: Path) -> str | None:
    """The second process that writes results during a big sync starts in this build (a
    frozen app starts it through its own executable: multiprocessing.freeze_support)."""
    from sheetsync.core.job import load_sheet, plan_job
    from sheetsync.core.results import CREATED, RowResult, now
    from sheetsync.core.writeahead import MIN_ROWS, WriteAhead
    from sheetsync.sandbox.workbooks import make_plain_workbook

    loaded = load_sheet(make_plain_workbook(root / "write-ahead.xlsx", MIN_ROWS))
    plan = plan_job(loaded.data)
    ahead = WriteAhead.start(loaded.data, [r.number for r in plan.rows])
    if ahead is None:
        return "the write-ahead process did not start"
    results = {r.number: RowResult(r.number, CREATED, None, now()) for r in plan.rows}
    ahead.add(results.values())
    copy = ahead.finish(results)
    if copy is None:
        return "the write-ahead process did not write its copy (see the log)"
    written = _statuses_in(copy)
    copy.unlink()
    if written != len(results):
        return f"the write-ahead copy has {written} statuses, not {len(results)}"
    return None


def _statuses_in(path: Path) -> int:
    from sheetsync.core.workbook import STATUS_HEADERS, read_sheet

    sheet = read_sheet(path)
    column = [h.casefold() for h in sheet.headers].index(STATUS_HEADERS[0].casefold())
    return sum(1 for r in sheet.rows if r.get(column))
