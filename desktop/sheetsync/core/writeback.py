"""Lossless write-back of the status columns into one worksheet of an .xlsx/.xlsm package.

An openpyxl load-and-save rewrites the whole package and drops what it cannot read
(images, 2010+ extensions, cached values). Here only the target sheet's XML part is
rewritten, streamed in chunks: a byte-level scanner finds row boundaries, copies every
row it does not touch verbatim, and re-emits only the rows that get results. Every other
zip member is copied with the same name, order, compression type and date; ``styles.xml``
(one date style, if none fits) and a table part (the status columns join an Excel table)
are the only other parts that may change.

Handled: namespace prefixes (new elements take the sheetData's prefix), rows and cells
without ``r``, shared/array formulas and rich text (copied verbatim), ``<row/>``, ``spans``,
``<dimension>``, a sheet autoFilter and Excel tables that end just before the status
columns, status cells from an earlier run (replaced, their style kept), Strict OOXML,
.xlsm, the 1904 date system, zip64 only where a member needs it.

Refused with :class:`UnsupportedWorkbook` (``dst`` is removed, the source is untouched):
a chart sheet or a sheet part missing from the package, .xlsb, a sheet not in UTF-8,
XML comments/CDATA inside sheetData (Excel never writes them), rows out of order, a
formula in a status cell (it would be destroyed), a status value inside merged cells
(Excel would hide it), encrypted zip members. Nothing is ever dropped silently.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import zipfile
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Union

from sheetsync.core.errors import SaveError, WorkbookError
from sheetsync.core.values import column_letter
from sheetsync.core.xlsxpackage import (
    Package,
    UnsupportedWorkbook,
    find_sheet,
    open_package,
    related_parts,
)

__all__ = [
    "UnsupportedWorkbook",
    "sheet_part_name",
    "patch_sheet",
    "find_error_cells",
    "atomic_replace",
    "KEEP",
    "StreamedRows",
]

Value = Union[str, datetime, None]

MAX_ROW = 1_048_576
MAX_COL = 16_384
MAX_CELL_CHARS = 32_767  # Excel's limit, in UTF-16 code units
CHUNK = 1 << 20
# Level 2 deflates the big sheet part 4.5x faster than the default 6 for 20% more bytes
# (66 MB of XML: 0.16 s, against 0.27 s at level 3 and 0.71 s at 6).
SHEET_COMPRESS_LEVEL = 2

# --------------------------------------------------------------------------- public API

#: The value list of a row that is left as it is (a streamed row that got no values).
KEEP: Sequence[Value] = ()


class StreamedRows(Mapping[int, Sequence[Value]]):
    """Row values that arrive while the sheet is being written, in any order.

    The row numbers are known up front (``keys``); ``self[rnum]`` waits until that row's
    values are there, or returns KEEP once no more will come. Implemented by
    ``core.writeahead``; here only the interface the writer needs.
    """

    header: tuple[int, list[str]] | None = None

    def size_bound(self) -> int:
        """Upper bound of the bytes the new cells add, without knowing the values."""
        raise NotImplementedError


def sheet_part_name(path: Path, sheet_name: str) -> str:
    """Zip member of that sheet, resolved through the workbook's relationships."""
    package = open_package(Path(path))
    with package.zip:
        return find_sheet(package, sheet_name).part


def patch_sheet(
    src: Path,
    dst: Path,
    *,
    sheet_name: str,
    header_row: int,
    columns: Sequence[tuple[int, str]],
    rows: Mapping[int, Sequence[Value]],
    streamed: StreamedRows | None = None,
) -> None:
    """Write a copy of ``src`` to ``dst`` with the header texts and row values in ``columns``.

    str values become inline-string cells (always text, never formulas); datetimes become
    date-time cells; None removes an existing cell. ``dst`` is removed again on failure.

    ``streamed``: the rows' values arrive while the sheet is written (see
    ``core.writeahead``); ``rows`` is then ignored.
    """
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ValueError("dst must be a new file beside src, not src itself")
    targets: Mapping[int, Sequence[Value]]
    if streamed is None:
        targets = _targets(header_row, columns, rows)
    else:
        _targets(header_row, columns, {})
        streamed.header = (header_row, [name for _, name in columns])
        targets = streamed
    cols = [c for c, _ in columns]
    package = open_package(src)
    try:
        with package.zip:
            sheet = find_sheet(package, sheet_name)
            replaced = _prepare_parts(package, sheet.part, header_row, columns, targets, streamed is not None)
            plan = _Plan(
                cols=cols,
                targets=targets,
                header_row=header_row,
                date_style=replaced.date_style,
                date_styles=replaced.date_styles,
                date1904=package.date1904,
                file_name=src.name,
                sheet_name=sheet.name,
                bound=streamed.size_bound() if streamed is not None else None,
            )
            _write_package(package, dst, sheet.part, plan, replaced.parts)
    except BaseException as exc:
        dst.unlink(missing_ok=True)
        if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError)):
            raise WorkbookError(
                f"{src.name} is damaged (a part of the zip package cannot be read). Open it in "
                "Excel and save a copy, then use the copy.",
                details=str(exc),
            ) from exc
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise SaveError(
                f"Sheet Sync could not write {dst} ({exc.strerror or exc}). Check that the disk "
                "is not full and the folder is writable.",
                details=str(exc),
            ) from exc
        raise


