"""Which column feeds which contact field: auto-mapping, mapping files, validation.

A mapping file is JSON a user can read and edit; the GUI saves and loads the same files:

    {"columns": {"First Name": "firstName", "E-mail": "email",
                 "Tier": "contactMetadata.tier", "Notes": null},
     "sheet": "Contacts", "headerRow": 1, "action": "upsert",
     "externalIdKey": "hubspotId", "externalIdValue": "1234"}

A header missing from ``columns`` falls back to auto-mapping. Unrecognised headers are
ignored, so a private "Notes" column never leaves the machine unless mapped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MappingError
from .workbook import STATUS_HEADERS

CONTACT_FIELDS = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "status",
    "externalIdKey",
    "externalIdValue",
)
#: Per-row job choices, not contact fields: the row's action and its campaign (ID or label).
ROW_FIELDS = ("action", "campaign")
TARGET_FIELDS = CONTACT_FIELDS + ROW_FIELDS
METADATA_PREFIX = "contactMetadata."
ACTIONS = ("upsert", "updateOnly", "remove")

FIELD_LABELS = {
    "firstName": "First name",
    "lastName": "Last name",
    "email": "Email",
    "phone": "Phone",
    "status": "Status",
    "externalIdKey": "External ID key",
    "externalIdValue": "External ID value",
    "action": "Action",
    "campaign": "Campaign",
}

# Normalised header (lowercase letters and digits only) -> field. Order of the
# lists is a preference: when two columns match one field, the earlier synonym wins.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "firstName": (
        "firstname", "first", "givenname", "forename", "fname", "contactfirstname",
        "prenom", "vorname", "nombre",
    ),
    "lastName": (
        "lastname", "surname", "familyname", "last", "lname", "contactlastname", "nom",
        "nachname", "apellido", "apellidos",
    ),
    "email": (
        "email", "emailaddress", "mail", "emailaddress1", "primaryemail", "workemail",
        "personalemail", "contactemail", "emails", "businessemail", "email1", "emailid",
        "courriel",
    ),
    "phone": (
        "phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "cell", "cellphone",
        "cellnumber", "telephone", "telephonenumber", "tel", "primaryphone", "phone1",
        "contactnumber", "mobilephonenumber", "businessphone", "workphone", "homephone",
        "phonemobile", "whatsapp", "telefon", "telefono", "telephonemobile",
    ),
    "status": ("status", "contactstatus", "campaignstatus", "outreachstatus"),
    "externalIdKey": ("externalidkey", "externalidname", "idkey"),
    "externalIdValue": ("externalid", "externalidvalue", "idvalue"),
}
_LOOKUP = {syn: (field_, rank) for field_, syns in _SYNONYMS.items() for rank, syn in enumerate(syns)}
_STATUS_NORMALISED = {re.sub(r"[^0-9a-z]", "", h.casefold()) for h in STATUS_HEADERS}


def normalise_header(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


@dataclass(frozen=True)
class Target:
    """Where a column goes: a contact field, or a key of contactMetadata."""

    field: str  # one of CONTACT_FIELDS, or "contactMetadata"
    key: str | None = None  # metadata key

    @classmethod
    def parse(cls, text: str, *, header: str = "") -> Target:
        where = f" (column '{header}')" if header else ""
        if not isinstance(text, str):
            raise MappingError(f"The mapping for{where or ' a column'} must be a field name or null, not {text!r}.")
        if text in TARGET_FIELDS:
            return cls(text)
        if text.startswith(METADATA_PREFIX):
            key = text[len(METADATA_PREFIX):].strip()
            if not key:
                raise MappingError(f"'{text}'{where}: a metadata key is missing after 'contactMetadata.'.")
            return cls("contactMetadata", key)
        # Forgive case: "Email" or "firstname" in a hand-written file.
        for name in TARGET_FIELDS:
            if text.casefold() == name.casefold():
                return cls(name)
        allowed = ", ".join(TARGET_FIELDS)
        raise MappingError(
            f"Unknown field '{text}'{where} in the mapping. Use one of {allowed}, "
            "'contactMetadata.<key>', or null to ignore the column."
        )

    def __str__(self) -> str:
        return f"{METADATA_PREFIX}{self.key}" if self.key is not None else self.field

    @property
    def label(self) -> str:
        if self.key is not None:
            return f"Metadata: {self.key}"
        return FIELD_LABELS[self.field]


def metadata_key_for(header: str) -> str:
    """A metadata key prefilled from a header: "Plan Tier" -> "planTier"."""
    words = re.findall(r"[0-9A-Za-z]+", header)
    if not words:
        return "value"
    first, *rest = words
    return first.lower() + "".join(w[:1].upper() + w[1:].lower() for w in rest)


def auto_target(header: str) -> Target | None:
    hit = _LOOKUP.get(normalise_header(header))
    return Target(hit[0]) if hit else None


@dataclass
class Mapping:
    """What a user chose. ``columns`` maps header -> Target or None (ignored)."""

    columns: dict[str, Target | None] = field(default_factory=dict)
    sheet: str | None = None
    header_row: int | None = None
    external_id_key: str | None = None
    external_id_value: str | None = None
    action: str | None = None

    # -- files -------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Any, *, source: str = "the mapping") -> Mapping:
        if not isinstance(data, dict):
            raise MappingError(f"{source} must be a JSON object with a \"columns\" object.")
        columns_raw = data.get("columns", {})
        if not isinstance(columns_raw, dict):
            raise MappingError(f"\"columns\" in {source} must be an object of header: field.")
        columns = {
            str(header): (None if target is None else Target.parse(target, header=str(header)))
            for header, target in columns_raw.items()
        }
        unknown = set(data) - {"columns", "sheet", "headerRow", "externalIdKey", "externalIdValue", "action"}
        if unknown:
            raise MappingError(f"Unknown setting(s) {', '.join(sorted(unknown))} in {source}.")
        header_row = data.get("headerRow")
        if header_row is not None and (not isinstance(header_row, int) or isinstance(header_row, bool) or header_row < 1):
            raise MappingError(f"\"headerRow\" in {source} must be a row number (1 or more).")
        action = data.get("action")
        if action is not None:
            action = parse_action(action)
        return cls(
            columns=columns,
            sheet=_opt_str(data, "sheet", source),
            header_row=header_row,
            external_id_key=_opt_str(data, "externalIdKey", source),
            external_id_value=_opt_str(data, "externalIdValue", source),
            action=action,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": {h: (str(t) if t else None) for h, t in self.columns.items()}}
        for key, value in (
            ("sheet", self.sheet),
            ("headerRow", self.header_row),
            ("externalIdKey", self.external_id_key),
            ("externalIdValue", self.external_id_value),
            ("action", self.action),
        ):
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def load(cls, path: Path) -> Mapping:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise MappingError(f"The mapping file {path} does not exist.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MappingError(f"The mapping file {path.name} cannot be read: {exc}.") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MappingError(
                f"The mapping file {path.name} is not valid JSON (line {exc.lineno}, column "
                f"{exc.colno}: {exc.msg}). Fix it in a text editor or export it again.",
            ) from exc
        return cls.from_json(data, source=f"the mapping file {path.name}")

    def save(self, path: Path) -> None:
        from .atomicfile import write_text_atomic

        write_text_atomic(Path(path), json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")


def _opt_str(data: dict[str, Any], key: str, source: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise MappingError(f"\"{key}\" in {source} must be text.")
    text = str(value).strip()
    return text or None


_ACTION_WORDS = {
    "upsert": "upsert", "add": "upsert", "addorupdate": "upsert", "create": "upsert", "insert": "upsert",
    "sync": "upsert", "new": "upsert",
    "updateonly": "updateOnly", "update": "updateOnly", "updateexisting": "updateOnly", "modify": "updateOnly",
    "remove": "remove", "delete": "remove", "del": "remove", "removecontact": "remove",
}


def action_for(value: Any) -> str | None:
    """A forgiving reading of an action word ("Update only", "DELETE", "add"); None if unknown."""
    return _ACTION_WORDS.get(normalise_header(str(value)))


def parse_action(value: Any) -> str:
    action = action_for(value)
    if action is None:
        raise MappingError(f"Unknown action '{value}'. Use upsert, updateOnly or remove.")
    return action


@dataclass(frozen=True)
class ColumnPlan:
    index: int  # 0-based column
    header: str
    target: Target | None
    auto: bool  # chosen by auto-mapping rather than by the user


@dataclass
class ResolvedMapping:
    """A mapping applied to a sheet's headers: one ColumnPlan per column."""

    columns: list[ColumnPlan]
    warnings: list[str] = field(default_factory=list)

    def mapped(self) -> list[ColumnPlan]:
        return [c for c in self.columns if c.target is not None]

    def column_for(self, field_name: str) -> ColumnPlan | None:
        return next((c for c in self.columns if c.target and c.target.field == field_name and c.target.key is None), None)

    def to_mapping(self, base: Mapping | None = None) -> Mapping:
        """A mapping file listing every column's choice (ignored ones as null)."""
        base = base or Mapping()
        return Mapping(
            columns={c.header: c.target for c in self.columns},
            sheet=base.sheet,
            header_row=base.header_row,
            external_id_key=base.external_id_key,
            external_id_value=base.external_id_value,
            action=base.action,
        )


