"""The sample workbook for the demo, found in the repository or in a frozen bundle."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .mapping import Mapping, Target
from .paths import AppPaths

SAMPLE_NAME = "sample-contacts.xlsx"
SAMPLE_SHEET = "Contacts"


def demo_mapping() -> Mapping:
    """The sample's automatic mapping, plus two columns sent as campaign metadata (what
    a user would add by hand), so the demo shows contactMetadata at work."""
    return Mapping(columns={
        "Company": Target("contactMetadata", "company"),
        "Plan Tier": Target("contactMetadata", "tier"),
    })


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = [Path(frozen) / "resources"] if frozen else []
    candidates.append(Path(__file__).resolve().parents[3] / "resources")
    for folder in candidates:
        if (folder / SAMPLE_NAME).exists():
            return folder
    return candidates[-1]


def sample_workbook() -> Path:
    return resources_dir() / SAMPLE_NAME


def copy_sample_workbook(folder: Path | None = None) -> Path:
    """A fresh copy of the sample workbook the demo can write into."""
    paths = AppPaths.default()
    folder = folder or paths.data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SAMPLE_NAME
    shutil.copyfile(sample_workbook(), target)
    # Each demo talks to a new, empty local API: forget what earlier demos sent from this copy.
    from .journal import journal_path
    from .syncstate import state_path

    for leftover in (state_path(paths, target, SAMPLE_SHEET), journal_path(paths.journal_dir, target)):
        leftover.unlink(missing_ok=True)
    return target
