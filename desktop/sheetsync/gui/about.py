"""Help > About: version, where the log and settings are (for support)."""

from __future__ import annotations

from sheetsync import __version__
from sheetsync.core.paths import AppPaths


def about_text(paths: AppPaths) -> str:
    return (
        f"Sheet Sync {__version__}\n\n"
        "Syncs contact lists from Excel workbooks into Replify campaigns and writes every "
        "row's result back into the workbook.\n\n"
        f"Log file (send it to support; it never holds your API key):\n{paths.log_file}\n\n"
        f"Settings:\n{paths.settings_file}"
    )
