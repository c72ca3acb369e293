"""What every installer says about the app: one place, read by the spec, the build
scripts, the Info.plist generator and the tests.

The version is read from ``desktop/sheetsync/__init__.py`` (``__version__``) without
importing the package, the same way setuptools reads it for the wheel
(``[tool.setuptools.dynamic] version = {attr = "sheetsync.__version__"}``), so the
About dialog, the wheel, the bundle and every installer file name agree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"
PACKAGE_INIT = ROOT / "desktop" / "sheetsync" / "__init__.py"

NAME = "Sheet Sync"  # shown to people: menus, Start menu, Finder, installers
EXE_NAME = "sheetsync"  # the command and the bundle folder
APP_ID = "com.replify.SheetSync"  # reverse-DNS: macOS bundle id, Windows registry keys
# Linux desktop file id and icon name: must equal QGuiApplication.setDesktopFileName() in
# desktop/sheetsync/gui/app.py (Wayland and the docks match windows to launchers by it;
# tests/test_packaging.py checks they agree).
DESKTOP_ID = "sheetsync"
PUBLISHER = "Replify"
DEB_PACKAGE = "replify-sheet-sync"  # same as the Python distribution name
SUMMARY = "Sync Excel contact lists into Replify campaigns"
DESCRIPTION = (
    "Sends the contacts of an Excel workbook to a Replify campaign and writes every "
    "row's result back into the workbook."
)
HOMEPAGE = "https://replify.ai"
# The documents the app opens: extension -> (MIME type, macOS UTI, description)
DOCUMENT_TYPES = {
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "org.openxmlformats.spreadsheetml.sheet",
        "Excel Workbook",
    ),
    "xlsm": (
        "application/vnd.ms-excel.sheet.macroEnabled.12",
        "com.microsoft.excel.sheet.macroenabled",
        "Excel Macro-Enabled Workbook",
    ),
}


def version(init: Path = PACKAGE_INIT) -> str:
    """``sheetsync.__version__``, read from the source without importing it."""
    tree = ast.parse(init.read_text(encoding="utf-8"), str(init))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            if not isinstance(value, str) or not value:
                break
            return value
    raise RuntimeError(f"no __version__ = '...' string in {init}")


def numeric_version(text: str | None = None) -> tuple[int, int, int, int]:
    """The version as four numbers, for Windows VERSIONINFO and macOS CFBundleVersion.

    "1.2.3" -> (1, 2, 3, 0); "1.2.0rc1" -> (1, 2, 0, 0): pre-release tags are dropped.
    """
    text = version() if text is None else text
    parts = [int(p) for p in re.findall(r"\d+", re.split(r"[^\d.]", text, maxsplit=1)[0])]
    parts = (parts + [0, 0, 0, 0])[:4]
    return parts[0], parts[1], parts[2], parts[3]
