"""What a sync job is asked to do (campaign, action, batch size, requests in flight), checked
before anything runs, and where the API is by default.

Kept apart from the engine so the command line can check its options, and read the
settings, without importing the HTTP client and the engine first: those load while the
workbook is parsed (``cli.cmd_sync``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .errors import JobConfigError
from .mapping import ACTIONS

DEFAULT_BASE_URL = "https://api.heylibby.com/api/v1"

#: Contacts per request. Each request costs the app, the server and the journal about the
#: same whatever its size (HTTP, a thread hand-off, journal lines), so 200 sends 100,000 rows in
#: 500 requests instead of 1,000, about 0.7 s sooner here. Larger batches go faster still
#: against the local API, but a request then spends longer in the server, and with 50 ms
#: of latency 250 kept the pipe 84 % full, 200 86-88 % (``python -m bench``). The contract
#: does not say how large a batch the server accepts: a 413 halves it for the rest of the job.
DEFAULT_BATCH_SIZE = 200
DEFAULT_CONCURRENCY = 4
MAX_BATCH_SIZE = 10_000
MAX_CONCURRENCY = 16


def validate_campaign_id(text: str) -> str:
    value = (text or "").strip()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise JobConfigError(
            f"'{value}' is not a campaign ID. A campaign ID is a UUID like "
            "3f2b8c1e-4d5a-4b6c-8e9f-0a1b2c3d4e5f: copy it from the campaign's page."
        ) from None


@dataclass(frozen=True)
class JobOptions:
    campaign_id: str
    action: str = "upsert"
    batch_size: int = DEFAULT_BATCH_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    external_id_key: str | None = None
    external_id_value: str | None = None

    def validated(self) -> JobOptions:
        if self.action not in ACTIONS:
            raise JobConfigError(f"Unknown action '{self.action}'. Use upsert, updateOnly or remove.")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise JobConfigError(f"The batch size must be between 1 and {MAX_BATCH_SIZE}.")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise JobConfigError(f"Requests in flight must be between 1 and {MAX_CONCURRENCY}.")
        if bool(self.external_id_key) != bool(self.external_id_value):
            raise JobConfigError("Give both the external ID key and its value, or neither.")
        return JobOptions(
            validate_campaign_id(self.campaign_id),
            self.action,
            self.batch_size,
            self.concurrency,
            self.external_id_key or None,
            self.external_id_value or None,
        )
