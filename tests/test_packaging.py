"""The installers: fast checks of every recipe, and one slow test of the whole Linux path.

Fast (always): the version is read from the package; the icon renders to PNG, .ico and
.icns with the right sizes; the macOS Info.plist is valid and declares .xlsx/.xlsm; the
desktop entry passes desktop-file-validate; the NSIS script compiles (makensis -WX)
around a placeholder payload. Slow: packaging/build_linux.py builds the bundle and the
.deb, `dpkg -i` installs it, the installed `sheetsync` runs --version, the demo and
--selftest (offscreen, and on a real X server when xvfb-run is there), finds a keyring
when one runs, then `dpkg -P` removes it and nothing is left.
"""

from __future__ import annotations

import ast
import os
import plistlib
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))
sys.path.insert(0, str(PACKAGING / "macos"))

import appinfo  # noqa: E402
import build_linux  # noqa: E402
import build_windows  # noqa: E402
import info_plist  # noqa: E402


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


# -- version ---------------------------------------------------------------------------------
def test_version_comes_from_the_package() -> None:
    import sheetsync

    assert appinfo.version() == sheetsync.__version__
    assert appinfo.numeric_version("1.2.3") == (1, 2, 3, 0)
    assert appinfo.numeric_version("2.0rc1") == (2, 0, 0, 0)
    assert build_linux.deb_version("1.2.0rc1") == "1.2.0~rc1"
    assert build_windows.installer_name("1.2.0") == "SheetSync-1.2.0-setup.exe"


def test_spec_parses_and_reads_the_version_from_the_package() -> None:
    spec = (PACKAGING / "sheetsync.spec").read_text(encoding="utf-8")
    ast.parse(spec, "sheetsync.spec")
    assert "appinfo.version()" in spec
    assert f'"{appinfo.version()}"' not in spec  # no version written into the spec
    for name in ("Analysis", "EXE", "COLLECT", "BUNDLE"):
        assert f"{name}(" in spec


def test_entry_point_is_the_cli() -> None:
    entry = (PACKAGING / "entry.py").read_text(encoding="utf-8")
    assert "from sheetsync.cli import main" in entry


# -- icons ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def icons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("icons")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    subprocess.run([sys.executable, str(PACKAGING / "make_icons.py"), "--out", str(out)],
                   check=True, env=env, timeout=120)
    return out


def test_icon_pngs_have_every_size(icons: Path) -> None:
    import make_icons

    for size in make_icons.PNG_SIZES:
        assert _png_size((icons / "png" / f"{size}.png").read_bytes()) == (size, size)


