"""Contacts built from rows, and the checks before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from sheetsync.core.contacts import INVALID, SEND, SendCounts, build_contact, normalise_email, prepare
from sheetsync.core.mapping import Mapping, Target, resolve
from sheetsync.core.phones import normalise_phone
from sheetsync.core.workbook import DataRow, SheetData


def sheet(headers: list[str], *rows: list[object]) -> SheetData:
    return SheetData(Path("x.xlsx"), "S", 1, headers, [DataRow(i + 2, list(r)) for i, r in enumerate(rows)])


@pytest.mark.parametrize(
    ("raw", "digits", "warns"),
    [
        ("(555) 123-4567", "15551234567", True),  # the API's own examples: possible, not valid
        ("15551234567", "15551234567", True),
        ("+1 212 555 0100", "12125550100", False),
        ("212-555-0100", "12125550100", False),
        ("+44 20 7946 0958", "442079460958", False),
        ("0044 20 7946 0958", "442079460958", False),
        ("+49 30 901820", "4930901820", False),
        ("212.555.0100 ext. 12", "12125550100", False),
    ],
)
def test_phones_become_digits_with_country_code(raw: str, digits: str, warns: bool) -> None:
    result = normalise_phone(raw, "US")
    assert result.digits == digits
    assert (result.warning is not None) == warns


@pytest.mark.parametrize("raw", ["12", "call me", "+1 555", "555-01"])
def test_impossible_phones_are_refused(raw: str) -> None:
    result = normalise_phone(raw, "US")
    assert result.digits is None and result.warning


def test_region_decides_national_numbers() -> None:
    assert normalise_phone("020 7946 0958", "GB").digits == "442079460958"
    assert normalise_phone("030 901820", "DE").digits == "4930901820"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Jane.Doe@Example.COM ", "Jane.Doe@example.com"),
        ("mailto:a@b.io", "a@b.io"),
        ("<a@b.io>", "a@b.io"),
        ("josé@exämple.de", "josé@exämple.de"),
        ("noah.williams@example", None),
        ("not an email", None),
        ("a@@b.com", None),
        ("a..b@c.com", None),
        (".a@c.com", None),
        ("a b@c.com", None),
    ],
)
def test_email_syntax(raw: str, expected: str | None) -> None:
    assert normalise_email(raw) == expected


def test_rows_checked_and_contacts_built() -> None:
    data = sheet(
        ["First Name", "Email", "Phone", "Tier", "Notes", "Status", "Score"],
        ["Jane", "jane@example.com", "2125550100", "pro", "private", "Completed", 7],
        ["", "bad-email", "2125550101", None, None, None, None],
        ["Bob", "bad-email", "", None, None, None, None],
        ["Al", "al@example.com", "12", None, None, None, 2.5],
        [None, None, None, "gold"],
    )
    mapping = Mapping(columns={"Tier": Target("contactMetadata", "tier"), "Score": Target("contactMetadata", "score")})
    plan = prepare(data, resolve(data.headers, mapping))
    states = {r.number: r.state for r in plan.rows}
    assert states == {2: SEND, 3: SEND, 4: INVALID, 5: SEND, 6: INVALID}
    contacts = list(plan.contacts(plan.to_send))
    assert contacts[0] == {
        "firstName": "Jane",
        "email": "jane@example.com",
        "phone": "12125550100",
        "status": "completed",
        "contactMetadata": {"tier": "pro", "score": 7},
    }
    assert "Notes" not in str(contacts)  # an unmapped private column never leaves the machine
    assert contacts[1] == {"phone": "12125550101"}  # empty fields left out, bad email dropped
    assert "sent with the phone only" in plan.rows[1].message
    assert contacts[2] == {"firstName": "Al", "email": "al@example.com", "contactMetadata": {"score": 2.5}}
    assert "sent with the email only" in plan.rows[3].message
    assert "no email or phone" in plan.rows[4].message


def test_duplicates_are_flagged_and_never_share_a_round() -> None:
    data = sheet(
        ["Email", "Phone"],
        ["a@x.com", "2125550100"],
        ["b@x.com", "2125550101"],
        ["A@X.com", ""],  # same email as row 2, other case
        ["c@x.com", "(212) 555-0101"],  # same phone as row 3
        ["a@x.com", ""],  # third time
    )
    plan = prepare(data, resolve(data.headers))
    rows = {r.number: r for r in plan.rows}
    assert rows[4].duplicate_of == 2 and "same email as row 2" in rows[4].message
    assert rows[5].duplicate_of == 3 and "same phone as row 3" in rows[5].message
    assert rows[6].duplicate_of == 2
    assert [rows[n].round for n in (2, 3, 4, 5, 6)] == [0, 0, 1, 1, 2]
    assert len(plan.duplicates) == 3


def test_build_contact_keeps_metadata_types() -> None:
    data = sheet(["Email", "Flag", "Joined"], ["a@x.com", True, "2026-01-05"])
    resolved = resolve(data.headers, Mapping(columns={"Flag": Target("contactMetadata", "vip"), "Joined": Target("contactMetadata", "joined")}))
    plan = prepare(data, resolved)
    assert build_contact(data.rows[0], plan.rows[0], resolved)["contactMetadata"] == {"vip": True, "joined": "2026-01-05"}


def test_send_counts_say_how_many_rows_remove_under_each_job_action() -> None:
    """The window asks before removals from these counts, made off its thread."""
    data = sheet(
        ["Email", "Action", "Campaign"],
        ["a@x.com", "remove", ""],
        ["b@x.com", "", ""],  # the job's action
        ["c@x.com", "upsert", ""],
        ["d@x.com", "", ""],
        ["e@x.com", "delete", ""],
    )
    plan = prepare(data, resolve(data.headers, Mapping(columns={"Action": Target("action"), "Campaign": Target("campaign")})))
    counts = SendCounts.of(plan.to_send)
    assert (counts.rows, counts.removals("upsert"), counts.removals("remove"), counts.own_campaign) == (5, 2, 4, False)
    labelled = sheet(["Email", "Campaign"], ["f@x.com", "8f14e45f-ceea-467f-a0e6-5c4a3c1e2b7d"])
    other = prepare(labelled, resolve(labelled.headers, Mapping(columns={"Campaign": Target("campaign")}))).to_send
    both = SendCounts.of(plan.to_send + other)
    assert (both.rows, both.removals("remove"), both.own_campaign) == (6, 5, True)
    assert SendCounts.of([]) == SendCounts()
