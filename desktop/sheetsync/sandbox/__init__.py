"""The local API: a stand-in for the campaign contacts API (see :mod:`.server`)."""

from sheetsync.sandbox.server import (
    API_PREFIX,
    DEMO_API_KEY,
    DEMO_CAMPAIGN_ID,
    FAULT_WORDS,
    Faults,
    RequestRecord,
    SandboxApi,
    normalise_email,
    normalise_phone,
)

__all__ = [
    "API_PREFIX",
    "DEMO_API_KEY",
    "DEMO_CAMPAIGN_ID",
    "FAULT_WORDS",
    "Faults",
    "RequestRecord",
    "SandboxApi",
    "normalise_email",
    "normalise_phone",
]
