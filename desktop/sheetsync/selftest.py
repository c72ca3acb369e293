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
        print(f"selftest: ok ({len(sheet.rows)} rows synced and written back)")
        del app
        return 0
