"""Build the Windows installer: bundle, smoke test, NSIS, and (with --install-test) a
silent per-user install, a run of the installed app, and a silent uninstall.

    python packaging\\build_windows.py [--install-test]       (on Windows)
    python packaging/build_windows.py --nsis-only --bundle DIR [--out DIR]   (anywhere)

--nsis-only compiles the installer script around an existing folder; the tests use it on
Linux with a placeholder payload, so a broken script fails there too (makensis -WX).
Output: dist/SheetSync-<version>-setup.exe
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import appinfo  # noqa: E402

ROOT = appinfo.ROOT
BUILD = ROOT / "build"
ICONS = BUILD / "icons"
BUNDLE = BUILD / "dist" / appinfo.EXE_NAME
NSI = ROOT / "packaging" / "windows" / "sheetsync.nsi"
APP_EXE = f"{appinfo.NAME}.exe"  # windowed; the shortcut and "Open with" start it
CLI_EXE = f"{appinfo.EXE_NAME}.exe"  # console twin for the command line and CI


def log(message: str) -> None:
    print(f"build_windows: {message}", flush=True)


def find_makensis() -> str | None:
    found = shutil.which("makensis")
    if found:
        return found
    for base in (os.environ.get("ProgramFiles(x86)"), os.environ.get("ProgramFiles")):
        if base and (Path(base) / "NSIS" / "makensis.exe").exists():
            return str(Path(base) / "NSIS" / "makensis.exe")
    return None


def installer_name(version: str | None = None) -> str:
    return f"SheetSync-{version or appinfo.version()}-setup.exe"


def compile_installer(bundle: Path, out_dir: Path, icon: Path, version: str | None = None) -> Path:
    makensis = find_makensis()
    if makensis is None:
        raise SystemExit("build_windows: makensis not found (Windows: choco install nsis; "
                         "Debian: apt-get install nsis)")
    version = version or appinfo.version()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / installer_name(version)
    numbers = ".".join(str(n) for n in appinfo.numeric_version(version))
    subprocess.run([
        makensis, "-WX", "-V2", "-NOCD",
        f"-DVERSION={version}", f"-DVERSION4={numbers}", f"-DBUNDLE={bundle}",
        f"-DICON={icon}", f"-DOUTFILE={target}", str(NSI),
    ], check=True)
    return target


def install_test(installer: Path) -> None:
    """Install silently for this user, run the installed app, uninstall, check nothing
    of the app's folder is left (the uninstaller runs from a temporary copy)."""
    sys.path.insert(0, str(ROOT / "packaging"))
    from smoke import smoke_test

    # NSIS wants /D= last and unquoted, so a folder name without spaces
    target = Path(os.environ["LOCALAPPDATA"]) / "Programs" / "SheetSyncInstallTest"
    subprocess.run([str(installer), "/S", f"/D={target}"], check=True)
    for name in (APP_EXE, CLI_EXE, "uninstall.exe"):
        if not (target / name).exists():
            raise SystemExit(f"install test: {name} not installed in {target}")
    log("installed: " + ", ".join(smoke_test(target / CLI_EXE)))
    subprocess.run([str(target / "uninstall.exe"), "/S"], check=True)
    deadline = time.monotonic() + 60
    while target.exists() and time.monotonic() < deadline:
        time.sleep(1)
    if target.exists():
        raise SystemExit(f"install test: {target} still exists after uninstalling: "
                         f"{[str(p) for p in target.rglob('*')][:20]}")
    log("uninstalled cleanly")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Windows installer.")
    parser.add_argument("--nsis-only", action="store_true", help="only compile the installer")
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--icon", type=Path, default=ICONS / "sheetsync.ico")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--install-test", action="store_true",
                        help="install silently, run the installed app, uninstall")
    args = parser.parse_args(argv)
    if not args.nsis_only:
        if sys.platform != "win32":
            raise SystemExit("build_windows: the bundle is built on Windows (use --nsis-only here)")
        subprocess.run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), "--out",
                        str(ICONS)], check=True)
        subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
                        "--log-level", "WARN", "--distpath", str(BUILD / "dist"),
                        "--workpath", str(BUILD / "pyinstaller"),
                        str(ROOT / "packaging" / "sheetsync.spec")],
                       check=True, cwd=ROOT, env=dict(os.environ, SHEETSYNC_ICONS=str(ICONS)))
        from smoke import smoke_test

        log("bundle: " + ", ".join(smoke_test(args.bundle / CLI_EXE)))
    elif not args.icon.exists():
        subprocess.run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), "--out",
                        str(args.icon.parent)], check=True)
    installer = compile_installer(args.bundle, args.out, args.icon)
    log(f"installer {installer}: {installer.stat().st_size / 1e6:.0f} MB")
    if args.install_test:
        install_test(installer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
