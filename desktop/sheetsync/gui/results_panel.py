"""After a check or a sync: the summary and what to do next."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

from sheetsync.core import results as st
from sheetsync.core.results import Summary

ORDER = [
    (st.CREATED, "created"),
    (st.UPDATED, "updated"),
    (st.REMOVED, "removed"),
    (st.UNCHANGED, "unchanged"),
    (st.ERROR, "errors"),
    (st.INVALID, "invalid"),
    (st.NOT_PROCESSED, "not processed"),
    (st.SKIPPED, "not sent"),
]


def summary_text(summary: Summary) -> str:
    parts = [f"{summary.counts.get(s, 0):,} {label}" for s, label in ORDER if summary.counts.get(s) or s in (st.CREATED, st.UPDATED, st.ERROR)]
    known = {s for s, _ in ORDER}
    parts += [f"{n:,} {s}" for s, n in sorted(summary.counts.items()) if s not in known and n]
    return " · ".join(parts)


class ResultsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("Open a workbook, check the mapping and the campaign, then Sync.")
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.problems_only = QCheckBox("Show problems only")
        self.problems_only.setObjectName("problemsOnly")
        self.problems_only.setToolTip("Show only the rows that were not accepted or will not be sent (Ctrl+E)")
        self.retry = QPushButton("Retry failed rows")
        self.retry.setObjectName("retryButton")
        self.retry.setToolTip("Send again the rows that failed or were not sent (Ctrl+R)")
        self.retry.setEnabled(False)
        self.export_problems = QPushButton("Export problems...")
        self.export_problems.setObjectName("exportProblemsButton")
        self.export_problems.setToolTip("Write the rows with problems to a new workbook, to fix them there and sync it")
        self.export_problems.setVisible(False)
        self.open_excel = QPushButton("Open in Excel")
        self.open_excel.setObjectName("openExcelButton")
        self.open_excel.setToolTip("Open the workbook in the default app for .xlsx files (Ctrl+Shift+O)")
        self.open_excel.setEnabled(False)
        layout.addWidget(self.summary, 1)
        layout.addWidget(self.problems_only)
        layout.addWidget(self.retry)
        layout.addWidget(self.export_problems)
        layout.addWidget(self.open_excel)

    def show_summary(self, summary: Summary, where: str) -> None:
        self.summary.setText(f"<b>{summary_text(summary)}</b><br>{where}")
        self.retry.setEnabled(summary.problems > 0 or summary.counts.get(st.SKIPPED, 0) > 0)

    def show_text(self, text: str) -> None:
        self.summary.setText(text)

    def add_lines(self, title: str, lines: list[str], limit: int = 5) -> None:
        """A few more lines under the summary (e.g. the contacts removed because their rows are gone)."""
        shown = [html.escape(line) for line in lines[:limit]]
        if len(lines) > limit:
            shown.append(f"... and {len(lines) - limit:,} more (in the log)")
        self.summary.setText(f"{self.summary.text()}<br>{html.escape(title)} {'; '.join(shown)}")
