"""The command line end to end: a real subprocess, the real local API, real workbooks."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from sheetsync.core.writeback import sheet_part_name
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

OTHER_CAMPAIGN = "0b9f3c52-2f0e-4a43-9d51-6c8e2b1f7a10"


def cli(*args: str | Path, key: str | None = DEMO_API_KEY, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if key is not None:
        env["SHEETSYNC_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "sheetsync", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )


def sync_args(workbook: Path, sandbox: SandboxApi, *extra: str) -> list[str | Path]:
    return ["sync", workbook, "--campaign", DEMO_CAMPAIGN_ID, "--base-url", sandbox.base_url, *extra]


def cell_values(path: Path, sheet: str) -> list[tuple[object, ...]]:
    wb = openpyxl.load_workbook(path)
    return [tuple(c.value for c in row) for row in wb[sheet].iter_rows()]


def test_sync_1000_rows_end_to_end(contacts_1k: Path, sandbox: SandboxApi, app_home: Path) -> None:
    before_values = cell_values(contacts_1k, "Contacts")
    before_summary = cell_values(contacts_1k, "Summary")
    with zipfile.ZipFile(contacts_1k) as z:
        before_parts = {n: z.read(n) for n in z.namelist()}
    sheet_part = sheet_part_name(contacts_1k, "Contacts")

    result = cli(*sync_args(contacts_1k, sandbox, "--batch-size", "50"))
    assert result.returncode == 0, result.stderr
    assert "1000 created" in result.stdout
    # Written during the sync by the second process (core.writeahead), nothing left beside it.
    log_text = "".join(p.read_text() for p in (app_home / "logs").glob("*.log"))
    assert f"the copy written during the sync replaced {contacts_1k.name}" in log_text, log_text[-2000:]
    assert not [p for p in contacts_1k.parent.iterdir() if p.name.startswith(".~")]

    # Every row's status, in the workbook.
    wb = openpyxl.load_workbook(contacts_1k)
    ws = wb["Contacts"]
    header = [c.value for c in ws[1]]
    assert header[12:15] == ["Sync Status", "Sync Message", "Synced At"]
    statuses = [row[12] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert statuses == ["created"] * 1000
    assert all(row[14] is not None and row[14].year >= 2026 for row in ws.iter_rows(min_row=2, values_only=True))
    assert ws["O2"].is_date
    # The server holds every contact once, with the mapped fields only (no private notes).
    stored = sandbox.contacts(DEMO_CAMPAIGN_ID)
    assert len(stored) == 1000
    assert all(sandbox.processed_count(f"user{i}@example.com") == 1 for i in range(0, 1000, 37))
    assert not any("private" in json.dumps(r.body) for r in sandbox.requests)
    # Nothing else changed: the original cells, the formula sheet, every other part.
    after_values = cell_values(contacts_1k, "Contacts")
    assert [row[:12] for row in after_values] == [row[:12] for row in before_values]
    assert cell_values(contacts_1k, "Summary") == before_summary
    filter_name = re.compile(rb'<definedName name="_xlnm._FilterDatabase"[^>]*>[^<]*</definedName>')
    with zipfile.ZipFile(contacts_1k) as z:
        for name, data in before_parts.items():
            if name == "xl/workbook.xml":  # only the autofilter's range name may grow
                assert filter_name.sub(b"", z.read(name)) == filter_name.sub(b"", data)
            elif name not in (sheet_part, "xl/styles.xml"):
                assert z.read(name) == data, name

    # The round trip: sync again, same columns reused; nothing changed, so nothing is sent.
    again = cli(*sync_args(contacts_1k, sandbox))
    assert again.returncode == 0, again.stderr
    ws = openpyxl.load_workbook(contacts_1k)["Contacts"]
    assert [c.value for c in ws[1]][12:] == ["Sync Status", "Sync Message", "Synced At"]
    assert {row[12] for row in ws.iter_rows(min_row=2, values_only=True)} == {"unchanged"}
    # With --all, every row is sent again and updated.
    again = cli(*sync_args(contacts_1k, sandbox, "--all"))
    assert again.returncode == 0, again.stderr
    ws = openpyxl.load_workbook(contacts_1k)["Contacts"]
    assert {row[12] for row in ws.iter_rows(min_row=2, values_only=True)} == {"updated"}
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 1000


def test_problem_rows_exit_1_and_are_explained(tmp_path: Path, sandbox: SandboxApi) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", "Email", "Phone", "Notes"])
    ws.append(["Ok", "ok@example.com", "", ""])
    ws.append(["Bad", "nope", "", ""])
    ws.append(["Dup", "ok@example.com", "", ""])
    ws.append([None, None, None, None])  # blank row: skipped
    ws.append(["Formula", "=\"f\"&\"@example.com\"", "", ""])
    path = tmp_path / "p.xlsx"
    wb.save(path)
    result = cli(*sync_args(path, sandbox))
    assert result.returncode == 1
    assert "row 3: invalid: email 'nope' is not a valid address" in result.stdout
    ws = openpyxl.load_workbook(path).active
    assert [ws.cell(r, 5).value for r in range(2, 5)] == ["created", "invalid", "updated"]
    assert "same email as row 2" in ws.cell(4, 6).value
    assert ws.cell(5, 5).value is None  # the blank row is left alone


def test_dry_run_sends_nothing(contacts_1k: Path, sandbox: SandboxApi) -> None:
    before = contacts_1k.read_bytes()
    result = cli(*sync_args(contacts_1k, sandbox, "--dry-run"), key=None)
    assert result.returncode == 0, result.stderr
    assert "1,000 contact(s) would be sent with action upsert" in result.stdout
    first = json.loads(result.stdout[result.stdout.index("{"):])
    assert first == {"firstName": "First0", "lastName": "Last0", "email": "user0@example.com", "phone": "12122010000"}
    assert sandbox.requests == []
    assert contacts_1k.read_bytes() == before


def test_inspect_prints_a_mapping_file_the_sync_accepts(contacts_1k: Path, sandbox: SandboxApi, tmp_path: Path) -> None:
    result = cli("inspect", contacts_1k)
    assert result.returncode == 0, result.stderr
    mapping = json.loads(result.stdout)
    assert mapping["columns"]["E-mail Address"] == "email"
    assert mapping["columns"]["Notes"] is None
    mapping["columns"]["Plan Tier"] = "contactMetadata.tier"
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping))
    result = cli(*sync_args(contacts_1k, sandbox, "--mapping", path))
    assert result.returncode == 0, result.stderr
    assert sandbox.find("user1@example.com")["contactMetadata"] == {"tier": "pro"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "missing.xlsx", "--campaign", DEMO_CAMPAIGN_ID], "does not exist"),
        (["sync", "{book}", "--campaign", "not-a-uuid"], "is not a campaign ID"),
        (["sync", "{book}", "--campaign", DEMO_CAMPAIGN_ID, "--sheet", "Nope"], "There is no sheet named 'Nope'"),
        (["sync", "{book}", "--campaign", DEMO_CAMPAIGN_ID, "--base-url", "http://api.example.com/v1"], "https"),
        (["sync", "{book}", "--campaign", DEMO_CAMPAIGN_ID, "--mapping", "{bad_mapping}"], "not valid JSON"),
        (["sync", "{book}", "--campaign", DEMO_CAMPAIGN_ID, "--region", "XX"], "not a phone region"),
        (["sync", "{text}", "--campaign", DEMO_CAMPAIGN_ID], "not a valid Excel workbook"),
        (["sync", "{book}", "--campaign", DEMO_CAMPAIGN_ID, "--batch-size", "0"], "batch size"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, contacts_1k: Path, args: list[str], message: str) -> None:
    bad_mapping = tmp_path / "bad.json"
    bad_mapping.write_text("{nope")
    text = tmp_path / "notes.xlsx"
    text.write_text("just text")
    filled = [a.format(book=contacts_1k, bad_mapping=bad_mapping, text=text) for a in args]
    result = cli(*filled)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_no_key_is_a_clear_error(contacts_1k: Path, sandbox: SandboxApi) -> None:
    result = cli(*sync_args(contacts_1k, sandbox), key=None)
    assert result.returncode == 2
    assert "No API key is set" in result.stderr and "sheetsync key set" in result.stderr


def test_refused_key_exits_3_and_marks_rows_not_sent(contacts_1k: Path, sandbox: SandboxApi) -> None:
    result = cli(*sync_args(contacts_1k, sandbox), key="wrong-key")
    assert result.returncode == 3
    assert "API key was refused" in result.stderr
    ws = openpyxl.load_workbook(contacts_1k)["Contacts"]
    assert {row[12] for row in ws.iter_rows(min_row=2, values_only=True)} == {"skipped"}
    assert "wrong-key" not in contacts_1k.read_bytes().decode("latin-1")


def test_unknown_campaign_exits_3(contacts_1k: Path, sandbox: SandboxApi) -> None:
    result = cli("sync", contacts_1k, "--campaign", OTHER_CAMPAIGN, "--base-url", sandbox.base_url)
    assert result.returncode == 3
    assert "not found" in result.stderr.lower()


def test_unreachable_server_exits_3(contacts_1k: Path) -> None:
    with SandboxApi() as api:
        url = api.base_url
    result = cli("sync", contacts_1k, "--campaign", DEMO_CAMPAIGN_ID, "--base-url", url, timeout=180)
    assert result.returncode == 3, result.stderr


def test_workbook_changed_during_sync_keeps_results_then_apply(contacts_1k: Path, sandbox: SandboxApi) -> None:
    sandbox.faults.latency = 0.2
    env = dict(os.environ, SHEETSYNC_API_KEY=DEMO_API_KEY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sheetsync", *map(str, sync_args(contacts_1k, sandbox, "--batch-size", "100", "--concurrency", "1"))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 30
    while not sandbox.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    os.utime(contacts_1k, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # "saved in Excel"
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "changed on disk" in err
    results = contacts_1k.with_name(contacts_1k.name + ".sheetsync-results.json")
    assert results.exists()
    assert openpyxl.load_workbook(contacts_1k)["Contacts"].max_column == 12  # nothing written into it
    applied = cli("apply-results", results)
    assert applied.returncode == 0, applied.stderr
    ws = openpyxl.load_workbook(contacts_1k)["Contacts"]
    assert {row[12] for row in ws.iter_rows(min_row=2, values_only=True)} == {"created"}
    assert not results.exists()


def test_version_is_fast_to_import() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sheetsync", "--version"],
        capture_output=True, text=True, check=True,
    )
    assert result.stdout.startswith("Sheet Sync ")
    heavy = [m for m in ("PySide6", "httpx", "python_calamine", "openpyxl", "phonenumbers") if f" {m}" in result.stderr]
    assert heavy == []


_GC_PROBE = """
import gc, sys
from sheetsync.cli import main
gc.set_threshold(700, 10, 10)
sys.argv = ["sheetsync", *sys.argv[1:]]
code = main()
print(*gc.get_threshold()[:2], gc.get_freeze_count() > 0, code)
"""


def test_the_command_collects_less_often_and_leaves_its_objects_to_the_os_at_exit(contacts_1k: Path) -> None:
    """Measured in ``python -m bench``: collections cost 0.5-1 s of a 100k sync and the final
    collection 0.25 s. Here: the process's entry point tunes the collector and, as it
    returns, freezes what is alive (so the final collection skips it)."""
    from sheetsync.core.gctuning import MIDDLE_THRESHOLD, YOUNG_THRESHOLD

    done = subprocess.run([sys.executable, "-c", _GC_PROBE, "inspect", str(contacts_1k)],
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split()[-4:] == [str(YOUNG_THRESHOLD), str(MIDDLE_THRESHOLD), "True", "0"]


def test_main_called_as_a_library_freezes_nothing(contacts_1k: Path, capsys) -> None:
    """Tests and scripts call main(argv): nothing of theirs may be left out of collection."""
    import gc

    from sheetsync.cli import main

    before = gc.get_freeze_count()  # not always 0 in a test process (a plugin may have frozen)
    assert main(["inspect", str(contacts_1k)]) == 0
    assert gc.get_freeze_count() <= before  # a freeze would add every object alive; frees only take away


def test_save_into_a_missing_folder_keeps_the_results(contacts_1k: Path, sandbox: SandboxApi) -> None:
    from sheetsync.core.errors import SaveError
    from sheetsync.core.job import ResultBook, load_sheet, save_results
    from sheetsync.core.results import RowResult

    loaded = load_sheet(contacts_1k)
    book = ResultBook({2: RowResult(2, "created", "", None)})
    with pytest.raises(SaveError) as caught:
        save_results(loaded.data, book, stamp=loaded.stamp, target=contacts_1k.parent / "gone" / "copy.xlsx")
    assert caught.value.results_path and Path(caught.value.results_path).exists()
    assert "does not exist" in str(caught.value)


def test_save_as_refuses_a_source_that_changed_on_disk(contacts_1k: Path) -> None:
    from sheetsync.core.errors import SaveError
    from sheetsync.core.job import ResultBook, load_sheet, save_results
    from sheetsync.core.results import RowResult

    loaded = load_sheet(contacts_1k)
    os.utime(contacts_1k, ns=(time.time_ns(), time.time_ns() + 10**10))
    copy = contacts_1k.with_name("copy.xlsx")
    with pytest.raises(SaveError, match="changed on disk"):
        save_results(loaded.data, ResultBook({2: RowResult(2, "created")}), stamp=loaded.stamp, target=copy)
    assert not copy.exists()


def test_apply_results_follows_rows_moved_since(contacts_1k: Path, sandbox: SandboxApi) -> None:
    """Results kept after "changed on disk" land on the right rows even if rows moved."""
    from sheetsync.core.job import ResultBook, load_sheet, plan_job, write_results_file
    from sheetsync.core.results import RowResult

    loaded = load_sheet(contacts_1k)
    plan = plan_job(loaded.data)
    book = ResultBook.for_plan(plan)
    book.results[2] = RowResult(2, "created", "first")
    book.results[3] = RowResult(3, "error", "second")
    kept = write_results_file(loaded.data, book)
    wb = openpyxl.load_workbook(contacts_1k)
    wb["Contacts"].insert_rows(2, 3)  # the user inserted three rows at the top meanwhile
    wb.save(contacts_1k)
    assert cli("apply-results", kept).returncode == 0
    ws = openpyxl.load_workbook(contacts_1k)["Contacts"]
    assert ws["C5"].value == "user0@example.com" and ws["M5"].value == "created"
    assert ws["C6"].value == "user1@example.com" and ws["M6"].value == "error"
    assert ws["M2"].value is None


def test_demo_runs_again_from_scratch(app_home: Path) -> None:
    """`sheetsync demo` on a machine without a display: the whole job, twice in a row."""
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "sheetsync", "demo", "--headless"],
                                capture_output=True, text=True, timeout=120, check=False,
                                env={k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")})
        assert result.returncode == 0, result.stderr
        assert "16 created, 1 updated, 2 error, 1 invalid" in result.stdout
        assert "The demo campaign now holds 16 contact(s)" in result.stdout
    demo = app_home / "data" / "demo" / "sample-contacts.xlsx"
    ws = openpyxl.load_workbook(demo)["Contacts"]
    assert ws.cell(1, 10).value == "Sync Status" and ws.cell(2, 10).value == "created"


@pytest.mark.parametrize("case", ["unreadable workbook", "dry run", "no key"])
def test_the_sync_command_leaves_no_thread_importing_when_it_returns(case: str, contacts_1k: Path, tmp_path: Path,
                                                                     monkeypatch) -> None:
    """The imports a sync needs run on a thread while the workbook is read; a thread still
    importing as the interpreter exits can crash it (SIGSEGV in 2 of 120 dry runs before the
    command joined it). Whatever way the command ends, the thread is done when it returns."""
    import threading

    monkeypatch.setenv("SHEETSYNC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHEETSYNC_API_KEY", raising=False)
    book = contacts_1k
    if case == "unreadable workbook":
        book = tmp_path / "broken.xlsx"
        book.write_bytes(b"PK\x03\x04 not a workbook")
    extra = ["--dry-run"] if case == "dry run" else []
    from sheetsync.cli import main

    code = main(["sync", str(book), "--campaign", DEMO_CAMPAIGN_ID, "--base-url", "http://127.0.0.1:9", *extra])
    assert code == (0 if case == "dry run" else 2)
    assert [t.name for t in threading.enumerate() if t.name == "preload"] == []
