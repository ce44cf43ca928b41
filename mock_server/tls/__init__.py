"""HTTPS for BFL's own host names: a local certificate authority (``ca``) and an intercepting proxy (``proxy``).

The CA is created once per install in the user's data directory (never shipped in the package); it signs
a short-lived leaf certificate for ``localhost``, loopback and BFL's hosts (``mock_server.core.hosts``), renewed
on load when it nears expiry. ``bfl-mock serve --tls`` serves the fake with that leaf; ``bfl-mock serve
--proxy-port N`` adds an HTTP proxy that terminates TLS for BFL's hosts only and forwards nothing.
"""