def test_icon_ico_has_bitmaps_and_pngs(icons: Path) -> None:
    import make_icons

    data = (icons / "sheetsync.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, len(make_icons.ICO_SIZES))
    sizes = []
    for i in range(count):
        w, h, _, _, planes, bpp, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i: 22 + 16 * i])
        size = w or 256
        assert (w, planes, bpp) == (h, 1, 32)
        blob = data[offset: offset + length]
        assert len(blob) == length
        if size <= make_icons.ICO_BITMAP_MAX:
            header_size, bw, bh = struct.unpack("<Iii", blob[:12])
            assert (header_size, bw, bh) == (40, size, size * 2)
            assert length == 40 + size * size * 4 + ((size + 31) // 32) * 4 * size
        else:
            assert _png_size(blob) == (size, size)
        sizes.append(size)
    assert sizes == list(make_icons.ICO_SIZES)


def test_icon_icns_entries_are_pngs_of_the_right_size(icons: Path) -> None:
    import make_icons

    data = (icons / "sheetsync.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    pos, found = 8, []
    while pos < len(data):
        kind, length = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        found.append((kind, _png_size(data[pos + 8:pos + length])[0]))
        pos += length
    assert found == list(make_icons.ICNS_TYPES)


def test_qt_reads_the_ico_and_icns_back(icons: Path) -> None:
    from PySide6.QtGui import QImageReader

    for name, count in (("sheetsync.ico", 7), ("sheetsync.icns", 10)):
        reader = QImageReader(str(icons / name))
        if not reader.canRead():
            pytest.skip(f"this Qt has no image plugin for {name}")
        assert reader.imageCount() == count
        sizes = []
        for i in range(count):
            reader.jumpToImage(i)
            image = reader.read()
            assert not image.isNull(), reader.errorString()
            sizes.append(image.width())
        assert 16 in sizes and 256 in sizes


def test_icon_is_not_blank_at_16px(icons: Path) -> None:
    """The small sizes must still show something: opaque, and more than one colour."""
    from PySide6.QtGui import QImage

    image = QImage(str(icons / "png" / "16.png"))
    colours = {image.pixel(x, y) for x in range(16) for y in range(16)}
    assert image.pixelColor(8, 8).alpha() == 255
    assert len(colours) > 8


# -- macOS ---------------------------------------------------------------------------------------------
def test_info_plist_is_valid_and_declares_excel_documents(tmp_path: Path) -> None:
    path = info_plist.write(tmp_path / "Info.plist", "1.4.0rc2")
    with path.open("rb") as fh:
        plist = plistlib.load(fh)
    assert plist["CFBundleIdentifier"] == appinfo.APP_ID
    assert plist["CFBundleExecutable"] == appinfo.EXE_NAME
    assert plist["CFBundleShortVersionString"] == plist["CFBundleVersion"] == "1.4.0"
    assert plist["CFBundleIconFile"] == "sheetsync.icns"  # the name PyInstaller's BUNDLE copies
    types = plist["CFBundleDocumentTypes"]
    assert sorted(e for t in types for e in t["CFBundleTypeExtensions"]) == ["xlsm", "xlsx"]
    assert all(t["CFBundleTypeRole"] == "Editor" and t["LSHandlerRank"] == "Alternate" for t in types)
    utis = {t["UTTypeIdentifier"] for t in plist["UTImportedTypeDeclarations"]}
    assert utis == {u for t in types for u in t["LSItemContentTypes"]}
    assert plist["NSHighResolutionCapable"] is True
    assert info_plist.info_plist()["CFBundleVersion"] == ".".join(
        str(n) for n in appinfo.numeric_version()[:3])


# -- Linux ------------------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (apt-get install desktop-file-utils)")
def test_desktop_entry_validates(tmp_path: Path) -> None:
    path = tmp_path / f"{appinfo.DESKTOP_ID}.desktop"
    path.write_text(build_linux.desktop_entry(), encoding="utf-8")
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    text = path.read_text()
    for mime, _, _ in appinfo.DOCUMENT_TYPES.values():
        assert mime in text
    assert f"Exec={appinfo.EXE_NAME} gui %f" in text


def test_desktop_id_matches_the_app() -> None:
    app = ROOT / "desktop" / "sheetsync" / "gui" / "app.py"
    if not app.exists():
        pytest.skip("the GUI (gui/app.py) is not there yet")
    assert f'setDesktopFileName("{appinfo.DESKTOP_ID}")' in app.read_text(encoding="utf-8"), (
        "the .deb installs the launcher as "
        f"{appinfo.DESKTOP_ID}.desktop; the app must declare the same name")


def test_control_file_fields() -> None:
    text = build_linux.control("1.0.0", "amd64", ["libc6 (>= 2.35)", "libegl1"], 1234)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(" "))
    assert fields["Package"] == appinfo.DEB_PACKAGE
    assert fields["Installed-Size"] == "1234"
    assert fields["Depends"] == "libc6 (>= 2.35), libegl1"
    for required in ("fontconfig-config", "libegl1", "libgl1", "libxcb1", "libxkbcommon-x11-0",
                     "libdbus-1-3", "libxcb-cursor0"):
        assert required in build_linux.BASE_DEPENDS


# -- Windows ----------------------------------------------------------------------------------------
def _placeholder_bundle(folder: Path) -> Path:
    (folder / "_internal" / "resources").mkdir(parents=True)
    for name in (build_windows.APP_EXE, build_windows.CLI_EXE):
        (folder / name).write_bytes(b"MZ placeholder")
    (folder / "_internal" / "resources" / "placeholder.txt").write_text("payload")
    return folder


@pytest.mark.skipif(build_windows.find_makensis() is None,
                    reason="makensis not installed (apt-get install nsis)")
def test_nsis_script_compiles(tmp_path: Path, icons: Path) -> None:
    bundle = _placeholder_bundle(tmp_path / "bundle")
    installer = build_windows.compile_installer(bundle, tmp_path / "out", icons / "sheetsync.ico",
                                                version="1.2.3")
    assert installer.name == "SheetSync-1.2.3-setup.exe"
    assert installer.read_bytes()[:2] == b"MZ"


@pytest.mark.skipif(build_windows.find_makensis() is None,
                    reason="makensis not installed (apt-get install nsis)")
def test_nsis_fails_when_the_bundle_is_incomplete(tmp_path: Path, icons: Path) -> None:
    bundle = _placeholder_bundle(tmp_path / "bundle")
    (bundle / build_windows.CLI_EXE).unlink()
    with pytest.raises(subprocess.CalledProcessError):
        build_windows.compile_installer(bundle, tmp_path / "out", icons / "sheetsync.ico")


def test_nsis_script_is_per_user() -> None:
    nsi = build_windows.NSI.read_text(encoding="utf-8")
    assert "RequestExecutionLevel user" in nsi
    assert "$LOCALAPPDATA" in nsi and "HKLM" not in nsi and "$PROGRAMFILES" not in nsi
    commands = [line.strip() for line in nsi.splitlines() if not line.strip().startswith(";")]
    assert 'RMDir /r "$INSTDIR"' not in commands  # never wipe a folder the user may have chosen


# -- the whole Linux path (slow) ------------------------------------------------------------
def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", package],
                            capture_output=True, text=True)
    return "ok installed" in result.stdout


