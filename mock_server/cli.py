"""Command line: ``bfl-mock serve | canny | send-webhook | contract`` (also ``python -m mock_server``).

Every option has an environment variable (``BFL_MOCK_<NAME>``), read when the command runs, never at import.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mock_server.core.errors import DEFAULT_ERROR, INVALID_IMAGE, ConfigError
from mock_server.testing import TINY_PNG_B64


class CliError(Exception):
    """A user error on the command line: printed as one line, exit 2."""


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line that points at this (sub)command's ``--help`` and suggests the closest name
    (``bfl-mock serve: error: unknown option --prot; did you mean --port? (see bfl-mock serve --help)``).
    ``--help`` still shows everything."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_suggest(self, message)} (see {self.prog} --help)\n")


def _suggest(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message with ``did you mean ...?`` added for an invalid choice (a subcommand, a
    ``choices=`` value); Python reprs of the choices become plain words."""
    import re

    m = re.match(r"argument (?P<arg>[^:]+): invalid choice: (?P<given>.+?) \(choose from (?P<choices>.+)\)$", message)
    if not m:
        return message
    choices = [c.strip().strip("'") for c in m["choices"].split(",")]
    given = m["given"].strip("'")
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6)
    arg = "command" if m["arg"] == "command" else m["arg"]
    hint = f"; did you mean {close[0]}?" if close else f"; expected {', '.join(choices)}"
    return f"{arg}: unknown choice {given!r}{hint}"


def _unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """``unknown option --prot; did you mean --port?`` for the first unknown option among ``extras``."""
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    for extra in extras:
        if extra.startswith("-") and extra != "-":
            name = extra.partition("=")[0]
            close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
            return f"unknown option {name}" + (f"; did you mean {close[0]}?" if close else "")
    return f"unexpected argument{'s' if len(extras) > 1 else ''}: {' '.join(extras)}"


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"BFL_MOCK_{name.upper()}", default)


def _int_in(lo: int, hi: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi], with a one-line error that says the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be {lo}-{hi}, not {value}")
        return value

    return parse


_port = _int_in(0, 65535, "port (0 = any free port)")


def _nonempty(flag: str) -> Callable[[str], str]:
    """An argparse type refusing an empty value (``--api-key ""`` would accept a key no client sends)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError("expected a non-empty value (an empty one would match no request)")
        return text

    return parse


def _url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"expected an origin such as http://localhost:8787, not {text!r}")
    return text


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


SERVE_DESCRIPTION = """\
Run the fake BFL API on one port: every /v1/ endpoint, result downloads, the admin API under /_mock/
and the dashboard at /_mock/ui. Every flag has an environment variable (shown in its help) and every
setting can be given with --set NAME=VALUE, in a config file (--config) or as BFL_MOCK_<NAME>.
Precedence: flags and --set, then the config file, then environment variables."""

SERVE_EXAMPLES = """\
examples:
  bfl-mock serve                                  http://127.0.0.1:8787, any non-empty x-key
  bfl-mock serve --port 0                         any free port (the banner prints the URL)
  bfl-mock serve --progression polls:2 --seed 7   tasks finish on the 2nd poll; reproducible ids
  bfl-mock serve --api-key sk-test --admin-token t0ken --host 0.0.0.0   a shared fake on a network
  bfl-mock serve --config bfl-mock.yaml --set retention_seconds=60
  BFL_MOCK_PORT=9000 BFL_MOCK_PROGRESSION=manual bfl-mock serve

