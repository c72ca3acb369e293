"""The local API's semantics, over real HTTP (it is what every other test trusts)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, Faults, SandboxApi

OTHER_CAMPAIGN = "0b6f3a52-7c1e-4d8a-9f0e-2a1b3c4d5e6f"


@pytest.fixture
def http(sandbox: SandboxApi) -> Iterator[httpx.Client]:
    with httpx.Client(headers={"x-api-key": DEMO_API_KEY}, timeout=10) as client:
        yield client


def post(http: httpx.Client, sandbox: SandboxApi, body: Any,
         campaign: str = DEMO_CAMPAIGN_ID, **kw: Any) -> httpx.Response:
    return http.post(sandbox.contacts_url(campaign), json=body, **kw)


def by_email(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["email"]: item for item in items}


def test_upsert_creates_then_updates(http: httpx.Client, sandbox: SandboxApi) -> None:
    contacts = [{"email": "Jane@Example.com", "phone": "+1 (555) 123-4567", "firstName": "Jane",
                 "contactMetadata": {"tier": "pro"}},
                {"email": "john@example.com"}]
    r = post(http, sandbox, {"contacts": contacts})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["message"] == "Processed 2 contacts successfully, 0 failed"
    assert data["errors"] == []
    assert by_email(data["success"]) == {
        "jane@example.com": {"email": "jane@example.com", "phone": "15551234567",
                             "action": "created"},
        "john@example.com": {"email": "john@example.com", "action": "created"},
    }
    stored = sandbox.contacts()
    assert set(stored) == {"jane@example.com", "john@example.com"}
    assert stored["jane@example.com"]["contactMetadata"] == {"tier": "pro"}

    r = post(http, sandbox, {"action": "upsert", "contacts": [
        {"phone": "15551234567", "lastName": "Doe", "contactMetadata": {"seats": "3"}}]})
    assert r.json()["success"] == [{"phone": "15551234567", "action": "updated"}]
    jane = sandbox.find("jane@example.com")
    assert jane is not None
    assert (jane["firstName"], jane["lastName"]) == ("Jane", "Doe")
    assert jane["contactMetadata"] == {"tier": "pro", "seats": "3"}
    assert len(sandbox.contacts()) == 2
    assert sandbox.processed_count("JANE@example.com") == 1
    assert sandbox.processed_count("+1 555 123 4567") == 2


def test_update_only_ignores_unknown(http: httpx.Client, sandbox: SandboxApi) -> None:
    post(http, sandbox, {"contacts": [{"email": "known@example.com"}]})
    r = post(http, sandbox, {"action": "updateOnly", "contacts": [
        {"email": "known@example.com", "firstName": "K"}, {"email": "new@example.com"}]})
    data = r.json()
    assert data["success"] == [{"email": "known@example.com", "action": "updated"}]
    assert data["errors"] == []  # the unknown one is in neither list
    assert set(sandbox.contacts()) == {"known@example.com"}
    assert sandbox.processed_count("new@example.com") == 1


def test_remove(http: httpx.Client, sandbox: SandboxApi) -> None:
    post(http, sandbox, {"contacts": [{"email": "a@example.com", "phone": "15550000001"},
                                      {"email": "b@example.com"}]})
    r = post(http, sandbox, {"action": "remove", "contacts": [
        {"phone": "1-555-000-0001"}, {"email": "ghost@example.com"}, {"firstName": "x"}]})
    data = r.json()
    assert data["success"] == [{"phone": "15550000001", "action": "removed"}]
    errors = by_email(data["errors"])
    assert errors["ghost@example.com"]["error"] == "contact not in this campaign"
    assert errors[None]["error"] == "email or phone is required"
    assert set(sandbox.contacts()) == {"b@example.com"}


def test_stop_statuses_are_not_added_on_upsert(http: httpx.Client,
                                                sandbox: SandboxApi) -> None:
    post(http, sandbox, {"contacts": [{"email": "old@example.com"}]})
    r = post(http, sandbox, {"contacts": [
        {"email": "old@example.com", "status": "completed"},
        {"email": "new1@example.com", "status": "completed"},
        {"email": "new2@example.com", "status": "disqualified"},
        {"email": "new3@example.com", "status": "interested"}]})
    data = r.json()
    assert by_email(data["success"]) == {
        "old@example.com": {"email": "old@example.com", "action": "updated"},
        "new3@example.com": {"email": "new3@example.com", "action": "created"},
    }
    errors = by_email(data["errors"])
    assert set(errors) == {"new1@example.com", "new2@example.com"}
    assert "not added" in errors["new1@example.com"]["error"]
    assert sandbox.contacts()["old@example.com"]["status"] == "completed"
    assert set(sandbox.contacts()) == {"old@example.com", "new3@example.com"}


def test_contact_errors(http: httpx.Client, sandbox: SandboxApi) -> None:
    r = post(http, sandbox, {"contacts": [
        {"firstName": "Nobody"}, {"email": "not-an-email"}, {"phone": "12"},
        "just a string", {"email": "ok@example.com", "contactMetadata": "nope"}]})
    data = r.json()
    assert data["success"] == []
    reasons = sorted(item["error"] for item in data["errors"])
    assert len(reasons) == 5
    assert all(set(item) == {"email", "phone", "error"} for item in data["errors"])
    assert "email or phone is required" in reasons
    assert sandbox.contacts() == {}


@pytest.mark.parametrize("key, status", [(None, 401), ("wrong", 401), ("revoked", 403)])
def test_key_check(sandbox: SandboxApi, key: str | None, status: int) -> None:
    sandbox.forbidden_keys = frozenset({"revoked"})
    headers = {"x-api-key": key} if key else {}
    r = httpx.post(sandbox.contacts_url(), json={"contacts": []}, headers=headers)
    assert r.status_code == status
    assert r.json()["message"]
    assert sandbox.requests[-1].status == status


def test_campaigns(http: httpx.Client, sandbox: SandboxApi) -> None:
    assert post(http, sandbox, {"contacts": []}, campaign=OTHER_CAMPAIGN).status_code == 404
    r = post(http, sandbox, {"contacts": []}, campaign="not-a-uuid")
    assert r.status_code == 400
    assert "UUID" in r.json()["message"]
    sandbox.add_campaign(OTHER_CAMPAIGN)
    r = post(http, sandbox, {"contacts": [{"email": "x@example.com"}]},
             campaign=OTHER_CAMPAIGN.upper())
    assert r.status_code == 200
    assert set(sandbox.contacts(OTHER_CAMPAIGN)) == {"x@example.com"}
    assert sandbox.contacts() == {}
    assert http.post(f"{sandbox.base_url}/campaigns").status_code == 404
    assert http.get(sandbox.contacts_url()).status_code == 405


@pytest.mark.parametrize("content, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"{}", 422, "'contacts' is missing"),
    (b'{"contacts": {"email": "a@b.c"}}', 422, "not a list"),
    (b'{"contacts": [], "action": "delete"}', 422, "Unknown action"),
])
def test_malformed_bodies(http: httpx.Client, sandbox: SandboxApi, content: bytes,
                          status: int, words: str) -> None:
    r = http.post(sandbox.contacts_url(), content=content,
                  headers={"content-type": "application/json"})
    assert r.status_code == status
    assert words in r.json()["message"]


def test_max_batch_413(http: httpx.Client, sandbox: SandboxApi) -> None:
    sandbox.faults.max_batch = 2
    three = [{"email": f"{i}@example.com"} for i in range(3)]
    assert post(http, sandbox, {"contacts": three}).status_code == 413
    assert sandbox.contacts() == {}
    assert post(http, sandbox, {"contacts": three[:2]}).status_code == 200


def test_echoes_are_shuffled_and_normalised(sandbox: SandboxApi, http: httpx.Client) -> None:
    contacts = [{"email": f"  User{i}@Example.COM ", "phone": f"+1 555 01{i:02d} 000"}
                for i in range(40)]
    data = post(http, sandbox, {"contacts": contacts}).json()
    emails = [item["email"] for item in data["success"]]
    expected = [f"user{i}@example.com" for i in range(40)]
    assert sorted(emails) == sorted(expected)
    assert emails != expected
    assert all(item["phone"].isdigit() for item in data["success"])


def test_no_shuffle_keeps_order() -> None:
    with SandboxApi(shuffle=False) as api:
        contacts = [{"email": f"u{i}@example.com"} for i in range(20)]
        data = httpx.post(api.contacts_url(), json={"contacts": contacts},
                          headers={"x-api-key": DEMO_API_KEY}).json()
        assert [item["email"] for item in data["success"]] == [c["email"] for c in contacts]


def test_request_log_and_keep_alive(http: httpx.Client, sandbox: SandboxApi) -> None:
    for i in range(3):
        r = post(http, sandbox, {"contacts": [{"email": f"{i}@example.com"}]})
        assert r.headers["content-length"]
        assert r.http_version == "HTTP/1.1"
    records = sandbox.requests
    assert [rec.status for rec in records] == [200, 200, 200]
    assert records[0].body == {"contacts": [{"email": "0@example.com"}]}
    assert records[0].campaign_id == DEMO_CAMPAIGN_ID
    assert records[0].contacts == 1


def _raw_exchange(port: int, body: bytes) -> bytes:
    """Send one request on a raw socket and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/campaigns/" + DEMO_CAMPAIGN_ID.encode()
                     + b"/contacts HTTP/1.1\r\nHost: x\r\nx-api-key: " + DEMO_API_KEY.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


