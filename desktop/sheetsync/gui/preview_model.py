"""The sheet preview: a table model that reads cells on demand from the core's rows.

Nothing is copied: ``data()`` looks at ``SheetData.rows[row].values[column]`` when the view
asks for a visible cell, so 100,000 rows scroll like 100. During and after a sync the
results overlay the three status columns (Sync Status, Sync Message, Synced At) until the
workbook is read again from disk; the status column is coloured by status.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left
from operator import attrgetter
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from sheetsync.core import results as st
from sheetsync.core.results import RowResult
from sheetsync.core.workbook import STATUS_HEADERS, DataRow, SheetData

_Index = QModelIndex | QPersistentModelIndex
_row_number = attrgetter("number")


def _position(rows: list[DataRow], number: int) -> int | None:
    """The index of the row with this sheet row number (rows are in sheet order), or None."""
    i = bisect_left(rows, number, key=_row_number)
    return i if i < len(rows) and rows[i].number == number else None

# Translucent, so they read on a light and on a dark palette.
STATUS_COLOURS = {
    st.CREATED: QColor(46, 160, 67, 90),
    st.UPDATED: QColor(46, 160, 67, 90),
    st.REMOVED: QColor(46, 120, 200, 90),
    st.ERROR: QColor(220, 50, 50, 110),
    st.INVALID: QColor(230, 120, 20, 110),
    st.NOT_PROCESSED: QColor(220, 180, 20, 110),
    st.SKIPPED: QColor(128, 128, 128, 80),
    st.UNCHANGED: QColor(110, 140, 180, 60),  # calm: nothing to do, nothing wrong
}
CHECK_COLOUR = QColor(230, 120, 20, 60)
ATTENTION = frozenset(st.PROBLEM_STATUSES | {st.SKIPPED})
_ISO_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.time() else value.strftime("%Y-%m-%d")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return value.replace("T", " ", 1)  # the core gives dates and times as ISO text
    return str(value)


class SheetModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._sheet: SheetData | None = None
        self._status: list[int] = []  # 0-based columns of Sync Status, Message, At
        self._results: dict[int, RowResult] = {}
        self._overlay = False
        self._checks: dict[int, str] = {}  # row number -> why Validate found it invalid
        self._columns = 0

    # -- content --------------------------------------------------------------
    @property
    def sheet(self) -> SheetData | None:
        return self._sheet

    def set_sheet(self, sheet: SheetData | None) -> None:
        self.beginResetModel()
        self._sheet = sheet
        self._results = {}
        self._overlay = False
        self._checks = {}
        self._status = [c - 1 for c in sheet.status_columns()] if sheet else []
        self._columns = self._column_count()
        self.endResetModel()

    def set_checks(self, checks: dict[int, str]) -> None:
        self._checks = dict(checks)
        self._changed_all()

    def show_status_columns(self) -> None:
        """Show the status columns (added after the last one if the sheet has none yet),
        with what they hold now.

        Columns are inserted, not the model reset: a reset makes the views ask again for
        every header they size by, a stall as the sync's worker starts.
        """
        old = self._columns
        self._overlay = True
        new = self._column_count()
        if new > old:
            self.beginInsertColumns(QModelIndex(), old, new - 1)
            self._columns = new
            self.endInsertColumns()

    def begin_results(self) -> None:
        """A sync starts: the status columns show its results as they come."""
        self.show_status_columns()
        self._results = {}
        if self._status and self.rowCount():
            self.dataChanged.emit(self.index(0, min(self._status)), self.index(self.rowCount() - 1, max(self._status)))

    def add_results(self, results: list[RowResult]) -> None:
        """Show results: one dataChanged from the first of their rows to the last.

        Runs on the GUI thread ten times a second during a sync, while the worker holds
        the GIL most of the time, so it does little: the rows are in sheet order, and a
        binary search finds the first and the last (an index of every row, built as the
        first results came, stalled the window 30-70 ms).
        """
        if not results:
            return
        self._results.update((r.number, r) for r in results)
        rows = self._sheet.rows if self._sheet is not None else []
        numbers = sorted(r.number for r in results)
        top = next((i for n in numbers if (i := _position(rows, n)) is not None), None)
        if top is None or not self._status:
            return  # no row of the sheet (blank rows, contacts whose rows are gone)
        bottom = next(i for n in reversed(numbers) if (i := _position(rows, n)) is not None)
        self.dataChanged.emit(self.index(top, min(self._status)), self.index(bottom, max(self._status)))

    def _column_count(self) -> int:
        if self._sheet is None:
            return 0
        if self._overlay:
            return max(self._sheet.width, max(self._status) + 1)
        return self._sheet.width

    def _changed_all(self) -> None:
        if self.rowCount() and self.columnCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1))

    # -- reading ----------------------------------------------------------------
    def row_number(self, row: int) -> int:
        assert self._sheet is not None
        return self._sheet.rows[row].number

    def status_of(self, row: int) -> str | None:
        """The row's sync status: from this session's results, else from the sheet."""
        assert self._sheet is not None
        data_row = self._sheet.rows[row]
        result = self._results.get(data_row.number)
        if result is not None:
            return result.status
        value = data_row.get(self._status[0]) if self._status[0] < self._sheet.width else None
        return str(value).strip().casefold() if value else None

    def needs_attention(self, row: int) -> bool:
        assert self._sheet is not None
        if self._sheet.rows[row].number in self._checks:
            return True
        return self.status_of(row) in ATTENTION

    def _value(self, row: int, column: int) -> Any:
        assert self._sheet is not None
        data_row = self._sheet.rows[row]
        if column in self._status:
            result = self._results.get(data_row.number)
            if result is not None:
                which = self._status.index(column)
                return (result.status, result.message or None, result.at)[which]
        return data_row.get(column)

    def column_texts(self, rows: int) -> list[list[str]]:
        """Per column: its header and the text of its first ``rows`` cells (to size it by)."""
        count = min(rows, self.rowCount())
        return [
            [str(self.headerData(column, Qt.Orientation.Horizontal) or "")]
            + [display(self._value(row, column)) for row in range(count)]
            for column in range(self.columnCount())
        ]

    # -- Qt model -----------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() or self._sheet is None else len(self._sheet.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._columns

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._sheet is None:
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return display(self._value(row, column))
        if role == Qt.ItemDataRole.BackgroundRole:
            if self._status and column == self._status[0]:
                colour = STATUS_COLOURS.get(self.status_of(row) or "")
                if colour is not None:
                    return colour
            if self._sheet.rows[row].number in self._checks:
                return CHECK_COLOUR
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            number = self._sheet.rows[row].number
            if number in self._checks:
                return f"Row {number} will not be sent: {self._checks[number]}"
            result = self._results.get(number)
            if result is not None and result.message:
                return f"{result.status}: {result.message}"
            return None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole or self._sheet is None:
            return None
        if orientation == Qt.Orientation.Vertical:
            return str(self._sheet.rows[section].number) if section < len(self._sheet.rows) else None
        if section < self._sheet.width:
            return self._sheet.headers[section]
        if section in self._status:
            return STATUS_HEADERS[self._status.index(section)]
        return None


class ProblemsFilter(QSortFilterProxyModel):
    """"Show problems only": rows Validate found invalid, or whose status needs attention."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._enabled = False
        # Refiltered when asked (refresh), not on every dataChanged: a batch's results must
        # not cost a filter pass over 100,000 rows.
        self.setDynamicSortFilter(False)

    def set_enabled(self, enabled: bool) -> None:
        if enabled != self._enabled:
            self.beginFilterChange()
            self._enabled = enabled
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def refresh(self) -> None:
        """Statuses changed (results came back): filter again."""
        if self._enabled:
            self.beginFilterChange()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:  # noqa: N802
        if not self._enabled:
            return True
        model = self.sourceModel()
        assert isinstance(model, SheetModel)
        return model.needs_attention(source_row)