def find_error_cells(path: Path, sheet_name: str) -> list[tuple[int, int, str]]:
    """(row, col, error text such as '#N/A') of every error cell in the sheet, streaming."""
    package = open_package(Path(path))
    with package.zip:
        member = find_sheet(package, sheet_name).part
        with package.zip.open(member) as fh:
            if not _contains_any(fh, (b't="e"', b"t='e'")):
                return []
        with package.zip.open(member) as fh:
            return list(_error_cells(_Reader(fh)))


def atomic_replace(tmp: Path, target: Path) -> None:
    """fsync ``tmp`` and move it onto ``target`` in one step.

    ``tmp`` must be in the target's folder. On failure ``tmp`` is left in place: it is a
    complete copy of the workbook with the results, which the caller may offer to keep.
    """
    tmp, target = Path(tmp), Path(target)
    try:
        with open(tmp, "r+b") as fh:
            os.fsync(fh.fileno())
        if target.exists():
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except PermissionError as exc:
        raise SaveError(
            f"Sheet Sync could not save {target.name}: the file may be open in Excel, or it is "
            "read-only. Close it in Excel (or make it writable) and save again.",
            details=str(exc),
        ) from exc
    except OSError as exc:
        raise SaveError(
            f"Sheet Sync could not save {target.name} ({exc.strerror or exc}). The file may be "
            "open in Excel or read-only, or the disk may be full.",
            details=str(exc),
        ) from exc


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- input checks


def _targets(
    header_row: int, columns: Sequence[tuple[int, str]], rows: Mapping[int, Sequence[Value]]
) -> dict[int, Sequence[Value]]:
    if not columns:
        raise ValueError("columns must name at least one column")
    cols = [c for c, _ in columns]
    if len(set(cols)) != len(cols) or not all(1 <= c <= MAX_COL for c in cols):
        raise ValueError(f"columns must be distinct indexes in 1..{MAX_COL}: {cols}")
    for rnum, values in rows.items():
        if not 1 <= rnum <= MAX_ROW or len(values) != len(cols):
            raise ValueError(f"row {rnum}: expected {len(cols)} values in rows 1..{MAX_ROW}")
    if not 1 <= header_row <= MAX_ROW:
        raise ValueError(f"header_row {header_row} is outside 1..{MAX_ROW}")
    targets: dict[int, Sequence[Value]] = dict(rows)
    targets[header_row] = [name for _, name in columns]
    return targets


# --------------------------------------------------------------------------- cell text


_NEEDS_FIX = re.compile(
    "[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)"
)


def _fix_char(m: re.Match[str]) -> str:
    ch = m.group()
    if ch == "_":  # a literal "_x0041_" must not be decoded by Excel: escape its underscore
        return "_x005F_"
    if "\ud800" <= ch <= "\udfff" or ch in "\ufffe\uffff":
        return "\ufffd"
    return f"_x{ord(ch):04X}_"  # Excel's escape for control characters (and CR)


def _clip(text: str) -> str:
    """Clip to Excel's 32,767 UTF-16 code units, ending with an ellipsis."""
    if len(text) <= MAX_CELL_CHARS // 2:
        return text
    if len(text.encode("utf-16-le", "surrogatepass")) // 2 <= MAX_CELL_CHARS:
        return text
    units, out = 0, []
    for ch in text:
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > MAX_CELL_CHARS - 1:
            break
        out.append(ch)
    return "".join(out) + "\u2026"


