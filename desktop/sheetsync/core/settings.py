"""Typed settings with defaults and a schema version, in one JSON file.

Only non-secret values live here; the API key goes to the keyring (``secrets``).
A file from a newer or broken version is set aside (renamed), never half-read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .atomicfile import write_text_atomic
from .options import DEFAULT_BASE_URL, DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY

log = logging.getLogger("sheetsync.settings")

SCHEMA_VERSION = 1
MAX_RECENT = 10


@dataclass
class RecentCampaign:
    id: str
    label: str = ""


@dataclass
class Settings:
    base_url: str = DEFAULT_BASE_URL
    region: str = "US"
    batch_size: int = DEFAULT_BATCH_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    recent_files: list[str] = field(default_factory=list)
    recent_campaigns: list[RecentCampaign] = field(default_factory=list)
    # "<workbook path>::<sheet>" -> mapping file JSON (see mapping.Mapping.to_json)
    mappings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # header signature -> {"headers", "mapping", "saved"} (see profiles.py)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    window_geometry: str = ""  # base64 of QWidget.saveGeometry(), kept opaque here
    keyring_notice_shown: bool = False

    # -- helpers ------------------------------------------------------------
    def remember_file(self, path: Path | str) -> None:
        text = str(path)
        self.recent_files = [text] + [p for p in self.recent_files if p != text]
        del self.recent_files[MAX_RECENT:]

    def remember_campaign(self, campaign_id: str, label: str = "") -> None:
        old = next((c for c in self.recent_campaigns if c.id == campaign_id), None)
        label = label or (old.label if old else "")
        self.recent_campaigns = [RecentCampaign(campaign_id, label)] + [
            c for c in self.recent_campaigns if c.id != campaign_id
        ]
        del self.recent_campaigns[MAX_RECENT:]

    def campaign_labels(self) -> dict[str, str]:
        return {c.label: c.id for c in self.recent_campaigns if c.label}

    def campaign_for_label(self, text: str) -> str | None:
        wanted = text.strip().casefold()
        return next((c.id for c in self.recent_campaigns if c.label and c.label.casefold() == wanted), None)

    @staticmethod
    def mapping_key(workbook: Path | str, sheet: str) -> str:
        return f"{Path(workbook).resolve()}::{sheet}"

    # -- file -------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        data = _upgrade(dict(data))
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["recent_campaigns"] = [
            RecentCampaign(str(c.get("id", "")), str(c.get("label", "")))
            for c in values.get("recent_campaigns", [])
            if isinstance(c, dict) and c.get("id")
        ]
        settings = cls(**values)
        defaults = cls()
        for f in fields(cls):  # a hand-edited file with a wrong type gets the default
            if not isinstance(getattr(settings, f.name), type(getattr(defaults, f.name))):
                setattr(settings, f.name, getattr(defaults, f.name))
        return settings

    @classmethod
    def load(cls, path: Path) -> Settings:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            log.warning("settings unreadable (%s); using defaults", exc)
            return cls()
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version", 1) > SCHEMA_VERSION:
                raise ValueError("unknown settings version")
            return cls.from_json(data)
        except (ValueError, TypeError) as exc:
            aside = path.with_suffix(".broken.json")
            log.warning("settings file %s unusable (%s); kept as %s, defaults used", path, exc, aside)
            try:
                path.replace(aside)
            except OSError:
                pass
            return cls()

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older settings file to SCHEMA_VERSION (nothing to do yet at version 1)."""
    data.pop("version", None)
    return data
