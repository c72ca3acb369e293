"""Progress of a sync: rows done / total, batches, rate, time left, and Cancel."""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressPanel(QWidget):
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setObjectName("syncProgress")
        # No text on the bar: QProgressBar repaints synchronously on setValue() when it shows
        # text, which redraws the window mid-sync (measured: 100-200 ms stalls at 100k rows).
        # The label beside it says "rows done of total" and updates lazily.
        self.bar.setTextVisible(False)
        self.bar.setMinimumWidth(260)
        self.detail = QLabel()
        self.detail.setObjectName("syncDetail")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancelButton")
        self.cancel.setToolTip("Stop after the batches already sent (Esc); their results are still written back")
        self.cancel.clicked.connect(lambda _checked=False: self.cancel_requested.emit())
        layout.addWidget(self.bar, 2)
        layout.addWidget(self.detail, 3)
        layout.addWidget(self.cancel)
        self.rows = self.total = self.batches = 0
        self._started = 0.0

    def prepare(self, text: str) -> None:
        """Shown as a sync is asked for, busy until ``start`` knows the total."""
        self.rows = self.total = self.batches = 0
        self.bar.setRange(0, 0)
        self.detail.setText(text)
        self.cancel.setEnabled(False)  # the check before a sync takes a moment and sends nothing
        self.setVisible(True)

    def start(self, total: int, what: str = "Sending") -> None:
        self.rows, self.total, self.batches = 0, total, 0
        self._started = time.monotonic()
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(0)
        self.detail.setText(f"{what} {total:,} contacts...")
        self.cancel.setEnabled(True)
        self.setVisible(True)

    def advance(self, rows: int) -> None:
        self.rows += rows
        self.batches += 1
        self.bar.setValue(min(self.rows, self.bar.maximum()))
        elapsed = max(time.monotonic() - self._started, 1e-3)
        rate = self.rows / elapsed
        left = (self.total - self.rows) / rate if rate > 0 else 0
        self.detail.setText(
            f"{self.rows:,} of {self.total:,} rows · {self.batches:,} batches · "
            f"{rate:,.0f} rows/s · about {duration(left)} left"
        )

    def cancelling(self) -> None:
        self.cancel.setEnabled(False)
        self.detail.setText("Cancelling: waiting for the batches already sent...")

    def saving(self) -> None:
        self.cancel.setEnabled(False)
        self.bar.setRange(0, 0)  # busy
        self.detail.setText("Writing the results into the workbook...")

    def finish(self) -> None:
        self.bar.setRange(0, max(self.total, 1))
        self.bar.setValue(min(self.rows, self.bar.maximum()))
        self.setVisible(False)
