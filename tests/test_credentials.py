"""The API key: keyring only, session fallback said plainly, never a file.

The OS keyring is replaced by an in-memory backend (conftest.MemoryKeyring): no desktop
keyring daemon runs here. ``keyring.backends.fail.Keyring`` stands in for a desktop with
no keyring at all. The real Secret Service test runs under dbus + gnome-keyring when
those are installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from sheetsync.core.credentials import ENV_VAR, KeyStore
from sheetsync.core.errors import CredentialError

URL = "https://api.heylibby.com/api/v1"


def test_key_round_trip_in_the_keyring(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    store = KeyStore(env={})
    assert store.get(URL) is None
    assert store.set(URL, "  sk-123  ") == "keyring"
    assert store.get(URL) == "sk-123"
    assert store.status(URL).source == "keyring"
    assert list(memory_keyring.passwords.values()) == ["sk-123"]
    store.clear(URL)
    assert store.get(URL) is None
    store.clear(URL)  # clearing twice is fine


def test_one_key_per_api_address() -> None:
    store = KeyStore(env={})
    store.set(URL, "real")
    store.set("http://127.0.0.1:9999/api/v1", "demo")
    assert store.get(URL + "/") == "real"


def test_environment_variable_wins() -> None:
    store = KeyStore(env={ENV_VAR: "from-env"})
    assert store.get(URL) == "from-env"
    assert store.status(URL).source == "environment"


def test_no_keyring_keeps_the_key_for_the_session_only(app_home: Path) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    store = KeyStore(env={})
    assert not store.keyring_works()
    assert store.set(URL, "sk-session") == "session"
    assert store.get(URL) == "sk-session"
    assert store.status(URL).source == "session"
    assert KeyStore(env={}).get(URL) is None  # a new session asks again
    for path in app_home.rglob("*"):
        if path.is_file():
            assert b"sk-session" not in path.read_bytes()


def test_empty_key_refused() -> None:
    with pytest.raises(CredentialError, match="empty"):
        KeyStore(env={}).set(URL, "   ")


def test_require_says_what_to_do() -> None:
    with pytest.raises(CredentialError, match="sheetsync key set"):
        KeyStore(env={}).require(URL)


def test_cli_key_status_and_clear(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    from sheetsync.cli import main

    KeyStore(env={}).set(URL, "sk-1")
    assert main(["key", "status"]) == 0
    assert main(["key", "clear"]) == 0
    assert KeyStore(env={}).get(URL) is None
    assert main(["key", "status"]) == 1


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")),
                    reason="needs dbus-run-session and gnome-keyring-daemon (Debian: dbus gnome-keyring)")
def test_real_secret_service(tmp_path: Path) -> None:
    """The real keyring library against a real GNOME Keyring on a private D-Bus session."""
    script = (
        "from sheetsync.core.credentials import KeyStore\n"
        "s = KeyStore(env={})\n"
        "assert s.keyring_works(), s.keyring_name()\n"
        "assert s.set('https://x.test/api', 'sk-real') == 'keyring'\n"
        "assert KeyStore(env={}).get('https://x.test/api') == 'sk-real'\n"
        "s.clear('https://x.test/api')\n"
        "assert KeyStore(env={}).get('https://x.test/api') is None\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS")}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), XDG_RUNTIME_DIR=str(tmp_path))
    shell = f"echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec {sys.executable} -c \"$0\""
    result = subprocess.run(["dbus-run-session", "--", "sh", "-c", shell, script], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr
