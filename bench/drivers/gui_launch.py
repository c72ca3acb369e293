"""Scenario 5 child: ``sheetsync`` (the window) as a user starts it, until the window is shown.

Runs the real entry point (``sheetsync.cli.main(["gui"])``); a hook on the window the app
creates records the wall-clock time of its first paint (or, failing that, its Show event),
prints it as JSON and quits. The harness subtracts the time it spawned this process.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    import sheetsync.gui.app as app_mod  # the import the command makes anyway, made first
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    seen: dict[str, float] = {}

    class Watch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802
            kind = event.type()
            if kind == QEvent.Type.Show and "show" not in seen:
                seen["show"] = time.time()
            elif kind in (QEvent.Type.Paint, QEvent.Type.UpdateRequest) and "paint" not in seen:
                seen["paint"] = time.time()
                QTimer.singleShot(0, QApplication.quit)
            return False

    watch = Watch()
    original = app_mod.create_window

    def create_window(*args, **kwargs):  # type: ignore[no-untyped-def]
        window = original(*args, **kwargs)
        window.installEventFilter(watch)
        QTimer.singleShot(5000, QApplication.quit)  # no paint event: fall back to Show
        return window

    app_mod.create_window = create_window
    from sheetsync.cli import main as cli_main

    code = cli_main(["gui"])
    if "show" not in seen:
        print("the window was never shown", file=sys.stderr)
        return 1
    print(json.dumps({"shown_at": seen.get("paint", seen["show"]), "show_at": seen["show"],
                      "painted": "paint" in seen, "exit": code}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