every setting (--set NAME=VALUE, the config file's settings:, or BFL_MOCK_<NAME>):
{settings}"""


def _add_serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (BFL_MOCK_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=None, help="port, 0 = any free port (BFL_MOCK_PORT, default 8787)")
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        type=_nonempty("--api-key"),
        default=None,
        help="accept only this x-key (repeatable; BFL_MOCK_API_KEYS=a,b). Default: any non-empty key",
    )
    p.add_argument(
        "--public-url", type=_url, default=None, help="origin for polling_url/result URLs (BFL_MOCK_PUBLIC_URL)"
    )
    p.add_argument("--seed", type=int, default=None, help="reproducible ids, seeds and images (BFL_MOCK_SEED)")
    p.add_argument(
        "--progression",
        default=None,
        help="time:SECONDS | polls:N[,after=S] | manual (BFL_MOCK_PROGRESSION, default time:5)",
    )
    p.add_argument("--webhook-profile", default=None, help="bfl | hmac (BFL_MOCK_WEBHOOK_PROFILE, default bfl)")
    p.add_argument(
        "--webhook-allow",
        action="append",
        default=None,
        help="allowed webhook host (repeatable; .suffix or 'loopback'; BFL_MOCK_WEBHOOK_ALLOW=a,b). Default: any",
    )
    p.add_argument(
        "--admin-token",
        metavar="TOKEN",
        type=_nonempty("--admin-token"),
        default=None,
        help="require this token on /_mock/ (BFL_MOCK_ADMIN_TOKEN)",
    )
    p.add_argument(
        "--strict-finetunes",
        action="store_true",
        default=None,
        help="unknown finetune_id -> 400 (BFL_MOCK_STRICT_FINETUNES=true; default: registered on first use)",
    )
    p.add_argument(
        "--isolate-keys",
        action="store_true",
        default=None,
        help="each x-key sees only its own tasks (BFL_MOCK_ISOLATE_KEYS=true)",
    )
    p.add_argument(
        "--missing-key-status",
        type=int,
        choices=(401, 403),
        default=None,
        help="status for a request without x-key (BFL_MOCK_MISSING_KEY_STATUS, default 403, an assumption)",
    )
    p.add_argument(
        "--config", default=None, help="YAML/JSON config file (settings, rules, scenarios) (BFL_MOCK_CONFIG)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other setting, e.g. --set retention_seconds=60 (each is also BFL_MOCK_<NAME>; listed below)",
    )
    p.add_argument(
        "--log-level", default=None, choices=LOG_LEVELS, help="server log level (BFL_MOCK_LOG_LEVEL, default warning)"
    )
    p.add_argument(
        "--access-log",
        nargs="?",
        const="text",
        default=None,
        choices=("text", "json"),
        help="one line per request on stdout, secrets redacted: text (default) or json lines "
        "(BFL_MOCK_ACCESS_LOG=true, BFL_MOCK_ACCESS_LOG_FORMAT=json)",
    )


def _serve_epilog() -> str:
    import textwrap

    from mock_server.core.config import SETTING_NAMES

    names = textwrap.fill(", ".join(SETTING_NAMES), width=100, initial_indent="  ", subsequent_indent="  ")
    return SERVE_EXAMPLES.format(settings=names)


CONTRACT_DESCRIPTION = """\
Run the contract suite: the same behaviour tests against the in-process fake (default), a served fake
or any URL (--target URL), or BFL's real API (--target live, key from BFL_API_KEY). It exits non-zero
when the target differs from what the tests expect."""

CONTRACT_EXAMPLES = """\
examples:
  bfl-mock contract                                     the in-process fake (no network)
  bfl-mock contract --target http://127.0.0.1:8787      a served fake, e.g. a shared dev fake
  bfl-mock contract --endpoint flux-2-pro --report contract.md
  bfl-mock contract --drift                             compare schemas/ with the published references
  BFL_API_KEY=... bfl-mock contract --target live --budget 2   the real API, at most 2 paid submits"""


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's destination and the flag that sets it (``api_keys`` -> ``--api-key``), from the parser
    itself: a bad value names the flag the user typed."""
    return {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}


def build_settings(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Settings from the flags (any ``serve`` flag whose dest is a setting), ``--set``, the config file and
    the environment; a bad value names where it came from (the flag, ``--set NAME=VALUE``, the file and
    line, or the variable)."""
    from mock_server.configfile import load_config
    from mock_server.core.config import SETTING_NAMES, Settings, coerce, locate

    overrides: dict[str, Any] = {}
    for name, value in vars(args).items():
        if name in SETTING_NAMES and value is not None:
            overrides[name] = value
    if overrides.get("access_log"):
        overrides["access_log_format"] = overrides["access_log"]
        overrides["access_log"] = True
    for name, value in list(overrides.items()):
        try:
            overrides.update(coerce({name: value}))
        except ConfigError as e:
            flag = getattr(args, "flags", {}).get(name) or "--" + name.replace("_", "-")
            raise locate(e, flag, prefix=True) from None
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set takes NAME=VALUE, such as --set retention_seconds=60, not {item!r}")
        try:
            overrides.update(coerce({name.strip(): value}))
        except ConfigError as e:
            raise locate(e, f"--set {item[:80]}", prefix=True) from None
    config_path = args.config or _env("config")
    extra: dict[str, Any] = {}
    if config_path:
        file_settings, extra = load_config(config_path)
        overrides = {**file_settings, **overrides}
    settings = Settings.from_env(**overrides)
    _check_webhook_profile(settings.webhook_profile)
    return settings, extra


def _check_webhook_profile(name: str) -> None:
    from mock_server.core.config import unknown_name
    from mock_server.webhooks.notify import load_profiles

    profiles = load_profiles()
    if name not in profiles:
        raise unknown_name("webhook profile", name, profiles, f"expected {' or '.join(sorted(profiles))}")


def banner(settings: Any, base: str, endpoints: int) -> list[str]:
    """What ``serve`` prints once it listens: where everything is, and a curl the server accepts as is."""
    key = settings.api_keys[0] if settings.api_keys else "test"  # with --api-key, the first configured key
    return [
        f"bfl-mock {_version()} serving BFL's image API ({endpoints} endpoints) at {base}",
        f"  progression {settings.progression}, keys: {'any' if not settings.api_keys else len(settings.api_keys)},"
        f" dashboard: {base}/_mock/ui, admin API: {base}/_mock/, health: {base}/health, spec: {base}/openapi.json",
        "  try:",
        f"  curl -s {base}/v1/flux-pro-1.0-canny-finetuned -H {_sh_quote('x-key: ' + key)} "
        "-H 'Content-Type: application/json' "
        f'-d \'{{"finetune_id":"my-finetune","prompt":"a red cube","control_image":"{TINY_PNG_B64}"}}\'',
        "  then GET the polling_url it returns until status is Ready, and download result.sample. Ctrl-C stops.",
    ]


def _sh_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _quiet_server_class() -> Any:
    import contextlib

    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from mock_server.core.config import unknown_env_vars
    from mock_server.frontends.asgi import AccessLog, create_app
    from mock_server.frontends.netguard import raise_fd_limit, uvicorn_config
    from mock_server.frontends.server import bind_socket
    from mock_server.mock import BflMock

    for warning in unknown_env_vars():
        print(f"bfl-mock: warning: {warning}", file=sys.stderr, flush=True)
    log_level = args.log_level or _env("log_level") or "warning"
    if log_level not in LOG_LEVELS:
        raise CliError(f"BFL_MOCK_LOG_LEVEL={log_level}: expected one of {', '.join(LOG_LEVELS)}")
    settings, extra = build_settings(args)
    if settings.public_url:
        _url(settings.public_url)  # also from the environment or a config file
    mock = BflMock(settings)
    mock.configure(extra)
    tls = _tls_setup(args, settings, mock)  # --tls / --proxy-port (the block at the end of this file)
    try:
        sock = bind_socket(settings.host, settings.port)  # listening at once: the printed URL works
    except OSError as e:
        mock.close()
        if e.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {settings.port} on {settings.host} is already in use: stop what uses it, or pick another "
                "port (--port N, or --port 0 for any free one)"
            ) from None
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e}") from None
    raise_fd_limit()
    port = sock.getsockname()[1]
    mock.bound_port, mock.bound_host = port, settings.host
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = settings.public_url or f"{'https' if tls.serve_tls else 'http'}://{host}:{port}"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("bfl_mock").setLevel(logging.WARNING)
    for line in banner(settings, base, len(mock.endpoints)):
        print(line, flush=True)
    access = AccessLog(sys.stdout, settings.access_log_format) if settings.access_log else None
    config = uvicorn_config(
        _replay(args, create_app(mock, access_log=access)),  # --replay DIR (the shadow block at the end)
        settings,
        log_level=log_level,
        timeout_graceful_shutdown=3,
        **tls.uvicorn_options(),
    )
    server = _quiet_server_class()(config)
    tls.start(mock, access, config)

    def stop(signum: int, frame: Any) -> None:  # graceful exit, status 0 (uvicorn would re-raise the signal)
        server.should_exit = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.run(sockets=[sock])
    finally:
        tls.stop()
        mock.close()
    print("bfl-mock stopped.", flush=True)
    return 0


CANNY_FORMATS = (".png", ".jpg", ".jpeg")


_threshold = _int_in(0, 500, "a threshold (the endpoint's range)")


def cmd_canny(args: argparse.Namespace) -> int:
    import cv2

    from mock_server.core import imaging

    out = Path(args.output or "canny.png")
    if out.suffix.lower() not in CANNY_FORMATS:
        raise CliError(f"-o {out}: the edge map is written as PNG or JPEG (.png, .jpg, .jpeg)")
    if not out.parent.is_dir():
        raise CliError(f"-o {out}: folder {out.parent} does not exist")
    try:
        data = Path(args.image).read_bytes()
    except OSError as e:
        raise CliError(f"{args.image}: {e.strerror or e}") from None
    try:
        im = imaging.load_rgb(data, imaging_max_pixels())
    except imaging.InvalidImage as e:
        raise CliError(f"{args.image}: {INVALID_IMAGE} ({_plain_reason(e.reason)})") from None
    edges = imaging.canny_edges(im, args.low, args.high)
    ok, buf = cv2.imencode(out.suffix.lower(), edges)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 edge map
        raise CliError(f"-o {out}: could not encode the edge map")
    try:
        out.write_bytes(buf.tobytes())
    except OSError as e:
        raise CliError(f"-o {out}: {e.strerror or e}") from None
    h, w = edges.shape
    print(
        f"{args.image}: {im.size[0]}x{im.size[1]} -> edge map {w}x{h} "
        f"(low {args.low}, high {args.high}), {int((edges > 0).sum())} edge pixels -> {out}"
    )
    return 0


def _plain_reason(reason: str) -> str:
    from mock_server.http.admin.dashboard import plain_reason

    return plain_reason(reason) or reason


def imaging_max_pixels() -> int:
    from mock_server.core.config import Settings

    return Settings.from_env().max_image_pixels


def cmd_send_webhook(args: argparse.Namespace) -> int:
    import time
    import uuid

    import httpx

    from mock_server.core.errors import InvalidSecret
    from mock_server.webhooks.notify import build_notification, load_profiles

    profiles = load_profiles()
    if args.profile not in profiles:
        from mock_server.core.config import unknown_name

        known = " or ".join(sorted(profiles))
        raise CliError(f"--profile: {unknown_name('profile', args.profile, profiles, f'expected {known}')}")
    task_id = args.task_id or str(uuid.uuid4())
    now = time.time()
    result = None
    details: dict[str, Any] | None = None
    if args.status == "Ready":
        result = {
            "sample": "https://delivery-us1.bfl.ai/results/00/000000deadbeef/deadbeef00000000000000000000000/sample.jpeg",
            "prompt": "a red cube",
            "seed": 42,
            "start_time": now - 5,
            "end_time": now,
            "duration": 5.0,
        }
    elif args.status == "Error":
        details = {"error": DEFAULT_ERROR}
    else:
        details = {"Moderation Reasons": ["Safety Filter"]}
    try:
        body, headers = build_notification(
            profiles[args.profile],
            task_id=task_id,
            status=args.status,
            result=result,
            details=details,
            secret=args.secret,
            now=now,
            forge=args.forge,
        )
    except InvalidSecret as e:
        raise CliError(f"--secret: {e}") from None
    print(f"POST {args.url}  ({'FORGED ' if args.forge else ''}{args.profile} profile)")
    for k, val in headers.items():
        print(f"  {k}: {val}")
    print(f"  {body.decode()}")
    try:
        resp = httpx.post(args.url, content=body, headers=headers, timeout=args.timeout, trust_env=False)
    except (httpx.HTTPError, ValueError) as e:  # unreachable, or not a URL at all
        print(f"-> failed: {type(e).__name__}: {e}")
        return 1
    print(f"-> {resp.status_code} {resp.reason_phrase}")
    text = resp.text
    if text:
        print(f"  {text[:2000]}")
    return 0 if 200 <= resp.status_code < 300 else 1


def _version() -> str:
    from mock_server import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="bfl-mock",
        description="A local fake of Black Forest Labs' image API (its OpenAPI's endpoints, and canny).",
    )
    parser.add_argument("--version", action="version", version=f"bfl-mock {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    serve = sub.add_parser(
        "serve",
        help="run the fake API server",
        description=SERVE_DESCRIPTION,
        epilog=_serve_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_serve_args(serve)
    _add_tls_serve_args(serve)
    serve.set_defaults(func=cmd_serve, flags=_flags(serve))
    canny = sub.add_parser(
        "canny",
        help="preview the edge map the API will condition on",
        description="Run BFL's reference Canny preprocessing (resize to the output size, cv2.Canny on RGB) on "
        "an image and write the edge map the fake renders from.",
    )
    canny.add_argument("image", help="a PNG/JPEG/WebP control image")
    canny.add_argument("--low", type=_threshold, default=50, help="canny_low_threshold, 0-500 (default 50)")
    canny.add_argument("--high", type=_threshold, default=200, help="canny_high_threshold, 0-500 (default 200)")
    canny.add_argument("-o", "--output", default=None, help="where to write it: .png/.jpg (default canny.png)")
    canny.set_defaults(func=cmd_canny)
    sw = sub.add_parser(
        "send-webhook",
        help="send one realistic webhook notification to a receiver",
        description="POST one notification shaped like a finished task's webhook to URL and print both sides "
        "(exit 0 on a 2xx answer).",
    )
    sw.add_argument("url", help="your receiver, e.g. http://127.0.0.1:8000/webhook")
    sw.add_argument("--secret", default=None, help="webhook_secret to send (default: none)")
    sw.add_argument("--profile", default="bfl", help="bfl (default: X-Webhook-Secret) or hmac (X-BFL-Signature)")
    sw.add_argument(
        "--status",
        default="Ready",
        choices=["Ready", "Error", "Request Moderated", "Content Moderated"],
        help="the finished task's status (default Ready)",
    )
    sw.add_argument("--forge", action="store_true", help="send a wrong secret / signature")
    sw.add_argument("--task-id", default=None, help="task id in the payload (default: a new uuid4)")
    sw.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the receiver (default 10)")
    sw.set_defaults(func=cmd_send_webhook)
    _add_tls_parsers(sub)
    try:
        from mock_server.contract import add_contract_parser
    except ImportError:  # pragma: no cover - contract kit not installed
        pass
    else:
        add_contract_parser(sub)
        contract = sub.choices.get("contract")
        if contract is not None:  # its flags live in contract/cli.py; the words a user reads first live here
            contract.description = contract.description or CONTRACT_DESCRIPTION
            contract.epilog = contract.epilog or CONTRACT_EXAMPLES
            contract.formatter_class = argparse.RawDescriptionHelpFormatter
    _add_shadow_parsers(sub, serve)
    return parser


def _subcommand(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            chosen: argparse.ArgumentParser = action.choices[name]
            return chosen
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # reported by the subcommand that was given them, so the hint is its own --help
        owner = _subcommand(parser, getattr(args, "command", None))
        owner.error(_unrecognized(owner, extras))
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"bfl-mock: configuration error: {e}", file=sys.stderr)
        return 2
    except CliError as e:
        print(f"bfl-mock: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, json.JSONDecodeError) as e:
        print(f"bfl-mock: {_os_words(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"bfl-mock: {_os_words(e)}", file=sys.stderr)
        return 1


def _os_words(e: Exception) -> str:
    """``/tmp: Is a directory``, not ``[Errno 21] Is a directory: '/tmp'``."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return str(e)


# ---------------------------------------------------------------------------------------------------------
# HTTPS for BFL's host names: `bfl-mock ca`, `bfl-mock env`, `serve --tls`, `serve --proxy-port N`
# (mock_server/tls/). Kept in one block so it merges apart from the rest of the CLI.


def _add_tls_serve_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("HTTPS and the intercepting proxy")
    g.add_argument(
        "--tls",
        action="store_true",
        default=None,
        help="serve HTTPS with the local CA's certificate for localhost and BFL's hosts (BFL_MOCK_TLS=1)",
    )
    g.add_argument(
        "--proxy-port",
        type=_port,
        default=None,
        help="also run an HTTP proxy on this port that answers BFL's hosts with the fake and refuses every "
        "other host (BFL_MOCK_PROXY_PORT; 0 = any free port)",
    )
    g.add_argument(
        "--proxy-host", default=None, help="the proxy's bind address (BFL_MOCK_PROXY_HOST, default 127.0.0.1)"
    )
    g.add_argument(
        "--proxy-pass-through",
        action="append",
        default=None,
        metavar="HOST",
        help="tunnel this host unmodified instead of refusing it (repeatable, .suffix for a domain; "
        "BFL_MOCK_PROXY_PASS_THROUGH=a,b). Default: none, nothing leaves the machine",
    )


class _TlsSetup:
    """What ``--tls`` and ``--proxy-port`` add to ``cmd_serve`` (nothing when neither is given)."""

    def __init__(self) -> None:
        self.serve_tls = False
        self.leaf: Any = None
        self.ca: Any = None
        self.proxy_sock: socket.socket | None = None
        self.options: Any = None
        self.proxy: Any = None

    def uvicorn_options(self) -> dict[str, Any]:
        if not self.serve_tls:
            return {}
        return {"ssl_certfile": str(self.leaf.cert_path), "ssl_keyfile": str(self.leaf.key_path)}

    def start(self, mock: Any, access: Any, config: Any) -> None:
        if self.serve_tls:  # uvicorn's context, with the leaf renewed in place while the fake runs for weeks
            from mock_server.tls.ca import RenewingContext

            config.load()
            config.ssl.sni_callback = RenewingContext(self.ca).sni_callback
        if self.proxy_sock is None:
            return
        from mock_server.frontends.asgi import create_app
        from mock_server.tls.proxy import ThreadedProxy

        app = create_app(mock, close_on_shutdown=False, access_log=access)
        self.proxy = ThreadedProxy(app, mock.settings, self.ca, self.options, sock=self.proxy_sock).start()
        host = self.options.host
        print(
            f"  proxy for BFL's hosts at http://{f'[{host}]' if ':' in host else host}:{self.proxy.port} "
            f"(CA: {self.ca.cert_path}; `bfl-mock env --proxy-port {self.proxy.port}` prints the settings)",
            flush=True,
        )

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        elif self.proxy_sock is not None:
            self.proxy_sock.close()


def _tls_setup(args: argparse.Namespace, settings: Any, mock: Any) -> _TlsSetup:
    setup = _TlsSetup()
    tls = args.tls if getattr(args, "tls", None) is not None else _env("tls", "") not in ("", "0", "false")
    proxy_port = getattr(args, "proxy_port", None)
    if proxy_port is None and _env("proxy_port"):
        proxy_port = _port(_env("proxy_port"))
    if not tls and proxy_port is None:
        return setup
    from mock_server.tls.ca import LocalCA
    from mock_server.tls.proxy import ProxyOptions, bind

    try:
        setup.ca = LocalCA()
        if tls:
            setup.leaf = setup.ca.leaf()
            setup.serve_tls = True
    except (OSError, ValueError) as e:
        mock.close()
        raise CliError(f"local CA in {setup.ca.dir if setup.ca else '?'}: {e}") from None
    if proxy_port is not None:
        host = getattr(args, "proxy_host", None) or _env("proxy_host", "127.0.0.1")
        passes = getattr(args, "proxy_pass_through", None)
        if passes is None:
            passes = [h for h in _env("proxy_pass_through", "").split(",") if h.strip()]
        setup.options = ProxyOptions(host=host, port=proxy_port, pass_through=tuple(passes))
        try:
            setup.proxy_sock = bind(host, proxy_port)
        except OSError as e:
            mock.close()
            if e.errno == errno.EADDRINUSE:
                raise CliError(
                    f"--proxy-port {proxy_port} on {host} is already in use: pick another port (0 = any)"
                ) from None
            raise CliError(f"cannot listen on {host}:{proxy_port} for the proxy: {e.strerror or e}") from None
    return setup


def cmd_ca(args: argparse.Namespace) -> int:
    from mock_server.tls.ca import LocalCA

    ca = LocalCA()
    try:
        ca.ensure()
        if args.bundle:
            out = ca.write_bundle(args.bundle, system=not args.no_system)
            print(out)
            return 0
        if args.path:
            print(ca.cert_path)
            return 0
        leaf = ca.leaf()
    except OSError as e:
        raise CliError(f"local CA in {ca.dir}: {e.strerror or e}") from None
    print(f"CA certificate: {ca.cert_path}")
    print(f"CA key (0600, never leaves this machine): {ca.key_path}")
    print(
        f"leaf certificate (renewed automatically, valid until {leaf.not_after:%Y-%m-%d %H:%M} UTC): {leaf.cert_path}"
    )
    print("trust it: bfl-mock env --proxy-port N (prints the settings), or bfl-mock ca --bundle FILE")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    import shlex

    from mock_server.tls.ca import LocalCA

    ca = LocalCA()
    try:
        bundle = ca.bundle_path()
    except OSError as e:
        raise CliError(f"local CA in {ca.dir}: {e.strerror or e}") from None
    q = shlex.quote
    lines = ['# bfl-mock: send BFL\'s hosts to the fake (paste into your shell, or eval "$(bfl-mock env ...)")']
    if args.proxy_port is not None:
        proxy = f"http://{args.proxy_host}:{args.proxy_port}"
        store = ca.dir / "truststore.p12"
        java = (
            f"-Dhttps.proxyHost={args.proxy_host} -Dhttps.proxyPort={args.proxy_port} "
            f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStorePassword=changeit"
        )
        lines += [
            "# Python (requests, httpx, LiteLLM), curl, Node 24+, Go: the proxy",
            f"export HTTPS_PROXY={q(proxy)}",
            f"export https_proxy={q(proxy)}",
            "export NO_PROXY=localhost,127.0.0.1,::1",
            "export NODE_USE_ENV_PROXY=1",
            f"export JAVA_TOOL_OPTIONS={q(java)}",
            f"# Java: create that truststore once: keytool -importcert -noprompt -alias bfl-mock -storepass changeit "
            f"-keystore {q(str(ca.dir / 'truststore.p12'))} -file {q(str(ca.cert_path))}",
        ]
    lines += [
        "# trust the local CA (system CAs + ours, so other HTTPS keeps working)",
        f"export SSL_CERT_FILE={q(str(bundle))}",
        f"export REQUESTS_CA_BUNDLE={q(str(bundle))}",
        f"export CURL_CA_BUNDLE={q(str(bundle))}",
        f"export NODE_EXTRA_CA_CERTS={q(str(ca.cert_path))}",
    ]
    print("\n".join(lines))
    return 0


def _add_tls_parsers(sub: Any) -> None:
    ca = sub.add_parser(
        "ca",
        help="the local certificate authority for HTTPS on BFL's host names",
        description="Create (on first use) and show the local CA that signs the fake's certificate for "
        "localhost and BFL's hosts. Stored in BFL_MOCK_CA_DIR, else ~/.local/share/bfl-mock/ca.",
    )
    ca.add_argument("--path", action="store_true", help="print only the CA certificate's path")
    ca.add_argument(
        "--bundle", metavar="FILE", default=None, help="write the system's CA bundle plus ours to FILE, print FILE"
    )
    ca.add_argument("--no-system", action="store_true", help="with --bundle: our CA only")
    ca.set_defaults(func=cmd_ca)
    env = sub.add_parser(
        "env",
        help="print export lines that make clients trust the fake (and use its proxy)",
        description="Print shell export lines for Python, curl, Node and Java: the CA bundle and, with "
        "--proxy-port, the proxy started by `bfl-mock serve --proxy-port N`.",
    )
    env.add_argument("--proxy-port", type=_int_in(1, 65535, "port"), default=None, help="the proxy's port")
    env.add_argument("--proxy-host", default="127.0.0.1", help="the proxy's address (default 127.0.0.1)")
    env.set_defaults(func=cmd_env)


# ---------------------------------------------------------------------------------------------------------
# `bfl-mock shadow` and `serve --replay DIR` (mock_server/shadow/cli.py holds their flags and commands).


def _add_shadow_parsers(sub: Any, serve: argparse.ArgumentParser) -> None:
    from mock_server.shadow.cli import Hooks, add_cassettes_arg, add_replay_args, add_shadow_parser

    add_replay_args(serve)
    add_shadow_parser(sub, Hooks(_add_serve_args, build_settings, _quiet_server_class, CliError))
    if "contract" in sub.choices:  # `bfl-mock contract --cassettes DIR`: the fake against recorded traffic
        add_cassettes_arg(sub.choices["contract"])


def _replay(args: argparse.Namespace, app: Any) -> Any:
    from mock_server.shadow.cli import wrap_replay

    return wrap_replay(args, app, CliError)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
