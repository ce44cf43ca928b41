"""The plugin among other tools: every Python client caught, respx in either order, strict mode, the
context manager outside pytest, LiteLLM unmodified, nothing leaving the machine."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(600)  # each test runs pytest (or a script) in a subprocess

HEAD = """
import asyncio, base64, io, json, urllib.error, urllib.request
import aiohttp, httpx, pytest, requests, urllib3
from mock_server import TINY_PNG_B64
BODY = {"prompt": "a red cube", "width": 256, "height": 256}
KEY = {"x-key": "k"}
"""

# A guard every test below runs under: any connect() or name lookup that is not loopback fails the test
# (the in-process fake must never need either), and records what was tried.
GUARD = """
import socket, pytest
ATTEMPTS = []
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo

def _loopback(host):
    return str(host).strip("[]") in ("127.0.0.1", "::1", "localhost") or str(host).startswith("127.")

def guarded_connect(sock, address, *a):
    host = address[0] if isinstance(address, tuple) else "unix"
    if host != "unix" and not _loopback(host):
        ATTEMPTS.append(host)
        raise OSError(f"socket guard: connect to {host} refused")
    return _connect(sock, address, *a)

def guarded_getaddrinfo(host, *a, **kw):
    if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else host):
        ATTEMPTS.append(host)
        raise OSError(f"socket guard: lookup of {host} refused")
    return _getaddrinfo(host, *a, **kw)

socket.socket.connect = guarded_connect
socket.getaddrinfo = guarded_getaddrinfo

@pytest.fixture(autouse=True)
def nothing_left_the_machine():
    yield
    assert ATTEMPTS == [], f"tried to leave the machine: {ATTEMPTS}"
"""


def run(pytester: pytest.Pytester, source: str, *args: str, guard: bool = True) -> pytest.RunResult:
    if guard:
        pytester.makeconftest(GUARD)
    pytester.makepyfile(test_user=HEAD + source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", *args)


CLIENTS = """
def test_requests(bfl_mock):
    r = requests.post("https://api.bfl.ai/v1/flux-pro-1.1", json=BODY, headers=KEY)
    assert r.status_code == 200
    url = r.json()["polling_url"]
    assert url.startswith("https://api.bfl.ai/v1/get_result?id=")
    polls = [requests.get(url, headers=KEY).json() for _ in range(2)]
    assert [p["status"] for p in polls] == ["Pending", "Ready"]
    img = requests.get(polls[-1]["result"]["sample"])
    assert img.status_code == 200 and img.content[:2] == b"\\xff\\xd8"
    assert requests.get("https://api.eu.bfl.ai/v1/get_result", params={"id": "nope"}).status_code == 404
    assert [e.path for e in bfl_mock.requests][:1] == ["/v1/flux-pro-1.1"]

def test_requests_session_and_regional_host(bfl_mock):
    with requests.Session() as s:
        s.headers.update(KEY)
        r = s.post("https://api.eu4.bfl.ai/v1/flux-pro-1.1", json=BODY)
        assert r.json()["polling_url"].startswith("https://api.eu4.bfl.ai/")

def test_urllib3(bfl_mock):
    http = urllib3.PoolManager()
    r = http.request("POST", "https://api.bfl.ai/v1/flux-pro-1.1", json=BODY, headers=KEY)
    assert r.status == 200 and r.json()["polling_url"].startswith("https://api.bfl.ai/")
    r = urllib3.request("GET", "https://api.bfl.ai/v1/get_result?id=nope")
    assert r.status == 404 and r.json()["status"] == "Task not found"

