"""The local certificate authority and its leaf certificate (mitmproxy's shape: one CA per user, created on
first use; leaves minted from it and renewed without user action).

* Where: ``BFL_MOCK_CA_DIR``, else the user's data directory (``$XDG_DATA_HOME/bfl-mock/ca``, by default
  ``~/.local/share/bfl-mock/ca``; ``~/Library/Application Support/bfl-mock/ca`` on macOS,
  ``%LOCALAPPDATA%\\bfl-mock\\ca`` on Windows). The folder is created 0700, private keys 0600 (created with
  that mode, never widened), so a fresh key is never readable by others even for an instant.
* The CA (EC P-256, 10 years) is *name-constrained* to ``bfl.ai``, ``localhost`` and loopback addresses:
  clients that check name constraints (OpenSSL, Go, Java) refuse anything else it might sign, so trusting it
  cannot expose other sites even if its key leaks.
* The leaf (EC P-256) lives ``LEAF_DAYS`` days and is re-issued when less than ``RENEW_DAYS`` remain, when
  the CA changed, or when the host list changed: checked every time it is loaded (``LocalCA.leaf``), with
  the clock injectable for tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mock_server.core.hosts import CERT_HOSTS, CERT_LOOPBACK_IPS, CERT_LOOPBACK_NAMES

CA_DAYS = 3650
LEAF_DAYS = 7
RENEW_DAYS = 2
CA_CERT, CA_KEY = "ca-cert.pem", "ca-key.pem"
LEAF_CERT, LEAF_KEY = "leaf-cert.pem", "leaf-key.pem"
Now = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def default_ca_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``BFL_MOCK_CA_DIR``, else the platform's per-user data directory + ``bfl-mock/ca``."""
    env = os.environ if environ is None else environ
    if env.get("BFL_MOCK_CA_DIR"):
        return Path(env["BFL_MOCK_CA_DIR"]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":  # pragma: no cover - not tested here
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":  # pragma: no cover - not tested here
        base = home / "Library" / "Application Support"
    else:
        base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else home / ".local" / "share"
    return base / "bfl-mock" / "ca"


def leaf_names() -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the leaf certificate covers."""
    return [*CERT_LOOPBACK_NAMES, *CERT_HOSTS], list(CERT_LOOPBACK_IPS)


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret atomically, created 0600 (a temporary file beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class Leaf:
    cert_path: Path
    key_path: Path
    not_after: dt.datetime


class LocalCA:
    """The CA in ``directory`` (created on first use); ``leaf()`` returns a valid leaf, re-issuing if due."""

    def __init__(self, directory: Path | str | None = None, *, now: Now = utcnow) -> None:
        self.dir = Path(directory) if directory is not None else default_ca_dir()
        self.now = now
        self.cert_path = self.dir / CA_CERT
        self.key_path = self.dir / CA_KEY
        self._cert: x509.Certificate | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None

    # ---------------------------------------------------------------- the CA
    def ensure(self) -> x509.Certificate:
        """Load the CA, creating it (and the folder) if missing or expired."""
        if self._cert is not None and self._cert.not_valid_after_utc > self.now():
            return self._cert
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.cert_path.exists() and self.key_path.exists():
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > self.now():
                self._cert, self._key = cert, key
                return cert
        self._cert, self._key = self._create()
        return self._cert

    def _create(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = self.now()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bfl-mock"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"bfl-mock local CA ({socket.gethostname()[:20]} {secrets.token_hex(4)})"
                ),
            ]
        )
        permitted: list[x509.GeneralName] = [x509.DNSName("bfl.ai"), x509.DNSName("localhost")]
        permitted += [
            x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
            x509.IPAddress(ipaddress.ip_network("::1/128")),
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, _pem_key(key))
        _write_public(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
        for stale in (LEAF_CERT, LEAF_KEY):  # signed by the old CA
            (self.dir / stale).unlink(missing_ok=True)
        return cert, key

    def cert_pem(self) -> bytes:
        return self.ensure().public_bytes(serialization.Encoding.PEM)

    # ---------------------------------------------------------------- the leaf
    def leaf(self) -> Leaf:
        """The leaf certificate's files, re-issued first when due (checked on every call)."""
        ca = self.ensure()
        cert_path, key_path = self.dir / LEAF_CERT, self.dir / LEAF_KEY
        if cert_path.exists() and key_path.exists():
            try:
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            except ValueError:
                cert = None
            if cert is not None and not self._due(cert, ca):
                return Leaf(cert_path, key_path, cert.not_valid_after_utc)
        return self._issue(cert_path, key_path)

    def _due(self, cert: x509.Certificate, ca: x509.Certificate) -> bool:
        if cert.issuer != ca.subject:
            return True
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, Exception):
            return True
        if cert.not_valid_after_utc - self.now() < dt.timedelta(days=RENEW_DAYS):
            return True
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return True
        dns, ips = leaf_names()
        have = set(san.get_values_for_type(x509.DNSName)) | {str(i) for i in san.get_values_for_type(x509.IPAddress)}
        return have != set(dns) | set(ips)

    def _issue(self, cert_path: Path, key_path: Path) -> Leaf:
        ca = self.ensure()
        assert self._key is not None
        key = ec.generate_private_key(ec.SECP256R1())
        now = self.now()
        dns, ips = leaf_names()
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        not_after = now + dt.timedelta(days=LEAF_DAYS)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bfl-mock (api.bfl.ai, localhost)")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        _write_private(key_path, _pem_key(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return Leaf(cert_path, key_path, cert.not_valid_after_utc)

    # ---------------------------------------------------------------- bundles
    def write_bundle(self, path: Path | str, *, system: bool = True) -> Path:
        """Write our CA, after the system's trusted CAs (so other HTTPS keeps working), to ``path``."""
        out = Path(path)
        parts = []
        if system:
            sys_bundle = system_bundle()
            if sys_bundle is not None:
                parts.append(sys_bundle.read_bytes().rstrip(b"\n") + b"\n")
        parts.append(self.cert_pem())
        _write_public(out, b"".join(parts))
        return out

    def bundle_path(self) -> Path:
        """``bundle.pem`` in the CA folder: the system CAs + ours, rewritten on every call."""
        return self.write_bundle(self.dir / "bundle.pem")


