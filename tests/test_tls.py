"""The local CA: created on first use with a 0600 key, one per install, a leaf for loopback and BFL's hosts
that expires and is renewed without user action; ``bfl-mock ca`` / ``env``; ``serve --tls``."""

from __future__ import annotations

import datetime as dt
import os
import signal
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from mock_server.core.hosts import CERT_HOSTS
from mock_server.tls.ca import LEAF_DAYS, RENEW_DAYS, LocalCA, default_ca_dir


def cli(*args: str, ca_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BFL_MOCK_CA_DIR": str(ca_dir)}
    return subprocess.run(
        [sys.executable, "-m", "mock_server", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_ca_key_is_0600_and_each_install_has_its_own(tmp_path: Path) -> None:
    a, b = LocalCA(tmp_path / "a"), LocalCA(tmp_path / "b")
    a.ensure(), b.ensure()
    for ca in (a, b):
        assert stat.S_IMODE(ca.key_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(ca.leaf().key_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(ca.dir.stat().st_mode) == 0o700
    assert a.key_path.read_bytes() != b.key_path.read_bytes()
    assert a.cert_pem() != b.cert_pem()
    # loading again reuses the same CA (it is not re-created per run)
    assert LocalCA(tmp_path / "a").cert_pem() == a.cert_pem()


def test_ca_dir_default_is_the_user_data_dir(tmp_path: Path) -> None:
    assert default_ca_dir({"HOME": str(tmp_path)}) == tmp_path / ".local/share/bfl-mock/ca"
    assert default_ca_dir({"HOME": "/x", "XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "bfl-mock/ca"
    assert default_ca_dir({"BFL_MOCK_CA_DIR": str(tmp_path / "c")}) == tmp_path / "c"


def test_leaf_covers_loopback_and_bfl_hosts_and_verifies(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    leaf = x509.load_pem_x509_certificate(ca.leaf().cert_path.read_bytes())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(san.get_values_for_type(x509.DNSName))
    assert {
        "localhost",
        "api.bfl.ai",
        "api.eu.bfl.ai",
        "api.us1.bfl.ai",
        "gateway.bfl.ai",
        "delivery-us1.bfl.ai",
    } <= names
    assert names == {"localhost", *CERT_HOSTS}
    assert {str(i) for i in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem()))
    # the CA can sign nothing outside bfl.ai and loopback (name constraints)
    constraints = x509.load_pem_x509_certificate(ca.cert_pem()).extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert {str(n.value) for n in constraints.value.permitted_subtrees or []} >= {"bfl.ai", "localhost", "127.0.0.0/8"}


def test_leaf_expires_and_is_renewed_on_load(tmp_path: Path) -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)]
    ca = LocalCA(tmp_path, now=lambda: now[0])
    first = ca.leaf()
    assert first.not_after == now[0] + dt.timedelta(days=LEAF_DAYS)
    assert ca.leaf().cert_path.read_bytes() == first.cert_path.read_bytes()  # still fresh: reused
    before = first.cert_path.read_bytes()
    now[0] += dt.timedelta(days=LEAF_DAYS - RENEW_DAYS + 1)  # nearly expired: renewed
    second = ca.leaf()
    assert second.cert_path.read_bytes() != before and second.not_after > now[0] + dt.timedelta(days=RENEW_DAYS)
    now[0] += dt.timedelta(days=30)  # already expired (a laptop back from holiday): renewed, same CA
    ca_pem = ca.cert_pem()
    third = LocalCA(tmp_path, now=lambda: now[0]).leaf()
    assert third.not_after > now[0] and LocalCA(tmp_path, now=lambda: now[0]).cert_pem() == ca_pem


def test_a_leaf_from_another_ca_or_a_broken_file_is_replaced(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "a")
    other = LocalCA(tmp_path / "b")
    (ca.dir / "leaf-cert.pem").parent.mkdir(parents=True, exist_ok=True)
    ca.ensure()
    (ca.dir / "leaf-cert.pem").write_bytes(other.leaf().cert_path.read_bytes())
    (ca.dir / "leaf-key.pem").write_bytes(other.leaf().key_path.read_bytes())
    leaf = x509.load_pem_x509_certificate(ca.leaf().cert_path.read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem()))
    (ca.dir / "leaf-cert.pem").write_bytes(b"garbage")
    assert ca.leaf().cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_cli_ca_path_bundle_and_env(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    r = cli("ca", "--path", ca_dir=ca_dir)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path == ca_dir / "ca-cert.pem" and path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    r = cli("ca", "--bundle", str(tmp_path / "bundle.pem"), ca_dir=ca_dir)
    assert r.returncode == 0, r.stderr
    bundle = (tmp_path / "bundle.pem").read_bytes()
    assert bundle.endswith(path.read_bytes()) and bundle.count(b"BEGIN CERTIFICATE") > 1  # system CAs + ours
    ctx = ssl.create_default_context(cafile=str(tmp_path / "bundle.pem"))
    assert len(ctx.get_ca_certs()) > 1
    r = cli("env", "--proxy-port", "4321", ca_dir=ca_dir)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for name in ("HTTPS_PROXY", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
        assert f"export {name}=" in out
    assert "export HTTPS_PROXY=http://127.0.0.1:4321" in out
    assert "-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=4321" in out and "NODE_USE_ENV_PROXY=1" in out
    # the lines are valid shell
    sh = subprocess.run(["bash", "-c", out + '\necho "$SSL_CERT_FILE"'], capture_output=True, text=True, check=True)
    assert Path(sh.stdout.strip()) == ca_dir / "bundle.pem"
    r = cli("ca", ca_dir=ca_dir)
    assert r.returncode == 0 and "renewed automatically" in r.stdout


def test_cli_refuses_a_ca_dir_it_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli("ca", "--path", ca_dir=blocker / "ca")
    assert r.returncode in (1, 2) and "Traceback" not in r.stderr and str(blocker) in r.stderr


def test_serve_tls_answers_https_with_the_leaf(tmp_path: Path) -> None:
    env = {**os.environ, "BFL_MOCK_CA_DIR": str(tmp_path / "ca")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--tls", "--progression", "polls:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert " at https://127.0.0.1:" in first, first + (proc.stderr.read() if proc.poll() is not None else "")
        url = first.rsplit(" at ", 1)[1].strip()
        port = int(url.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=str(tmp_path / "ca" / "ca-cert.pem"))
        for base in (url, f"https://localhost:{port}"):
            with httpx.Client(base_url=base, verify=ctx, trust_env=False, headers={"x-key": "k"}) as c:
                sub = c.post("/v1/flux-pro-1.1", json={"prompt": "a red cube"}).json()
                assert sub["polling_url"].startswith(f"{base}/v1/get_result?id=")
                assert c.get(sub["polling_url"]).json()["status"] == "Ready"
        # a host alias named api.bfl.ai (here: SNI + Host on the loopback port) verifies too
        with httpx.Client(verify=ctx, trust_env=False) as c:
            r = c.get(f"https://127.0.0.1:{port}/health", extensions={"sni_hostname": "api.bfl.ai"})
            assert r.status_code == 200
        with pytest.raises(httpx.ConnectError):  # without the CA: refused, as it should be
            httpx.get(f"{url}/health", trust_env=False, verify=ssl.create_default_context(cafile=None))
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def test_a_running_server_swaps_in_the_renewed_leaf(tmp_path: Path) -> None:
    from mock_server.tls.ca import RenewingContext, server_context

    now = [dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)]
    ca = LocalCA(tmp_path, now=lambda: now[0])
    uvicorn_ctx, _ = server_context(ca)  # what the server loaded at start
    renewing = RenewingContext(ca)

    class Handshake:
        context = uvicorn_ctx

    hs = Handshake()
    renewing.sni_callback(hs, "api.bfl.ai", uvicorn_ctx)
    assert hs.context is uvicorn_ctx  # fresh: untouched
    now[0] += dt.timedelta(days=LEAF_DAYS)  # weeks later, same process
    renewing.sni_callback(hs, "api.bfl.ai", uvicorn_ctx)
    assert hs.context is not uvicorn_ctx
    assert ca.leaf().not_after > now[0] + dt.timedelta(days=RENEW_DAYS)
