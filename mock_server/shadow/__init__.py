"""Shadow mode: every real call an app makes also checks the fake, and can be replayed offline.

``bfl-mock shadow --upstream https://api.bfl.ai`` sits between an app and BFL's API. Each request goes to
the upstream unchanged and the upstream's answer goes back unchanged (``forward``); afterwards, off the
app's path, an in-process fake answers the same request (``predict``) and the two answers are compared by
the rules written per behaviour (``rules``). Divergences are kept in a bounded report (``report``) and
exchanges can be written as scrubbed go-vcr cassettes (``cassettes``) that ``bfl-mock serve --replay`` and
``bfl-mock contract --cassettes`` read back (``replay``).

Prism's proxy mode (validate, never change the answer) and WireMock's record/snapshot are the models; the
twist is that the comparison is with the fake's own prediction, not only with a schema.
"""

from __future__ import annotations

from mock_server.shadow.rules import BEHAVIOURS, Behaviour, Divergence

__all__ = ["BEHAVIOURS", "Behaviour", "Divergence"]
