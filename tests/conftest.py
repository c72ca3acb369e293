"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi
from sheetsync.sandbox.workbooks import make_contacts_workbook


@pytest.fixture
def sandbox() -> Iterator[SandboxApi]:
    """A running local API (demo key and campaign, shuffled echoes), stopped afterwards."""
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID], seed=1234) as api:
        yield api


class MemoryKeyring(KeyringBackend):
    """Stands in for the OS keyring: no desktop keyring daemon runs on a test machine."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.passwords:
            raise keyring.errors.PasswordDeleteError(username)
        del self.passwords[(service, username)]


@pytest.fixture(autouse=True)
def app_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings, data and log folders; none touches the real ones."""
    home = tmp_path_factory.mktemp("sheetsync-home")
    monkeypatch.setenv("SHEETSYNC_HOME", str(home))
    monkeypatch.delenv("SHEETSYNC_API_KEY", raising=False)
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def contacts_1k(tmp_path: Path) -> Path:
    """A styled 1,000-row contacts workbook with a second sheet of formulas."""
    return make_contacts_workbook(tmp_path / "contacts.xlsx", 1000)
