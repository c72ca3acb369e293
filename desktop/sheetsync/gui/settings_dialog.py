"""Settings (Ctrl+,): API base URL, default phone region, the API key (keyring only)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sheetsync.core.client import DEFAULT_BASE_URL, check_base_url
from sheetsync.core.credentials import KeyStatus
from sheetsync.core.engine import MAX_CONCURRENCY
from sheetsync.core.errors import JobConfigError
from sheetsync.core.phones import is_known_region
from sheetsync.core.settings import Settings


@dataclass
class SettingsChoice:
    base_url: str
    region: str
    concurrency: int
    new_key: str  # "" = keep the stored key
    remove_key: bool


def key_status_text(status: KeyStatus) -> str:
    where = {
        "environment": "from the SHEETSYNC_API_KEY environment variable",
        "keyring": f"stored in {status.keyring_name}",
        "session": "kept for this session only (no system keyring)",
    }
    if status.source is None:
        state = "No key is set yet."
    else:
        state = f"A key is set, {where[status.source]}."
    if not status.keyring_ok:
        state += " No system keyring works here: a new key is kept for this session only."
    return state


class SettingsDialog(QDialog):
    def __init__(self, parent: QWidget | None, settings: Settings, key_status: KeyStatus, *, demo: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._remove = False
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.base_url = QLineEdit(settings.base_url)
        self.base_url.setObjectName("baseUrl")
        self.base_url.setPlaceholderText(DEFAULT_BASE_URL)
        self.base_url.setToolTip("The campaign API's address (https)")
        form.addRow("API &base URL:", self.base_url)
        if demo:
            note = QLabel("The demo uses its own local API; this address applies outside the demo.")
            note.setWordWrap(True)
            form.addRow("", note)
        self.region = QLineEdit(settings.region)
        self.region.setObjectName("region")
        self.region.setMaxLength(2)
        self.region.setToolTip("Country for phone numbers written without +country code, e.g. US, GB, DE")
        form.addRow("Default phone &region:", self.region)
        self.concurrency = QSpinBox()
        self.concurrency.setObjectName("concurrency")
        self.concurrency.setRange(1, MAX_CONCURRENCY)
        self.concurrency.setValue(settings.concurrency)
        self.concurrency.setToolTip("Requests sent at once (fewer when the server asks to slow down)")
        form.addRow("Requests in &flight:", self.concurrency)
        self.key = QLineEdit()
        self.key.setObjectName("apiKey")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("•••••••• (unchanged)" if key_status.has_key else "Paste your API key")
        self.key.setToolTip("Stored only in the system keyring, never in a file")
        self.remove = QPushButton("Remove key")
        self.remove.setObjectName("removeKey")
        self.remove.setToolTip("Delete the stored API key for this base URL")
        self.remove.setEnabled(key_status.source in ("keyring", "session"))
        self.remove.clicked.connect(self._remove_key)
        row = QHBoxLayout()
        row.addWidget(self.key, 1)
        row.addWidget(self.remove)
        form.addRow("API &key:", row)
        self.key_state = QLabel(key_status_text(key_status))
        self.key_state.setObjectName("keyState")
        self.key_state.setWordWrap(True)
        form.addRow("", self.key_state)
        self.problem = QLabel()
        self.problem.setObjectName("settingsProblem")
        self.problem.setStyleSheet("color: #d03030;")
        self.problem.setWordWrap(True)
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _remove_key(self) -> None:
        self._remove = True
        self.key.clear()
        self.remove.setEnabled(False)
        self.key_state.setText("The key will be removed when you press OK.")

    def accept(self) -> None:
        try:
            check_base_url(self.base_url.text() or DEFAULT_BASE_URL)
            if not is_known_region(self.region.text().strip().upper()):
                raise JobConfigError("Use a two-letter country code for the phone region, such as US, GB or DE.")
        except JobConfigError as exc:
            self.problem.setText(str(exc))
            self.problem.show()
            return
        super().accept()

    def choice(self) -> SettingsChoice:
        return SettingsChoice(
            base_url=(self.base_url.text().strip() or DEFAULT_BASE_URL).rstrip("/"),
            region=self.region.text().strip().upper(),
            concurrency=self.concurrency.value(),
            new_key=self.key.text().strip(),
            remove_key=self._remove,
        )
