"""``bfl-mock shadow`` and the replay flags of ``bfl-mock serve`` (wired into ``mock_server.cli`` in one
compact block, so this command's flags live with the command)."""

from __future__ import annotations

import argparse
import errno
import functools
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mock_server.core.config import OTHER_ENV_VARS

SHADOW_DESCRIPTION = """\
Forward every request unchanged to the upstream (BFL's API, with the app's own key) and its answer back
unchanged, and check each exchange against the fake's prediction, behaviour by behaviour. Point the app's
base URL at the shadow. The report is live at /_mock/shadow (and on the dashboard's Shadow page), and is
written on exit (SIGINT/SIGTERM) with --report/--junitxml; --record DIR keeps the traffic as scrubbed
cassettes for `bfl-mock serve --replay DIR` and `bfl-mock contract --cassettes DIR`."""

SHADOW_EXAMPLES = """\
examples:
  bfl-mock shadow                                        forward to https://api.bfl.ai, port 8787
  bfl-mock shadow --port 9000 --report shadow.md --junitxml shadow.xml --fail-on-divergence
  bfl-mock shadow --record recordings/ && bfl-mock serve --replay recordings/
  bfl-mock shadow --upstream http://127.0.0.1:8788 --allow-upstream-host loopback   a stand-in upstream"""

MiB = 1024 * 1024
SHADOW_ENV_VARS = {"BFL_MOCK_UPSTREAM", "BFL_MOCK_ALLOW_UPSTREAM_HOST", "BFL_MOCK_REPLAY", "BFL_MOCK_REPLAY_UNMATCHED"}
OTHER_ENV_VARS.update(SHADOW_ENV_VARS)  # read by these commands: no "unknown variable" warning for them


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"BFL_MOCK_{name.upper()}", default)


def _report_file(text: str) -> str:
    if not text.endswith((".md", ".json")):
        raise argparse.ArgumentTypeError(f"expected FILE.md or FILE.json, not {text!r}")
    return text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text}")
    return value


@dataclass(frozen=True)
class Hooks:
    """What ``mock_server.cli`` lends these commands (passed in: this module never imports the CLI)."""

    serve_args: Callable[[argparse.ArgumentParser], None]  # the fake's flags, as `serve` takes them
    settings: Callable[[argparse.Namespace], tuple[Any, dict[str, Any]]]  # flags + config + env -> Settings
    server_class: Callable[[], Any]  # uvicorn.Server without its own signal handlers
    error: type[Exception]  # a one-line usage error (exit 2)


