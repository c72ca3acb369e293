"""The preview table, painted in one go while a sync runs on the worker thread.

A paint of the table calls the model's ``data()`` a thousand times or more (every visible
cell, for several roles), and the vertical and horizontal headers call ``headerData()`` for
their sections. Dispatched by Qt's event loop, every one of those Python calls has to take
the GIL on its own, and while the worker thread is busy (reconciling answers, writing the
results back) each of them waits for the worker to let go: a paint that takes 15 ms on an
idle process took 100 ms and more, and the window stalled.

Two things keep that cheap. The paint is entered from Python (``paintEvent`` overridden),
so the GUI thread holds the GIL as it starts painting rather than taking it afresh for the
first of many calls. And a change of data repaints only the visible cells it touches:
Qt's own handler repaints the whole viewport for any change of more than one cell, so
results arriving for rows far below the visible ones repainted the table ten times a
second for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QHeaderView, QStyle, QTableView, QWidget


class _Header(QHeaderView):
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)


class _RowNumbers(_Header):
    """The vertical header, as wide as its last (largest) row number.

    Qt would measure hundreds of sections for its size hint, four ``headerData()`` calls
    each, every time the sheet is (re)loaded.
    """

    def sizeHint(self) -> QSize:  # noqa: N802
        model, count = self.model(), self.count()
        if model is None or count == 0:
            return super().sizeHint()
        text = str(model.headerData(self.logicalIndex(count - 1), Qt.Orientation.Vertical) or count)
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, self)
        return QSize(self.fontMetrics().horizontalAdvance(text) + 2 * margin + 6, self.defaultSectionSize())


class SheetView(QTableView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        horizontal = _Header(Qt.Orientation.Horizontal, self)
        horizontal.setSectionsClickable(True)
        horizontal.setHighlightSections(True)
        self.setHorizontalHeader(horizontal)
        vertical = _RowNumbers(Qt.Orientation.Vertical, self)
        vertical.setSectionsClickable(True)
        vertical.setHighlightSections(True)
        self.setVerticalHeader(vertical)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)

    def dataChanged(self, top_left: QModelIndex | QPersistentModelIndex,  # noqa: N802
                    bottom_right: QModelIndex | QPersistentModelIndex, roles: Sequence[int] = ()) -> None:
        """Repaint the visible part of the changed range, and nothing if none of it is visible."""
        if (not top_left.isValid() or not bottom_right.isValid() or top_left.parent() != self.rootIndex()
                or self.isRightToLeft() or self.horizontalHeader().sectionsMoved()
                or self.verticalHeader().sectionsMoved()):
            # rowAt/columnAt give logical sections; the rectangle below assumes they run in
            # order, left to right: otherwise Qt repaints as it would
            super().dataChanged(top_left, bottom_right, roles)
            return
        port = self.viewport().rect()
        first_row = self.rowAt(port.top())
        last_row = self.rowAt(port.bottom())
        first_col = self.columnAt(port.left())
        last_col = self.columnAt(port.right())
        model = self.model()
        if last_row < 0:
            last_row = model.rowCount(self.rootIndex()) - 1
        if last_col < 0:
            last_col = model.columnCount(self.rootIndex()) - 1
        rows = (max(top_left.row(), first_row), min(bottom_right.row(), last_row))
        cols = (max(top_left.column(), first_col), min(bottom_right.column(), last_col))
        if first_row < 0 or first_col < 0 or rows[0] > rows[1] or cols[0] > cols[1]:
            return
        top = self.visualRect(model.index(rows[0], cols[0], self.rootIndex()))
        bottom = self.visualRect(model.index(rows[1], cols[1], self.rootIndex()))
        self.viewport().update(QRect(top.topLeft(), bottom.bottomRight()) | top | bottom)
