"""Errors as dialogs: what happened and what to do; technical details folded away."""

from __future__ import annotations

import traceback

from PySide6.QtWidgets import QMessageBox, QWidget

from sheetsync.core.errors import SheetSyncError


def describe(exc: BaseException) -> tuple[str, str]:
    """(message for the user, technical details) for any exception."""
    if isinstance(exc, SheetSyncError):
        return str(exc), exc.details or ""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = (
        f"Sheet Sync hit an unexpected problem ({type(exc).__name__}). Nothing was lost: "
        "try again, and if it happens again send the log file (Help > About) to support."
    )
    return message, details


def error_box(parent: QWidget | None, exc: BaseException, title: str = "Sheet Sync") -> QMessageBox:
    message, details = describe(exc)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    if details:
        box.setDetailedText(details)  # folded behind "Show Details..."
    return box


def crash_box(parent: QWidget | None, exc: BaseException, log_file: str | None) -> QMessageBox:
    _, details = describe(exc)
    where = f"\n\nThe details are in the log file:\n{log_file}" if log_file else ""
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "Sheet Sync: unexpected error",
        "Sheet Sync hit an unexpected error. Your workbook was not changed by it, and the "
        "results of a sync are kept. You can go on working; if it happens again, please "
        f"send the log file to support.{where}",
        QMessageBox.StandardButton.Ok,
        parent,
    )
    box.setObjectName("crashDialog")
    box.setDetailedText(details)
    return box
