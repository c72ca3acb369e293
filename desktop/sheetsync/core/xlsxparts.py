"""Small byte-level edits of styles.xml and table parts for the write-back.

Both parts are small, so they are edited in memory; the edits are textual (insert one
element, change one attribute) so every other byte of the part stays as Excel wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from .values import column_letter

__all__ = ["StyleInfo", "date_styles", "ensure_datetime_xf", "extend_table"]

_BUILTIN_DATE_IDS = frozenset([*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59)])
_BUILTIN_TIME_IDS = frozenset([18, 19, 20, 21, 22, 45, 46, 47])
_BUILTIN_DATETIME_ID = 22  # m/d/yyyy h:mm, shown in the user's locale
_PREFIX = rb"(?:[A-Za-z_][\w.\-]*:)?"


@dataclass(frozen=True)
class StyleInfo:
    prefix: bytes
    xfs: tuple[dict[bytes, bytes], ...]  # attributes of each cellXfs xf
    plain: tuple[bool, ...]  # xf has no child elements (alignment, protection)
    date_xfs: frozenset[int]  # xfs showing a date or time
    datetime_xfs: frozenset[int]  # xfs showing a date and a time


def _attrs(tag: bytes) -> dict[bytes, bytes]:
    return {k: v for k, _, v in re.findall(rb"""([\w:.\-]+)\s*=\s*(["'])(.*?)\2""", tag, re.S)}


def _format_kind(code: str) -> tuple[bool, bool]:
    """(shows a date, shows a time) for a number format code."""
    code = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code).lower()
    return any(ch in code for ch in "dy"), any(ch in code for ch in "hs")


def date_styles(styles: bytes) -> StyleInfo | None:
    """The cellXfs of a styles part; None when it has none (then dates are written as text)."""
    m = re.search(rb"<(" + _PREFIX + rb")cellXfs\b[^>]*?(/?)>", styles)
    if m is None or m.group(2):
        return None
    prefix = m.group(1)
    end = styles.find(b"</%scellXfs>" % prefix, m.end())
    block = styles[m.end() : end]
    custom: dict[int, tuple[bool, bool]] = {}
    for fmt in re.finditer(rb"<" + _PREFIX + rb"numFmt\b([^>]*)>", styles):
        a = _attrs(fmt.group(1))
        if b"numFmtId" in a and a[b"numFmtId"].isdigit():
            code = a.get(b"formatCode", b"").decode("utf-8", "replace").replace("&quot;", '"')
            custom[int(a[b"numFmtId"])] = _format_kind(code)
    xfs, plain, dates, datetimes = [], [], set(), set()
    xf_re = re.compile(rb"<" + re.escape(prefix) + rb"xf\b([^>]*?)(/?)>")
    pos = 0
    while (x := xf_re.search(block, pos)) is not None:
        a = _attrs(x.group(1))
        if x.group(2):
            pos, has_children = x.end(), False
        else:
            close = block.find(b"</%sxf>" % prefix, x.end())
            has_children = bool(block[x.end() : close].strip())
            pos = close + 1
        index = len(xfs)
        fmt_id = int(a.get(b"numFmtId", b"0") or 0)
        builtin = (fmt_id in _BUILTIN_DATE_IDS, fmt_id in _BUILTIN_TIME_IDS)
        is_date, is_time = custom.get(fmt_id, builtin)
        if is_date or is_time:
            dates.add(index)
        if is_date and is_time:
            datetimes.add(index)
        xfs.append(a)
        plain.append(not has_children)
    if not xfs:
        return None
    return StyleInfo(prefix, tuple(xfs), tuple(plain), frozenset(dates), frozenset(datetimes))


def ensure_datetime_xf(styles: bytes, info: StyleInfo) -> tuple[int, bytes | None]:
    """Index of a plain date-time xf (reused if one exists); new styles bytes if one was added."""
    base = info.xfs[0]
    look = (b"fontId", b"fillId", b"borderId")
    for index in sorted(info.datetime_xfs):
        xf = info.xfs[index]
        if info.plain[index] and all(xf.get(k, b"0") == base.get(k, b"0") for k in look):
            return index, None
    p = info.prefix
    new_xf = (
        b'<%sxf numFmtId="%d" fontId="%s" fillId="%s" borderId="%s" xfId="%s" '
        b'applyNumberFormat="1"/>'
    ) % (
        p, _BUILTIN_DATETIME_ID, base.get(b"fontId", b"0"), base.get(b"fillId", b"0"),
        base.get(b"borderId", b"0"), base.get(b"xfId", b"0"),
    )
    m = re.search(rb"<" + re.escape(p) + rb"cellXfs\b[^>]*>", styles)
    assert m is not None  # date_styles found it
    tag = _set_attr(m.group(), b"count", b"%d" % (len(info.xfs) + 1))
    close = styles.find(b"</%scellXfs>" % p, m.end())
    new = styles[: m.start()] + tag + styles[m.end() : close] + new_xf + styles[close:]
    return len(info.xfs), new


def _set_attr(tag: bytes, name: bytes, value: bytes) -> bytes:
    m = re.search(rb"(\s" + name + rb"""\s*=\s*)(["'])(.*?)\2""", tag, re.S)
    if m:
        return tag[: m.start(3)] + value + tag[m.end(3) :]
    end = -2 if tag.endswith(b"/>") else -1
    return tag[:end] + b' %s="%s"' % (name, value) + tag[end:]


# --------------------------------------------------------------------------- tables


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n



