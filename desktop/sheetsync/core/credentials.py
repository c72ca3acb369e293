"""The API key: in the operating system's keyring, never in a file.

Order of lookup: the ``SHEETSYNC_API_KEY`` environment variable (headless use), a key
kept for this session only (when no keyring works), then the keyring. When the system
has no working keyring the key is kept in memory for the session and the caller says so;
there is no plaintext fallback (keyrings.alt's is base64 in a file).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import keyring
import keyring.errors

from .errors import CredentialError

log = logging.getLogger("sheetsync.secrets")

SERVICE = "Sheet Sync"
ENV_VAR = "SHEETSYNC_API_KEY"

NO_KEYRING_HELP = (
    "No system keyring is available, so the API key is kept for this session only and "
    "asked again next time. To keep it, use a desktop with a keyring (Windows Credential "
    "Manager and the macOS Keychain work as they are; on Linux install and unlock GNOME "
    "Keyring or KWallet), or on a server set the SHEETSYNC_API_KEY environment variable."
)


@dataclass(frozen=True)
class KeyStatus:
    source: str | None  # "environment", "keyring", "session" or None (no key)
    keyring_ok: bool
    keyring_name: str

    @property
    def has_key(self) -> bool:
        return self.source is not None


def _account(base_url: str) -> str:
    """One key per API address, so the demo's key never replaces the real one."""
    return base_url.strip().rstrip("/").lower()


class KeyStore:
    def __init__(self, env: Mapping[str, str] | None = None, service: str = SERVICE) -> None:
        self._env = os.environ if env is None else env
        self._service = service
        self._session: dict[str, str] = {}

    # -- the keyring itself ------------------------------------------------
    @staticmethod
    def keyring_name() -> str:
        backend = keyring.get_keyring()
        return getattr(backend, "name", type(backend).__name__)

    @staticmethod
    def keyring_works() -> bool:
        backend = keyring.get_keyring()
        try:
            from keyring.backends import fail

            if isinstance(backend, fail.Keyring):
                return False
        except ImportError:  # pragma: no cover
            pass
        return getattr(backend, "priority", 1) > 0

    # -- the key ------------------------------------------------------------
    def get(self, base_url: str) -> str | None:
        from_env = self._env.get(ENV_VAR, "").strip()
        if from_env:
            return from_env
        account = _account(base_url)
        if account in self._session:
            return self._session[account]
        try:
            return keyring.get_password(self._service, account)
        except keyring.errors.KeyringError as exc:
            log.warning("keyring read failed: %s", type(exc).__name__)
            return None

    def set(self, base_url: str, key: str) -> str:
        """Store the key; returns "keyring", or "session" when no keyring works."""
        key = key.strip()
        if not key:
            raise CredentialError("The API key is empty. Paste the key from your Replify account settings.")
        account = _account(base_url)
        try:
            keyring.set_password(self._service, account, key)
        except (keyring.errors.KeyringError, RuntimeError) as exc:
            log.warning("keyring write failed (%s); key kept for this session only", type(exc).__name__)
            self._session[account] = key
            return "session"
        self._session.pop(account, None)
        return "keyring"

    def clear(self, base_url: str) -> None:
        account = _account(base_url)
        self._session.pop(account, None)
        try:
            keyring.delete_password(self._service, account)
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as exc:
            log.warning("keyring delete failed: %s", type(exc).__name__)

    def status(self, base_url: str) -> KeyStatus:
        works = self.keyring_works()
        name = self.keyring_name()
        if self._env.get(ENV_VAR, "").strip():
            return KeyStatus("environment", works, name)
        if _account(base_url) in self._session:
            return KeyStatus("session", works, name)
        try:
            stored = keyring.get_password(self._service, _account(base_url))
        except keyring.errors.KeyringError:
            stored = None
        return KeyStatus("keyring" if stored else None, works, name)

    def require(self, base_url: str) -> str:
        key = self.get(base_url)
        if not key:
            raise CredentialError(
                "No API key is set. Run `sheetsync key set` (or set SHEETSYNC_API_KEY), "
                "or enter it in Settings."
            )
        return key
