"""Scenario 4 child: the real window, offscreen; open a workbook, then sync it.

Measures, on the GUI thread: the time from asking the window to open the workbook until
the preview model has its rows and the event loop has run again (so the view can paint
them), and the longest event-loop stall (a 5 ms precise QTimer: gap between two ticks
minus 5 ms) while loading and while syncing. Prints one JSON line.

    QT_QPA_PLATFORM=offscreen python bench/drivers/gui_probe.py WORKBOOK BASE_URL
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer

from sheetsync.core.paths import AppPaths
from sheetsync.gui.app import create_window, make_app
from sheetsync.gui.interaction import KEEP, Prompts
from sheetsync.sandbox.server import DEMO_API_KEY, DEMO_CAMPAIGN_ID

TICK_MS = 5
TIMEOUT_S = 600


class QuietPrompts(Prompts):
    """Answers without modal dialogs; any error ends the probe with exit 1."""

    def error(self, exc: BaseException, title: str = "Sheet Sync") -> None:
        print(f"GUI error: {title}: {exc}", file=sys.stderr, flush=True)
        probe.fail = f"{title}: {exc}"
        probe.app.quit()

    def info(self, title: str, text: str) -> None:
        print(f"GUI info: {title}: {text}", file=sys.stderr, flush=True)

    def confirm(self, title: str, text: str, ok_text: str) -> bool:
        return True

    def ask_key(self, base_url: str, reason: str, storage_note: str) -> str | None:
        return DEMO_API_KEY

    def save_failed(self, exc) -> str:  # type: ignore[no-untyped-def]
        self.error(exc, "save failed")
        return KEEP


class Probe(QObject):
    def __init__(self, workbook: Path, base_url: str) -> None:
        super().__init__()
        self.app = make_app()
        self.workbook = workbook
        self.window = create_window(AppPaths.default(), demo_url=base_url, demo_key=DEMO_API_KEY)
        self.window.set_prompts(QuietPrompts(self.window))
        self.fail: str | None = None
        self.phase = "idle"
        self.stalls = {"load": 0.0, "sync": 0.0}
        self.ticks = {"load": 0, "sync": 0}
        self.last = 0.0
        self.t_open = self.t_preview = self.t_sync = self.t_saved = 0.0
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.window.sync.saved.connect(self.saved)
        self.window.sync.save_failed.connect(lambda f: self.stop(f"results not saved in the workbook ({f})"))

    def begin(self) -> None:
        self.window.show()
        QTimer.singleShot(200, self.open)  # let the window settle first

    def open(self) -> None:
        self.phase = "load"
        self.timer.start()
        self.last = self.t_open = time.perf_counter()
        self.window.open_path(self.workbook)

    def tick(self) -> None:
        now = time.perf_counter()
        if self.phase in self.stalls:
            self.stalls[self.phase] = max(self.stalls[self.phase], (now - self.last) * 1000 - TICK_MS)
            self.ticks[self.phase] += 1
        self.last = now
        if self.phase == "load" and self.window.model.rowCount() > 0:
            self.t_preview = now
            self.phase = "idle"
            QTimer.singleShot(300, self.sync)  # whatever the load still does after the preview
        if now - self.t_open > TIMEOUT_S:
            self.stop("timed out")

    def sync(self) -> None:
        self.window.campaign.campaign.setText(DEMO_CAMPAIGN_ID)
        self.app.processEvents()
        if not self.window.act_sync.isEnabled():
            self.stop("the Sync action is disabled after loading")
            return
        self.phase = "sync"
        self.last = self.t_sync = time.perf_counter()
        self.window.start_sync()

    def saved(self, _path: str) -> None:
        self.t_saved = time.perf_counter()
        self.phase = "idle"
        QTimer.singleShot(0, self.app.quit)

    def stop(self, why: str) -> None:
        self.fail = why
        self.app.quit()


def main(workbook: str, base_url: str) -> int:
    global probe
    probe = Probe(Path(workbook), base_url)
    probe.begin()
    probe.app.exec()
    probe.timer.stop()
    if probe.fail:
        print(f"probe failed: {probe.fail}", file=sys.stderr)
        return 1
    print(json.dumps({
        "preview_s": probe.t_preview - probe.t_open,
        "stall_load_ms": max(0.0, probe.stalls["load"]),
        "stall_sync_ms": max(0.0, probe.stalls["sync"]),
        "sync_s": probe.t_saved - probe.t_sync,
        "rows": probe.window.model.rowCount(),
        "ticks_load": probe.ticks["load"], "ticks_sync": probe.ticks["sync"],
    }))
    return 0


probe: Probe


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
