"""The preview repaints what changed and is visible, nothing more (see gui/sheet_view.py)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QPaintEvent, QRegion

from sheetsync.core.job import load_sheet
from sheetsync.core.results import CREATED, RowResult, now
from sheetsync.gui.preview_model import SheetModel
from sheetsync.gui.sheet_view import SheetView
from sheetsync.sandbox.workbooks import make_contacts_workbook


class CountingView(SheetView):
    """The real view; records the region of every paint."""

    def __init__(self) -> None:
        super().__init__()
        self.painted: list[QRegion] = []

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        self.painted.append(QRegion(event.region()))
        super().paintEvent(event)


def _shown(qtbot: Any, tmp_path: Any) -> tuple[CountingView, SheetModel]:
    sheet = load_sheet(make_contacts_workbook(tmp_path / "list.xlsx", 2000, styled=False)).data
    model = SheetModel()
    model.set_sheet(sheet)
    view = CountingView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(900, 400)
    view.show()
    qtbot.waitExposed(view)
    model.begin_results()
    qtbot.wait(50)
    view.painted.clear()
    return view, model


def _settle(qtbot: Any) -> None:
    qtbot.wait(60)  # a few event-loop turns: pending repaints are done


def test_results_far_below_the_visible_rows_repaint_nothing(qtbot, tmp_path):
    view, model = _shown(qtbot, tmp_path)
    far = model.sheet.rows[1500:1600]
    model.add_results([RowResult(r.number, CREATED, None, now()) for r in far])
    _settle(qtbot)
    assert view.painted == []
    assert model.status_of(1500) == CREATED  # the model has them; a scroll shows them


def test_a_visible_result_repaints_its_cells_only_and_shows(qtbot, tmp_path):
    view, model = _shown(qtbot, tmp_path)
    row = model.sheet.rows[2]
    status_col = model.sheet.status_columns()[0] - 1
    view.scrollTo(model.index(2, status_col))  # the status columns are right of the sheet's
    _settle(qtbot)
    view.painted.clear()
    model.add_results([RowResult(row.number, CREATED, "all good", now())])
    _settle(qtbot)
    assert view.painted, "a visible result must be painted"
    cell = view.visualRect(model.index(2, status_col))
    painted = QRegion()
    for region in view.painted:
        painted = painted.united(region)
    assert painted.contains(cell)
    # Only the status columns of that row, not the whole table.
    assert not painted.contains(view.visualRect(model.index(10, status_col)).center())
    assert model.data(model.index(2, status_col)) == CREATED


def test_row_numbers_fit_the_last_row_without_asking_for_every_row(qtbot, tmp_path):
    """Sized by its last row number: Qt alone asks about hundreds of rows on every load."""
    sheet = load_sheet(make_contacts_workbook(tmp_path / "list.xlsx", 2000, styled=False)).data
    asked: list[int] = []

    class Counting(SheetModel):
        def headerData(self, section, orientation, role=0):  # type: ignore[no-untyped-def]  # noqa: N802
            asked.append(section)
            return super().headerData(section, orientation, role)

    model = Counting()
    model.set_sheet(sheet)
    view = SheetView()
    qtbot.addWidget(view)
    view.setModel(model)
    header = view.verticalHeader()
    model.set_sheet(sheet)  # a reload: the header's size hint is worked out again
    asked.clear()
    width = header.sizeHint().width()
    assert width >= header.fontMetrics().horizontalAdvance(str(sheet.rows[-1].number))
    assert len(asked) <= 2, f"{len(asked)} rows asked for"


def test_a_batch_of_results_marks_the_rows_between_its_first_and_last_changed(qtbot, tmp_path):
    """Found by binary search over the rows (sheet order), with no index built on the GUI
    thread; numbers of no row in the sheet (blank rows, detached contacts) mark nothing."""
    sheet = load_sheet(make_contacts_workbook(tmp_path / "list.xlsx", 50, styled=False)).data
    del sheet.rows[10:20]  # a gap: rows the sheet skipped (blank)
    model = SheetModel()
    model.set_sheet(sheet)
    model.begin_results()
    changed: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), b.row(), a.column(), b.column())))
    status = [c - 1 for c in sheet.status_columns()]
    picked = [sheet.rows[30], sheet.rows[5], sheet.rows[12]]
    model.add_results([RowResult(r.number, CREATED, None, now()) for r in picked])
    assert changed == [(5, 30, min(status), max(status))]
    gone = sheet.rows[9].number + 1  # in the gap
    model.add_results([RowResult(gone, CREATED, None, now()), RowResult(-3, CREATED, None, now())])
    assert changed[1:] == []
    assert [model.status_of(i) for i in (30, 5, 12)] == [CREATED] * 3
