"""Auto-mapping and mapping files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sheetsync.core.errors import MappingError
from sheetsync.core.mapping import Mapping, Target, auto_target, metadata_key_for, resolve


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("First Name", "firstName"),
        ("first_name", "firstName"),
        ("Given Name", "firstName"),
        ("FNAME", "firstName"),
        ("Surname", "lastName"),
        ("Last name", "lastName"),
        ("E-mail Address", "email"),
        ("Email", "email"),
        ("EMAIL ADDRESS", "email"),
        ("Mobile Phone", "phone"),
        ("Phone Number", "phone"),
        ("Cell", "phone"),
        ("Tel.", "phone"),
        ("Status", "status"),
        ("External ID", "externalIdValue"),
    ],
)
def test_auto_mapping_forgives_case_spaces_punctuation_and_synonyms(header: str, field: str) -> None:
    target = auto_target(header)
    assert target is not None and target.field == field


@pytest.mark.parametrize("header", ["Notes", "Company", "Comments", "Internal rating", ""])
def test_unrecognised_columns_are_ignored(header: str) -> None:
    assert auto_target(header) is None


def test_resolve_prefers_explicit_choices_and_auto_maps_the_rest() -> None:
    mapping = Mapping(columns={"Tier": Target("contactMetadata", "tier"), "E-mail": None, "Contact": Target("email")})
    resolved = resolve(["First Name", "E-mail", "Contact", "Tier", "Notes"], mapping)
    targets = {c.header: (str(c.target) if c.target else None) for c in resolved.columns}
    assert targets == {
        "First Name": "firstName",
        "E-mail": None,
        "Contact": "email",
        "Tier": "contactMetadata.tier",
        "Notes": None,
    }


def test_status_columns_are_never_mapped() -> None:
    resolved = resolve(["Email", "Sync Status", "Sync Message", "Synced At", "Status"])
    assert [str(c.target) if c.target else None for c in resolved.columns] == ["email", None, None, None, "status"]


def test_two_auto_matches_keep_the_better_one_with_a_warning() -> None:
    resolved = resolve(["Work Phone", "Mobile Phone"])
    assert resolved.columns[0].target is None
    assert resolved.columns[1].target == Target("phone")
    assert any("Work Phone" in w for w in resolved.warnings)


def test_two_explicit_columns_for_one_field_is_an_error() -> None:
    mapping = Mapping(columns={"A": Target("email"), "B": Target("email")})
    with pytest.raises(MappingError, match="Both 'A' and 'B'"):
        resolve(["A", "B"], mapping)


def test_mapping_file_round_trip(tmp_path: Path) -> None:
    text = {
        "columns": {"First Name": "firstName", "E-mail": "email", "Tier": "contactMetadata.tier", "Notes": None},
        "sheet": "Contacts",
        "headerRow": 2,
        "externalIdKey": "hubspotId",
        "externalIdValue": "1234",
        "action": "updateOnly",
    }
    path = tmp_path / "m.json"
    path.write_text(json.dumps(text))
    mapping = Mapping.load(path)
    assert mapping.columns["Tier"] == Target("contactMetadata", "tier")
    assert mapping.columns["Notes"] is None
    assert mapping.header_row == 2 and mapping.action == "updateOnly"
    out = tmp_path / "out.json"
    mapping.save(out)
    assert json.loads(out.read_text()) == text


def test_unknown_field_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"columns": {"Mail": "emial"}}))
    with pytest.raises(MappingError, match="Unknown field 'emial' \\(column 'Mail'\\)"):
        Mapping.load(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON \\(line 1"),
        ("[1, 2]", "must be a JSON object"),
        ('{"columns": []}', "must be an object"),
        ('{"columns": {}, "headerRow": 0}', "headerRow"),
        ('{"columns": {}, "action": "delete-all"}', "Unknown action"),
        ('{"columns": {}, "colums": {}}', "Unknown setting"),
        ('{"columns": {"X": "contactMetadata."}}', "metadata key is missing"),
    ],
)
def test_bad_mapping_files_say_what_is_wrong(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(MappingError, match=match):
        Mapping.load(path)


def test_missing_mapping_file() -> None:
    with pytest.raises(MappingError, match="does not exist"):
        Mapping.load(Path("/nonexistent/m.json"))


def test_metadata_key_prefill() -> None:
    assert metadata_key_for("Plan Tier") == "planTier"
    assert metadata_key_for("company") == "company"
    assert metadata_key_for("#!") == "value"
