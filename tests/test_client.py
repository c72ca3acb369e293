"""The API client against the real local API and its fault injection (no mocks, except one
MockTransport where the local API cannot misbehave the way a test needs)."""

from __future__ import annotations

import inspect
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest
import stamina

from sheetsync.core.client import (
    ApiReply,
    ContactsApi,
    RetryEvent,
    RetryPolicy,
    check_base_url,
    parse_retry_after,
    tls_context,
)
from sheetsync.core.errors import (
    BadResponse,
    BatchFailed,
    BatchRejected,
    BatchTooLarge,
    CampaignNotFound,
    CredentialError,
    JobConfigError,
    JobStopped,
    KeyRefused,
    OutcomeUnknown,
    ServerUnavailable,
)
from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

SECRET_KEY = "sk-live-7f3a9c1e-DO-NOT-LEAK"
FAST = RetryPolicy(attempts=4, total_timeout=10, wait_initial=0.01, wait_max=0.05,
                   wait_jitter=0.01)


def batch(*emails: str) -> dict[str, Any]:
    return {"contacts": [{"email": e} for e in emails]}


@pytest.fixture
def no_wait() -> Iterator[None]:
    """Backoff waits off; the policy's own attempt count still applies (cap=True)."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def events() -> list[RetryEvent]:
    return []


@pytest.fixture
def api(sandbox: SandboxApi, events: list[RetryEvent]) -> Iterator[ContactsApi]:
    with ContactsApi(sandbox.base_url, DEMO_API_KEY, timeout=5, retry=FAST,
                     on_retry=events.append) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the good path ---------------------------------------------------------------------------


def test_reply(api: ContactsApi, sandbox: SandboxApi) -> None:
    reply = api.post_contacts(DEMO_CAMPAIGN_ID, {"action": "upsert", "contacts": [
        {"email": "Jane@Example.com", "phone": "+1 555 123 4567"}, {"firstName": "nobody"}]})
    assert isinstance(reply, ApiReply)
    assert reply.status_code == 200
    assert reply.message == "Processed 1 contacts successfully, 1 failed"
    assert reply.success == [{"email": "jane@example.com", "phone": "15551234567",
                              "action": "created"}]
    assert reply.errors[0]["error"] == "email or phone is required"
    assert reply.notes == []
    assert reply.raw["success"] == reply.success
    assert sandbox.requests[-1].body["contacts"][0]["email"] == "Jane@Example.com"


def test_thread_safe_shared_client(api: ContactsApi, sandbox: SandboxApi) -> None:
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                api.post_contacts(DEMO_CAMPAIGN_ID,
                                  batch(*(f"w{n}-{i}-{j}@example.com" for j in range(10))))
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(sandbox.contacts()) == 8 * 20 * 10


# -- retried: 429, 502/503/504, connection refused ---------------------------------------------


def test_429_honours_short_retry_after(sandbox: SandboxApi, events: list[RetryEvent]) -> None:
    sandbox.faults.fail_next = [429]
    sandbox.faults.retry_after = "1"
    with ContactsApi(sandbox.base_url, DEMO_API_KEY, on_retry=events.append) as client:
        t0 = time.monotonic()
        reply = client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
        elapsed = time.monotonic() - t0
    assert reply.success[0]["action"] == "created"
    assert 0.95 <= elapsed < 2.5
    assert events == [RetryEvent("429", 1.0, 1, True, 429)]
    assert [r.status for r in sandbox.requests] == [429, 200]
    assert sandbox.processed_count("a@example.com") == 1


def test_429_with_http_date(sandbox: SandboxApi, api: ContactsApi, events: list[RetryEvent],
                            no_wait: None) -> None:
    sandbox.faults.fail_next = [429]
    sandbox.faults.retry_after = formatdate(time.time() + 30, usegmt=True)
    api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert len(events) == 1
    assert 28 <= events[0].delay <= 30 and events[0].throttled


def test_429_without_retry_after_backs_off(sandbox: SandboxApi, events: list[RetryEvent],
                                           no_wait: None) -> None:
    sandbox.faults.fail_next = [429, 429, 429]
    policy = RetryPolicy(wait_initial=0.5, wait_jitter=0.5, wait_max=20)
    with ContactsApi(sandbox.base_url, DEMO_API_KEY, retry=policy,
                     on_retry=events.append) as client:
        client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert [e.attempt for e in events] == [1, 2, 3]
    for event, base in zip(events, (0.5, 1.0, 2.0), strict=True):
        assert base <= event.delay <= base + 0.5
        assert event.throttled


def test_retry_after_beyond_the_cap_stops_at_once(sandbox: SandboxApi,
                                                  api: ContactsApi) -> None:
    sandbox.faults.fail_next = [429]
    sandbox.faults.retry_after = "3600"
    with pytest.raises(ServerUnavailable) as info:
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert "asked to wait 3600 s" in str(info.value)
    assert info.value.status_code == 429
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(sandbox: SandboxApi, api: ContactsApi, status: int,
                                    events: list[RetryEvent]) -> None:
    sandbox.faults.fail_next = [status, status]
    reply = api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert reply.status_code == 200
    assert [e.reason for e in events] == [str(status)] * 2
    assert not any(e.throttled for e in events)
    assert sandbox.processed_count("a@example.com") == 1


def test_503_storm_longer_than_the_budget(sandbox: SandboxApi) -> None:
    """Real waits: the total time is bounded by the policy, then the job stops."""
    sandbox.faults.fail_next = [503] * 1000
    policy = RetryPolicy(attempts=1000, total_timeout=1.0, wait_initial=0.05, wait_max=0.2,
                         wait_jitter=0.05)
    with ContactsApi(sandbox.base_url, DEMO_API_KEY, retry=policy) as client:
        t0 = time.monotonic()
        with pytest.raises(ServerUnavailable) as info:
            client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com", "b@example.com"))
        elapsed = time.monotonic() - t0
    assert 0.7 <= elapsed <= 1.5
    err = info.value
    assert isinstance(err, JobStopped) and err.exit_code == 3
    assert "unavailable" in str(err) and "sync again" in str(err)
    assert "2 contacts of this batch were not processed" in str(err)
    assert err.status_code == 503
    assert sandbox.processed_count("a@example.com") == 0
    assert 4 <= len(sandbox.requests) <= 20


def test_503_storm_exhausts_attempts(sandbox: SandboxApi, api: ContactsApi,
                                     events: list[RetryEvent], no_wait: None) -> None:
    sandbox.faults.fail_next = [503] * 10
    with pytest.raises(ServerUnavailable, match="4 attempts"):
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert len(sandbox.requests) == 4
    assert len(events) == 3


def test_connection_refused(events: list[RetryEvent], no_wait: None) -> None:
    with ContactsApi(f"http://127.0.0.1:{free_port()}/api/v1", DEMO_API_KEY, retry=FAST,
                     on_retry=events.append) as client:
        with pytest.raises(ServerUnavailable) as info:
            client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert "connect error" in str(info.value)
    assert [e.reason for e in events] == ["connect error"] * (FAST.attempts - 1)


def test_connection_refused_then_server_back(no_wait: None) -> None:
    """The first attempt hits a closed port; the server comes up before the retry."""
    port = free_port()
    sandbox = SandboxApi(port=port)
    started: list[RetryEvent] = []

    def start_server(event: RetryEvent) -> None:
        started.append(event)
        sandbox.start()

    try:
        with ContactsApi(f"http://127.0.0.1:{port}/api/v1", DEMO_API_KEY, retry=FAST,
                         on_retry=start_server) as client:
            reply = client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    finally:
        sandbox.stop()
    assert reply.status_code == 200
    assert [e.reason for e in started] == ["connect error"]
    assert sandbox.processed_count("a@example.com") == 1


# -- never re-sent: the request left, the answer did not come back ------------------------------


def test_drop_after_is_outcome_unknown_and_processed_once(sandbox: SandboxApi,
                                                          api: ContactsApi) -> None:
    sandbox.faults.fail_next = ["drop-after"]
    with pytest.raises(OutcomeUnknown) as info:
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com", "b@example.com"))
    assert "may have processed" in str(info.value)
    assert isinstance(info.value, BatchFailed)
    assert len(sandbox.requests) == 1
    assert sandbox.processed_count("a@example.com") == 1
    assert sandbox.processed_count("b@example.com") == 1
    # the client is still usable: the next batch goes on a fresh connection
    assert api.post_contacts(DEMO_CAMPAIGN_ID, batch("c@example.com")).status_code == 200


def test_drop_before_is_not_resent_either(sandbox: SandboxApi, api: ContactsApi) -> None:
    """A connection closed before the server read the request looks, to the client, exactly
    like one closed after processing: it is not re-sent (at the cost of asking the user)."""
    sandbox.faults.fail_next = ["drop-before"]
    with pytest.raises(OutcomeUnknown):
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert len(sandbox.requests) == 1
    assert sandbox.processed_count("a@example.com") == 0


def test_slow_server_past_the_timeout(sandbox: SandboxApi) -> None:
    sandbox.faults.fail_next = ["slow"]
    sandbox.faults.slow_seconds = 2.0
    with ContactsApi(sandbox.base_url, DEMO_API_KEY, timeout=0.5, retry=FAST) as client:
        t0 = time.monotonic()
        with pytest.raises(OutcomeUnknown) as info:
            client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
        assert time.monotonic() - t0 < 1.5
    assert "within 0.5 s" in str(info.value)
    assert len(sandbox.requests) == 1
    assert sandbox.processed_count("a@example.com") == 1


# -- answers that stop the job or fail the batch -----------------------------------------------


def test_wrong_key(sandbox: SandboxApi) -> None:
    with ContactsApi(sandbox.base_url, SECRET_KEY, retry=FAST) as client:
        with pytest.raises(KeyRefused) as info:
            client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert str(info.value).startswith("The API key was refused")
    assert info.value.status_code == 401 and info.value.exit_code == 3
    assert len(sandbox.requests) == 1


def test_forbidden_key(sandbox: SandboxApi) -> None:
    sandbox.forbidden_keys = frozenset({SECRET_KEY})
    with ContactsApi(sandbox.base_url, SECRET_KEY) as client:
        with pytest.raises(KeyRefused) as info:
            client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert info.value.status_code == 403


def test_401_in_the_middle_of_a_job(sandbox: SandboxApi, api: ContactsApi) -> None:
    api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    sandbox.faults.fail_next = [401]
    with pytest.raises(KeyRefused):
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("b@example.com"))
    assert len(sandbox.requests) == 2


def test_unknown_campaign(api: ContactsApi) -> None:
    other = "0b6f3a52-7c1e-4d8a-9f0e-2a1b3c4d5e6f"
    with pytest.raises(CampaignNotFound) as info:
        api.post_contacts(other, batch("a@example.com"))
    assert other in str(info.value) and info.value.status_code == 404


def test_batch_too_large(sandbox: SandboxApi, api: ContactsApi) -> None:
    sandbox.faults.max_batch = 1
    with pytest.raises(BatchTooLarge) as info:
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com", "b@example.com"))
    assert "2 contacts" in str(info.value) and info.value.status_code == 413
    assert api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com")).status_code == 200


@pytest.mark.parametrize("body, status, words", [
    ({"contacts": [], "action": "merge"}, 422, "Unknown action 'merge'"),
    ({"action": "upsert"}, 422, "'contacts' is missing"),
])
def test_rejected_batch_carries_the_server_message(api: ContactsApi, body: dict[str, Any],
                                                    status: int, words: str) -> None:
    with pytest.raises(BatchRejected) as info:
        api.post_contacts(DEMO_CAMPAIGN_ID, body)
    assert words in str(info.value)
    assert info.value.status_code == status


def test_malformed_campaign_id_is_rejected(api: ContactsApi) -> None:
    with pytest.raises(BatchRejected, match="must be a UUID"):
        api.post_contacts("not-a-uuid/../../x", batch("a@example.com"))


def test_text_error_body(sandbox: SandboxApi, api: ContactsApi) -> None:
    sandbox.faults.fail_next = ["text-error"]
    with pytest.raises(BatchRejected, match="injected text error"):
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))


@pytest.mark.parametrize("status", [500, 501, 507])
def test_other_5xx_fail_the_batch_without_retry(sandbox: SandboxApi, api: ContactsApi,
                                                status: int) -> None:
    sandbox.faults.fail_next = [status]
    with pytest.raises(BatchFailed) as info:
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert type(info.value) is BatchFailed
    assert info.value.status_code == status
    assert len(sandbox.requests) == 1


# -- answers that are not the contract's JSON --------------------------------------------------


def test_not_json(sandbox: SandboxApi, api: ContactsApi) -> None:
    sandbox.faults.fail_next = ["not-json"]
    with pytest.raises(BadResponse) as info:
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert "is not JSON" in str(info.value)
    assert "Welcome to nginx" in (info.value.details or "")
    assert "text/html" in (info.value.details or "")


def test_json_but_not_an_object(sandbox: SandboxApi, api: ContactsApi) -> None:
    sandbox.faults.fail_next = ["not-object"]
    with pytest.raises(BadResponse, match="not an object"):
        api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))


def test_extra_fields_are_tolerated(sandbox: SandboxApi, api: ContactsApi) -> None:
    sandbox.faults.fail_next = ["extra-fields"]
    reply = api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert reply.success[0]["action"] == "created"
    assert "contactId" in reply.success[0]
    assert "requestId" in reply.raw
    assert reply.notes == []


def test_missing_fields_are_tolerated(sandbox: SandboxApi, api: ContactsApi) -> None:
    sandbox.faults.fail_next = ["missing-fields"]
    reply = api.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert (reply.success, reply.errors) == ([], [])
    assert reply.message == "Processed 1 contacts successfully, 0 failed"
    assert reply.notes == ["the answer has no 'success' list", "the answer has no 'errors' list"]


# -- configuration and secrets ---------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://api.heylibby.com/api/v1", "http://10.0.0.5:8080/api",
                                 "http://127.0.0.1.example.com/", "ftp://127.0.0.1/",
                                 "https://", "not a url", "https://user:pw@api.example.com/"])
def test_refused_base_urls(url: str) -> None:
    with pytest.raises(JobConfigError):
        ContactsApi(url, DEMO_API_KEY)


@pytest.mark.parametrize("url", ["https://api.heylibby.com/api/v1", "http://localhost:9/api",
                                 "http://127.0.0.1:9/api/v1", "http://127.8.9.10/",
                                 "http://[::1]:9/api/v1/"])
def test_accepted_base_urls(url: str) -> None:
    check_base_url(url)
    ContactsApi(url, DEMO_API_KEY).close()


def test_tls_verification_cannot_be_switched_off() -> None:
    params = inspect.signature(ContactsApi).parameters
    assert not {"verify", "insecure", "ssl_context", "cert"} & set(params)


@pytest.mark.parametrize("key", ["", "   ", "abc\ndef", "clé"])
def test_unusable_keys(key: str) -> None:
    with pytest.raises(CredentialError) as info:
        ContactsApi("http://127.0.0.1:9/api/v1", key)
    if key.strip():
        assert key not in str(info.value)


def test_parse_retry_after() -> None:
    now = 1_000_000.0
    assert parse_retry_after("5", now=now) == 5.0
    assert parse_retry_after(" 0.5 ", now=now) == 0.5
    assert parse_retry_after(formatdate(now + 10, usegmt=True), now=now) == 10.0
    assert parse_retry_after(formatdate(now - 10, usegmt=True), now=now) == 0.0
    for bad in (None, "", "-3", "soon", "nan"):
        assert parse_retry_after(bad, now=now) is None


def test_key_never_in_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture,
                                           no_wait: None) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[BaseException] = []
    with SandboxApi(api_key=SECRET_KEY, faults=None) as sb:
        sb.faults.retry_after = "1"
        sb.faults.fail_next = [429, 503, "drop-after", "not-json", 500, 422, "missing-fields",
                               "drop-before", 413]
        with ContactsApi(sb.base_url, SECRET_KEY, retry=FAST) as client:
            assert SECRET_KEY not in repr(client) and SECRET_KEY not in repr(vars(client))
            for _ in range(8):
                try:
                    reply = client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
                    assert SECRET_KEY not in repr(reply)
                except Exception as exc:  # noqa: BLE001
                    seen.append(exc)
            assert sb.requests[0].status == 429
        with ContactsApi(sb.base_url, SECRET_KEY + "x", retry=FAST) as client:
            try:
                client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
            except KeyRefused as exc:
                seen.append(exc)
    with ContactsApi(f"http://127.0.0.1:{free_port()}/api/v1", SECRET_KEY,
                     retry=FAST) as client:
        with pytest.raises(ServerUnavailable) as info:
            client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
        seen.append(info.value)
    assert {type(e) for e in seen} >= {OutcomeUnknown, BadResponse, BatchFailed,
                                       BatchRejected, BatchTooLarge, KeyRefused,
                                       ServerUnavailable}
    for exc in seen:
        for text in (str(exc), repr(exc), exc.details or "", repr(vars(exc))):
            assert SECRET_KEY not in text
    assert caplog.records
    for record in caplog.records:
        assert SECRET_KEY not in record.getMessage()
        assert SECRET_KEY not in repr(vars(record))


def test_key_echoed_by_a_server_is_redacted() -> None:
    """The local API never echoes the key; a MockTransport plays a server that does."""

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["x-api-key"]
        return httpx.Response(400, json={"error": {"message": f"bad request for key {key}"}})

    with ContactsApi("https://api.example.com/api/v1", SECRET_KEY,
                     transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(BatchRejected) as info:
            client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
    assert "bad request for key ***" in str(info.value)
    assert SECRET_KEY not in str(info.value) + (info.value.details or "")


@pytest.fixture
def self_signed_files(tmp_path: Any) -> tuple[Any, Any]:
    """A self-signed certificate for 127.0.0.1 and its key (no CA trusts it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def self_signed(self_signed_files: tuple[Any, Any]) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1 (no CA trusts it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_files)
    return context


def test_ssl_cert_file_is_trusted_and_the_tls_context_is_built_once(
        self_signed: ssl.SSLContext, self_signed_files: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that inspects HTTPS: SSL_CERT_FILE names its certificate, and the roots are
    loaded once per process, not for every client (it stalls a window)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(self_signed_files[0]))
    first = tls_context()
    assert tls_context() is first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    with SandboxApi(ssl_context=self_signed) as sb, ContactsApi(sb.base_url, DEMO_API_KEY, retry=FAST) as client:
        reply = client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
        assert [item["action"] for item in reply.success] == ["created"]
    monkeypatch.delenv("SSL_CERT_FILE")
    assert tls_context() is not first  # the default roots again: they do not trust it


def test_untrusted_certificate_is_refused(self_signed: ssl.SSLContext,
                                          events: list[RetryEvent]) -> None:
    with SandboxApi(ssl_context=self_signed) as sb:
        assert sb.base_url.startswith("https://")
        with ContactsApi(sb.base_url, DEMO_API_KEY, retry=FAST,
                         on_retry=events.append) as client:
            with pytest.raises(ServerUnavailable, match="certificate could not be verified"):
                client.post_contacts(DEMO_CAMPAIGN_ID, batch("a@example.com"))
        assert events == []  # not retried: it would fail the same way
        assert sb.requests == []