@pytest.mark.parametrize("fault, processed", [("drop-before", 0), ("drop-after", 1)])
def test_drops(sandbox: SandboxApi, fault: str, processed: int) -> None:
    sandbox.faults.fail_next = [fault]
    assert _raw_exchange(sandbox.port, b'{"contacts": [{"email": "d@example.com"}]}') == b""
    assert sandbox.processed_count("d@example.com") == processed
    assert sandbox.requests[-1].status is None
    assert sandbox.requests[-1].fault == fault


def test_canned_failures(http: httpx.Client, sandbox: SandboxApi) -> None:
    sandbox.faults.retry_after = "7"
    sandbox.faults.fail_next = [429, 503, 500, "not-json", "not-object", "missing-fields",
                                "extra-fields", "text-error"]
    one = {"contacts": [{"email": "c@example.com"}]}
    r = post(http, sandbox, one)
    assert (r.status_code, r.headers["retry-after"]) == (429, "7")
    r = post(http, sandbox, one)
    assert (r.status_code, r.headers["retry-after"]) == (503, "7")
    r = post(http, sandbox, one)
    assert r.status_code == 500 and "retry-after" not in r.headers
    r = post(http, sandbox, one)
    assert r.status_code == 200 and r.headers["content-type"] == "text/html"
    assert post(http, sandbox, one).json() == ["Processed 1 contacts successfully, 0 failed"]
    assert set(post(http, sandbox, one).json()) == {"message"}
    data = post(http, sandbox, one).json()
    assert {"requestId", "meta"} <= set(data)
    assert {"contactId", "campaignId"} <= set(data["success"][0])
    r = post(http, sandbox, one)
    assert (r.status_code, r.text) == (400, "Bad request: injected text error")
    assert sandbox.faults.fail_next == []
    assert sandbox.processed_count("c@example.com") == 4


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError):
        Faults(fail_next=["explode"])


def test_rate_limit(http: httpx.Client, sandbox: SandboxApi) -> None:
    sandbox.faults.rate_limit = 2
    codes = [post(http, sandbox, {"contacts": []}).status_code for _ in range(5)]
    assert codes[:2] == [200, 200]
    assert 429 in codes


def test_stop_closes_keep_alive_connections() -> None:
    api = SandboxApi().start()
    url = api.contacts_url()
    with httpx.Client(headers={"x-api-key": DEMO_API_KEY}) as client:
        assert client.post(url, json={"contacts": []}).status_code == 200
        api.stop()
        with pytest.raises(httpx.TransportError):
            client.post(url, json={"contacts": []})
