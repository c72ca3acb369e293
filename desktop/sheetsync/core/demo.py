"""The sample workbook for the demo, found in the repository or in a frozen bundle."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .paths import AppPaths

SAMPLE_NAME = "sample-contacts.xlsx"


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
    folder = folder or AppPaths.default().data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SAMPLE_NAME
    shutil.copyfile(sample_workbook(), target)
    return target
