"""Is the workbook open in Excel or LibreOffice right now?

Excel keeps an owner file ``~$name.xlsx`` beside an open workbook (the first two
characters of the name replaced when it is long), holding the user's name; LibreOffice
keeps ``.~lock.name.xlsx#`` with "name,user,host,time,...". On Windows, Excel also holds
the file open without sharing, so an exclusive open fails. Any of these means results
written now could not be saved, or Excel would overwrite them on its next save.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LockInfo:
    app: str  # "Excel", "LibreOffice" or "another program"
    owner: str | None  # the user name the lock file names, if any
    lock_file: Path | None

    def describe(self, workbook: Path) -> str:
        who = f" by {self.owner}" if self.owner else ""
        return (
            f"{workbook.name} is open in {self.app}{who}. Close it there before syncing: the "
            f"results could not be saved into it, or {self.app} would overwrite them when it "
            "saves next."
        )


def _excel_owner_files(path: Path) -> list[Path]:
    name = path.name
    candidates = [path.with_name("~$" + name)]
    if len(name) > 2:
        candidates.append(path.with_name("~$" + name[2:]))
    if len(name) > 1:
        candidates.append(path.with_name("~$" + name[1:]))
    return candidates


def _read_excel_owner(lock: Path) -> str | None:
    """The user name in an Excel owner file: a length byte, then the name (ANSI)."""
    try:
        data = lock.read_bytes()[:165]
    except OSError:
        return None
    if not data:
        return None
    length = data[0]
    raw = data[1 : 1 + length] if 0 < length < 55 else b""
    name = raw.decode("cp1252", "replace").strip("\x00 ").strip()
    return name or None


def _read_libreoffice_owner(lock: Path) -> str | None:
    try:
        text = lock.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    parts = text.split(",")
    return (parts[1] or parts[0]).strip() or None if len(parts) > 1 else None


def find_lock(path: Path) -> LockInfo | None:
    path = Path(path)
    for owner_file in _excel_owner_files(path):
        if owner_file.is_file():
            return LockInfo("Excel", _read_excel_owner(owner_file), owner_file)
    office = path.with_name(f".~lock.{path.name}#")
    if office.is_file():
        return LockInfo("LibreOffice", _read_libreoffice_owner(office), office)
    if sys.platform == "win32" and not _can_open_exclusively(path):
        return LockInfo("another program", None, None)
    return None


def _can_open_exclusively(path: Path) -> bool:  # pragma: no cover - Windows only
    """On Windows, Excel opens workbooks with no write sharing: an exclusive open fails."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except PermissionError:
        return False
    except OSError:
        return True
    os.close(fd)
    return True


def save_blocker(path: Path) -> str | None:
    """Why the workbook cannot be written now (open in Excel or LibreOffice, read-only), or None.

    The window waits while this says something ("Save when the file is closed").
    """
    path = Path(path)
    lock = find_lock(path)
    if lock is not None:
        who = f" by {lock.owner}" if lock.owner else ""
        return f"{path.name} is open in {lock.app}{who}."
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path.name} is read-only."
    if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
        return f"The folder {path.parent} is read-only."
    return None
