"""Keeping the sheet and the campaign in step: changed rows only, per-row actions,
rows deleted from the sheet, routing to several campaigns (core through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from sheetsync.cli import main
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

SECOND = "0b9f3c52-2f0e-4a43-9d51-6c8e2b1f7a10"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETSYNC_API_KEY", DEMO_API_KEY)


def book(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "Contacts"
    wb.active.append(header)
    for row in rows:
        wb.active.append(row)
    wb.save(path)
    return path


def people(n: int) -> list[list[object]]:
    return [[f"Name{i}", f"p{i}@example.com"] for i in range(n)]


def sync(path: Path, api: SandboxApi, *extra: str) -> int:
    return main(["sync", str(path), "--campaign", DEMO_CAMPAIGN_ID, "--base-url", api.base_url, "--quiet", *extra])


def column(path: Path, header: str) -> list[object]:
    ws = openpyxl.load_workbook(path).active
    names = [c.value for c in ws[1]]
    index = names.index(header)
    return [row[index] for row in ws.iter_rows(min_row=2, values_only=True)]


def contacts_sent(api: SandboxApi) -> int:
    return sum(r.contacts for r in api.requests if r.status == 200)


def test_only_changed_rows_are_sent_and_sorting_changes_nothing(tmp_path: Path, sandbox: SandboxApi) -> None:
    path = book(tmp_path / "c.xlsx", ["First Name", "Email"], people(6))
    assert sync(path, sandbox) == 0
    assert contacts_sent(sandbox) == 6
    # Nothing changed: nothing is sent, every row says so.
    assert sync(path, sandbox) == 0
    assert contacts_sent(sandbox) == 6
    assert set(column(path, "Sync Status")) == {"unchanged"}
    assert "unchanged since it was synced (created" in column(path, "Sync Message")[0]
    # Edit one name and sort the rows the other way round in "Excel": one row goes.
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    rows = [[c.value for c in row[:2]] for row in ws.iter_rows(min_row=2)]
    rows.reverse()
    rows[0][0] = "Renamed"
    for r, values in enumerate(rows, start=2):
        ws.cell(r, 1, values[0])
        ws.cell(r, 2, values[1])
    wb.save(path)
    assert sync(path, sandbox) == 0
    assert contacts_sent(sandbox) == 7
    assert sandbox.find("p5@example.com")["firstName"] == "Renamed"
    assert column(path, "Sync Status") == ["updated"] + ["unchanged"] * 5
    # --all sends every row anyway.
    assert sync(path, sandbox, "--all") == 0
    assert contacts_sent(sandbox) == 13


def test_rows_that_failed_are_sent_again(tmp_path: Path, sandbox: SandboxApi) -> None:
    path = book(tmp_path / "c.xlsx", ["First Name", "Email"], people(4))
    sandbox.faults.fail_next = ["text-error"]
    assert sync(path, sandbox) == 1
    assert set(column(path, "Sync Status")) == {"error"}
    assert sync(path, sandbox) == 0
    assert set(column(path, "Sync Status")) == {"created"}


def test_per_row_actions_with_removals_last(tmp_path: Path, sandbox: SandboxApi) -> None:
    first = book(tmp_path / "seed.xlsx", ["Email"], [[f"p{i}@example.com"] for i in range(4)])
    assert sync(first, sandbox) == 0
    path = book(tmp_path / "actions.xlsx", ["Email", "What"], [
        ["p0@example.com", "Remove"], ["p1@example.com", "update"], ["new@example.com", ""],
        ["p2@example.com", "DELETE"], ["p3@example.com", "frobnicate"], ["p9@example.com", "update only"],
    ])
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"columns": {"What": "action"}}))
    seen = len(sandbox.requests)
    assert sync(path, sandbox, "--mapping", str(mapping)) == 1
    assert column(path, "Sync Status") == ["removed", "updated", "created", "removed", "invalid", "not processed"]
    assert "frobnicate" in column(path, "Sync Message")[4]
    actions = [r.body["action"] for r in sandbox.requests[seen:]]
    assert actions[-1] == "remove" and "remove" not in actions[:-1]
    assert sorted(actions[:-1]) == ["updateOnly", "upsert"]


def test_contacts_gone_from_the_sheet_are_listed_and_removed_only_on_request(tmp_path: Path, sandbox: SandboxApi, capsys: pytest.CaptureFixture[str]) -> None:
    path = book(tmp_path / "c.xlsx", ["First Name", "Email"], people(5))
    assert sync(path, sandbox) == 0
    wb = openpyxl.load_workbook(path)
    wb.active.delete_rows(3, 2)  # p1 and p2 deleted in Excel
    wb.save(path)
    capsys.readouterr()
    assert main(["sync", str(path), "--campaign", DEMO_CAMPAIGN_ID, "--dry-run"]) == 0
    assert "2 contact(s) synced from this sheet before are no longer in the sheet" in capsys.readouterr().out
    assert sync(path, sandbox) == 0
    assert len(sandbox.contacts(DEMO_CAMPAIGN_ID)) == 5  # never removed by default
    assert sync(path, sandbox, "--remove-missing") == 0
    out = capsys.readouterr().out
    assert "2 contact(s) were no longer in the sheet: 2 removed" in out
    assert sorted(sandbox.contacts(DEMO_CAMPAIGN_ID)) == ["p0@example.com", "p3@example.com", "p4@example.com"]
    capsys.readouterr()
    main(["sync", str(path), "--campaign", DEMO_CAMPAIGN_ID, "--dry-run"])
    assert "no longer in the sheet" not in capsys.readouterr().out


def test_rows_routed_to_the_campaign_their_cell_names(tmp_path: Path) -> None:
    with SandboxApi(campaigns=[DEMO_CAMPAIGN_ID, SECOND]) as api:
        assert main(["campaign", "label", SECOND, "Spring promo"]) == 0
        path = book(tmp_path / "r.xlsx", ["Email", "Campaign"], [
            ["a@example.com", ""], ["b@example.com", SECOND], ["c@example.com", "spring PROMO"],
            ["d@example.com", "Nope"], ["a@example.com", SECOND],
        ])
        mapping = tmp_path / "m.json"
        mapping.write_text(json.dumps({"columns": {"Campaign": "campaign"}}))
        assert sync(path, api, "--mapping", str(mapping)) == 1
        assert column(path, "Sync Status") == ["created", "created", "created", "invalid", "created"]
        assert sorted(api.contacts(DEMO_CAMPAIGN_ID)) == ["a@example.com"]
        assert sorted(api.contacts(SECOND)) == ["a@example.com", "b@example.com", "c@example.com"]
        for request in api.requests:
            assert len({c["email"] for c in request.body["contacts"]}) == len(request.body["contacts"])


def test_a_saved_mapping_finds_any_sheet_with_the_same_headers(tmp_path: Path, sandbox: SandboxApi, capsys: pytest.CaptureFixture[str]) -> None:
    header = ["Contact", "Kind", "Tier"]
    monday = book(tmp_path / "monday.xlsx", header, [["a@example.com", "x", "pro"]])
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"columns": {"Contact": "email", "Tier": "contactMetadata.tier"}}))
    assert sync(monday, sandbox, "--mapping", str(mapping)) == 0
    # Next week's export: same headers, another file, no --mapping given.
    tuesday = book(tmp_path / "tuesday.xlsx", header, [["b@example.com", "y", "basic"]])
    capsys.readouterr()
    assert sync(tuesday, sandbox) == 0
    assert "Using the mapping saved for sheets with these headers" in capsys.readouterr().err
    assert sandbox.find("b@example.com")["contactMetadata"] == {"tier": "basic"}
    # A sheet with other headers is not affected.
    other = book(tmp_path / "other.xlsx", ["Contact", "Tier"], [["c@example.com", "pro"]])
    assert sync(other, sandbox) == 2  # "Contact" is not auto-mapped: no email column


def test_export_problems_then_sync_the_fixed_rows(tmp_path: Path, sandbox: SandboxApi) -> None:
    path = book(tmp_path / "list.xlsx", ["First Name", "Email", "Notes"], [
        ["Ok", "ok@example.com", ""], ["Typo", "typo@example", "fix me"], ["Fine", "fine@example.com", ""],
    ])
    assert sync(path, sandbox) == 1
    assert main(["export-problems", str(path)]) == 0
    problems = tmp_path / "list - problems.xlsx"
    ws = openpyxl.load_workbook(problems).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("First Name", "Email", "Notes", "Sync Status", "Sync Message", "Source Row")
    assert rows[1][:4] == ("Typo", "typo@example", "fix me", "invalid") and rows[1][5] == 3
    assert len(rows) == 2
    wb = openpyxl.load_workbook(problems)
    wb.active["B2"] = "typo@example.com"  # fixed in the exported workbook
    wb.save(problems)
    assert sync(problems, sandbox) == 0
    assert column(problems, "Sync Status") == ["created"]
    assert sandbox.find("typo@example.com")["firstName"] == "Typo"


def test_export_problems_with_no_problem_says_so(tmp_path: Path, sandbox: SandboxApi, capsys: pytest.CaptureFixture[str]) -> None:
    path = book(tmp_path / "ok.xlsx", ["Email"], [["a@example.com"]])
    assert main(["export-problems", str(path)]) == 2
    assert "sync it first" in capsys.readouterr().err
    assert sync(path, sandbox) == 0
    assert main(["export-problems", str(path)]) == 2
    assert "nothing to export" in capsys.readouterr().err


def test_a_contact_on_two_rows_is_stable_and_sent_whole(tmp_path: Path, sandbox: SandboxApi) -> None:
    path = book(tmp_path / "d.xlsx", ["First Name", "Email", "Phone"], [
        ["Jane", "jane@example.com", "2125550100"], ["Other", "o@example.com", ""], ["Jane D.", "jane@example.com", ""],
    ])
    assert sync(path, sandbox) == 0
    assert sync(path, sandbox) == 0
    assert column(path, "Sync Status") == ["unchanged"] * 3  # no ping-pong between the two rows
    wb = openpyxl.load_workbook(path)
    wb.active["A2"] = "Janet"
    wb.save(path)
    seen = len(sandbox.requests)
    assert sync(path, sandbox) == 0
    assert column(path, "Sync Status") == ["updated", "unchanged", "updated"]  # both rows of Jane go
    assert len(sandbox.requests) - seen == 2  # in two requests, in sheet order
    assert sandbox.find("jane@example.com")["firstName"] == "Jane D."  # the sheet's last row wins


def test_fingerprints_of_what_was_sent_stay_the_same_from_version_to_version() -> None:
    """Every user's sync state holds these: a change to how they are made would make the
    next sync of every sheet send every row again. Made with Sheet Sync 0.1.0 (commit
    4012ea8); change them only with a new sync state format that says so."""
    from sheetsync.core.contacts import prepare
    from sheetsync.core.mapping import Mapping, Target, resolve
    from sheetsync.core.syncstate import row_fingerprints
    from sheetsync.core.workbook import DataRow, SheetData

    rows = [DataRow(2, ["Ada", "Lovelace", "ada@example.com", "(212) 555-0100", "active", 36, 1.5]),
            DataRow(3, ["Alan", None, "ALAN@Example.com", None]),
            DataRow(4, [None, "Hopper", None, "+44 20 7946 0958", None, None, True])]
    sheet = SheetData(Path("mem.xlsx"), "S", 1, ["First Name", "Last Name", "Email", "Phone", "Status", "Age", "Score"],
                      rows)
    mapping = Mapping(columns={"Age": Target("contactMetadata", "age"), "Score": Target("contactMetadata", "score")})
    plan = prepare(sheet, resolve(sheet.headers, mapping))
    assert row_fingerprints(plan, plan.rows, "upsert") == [
        "e487df278e98eedde6f0e5fc", "77f132b6e89c1fbb1d14b688", "947bf9fbf83a3c0eafe764a0"]
    assert len(set(row_fingerprints(plan, plan.rows, "updateOnly")) | set(row_fingerprints(plan, plan.rows, "upsert"))) == 6
