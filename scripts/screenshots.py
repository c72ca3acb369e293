"""Screenshots of the main window's states, for the README and reviews.

    xvfb-run -a -s "-screen 0 1280x800x24" env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py

Writes docs/screenshots/{1-empty,2-mapped,3-syncing,4-results}.png: the window on a copy
of the sample workbook, syncing into the local API (latency added so progress shows).
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

    class Quiet(Prompts):
        def error(self, exc: BaseException, title: str = "") -> None:
            print(f"error: {exc}", file=sys.stderr)

        def info(self, title: str, text: str) -> None:
            pass

        def save_failed(self, exc: Exception, choices: object = ()) -> str:
            print(f"save failed: {exc}", file=sys.stderr)
            return KEEP

    app = make_app()

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
        window.close()
        wait(lambda: not window.runner.busy)
        window.runner.wait_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
