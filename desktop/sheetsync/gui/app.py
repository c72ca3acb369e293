"""The application: QApplication set-up (name, icon, style), the crash handler, and the
entry points the command line calls (``run_app``, ``run_demo``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QApplication

from sheetsync import __version__
from sheetsync.core.credentials import KeyStore
from sheetsync.core.demo import resources_dir
from sheetsync.core.logsetup import configure
from sheetsync.core.paths import AppPaths
from sheetsync.core.settings import Settings

from .error_dialog import crash_box
from .main_window import MainWindow
from .state import Connection, SettingsStore
from .worker import TaskRunner

log = logging.getLogger("sheetsync.gui")


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        if sys.platform.startswith("linux"):
            app.setStyle("Fusion")  # follows the palette (light or dark) the platform gives
    app.setApplicationName("Sheet Sync")
    app.setOrganizationName("Replify")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("sheetsync")
    app.setWindowIcon(app_icon())
    # The worker threads run pure Python for seconds; every repaint calls back into Python
    # (the preview model) and waits for the GIL each time. A 1 ms switch interval (default
    # 5 ms) cuts those waits: the longest event-loop stall of a 100k-row sync drops by a third.
    sys.setswitchinterval(0.001)
    return app  # type: ignore[return-value]


def app_icon() -> QIcon:
    """resources/icon.svg when present and readable, else a drawn icon."""
    svg = resources_dir() / "icon.svg"
    if svg.exists():
        icon = QIcon(str(svg))
        if not icon.isNull() and not icon.pixmap(32, 32).isNull():
            return icon
        log.info("icon %s could not be read; using the built-in icon", svg)
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        icon.addPixmap(_drawn_icon(size))
    return icon


def _drawn_icon(size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    margin = size * 0.06
    path.addRoundedRect(QRectF(margin, margin, size - 2 * margin, size - 2 * margin), size * 0.2, size * 0.2)
    painter.fillPath(path, QColor("#1d7a46"))
    painter.setPen(QColor("white"))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(8, int(size * 0.55)))
    painter.setFont(font)
    painter.drawText(QRectF(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, "S")
    painter.end()
    return pixmap


def install_crash_handler(log_file: Path | None) -> None:
    """Uncaught exceptions (in slots too): logged, then a dialog; never a raw traceback."""
    previous = sys.excepthook
    showing = [False]

    def hook(kind: type[BaseException], value: BaseException, tb: object) -> None:
        if issubclass(kind, KeyboardInterrupt) or showing[0]:
            previous(kind, value, tb)  # type: ignore[arg-type]
            return
        log.critical("uncaught exception", exc_info=(kind, value, tb))  # type: ignore[arg-type]
        showing[0] = True
        try:
            crash_box(QApplication.activeWindow(), value, str(log_file) if log_file else None).exec()
        except Exception:  # the dialog itself failed: fall back to stderr
            previous(kind, value, tb)  # type: ignore[arg-type]
        finally:
            showing[0] = False

    sys.excepthook = hook


def create_window(paths: AppPaths | None = None, *, keys: KeyStore | None = None,
                  demo_url: str | None = None, demo_key: str | None = None) -> MainWindow:
    paths = paths or AppPaths.default()
    runner = TaskRunner()
    store = SettingsStore(Settings.load(paths.settings_file), paths.settings_file, runner)
    connection = Connection(store, keys or KeyStore(), demo_url=demo_url, demo_key=demo_key)
    window = MainWindow(store, connection, runner, paths)
    runner.setParent(window)
    store.setParent(window)
    return window


def _start(paths: AppPaths) -> QApplication:
    configure(paths.log_file)
    app = make_app()
    install_crash_handler(paths.log_file)
    log.info("Sheet Sync %s window starting", __version__)
    return app


class FileOpenForwarder(QObject):
    """macOS "Open With" and Finder double-clicks arrive as QFileOpenEvent, not as an
    argument (Windows and Linux pass the path on the command line): open them."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.FileOpen:
            path = event.file()  # type: ignore[attr-defined]
            if path:
                self._window.open_path(Path(path))
                return True
        return False


def run_app(workbook: Path | None = None) -> int:
    paths = AppPaths.default()
    app = _start(paths)
    window = create_window(paths)
    app.installEventFilter(FileOpenForwarder(window))
    window.show()
    if workbook is not None:
        window.open_path(Path(workbook))
    return app.exec()


def run_demo() -> int:
    """The window on a copy of the sample workbook, connected to a local demo API."""
    from sheetsync.core.demo import SAMPLE_SHEET, copy_sample_workbook, demo_mapping
    from sheetsync.core.settings import Settings
    from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

    paths = AppPaths.default()
    app = _start(paths)
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID]) as api:
        window = create_window(paths, demo_url=api.base_url, demo_key=DEMO_API_KEY)
        prefill_demo(window, DEMO_CAMPAIGN_ID)
        window.show()
        workbook = copy_sample_workbook()
        key = Settings.mapping_key(workbook, SAMPLE_SHEET)
        window.store.settings.mappings.setdefault(key, demo_mapping().to_json())
        window.open_path(workbook)
        return app.exec()


def prefill_demo(window: MainWindow, campaign_id: str) -> None:
    window.campaign.campaign.setText(campaign_id)
    window.campaign.label.setText("Demo campaign")
