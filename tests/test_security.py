"""The API key never lands in a file the app writes; server text is never a formula."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import openpyxl

from sheetsync.sandbox import DEMO_CAMPAIGN_ID, SandboxApi

KEY = "sk-live-SECRET-0123456789abcdef"
WRONG = "sk-live-WRONG-fedcba9876543210"


def run(args: list[str], key: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SHEETSYNC_API_KEY=key, SHEETSYNC_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "sheetsync", "--debug", *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_the_key_is_in_no_file_the_app_writes(contacts_1k: Path, app_home: Path, tmp_path: Path) -> None:
    with SandboxApi(api_key=KEY, campaigns=[DEMO_CAMPAIGN_ID]) as api:
        base = ["sync", str(contacts_1k), "--campaign", DEMO_CAMPAIGN_ID, "--base-url", api.base_url, "--all"]
        assert run(base, KEY, app_home).returncode == 0
        assert run(base, WRONG, app_home).returncode == 3  # a refused key: error paths log too
        api.faults.fail_next = ["text-error", 500, "not-json"]
        run(base + ["--batch-size", "300"], KEY, app_home)
        # A save that fails writes a results file and keeps the journal: check those too.
        api.faults.latency = 0.2
        env = dict(os.environ, SHEETSYNC_API_KEY=KEY, SHEETSYNC_HOME=str(app_home))
        seen = len(api.requests)
        proc = subprocess.Popen([sys.executable, "-m", "sheetsync", *base, "--concurrency", "1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while len(api.requests) < seen + 2:
            time.sleep(0.01)
        os.utime(contacts_1k)
        _, err = proc.communicate(timeout=120)
        assert "changed on disk" in err and KEY not in err
    written = [p for p in [*app_home.rglob("*"), *contacts_1k.parent.rglob("*")] if p.is_file()]
    kinds = {p.suffix for p in written}
    assert {".xlsx", ".json", ".log"} <= kinds, kinds  # workbook, settings/results, log
    for path in written:
        data = path.read_bytes()
        assert KEY.encode() not in data and WRONG.encode() not in data, path


def test_formula_looking_server_text_is_written_as_text(tmp_path: Path, sandbox: SandboxApi, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sheetsync.cli import main
    from sheetsync.sandbox import DEMO_API_KEY

    monkeypatch.setenv("SHEETSYNC_API_KEY", DEMO_API_KEY)
    wb = openpyxl.Workbook()
    wb.active.append(["Email", "Status"])
    for i, status in enumerate(["=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)"]):
        wb.active.append([f"f{i}@example.com", status])
    path = tmp_path / "f.xlsx"
    wb.save(path)
    sandbox.faults.fail_next = ["text-error"]
    main(["sync", str(path), "--campaign", DEMO_CAMPAIGN_ID, "--base-url", sandbox.base_url])
    ws = openpyxl.load_workbook(path).active
    for row in range(2, 6):
        cell = ws.cell(row, 4)
        assert cell.data_type == "s" and isinstance(cell.value, str)
    # A second pass with a server message that starts with "=" directly in the writer:
    from sheetsync.core.job import ResultBook, save_results
    from sheetsync.core.results import RowResult
    from sheetsync.core.workbook import read_sheet

    data = read_sheet(path)
    book = ResultBook({2: RowResult(2, "=cmd|' /C calc'!A0", "=1+1", None)})
    save_results(data, book)
    ws = openpyxl.load_workbook(path).active
    assert ws["C2"].value == "=cmd|' /C calc'!A0" and ws["C2"].data_type == "s"
    assert ws["D2"].value == "=1+1" and ws["D2"].data_type == "s"


def test_tls_verification_cannot_be_switched_off() -> None:
    import inspect

    from sheetsync.core import client

    assert "verify" not in inspect.signature(client.ContactsApi).parameters
    source = Path(client.__file__).read_text()
    assert "verify=False" not in source
