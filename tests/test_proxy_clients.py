"""Real clients, unmodified, through the proxy with only the environment ``bfl-mock env`` prints (the
settings docs/any-client.md lists): requests, httpx, curl, Java's HttpClient; Node's fetch with the CA
against ``serve --tls``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_server.frontends.asgi import create_app
from mock_server.mock import BflMock
from mock_server.tls.ca import LocalCA
from mock_server.tls.proxy import ThreadedProxy

DOC = Path(__file__).resolve().parent.parent / "docs" / "any-client.md"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedProxy, Path]]:
    ca_dir = tmp_path_factory.mktemp("ca")
    mock = BflMock(progression="polls:1")
    proxy = ThreadedProxy(create_app(mock, close_on_shutdown=False), mock.settings, LocalCA(ca_dir)).start()
    yield proxy, ca_dir
    proxy.stop()
    mock.close()


def env_for(proxy: ThreadedProxy, ca_dir: Path) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "mock_server", "env", "--proxy-port", str(proxy.port)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BFL_MOCK_CA_DIR": str(ca_dir)},
    ).stdout
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'")
    return env


def doc_block(marker: str) -> str:
    text = DOC.read_text()
    m = re.search(r"```python\n(" + re.escape(marker) + r".*?)```", text, re.S)
    assert m, marker
    return m.group(1)


PY_HTTPX = """
import httpx
r = httpx.post("https://api.bfl.ai/v1/flux-pro-1.1", json={"prompt": "a red cube"}, headers={"x-key": "any"})
url = r.json()["polling_url"]
print(url)
print(httpx.get(url, headers={"x-key": "any"}).json()["status"])
"""


@pytest.mark.parametrize("code", [doc_block("import requests"), PY_HTTPX], ids=["requests", "httpx"])
def test_python_clients_through_the_proxy(served: tuple[ThreadedProxy, Path], code: str) -> None:
    proxy, ca_dir = served
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_for(proxy, ca_dir), timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("https://api.bfl.ai/v1/get_result?id=")


def test_curl_through_the_proxy(served: tuple[ThreadedProxy, Path]) -> None:
    proxy, ca_dir = served
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    r = subprocess.run(
        ["curl", "-sS", "https://api.bfl.ai/v1/flux-pro-1.1", "-H", "x-key: any",
         "-H", "Content-Type: application/json", "-d", '{"prompt":"a red cube"}'],
        capture_output=True, text=True, env=env_for(proxy, ca_dir), timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert '"polling_url":"https://api.bfl.ai/v1/get_result?id=' in r.stdout.replace(" ", "")


JAVA = """
import java.net.URI;
import java.net.http.*;
public class Main {
  public static void main(String[] a) throws Exception {
    var c = HttpClient.newBuilder().proxy(java.net.ProxySelector.getDefault()).build();
    var req = HttpRequest.newBuilder(URI.create("https://api.bfl.ai/v1/flux-pro-1.1"))
      .header("x-key", "any").header("content-type", "application/json")
      .POST(HttpRequest.BodyPublishers.ofString("{\\"prompt\\":\\"a red cube\\"}")).build();
    System.out.println(c.send(req, HttpResponse.BodyHandlers.ofString()).body());
  }
}
"""


def test_java_httpclient_through_the_proxy(served: tuple[ThreadedProxy, Path], tmp_path: Path) -> None:
    proxy, ca_dir = served
    if shutil.which("java") is None or shutil.which("keytool") is None:
        pytest.skip("no JDK")
    env = env_for(proxy, ca_dir)
    store = ca_dir / "truststore.p12"
    if not store.exists():
        subprocess.run(
            ["keytool", "-importcert", "-noprompt", "-alias", "bfl-mock", "-storepass", "changeit", "-keystore",
             str(store), "-file", str(ca_dir / "ca-cert.pem")],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    (tmp_path / "Main.java").write_text(JAVA)
    r = subprocess.run(["java", "Main.java"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert r.returncode == 0, r.stderr
    assert '"polling_url":"https://api.bfl.ai/v1/get_result?id=' in r.stdout.replace(" ", "")


NODE = """
const r = await fetch(process.argv[2] + "/v1/flux-pro-1.1", {
  method: "POST", headers: { "x-key": "any", "content-type": "application/json" },
  body: JSON.stringify({ prompt: "a red cube" }),
});
console.log((await r.json()).polling_url);
"""


def test_node_fetch_trusts_the_ca_with_node_extra_ca_certs(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    env = {**os.environ, "BFL_MOCK_CA_DIR": str(tmp_path / "ca")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--tls"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().rsplit(" at ", 1)[1].strip().replace("127.0.0.1", "localhost")
        (tmp_path / "client.mjs").write_text(NODE)
        node_env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(tmp_path / "ca" / "ca-cert.pem")}
        r = subprocess.run(
            ["node", "client.mjs", url], capture_output=True, text=True, env=node_env, cwd=tmp_path, timeout=60
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"{url}/v1/get_result?id=")
        bare = subprocess.run(["node", "client.mjs", url], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert bare.returncode != 0  # without the CA Node refuses the certificate
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


NODE_MODULES = Path(__file__).resolve().parent / "node" / "node_modules"


def test_node_fetch_with_undici_env_proxy_through_the_proxy(served: tuple[ThreadedProxy, Path], tmp_path: Path) -> None:
    """docs/any-client.md's Node block, as pasted: undici's EnvHttpProxyAgent reads HTTPS_PROXY, and
    NODE_EXTRA_CA_CERTS (from ``bfl-mock env``) makes Node trust the local CA."""
    proxy, ca_dir = served
    if shutil.which("node") is None or not (NODE_MODULES / "undici").is_dir():
        pytest.skip("needs node and tests/node's packages: make node-example")
    marker = "<!-- tested by: tests/test_proxy_clients.py::test_node_fetch_with_undici_env_proxy_through_the_proxy -->"
    m = re.search(re.escape(marker) + r"\n```js\n(.*?)```", DOC.read_text(), re.S)
    assert m, "docs/any-client.md has no js block marked as tested by this test"
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    (tmp_path / "client.mjs").write_text(m.group(1))
    r = subprocess.run(
        ["node", "client.mjs"], capture_output=True, text=True, env=env_for(proxy, ca_dir), cwd=tmp_path, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("https://api.bfl.ai/v1/get_result?id=")
