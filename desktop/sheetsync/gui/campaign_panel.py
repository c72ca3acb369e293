"""Campaign ID (checked as you type), recent campaigns, action, external ID, batch size."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from sheetsync.core.engine import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, JobOptions, validate_campaign_id
from sheetsync.core.errors import JobConfigError
from sheetsync.core.settings import RecentCampaign

ACTION_LABELS = [
    ("upsert", "Add or update"),
    ("updateOnly", "Update existing only"),
    ("remove", "Remove from the campaign"),
]


class CampaignPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.recent = QComboBox()
        self.recent.setObjectName("recentCampaigns")
        self.recent.setToolTip("Campaigns you synced to before")
        self.recent.activated.connect(self._recent_chosen)
        form.addRow("&Recent:", self.recent)

        self.campaign = QLineEdit()
        self.campaign.setObjectName("campaignId")
        self.campaign.setPlaceholderText("e.g. 3f2b8c1e-4d5a-4b6c-8e9f-0a1b2c3d4e5f")
        self.campaign.setToolTip("The campaign's ID (a UUID): copy it from the campaign's page")
        self.campaign.textChanged.connect(self._check)
        form.addRow("&Campaign ID:", self.campaign)
        self.check = QLabel()
        self.check.setObjectName("campaignCheck")
        self.check.setWordWrap(True)
        form.addRow("", self.check)

        self.label = QLineEdit()
        self.label.setObjectName("campaignLabel")
        self.label.setPlaceholderText("optional, e.g. Spring webinar")
        self.label.setToolTip("A name to find this campaign again among the recent ones")
        form.addRow("&Label:", self.label)

        self.action = QComboBox()
        self.action.setObjectName("action")
        for value, text in ACTION_LABELS:
            self.action.addItem(text, value)
        self.action.setToolTip("Add or update contacts, update only those already in the campaign, or remove them")
        self.action.currentIndexChanged.connect(lambda _i: self.changed.emit())
        form.addRow("&Action:", self.action)

        self.more = QToolButton()
        self.more.setObjectName("advancedToggle")
        self.more.setText("Advanced")
        self.more.setCheckable(True)
        self.more.setArrowType(Qt.ArrowType.RightArrow)
        self.more.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more.setToolTip("External ID for the whole request, batch size")
        self.more.toggled.connect(self._show_advanced)
        form.addRow(self.more)

        self.ext_key = QLineEdit()
        self.ext_key.setObjectName("externalIdKey")
        self.ext_key.setPlaceholderText("optional, e.g. hubspotListId")
        self.ext_key.setToolTip("External ID key sent with every request (give the value too)")
        self.ext_value = QLineEdit()
        self.ext_value.setObjectName("externalIdValue")
        self.ext_value.setPlaceholderText("value")
        self.ext_value.setToolTip("External ID value sent with every request")
        ext = QWidget()
        row = QHBoxLayout(ext)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.ext_key, 2)
        row.addWidget(self.ext_value, 1)
        form.addRow("&External ID:", ext)

        self.batch = QSpinBox()
        self.batch.setObjectName("batchSize")
        self.batch.setRange(1, MAX_BATCH_SIZE)
        self.batch.setValue(DEFAULT_BATCH_SIZE)
        self.batch.setToolTip("Contacts per request (the server may ask for smaller batches)")
        form.addRow("&Batch size:", self.batch)
        self.send_all = QCheckBox("Send all rows")
        self.send_all.setObjectName("sendAll")
        self.send_all.setToolTip("Also send the rows unchanged since their last successful sync "
                                 "(by default only new, changed and failed rows are sent)")
        form.addRow("", self.send_all)

        self.missing = QLabel()
        self.missing.setObjectName("missingContacts")
        self.missing.setWordWrap(True)
        self.remove_missing = QCheckBox("Remove them from the campaign")
        self.remove_missing.setObjectName("removeMissing")
        self.remove_missing.setToolTip("Contacts synced from this sheet before whose rows are gone: remove them "
                                       "from the campaign with this sync (you are asked to confirm)")
        form.addRow(self.missing)
        form.addRow(self.remove_missing)
        self._form = form
        self._advanced = [ext, self.batch, self.send_all]
        self.set_missing(0)
        self._recent: list[RecentCampaign] = []
        self._show_advanced(False)
        self._check("")

    # -- recent campaigns -------------------------------------------------------------
    def set_recent(self, recent: list[RecentCampaign]) -> None:
        self._recent = list(recent)
        self.recent.clear()
        self.recent.addItem("Choose a recent campaign..." if recent else "No recent campaigns", None)
        for item in recent:
            self.recent.addItem(f"{item.label}  ({item.id})" if item.label else item.id, item.id)
        self.recent.setEnabled(bool(recent))

    def _recent_chosen(self, index: int) -> None:
        campaign_id = self.recent.itemData(index)
        if not campaign_id:
            return
        chosen = next((c for c in self._recent if c.id == campaign_id), None)
        self.campaign.setText(campaign_id)
        self.label.setText(chosen.label if chosen else "")

    # -- checks -------------------------------------------------------------------------
    def _check(self, text: str) -> None:
        if not text.strip():
            self.check.setText("Paste the campaign ID from the campaign's page.")
            self.check.setStyleSheet("")
        else:
            try:
                validate_campaign_id(text)
            except JobConfigError:
                self.check.setText("✗ Not a campaign ID yet: it looks like 8-4-4-4-12 hex digits.")
                self.check.setStyleSheet("color: #d03030;")
            else:
                self.check.setText("✓ Valid campaign ID")
                self.check.setStyleSheet("color: #2e9e43;")
        self.changed.emit()

    def campaign_ok(self) -> bool:
        try:
            validate_campaign_id(self.campaign.text())
        except JobConfigError:
            return False
        return True

    def _show_advanced(self, shown: bool) -> None:
        self.more.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        for widget in self._advanced:
            self._form.setRowVisible(widget, shown)

    def set_missing(self, count: int) -> None:
        """After Validate: how many contacts synced from this sheet before are gone (opt-in removal)."""
        shown = count > 0
        self.missing.setText(f"{count:,} contact(s) are no longer in the sheet." if shown else "")
        self._form.setRowVisible(self.missing, shown)
        self._form.setRowVisible(self.remove_missing, shown)
        if not shown:
            self.remove_missing.setChecked(False)

    # -- values ---------------------------------------------------------------------------
    def set_action(self, action: str | None) -> None:
        if action:
            self.action.setCurrentIndex(max(0, self.action.findData(action)))

    def options(self, concurrency: int) -> JobOptions:
        """The job options, checked (raises JobConfigError with what to fix)."""
        return JobOptions(
            campaign_id=self.campaign.text(),
            action=self.action.currentData(),
            batch_size=self.batch.value(),
            concurrency=concurrency,
            external_id_key=self.ext_key.text().strip() or None,
            external_id_value=self.ext_value.text().strip() or None,
        ).validated()