def test_urllib(bfl_mock):
    req = urllib.request.Request("https://api.bfl.ai/v1/flux-pro-1.1", data=json.dumps(BODY).encode(),
                                 headers={**KEY, "content-type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200 and "polling_url" in json.loads(resp.read())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("https://api.bfl.ai/v1/get_result?id=nope")
    assert e.value.code == 404

def test_aiohttp(bfl_mock):
    async def main():
        async with aiohttp.ClientSession(headers=KEY) as s:
            async with s.post("https://api.bfl.ai/v1/flux-pro-1.1", json=BODY) as r:
                assert r.status == 200
                url = (await r.json())["polling_url"]
            for _ in range(2):
                async with s.get(url) as r:
                    res = await r.json()
            assert res["status"] == "Ready"
            async with s.get(res["result"]["sample"]) as r:
                assert r.status == 200 and (await r.read())[:2] == b"\\xff\\xd8"
            async with s.get("https://api.bfl.ai/v1/get_result", params={"id": "nope"}) as r:
                assert r.status == 404
    asyncio.run(main())
    assert len(bfl_mock.requests) == 5

def test_httpx_still(bfl_mock):
    assert httpx.post("https://api.bfl.ai/v1/flux-pro-1.1", json=BODY, headers=KEY).status_code == 200

def test_base_url_is_typed_and_bfl(bfl_mock):
    from mock_server import BflMock
    assert "url" in BflMock.__annotations__ and "base_url" in BflMock.__annotations__
    assert bfl_mock.url == bfl_mock.base_url == "https://api.bfl.ai"

def test_a_raw_socket_client_is_refused_with_advice(bfl_mock):
    import http.client
    from mock_server import UnmockedRequestError
    conn = http.client.HTTPSConnection("api.bfl.ai")
    with pytest.raises(UnmockedRequestError, match="bfl_server"):
        conn.request("GET", "/v1/get_result?id=x")
"""


def test_every_python_client_is_served_in_process_and_nothing_leaves(pytester):
    result = run(pytester, CLIENTS)
    result.assert_outcomes(passed=8)


def test_patches_are_undone_after_the_test(pytester):
    result = run(
        pytester,
        """
import socket, urllib.request
from aiohttp import connector
from urllib3.connectionpool import HTTPConnectionPool
ORIGINAL = (HTTPConnectionPool.urlopen, urllib.request.AbstractHTTPHandler.do_open,
            connector.TCPConnector._create_connection)

def test_a_uses_the_fake(bfl_mock):
    assert HTTPConnectionPool.urlopen is not ORIGINAL[0]
    assert requests.get("https://api.bfl.ai/v1/get_result?id=x").status_code == 404

def test_b_sees_the_libraries_untouched():
    assert (HTTPConnectionPool.urlopen, urllib.request.AbstractHTTPHandler.do_open,
            connector.TCPConnector._create_connection) == ORIGINAL
    with pytest.raises(requests.ConnectionError, match="socket guard"):
        requests.get("https://api.bfl.ai/v1/get_result?id=x")
    import conftest
    conftest.ATTEMPTS.clear()
""",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=2)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_without_any_network_the_clients_are_answered(pytester):
    """The same clients in a process with no network at all (a fresh network namespace)."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces unavailable: {probe.stderr.decode().strip()}")
    pytester.makepyfile(test_user=HEAD + CLIENTS)
    result = pytester.run(
        "unshare", "-rn", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "-q"
    )
    assert "8 passed" in result.stdout.str(), result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("order", ["bfl_mock, respx_mock", "respx_mock, bfl_mock"])
def test_respx_mock_in_either_order(pytester, order):
    result = run(
        pytester,
        f"""
import respx

def test_both({order}):
    respx_mock.get("https://example.test/users").respond(200, json=["ada"])
    respx_mock.post("https://api.bfl.ai/v1/flux-pro-1.1-ultra").respond(503, json={{"detail": "busy"}})
    with httpx.Client() as c:
        assert c.get("https://example.test/users").json() == ["ada"]           # the user's route
        assert c.post("https://api.bfl.ai/v1/flux-pro-1.1-ultra", json=BODY).status_code == 503  # user overrides
        r = c.post("https://api.bfl.ai/v1/flux-pro-1.1", json=BODY, headers=KEY)  # the fake
        assert r.status_code == 200 and "polling_url" in r.json()
        with pytest.raises(respx.models.AllMockedAssertionError):   # respx_mock's own rule for the rest
            c.get("https://example.test/unrouted")
    assert respx_mock.calls.call_count >= 2 and len(bfl_mock.requests) == 1

@pytest.mark.anyio
async def test_both_async({order}):
    respx_mock.get("https://example.test/users").respond(200, json=["ada"])
    async with httpx.AsyncClient() as c:
        assert (await c.get("https://example.test/users")).json() == ["ada"]
        assert (await c.post("https://api.bfl.ai/v1/flux-pro-1.1", json=BODY, headers=KEY)).status_code == 200

@pytest.fixture
def anyio_backend():
    return "asyncio"
""",
    )
    result.assert_outcomes(passed=2)


def test_assert_all_mocked_names_the_host(pytester, tmp_path):
    result = run(
        pytester,
        """
from mock_server import UnmockedRequestError

@pytest.mark.bfl_mock(assert_all_mocked=True)
@pytest.mark.parametrize("client", ["httpx", "requests", "urllib", "urllib3", "aiohttp"])
def test_strict(bfl_mock, client):
    url = "https://uploads.example.test/cat.png"
    async def via_aiohttp():
        async with aiohttp.ClientSession() as s:
            await s.get(url)
    call = {"httpx": lambda: httpx.get(url), "requests": lambda: requests.get(url),
            "urllib": lambda: urllib.request.urlopen(url), "urllib3": lambda: urllib3.request("GET", url),
            "aiohttp": lambda: asyncio.run(via_aiohttp())}[client]
    with pytest.raises(UnmockedRequestError, match=r"'uploads.example.test'.*allow_hosts"):
        call()
    assert requests.get("https://api.bfl.ai/v1/get_result?id=x").status_code == 404  # BFL still served

@pytest.mark.bfl_mock(assert_all_mocked=True, allow_hosts=["uploads.example.test"])
def test_allowed_host_goes_through(bfl_mock):
    with pytest.raises(requests.ConnectionError, match="socket guard"):  # let through: the guard refuses it
        requests.get("https://uploads.example.test/cat.png")
    import conftest
    assert conftest.ATTEMPTS == ["uploads.example.test"]
    conftest.ATTEMPTS.clear()

def test_not_strict_by_default(bfl_mock):
    with pytest.raises(requests.ConnectionError, match="socket guard"):
        requests.get("https://uploads.example.test/cat.png")
    import conftest
    conftest.ATTEMPTS.clear()

def test_loopback_is_always_allowed(bfl_mock, bfl_server):
    assert requests.get(bfl_server.url + "/v1/get_result?id=x").status_code == 404
""",
    )
    result.assert_outcomes(passed=8)


def test_strict_from_ini(pytester):
    pytester.makeini("[pytest]\nbfl_mock_assert_all_mocked = true\n")
    result = run(
        pytester,
        """
from mock_server import UnmockedRequestError
def test_strict_everywhere(bfl_mock):
    with pytest.raises(UnmockedRequestError, match="elsewhere.test"):
        requests.get("https://elsewhere.test/")
""",
    )
    result.assert_outcomes(passed=1)


def test_mock_bfl_in_unittest(pytester):
    pytester.makepyfile(
        test_unit=HEAD
        + """
import unittest
from mock_server import mock_bfl

@mock_bfl(progression="polls:1")
class TestWithTheFake(unittest.TestCase):
    def test_submit_and_poll(self):
        r = requests.post("https://api.bfl.ai/v1/flux-pro-1.1", json=BODY, headers=KEY)
        self.assertEqual(requests.get(r.json()["polling_url"]).json()["status"], "Ready")
        self.assertEqual(len(self.bfl_mock.requests), 2)

    def test_fresh_fake(self):
        self.assertEqual(self.bfl_mock.tasks(), [])

class TestStartStop(unittest.TestCase):
    def setUp(self):
        self.patcher = mock_bfl()
        self.fake = self.patcher.start()
        self.addCleanup(self.patcher.stop)

    def test_it(self):
        self.assertEqual(httpx.get("https://api.bfl.ai/v1/get_result?id=x").status_code, 404)
        self.assertEqual(self.fake.requests.last.status, 404)
"""
    )
    pytester.makeconftest(GUARD.replace("@pytest.fixture(autouse=True)", "@pytest.fixture"))
    result = pytester.runpython_c("import unittest, sys; sys.exit(unittest.main(module='test_unit', argv=['x']))")
    assert "OK" in result.stderr.str(), result.stderr.str()


def test_mock_bfl_in_a_plain_script(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, aiohttp, requests
            from mock_server import mock_bfl

            with mock_bfl(progression="polls:1") as fake:
                r = requests.post("https://api.bfl.ai/v1/flux-pro-1.1", json={"prompt": "x"}, headers={"x-key": "k"})
                print(requests.get(r.json()["polling_url"]).json()["status"])

            @mock_bfl
            def decorated(bfl_mock):
                async def main():
                    async with aiohttp.ClientSession() as s, s.get("https://api.bfl.ai/v1/get_result?id=x") as r:
                        return r.status
                return asyncio.run(main()), len(bfl_mock.requests)

            print(decorated())
            from urllib3.connectionpool import HTTPConnectionPool
            print(HTTPConnectionPool.urlopen.__module__)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["Ready", "(404, 1)", "urllib3.connectionpool"]


LITELLM = """
import os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # litellm fetches its price list at import otherwise
import litellm
litellm.disable_aiohttp_transport = {disable_aiohttp}

@pytest.fixture(autouse=True)
def bfl_key(monkeypatch):
    monkeypatch.setenv("BFL_API_KEY", "k")  # litellm's image_generation reads the key from here

@pytest.mark.bfl_mock(progression="polls:1")
def test_image_generation(bfl_mock):
    resp = litellm.image_generation(model="black_forest_labs/flux-pro-1.1", prompt="a red cube")
    assert resp.data[0].url.startswith("https://delivery-us1.bfl.ai/")
    assert [e.path for e in bfl_mock.requests] == ["/v1/flux-pro-1.1", "/v1/get_result"]

@pytest.mark.bfl_mock(progression="polls:1")
def test_image_edit(bfl_mock):
    image = base64.b64decode(TINY_PNG_B64)
    resp = litellm.image_edit(model="black_forest_labs/flux-kontext-pro", image=image, prompt="make it blue",
                              api_key="k")
    assert resp.data[0].url.startswith("https://delivery-us1.bfl.ai/")
    sub = bfl_mock.requests.filter(path="/v1/flux-kontext-pro")
    assert len(sub) == 1 and sub[0].status == 200

@pytest.mark.bfl_mock(progression="polls:1")
def test_async_image_generation_and_edit(bfl_mock):
    async def main():
        gen = await litellm.aimage_generation(model="black_forest_labs/flux-pro-1.1", prompt="a cube")
        edit = await litellm.aimage_edit(model="black_forest_labs/flux-kontext-pro",
                                         image=base64.b64decode(TINY_PNG_B64), prompt="blue", api_key="k")
        return gen, edit
    gen, edit = asyncio.run(main())
    assert gen.data[0].url and edit.data[0].url
    assert {{e.path for e in bfl_mock.requests}} == {{"/v1/flux-pro-1.1", "/v1/flux-kontext-pro", "/v1/get_result"}}
"""


@pytest.mark.skipif(importlib.util.find_spec("litellm") is None, reason="litellm is not installed")
@pytest.mark.parametrize("disable_aiohttp", [False, True], ids=["aiohttp-transport", "httpx-transport"])
def test_litellm_unmodified_in_process(pytester, disable_aiohttp):
    pytester.makeconftest(GUARD)
    pytester.makepyfile(test_user=HEAD + LITELLM.format(disable_aiohttp=disable_aiohttp))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_clients_configured_for_a_proxy_are_still_served_in_process(tmp_path):
    """HTTPS_PROXY points at a closed loopback port: only answers from the fake itself can succeed."""
    script = tmp_path / "proxied.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, urllib.request, aiohttp, requests
            from mock_server import mock_bfl

            with mock_bfl():
                req = urllib.request.Request("https://api.bfl.ai/v1/flux-pro-1.1", data=b'{"prompt": "x"}',
                                             headers={"x-key": "k", "content-type": "application/json"})
                print(urllib.request.urlopen(req).status)
                print(requests.post("https://api.bfl.ai/v1/flux-pro-1.1", json={"prompt": "x"},
                                    headers={"x-key": "k"}).status_code)
                print(requests.get("http://api.bfl.ai/v1/get_result?id=x").status_code)

                async def main():
                    async with aiohttp.ClientSession(trust_env=True) as s:
                        async with s.get("https://api.bfl.ai/v1/get_result?id=x") as r:
                            return r.status
                print(asyncio.run(main()))
            """
        )
    )
    with socket.socket() as s:  # a port nothing listens on: bind, then close
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {**os.environ, "HTTPS_PROXY": dead, "HTTP_PROXY": dead, "NO_PROXY": ""}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["200", "200", "404", "404"]


@pytest.mark.parametrize(
    ("host", "bfl"),
    [
        ("api.bfl.ai", True),
        ("API.BFL.AI.", True),
        ("api.eu.bfl.ai:443", True),
        ("api.eu4.bfl.ai", True),
        ("api.us1.bfl.ai", True),
        ("gateway.bfl.ai", True),
        ("api.bfl.ml", True),
        ("delivery-us1.bfl.ai", True),
        ("delivery.eu.bfl.ai", True),
        ("bfldeliveryprodeu4.blob.core.windows.net", True),
        ("docs.bfl.ai", False),
        ("bfl.ai.evil.test", False),
        ("api.bfl.ai.evil.test", False),
        ("mystorage.blob.core.windows.net", False),
        ("127.0.0.1", False),
        ("", False),
    ],
)
def test_bfl_hosts_are_data(host, bfl):
    import re

    from mock_server.core.hosts import ALL_HOSTS, URL_REGEX, is_bfl_host

    assert is_bfl_host(host) is bfl
    bare = host.lower().rstrip(".").split(":")[0]
    if bare:
        assert (re.match(URL_REGEX, f"https://{bare}/v1/x") is not None) is bfl
    assert all(is_bfl_host(h) for h in ALL_HOSTS)


def test_credits_is_the_setting_as_a_number_and_the_section_as_a_mapping():
    from mock_server.testing import mock_bfl

    with mock_bfl(credits=5) as fake:
        assert fake.settings.credits == 5 and fake.credits("any-key") == 5
    with mock_bfl(credits={"rich": 1e6}) as fake:
        assert fake.credits("rich") == 1e6 and fake.credits("other") == fake.settings.credits
