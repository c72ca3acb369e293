"""Every question the window asks the user goes through :class:`Prompts` (git-cola's
``Interaction`` seam): the window and its controllers call these methods; tests replace
the object with one that answers without modal dialogs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from sheetsync.core.errors import SaveError

from .error_dialog import error_box
from .key_dialog import KeyDialog

WORKBOOK_FILTER = "Excel workbooks (*.xlsx *.xlsm)"
MAPPING_FILTER = "Mapping files (*.json)"

RETRY, SAVE_AS, KEEP = "retry", "save_as", "keep"
#: After a failed save: save by itself once the file is closed; reload and apply the results.
WAIT, RELOAD_APPLY = "wait", "reload_apply"
SAVE_CHOICES = {
    RETRY: "Retry",
    SAVE_AS: "Save As...",
    WAIT: "Save when the file is closed",
    RELOAD_APPLY: "Reload and apply",
    KEEP: "Later",
}
RESULTS_FILTER = "Sheet Sync results (*.sheetsync-results.json);;All files (*)"


class Prompts:
    def __init__(self, parent: QWidget) -> None:
        self.parent = parent

    # -- messages ---------------------------------------------------------------
    def error(self, exc: BaseException, title: str = "Sheet Sync") -> None:
        error_box(self.parent, exc, title).exec()

    def info(self, title: str, text: str) -> None:
        QMessageBox.information(self.parent, title, text)

    def confirm(self, title: str, text: str, ok_text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self.parent)
        ok = box.addButton(ok_text, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is ok

    # -- questions --------------------------------------------------------------
    def ask_key(self, base_url: str, reason: str, storage_note: str) -> str | None:
        dialog = KeyDialog(self.parent, base_url=base_url, reason=reason, storage_note=storage_note)
        return dialog.key() if dialog.exec() == KeyDialog.DialogCode.Accepted else None

    def choose(self, kind: str, title: str, text: str, options: Sequence[tuple[str, str]]) -> str | None:
        """One of ``options`` ((answer, button text); the first is the default), or None if
        the box was closed. ``kind`` names the question for tests ("resume", ...)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self.parent)
        buttons = {}
        for i, (answer, label) in enumerate(options):
            role = QMessageBox.ButtonRole.AcceptRole if i == 0 else QMessageBox.ButtonRole.ActionRole
            buttons[box.addButton(label, role)] = answer
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setEscapeButton(cancel)
        box.setDefaultButton(next(iter(buttons)))  # type: ignore[arg-type]
        box.exec()
        return buttons.get(box.clickedButton())

    def save_failed(self, exc: SaveError, choices: Sequence[str] = (RETRY, SAVE_AS, KEEP)) -> str:
        """One of ``choices`` (RETRY, SAVE_AS, WAIT, RELOAD_APPLY; KEEP: the results stay in
        the results file)."""
        box = error_box(self.parent, exc, "Results not saved in the workbook")
        box.setStandardButtons(QMessageBox.StandardButton.NoButton)
        buttons = {}
        for choice in choices:
            role = QMessageBox.ButtonRole.RejectRole if choice == KEEP else QMessageBox.ButtonRole.ActionRole
            buttons[box.addButton(SAVE_CHOICES[choice], role)] = choice
        box.setDefaultButton(next(iter(buttons)))  # type: ignore[arg-type]
        box.exec()
        return buttons.get(box.clickedButton(), KEEP)

    def open_workbook_path(self, folder: str = "") -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.parent, "Open workbook", folder, WORKBOOK_FILTER)
        return Path(name) if name else None

    def save_workbook_path(self, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.parent, "Save the workbook with its results as", str(suggested), WORKBOOK_FILTER)
        return Path(name) if name else None

    def open_results_path(self, folder: str = "") -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.parent, "Apply a results file", folder, RESULTS_FILTER)
        return Path(name) if name else None

    def save_problems_path(self, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.parent, "Export the rows with problems to", str(suggested), WORKBOOK_FILTER)
        return Path(name) if name else None

    def open_mapping_path(self, folder: str = "") -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.parent, "Import a mapping", folder, MAPPING_FILTER)
        return Path(name) if name else None

    def save_mapping_path(self, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.parent, "Export the mapping", str(suggested), MAPPING_FILTER)
        return Path(name) if name else None