def system_bundle() -> Path | None:
    """The system's CA bundle (OpenSSL's default file), else certifi's if installed."""
    import ssl

    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi
    except ImportError:  # pragma: no cover
        return None
    return Path(certifi.where())


def server_context(ca: LocalCA) -> tuple[object, dt.datetime]:
    """A server-side ``ssl.SSLContext`` with the current leaf (HTTP/1.1 only), and when that leaf expires."""
    import ssl

    leaf = ca.leaf()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(leaf.cert_path, leaf.key_path)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx, leaf.not_after


class RenewingContext:
    """A server TLS context that follows the leaf: ``current()`` rebuilds it once the leaf is due for renewal
    (so a fake that runs for weeks never serves an expired certificate); ``sni_callback`` swaps it into a
    handshake of a context built elsewhere (uvicorn's, for ``serve --tls``)."""

    def __init__(self, ca: LocalCA) -> None:
        self.ca = ca
        self._ctx: Any = None
        self._until = dt.datetime.min.replace(tzinfo=dt.timezone.utc)

    def current(self) -> Any:
        if self._ctx is None or self._until - self.ca.now() < dt.timedelta(days=RENEW_DAYS):
            self._ctx, self._until = server_context(self.ca)
        return self._ctx

    def sni_callback(self, sslobj: Any, server_name: str | None, ctx: Any) -> None:
        if self._ctx is None:  # the context uvicorn built from today's leaf files
            self._ctx, self._until = ctx, self.ca.leaf().not_after
        fresh = self.current()
        if fresh is not ctx:
            sslobj.context = fresh
