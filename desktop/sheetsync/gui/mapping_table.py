"""The mapping: one line per column, with sample values and where the column goes."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHeaderView, QLineEdit, QTableWidget, QTableWidgetItem, QWidget

from sheetsync.core.mapping import CONTACT_FIELDS, FIELD_LABELS, ROW_FIELDS, Mapping, ResolvedMapping, Target, metadata_key_for
from sheetsync.core.workbook import SheetData

from .preview_model import display

METADATA = "contactMetadata"
IGNORE = ""
# Contact fields, metadata, then the per-row job choices (the row's action, its campaign).
CHOICES = ([(f, FIELD_LABELS[f]) for f in CONTACT_FIELDS] + [(METADATA, "Metadata")]
           + [(f, FIELD_LABELS[f]) for f in ROW_FIELDS] + [(IGNORE, "Ignore")])
CHOICE_TIPS = {
    "action": "Each row's action: upsert, update or remove (blank: the job's action). Removals are sent last.",
    "campaign": "Each row's campaign: an ID or a saved label (blank: the job's campaign).",
}
SAMPLE_ROWS = 200  # rows looked at for sample values


def sample_values(sheet: SheetData, column: int, count: int = 3) -> str:
    seen: list[str] = []
    for row in sheet.rows[:SAMPLE_ROWS]:
        text = display(row.get(column)).strip()
        if text and text not in seen:
            seen.append(text)
            if len(seen) == count:
                break
    return ", ".join(seen)


class MappingTable(QTableWidget):
    changed = Signal()

    HEADER, SAMPLES, TARGET, KEY = range(4)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setObjectName("mappingTable")
        self.setHorizontalHeaderLabels(["Column", "Sample values", "Send as", "Metadata key"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.verticalHeader().setVisible(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.horizontalHeader()
        header.setSectionResizeMode(self.HEADER, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.SAMPLES, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(self.TARGET, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.KEY, QHeaderView.ResizeMode.Interactive)
        self.setColumnWidth(self.KEY, 110)
        self.setToolTip(
            "Where each column of the sheet goes. Columns set to Ignore never leave your computer."
        )
        self._headers: list[str] = []
        self._combos: list[QComboBox] = []
        self._keys: list[QLineEdit] = []

    # -- filling ------------------------------------------------------------------
    def set_columns(self, sheet: SheetData, resolved: ResolvedMapping) -> None:
        self.setRowCount(0)
        self._headers, self._combos, self._keys = [], [], []
        columns = [c for c in resolved.columns if not sheet.is_status_column(c.index)]
        self.setRowCount(len(columns))
        for row, plan in enumerate(columns):
            self._headers.append(plan.header)
            name = QTableWidgetItem(plan.header)
            name.setToolTip(f"Column {plan.header}" + (" (mapped automatically from its header)" if plan.auto and plan.target else ""))
            self.setItem(row, self.HEADER, name)
            samples = sample_values(sheet, plan.index)
            item = QTableWidgetItem(samples)
            item.setToolTip(samples)
            self.setItem(row, self.SAMPLES, item)
            combo = QComboBox()
            combo.setObjectName(f"mapTarget:{plan.header}")
            combo.setToolTip(f"What to send the column '{plan.header}' as")
            for value, label in CHOICES:
                combo.addItem(label, value)
                if value in CHOICE_TIPS:
                    combo.setItemData(combo.count() - 1, CHOICE_TIPS[value], Qt.ItemDataRole.ToolTipRole)
            key = QLineEdit()
            key.setObjectName(f"mapKey:{plan.header}")
            key.setToolTip("The key of this value in the contact's metadata")
            target = plan.target
            combo.setCurrentIndex(combo.findData(target.field if target else IGNORE))
            key.setText(target.key if target and target.key else metadata_key_for(plan.header))
            key.setEnabled(bool(target and target.key))
            combo.currentIndexChanged.connect(lambda _i, r=row: self._target_changed(r))
            key.editingFinished.connect(self.changed.emit)
            self.setCellWidget(row, self.TARGET, combo)
            self.setCellWidget(row, self.KEY, key)
            self._combos.append(combo)
            self._keys.append(key)
        height = max(self.fontMetrics().height() + 12, 30)
        for row in range(self.rowCount()):
            self.setRowHeight(row, height)

    def _target_changed(self, row: int) -> None:
        self._keys[row].setEnabled(self._combos[row].currentData() == METADATA)
        self.changed.emit()

    # -- reading and setting ----------------------------------------------------------
    def headers(self) -> list[str]:
        return list(self._headers)

    def target_for(self, header: str) -> Target | None:
        row = self._headers.index(header)
        field = self._combos[row].currentData()
        if field == IGNORE:
            return None
        if field == METADATA:
            return Target(METADATA, self._keys[row].text().strip() or metadata_key_for(header))
        return Target(field)

    def set_target(self, header: str, field: str, key: str | None = None) -> None:
        row = self._headers.index(header)
        if key is not None:
            self._keys[row].setText(key)
        self._combos[row].setCurrentIndex(self._combos[row].findData(field))

    def combo(self, header: str) -> QComboBox:
        return self._combos[self._headers.index(header)]

    def mapping(self, base: Mapping | None = None) -> Mapping:
        """Every column's choice, as a mapping file would hold it."""
        base = base or Mapping()
        return Mapping(
            columns={h: self.target_for(h) for h in self._headers},
            sheet=base.sheet,
            header_row=base.header_row,
            external_id_key=base.external_id_key,
            external_id_value=base.external_id_value,
            action=base.action,
        )
