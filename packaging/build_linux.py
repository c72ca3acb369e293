"""Build the Linux bundle and the .deb, and try them: one command.

    .venv/bin/python packaging/build_linux.py            # bundle + smoke test + .deb
    .venv/bin/python packaging/build_linux.py --no-bundle   # reuse build/dist/sheetsync

Steps: icons (make_icons.py) -> PyInstaller (sheetsync.spec, system libraries left to the
OS) -> smoke test of the bundle (--version, demo --headless, --selftest) -> Depends from
the libraries the bundle loads (ldd + dpkg -S, like dpkg-shlibdeps) -> the package tree
(/opt/sheetsync, /usr/bin/sheetsync, desktop entry, hicolor icons) -> desktop-file-validate
-> dpkg-deb --root-owner-group -Zzstd --build -> dist/replify-sheet-sync_<version>_<arch>.deb

Needs (Debian): dpkg, binutils (strip, objdump), desktop-file-utils, and the libraries Qt
loads (./dev installs them). Prints the sizes and the package's Depends at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import appinfo  # noqa: E402
from smoke import smoke_test  # noqa: E402

ROOT = appinfo.ROOT
BUILD = ROOT / "build"
ICONS = BUILD / "icons"
BUNDLE = BUILD / "dist" / appinfo.EXE_NAME
DIST = ROOT / "dist"
INSTALL_DIR = f"/opt/{appinfo.EXE_NAME}"
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

# Always declared, whatever ldd finds: text needs fontconfig's configuration and a font
# (fontconfig-config pulls in fonts-dejavu-core or another font), and the xcb libraries
# Qt's platform plugin loads (ldd finds these too; listed so a build machine missing one
# fails loudly instead of producing a package that lacks it).
BASE_DEPENDS = (
    "fontconfig-config", "libegl1", "libgl1", "libfontconfig1", "libfreetype6", "libdbus-1-3",
    "libglib2.0-0", "libx11-6", "libx11-xcb1", "libxcb1", "libxkbcommon0", "libxkbcommon-x11-0",
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-render0", "libxcb-shape0", "libxcb-shm0", "libxcb-sync1",
    "libxcb-xfixes0", "libxcb-xkb1", "libxcb-glx0",
)
SUGGESTS = "gnome-keyring"  # a Secret Service to keep the API key; without one it is per session


def log(message: str) -> None:
    print(f"build_linux: {message}", flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def require_tools() -> None:
    missing = [t for t in ("dpkg-deb", "dpkg", "ldd", "objdump", "strip", "desktop-file-validate")
               if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"build_linux: missing tools: {', '.join(missing)}. On Debian: "
                         "apt-get install dpkg binutils desktop-file-utils")


# -- the bundle -----------------------------------------------------------------------------
def build_bundle() -> None:
    run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), "--out", str(ICONS)])
    env = dict(os.environ, SHEETSYNC_ICONS=str(ICONS), SHEETSYNC_SYSTEM_LIBS="1")
    run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(BUILD / "dist"), "--workpath", str(BUILD / "pyinstaller"),
         str(ROOT / "packaging" / "sheetsync.spec")], env=env, cwd=ROOT)


# -- Depends ------------------------------------------------------------------------------------
def elf_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def system_libraries(bundle: Path) -> tuple[set[str], list[str]]:
    """Paths of the system libraries the bundle's ELF files load directly (their
    DT_NEEDED entries not provided by the bundle itself, as dpkg-shlibdeps counts them),
    and the sonames nothing provides ("not found")."""
    files = elf_files(bundle)
    in_bundle = {p.name for p in bundle.rglob("*")}
    direct: set[str] = set()
    where: dict[str, str] = {}
    missing: list[str] = []
    for path in files:
        dump = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True).stdout
        direct |= set(re.findall(r"^\s*NEEDED\s+(\S+)", dump, re.M))
        result = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            line = line.strip()
            if "not found" in line:
                missing.append(f"{path.relative_to(bundle)}: {line.split()[0]}")
            elif "=>" in line:
                soname, target = line.split("=>", 1)
                target = target.split("(")[0].strip()
                if target:
                    where.setdefault(soname.strip(), target)
    used = {where[name] for name in direct - in_bundle if name in where}
    return used, sorted(set(missing))


def owning_packages(paths: set[str]) -> dict[str, str]:
    """{path: Debian package} via dpkg -S (trying the /usr-merged spellings too)."""
    owners: dict[str, str] = {}
    for path in sorted(paths):
        candidates = [path, os.path.realpath(path)]
        for c in list(candidates):
            candidates.append(c[4:] if c.startswith("/usr/") else "/usr" + c)
        for candidate in dict.fromkeys(candidates):
            result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if result.returncode == 0:
                package = result.stdout.split(":", 1)[0].split(",")[0].strip()
                owners[path] = package
                break
    return owners


def glibc_version(bundle: Path) -> str:
    """The newest GLIBC_x.y symbol version any file in the bundle needs."""
    best = (2, 17)
    for path in elf_files(bundle):
        out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True).stdout
        for major, minor in re.findall(r"GLIBC_(\d+)\.(\d+)", out):
            best = max(best, (int(major), int(minor)))
    return f"{best[0]}.{best[1]}"


def compute_depends(bundle: Path) -> list[str]:
    used, missing = system_libraries(bundle)
    if missing:
        raise SystemExit("build_linux: libraries not found on this machine (install them, "
                         "or the package's Depends would be incomplete):\n  " + "\n  ".join(missing))
    owners = owning_packages(used)
    unowned = sorted(set(used) - set(owners))
    if unowned:
        raise SystemExit("build_linux: libraries no Debian package owns (the bundle would "
                         "need them on every machine):\n  " + "\n  ".join(unowned))
    packages = {p.split(":")[0] for p in owners.values()} | set(BASE_DEPENDS)
    packages.discard("libc6")
    installed = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\\n", *sorted(packages)],
                               capture_output=True, text=True)
    absent = sorted(packages - set(installed.stdout.split()))
    if absent:
        raise SystemExit(f"build_linux: Depends names packages not installed here: {absent}")
    return [f"libc6 (>= {glibc_version(bundle)})", *sorted(packages)]


# -- the package ------------------------------------------------------------------------------
def desktop_entry() -> str:
    mime = ";".join(m for m, _, _ in appinfo.DOCUMENT_TYPES.values())
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        f"Name={appinfo.NAME}",
        "GenericName=Contact List Sync",
        f"Comment={appinfo.SUMMARY}",
        f"Exec={appinfo.EXE_NAME} gui %f",
        f"TryExec={appinfo.EXE_NAME}",
        f"Icon={appinfo.DESKTOP_ID}",
        "Terminal=false",
        "StartupNotify=true",
        "Categories=Office;Spreadsheet;",
        f"MimeType={mime};",
        "Keywords=Excel;xlsx;contacts;campaign;Replify;sync;",
        "Actions=demo;",
        "",
        "[Desktop Action demo]",
        "Name=Try the Demo",
        f"Exec={appinfo.EXE_NAME} demo",
        "",
    ])


def control(version: str, arch: str, depends: list[str], installed_kb: int) -> str:
    return "\n".join([
        f"Package: {appinfo.DEB_PACKAGE}",
        f"Version: {version}",
        f"Architecture: {arch}",
        f"Maintainer: {appinfo.PUBLISHER} <support@replify.ai>",
        f"Installed-Size: {installed_kb}",
        f"Depends: {', '.join(depends)}",
        f"Suggests: {SUGGESTS}",
        "Section: misc",
        "Priority: optional",
        f"Homepage: {appinfo.HOMEPAGE}",
        f"Description: {appinfo.SUMMARY}",
        f" {appinfo.DESCRIPTION}",
        " .",
        " Start it from the application menu (Sheet Sync), or open an Excel workbook",
        f" with it; `{appinfo.EXE_NAME} --help` shows the command line.",
        "",
    ])


def deb_version(version: str) -> str:
    """Python pre-releases sort before the release in Debian only with a tilde."""
    return re.sub(r"(\d)(a|b|rc|\.dev)(\d+)$", r"\1~\2\3", version)


def stage(root: Path, bundle: Path, depends: list[str]) -> Path:
    if root.exists():
        shutil.rmtree(root)
    opt = root / INSTALL_DIR.lstrip("/")
    shutil.copytree(bundle, opt, symlinks=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin" / appinfo.EXE_NAME).symlink_to(f"{INSTALL_DIR}/{appinfo.EXE_NAME}")
    apps = root / "usr/share/applications"
    apps.mkdir(parents=True)
    desktop = apps / f"{appinfo.DESKTOP_ID}.desktop"
    desktop.write_text(desktop_entry(), encoding="utf-8")
    for size in HICOLOR_SIZES:
        target = root / f"usr/share/icons/hicolor/{size}x{size}/apps/{appinfo.DESKTOP_ID}.png"
        target.parent.mkdir(parents=True)
        shutil.copyfile(ICONS / "png" / f"{size}.png", target)
    scalable = root / f"usr/share/icons/hicolor/scalable/apps/{appinfo.DESKTOP_ID}.svg"
    scalable.parent.mkdir(parents=True)
    shutil.copyfile(appinfo.RESOURCES / "icon.svg", scalable)
    doc = root / f"usr/share/doc/{appinfo.DEB_PACKAGE}"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        f"{appinfo.NAME} {appinfo.version()}\nCopyright {appinfo.PUBLISHER}. All rights reserved.\n"
        "Bundles Python, Qt for Python (LGPLv3) and the Python packages listed in\n"
        f"{INSTALL_DIR}/_internal/*.dist-info, each under its own licence.\n", encoding="utf-8")
    # Modes: directories 755, executables 755, everything else 644 (dpkg keeps them as is).
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        if path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)
    installed_kb = sum(p.lstat().st_size for p in root.rglob("*") if not p.is_dir()) // 1024 + 1
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (root / "DEBIAN").mkdir(mode=0o755)
    (root / "DEBIAN" / "control").write_text(
        control(deb_version(appinfo.version()), arch, depends, installed_kb), encoding="utf-8")
    return desktop


def build_deb(root: Path) -> Path:
    arch = (root / "DEBIAN" / "control").read_text().split("Architecture: ", 1)[1].split()[0]
    DIST.mkdir(exist_ok=True)
    deb = DIST / f"{appinfo.DEB_PACKAGE}_{deb_version(appinfo.version())}_{arch}.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(root), str(deb)],
        stdout=subprocess.DEVNULL)
    return deb


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Linux bundle and the .deb.")
    parser.add_argument("--no-bundle", action="store_true", help="reuse build/dist/sheetsync")
    parser.add_argument("--no-smoke", action="store_true", help="skip running the bundle")
    args = parser.parse_args(argv)
    require_tools()
    started = time.monotonic()
    if not args.no_bundle or not BUNDLE.exists():
        log("building the bundle (PyInstaller)...")
        build_bundle()
    elif not (ICONS / "png" / "16.png").exists():
        run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), "--out", str(ICONS)])
    checked = [] if args.no_smoke else smoke_test(BUNDLE / appinfo.EXE_NAME)
    if checked:
        log(f"bundle smoke test passed: {', '.join(checked)}")
    depends = compute_depends(BUNDLE)
    root = BUILD / "deb" / "root"
    desktop = stage(root, BUNDLE, depends)
    run(["desktop-file-validate", str(desktop)])
    deb = build_deb(root)
    log(f"bundle {BUNDLE}: {size_mb(BUNDLE):.0f} MB")
    log(f"package {deb}: {size_mb(deb):.0f} MB ({time.monotonic() - started:.0f} s)")
    log(f"Depends: {', '.join(depends)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
