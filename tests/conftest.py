from __future__ import annotations

import httpx
import pytest
from bfl_helpers import BASE

from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


@pytest.fixture
def fake():
    mock = BflMock(seed=1234, progression="polls:3", frozen_clock=True)
    yield mock
    mock.close()


@pytest.fixture
def client(fake):
    with httpx.Client(transport=BflTransport(fake), base_url=BASE, headers={"x-key": "test-key"}) as c:
        yield c