def _leftovers() -> list[str]:
    paths = [Path(build_linux.INSTALL_DIR), Path("/usr/bin") / appinfo.EXE_NAME,
             Path("/usr/share/applications") / f"{appinfo.DESKTOP_ID}.desktop",
             Path(f"/usr/share/doc/{appinfo.DEB_PACKAGE}"),
             *Path("/usr/share/icons/hicolor").glob(f"*/apps/{appinfo.DESKTOP_ID}.*")]
    left = [str(p) for p in paths if p.exists() or p.is_symlink()]
    cache = Path("/usr/share/applications/mimeinfo.cache")
    if cache.exists() and f"{appinfo.DESKTOP_ID}.desktop" in cache.read_text():
        left.append(f"{cache} still names {appinfo.DESKTOP_ID}.desktop")
    return left


@pytest.mark.slow
@pytest.mark.timeout(480)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the .deb is built on Linux")
@pytest.mark.skipif(shutil.which("dpkg") is None or shutil.which("dpkg-deb") is None,
                    reason="dpkg is not available (not a Debian system)")
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="installing the .deb needs root")
def test_linux_build_install_run_remove(tmp_path: Path) -> None:
    from smoke import smoke_test

    if _dpkg_installed(appinfo.DEB_PACKAGE):
        pytest.skip(f"{appinfo.DEB_PACKAGE} is installed on this machine; not touching it")
    build = subprocess.run([sys.executable, str(PACKAGING / "build_linux.py")],
                           capture_output=True, text=True, timeout=360, cwd=ROOT)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    debs = sorted((ROOT / "dist").glob(f"{appinfo.DEB_PACKAGE}_{build_linux.deb_version(appinfo.version())}_*.deb"))
    assert debs, build.stdout[-2000:]
    deb = debs[-1]
    info = subprocess.run(["dpkg-deb", "--field", str(deb), "Depends"], capture_output=True, text=True, check=True)
    for needed in ("libegl1", "libgl1", "libxcb1", "fontconfig-config", "libxkbcommon-x11-0", "libdbus-1-3"):
        assert needed in info.stdout

    installed = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True)
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        command = shutil.which(appinfo.EXE_NAME, path="/usr/bin")
        assert command == f"/usr/bin/{appinfo.EXE_NAME}"
        checked = smoke_test(command, selftest=True)  # --version, demo --headless, --selftest
        assert "--selftest" in checked
        env = dict(os.environ, SHEETSYNC_HOME=str(tmp_path / "home"), HOME=str(tmp_path))
        if shutil.which("xvfb-run"):  # the real platform plugin (xcb) and its libraries
            env.pop("QT_QPA_PLATFORM", None)
            real = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", command,
                                   "--selftest"], env=env, capture_output=True, text=True, timeout=120)
            assert real.returncode == 0, real.stdout + real.stderr
        if shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon"):
            # keyring finds its backends through entry points: without the metadata in the
            # bundle it would fall back to "no keyring" even with one running.
            status = subprocess.run(
                ["dbus-run-session", "--", "sh", "-c",
                 "echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; "
                 f"{command} key status --base-url http://127.0.0.1:9"],
                env=env, capture_output=True, text=True, timeout=60)
            assert "not set" in status.stdout, status.stdout + status.stderr
            assert "No system keyring" not in status.stdout, status.stdout
        cache = Path("/usr/share/applications/mimeinfo.cache")
        if cache.exists():
            assert f"{appinfo.DESKTOP_ID}.desktop" in cache.read_text()
    finally:
        purged = subprocess.run(["dpkg", "-P", appinfo.DEB_PACKAGE], capture_output=True, text=True)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert not _dpkg_installed(appinfo.DEB_PACKAGE)
    assert _leftovers() == []
