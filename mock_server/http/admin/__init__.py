"""Admin HTTP API under ``/_mock/`` (moto's ``/moto-api/`` pattern): the same control surface as the
Python API, for live servers and black-box clients in any language.

Reachable from loopback only, unless ``--admin-token`` is set, in which case every caller must send it
(``X-Admin-Token: <token>`` or ``Authorization: Bearer <token>``); wrong tokens are throttled per client.
Without a token, a network request must also name the fake in its ``Host`` (and ``Origin``): a page that
rebinds its own name to 127.0.0.1 is refused (docs/security.md).

``auth`` decides who may call, ``dashboard`` serves the dashboard's files, ``handlers`` answers.
"""

from __future__ import annotations

from mock_server.http.admin.auth import AuthThrottle, _loopback, foreign_host, host_allowed, split_host
from mock_server.http.admin.dashboard import plain_reason
from mock_server.http.admin.handlers import Admin

__all__ = ["Admin", "AuthThrottle", "_loopback", "foreign_host", "host_allowed", "plain_reason", "split_host"]
