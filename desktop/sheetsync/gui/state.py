"""What the window's controllers share: settings (saved off the GUI thread) and the connection."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from sheetsync.core.atomicfile import write_text_atomic
from sheetsync.core.credentials import KeyStore
from sheetsync.core.logsetup import add_secret
from sheetsync.core.settings import Settings

from .worker import TaskRunner

log = logging.getLogger("sheetsync.gui")


def _write(path: Path, text: str) -> None:
    write_text_atomic(path, text)


class SettingsStore(QObject):
    """The settings in memory; changes are written a moment later, in a worker."""

    def __init__(self, settings: Settings, path: Path | None, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.path = path
        self._runner = runner
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self.save_now)

    def changed(self) -> None:
        if self.path is not None:
            self._timer.start()

    def save_now(self) -> None:
        self._timer.stop()
        if self.path is None:
            return
        text = json.dumps(self.settings.to_json(), indent=2, ensure_ascii=False) + "\n"  # snapshot
        self._runner.start("settings", _write, self.path, text,
                           on_failure=lambda exc: log.warning("settings not saved: %s", exc))

    def flush(self) -> None:
        """At exit: write now, on this thread, if a write is pending."""
        if self._timer.isActive() and self.path is not None:
            self._timer.stop()
            try:
                _write(self.path, json.dumps(self.settings.to_json(), indent=2, ensure_ascii=False) + "\n")
            except OSError as exc:
                log.warning("settings not saved: %s", exc)


class Connection:
    """The API the window talks to, and its key: the keyring's, or the demo's (session only)."""

    def __init__(self, store: SettingsStore, keys: KeyStore, *, demo_url: str | None = None, demo_key: str | None = None) -> None:
        self.store = store
        self.keys = keys
        self.demo_url = demo_url
        self._demo_key = demo_key

    @property
    def demo(self) -> bool:
        return self.demo_url is not None

    @property
    def base_url(self) -> str:
        return self.demo_url or self.store.settings.base_url

    def key(self) -> str | None:
        key = self._demo_key if self.demo else self.keys.get(self.base_url)
        add_secret(key)
        return key

    def set_key(self, key: str) -> str:
        """Keep a new key: "keyring", or "session" when no keyring works (or in the demo)."""
        add_secret(key)
        if self.demo:
            self._demo_key = key
            return "session"
        return self.keys.set(self.base_url, key)

    def storage_note(self) -> str:
        if self.demo:
            return "This is the demo: the key is kept for this session only."
        if self.keys.keyring_works():
            return f"The key is stored in {self.keys.keyring_name()}, never in a file."
        return "No system keyring works here: the key is kept for this session only."
