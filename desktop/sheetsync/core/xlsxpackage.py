"""Navigate an .xlsx/.xlsm package (an OPC zip) without loading any worksheet.

Only the small XML parts (relationships, ``workbook.xml``) are parsed, with
ElementTree; worksheets are left to the streaming rewriter in
:mod:`sheetsync.core.writeback`. Relationship types are matched on their last path
segment, so transitional and Strict OOXML (``purl.oclc.org``) files both work.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from sheetsync.core.errors import WorkbookError

__all__ = [
    "UnsupportedWorkbook",
    "Package",
    "SheetRef",
    "open_package",
    "find_sheet",
    "related_parts",
]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class UnsupportedWorkbook(WorkbookError):
    """A readable workbook the lossless writer cannot change safely; nothing was written."""


@dataclass(frozen=True)
class SheetRef:
    name: str
    part: str  # zip member name
    kind: str  # "worksheet", "chartsheet", "dialogsheet", "xlMacrosheet"...


@dataclass(frozen=True)
class Package:
    path: Path
    zip: zipfile.ZipFile
    workbook_part: str
    sheets: tuple[SheetRef, ...]
    styles_part: str | None
    date1904: bool

    def member(self, part: str) -> str | None:
        """The zip member for an OPC part name (part names are case-insensitive)."""
        return _member_index(self.zip).get(part.casefold())


def _member_index(zf: zipfile.ZipFile) -> dict[str, str]:
    index = getattr(zf, "_sheetsync_index", None)
    if index is None:
        index = {name.casefold(): name for name in zf.namelist()}
        zf._sheetsync_index = index  # type: ignore[attr-defined]
    return index


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rel_kind(rel_type: str) -> str:
    return rel_type.rstrip("/").rsplit("/", 1)[-1]


def _rels_part(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def resolve_target(source_part: str, target: str) -> str:
    """Part name of a relationship target: absolute ('/xl/..') or relative to the source."""
    target = unquote(target.split("#", 1)[0])
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def related_parts(zf: zipfile.ZipFile, source_part: str) -> list[tuple[str, str, str]]:
    """(rId, kind, part name) of each internal relationship of ``source_part``."""
    rels_member = _member_index(zf).get(_rels_part(source_part).casefold())
    if rels_member is None:
        return []
    root = _parse(zf, rels_member)
    out = []
    for rel in root:
        if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target")
        if target:
            kind = _rel_kind(rel.get("Type", ""))
            out.append((rel.get("Id", ""), kind, resolve_target(source_part, target)))
    return out


def _parse(zf: zipfile.ZipFile, member: str) -> ET.Element:
    try:
        return ET.fromstring(zf.read(member))
    except ET.ParseError as exc:
        raise UnsupportedWorkbook(
            f"The part {member} of this workbook is not valid XML, so Sheet Sync cannot "
            "write into it safely. Open the file in Excel and save a copy, then use the copy.",
            details=str(exc),
        ) from exc


def open_package(path: Path) -> Package:
    """Open the zip and read the workbook's sheet list; translate every failure to WorkbookError.

    The caller closes ``package.zip``.
    """
    zf = open_zip(path)
    try:
        return _read_package(path, zf)
    except BaseException:
        zf.close()
        raise


def open_zip(path: Path) -> zipfile.ZipFile:
    name = Path(path).name
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise WorkbookError(f"The workbook {path} does not exist.") from exc
    except IsADirectoryError as exc:
        raise WorkbookError(f"{path} is a folder, not a workbook.") from exc
    except PermissionError as exc:
        raise WorkbookError(
            f"Sheet Sync may not read {name}: check the file's permissions.", details=str(exc)
        ) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        raise WorkbookError(_not_a_zip_message(Path(path)), details=str(exc)) from exc


def _not_a_zip_message(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        head = b""
    if head == _OLE_MAGIC:
        return (
            f"{path.name} is a password-protected workbook or an old .xls file. Open it in "
            "Excel, remove the password (or choose Save As > Excel Workbook .xlsx), and try again."
        )
    return (
        f"{path.name} is not an Excel workbook, or it is damaged (it is not a valid .xlsx "
        "zip package). Open it in Excel and save it as .xlsx, then try again."
    )


def _read_package(path: Path, zf: zipfile.ZipFile) -> Package:
    workbook_part = "xl/workbook.xml"
    for _, kind, part in related_parts(zf, ""):
        if kind == "officeDocument":
            workbook_part = part
            break
    if workbook_part.endswith(".bin"):
        raise UnsupportedWorkbook(
            f"{path.name} is a binary workbook (.xlsb), which Sheet Sync cannot write into. "
            "Save it as an Excel Workbook (.xlsx) and try again."
        )
    wb_member = _member_index(zf).get(workbook_part.casefold())
    if wb_member is None:
        raise WorkbookError(
            f"{path.name} is a zip file but not an Excel workbook (it has no workbook part). "
            "Open it in Excel and save it as .xlsx, then try again."
        )
    rels = {rid: (kind, part) for rid, kind, part in related_parts(zf, workbook_part)}
    root = _parse(zf, wb_member)
    date1904 = False
    sheets: list[SheetRef] = []
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "workbookPr":
            date1904 = el.get("date1904", "0").lower() in ("1", "true")
        elif tag == "sheet":
            ids = (v for k, v in el.attrib.items() if _local(k) == "id" and k.startswith("{"))
            rid = next(ids, "")
            kind, part = rels.get(rid, ("", ""))
            sheets.append(SheetRef(el.get("name", ""), part, kind))
    styles = next((part for kind, part in rels.values() if kind == "styles"), None)
    if styles is not None and _member_index(zf).get(styles.casefold()) is None:
        styles = None
    return Package(Path(path), zf, workbook_part, tuple(sheets), styles, date1904)


def find_sheet(package: Package, sheet_name: str) -> SheetRef:
    """The worksheet named ``sheet_name`` (exact match first, then case-insensitive like Excel)."""
    sheet = next((s for s in package.sheets if s.name == sheet_name), None)
    if sheet is None:
        folded = sheet_name.casefold()
        sheet = next((s for s in package.sheets if s.name.casefold() == folded), None)
    name = package.path.name
    if sheet is None:
        listed = ", ".join(f'"{s.name}"' for s in package.sheets) or "none"
        raise WorkbookError(f'{name} has no sheet named "{sheet_name}". Its sheets are: {listed}.')
    if sheet.kind == "chartsheet":
        raise UnsupportedWorkbook(
            f'"{sheet.name}" in {name} is a chart sheet: it has no cells to write results into. '
            "Choose the worksheet that holds the contact list."
        )
    if sheet.kind and sheet.kind != "worksheet":
        raise UnsupportedWorkbook(
            f'"{sheet.name}" in {name} is not an ordinary worksheet ({sheet.kind}), '
            "so Sheet Sync cannot write results into it. Choose another sheet, or copy the data "
            "to a new worksheet in Excel and save."
        )
    member = package.member(sheet.part) if sheet.part else None
    if member is None:
        raise UnsupportedWorkbook(
            f'The sheet "{sheet.name}" in {name} points to a part that is missing from the file '
            f"({sheet.part or 'no target'}); the workbook is damaged. Open it in Excel and save "
            "a copy (Excel repairs it), then use the copy."
        )
    return SheetRef(sheet.name, member, sheet.kind)
