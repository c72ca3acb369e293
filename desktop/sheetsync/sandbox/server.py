"""A local stand-in for the campaign contacts API, for the demo, the tests and the benchmarks.

It speaks ``../shared/api-contract.md`` over real HTTP on 127.0.0.1, keeps its state in
memory where a test can read it, and injects faults on request (:class:`Faults`).
Standard library plus orjson only; nothing here imports the app.

Where the contract is silent, the sandbox picks one answer and sticks to it:

- An upsert of a contact that is not in the campaign, sent with status ``completed`` or
  ``disqualified``, is not added and comes back in ``errors`` with a reason (so the row
  shows why). Sent for a contact already in the campaign, the status is stored (updated).
- An ``updateOnly`` of an unknown contact appears in neither list.
- A ``remove`` of an unknown contact comes back in ``errors`` ("not in this campaign").
- Echoes are normalised: emails lowercased, phones as digits only; the order of the
  ``success`` and ``errors`` items is shuffled (``shuffle=True``) so clients cannot rely on it.
- Status codes: 401 missing/wrong key, 403 a key listed in ``forbidden_keys``, 400 a
  malformed campaign UUID or a body that is not a JSON object, 404 an unknown campaign or
  path, 405 a method other than POST, 422 ``contacts`` missing/not a list or an unknown
  ``action``, 413 more contacts than ``Faults.max_batch``.
"""

from __future__ import annotations

import logging
import math
import random
import socket
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

__all__ = [
    "DEMO_API_KEY",
    "DEMO_CAMPAIGN_ID",
    "API_PREFIX",
    "FAULT_WORDS",
    "Faults",
    "RequestRecord",
    "SandboxApi",
    "normalise_email",
    "normalise_phone",
]

log = logging.getLogger("sheetsync.sandbox")

DEMO_API_KEY = "demo-key"
DEMO_CAMPAIGN_ID = "8f14e45f-ceea-467f-a0e6-5c4a3c1e2b7d"
API_PREFIX = "/api/v1"

#: The string faults :attr:`Faults.fail_next` understands (any int is an HTTP status).
FAULT_WORDS = frozenset(
    {
        "drop-before",  # close the connection without reading the request
        "drop-after",  # process the batch, then close without answering
        "not-json",  # 200 with an HTML body
        "not-object",  # 200 with a JSON list
        "extra-fields",  # 200 with unknown fields at every level
        "missing-fields",  # 200 with only a message (no success/errors lists)
        "slow",  # process, then sleep Faults.slow_seconds before answering
        "text-error",  # 400 with a text/plain body
    }
)

_STOP_STATUSES = frozenset({"completed", "disqualified"})
_ACTIONS = frozenset({"upsert", "updateOnly", "remove"})
_STRING_FIELDS = ("firstName", "lastName", "email", "phone", "status", "externalIdKey",
                  "externalIdValue")
_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _normalise_any(email_or_phone: str) -> str:
    return normalise_email(email_or_phone) if "@" in email_or_phone else normalise_phone(
        email_or_phone
    )


@dataclass
class Faults:
    """Faults to inject; tests may change any field while the server runs.

    ``fail_next`` is a queue consumed one item per request: an ``int`` answers that HTTP
    status (with ``retry_after`` on 429/503), a string is one of :data:`FAULT_WORDS`.
    """

    latency: float = 0.0
    fail_next: list[int | str] = field(default_factory=list)
    retry_after: str | None = None
    max_batch: int | None = None
    #: Requests per second allowed (token bucket, burst of one second's worth); above it, 429.
    rate_limit: float | None = None
    slow_seconds: float = 5.0

    def __post_init__(self) -> None:
        for item in self.fail_next:
            _check_fault(item)


def _check_fault(item: int | str) -> None:
    if isinstance(item, bool) or not isinstance(item, int | str):
        raise ValueError(f"unknown fault {item!r}")
    if isinstance(item, str) and item not in FAULT_WORDS:
        raise ValueError(f"unknown fault {item!r}; known: {sorted(FAULT_WORDS)}")


@dataclass
class RequestRecord:
    """One request as the sandbox saw it."""

    time: float
    method: str
    path: str
    campaign_id: str | None
    body: Any  # the parsed JSON, or None when it was not read or not JSON
    status: int | None  # None until answered; stays None when the connection was dropped
    fault: int | str | None = None
    contacts: int = 0


@dataclass
class _Campaign:
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_email: dict[str, int] = field(default_factory=dict)
    by_phone: dict[str, int] = field(default_factory=dict)


