"""Render the app icon (resources/icon.svg) to every size and format the installers need.

    python packaging/make_icons.py [--out build/icons]

Writes into the output folder (never into the repository):
    png/<N>.png          N = 16 24 32 48 64 128 256 512 1024 (Linux hicolor, docs)
    sheetsync.ico        Windows: 16-48 px as 32-bit bitmaps, 64-256 px as PNG
    sheetsync.icns       macOS: 16-1024 px as PNG entries (icp4 ... ic10)
    sheetsync.svg        a copy of the source (hicolor "scalable")

Qt renders the SVG (PySide6.QtSvg, part of PySide6-Essentials), and the .ico and .icns
containers are written here in plain Python, so the same script runs unchanged on the
Linux, Windows and macOS build machines with nothing else to install.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "resources" / "icon.svg"
DEFAULT_OUT = HERE.parent / "build" / "icons"

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_BITMAP_MAX = 48  # bitmaps up to here (every Windows tool reads them), PNG above
# ICNS entry types holding PNG data, and the pixel size of each
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"ic11", 32), (b"ic12", 64), (b"ic07", 128),
    (b"ic13", 256), (b"ic08", 256), (b"ic14", 512), (b"ic09", 512), (b"ic10", 1024),
)


def _qt():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    return app, QBuffer, QByteArray, QIODevice, QRectF, Qt, QImage, QPainter, QSvgRenderer


def render(svg: Path, sizes: tuple[int, ...]) -> dict[int, object]:
    """``{size: QImage}`` (ARGB32), the SVG drawn to fill each square."""
    app, _, _, _, QRectF, Qt, QImage, QPainter, QSvgRenderer = _qt()
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not a valid SVG")
    images = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        images[size] = image
    del app
    return images


def png_bytes(image) -> bytes:
    _, QBuffer, QByteArray, QIODevice, *_ = _qt()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SystemExit("make_icons: PNG encoding failed")
    buffer.close()
    return bytes(data.data())


def bmp_entry(image) -> bytes:
    """An ICO bitmap entry: BITMAPINFOHEADER, 32-bit BGRA rows bottom-up, AND mask."""
    size = image.width()
    # Format_ARGB32 is 0xAARRGGBB per pixel, i.e. B, G, R, A bytes on little-endian
    # machines (every machine that builds our installers); bytesPerLine is size * 4.
    rows = [bytes(image.constScanLine(y))[: size * 4] for y in range(size)]
    if sys.byteorder != "little":  # pragma: no cover
        rows = [b"".join(row[i:i + 4][::-1] for i in range(0, len(row), 4)) for row in rows]
    pixels = b"".join(reversed(rows))
    mask_row = ((size + 31) // 32) * 4  # 1 bit per pixel, rows padded to 32 bits
    mask = bytes(mask_row * size)  # all zero: the alpha channel decides
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0,
                         len(pixels) + len(mask), 0, 0, 0, 0)
    return header + pixels + mask


def write_ico(images: dict[int, object], path: Path) -> None:
    entries = []
    for size in ICO_SIZES:
        image = images[size]
        data = bmp_entry(image) if size <= ICO_BITMAP_MAX else png_bytes(image)
        entries.append((size, data))
    offset = 6 + 16 * len(entries)
    head = struct.pack("<HHH", 0, 1, len(entries))
    directory, blobs = b"", b""
    for size, data in entries:
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        directory += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        blobs += data
    path.write_bytes(head + directory + blobs)


def write_icns(images: dict[int, object], path: Path) -> None:
    body = b""
    for kind, size in ICNS_TYPES:
        data = png_bytes(images[size])
        body += kind + struct.pack(">I", 8 + len(data)) + data
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)


def make_icons(out: Path, svg: Path = SOURCE) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "png").mkdir(exist_ok=True)
    images = render(svg, PNG_SIZES)
    made: dict[str, Path] = {}
    for size in PNG_SIZES:
        target = out / "png" / f"{size}.png"
        target.write_bytes(png_bytes(images[size]))
        made[f"png{size}"] = target
    made["ico"] = out / "sheetsync.ico"
    write_ico(images, made["ico"])
    made["icns"] = out / "sheetsync.icns"
    write_icns(images, made["icns"])
    made["svg"] = out / "sheetsync.svg"
    shutil.copyfile(svg, made["svg"])
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--svg", type=Path, default=SOURCE)
    args = parser.parse_args(argv)
    made = make_icons(args.out, args.svg)
    print(f"make_icons: {len(made)} files in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
