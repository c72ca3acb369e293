"""Fixtures for the window tests: a private home, an in-memory keyring, prompts that answer
without modal dialogs, and a check that no test leaves a thread running."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
from PySide6.QtCore import QThreadPool

from sheetsync.core.credentials import KeyStore
from sheetsync.core.demo import sample_workbook
from sheetsync.core.paths import AppPaths
from sheetsync.gui import interaction
from sheetsync.gui.app import create_window, make_app
from sheetsync.gui.interaction import Prompts
from sheetsync.gui.main_window import MainWindow
from sheetsync.gui.worker import LIVE_THREADS

pytestmark = pytest.mark.gui


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/gui" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.gui)
            # The offscreen platform warns that it cannot pass size hints to a window
            # manager (it has none); that says nothing about our code.
            item.add_marker(pytest.mark.qt_log_ignore("does not support propagateSizeHints"))


# The in-memory keyring (``memory_keyring``) comes from tests/conftest.py.


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, logs and results files under the test's own folder."""
    root = tmp_path / "home"
    monkeypatch.setenv("SHEETSYNC_HOME", str(root))
    monkeypatch.delenv("SHEETSYNC_API_KEY", raising=False)
    return root


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture(autouse=True)
def no_thread_left(qapp: Any) -> Iterator[None]:
    """Fails a test that leaves a worker QThread, a pool task or an engine thread running."""
    yield
    running = [t.objectName() for t in list(LIVE_THREADS) if t.isRunning()]
    pool = QThreadPool.globalInstance().activeThreadCount()
    batch = [t.name for t in threading.enumerate() if t.name.startswith("sheetsync-batch")]
    if running or pool or batch:
        pytest.fail(f"threads left running: QThreads {running}, pool tasks {pool}, engine threads {batch}")


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    """A copy of the sample workbook (20 rows, one invalid email, one duplicate)."""
    folder = tmp_path / "work"
    folder.mkdir()
    target = folder / "contacts.xlsx"
    shutil.copyfile(sample_workbook(), target)
    return target


class FakePrompts(Prompts):
    """Answers the window's questions from a script and records them (no modal dialogs)."""

    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        self.calls: list[tuple[str, Any]] = []
        self.key_answer: str | Callable[..., str | None] | None = None
        self.confirm_answer = True
        self.save_choices: list[str] = []
        self.save_as_path: Path | None = None
        self.open_path: Path | None = None
        self.mapping_path: Path | None = None
        self.results_path: Path | None = None
        self.problems_path: Path | None = None
        self.choices: dict[str, str | None] = {}  # kind of question -> answer (default: the first option)

    def named(self, name: str) -> list[Any]:
        return [arg for call, arg in self.calls if call == name]

    def error(self, exc: BaseException, title: str = "Sheet Sync") -> None:
        self.calls.append(("error", exc))

    def info(self, title: str, text: str) -> None:
        self.calls.append(("info", text))

    def confirm(self, title: str, text: str, ok_text: str) -> bool:
        self.calls.append(("confirm", text))
        return self.confirm_answer

    def ask_key(self, base_url: str, reason: str, storage_note: str) -> str | None:
        self.calls.append(("ask_key", reason))
        if callable(self.key_answer):
            return self.key_answer(base_url, reason, storage_note)
        return self.key_answer

    def confirm_texts(self) -> list[str]:
        return self.named("confirm")

    def choose(self, kind: str, title: str, text: str, options: Any) -> str | None:
        self.calls.append(("choose", (kind, text)))
        return self.choices.get(kind, options[0][0])

    def save_failed(self, exc: Any, choices: Any = (interaction.RETRY, interaction.SAVE_AS, interaction.KEEP)) -> str:
        self.calls.append(("save_failed", exc))
        self.calls.append(("save_choices", list(choices)))
        answer = self.save_choices.pop(0) if self.save_choices else interaction.KEEP
        assert answer in choices, f"{answer} is not offered: {list(choices)}"
        return answer

    def open_results_path(self, folder: str = "") -> Path | None:
        return self.results_path

    def save_problems_path(self, suggested: Path) -> Path | None:
        self.calls.append(("save_problems", suggested))
        return self.problems_path or suggested

    def open_workbook_path(self, folder: str = "") -> Path | None:
        return self.open_path

    def save_workbook_path(self, suggested: Path) -> Path | None:
        self.calls.append(("save_as", suggested))
        return self.save_as_path

    def open_mapping_path(self, folder: str = "") -> Path | None:
        return self.mapping_path

    def save_mapping_path(self, suggested: Path) -> Path | None:
        return self.mapping_path


@pytest.fixture
def make_window(qtbot: Any) -> Iterator[Callable[..., MainWindow]]:
    """Builds the real main window (with FakePrompts); closes it and waits for its tasks."""
    windows: list[MainWindow] = []
    make_app()

    def make(*, base_url: str | None = None, demo_url: str | None = None, demo_key: str | None = None,
             batch_size: int | None = None, concurrency: int | None = None) -> MainWindow:
        window = create_window(AppPaths.default(), keys=KeyStore(env={}), demo_url=demo_url, demo_key=demo_key)
        window.set_prompts(FakePrompts(window))
        settings = window.store.settings
        if base_url:
            settings.base_url = base_url
        if concurrency:
            settings.concurrency = concurrency
        if batch_size:
            window.campaign.batch.setValue(batch_size)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5_000)  # shortcuts go to the active window
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        qtbot.waitUntil(lambda w=window: not w.runner.busy, timeout=30_000)
        window.runner.wait_all()
        window.deleteLater()
    qtbot.wait(10)


def prompts(window: MainWindow) -> FakePrompts:
    assert isinstance(window.prompts, FakePrompts)
    return window.prompts


def open_and_wait(qtbot: Any, window: MainWindow, path: Path) -> None:
    with qtbot.waitSignal(window.load.loaded, timeout=60_000):
        window.open_path(path)
    qtbot.waitUntil(lambda: not window.runner.busy or not window.load.loading_now, timeout=10_000)
