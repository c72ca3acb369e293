"""The whole workflow on the sample workbook, against the real local API."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
from PySide6.QtCore import Qt

from sheetsync.core.credentials import SERVICE
from sheetsync.gui.preview_model import CHECK_COLOUR
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID

from .conftest import open_and_wait, prompts


def statuses(path: Path, sheet: str = "Contacts") -> dict[int, str | None]:
    wb = openpyxl.load_workbook(path, read_only=True)
    ws = wb[sheet]
    rows = list(ws.iter_rows(values_only=True))
    wb.close()
    header = list(rows[0])
    col = header.index("Sync Status")
    return {i + 1: row[col] for i, row in enumerate(rows) if i > 0 and any(v is not None for v in row[:4])}


def test_whole_flow(qtbot, make_window, workbook, sandbox, memory_keyring):
    window = make_window(base_url=sandbox.base_url)
    fake = prompts(window)
    fake.key_answer = DEMO_API_KEY  # the first sync has no key yet: it is asked for

    open_and_wait(qtbot, window, workbook)
    assert window.windowTitle().startswith("contacts.xlsx")
    assert window.model.rowCount() == 20

    # Auto-mapped on open.
    assert window.mapping.combo("E-mail Address").currentData() == "email"
    assert window.mapping.combo("Mobile Phone").currentData() == "phone"
    assert window.mapping.combo("Notes").currentData() == ""  # ignored
    # Change one mapping: Plan Tier goes to the metadata under the key "tier".
    window.mapping.set_target("Plan Tier", "contactMetadata", "tier")
    saved = window.store.settings.mappings
    assert any(m["columns"]["Plan Tier"] == "contactMetadata.tier" for m in saved.values())

    qtbot.keyClicks(window.campaign.campaign, DEMO_CAMPAIGN_ID)
    assert "Valid" in window.campaign.check.text()
    assert window.sync_button.isEnabled()

    # Validate: counts, invalid row highlighted with its reason, the first contact's JSON.
    with qtbot.waitSignal(window.sync.checked, timeout=10_000):
        qtbot.mouseClick(window.validate_button, Qt.MouseButton.LeftButton)
    report = window.report.toPlainText()
    assert "19 contact(s) to send · 1 invalid · 1 duplicate" in report
    assert "Row 10: email 'not an email' is not a valid address" in report
    first = json.loads(report.split("Row 2:\n", 1)[1])
    assert first["email"] == "jane.doe@example.com"
    assert "tier" in first["contactMetadata"]
    row10 = next(r for r in range(window.model.rowCount()) if window.model.row_number(r) == 10)
    assert window.model.data(window.model.index(row10, 0), Qt.ItemDataRole.BackgroundRole) == CHECK_COLOUR
    assert "not a valid address" in window.model.data(window.model.index(row10, 0), Qt.ItemDataRole.ToolTipRole)
    assert sandbox.requests == []  # nothing sent

    # Sync: the signals in order.
    seen: list[tuple] = []
    sync = window.sync
    sync.started.connect(lambda total: seen.append(("started", total)))
    sync.progressed.connect(lambda done, total: seen.append(("progressed", done, total)))
    sync.finished.connect(lambda summary: seen.append(("finished",)))
    sync.saved.connect(lambda path: seen.append(("saved", path)))
    with qtbot.waitSignals([sync.started, sync.progressed, sync.finished, sync.saved], order="simple", timeout=30_000):
        qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert seen[0] == ("started", 19)
    progress = [s for s in seen if s[0] == "progressed"]
    assert [s[0] for s in seen] == ["started"] + ["progressed"] * len(progress) + ["finished", "saved"]
    done = [s[1] for s in progress]
    assert done == sorted(done) and done[-1] == 19
    assert ("ask_key" in [c for c, _ in fake.calls])
    assert memory_keyring.passwords[(SERVICE, sandbox.base_url.rstrip("/").lower())] == DEMO_API_KEY

    # Results summary, and the workbook on disk.
    summary = window.results.summary.text()
    assert "created" in summary and "1 invalid" in summary and "Results written into contacts.xlsx" in summary
    on_disk = statuses(workbook)
    assert len(on_disk) == 20 and all(on_disk.values())
    assert on_disk[10] == "invalid"
    # Rows 12 and 17 ask for a stopped status (completed, disqualified): the server refuses them.
    assert on_disk[12] == on_disk[17] == "error"
    assert {s for n, s in on_disk.items() if n not in (10, 12, 17)} <= {"created", "updated"}
    jane = sandbox.find("jane.doe@example.com", DEMO_CAMPAIGN_ID)
    assert jane is not None and "tier" in (jane.get("contactMetadata") or {})

    # The preview is read again from disk, with the status columns; problems only.
    qtbot.waitUntil(lambda: "Sync Status" in window.model.sheet.headers, timeout=10_000)
    window.results.problems_only.setChecked(True)
    assert sorted(window.model.row_number(window.proxy.mapToSource(window.proxy.index(r, 0)).row())
                  for r in range(window.proxy.rowCount())) == [10, 12, 17]
    window.results.problems_only.setChecked(False)
    assert window.preview.model().rowCount() == 20
    assert window.results.retry.isEnabled()  # the two refused rows can be sent again