def add_shadow_parser(sub: Any, hooks: Hooks) -> None:
    p = sub.add_parser(
        "shadow",
        help="forward to BFL's API and check every exchange against the fake",
        description=SHADOW_DESCRIPTION,
        epilog=SHADOW_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hooks.serve_args(p)  # the fake's settings and --host/--port, as `serve` takes them
    g = p.add_argument_group("shadow")
    g.add_argument(
        "--upstream", default=None, help="the real API's origin (BFL_MOCK_UPSTREAM, default https://api.bfl.ai)"
    )
    g.add_argument(
        "--allow-upstream-host",
        action="append",
        default=None,
        metavar="HOST",
        help="allow an upstream that is not one of BFL's hosts (repeatable; .suffix, or loopback; "
        "BFL_MOCK_ALLOW_UPSTREAM_HOST=a,b)",
    )
    g.add_argument(
        "--proxy-port",
        type=int,
        default=None,
        help="also run an HTTP proxy on this port for apps that use HTTPS_PROXY: BFL's hosts are shadowed (TLS "
        "with the local CA, see `bfl-mock env`), every other host is refused (0 = any free port)",
    )
    g.add_argument("--proxy-host", default="127.0.0.1", help="the proxy's bind address (default 127.0.0.1)")
    g.add_argument("--upstream-timeout", type=_positive, default=120.0, help="seconds without a byte (default 120)")
    g.add_argument("--max-in-flight", type=int, default=1000, help="exchanges waiting for comparison (default 1000)")
    g.add_argument(
        "--report",
        action="append",
        type=_report_file,
        default=[],
        metavar="FILE",
        help="FILE.md or FILE.json, written on exit",
    )
    g.add_argument("--junitxml", default=None, metavar="FILE", help="JUnit XML (one testcase per behaviour), on exit")
    g.add_argument("--fail-on-divergence", action="store_true", help="exit 1 when any divergence was seen")
    g.add_argument("--record", default=None, metavar="DIR", help="write every exchange as a scrubbed cassette in DIR")
    g.add_argument("--record-max-mb", type=_positive, default=512.0, help="stop recording above this (default 512)")
    g.add_argument("--record-media", action="store_true", help="keep downloaded media bytes beside the cassettes")
    p.set_defaults(func=functools.partial(cmd_shadow, hooks=hooks))


def add_replay_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("replay")
    g.add_argument(
        "--replay", default=None, metavar="DIR", help="answer from cassettes recorded in DIR (BFL_MOCK_REPLAY)"
    )
    g.add_argument(
        "--replay-unmatched",
        choices=("fake", "refuse"),
        default=None,
        help="a request no cassette matches: answered by the fake (default) or refused with 501 "
        "(BFL_MOCK_REPLAY_UNMATCHED)",
    )


def add_cassettes_arg(contract: argparse.ArgumentParser) -> None:
    """``--cassettes DIR`` on ``bfl-mock contract``: check the fake against recorded exchanges, offline (no
    pytest run, no network); without it the contract command runs as before."""
    contract.add_argument(
        "--cassettes",
        default=None,
        metavar="DIR",
        help="check the fake against the exchanges recorded in DIR (bfl-mock shadow --record), offline",
    )
    suite = contract.get_default("func")

    def run(args: argparse.Namespace) -> int:
        if getattr(args, "cassettes", None):
            return contract_cassettes(args.cassettes)
        return int(suite(args))

    contract.set_defaults(func=run)


def wrap_replay(args: argparse.Namespace, app: Any, error: type[Exception] = ValueError) -> Any:
    """``app`` behind the cassettes of ``--replay DIR`` (``app`` itself without it)."""
    directory = getattr(args, "replay", None) or _env("replay")
    if not directory:
        return app
    from mock_server.shadow.replay import ReplayApp, Replayer

    try:
        replayer = Replayer(Path(directory))
    except (OSError, ValueError) as e:
        raise error(f"--replay {directory}: {e}") from None
    unmatched = getattr(args, "replay_unmatched", None) or _env("replay_unmatched", "fake")
    if unmatched not in ("fake", "refuse"):
        raise error(f"BFL_MOCK_REPLAY_UNMATCHED={unmatched}: expected fake or refuse")
    print(f"  replaying {replayer.loaded} recorded exchange(s) from {directory}; unmatched -> {unmatched}", flush=True)
    return ReplayApp(replayer, app, unmatched=unmatched)


def _bind(host: str, port: int, error: type[Exception]) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise error(f"port {port} on {host} is already in use (--port N, or --port 0 for any)") from None
        raise error(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    return sock


def cmd_shadow(args: argparse.Namespace, *, hooks: Hooks) -> int:
    from mock_server.frontends.netguard import uvicorn_config
    from mock_server.mock import BflMock
    from mock_server.shadow.app import ShadowApp
    from mock_server.shadow.cassettes import Recorder
    from mock_server.shadow.forward import DEFAULT_UPSTREAM, Upstream, UpstreamOptions, UpstreamRefused
    from mock_server.shadow.report import Report

    CliError = hooks.error
    settings, extra = hooks.settings(args)
    allow = args.allow_upstream_host
    if allow is None:
        allow = [h for h in _env("allow_upstream_host", "").split(",") if h.strip()]
    options = UpstreamOptions(
        url=args.upstream or _env("upstream") or DEFAULT_UPSTREAM, allow=tuple(allow), timeout=args.upstream_timeout
    )
    try:
        upstream = Upstream(options)
    except UpstreamRefused as e:
        raise CliError(str(e)) from None
    for path in [*args.report, *([args.junitxml] if args.junitxml else [])]:
        if Path(path).is_dir():
            raise CliError(f"{path}: is a folder, not a file")
    mock = BflMock(settings.replace(progression="manual"))  # its tasks advance when the upstream's do
    mock.configure(extra)
    recorder = None
    if args.record:
        try:
            recorder = Recorder(
                Path(args.record),
                origin=upstream.origin,
                max_bytes=int(args.record_max_mb * MiB),
                media=args.record_media,
            )
        except OSError as e:
            raise CliError(f"--record {args.record}: {e.strerror or e}") from None
    report = Report(upstream=upstream.origin)
    from mock_server.frontends.asgi import AccessLog

    access = AccessLog(sys.stdout, settings.access_log_format) if settings.access_log else None
    app = ShadowApp(
        upstream, mock, report=report, recorder=recorder, max_in_flight=max(1, args.max_in_flight), access_log=access
    )
    sock = _bind(settings.host, settings.port, CliError)
    port = sock.getsockname()[1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{port}"
    print(
        f"bfl-mock shadow at {base}: forwarding to {upstream.origin}, checking every exchange against the fake",
        flush=True,
    )
    print(f"  report: {base}/_mock/shadow, dashboard: {base}/_mock/ui (Shadow page). Ctrl-C stops.", flush=True)
    if recorder is not None:
        print(f"  recording scrubbed cassettes in {args.record}", flush=True)
    # The comparison thread holds the GIL while the fake answers; a request arriving then waited up to the
    # default 5 ms switch interval (p90 +4 ms on loopback). This process is the shadow's own: 0.5 ms.
    sys.setswitchinterval(0.0005)
    proxy = _start_proxy(args, app, settings, CliError) if args.proxy_port is not None else None
    server = hooks.server_class()(uvicorn_config(app, settings, log_level="warning", timeout_graceful_shutdown=3))

    def stop(signum: int, frame: Any) -> None:
        server.should_exit = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.run(sockets=[sock])
    finally:
        if proxy is not None:
            proxy.stop()
        app.close()
        mock.close()
    return finish(report, args)


def _start_proxy(args: argparse.Namespace, app: Any, settings: Any, error: type[Exception]) -> Any:
    """The intercepting proxy of ``mock_server.tls`` in front of the shadow (``--proxy-port N``)."""
    from mock_server.shadow.app import ProxiedShadow
    from mock_server.tls.ca import LocalCA
    from mock_server.tls.proxy import ProxyOptions, ThreadedProxy

    try:
        ca = LocalCA()
        ca.leaf()
        sock = _bind(args.proxy_host, args.proxy_port, error)
    except (OSError, ValueError) as e:
        raise error(f"--proxy-port {args.proxy_port}: {e}") from None
    options = ProxyOptions(host=args.proxy_host, port=args.proxy_port)
    proxy = ThreadedProxy(ProxiedShadow(app), settings, ca, options, sock=sock).start()
    print(
        f"  proxy for apps with HTTPS_PROXY at {proxy.url} (BFL's hosts only; "
        f"`bfl-mock env --proxy-port {proxy.port}` prints the settings)",
        flush=True,
    )
    return proxy


def finish(report: Any, args: argparse.Namespace) -> int:
    """Write the reports asked for; the exit status (1 with --fail-on-divergence and any divergence)."""
    for path in args.report:
        print(f"  report written: {report.write(path)}", flush=True)
    if args.junitxml:
        print(f"  JUnit XML written: {report.write_junit(args.junitxml)}", flush=True)
    drift = report.drifted()
    s = report.as_dict()["summary"]
    print(
        f"bfl-mock shadow stopped: {s['exchanges']} exchange(s), {s['compared']} compared, "
        f"{len(drift)} divergence(s), {s['deviations_by_setting']} deviation(s) by setting.",
        file=sys.stdout,
        flush=True,
    )
    return 1 if drift and args.fail_on_divergence else 0


# ---------------------------------------------------------------------------------------------- contract
def contract_cassettes(directory: str, settings: Any = None) -> int:
    """``bfl-mock contract --cassettes DIR``: the fake against recorded real exchanges, offline."""
    from mock_server.core.config import Settings
    from mock_server.mock import BflMock
    from mock_server.shadow.replay import check_cassettes

    mock = BflMock((settings or Settings.from_env()).replace(progression="manual"))
    try:
        try:
            count, divergences = check_cassettes(Path(directory), mock)
        except (OSError, ValueError) as e:
            print(f"bfl-mock contract: --cassettes {directory}: {e}", file=sys.stderr)
            return 2
    finally:
        mock.close()
    drift = [d for d in divergences if d.deviates_by_setting is None]
    for d in divergences:
        kind = f"deviates by setting {d.deviates_by_setting}" if d.deviates_by_setting else "DIFFERS"
        where = d.request.get("cassette", "") if isinstance(d.request, dict) else ""
        seen = f"{d.count} exchanges, first {where}" if d.count > 1 else where
        print(f"  {kind:<8} {d.behaviour} [{d.evidence}] {d.endpoint}: {d.detail} ({seen})")
    print(
        f"{count} recorded exchange(s) checked: {len(drift)} difference(s), "
        f"{len(divergences) - len(drift)} deviation(s) by setting"
    )
    return 1 if drift else 0