def _box(ref: bytes) -> tuple[int, int, int, int] | None:
    m = re.fullmatch(rb"\$?([A-Za-z]{1,3})\$?(\d+):\$?([A-Za-z]{1,3})\$?(\d+)", ref.strip())
    if m is None:
        return None
    c1, c2 = _col_number(m.group(1).decode()), _col_number(m.group(3).decode())
    return c1, int(m.group(2)), c2, int(m.group(4))


def _ref(c1: int, r1: int, c2: int, r2: int) -> bytes:
    return f"{column_letter(c1)}{r1}:{column_letter(c2)}{r2}".encode()


def _attr_text(text: str) -> bytes:
    """A table column name as an XML attribute value (Excel escapes line breaks as _x000a_)."""
    text = re.sub(r"[\x00-\x1f]", lambda m: f"_x{ord(m.group()):04x}_", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace('"', "&quot;")
    return text.encode("utf-8")


def extend_table(
    table: bytes, header_row: int, status_cols: Sequence[int], names: Mapping[int, str]
) -> bytes | None:
    """The table part grown by the status columns, or None when it does not qualify.

    A table qualifies when its header row is ``header_row`` and it ends in the column just
    before the (contiguous) status columns that are not yet in it.
    """
    m = re.search(rb"<(" + _PREFIX + rb")table\b[^>]*>", table)
    if m is None:
        return None
    p, tag = m.group(1), m.group()
    a = _attrs(tag)
    box = _box(a.get(b"ref", b""))
    if box is None or a.get(b"headerRowCount", b"1") == b"0":
        return None
    c1, r1, c2, r2 = box
    lo, hi = min(status_cols), max(status_cols)
    if r1 != header_row or c1 > lo or not lo - 1 <= c2 < hi:
        return None
    new_cols = list(range(c2 + 1, hi + 1))
    if any(c not in names for c in new_cols):  # a gap column we know no header for
        return None
    cols_m = re.search(rb"<" + re.escape(p) + rb"tableColumns\b[^>]*>", table)
    close = table.find(b"</%stableColumns>" % p)
    if cols_m is None or close == -1:
        return None
    column_re = rb"<" + re.escape(p) + rb"tableColumn\b([^>]*)>"
    existing = re.findall(column_re, table[cols_m.end() : close])
    ids = [int(_attrs(t).get(b"id", b"0") or 0) for t in existing]
    taken = {_attrs(t).get(b"name", b"").decode("utf-8", "replace").casefold() for t in existing}
    wanted = [(names[c].casefold(), _attr_text(names[c]).decode().casefold()) for c in new_cols]
    if any(plain in taken or escaped in taken for plain, escaped in wanted):
        return None  # a duplicate name would make Excel repair the table
    next_id = max(ids, default=0) + 1
    added = b"".join(
        b'<%stableColumn id="%d" name="%s"/>' % (p, next_id + k, _attr_text(names[c]))
        for k, c in enumerate(new_cols)
    )
    new_ref = _ref(c1, r1, hi, r2)
    cols_tag = _set_attr(cols_m.group(), b"count", b"%d" % (len(existing) + len(new_cols)))
    out = table[: cols_m.start()] + cols_tag + table[cols_m.end() : close] + added + table[close:]
    out = out[: m.start()] + _set_attr(tag, b"ref", new_ref) + out[m.end() :]
    return _extend_autofilter(out, p, c2, hi)


def _extend_autofilter(table: bytes, p: bytes, old_right: int, new_right: int) -> bytes:
    m = re.search(rb"<" + re.escape(p) + rb"autoFilter\b[^>]*>", table)
    if m is None:
        return table
    box = _box(_attrs(m.group()).get(b"ref", b""))
    if box is None or box[2] != old_right:
        return table
    tag = _set_attr(m.group(), b"ref", _ref(box[0], box[1], new_right, box[3]))
    return table[: m.start()] + tag + table[m.end() :]


# --------------------------------------------------------------------------- workbook.xml

_FILTER_DB = re.compile(
    rb"(<(?:[\w.\-]+:)?definedName\b[^>]*\bname\s*=\s*[\"']_xlnm\._FilterDatabase[\"'][^>]*>)"
    rb"(.*?)(</)",
    re.S,
)
_ABS_RANGE = re.compile(rb"(\$?)([A-Za-z]{1,3})(\$?)(\d+):(\$?)([A-Za-z]{1,3})(\$?)(\d+)$")


def extend_filter_database(
    workbook: bytes, sheet_index: int, header_row: int, status_cols: Sequence[int]
) -> bytes | None:
    """workbook.xml with the sheet's hidden ``_xlnm._FilterDatabase`` name grown like its
    autoFilter (LibreOffice reads the filter range from this name); None if nothing changes."""
    lo, hi = min(status_cols), max(status_cols)
    for m in _FILTER_DB.finditer(workbook):
        if _attrs(m.group(1)).get(b"localSheetId") != b"%d" % sheet_index:
            continue
        sheet_part, bang, rng = m.group(2).rpartition(b"!")
        r = _ABS_RANGE.search(rng)
        if not bang or r is None:
            return None
        c1, c2 = _col_number(r.group(2).decode()), _col_number(r.group(6).decode())
        r1 = int(r.group(4))
        if r1 != header_row or c1 > lo or not lo - 1 <= c2 < hi:
            return None
        new_rng = rng[: r.start(6)] + column_letter(hi).encode() + rng[r.end(6) :]
        text = sheet_part + bang + new_rng
        return workbook[: m.start(2)] + text + workbook[m.end(2) :]
    return None
