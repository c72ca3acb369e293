"""Asks for the API key (first sync, or after the server refused it)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)


class KeyDialog(QDialog):
    def __init__(self, parent: QWidget | None, *, base_url: str, reason: str, storage_note: str) -> None:
        super().__init__(parent)
        self.setObjectName("keyDialog")
        self.setWindowTitle("API key")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        why = QLabel(reason)
        why.setWordWrap(True)
        layout.addWidget(why)
        where = QLabel(f"API: {base_url}")
        where.setObjectName("keyBaseUrl")
        layout.addWidget(where)
        self.edit = QLineEdit()
        self.edit.setObjectName("keyEdit")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("Paste your API key")
        self.edit.setToolTip("The key from your Replify account settings. It is never written to a file.")
        layout.addWidget(self.edit)
        note = QLabel(storage_note)
        note.setWordWrap(True)
        note.setObjectName("keyStorageNote")
        layout.addWidget(note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setEnabled(False)
        self.edit.textChanged.connect(lambda text: self.ok_button.setEnabled(bool(text.strip())))

    def key(self) -> str:
        return self.edit.text().strip()
