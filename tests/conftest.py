"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sheetsync.sandbox import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi


@pytest.fixture
def sandbox() -> Iterator[SandboxApi]:
    """A running local API (demo key and campaign, shuffled echoes), stopped afterwards."""
    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID], seed=1234) as api:
        yield api
