"""The campaign contacts API client: one POST per batch, with a retry policy that never sends
a batch twice unless its first send is known to have failed before the server processed it.

What is retried (``RetryPolicy``), and why only this:

- the request never left this machine: connection refused, connect timeout, pool timeout,
  DNS failure (``httpx.ConnectError`` / ``ConnectTimeout`` / ``PoolTimeout``);
- the server said it did not process it: 429 (``Retry-After`` honoured, in seconds or as an
  HTTP date), 502, 503, 504.

Everything else after the request was sent (read timeout, connection dropped before or after
the server read it, ``RemoteProtocolError``) raises :class:`OutcomeUnknown` and is not
re-sent: from the client's side a connection closed before the server read the body looks
exactly like one closed after it processed the batch, so both are treated as "may have
been processed". 500/501 and other 5xx are not retried either (the batch may be half
processed). When retries run out, :class:`ServerUnavailable` stops the job.

The API key is only ever sent in ``x-api-key``; it never appears in a log record, an
exception message or details, or a repr (server text that echoes it is redacted).
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import stamina

from sheetsync.core.options import DEFAULT_BASE_URL
from sheetsync.core.errors import (
    BadResponse,
    BatchFailed,
    BatchRejected,
    BatchTooLarge,
    CampaignNotFound,
    CredentialError,
    JobConfigError,
    KeyRefused,
    OutcomeUnknown,
    ServerUnavailable,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiReply",
    "ContactsApi",
    "RetryEvent",
    "RetryPolicy",
    "check_base_url",
    "is_loopback_host",
]

log = logging.getLogger("sheetsync.api")

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_SNIPPET = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one batch.

    A backoff wait that would end after ``total_timeout`` (counted from the first attempt)
    is not waited: the batch fails. A ``Retry-After`` is honoured as long as the budget is
    not used up, even if it ends after it, so the worst case is about ``total_timeout +
    max_retry_after`` plus one request. A ``Retry-After`` above ``max_retry_after`` stops
    at once: the server said when to come back, and asking earlier would be refused again.
    """

    attempts: int = 6
    total_timeout: float = 60.0
    wait_initial: float = 0.5
    wait_max: float = 20.0
    wait_jitter: float = 0.5
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter before retry number ``attempt`` (1-based)."""
        jitter = random.uniform(0, self.wait_jitter) if self.wait_jitter else 0.0  # noqa: S311
        try:
            return min(self.wait_max, self.wait_initial * 2 ** (attempt - 1) + jitter)
        except OverflowError:
            return self.wait_max


@dataclass(frozen=True)
class RetryEvent:
    """A retry about to happen, for progress display and for the engine to throttle."""

    reason: str  # "429", "503", "connect error", "connect timeout", "pool timeout"...
    delay: float  # seconds until the next attempt (0 is possible)
    attempt: int  # the attempt that just failed, 1-based
    throttled: bool  # True for 429: send fewer requests at once
    status_code: int | None = None


@dataclass
class ApiReply:
    """A 2xx answer whose body is a JSON object. ``raw`` is that object as parsed; lists
    the server left out (or sent as something else) are ``[]`` and ``notes`` says so."""

    status_code: int
    message: str | None
    success: list[dict[str, Any]]
    errors: list[Any]
    raw: Any
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0


class _Secret:
    """Holds the key; its repr and str never show it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class _Retryable(Exception):
    """Internal: this attempt failed in a way known to be safe to retry."""

    def __init__(self, reason: str, *, status_code: int | None = None,
                 retry_after: float | None = None, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after
        self.details = details
        self.give_up: str | None = None  # why the policy refused another attempt


_tls_lock = threading.Lock()
_tls_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def tls_context() -> ssl.SSLContext:
    """The verifying TLS context (certifi's roots, or SSL_CERT_FILE / SSL_CERT_DIR), built once.

    Loading the roots takes 20-40 ms with the GIL held; httpx would do it for every client,
    and a window feels it as a stall at the start of each sync. The context is shared:
    SSLContext is safe to use from several threads.
    """
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _tls_lock:
        context = _tls_contexts.get(key)
        if context is None:
            context = _tls_contexts[key] = httpx.create_ssl_context(trust_env=True)
    return context


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> httpx.URL:
    """The base URL, or :class:`JobConfigError`: https, or http only to this computer."""
    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise JobConfigError(f"The base URL {base_url!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise JobConfigError(
            f"The base URL {base_url!r} must start with https:// and name a server, "
            f"for example {DEFAULT_BASE_URL}."
        )
    if url.userinfo:
        raise JobConfigError(
            "The base URL must not contain a user name or password; the API key is kept in "
            "the keyring or SHEETSYNC_API_KEY."
        )
    if url.scheme == "http" and not is_loopback_host(url.host):
        raise JobConfigError(
            f"The base URL {base_url!r} uses plain http:// to another computer, which would "
            "send the API key and your contacts unencrypted. Use https:// (plain http is "
            "only allowed to this computer: localhost, 127.0.0.1, ::1)."
        )
    return url


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None  # NaN check
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def _clip(text: str, limit: int = _SNIPPET) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message_from(data: Any) -> str | None:
    """The human text in a JSON error body: message/error/detail/title, nested or not."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "details", "title", "reason",
                    "error_description"):
            if key in data:
                found = _message_from(data[key])
                if found:
                    return found
        for key in ("errors",):
            if isinstance(data.get(key), list) and data[key]:
                return _message_from(data[key][0])
    if isinstance(data, list) and data:
        return _message_from(data[0])
    return None


class ContactsApi:
    """One client per job; thread-safe (worker threads share it and its connection pool).

    ``transport`` is for tests (``httpx.MockTransport``); without it, connections use
    keep-alive and TLS verification, which cannot be switched off.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 (frozen, so a shared default is safe)
        transport: httpx.BaseTransport | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        max_connections: int = 16,
    ) -> None:
        url = check_base_url(base_url)
        key = (api_key or "").strip()
        if not key:
            raise CredentialError("No API key: set one with `sheetsync key set`.")
        if not key.isascii() or not key.isprintable():
            raise CredentialError(
                "The API key contains characters that cannot be sent (spaces, accents or "
                "control characters); copy it again from the platform and set it again."
            )
        self._key = _Secret(key)
        self._base = str(url).rstrip("/")
        self._host = url.host
        self.timeout = timeout
        self.retry = retry
        self.on_retry = on_retry
        self._closed = False
        self._lock = threading.Lock()
        self._urls: dict[str, httpx.URL] = {}
        limits = httpx.Limits(max_connections=max_connections,
                              max_keepalive_connections=max_connections, keepalive_expiry=5.0)
        timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        trust_env = True
        if transport is None and is_loopback_host(url.host):
            # Never through a proxy from the environment; no Nagle delay between the header
            # and body writes (it costs ~40 ms a request on loopback).
            transport = httpx.HTTPTransport(
                verify=tls_context(), limits=limits, retries=0,
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            trust_env = False
        self._client = httpx.Client(
            verify=tls_context(), transport=transport, limits=limits, timeout=timeouts, trust_env=trust_env,
            follow_redirects=False,
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "User-Agent": _user_agent()},
        )

    def __repr__(self) -> str:
        return f"<ContactsApi {self._base}>"

    @property
    def base_url(self) -> str:
        return self._base

    def __enter__(self) -> ContactsApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._client.close()

    # -- the one call -----------------------------------------------------------------------

    def post_contacts(self, campaign_id: str, body: dict[str, Any], content: bytes | None = None) -> ApiReply:
        """POST one batch; an :class:`ApiReply` or an :class:`~sheetsync.core.errors.ApiError`.

        ``content``: ``body`` serialised already (the engine hashes it for the journal).
        """
        if self._closed:
            raise RuntimeError("this ContactsApi is closed")
        url = self._urls.get(campaign_id)
        if url is None:  # parsed once per campaign: httpx parses a str URL on every request
            url = self._urls[campaign_id] = httpx.URL(
                f"{self._base}/campaigns/{quote(str(campaign_id), safe='')}/contacts")
        if content is None:
            content = orjson.dumps(body)
        contacts = body.get("contacts")
        count = len(contacts) if isinstance(contacts, list) else 0
        policy = self.retry
        started = time.monotonic()
        failures: list[str] = []

        def hook(exc: Exception) -> bool | float:
            if not isinstance(exc, _Retryable):
                return False
            attempt = len(failures) + 1
            failures.append(exc.reason)
            if attempt >= policy.attempts:
                exc.give_up = f"{attempt} attempts"
                return False
            elapsed = time.monotonic() - started
            if exc.retry_after is not None:
                delay = exc.retry_after
                if delay > policy.max_retry_after:
                    exc.give_up = (f"the server asked to wait {delay:.0f} s, longer than the "
                                   f"{policy.max_retry_after:g} s allowed")
                    return False
                late = elapsed >= policy.total_timeout
            else:
                delay = policy.backoff(attempt)
                late = elapsed + delay > policy.total_timeout
            if late:
                exc.give_up = (f"{attempt} attempts in {elapsed:.1f} s, the "
                               f"{policy.total_timeout:g} s retry budget")
                return False
            event = RetryEvent(reason=exc.reason, delay=delay, attempt=attempt,
                               throttled=exc.status_code == 429, status_code=exc.status_code)
            log.info("retrying in %.1f s after %s (attempt %d of %d)", delay, exc.reason,
                     attempt, policy.attempts)
            if self.on_retry is not None:
                self.on_retry(event)
            return delay

        try:
            for attempt in stamina.retry_context(
                on=hook, attempts=policy.attempts, timeout=policy.total_timeout,
                wait_initial=policy.wait_initial, wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    return self._send_once(url, content, count, campaign_id)
        except _Retryable as exc:
            elapsed = time.monotonic() - started
            why = exc.give_up or f"{len(failures)} attempts"
            raise ServerUnavailable(
                f"The server at {self._host} is unavailable ({exc.reason}; gave up after "
                f"{why}). The {count} contacts of this batch were not processed. Check your "
                "internet connection, wait a few minutes and sync again.",
                status_code=exc.status_code,
                details=f"attempts: {', '.join(failures)} over {elapsed:.1f} s; last: "
                        f"{self._redact(exc.details)}",
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- one attempt ------------------------------------------------------------------------

    def _send_once(self, url: httpx.URL, content: bytes, count: int, campaign_id: str) -> ApiReply:
        t0 = time.monotonic()
        try:
            response = self._client.post(url, content=content,
                                         headers={"x-api-key": self._key.value})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            elapsed = time.monotonic() - t0
            if _is_tls_failure(exc):
                log.warning("POST %d contacts: TLS failure after %.2f s", count, elapsed)
                raise ServerUnavailable(
                    f"The secure connection to {self._host} failed: its certificate could "
                    "not be verified. Check the base URL; on a network that inspects HTTPS, "
                    "point SSL_CERT_FILE at your organisation's certificate bundle.",
                    details=self._describe(exc),
                ) from None
            reason = {httpx.ConnectTimeout: "connect timeout",
                      httpx.PoolTimeout: "pool timeout"}.get(type(exc), "connect error")
            log.info("POST %d contacts: %s after %.2f s", count, reason, elapsed)
            raise _Retryable(reason, details=self._describe(exc)) from None
        except httpx.TimeoutException as exc:  # read/write timeout: the request was sent
            log.warning("POST %d contacts: no answer within %.2f s (%s)", count,
                        time.monotonic() - t0, type(exc).__name__)
            raise OutcomeUnknown(
                f"{count} contacts were sent, but no answer came back within "
                f"{self.timeout:g} s; the server may have processed these contacts. Sync "
                "again to re-send them.",
                details=self._describe(exc),
            ) from None
        except httpx.TransportError as exc:  # dropped connection, protocol error
            log.warning("POST %d contacts: connection lost after %.2f s (%s)", count,
                        time.monotonic() - t0, type(exc).__name__)
            raise OutcomeUnknown(
                f"{count} contacts were sent, but the connection closed before an answer "
                "came back; the server may have processed these contacts. Sync again to "
                "re-send them.",
                details=self._describe(exc),
            ) from None
        elapsed = time.monotonic() - t0
        status = response.status_code
        if 200 <= status < 300:
            # one line per batch only with --debug: a thousand of them cost 0.1 s of a sync
            log.debug("POST %d contacts: HTTP %d in %.2f s", count, status, elapsed)
            return self._reply(response, elapsed)
        log.info("POST %d contacts: HTTP %d in %.2f s", count, status, elapsed)
        self._raise_for(response, count, campaign_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for(self, response: httpx.Response, count: int, campaign_id: str) -> None:
        status = response.status_code
        said = self._server_text(response)
        details = f"HTTP {status} {response.reason_phrase}: {said}" if said else (
            f"HTTP {status} {response.reason_phrase}")
        if status in _RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            reason = str(status)
            raise _Retryable(reason, status_code=status, retry_after=retry_after,
                             details=details)
        if status in (401, 403):
            raise KeyRefused(
                f"The API key was refused (HTTP {status}). Check that it is the current key "
                "for this account, set it again with `sheetsync key set`, and sync again.",
                status_code=status, details=details,
            )
        if status == 404:
            raise CampaignNotFound(
                f"Campaign {_clip(str(campaign_id), 60)} was not found at {self._base}. "
                "Check the campaign ID (and the base URL), then sync again.",
                status_code=status, details=details,
            )
        if status == 413:
            raise BatchTooLarge(
                f"The server refused a batch of {count} contacts as too large (HTTP 413).",
                status_code=status, details=details,
            )
        server_says = f": {said}" if said else ""
        if 400 <= status < 500:
            raise BatchRejected(
                f"The server rejected this batch (HTTP {status}){server_says}",
                status_code=status, details=details,
            )
        if 500 <= status < 600:
            raise BatchFailed(
                f"The server failed on this batch (HTTP {status}){server_says}. Some of its "
                "contacts may have been processed; sync again to re-send them.",
                status_code=status, details=details,
            )
        raise BadResponse(
            f"The server gave an unexpected answer (HTTP {status}); check the base URL.",
            status_code=status,
            details=details + (f"; Location: {response.headers.get('Location')}"
                               if response.headers.get("Location") else ""),
        )

    def _reply(self, response: httpx.Response, elapsed: float) -> ApiReply:
        status = response.status_code
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = _NOT_JSON
        if not isinstance(data, dict):
            kind = "is not JSON" if data is _NOT_JSON else f"is JSON {type(data).__name__}, " \
                                                          "not an object"
            snippet = self._redact(_clip(response.text)) if response.content else "(empty)"
            raise BadResponse(
                f"The server answered HTTP {status}, but its answer {kind}; the result of "
                "this batch is unknown.",
                status_code=status,
                details=f"Content-Type {response.headers.get('Content-Type', '?')}: {snippet}",
            )
        notes: list[str] = []
        message = data.get("message")
        if message is not None and not isinstance(message, str):
            notes.append(f"'message' is {type(message).__name__}, not text")
            message = _clip(orjson.dumps(message).decode())
        if message is not None:
            message = self._redact(message)
        success = data.get("success")
        if not isinstance(success, list):
            notes.append("the answer has no 'success' list" if success is None
                         else f"'success' is {type(success).__name__}, not a list")
            success = []
        elif not all(isinstance(item, dict) for item in success):
            dropped = sum(1 for item in success if not isinstance(item, dict))
            notes.append(f"{dropped} 'success' items are not objects and were ignored")
            success = [item for item in success if isinstance(item, dict)]
        errors = data.get("errors")
        if not isinstance(errors, list):
            notes.append("the answer has no 'errors' list" if errors is None
                         else f"'errors' is {type(errors).__name__}, not a list")
            errors = [] if errors is None else [errors]
        for note in notes:
            log.warning("HTTP %d answer: %s", status, note)
        return ApiReply(status_code=status, message=message, success=success, errors=errors,
                        raw=data, notes=notes, duration=elapsed)

    # -- text hygiene ------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._key.value, "***") if text else text

    def _server_text(self, response: httpx.Response) -> str:
        """The server's own words about an error, clipped and with the key redacted."""
        said: str | None = None
        try:
            said = _message_from(orjson.loads(response.content))
        except orjson.JSONDecodeError:
            pass
        if said is None:
            try:
                said = response.text
            except (UnicodeDecodeError, LookupError):
                said = ""
        return self._redact(_clip(said or ""))

    def _describe(self, exc: BaseException) -> str:
        return self._redact(f"{type(exc).__name__}: {exc}")


_NOT_JSON = object()


def _is_tls_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _user_agent() -> str:
    from sheetsync import __version__

    return f"SheetSync/{__version__} httpx/{httpx.__version__}"