def resolve(headers: Sequence[str], mapping: Mapping | None = None, *, is_status: Iterable[bool] | None = None) -> ResolvedMapping:
    """Apply ``mapping`` to ``headers``; headers it does not name are auto-mapped.

    Our own status columns are never mapped. Two columns for one field is an error
    when the user chose them, and a warning (first one wins) when auto-mapping did.
    """
    mapping = mapping or Mapping()
    status_flags = list(is_status) if is_status is not None else [
        normalise_header(h) in _STATUS_NORMALISED for h in headers
    ]
    by_header = {h.casefold(): (h, t) for h, t in mapping.columns.items()}
    plans: list[ColumnPlan] = []
    warnings: list[str] = []
    for index, header in enumerate(headers):
        if status_flags[index]:
            plans.append(ColumnPlan(index, header, None, auto=False))
            continue
        if header.casefold() in by_header:
            plans.append(ColumnPlan(index, header, by_header[header.casefold()][1], auto=False))
        else:
            plans.append(ColumnPlan(index, header, auto_target(header), auto=True))
    present = {h.casefold() for h in headers}
    for key, (header, target) in by_header.items():
        if key not in present and target is not None:
            warnings.append(f"The mapping names a column '{header}' that this sheet does not have.")
    plans = _dedupe(plans, warnings)
    return ResolvedMapping(plans, warnings)


def _dedupe(plans: list[ColumnPlan], warnings: list[str]) -> list[ColumnPlan]:
    owner: dict[Target, ColumnPlan] = {}
    for plan in plans:
        if plan.target is None:
            continue
        other = owner.get(plan.target)
        if other is None:
            owner[plan.target] = plan
            continue
        if not plan.auto and not other.auto:
            raise MappingError(
                f"Both '{other.header}' and '{plan.header}' are mapped to {plan.target.label}. "
                "Map only one of them (set the other to ignore)."
            )
        # A user's choice beats auto-mapping; among auto choices, the better synonym wins.
        keep, drop = (other, plan)
        if other.auto and (not plan.auto or _rank(plan.header) < _rank(other.header)):
            keep, drop = plan, other
        owner[plan.target] = keep
        warnings.append(
            f"'{drop.header}' also looks like {plan.target.label}; it is ignored (map it "
            f"explicitly to use it instead of '{keep.header}')."
        )
    chosen = {id(p) for p in owner.values()}
    return [p if p.target is None or id(p) in chosen else ColumnPlan(p.index, p.header, None, auto=p.auto) for p in plans]


def _rank(header: str) -> int:
    hit = _LOOKUP.get(normalise_header(header))
    return hit[1] if hit else 1_000
