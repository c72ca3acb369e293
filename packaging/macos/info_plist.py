"""The macOS Info.plist of "Sheet Sync.app": name, version, icon, and the Excel document
types Finder offers to open with the app.

The spec passes :func:`info_plist` to PyInstaller's BUNDLE; run as a script it writes the
plist (for a look, and for the tests on machines without macOS):

    python packaging/macos/info_plist.py build/Info.plist
"""

from __future__ import annotations

import os
import plistlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import appinfo  # noqa: E402

MIN_MACOS = "12.0"  # Qt 6.8+ supports macOS 12 and later


def info_plist(version: str | None = None) -> dict:
    version = version or appinfo.version()
    build = ".".join(str(n) for n in appinfo.numeric_version(version)[:3])
    document_types = [
        {
            "CFBundleTypeName": description,
            "CFBundleTypeRole": "Editor",  # it writes the results back into the workbook
            "LSHandlerRank": "Alternate",  # offered in "Open With", never the default
            "LSItemContentTypes": [uti],
            "CFBundleTypeExtensions": [ext],
            "CFBundleTypeMIMETypes": [mime],
        }
        for ext, (mime, uti, description) in appinfo.DOCUMENT_TYPES.items()
    ]
    return {
        "CFBundleName": appinfo.NAME,
        "CFBundleDisplayName": appinfo.NAME,
        "CFBundleIdentifier": appinfo.APP_ID,
        "CFBundleExecutable": appinfo.EXE_NAME,
        "CFBundlePackageType": "APPL",
        "CFBundleIconFile": "sheetsync.icns",
        # Apple wants both as up to three numbers: "1.2.0rc1" is shown as 1.2.0
        "CFBundleShortVersionString": build,
        "CFBundleVersion": build,
        "CFBundleDocumentTypes": document_types,
        # macOS knows these UTIs when Office is installed; declare them so "Open With"
        # works on a Mac without Office too.
        "UTImportedTypeDeclarations": [
            {
                "UTTypeIdentifier": uti,
                "UTTypeDescription": description,
                "UTTypeConformsTo": ["public.data", "public.composite-content"],
                "UTTypeTagSpecification": {
                    "public.filename-extension": [ext],
                    "public.mime-type": [mime],
                },
            }
            for ext, (mime, uti, description) in appinfo.DOCUMENT_TYPES.items()
        ],
        "LSApplicationCategoryType": "public.app-category.business",
        "LSMinimumSystemVersion": os.environ.get("MACOSX_DEPLOYMENT_TARGET", MIN_MACOS),
        "NSHighResolutionCapable": True,
        "NSPrincipalClass": "NSApplication",
        "NSRequiresAquaSystemAppearance": False,
        "NSHumanReadableCopyright": f"© {appinfo.PUBLISHER}",
    }


def write(path: Path, version: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        plistlib.dump(info_plist(version), fh)
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else appinfo.ROOT / "build" / "Info.plist"
    print(write(target))