class _Drop(Exception):
    """Close the connection without an answer."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: SandboxApi) -> None:
        self.api = api
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Dropped and timed-out connections are expected here: no tracebacks on stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_all_connections(self) -> None:
        with self.sockets_lock:
            sockets, self.open_sockets = list(self.open_sockets), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SheetSyncSandbox/1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _answer(self, status: int, payload: Any = None, *, raw: bytes | None = None,
                content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> None:
        body = raw if raw is not None else orjson.dumps(payload)
        self.send_response(status, _REASONS.get(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802
        self._other_method()

    do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def _other_method(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        record = RequestRecord(time.time(), self.command, self.path, None, None, 405)
        self.server.api._log(record)
        self._answer(405, {"message": "Only POST is supported"}, headers={"Allow": "POST"})

    def do_POST(self) -> None:  # noqa: N802
        api = self.server.api
        record = RequestRecord(time.time(), "POST", self.path, None, None, None)
        api._log(record)  # logged on arrival: a slow or dropped request is visible at once
        try:
            status, payload, extra = api._handle(self, record)
        except _Drop:
            self._drop()
            return
        finally:
            if not api.keep_bodies:
                record.body = None
        record.status = status
        if isinstance(payload, bytes):
            content_type = extra.pop("Content-Type", "application/json")
            self._answer(status, raw=payload, content_type=content_type, headers=extra)
        else:
            self._answer(status, payload, headers=extra)


class SandboxApi:
    """The local API: ``with SandboxApi() as api: ... api.base_url ...``.

    State is in memory and guarded by one lock; read it with :meth:`contacts`,
    :attr:`requests` and :meth:`processed_count`.
    """

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        campaigns: Iterable[str] = (DEMO_CAMPAIGN_ID,),
        faults: Faults | None = None,
        port: int = 0,
        shuffle: bool = True,
        seed: int | None = None,
        forbidden_keys: Iterable[str] = (),
        keep_bodies: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.forbidden_keys = frozenset(forbidden_keys)
        self.faults = faults if faults is not None else Faults()
        self.shuffle = shuffle
        self.keep_bodies = keep_bodies
        self._ssl_context = ssl_context  # serve https (tests of certificate checks)
        self._port = port
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._campaigns: dict[str, _Campaign] = {}
        for campaign_id in campaigns:
            self.add_campaign(campaign_id)
        self._requests: list[RequestRecord] = []
        self._processed: Counter[str] = Counter()
        self._next_id = 1
        self._tokens = 0.0
        self._tokens_at = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<SandboxApi {self.base_url if self._server else 'stopped'}>"

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> SandboxApi:
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", self._port), self)
        if self._ssl_context is not None:
            # The handshake happens in the handler thread, not in the accepting one.
            self._server.socket = self._ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="sheetsync-sandbox", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every open connection (keep-alive ones too)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{API_PREFIX}"

    def contacts_url(self, campaign_id: str = DEMO_CAMPAIGN_ID) -> str:
        return f"{self.base_url}/campaigns/{campaign_id}/contacts"

    # -- state a test can read ------------------------------------------------------------

    def add_campaign(self, campaign_id: str) -> None:
        key = str(uuid.UUID(campaign_id))
        with self._lock:
            self._campaigns.setdefault(key, _Campaign())

    def contacts(self, campaign_id: str = DEMO_CAMPAIGN_ID) -> dict[str, dict[str, Any]]:
        """The campaign's contacts (copies), keyed by normalised email, else phone."""
        with self._lock:
            campaign = self._campaigns[str(uuid.UUID(campaign_id))]
            return {
                (rec.get("email") or rec["phone"]): dict(rec)
                for rec in campaign.records.values()
            }

    def find(self, email_or_phone: str, campaign_id: str = DEMO_CAMPAIGN_ID
             ) -> dict[str, Any] | None:
        key = _normalise_any(email_or_phone)
        with self._lock:
            campaign = self._campaigns[str(uuid.UUID(campaign_id))]
            rid = campaign.by_email.get(key) or campaign.by_phone.get(key)
            return dict(campaign.records[rid]) if rid else None

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received, in arrival order (a copy of the list)."""
        with self._lock:
            return list(self._requests)

    def processed_count(self, email_or_phone: str) -> int:
        """How many times a contact with this email or phone was processed, any outcome."""
        with self._lock:
            return self._processed[_normalise_any(email_or_phone)]

    def reset(self) -> None:
        """Forget contacts, requests and counters (campaigns stay)."""
        with self._lock:
            for key in self._campaigns:
                self._campaigns[key] = _Campaign()
            self._requests.clear()
            self._processed.clear()

    # -- request handling (called from the handler threads) -------------------------------

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _take_fault(self) -> int | str | None:
        with self._lock:
            queue = self.faults.fail_next
            if not queue:
                return None
            item = queue.pop(0)
        _check_fault(item)
        return item

    def _rate_limited(self) -> float | None:
        """Seconds to wait when over ``Faults.rate_limit``, else None (token consumed)."""
        rate = self.faults.rate_limit
        if not rate:
            return None
        with self._lock:
            now = time.monotonic()
            burst = max(1.0, rate)
            if self._tokens_at == 0.0:
                self._tokens = burst
            else:
                self._tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return (1.0 - self._tokens) / rate

    def _handle(self, h: _Handler, record: RequestRecord
                ) -> tuple[int, Any, dict[str, str]]:
        """Decide the answer: (status, JSON payload or raw bytes, extra headers)."""
        faults = self.faults
        if faults.latency > 0:
            time.sleep(faults.latency)
        fault = self._take_fault()
        record.fault = fault
        if fault == "drop-before":
            raise _Drop
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""

        if isinstance(fault, int):
            headers = {}
            if fault in (429, 503) and faults.retry_after is not None:
                headers["Retry-After"] = faults.retry_after
            return fault, {"message": f"Injected fault: HTTP {fault}"}, headers
        if fault == "text-error":
            return 400, b"Bad request: injected text error", {"Content-Type": "text/plain"}

        wait = self._rate_limited()
        if wait is not None:
            return 429, {"message": "Rate limit exceeded"}, {
                "Retry-After": str(max(1, math.ceil(wait)))
            }

        path = h.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        prefix = API_PREFIX.strip("/").split("/")
        if (len(parts) != len(prefix) + 3 or parts[: len(prefix)] != prefix
                or parts[-3] != "campaigns" or parts[-1] != "contacts"):
            return 404, {"message": f"No route for POST {path}"}, {}
        raw_id = parts[-2]
        record.campaign_id = raw_id

        key = h.headers.get("x-api-key")
        if not key or (key != self.api_key and key not in self.forbidden_keys):
            return 401, {"message": "Invalid or missing API key"}, {}
        if key in self.forbidden_keys:
            return 403, {"message": "This API key may not access this campaign"}, {}
        try:
            campaign_id = str(uuid.UUID(raw_id))
        except ValueError:
            return 400, {"message": f"campaignId must be a UUID, got {raw_id[:60]!r}"}, {}
        record.campaign_id = campaign_id
        with self._lock:
            campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            return 404, {"message": f"Campaign {campaign_id} not found"}, {}

        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return 400, {"message": f"Body is not valid JSON: {exc}"}, {}
        record.body = body
        if not isinstance(body, dict):
            return 400, {"message": "Body must be a JSON object"}, {}
        contacts = body.get("contacts")
        if not isinstance(contacts, list):
            what = "missing" if contacts is None else "not a list"
            return 422, {"message": f"'contacts' is {what}: it must be an array"}, {}
        record.contacts = len(contacts)
        action = body.get("action", "upsert")
        if action not in _ACTIONS:
            return 422, {"message": f"Unknown action {action!r}; use upsert, updateOnly "
                                    "or remove"}, {}
        for name in ("externalIdKey", "externalIdValue"):
            if name in body and not isinstance(body[name], str):
                return 422, {"message": f"'{name}' must be a string"}, {}
        if faults.max_batch is not None and len(contacts) > faults.max_batch:
            return 413, {"message": f"Too many contacts in one request: {len(contacts)} > "
                                    f"{faults.max_batch}"}, {}

        success, errors = self._process(campaign, action, contacts, body)
        if self.shuffle:
            with self._lock:
                self._random.shuffle(success)
                self._random.shuffle(errors)
        payload: dict[str, Any] = {
            "message": f"Processed {len(success)} contacts successfully, "
                       f"{len(errors)} failed",
            "success": success,
            "errors": errors,
        }
        if fault == "drop-after":
            raise _Drop
        if fault == "slow":
            time.sleep(faults.slow_seconds)
        elif fault == "not-json":
            return 200, (b"<html><body><h1>Welcome to nginx!</h1>"
                         b"<p>Maintenance in progress</p></body></html>"), {
                "Content-Type": "text/html"}
        elif fault == "not-object":
            return 200, [payload["message"]], {}
        elif fault == "extra-fields":
            payload["requestId"] = uuid.uuid4().hex
            payload["meta"] = {"took_ms": 3, "version": "2.1"}
            for item in success + errors:
                item["contactId"] = uuid.uuid4().hex
                item["campaignId"] = campaign_id
        elif fault == "missing-fields":
            payload = {"message": payload["message"]}
        return 200, payload, {}

    def _process(self, campaign: _Campaign, action: str, contacts: list[Any],
                 body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        success: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        request_ext = {k: body[k] for k in ("externalIdKey", "externalIdValue") if k in body}
        with self._lock:
            for contact in contacts:
                if not isinstance(contact, dict):
                    errors.append({"email": None, "phone": None,
                                   "error": "contact must be a JSON object"})
                    continue
                email = contact.get("email")
                phone = contact.get("phone")
                echo: dict[str, Any] = {}
                if isinstance(email, str) and email.strip():
                    echo["email"] = email = normalise_email(email)
                else:
                    email = None
                if isinstance(phone, str | int) and not isinstance(phone, bool) and str(
                        phone).strip():
                    echo["phone"] = phone = normalise_phone(str(phone))
                else:
                    phone = None
                for key in (email, phone):
                    if key:
                        self._processed[key] += 1
                problem = _contact_problem(contact, email, phone)
                if problem:
                    errors.append({"email": echo.get("email"), "phone": echo.get("phone"),
                                   "error": problem})
                    continue
                rid = (campaign.by_email.get(email) if email else None) or (
                    campaign.by_phone.get(phone) if phone else None)
                if action == "remove":
                    if rid is None:
                        errors.append({**echo, "error": "contact not in this campaign"})
                        continue
                    self._delete(campaign, rid)
                    success.append({**echo, "action": "removed"})
                    continue
                if rid is None:
                    if action == "updateOnly":
                        continue  # ignored: in neither list
                    status = contact.get("status")
                    if isinstance(status, str) and status.lower() in _STOP_STATUSES:
                        errors.append({**echo, "error": f"not added: status '{status}' "
                                       "stops outreach and the contact is not in the "
                                       "campaign"})
                        continue
                    self._create(campaign, contact, email, phone, request_ext)
                    success.append({**echo, "action": "created"})
                else:
                    self._update(campaign, rid, contact, email, phone, request_ext)
                    success.append({**echo, "action": "updated"})
        return success, errors

    def _create(self, campaign: _Campaign, contact: dict[str, Any], email: str | None,
                phone: str | None, request_ext: dict[str, Any]) -> None:
        rid = self._next_id
        self._next_id += 1
        rec: dict[str, Any] = {"id": rid}
        campaign.records[rid] = rec
        self._update(campaign, rid, contact, email, phone, request_ext)

    def _update(self, campaign: _Campaign, rid: int, contact: dict[str, Any],
                email: str | None, phone: str | None, request_ext: dict[str, Any]) -> None:
        rec = campaign.records[rid]
        for name in _STRING_FIELDS:
            if name in contact and contact[name] not in (None, ""):
                rec[name] = contact[name]
        for name, value in request_ext.items():
            rec.setdefault(name, value)
        if email:
            if rec.get("email") and rec["email"] != email:
                campaign.by_email.pop(rec["email"], None)
            rec["email"] = email
            campaign.by_email[email] = rid
        if phone:
            if rec.get("phone") and rec["phone"] != phone:
                campaign.by_phone.pop(rec["phone"], None)
            rec["phone"] = phone
            campaign.by_phone[phone] = rid
        meta = contact.get("contactMetadata")
        if isinstance(meta, dict):
            rec["contactMetadata"] = {**rec.get("contactMetadata", {}), **meta}
        rec["updates"] = rec.get("updates", -1) + 1

    @staticmethod
    def _delete(campaign: _Campaign, rid: int) -> None:
        rec = campaign.records.pop(rid)
        if rec.get("email"):
            campaign.by_email.pop(rec["email"], None)
        if rec.get("phone"):
            campaign.by_phone.pop(rec["phone"], None)


def _contact_problem(contact: dict[str, Any], email: str | None, phone: str | None
                     ) -> str | None:
    if not email and not phone:
        return "email or phone is required"
    if email and ("@" not in email or email.startswith("@") or email.endswith("@")):
        return f"invalid email {email!r}"
    if phone and not 7 <= len(phone) <= 15:
        return f"invalid phone {phone!r}: expected 7 to 15 digits with country code"
    for name in _STRING_FIELDS:
        if name in ("email", "phone"):
            continue
        if name in contact and contact[name] is not None and not isinstance(
                contact[name], str):
            return f"'{name}' must be a string"
    meta = contact.get("contactMetadata")
    if meta is not None and not isinstance(meta, dict):
        return "'contactMetadata' must be an object"
    return None
