"""Every question the window asks the user goes through :class:`Prompts` (git-cola's
``Interaction`` seam): the window and its controllers call these methods; tests replace
the object with one that answers without modal dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from sheetsync.core.errors import SaveError

from .error_dialog import error_box
from .key_dialog import KeyDialog

WORKBOOK_FILTER = "Excel workbooks (*.xlsx *.xlsm)"
MAPPING_FILTER = "Mapping files (*.json)"

RETRY, SAVE_AS, KEEP = "retry", "save_as", "keep"


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

    def save_failed(self, exc: SaveError) -> str:
        """RETRY, SAVE_AS, or KEEP (the results stay in the results file)."""
        box = error_box(self.parent, exc, "Results not saved in the workbook")
        box.setStandardButtons(QMessageBox.StandardButton.NoButton)
        retry = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
        save_as = box.addButton("Save As...", QMessageBox.ButtonRole.ActionRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(retry)
        box.exec()
        clicked = box.clickedButton()
        return RETRY if clicked is retry else SAVE_AS if clicked is save_as else KEEP

    def open_workbook_path(self, folder: str = "") -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.parent, "Open workbook", folder, WORKBOOK_FILTER)
        return Path(name) if name else None

    def save_workbook_path(self, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.parent, "Save the workbook with its results as", str(suggested), WORKBOOK_FILTER)
        return Path(name) if name else None

    def open_mapping_path(self, folder: str = "") -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.parent, "Import a mapping", folder, MAPPING_FILTER)
        return Path(name) if name else None

    def save_mapping_path(self, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self.parent, "Export the mapping", str(suggested), MAPPING_FILTER)
        return Path(name) if name else None
