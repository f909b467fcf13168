from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.orders.chain import Api, serve


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with serve(db_url) as a:
        yield a
