"""Build "Sheet Sync.app" and the .dmg on macOS, and try them.

    python packaging/macos/build_macos.py

Steps: icons -> PyInstaller (sheetsync.spec makes the .app with info_plist.py's
Info.plist) -> plutil -lint and a look at the document types -> smoke test of the .app
-> .dmg (hdiutil, with an Applications link to drag onto) -> mount the .dmg read-only and
run the smoke test again from it (as qutebrowser's build_release does) -> detach.

Signing and notarization run only when their settings are present (the CI secrets):
  CODESIGN_IDENTITY   "Developer ID Application: ..." (PyInstaller signs every binary and
                      the .app with the hardened runtime and entitlements.plist)
  NOTARY_PROFILE      a notarytool keychain profile (xcrun notarytool store-credentials);
                      the .dmg is submitted, waited for, and stapled.
Output: dist/SheetSync-<version>.dmg (arm64 on Apple silicon runners; see packaging/README.md)
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import appinfo  # noqa: E402
from smoke import smoke_test  # noqa: E402

ROOT = appinfo.ROOT
BUILD = ROOT / "build"
ICONS = BUILD / "icons"
APP = BUILD / "dist" / f"{appinfo.NAME}.app"
DIST = ROOT / "dist"


def log(message: str) -> None:
    print(f"build_macos: {message}", flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def build_app() -> None:
    run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), "--out", str(ICONS)])
    env = dict(os.environ, SHEETSYNC_ICONS=str(ICONS))
    if env.get("CODESIGN_IDENTITY"):
        env.setdefault("CODESIGN_ENTITLEMENTS", str(HERE / "entitlements.plist"))
    run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(BUILD / "dist"), "--workpath", str(BUILD / "pyinstaller"),
         str(ROOT / "packaging" / "sheetsync.spec")], env=env, cwd=ROOT)


def check_plist(app: Path) -> None:
    plist_path = app / "Contents" / "Info.plist"
    run(["plutil", "-lint", str(plist_path)])
    with plist_path.open("rb") as fh:
        plist = plistlib.load(fh)
    extensions = {e for t in plist.get("CFBundleDocumentTypes", []) for e in t.get("CFBundleTypeExtensions", [])}
    numbers = ".".join(str(n) for n in appinfo.numeric_version()[:3])
    if plist.get("CFBundleVersion") != numbers or not {"xlsx", "xlsm"} <= extensions:
        raise SystemExit(f"build_macos: unexpected Info.plist: {plist}")


def make_dmg(app: Path) -> Path:
    DIST.mkdir(exist_ok=True)
    dmg = DIST / f"SheetSync-{appinfo.version()}.dmg"
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "dmg"
        staging.mkdir()
        run(["ditto", str(app), str(staging / app.name)])  # keeps signatures and links
        (staging / "Applications").symlink_to("/Applications")
        run(["hdiutil", "create", "-volname", appinfo.NAME, "-srcfolder", str(staging),
             "-fs", "HFS+", "-format", "UDZO", "-ov", str(dmg)])
    return dmg


def notarize(dmg: Path) -> None:
    profile = os.environ.get("NOTARY_PROFILE")
    if not profile:
        log("NOTARY_PROFILE not set: the .dmg is not notarized (Gatekeeper will warn)")
        return
    run(["codesign", "--sign", os.environ["CODESIGN_IDENTITY"], "--timestamp", str(dmg)])
    run(["xcrun", "notarytool", "submit", str(dmg), "--keychain-profile", profile, "--wait"])
    run(["xcrun", "stapler", "staple", str(dmg)])
    run(["xcrun", "stapler", "validate", str(dmg)])


def test_dmg(dmg: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as mount:
        run(["hdiutil", "attach", str(dmg), "-readonly", "-nobrowse", "-mountpoint", mount])
        try:
            return smoke_test(Path(mount) / APP.name / "Contents" / "MacOS" / appinfo.EXE_NAME)
        finally:
            subprocess.run(["hdiutil", "detach", mount, "-force"])


def main() -> int:
    if sys.platform != "darwin":
        raise SystemExit("build_macos: runs on macOS (hdiutil, codesign); "
                         "here, check the Info.plist with tests/test_packaging.py")
    build_app()
    check_plist(APP)
    if os.environ.get("CODESIGN_IDENTITY"):
        run(["codesign", "--verify", "--deep", "--strict", "--verbose=2", str(APP)])
    log("app: " + ", ".join(smoke_test(APP / "Contents" / "MacOS" / appinfo.EXE_NAME)))
    dmg = make_dmg(APP)
    notarize(dmg)
    log("dmg: " + ", ".join(test_dmg(dmg)))
    log(f"{dmg}: {dmg.stat().st_size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
