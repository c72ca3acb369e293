"""Open / load workflow: open a workbook off the GUI thread, pick the sheet and header row,
watch the file and reload when it changes on disk, keep the mapping per workbook and sheet."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from sheetsync.core.errors import WorkbookError
from sheetsync.core.job import FileStamp
from sheetsync.core.mapping import Mapping
from sheetsync.core.paths import AppPaths
from sheetsync.core.profiles import save_profile
from sheetsync.core.settings import Settings
from sheetsync.core.workbook import SUPPORTED_SUFFIXES

from .interaction import Prompts
from .jobs import LoadResult, load_workbook
from .state import SettingsStore
from .worker import TaskRunner

log = logging.getLogger("sheetsync.gui.load")


class LoadController(QObject):
    loading = Signal(str)  # file name being read
    loaded = Signal(object)  # LoadResult
    load_failed = Signal(object)  # exception
    mapping_imported = Signal(object)  # Mapping (action, external ID for the campaign panel)

    def __init__(self, runner: TaskRunner, store: SettingsStore, prompts: Prompts, paths: AppPaths | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths or AppPaths.default()
        self.runner = runner
        self.store = store
        self.prompts = prompts
        self.current: LoadResult | None = None
        self._generation = 0
        self._in_flight = 0
        self._hold = False  # a sync is running: reload afterwards
        self._pending_reload = False
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._file_changed)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self._reload_if_changed)

    @property
    def loading_now(self) -> bool:
        return self._in_flight > 0

    # -- opening ------------------------------------------------------------------------
    def open(self, path: Path) -> None:
        path = Path(path)
        if path.suffix.lower() not in SUPPORTED_SUFFIXES and path.suffix.lower() != ".xls":
            self.prompts.error(WorkbookError(f"{path.name} is not an Excel workbook: open an .xlsx or .xlsm file."))
            return
        self._load(path, None, None)

    def choose_sheet(self, name: str) -> None:
        if self.current and name != self.current.loaded.data.sheet:
            self._load(self.current.path, name, None)

    def choose_header_row(self, row: int) -> None:
        if self.current and row != self.current.loaded.data.header_row:
            self._load(self.current.path, self.current.loaded.data.sheet, row)

    def reload(self) -> None:
        """Read the workbook again (same sheet and header row); the mapping is kept."""
        if self.current:
            data = self.current.loaded.data
            self._load(self.current.path, data.sheet, data.header_row)

    def _load(self, path: Path, sheet: str | None, header_row: int | None) -> None:
        self._generation += 1
        generation = self._generation
        self._in_flight += 1
        self.loading.emit(path.name)
        saved = dict(self.store.settings.mappings)  # snapshots for the worker
        profiles = dict(self.store.settings.profiles)
        self.runner.start(
            "load", load_workbook, path, sheet, header_row, saved, profiles, self.paths,
            on_success=lambda result: self._done(generation, result),
            on_failure=lambda exc: self._failed(generation, exc),
        )

    def _done(self, generation: int, result: LoadResult) -> None:
        self._in_flight -= 1
        if generation != self._generation:
            return  # an older load, overtaken by a newer one
        first = self.current is None or self.current.path != result.path
        self.current = result
        self._watch(result.path)
        if first:
            self.store.settings.remember_file(result.path.resolve())
            self.store.changed()
        self.loaded.emit(result)

    def _failed(self, generation: int, exc: BaseException) -> None:
        self._in_flight -= 1
        if generation != self._generation:
            return
        self.load_failed.emit(exc)
        self.prompts.error(exc, "The workbook could not be opened")

    # -- mapping, per workbook and sheet -------------------------------------------------
    def remember_mapping(self, mapping: Mapping) -> None:
        if self.current is None:
            return
        data = self.current.loaded.data
        mapping.sheet = data.sheet
        mapping.header_row = data.header_row
        self.current.mapping = mapping
        settings = self.store.settings
        settings.mappings[Settings.mapping_key(self.current.path, data.sheet)] = mapping.to_json()
        # Any sheet with these headers (next week's export) is mapped the same way.
        save_profile(settings.profiles, data.headers, mapping)
        self.store.changed()

    def export_mapping(self, mapping: Mapping) -> None:
        if self.current is None:
            return
        data = self.current.loaded.data
        mapping.sheet, mapping.header_row = data.sheet, data.header_row
        suggested = self.current.path.with_name(f"{self.current.path.stem}.mapping.json")
        target = self.prompts.save_mapping_path(suggested)
        if target is not None:
            self.runner.start("export", mapping.save, target, on_failure=self.prompts.error)

    def import_mapping(self) -> None:
        if self.current is None:
            return
        source = self.prompts.open_mapping_path(str(self.current.path.parent))
        if source is not None:
            self.runner.start("import", Mapping.load, source, on_success=self._imported, on_failure=self.prompts.error)

    def _imported(self, mapping: Mapping) -> None:
        if self.current is None:
            return
        data = self.current.loaded.data
        self.store.settings.mappings[Settings.mapping_key(self.current.path, mapping.sheet or data.sheet)] = mapping.to_json()
        self.store.changed()
        self.mapping_imported.emit(mapping)
        self._load(self.current.path, mapping.sheet or data.sheet, mapping.header_row or data.header_row)

    # -- the file on disk -----------------------------------------------------------------
    def hold_reloads(self, hold: bool) -> None:
        """While a sync runs the preview stays as it is; a change seen meanwhile reloads after."""
        self._hold = hold
        if not hold and self._pending_reload:
            self._pending_reload = False
            self._debounce.start()

    def _watch(self, path: Path) -> None:
        text = str(path)
        old = [p for p in self.watcher.files() if p != text]
        if old:
            self.watcher.removePaths(old)
        if path.exists() and text not in self.watcher.files():
            self.watcher.addPath(text)

    def _file_changed(self, text: str) -> None:
        # Excel saves by writing a new file and renaming it over the old one: the watch
        # is lost with the old file, so add the path again (once the new file is there).
        self._debounce.start(400)

    def _reload_if_changed(self) -> None:
        if self.current is None:
            return
        path = self.current.path
        if not path.exists():
            self._debounce.start(1000)  # mid-replace, or gone: look again later
            return
        self._watch(path)
        if self._hold:
            self._pending_reload = True
            return
        try:
            changed = FileStamp.of(path) != self.current.loaded.stamp
        except OSError:
            return
        if changed and not self.loading_now:
            log.info("%s changed on disk: reloading", path.name)
            self.reload()
