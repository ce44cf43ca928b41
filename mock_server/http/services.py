"""What the HTTP layer is given: the collaborators its handlers call. Nothing in ``http/`` reaches back up
to the ``BflMock`` façade; the façade builds this and passes it down."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mock_server.core.backend import BflBackend
from mock_server.core.endpoints import Endpoint
from mock_server.http.journal import Journal
from mock_server.webhooks.dispatcher import WebhookDispatcher


@dataclass
class Services:
    backend: BflBackend
    journal: Journal
    webhooks: WebhookDispatcher
    endpoints: Sequence[Endpoint]
    reset: Callable[[str | None], None]  # the whole fake, or one key's state