def xml_text(text: str) -> bytes:
    """Cell text as XML character data: clipped, illegal characters escaped, UTF-8."""
    text = _clip(text)
    if _NEEDS_FIX.search(text):
        text = _NEEDS_FIX.sub(_fix_char, text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").encode("utf-8")



def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


_EPOCH_1900 = datetime(1899, 12, 30)
_EPOCH_1904 = datetime(1904, 1, 1)


def excel_serial(value: datetime, date1904: bool = False) -> str:
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    delta = value - (_EPOCH_1904 if date1904 else _EPOCH_1900)
    serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    return repr(round(serial, 8))


# --------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    cols: list[int]
    targets: Mapping[int, Sequence[Value]]
    header_row: int
    date_style: int | None  # None: no styles part, dates are written as ISO text
    date_styles: frozenset[int]
    date1904: bool
    file_name: str
    sheet_name: str
    bound: int | None = None  # given by a streamed plan, whose values are not known up front
    prefix: bytes = b""
    order: list[tuple[int, int]] = field(default_factory=list)  # (col, value index) by col
    _texts: dict[str, bytes] = field(default_factory=dict)
    _serials: dict[datetime, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.order = sorted((c, i) for i, c in enumerate(self.cols))
        self.min_col = self.order[0][0]
        self.max_col = self.order[-1][0]
        self.sorted_rows = sorted(self.targets)
        self.status_cols = frozenset(self.cols)
        self.set_prefix(b"")

    def set_prefix(self, p: bytes) -> None:
        """Precompute the byte templates of new cells for the sheet's namespace prefix."""
        self.prefix = p
        self.starts = {c: b'<%sc r="%s' % (p, column_letter(c).encode()) for c in self.cols}
        self.str_mid = b'" t="inlineStr"><%sis><%st xml:space="preserve">' % (p, p)
        self.str_end = b"</%st></%sis></%sc>" % (p, p, p)
        self.date_s = b"%d" % self.date_style if self.date_style is not None else b""

    def cell(self, col: int, rnum: int, value: Value, old_attrs: bytes | None) -> bytes:
        """XML of one new status cell (empty bytes for None)."""
        if value is None:
            return b""
        p = self.prefix
        start = self.starts[col] + b"%d" % rnum
        old_s = _attr(old_attrs, b"s") if old_attrs else None
        if isinstance(value, datetime):
            if self.date_style is not None:
                keep = old_s is not None and old_s.isdigit() and int(old_s) in self.date_styles
                s = old_s if keep else self.date_s  # type: ignore[assignment]
                serial = self._serials.get(value)
                if serial is None:
                    serial = self._serials[value] = excel_serial(value, self.date1904).encode()
                return start + b'" s="' + s + b'"><%sv>%s</%sv></%sc>' % (p, serial, p, p)
            value = value.isoformat(sep=" ", timespec="seconds")
        text = self._texts.get(value)
        if text is None:
            text = xml_text(str(value))
            if len(self._texts) < 10_000:
                self._texts[value] = text
        if old_s is not None:
            start += b'" s="' + old_s
        return start + self.str_mid + text + self.str_end

    def new_row(self, rnum: int) -> bytes:
        values = self.targets[rnum]
        if values is KEEP:
            return b""
        cells = b"".join(self.cell(c, rnum, values[i], None) for c, i in self.order)
        if not cells:
            return b""
        p = self.prefix
        return b'<%srow r="%d">%s</%srow>' % (p, rnum, cells, p)

    def size_bound(self) -> int:
        """Upper bound of the bytes the new cells add (to decide on zip64 up front)."""
        if self.bound is not None:
            return self.bound
        total = 4096  # dimension, autoFilter
        for values in self.targets.values():
            total += 64
            for v in values:
                total += 160 + (7 * len(v) if isinstance(v, str) else 40)
        return total


_ATTR_RES: dict[bytes, re.Pattern[bytes]] = {}


def _attr(attrs: bytes, name: bytes) -> bytes | None:
    """Value of attribute ``name`` in a start tag's bytes (fast path for Excel's ' r="..."')."""
    k = attrs.find(b' %s="' % name)
    if k != -1:
        start = k + len(name) + 3
        return attrs[start : attrs.find(b'"', start)]
    if name + b"=" not in attrs and name + b" " not in attrs and name + b"\t" not in attrs:
        return None
    pattern = _ATTR_RES.get(name)
    if pattern is None:
        pattern = re.compile(rb"(?:^|\s)" + name + rb"""\s*=\s*(["'])(.*?)\1""", re.S)
        _ATTR_RES[name] = pattern
    m = pattern.search(attrs)
    return m.group(2) if m else None


# --------------------------------------------------------------------------- reader


class _Reader:
    """Chunks of a zip member in a growing bytes buffer."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = b""
        self.eof = False

    def more(self, keep_from: int) -> int:
        """Drop buf[:keep_from], append a chunk; return how many bytes were dropped."""
        chunk = self.fh.read(CHUNK)
        if not chunk:
            self.eof = True
        self.buf = self.buf[keep_from:] + chunk
        return keep_from


def _contains_any(fh: BinaryIO, needles: tuple[bytes, ...]) -> bool:
    tail = b""
    while chunk := fh.read(CHUNK):
        data = tail + chunk
        if any(n in data for n in needles):
            return True
        tail = data[-8:]
    return False


_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")
_SHEETDATA = re.compile(rb"<([A-Za-z_][\w.\-]*:)?sheetData(?=[\s/>])[^>]*?(/?)>")
_DIMENSION = re.compile(rb"""(<(?:[\w.\-]+:)?dimension\b[^>]*?\sref\s*=\s*)(["'])([^"']*)\2""")
_REF = re.compile(rb"^\$?([A-Za-z]{1,3})\$?([0-9]+)$")
_WS = b" \t\r\n"


def _unsupported_encoding(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    m = _XML_DECL.match(head.removeprefix(b"\xef\xbb\xbf"))
    return bool(m) and m.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8")


def _read_head(reader: _Reader, plan: _Plan) -> re.Match[bytes]:
    """Fill the buffer up to the sheetData start tag; return its match."""
    while True:
        m = _SHEETDATA.search(reader.buf)
        if m:
            break
        if reader.eof:
            raise UnsupportedWorkbook(
                f'The sheet "{plan.sheet_name}" in {plan.file_name} has no cell data section '
                "(sheetData), so Sheet Sync cannot write into it. Open the file in Excel and "
                "save a copy, then use the copy."
            )
        reader.more(0)
    if _unsupported_encoding(reader.buf[:200]):
        raise UnsupportedWorkbook(
            f'The sheet "{plan.sheet_name}" in {plan.file_name} is not stored as UTF-8, which '
            "Sheet Sync cannot rewrite safely. Open the file in Excel and save a copy, then use "
            "the copy."
        )
    return m


# --------------------------------------------------------------------------- ranges


def _parse_ref(ref: bytes) -> tuple[int, int, int, int] | None:
    """(min_col, min_row, max_col, max_row) of 'A1:C10' or 'A1'."""
    parts = ref.strip().split(b":")
    if len(parts) not in (1, 2):
        return None
    cells = [_REF.match(p) for p in parts]
    if not all(cells):
        return None
    cols = [_col_number(m.group(1)) for m in cells]  # type: ignore[union-attr]
    rws = [int(m.group(2)) for m in cells]  # type: ignore[union-attr]
    return min(cols), min(rws), max(cols), max(rws)


def _format_ref(box: tuple[int, int, int, int]) -> bytes:
    c1, r1, c2, r2 = box
    first = f"{column_letter(c1)}{r1}"
    return (first if (c1, r1) == (c2, r2) else f"{first}:{column_letter(c2)}{r2}").encode()


def _extend_right(ref: bytes, plan: _Plan) -> bytes | None:
    """The ref grown to the last status column, if it is a range headed on the header row
    that ends in the column just before the status columns (or already inside them)."""
    box = _parse_ref(ref)
    if box is None:
        return None
    c1, r1, c2, r2 = box
    if r1 != plan.header_row or c1 > plan.min_col or not plan.min_col - 1 <= c2 < plan.max_col:
        return None
    return _format_ref((c1, r1, plan.max_col, r2))


def _patch_dimension(head: bytes, plan: _Plan) -> bytes:
    m = _DIMENSION.search(head)
    box = _parse_ref(m.group(3)) if m else None
    if m is None or box is None:
        return head
    rnums = plan.targets.keys()
    new = (
        min(box[0], plan.min_col),
        min(box[1], min(rnums)),
        max(box[2], plan.max_col),
        max(box[3], max(rnums)),
    )
    if new == box:
        return head
    return head[: m.start(3)] + _format_ref(new) + head[m.end(3) :]


# --------------------------------------------------------------------------- the sheet pass


class _Out:
    """Buffered writer: the zip stream pays per call, so join small pieces first."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.fh.write(b"".join(self.parts))
            self.parts, self.size = [], 0


def rewrite_sheet(src: BinaryIO, dst: BinaryIO, plan: _Plan) -> None:
    """Stream the sheet XML from ``src`` to ``dst`` with the status cells written."""
    reader = _Reader(src)
    out = _Out(dst)
    m = _read_head(reader, plan)
    plan.set_prefix(m.group(1) or b"")
    head = _patch_dimension(reader.buf[: m.start()], plan)
    out.write(head)
    if m.group(2):  # <sheetData/>: every target row is new
        p = plan.prefix
        out.write(m.group(0)[:-2].rstrip() + b">")
        for rnum in sorted(plan.targets):
            out.write(plan.new_row(rnum))
        out.write(b"</%ssheetData>" % p)
        reader.more(m.end())
    else:
        out.write(m.group(0))
        reader.more(m.end())
        _rewrite_rows(reader, out, plan)
    _copy_tail(reader, out, plan)
    out.flush()


def _need_more(reader: _Reader, out: _Out, out_pos: int, keep_from: int, plan: _Plan) -> None:
    if reader.eof:
        raise WorkbookError(
            f'The sheet "{plan.sheet_name}" in {plan.file_name} ends in the middle of its data: '
            "the file is damaged. Open it in Excel and save a copy, then use the copy."
        )
    out.write(reader.buf[out_pos:keep_from])
    reader.more(keep_from)


def _has(buf: bytes, needle: bytes, anchor: int, start: int, stop: int) -> bool:
    """``needle in buf[start:stop]``, found through its byte at ``anchor``, one that is rare
    in sheet XML. bytes.find of a short needle made of '<', '"' and letters steps through
    the sheet's dense markup: 60 ms for 66 MB, against 4 ms for a rare byte's memchr."""
    key = needle[anchor : anchor + 1]
    end = stop - len(needle) + anchor + 1  # the anchor of a needle that ends by ``stop``
    if end <= start + anchor:
        return False
    i = buf.find(key, start + anchor, end)
    while i != -1:
        if buf.startswith(needle, i - anchor):
            return True
        i = buf.find(key, i + 1, end)
    return False


def _refuse_markup(reader: _Reader, start: int, sd_end: int, plan: _Plan) -> None:
    """Comments, CDATA or processing instructions inside sheetData would fool the scanner."""
    stop = sd_end if sd_end != -1 else len(reader.buf)
    if _has(reader.buf, b"<!", 1, start, stop) or _has(reader.buf, b"<?", 1, start, stop):
        raise UnsupportedWorkbook(
            f'The sheet "{plan.sheet_name}" in {plan.file_name} contains XML comments or CDATA '
            "in its cell data (Excel never writes these), so Sheet Sync cannot rewrite it "
            "safely. Open the file in Excel and save a copy, then use the copy."
        )


def _rewrite_rows(reader: _Reader, out: _Out, plan: _Plan) -> None:
    """Copy rows verbatim, re-emit target rows, insert missing ones; stop at </sheetData>."""
    p = plan.prefix
    row_open, row_close, sd_close = b"<%srow" % p, b"</%srow>" % p, b"</%ssheetData>" % p
    n_open = len(row_open)
    todo = sorted(plan.targets)
    ti, n_todo = 0, len(todo)
    prev = 0
    pos = out_pos = 0
    sd_end = reader.buf.find(sd_close)
    _refuse_markup(reader, 0, sd_end, plan)
    _check_array_formulas(reader.buf, 0, sd_end, plan)
    while True:
        buf = reader.buf
        i = buf.find(row_open, pos)
        if i != -1 and (sd_end == -1 or i < sd_end):
            j = buf.find(b">", i)
            if j == -1 or i + n_open >= len(buf):  # the start tag is cut by the chunk end
                _need_more(reader, out, out_pos, i, plan)
                pos = out_pos = 0
                sd_end = _find_after(reader, sd_close, 0, plan)
                continue
            if buf[i + n_open] not in b" \t\r\n/>":
                pos = i + 1
                continue
            tag = buf[i : j + 1]
            r = _attr(tag[n_open:], b"r")
            rnum = int(r) if r is not None and r.isdigit() else prev + 1 if r is None else -1
            if rnum <= prev:
                raise UnsupportedWorkbook(
                    f'The rows of sheet "{plan.sheet_name}" in {plan.file_name} are not in order '
                    f"(row {rnum} after row {prev}), so Sheet Sync cannot rewrite it safely. "
                    "Open the file in Excel and save a copy, then use the copy."
                )
            while ti < n_todo and todo[ti] < rnum:
                out.write(buf[out_pos:i])
                out_pos = i
                out.write(plan.new_row(todo[ti]))
                ti += 1
            if ti < n_todo and todo[ti] == rnum:
                if tag.endswith(b"/>"):
                    end, content = j + 1, None
                else:
                    k = buf.find(row_close, j + 1)
                    if k == -1:
                        _need_more(reader, out, out_pos, i, plan)
                        pos = out_pos = 0
                        sd_end = _find_after(reader, sd_close, 0, plan)
                        continue
                    end, content = k + len(row_close), buf[j + 1 : k]
                out.write(buf[out_pos:i])
                out.write(_rewrite_row(tag, content, rnum, plan))
                out_pos = pos = end
                ti += 1
            else:
                pos = j + 1
            prev = rnum
            continue
        if sd_end != -1:
            out.write(buf[out_pos:sd_end])
            while ti < n_todo:
                out.write(plan.new_row(todo[ti]))
                ti += 1
            reader.more(sd_end)
            return
        last_lt = buf.rfind(b"<", pos)  # a cut tag starts at the last '<'
        _need_more(reader, out, out_pos, last_lt if last_lt != -1 else len(buf), plan)
        pos = out_pos = 0
        sd_end = _find_after(reader, sd_close, 0, plan)


def _find_after(reader: _Reader, sd_close: bytes, start: int, plan: _Plan) -> int:
    """Position of </sheetData> in the buffer (-1 if not there yet), after checking the
    new data for markup the scanner cannot handle and for array formulas over status cells."""
    sd_end = reader.buf.find(sd_close, start)
    _refuse_markup(reader, start, sd_end, plan)
    _check_array_formulas(reader.buf, start, sd_end, plan)
    return sd_end


_MULTI_CELL_F = re.compile(
    rb"""<(?:[\w.\-]+:)?f\b[^>]*\bt\s*=\s*["'](?:array|dataTable)["'][^>]*>"""
)


def _check_array_formulas(buf: bytes, start: int, stop: int, plan: _Plan) -> None:
    """An array or data-table formula spanning a status cell would break if the cell changed."""
    stop = stop if stop != -1 else len(buf)
    if not _has(buf, b'"array"', 5, start, stop) and not _has(buf, b'"dataTable"', 7, start, stop):
        return  # (found through their "y" and "b")
    for m in _MULTI_CELL_F.finditer(buf, start, stop):
        ref = _attr(m.group(), b"ref")
        if ref:
            _check_range(ref, plan, "an array formula", anchor_ok=False)


# --------------------------------------------------------------------------- one row


@dataclass
class _Cell:
    col: int
    start: int
    end: int
    attrs: bytes
    has_r: bool


def iter_cells(content: bytes, prefix: bytes) -> Iterator[_Cell]:
    """The <c> elements of a row's content, with implicit columns resolved."""
    c_open, c_close = b"<%sc" % prefix, b"</%sc>" % prefix
    n = len(c_open)
    pos, prev = 0, 0
    while True:
        i = content.find(c_open, pos)
        if i == -1:
            return
        if content[i + n : i + n + 1] not in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
            pos = i + 1
            continue
        j = content.find(b">", i)
        attrs = content[i + n : j]
        if attrs.endswith(b"/"):
            end = j + 1
        else:
            end = content.find(c_close, j) + len(c_close)
        r = _attr(attrs, b"r")
        col = _col_number(_REF.match(r).group(1)) if r and _REF.match(r) else prev + 1
        yield _Cell(col, i, end, attrs, r is not None)
        prev, pos = col, end


_CELL_NEXT = (b" ", b"\t", b"\n", b"\r", b">", b"/")


def _status_split(
    body: bytes, prefix: bytes, min_col: int
) -> tuple[int, list[tuple[int, int]]] | None:
    """Where the cells at or right of ``min_col`` start, walking back from the row end.

    Returns (offset, [(col, start) of those cells in order]). Cells before the offset are
    kept byte for byte. None when a cell in that stretch (or the one before it) has no
    plain r attribute: the caller then tokenises the whole row.
    """
    c_open = b"<%sc" % prefix
    n = len(c_open)
    split = end = len(body)
    found: list[tuple[int, int]] = []
    while True:
        i = body.rfind(c_open, 0, end)
        if i == -1:
            break
        end = i
        if body[i + n : i + n + 1] not in _CELL_NEXT:
            continue  # <color>, <charset>... inside rich text
        if body[i + n : i + n + 4] != b' r="':
            return None
        m = _REF.match(body[i + n + 4 : body.find(b'"', i + n + 4)])
        if m is None:
            return None
        col = _col_number(m.group(1))
        if col < min_col:
            break
        split = i
        found.append((col, i))
    found.reverse()
    return split, found


def _rewrite_row(tag: bytes, content: bytes | None, rnum: int, plan: _Plan) -> bytes:
    values = plan.targets[rnum]
    p = plan.prefix
    if values is KEEP:
        return tag if content is None else tag + content + b"</%srow>" % p
    body = content or b""
    found = _status_split(body, p, plan.min_col)
    if found is None:
        new_body = _merge_cells(body, rnum, values, plan)
    else:
        split, tail_cells = found
        if b"<%sextLst" % p in body[split:] or b"<%sf" % p in body[split:]:
            new_body = body[:split] + _merge_cells(body[split:], rnum, values, plan)
        elif all(col in plan.status_cols for col, _ in tail_cells):
            # The usual cases: nothing there yet (append), or only our cells from a last run.
            old = {col: body[start : body.find(b">", start)] for col, start in tail_cells}
            fallback = _header_style(body, split, p) if rnum == plan.header_row else None
            cell = plan.cell
            cells = [cell(c, rnum, values[i], old.get(c, fallback)) for c, i in plan.order]
            new_body = body[:split] + b"".join(cells)
        else:  # other data right of the status columns
            new_body = body[:split] + _merge_cells(body[split:], rnum, values, plan)
    if new_body == body:
        return tag if content is None else tag + body + b"</%srow>" % p
    return _row_tag(tag, plan) + new_body + b"</%srow>" % p


def _header_style(body: bytes, split: int, prefix: bytes) -> bytes | None:
    """Start tag of the header cell left of the status columns: new headers take its style."""
    c_open = b"<%sc" % prefix
    i = body.rfind(c_open + b" ", 0, split)
    return body[i : body.find(b">", i)] if i != -1 else None


_SPANS = re.compile(rb"""(\sspans\s*=\s*)(["'])([^"']*)\2""")


def _row_tag(tag: bytes, plan: _Plan) -> bytes:
    """The row start tag, open (not self-closing), with spans covering the status columns."""
    if tag.endswith(b"/>"):
        tag = tag[:-2].rstrip() + b">"
    m = _SPANS.search(tag)
    if m:
        bounds = [int(x) for x in re.findall(rb"[0-9]+", m.group(3))]
        lo = min(bounds + [plan.min_col])
        hi = max(bounds + [plan.max_col])
        tag = tag[: m.start(3)] + b"%d:%d" % (lo, hi) + tag[m.end(3) :]
    return tag


def _merge_cells(body: bytes, rnum: int, values: Sequence[Value], plan: _Plan) -> bytes:
    """Drop old cells in the status columns, insert new ones in column order, and give
    every kept cell an explicit r (removing a cell would shift implicit ones after it)."""
    p = plan.prefix
    order, cell = plan.order, plan.cell
    parts: list[bytes] = []
    pos = k = 0
    for old in iter_cells(body, p):
        while k < len(order) and order[k][0] < old.col:
            parts.append(cell(order[k][0], rnum, values[order[k][1]], None))
            k += 1
        parts.append(body[pos : old.start])
        pos = old.end
        if k < len(order) and order[k][0] == old.col:
            _check_replaceable(body[old.start : old.end], old.col, rnum, plan)
            parts.append(cell(old.col, rnum, values[order[k][1]], old.attrs))
            k += 1
            continue
        raw = body[old.start : old.end]
        if not old.has_r:
            ref = column_letter(old.col).encode() + b"%d" % rnum
            raw = raw[: len(p) + 2] + b' r="%s"' % ref + raw[len(p) + 2 :]
        parts.append(raw)
    tail = body[pos:]
    ext = tail.find(b"<")  # a row-level extLst stays last
    if ext == -1:
        ext = len(tail)
    parts.append(tail[:ext])
    parts.extend(cell(c, rnum, values[i], None) for c, i in order[k:])
    parts.append(tail[ext:])
    return b"".join(parts)


def _check_replaceable(raw: bytes, col: int, rnum: int, plan: _Plan) -> None:
    if b"<%sf" % plan.prefix in raw:
        ref = f"{column_letter(col)}{rnum}"
        raise UnsupportedWorkbook(
            f'Cell {ref} of sheet "{plan.sheet_name}" in {plan.file_name} holds a formula, but '
            "it is in a column Sheet Sync writes results into. Move or delete that formula in "
            "Excel (or rename the status column headers), save, and sync again."
        )


# --------------------------------------------------------------------------- after sheetData


_TAIL_STOP = (
    rb"customSheetViews|mergeCells|phoneticPr|conditionalFormatting|dataValidations|hyperlinks|"
    rb"printOptions|pageMargins|pageSetup|headerFooter|rowBreaks|colBreaks|customProperties|"
    rb"cellWatches|ignoredErrors|smartTags|drawing|legacyDrawing|legacyDrawingHF|picture|"
    rb"oleObjects|controls|webPublishItems|tableParts|extLst"
)


def _copy_tail(reader: _Reader, out: _Out, plan: _Plan) -> None:
    """Copy everything after the rows; extend the sheet's own autoFilter on the way."""
    p = re.escape(plan.prefix)
    finder = re.compile(
        rb"<" + p + rb"autoFilter(?=[\s/>])[^>]*>|<(?:[\w.\-]+:)?(?:" + _TAIL_STOP + rb")(?=[\s/>])"
        rb"|</(?:[\w.\-]+:)?worksheet>"
    )
    while True:
        m = finder.search(reader.buf)
        if m or reader.eof:
            break
        reader.more(0)  # the parts before autoFilter are small: keep them all
    buf = reader.buf
    if m and m.group().startswith(b"<" + plan.prefix + b"autoFilter"):
        ref_m = re.search(rb"""(\sref\s*=\s*)(["'])([^"']*)\2""", m.group())
        new_ref = _extend_right(ref_m.group(3), plan) if ref_m else None
        if new_ref is not None:
            a, b = m.start() + ref_m.start(3), m.start() + ref_m.end(3)  # type: ignore[union-attr]
            buf = buf[:a] + new_ref + buf[b:]
    merge = re.compile(rb"<" + p + rb"mergeCell(?=[\s/>])[^>]*>")
    while True:
        chunk = reader.fh.read(CHUNK)
        cut = len(buf) if not chunk else buf.rfind(b"<")  # a tag cut by the chunk end waits
        if cut == -1:
            cut = len(buf)
        for mc in merge.finditer(buf, 0, cut):
            _check_merge(_attr(mc.group(), b"ref") or b"", plan)
        out.write(buf[:cut])
        if not chunk:
            out.write(buf[cut:])
            return
        buf = buf[cut:] + chunk


def _check_merge(ref: bytes, plan: _Plan) -> None:
    _check_range(ref, plan, "merged cells", anchor_ok=True)


def _check_range(ref: bytes, plan: _Plan, what: str, *, anchor_ok: bool) -> None:
    """Refuse a status cell inside a multi-cell range (merged cells: a value there would be
    hidden; an array formula: changing or clearing the cell would break the array)."""
    box = _parse_ref(ref)
    if box is None or box[0] > plan.max_col or box[2] < plan.min_col:
        return
    c1, r1, c2, r2 = box
    rows = plan.sorted_rows
    for k in range(bisect_left(rows, r1), bisect_right(rows, r2)):
        rnum, values = rows[k], plan.targets[rows[k]]
        if values is KEEP:
            continue
        for col, i in plan.order:
            if not c1 <= col <= c2 or (anchor_ok and (col, rnum) == (c1, r1)):
                continue
            if values[i] is None and anchor_ok:
                continue  # nothing is written there
            cell = f"{column_letter(col)}{rnum}"
            advice = (
                "Unmerge those cells in Excel (or move the status columns), save, and sync again."
                if anchor_ok
                else "Move that formula in Excel (or the status columns), save, and sync again."
            )
            raise UnsupportedWorkbook(
                f'Cell {cell} of sheet "{plan.sheet_name}" in {plan.file_name} is inside {what} '
                f"({ref.decode()}), so Sheet Sync cannot write a result there. {advice}"
            )


# --------------------------------------------------------------------------- error cells


def _error_cells(reader: _Reader) -> Iterator[tuple[int, int, str]]:
    while not (m := _SHEETDATA.search(reader.buf)) and not reader.eof:
        reader.more(0)
    if m is None or m.group(2):
        return
    p = m.group(1) or b""
    row_open, row_close = b"<%srow" % p, b"</%srow>" % p
    sd_close = b"</%ssheetData>" % p
    n = len(row_open)
    reader.more(m.end())
    sd = reader.buf.find(sd_close)  # searched once per chunk, not once per row
    pos, prev = 0, 0
    while True:
        buf = reader.buf
        i = buf.find(row_open, pos)
        if i == -1 or (sd != -1 and sd < i):
            if sd != -1 or reader.eof:
                return
            last_lt = buf.rfind(b"<", pos)
            reader.more(last_lt if last_lt != -1 else len(buf))
            pos, sd = 0, reader.buf.find(sd_close)
            continue
        j = buf.find(b">", i)
        k = buf.find(row_close, j) if j != -1 and buf[j - 1 : j] != b"/" else j
        if j == -1 or k == -1 or i + n >= len(buf):
            if reader.eof:
                return
            reader.more(i)
            pos, sd = 0, reader.buf.find(sd_close)
            continue
        if buf[i + n] not in b" \t\r\n/>":
            pos = i + 1
            continue
        r = _attr(buf[i + n : j], b"r")
        rnum = int(r) if r is not None else prev + 1
        content = buf[j + 1 : k]
        if b't="e"' in content or b"t='e'" in content:
            for cell in iter_cells(content, p):
                if _attr(cell.attrs, b"t") == b"e":
                    raw = content[cell.start : cell.end]
                    v = re.search(rb"<(?:[\w.\-]+:)?v>(.*?)</", raw, re.S)
                    yield rnum, cell.col, _unescape(v.group(1).decode("utf-8")) if v else ""
        prev, pos = rnum, k


def _unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        .replace("&apos;", "'").replace("&amp;", "&")
    )


# --------------------------------------------------------------------------- other parts


@dataclass
class _Prepared:
    parts: dict[str, bytes]
    date_style: int | None
    date_styles: frozenset[int]


def _prepare_parts(
    package: Package,
    sheet_part: str,
    header_row: int,
    columns: Sequence[tuple[int, str]],
    targets: Mapping[int, Sequence[Value]],
    streamed: bool = False,
) -> _Prepared:
    """New bytes of styles.xml and table parts where they change; the date style to use."""
    from sheetsync.core import xlsxparts

    parts: dict[str, bytes] = {}
    date_style: int | None = None
    date_styles: frozenset[int] = frozenset()
    styles_member = package.member(package.styles_part) if package.styles_part else None
    if styles_member is not None:
        styles = package.zip.read(styles_member)
        info = xlsxparts.date_styles(styles)
        if info is not None:
            date_styles = info.date_xfs
            # streamed values are not known yet: results carry a time, so a date style is due
            needs_date = streamed or any(isinstance(v, datetime) for vals in targets.values() for v in vals)
            if needs_date:
                date_style, new_styles = xlsxparts.ensure_datetime_xf(styles, info)
                if new_styles is not None:
                    parts[styles_member] = new_styles
    plan_cols = sorted(c for c, _ in columns)
    names = dict(columns)
    wb_member = package.member(package.workbook_part)
    index = next(
        (i for i, s in enumerate(package.sheets) if package.member(s.part) == sheet_part), None
    )
    if wb_member is not None and index is not None:
        workbook = package.zip.read(wb_member)
        new_wb = xlsxparts.extend_filter_database(workbook, index, header_row, plan_cols)
        if new_wb is not None:
            parts[wb_member] = new_wb
    for _, kind, part in related_parts(package.zip, sheet_part):
        member = package.member(part)
        if kind != "table" or member is None:
            continue
        new = xlsxparts.extend_table(package.zip.read(member), header_row, plan_cols, names)
        if new is not None:
            parts[member] = new
    return _Prepared(parts, date_style, date_styles)


def _zipinfo(info: zipfile.ZipInfo, file_size: int) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(info.filename, info.date_time)
    zi.compress_type = info.compress_type
    zi.external_attr = info.external_attr
    zi.create_system = info.create_system
    zi.comment = info.comment
    # zipfile switches to zip64 only when this size needs it: Excel is strict about zip64
    # records, so a small member must not get them.
    zi.file_size = file_size
    return zi


def _set_compress_level(zi: zipfile.ZipInfo, level: int) -> None:
    """zlib level for one member: ``compress_level`` from Python 3.13, ``_compresslevel`` before."""
    setattr(zi, "compress_level" if hasattr(zi, "compress_level") else "_compresslevel", level)


def _write_package(
    package: Package, dst: Path, sheet_part: str, plan: _Plan, replaced: dict[str, bytes]
) -> None:
    zin = package.zip
    with zipfile.ZipFile(dst, "w", allowZip64=True) as zout:
        zout.comment = zin.comment
        for info in zin.infolist():
            if info.flag_bits & 0x1:
                raise UnsupportedWorkbook(
                    f"{plan.file_name} has encrypted zip members, which Sheet Sync cannot copy. "
                    "Remove the protection in Excel, save, and try again."
                )
            if info.filename == sheet_part:
                zi = _zipinfo(info, info.file_size + plan.size_bound())
                _set_compress_level(zi, SHEET_COMPRESS_LEVEL)
                with zin.open(info) as src, zout.open(zi, "w") as out:
                    rewrite_sheet(src, out, plan)
            elif info.filename in replaced:
                data = replaced[info.filename]
                with zout.open(_zipinfo(info, len(data)), "w") as out:
                    out.write(data)
            else:
                with zin.open(info) as src, zout.open(_zipinfo(info, info.file_size), "w") as out:
                    shutil.copyfileobj(src, out, CHUNK)

