"""Shadow mode: forwarding unchanged, and the fake's prediction compared behaviour by behaviour, against a
stand-in upstream started here (a served fake, with or without planted differences). Loopback only."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from mock_server.core.endpoints import ENDPOINTS
from mock_server.frontends.asgi import create_app
from mock_server.mock import BflMock
from mock_server.shadow.forward import UpstreamOptions, UpstreamRefused, check_upstream, host_allowed
from mock_server.shadow.rules import BEHAVIOURS, PollTrack, json_differences
from tests.test_shadow_support import Planted, Recording, minimal_body, run_task, shadow_of


# ------------------------------------------------------------------------------------------- forwarding
def test_the_upstream_gets_exactly_the_apps_requests_and_the_app_gets_exactly_its_answers():
    big = hashlib.sha256(b"x").digest() * (1 << 16)  # 2 MiB, streamed in chunks

    def answer(req):
        if req["target"].startswith("/big"):
            return 200, [(b"content-type", b"image/jpeg")], [big[i : i + 65536] for i in range(0, len(big), 65536)]
        return 418, [(b"x-upstream", b"yes"), (b"content-type", b"text/plain"), (b"set-cookie", b"a=1")], [b"teapot"]

    upstream = Recording(answer)
    sent = [
        ("POST", "/v1/flux-dev", {"x-key": "the-apps-own-key", "content-type": "application/json"}, b'{"prompt":"a"}'),
        ("GET", "/v1/get_result?id=abc&x=%20y", {"x-key": "k2", "x-custom": "1"}, b""),
        ("PUT", "/anything/at/all", {"x-key": "k3"}, b"\x00\x01binary"),
        ("GET", "/big", {}, b""),
    ]
    as_sent: list[list[tuple[str, str]]] = []
    hooks = {"request": [lambda r: as_sent.append([(k.decode(), v.decode()) for k, v in r.headers.raw])]}
    with shadow_of(upstream) as (app, base), httpx.Client(base_url=base, event_hooks=hooks) as c:
        answers = [c.request(m, t, headers=h, content=b) for m, t, h, b in sent]
        app.drain()
    assert len(upstream.received) == len(sent)  # counted: nothing added, nothing retried
    for (method, target, headers, body), got, app_headers in zip(sent, upstream.received, as_sent, strict=True):
        assert (got["method"], got["target"], got["body"]) == (method, target, body)
        for k, v in headers.items():
            assert (k, v) in got["headers"]  # the app's own key, unchanged

        # every header as the app sent it, in its order; only Host names the upstream, Connection is per hop
        def same(hs):
            return [(k.lower(), v) for k, v in hs if k.lower() not in ("host", "connection")]

        assert same(got["headers"]) == same(app_headers)
        assert [k for k, _ in got["headers"]].count("host") == 1
    assert [a.status_code for a in answers] == [418, 418, 418, 200]
    assert answers[0].text == "teapot" and answers[0].headers["x-upstream"] == "yes"
    assert answers[0].headers["set-cookie"] == "a=1"
    assert answers[3].content == big


def test_only_bfl_hosts_unless_allowed():
    assert host_allowed("api.bfl.ai") and host_allowed("api.eu4.bfl.ai") and host_allowed("delivery-us1.bfl.ai")
    assert not host_allowed("api.bfl.ai.evil.example") and not host_allowed("127.0.0.1")
    assert host_allowed("127.0.0.1", ["loopback"]) and host_allowed("x.corp.example", [".corp.example"])
    with pytest.raises(UpstreamRefused, match=r"--allow-upstream-host example\.com"):
        check_upstream("https://example.com")
    with pytest.raises(UpstreamRefused, match="origin"):
        check_upstream("https://api.bfl.ai/v1")
    assert check_upstream(UpstreamOptions().url) == ("https://api.bfl.ai", "api.bfl.ai")


def test_a_hung_upstream_gives_504_and_a_gone_one_502():
    upstream = Recording(lambda req: (0, [], []))
    with shadow_of(upstream, timeout=0.3) as (app, base), httpx.Client(base_url=base) as c:
        r = c.get("/v1/get_result?id=x", headers={"x-key": "sk-hung-key"})
        assert r.status_code == 504 and "did not answer in time" in r.json()["detail"]
        assert app.report.as_dict()["summary"]["upstream_errors"] == 1
        assert "sk-hung-key" not in r.text
    from mock_server.frontends.server import ThreadedServer
    from mock_server.shadow.app import ShadowApp
    from mock_server.shadow.forward import Upstream

    mock = BflMock(progression="manual")
    app = ShadowApp(Upstream(UpstreamOptions("http://127.0.0.1:9", allow=("loopback",))), mock)
    try:
        with ThreadedServer(app) as server, httpx.Client(base_url=server.url) as c:
            r = c.get("/v1/get_result?id=x")
            assert r.status_code == 502 and "could not be reached" in r.json()["detail"]
    finally:
        app.close()
        mock.close()


# ------------------------------------------------------------------------------------------- rules
def test_shape_only_fields_and_key_differences():
    real = {"id": "a" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12, "seed": 1, "cost": 2.5, "extra": 1}
    pred = {"id": "b" * 8 + "-bbbb-4bbb-8bbb-" + "b" * 12, "seed": 7, "cost": 3.0}
    assert json_differences(real, pred) == [
        "cost is 2.5 upstream, 3.0 predicted",
        "response key extra is sent by the upstream, not predicted",
    ]


def test_poll_sequence_rules():
    track = PollTrack()
    assert track.observe({"status": "Pending", "progress": None}) == []
    assert track.observe({"status": "Pending", "progress": 0.5}) == []
    assert track.observe({"status": "Pending", "progress": 0.2}) == ["poll progress went down from 0.5 to 0.2"]
    assert track.observe({"status": "Ready"}) == []
    assert track.observe({"status": "Pending"}) == ["poll status went from Ready to Pending"]
    assert track.observe({"status": "Done"}) == ["poll status 'Done' is not one of the documented statuses"]


def test_a_video_artefact_is_compared_by_format_size_and_duration():
    import io

    av = pytest.importorskip("av")
    import numpy as np

    from mock_server.shadow.rules import artefact_differences, artefact_facts

    def mp4(seconds: float, w: int = 64, h: int = 48, fps: int = 10) -> bytes:
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as c:
            s = c.add_stream("libx264", rate=fps)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.zeros((h, w, 3), np.uint8), format="rgb24")
            for _ in range(int(seconds * fps)):
                for p in s.encode(frame):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        return buf.getvalue()

    real, predicted = artefact_facts(mp4(2)), artefact_facts(mp4(3, w=96))
    assert real == {"format": "mp4", "bytes": real["bytes"], "size": [64, 48], "duration": 2.0}
    assert artefact_differences(real, predicted) == [
        "artefact size is 64x48 upstream, 96x48 predicted",
        "artefact duration is 2.0 upstream, 3.0 predicted",
    ]


# ------------------------------------------------------------------------------------------- identical upstream
def test_an_identical_upstream_gives_no_divergence_over_a_thousand_exchanges_on_every_endpoint():
    upstream_mock = BflMock(progression="polls:2", seed=1)
    exchanges = 0
    with shadow_of(create_app(upstream_mock)) as (app, base), httpx.Client(base_url=base, timeout=60) as c:
        c.headers["x-key"] = "app-key"
        for _ in range(2):  # the whole lifecycle: submit, polls, download
            for ep in ENDPOINTS:
                answers = run_task(c, base, ep.path, minimal_body(ep))
                assert answers[-1].status_code == 200, (ep.name, answers[-1].text)
                exchanges += len(answers)
        cheap = [
            lambda ep: c.post(ep.path, json={}),
            lambda ep: c.post(ep.path, json={**minimal_body(ep), "width": 5, "output_format": "gif"}),
            lambda ep: c.post(ep.path, content=b"{not json", headers={"content-type": "application/json"}),
            lambda ep: c.post(ep.path, json=minimal_body(ep), headers={"x-key": ""}),
            lambda ep: c.get(ep.path),
            lambda ep: c.get("/v1/get_result", params={"id": "00000000-0000-4000-8000-000000000000"}),
            lambda ep: c.get(f"/v1/{ep.name}-nope"),
        ]
        while exchanges < 1000:
            for ep in ENDPOINTS:
                for send in cheap:
                    send(ep)
                    exchanges += 1
        assert app.drain(60)
        report = app.report.as_dict()
    upstream_mock.close()
    assert report["summary"]["exchanges"] == exchanges >= 1000
    assert report["summary"]["compared"] == exchanges
    assert report["divergences"] == [], report["divergences"][:3]


# ------------------------------------------------------------------------------------------- planted differences
PLANTED = {  # the planted difference -> (behaviour, words of its detail)
    "plant-bound": ("validation", "refused upstream (422), accepted predicted (200): fields width"),
    "plant-msg": ("validation", 'detail.0.msg is "Input should be a multiple of 16" upstream'),
    "plant-status": ("status", "status is 402 upstream, 200 predicted"),
    "plant-poll": ("poll", "final status is Error upstream, Ready predicted"),
    "plant-key": ("submit", "response key region is sent by the upstream, not predicted"),
    "plant-size": ("artefact", "artefact size is 100x60 upstream, 1024x768 predicted"),
}


def test_each_planted_difference_is_named_exactly_once():
    stand_in = Planted(BflMock(progression="polls:2", seed=1))
    with shadow_of(stand_in) as (app, base), httpx.Client(base_url=base, timeout=60) as c:
        c.headers["x-key"] = "app-key"
        flux = "/v1/flux-pro-1.1"
        for i in range(3):  # ordinary traffic around the planted requests agrees
            run_task(c, base, flux, {"prompt": f"a cube {i}"})
        for word in PLANTED:
            body = {"prompt": word}
            if word == "plant-msg":
                body["width"] = 1000  # invalid: the stand-in's message differs
            if word == "plant-bound":
                body["width"] = 1024
            run_task(c, base, flux, body)
            run_task(c, base, flux, {"prompt": "a sphere"})
        assert app.drain(60)
        divergences = app.report.as_dict()["divergences"]
    stand_in.mock.close()
    for word, (behaviour, words) in PLANTED.items():
        named = [d for d in divergences if words in d["detail"]]
        assert len(named) == 1 and named[0]["behaviour"] == behaviour, (word, divergences)
        assert named[0]["count"] == 1 and named[0]["evidence"] == BEHAVIOURS[behaviour].evidence
        assert named[0]["real"]["status"] and named[0]["request"]["method"] in ("GET", "POST")
    assert len(divergences) == len(PLANTED), [d["detail"] for d in divergences]


def test_the_report_never_shows_the_key():
    stand_in = Planted(BflMock(progression="polls:1"))
    with shadow_of(stand_in) as (app, base), httpx.Client(base_url=base) as c:
        c.post("/v1/flux-pro-1.1", json={"prompt": "plant-key"}, headers={"x-key": "sk-very-secret-key"})
        app.drain()
        text = c.get("/_mock/shadow").text
        assert c.delete("/_mock/shadow").json() == {"cleared": True}
        assert c.get("/_mock/shadow").json()["divergences"] == []
    stand_in.mock.close()
    assert "response key region" in text and "sk-very-secret-key" not in text


def test_the_dashboard_offers_the_shadow_page():
    stand_in = Planted(BflMock(progression="polls:1"))
    with shadow_of(stand_in) as (_app, base), httpx.Client(base_url=base) as c:
        page = c.get("/_mock/ui")
        assert b"/_mock/ui/shadow.js" in page.content
        script = c.get("/_mock/ui/shadow.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert "async function shadowPage()" in script.text and "innerHTML" not in script.text
        assert c.get("/_mock/shadow").json()["summary"]["upstream"].startswith("http://127.0.0.1:")
        assert c.post("/_mock/shadow").status_code == 405
        assert c.get("/health").status_code == 200  # the prediction fake's own, never forwarded
    stand_in.mock.close()


def test_through_https_proxy_every_bfl_host_is_shadowed(tmp_path):
    import ssl

    from mock_server.frontends.server import ThreadedServer
    from mock_server.shadow.app import ProxiedShadow
    from mock_server.tls.ca import LocalCA
    from mock_server.tls.proxy import ProxyOptions, ThreadedProxy

    ca = LocalCA(tmp_path / "ca")
    ca.leaf()
    stand_in = Planted(BflMock(progression="polls:2", seed=1, public_url="https://api.bfl.ai"))
    with shadow_of(stand_in) as (app, _base), ThreadedServer(stand_in) as upstream:
        proxied = ProxiedShadow(app, origins={"api.bfl.ai": upstream.url})
        proxy = ThreadedProxy(proxied, app.mock.settings, ca, ProxyOptions()).start()
        try:
            ctx = ssl.create_default_context(cafile=str(ca.cert_path))
            with httpx.Client(proxy=proxy.url, verify=ctx, trust_env=False, headers={"x-key": "k"}) as c:
                r = c.post("https://api.bfl.ai/v1/flux-pro-1.1", json={"prompt": "plant-key", "width": 256})
                assert r.json()["region"] == "eu4"  # the upstream's answer, unchanged
                for _ in range(5):  # the app follows polling_url and result.sample as given
                    p = c.get(r.json()["polling_url"])
                    if p.json()["status"] == "Ready":
                        break
                d = c.get(p.json()["result"]["sample"])
                assert d.status_code == 200 and d.headers["content-type"] == "image/jpeg"
                with pytest.raises(httpx.ProxyError, match="403"):  # refused at CONNECT, never forwarded
                    c.get("https://example.com/")
        finally:
            proxy.stop()
        assert app.drain(30)
        report = app.report.as_dict()
    stand_in.mock.close()
    assert report["summary"]["compared"] == report["summary"]["exchanges"] >= 3
    assert [d["behaviour"] for d in report["divergences"]] == ["submit"]


# ------------------------------------------------------------------------------------------- hostile peers
def test_a_huge_or_broken_answer_reaches_the_app_as_it_is_and_the_shadow_goes_on(monkeypatch):
    import socket

    import mock_server.shadow.app as shadow_app

    monkeypatch.setattr(shadow_app, "COMPARE_LIMIT", 1000)  # kept for comparison: the first 1,000 bytes
    huge = bytes(range(256)) * 4096  # 1 MiB

    def answer(req):
        if req["target"] == "/huge":
            return (
                200,
                [(b"content-type", b"application/octet-stream")],
                [huge[i : i + 4096] for i in range(0, len(huge), 4096)],
            )
        return 200, [(b"content-type", b"application/json")], [b'{"ok":true}']

    # a raw upstream that promises 1,000 bytes and hangs up after 10
    broken = socket.create_server(("127.0.0.1", 0))
    import threading

    def serve_broken():
        conn, _ = broken.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789")
        conn.close()

    threading.Thread(target=serve_broken, daemon=True).start()
    with shadow_of(Recording(answer)) as (app, base), httpx.Client(base_url=base) as c:
        r = c.get("/huge")
        assert r.content == huge
        from mock_server.frontends.server import ThreadedServer
        from mock_server.shadow.app import ShadowApp
        from mock_server.shadow.forward import Upstream

        other = ShadowApp(
            Upstream(UpstreamOptions(f"http://127.0.0.1:{broken.getsockname()[1]}", allow=("loopback",))), app.mock
        )
        try:
            with ThreadedServer(other) as server, httpx.Client(base_url=server.url) as c2:
                with pytest.raises(httpx.HTTPError):  # the app sees the answer break, as it would directly
                    c2.get("/v1/get_result?id=x").read()
                assert other.report.upstream_errors == 1
        finally:
            other.close()
            broken.close()
        assert c.get("/ok").json() == {"ok": True}  # and the shadow serves on
        assert app.drain(10)
        assert app.report.as_dict()["summary"]["compared"] == 2


def test_a_hostile_client_cannot_make_the_shadow_hold_more_than_its_bounds():
    from mock_server.frontends.server import ThreadedServer
    from mock_server.shadow.app import ShadowApp
    from mock_server.shadow.forward import Upstream
    from mock_server.shadow.report import Report
    from mock_server.shadow.rules import Divergence

    upstream = Recording(lambda req: (200, [], [b"{}"]))
    with ThreadedServer(upstream) as up:
        mock = BflMock(progression="manual")
        app = ShadowApp(Upstream(UpstreamOptions(up.url, allow=("loopback",))), mock, max_body=1000, max_in_flight=1)
        try:
            with ThreadedServer(app) as server, httpx.Client(base_url=server.url) as c:
                r = c.post("/v1/flux-dev", content=b"x" * 5000)
                assert r.status_code == 413 and upstream.received == []  # refused before anything is sent
        finally:
            app.close()
            mock.close()
    report = Report(max_entries=3)
    report.add([Divergence("submit", "/v1/x", f"key {c} differs") for c in "abcdefghij"])
    assert len(report.divergences) == 3 and report.as_dict()["summary"]["entries_not_kept"] == 7


def test_webhook_tasks_never_polled_and_the_real_balance_do_not_make_false_divergences():
    stand_in = BflMock(progression="manual", seed=1, active_task_limit=2)  # the real tasks finish unseen
    stand_in.set_credits("poor-key", 0.0)
    with shadow_of(create_app(stand_in), active_task_limit=2) as (app, base), httpx.Client(base_url=base) as c:
        c.headers["x-key"] = "app-key"
        hook = {"prompt": "a cube", "webhook_url": "https://example.com/hook"}
        for _ in range(5):  # never polled: the app learns the end from its webhook
            assert c.post("/v1/flux-pro-1.1", json=hook).status_code == 200
            for t in stand_in.tasks(status="Pending"):
                stand_in.complete(t.id)
        assert c.post("/v1/flux-pro-1.1", json={"prompt": "x"}, headers={"x-key": "poor-key"}).status_code == 402
        assert app.drain(30)
        divergences = app.report.as_dict()["divergences"]
    stand_in.close()
    assert [(d["behaviour"], d["deviates_by_setting"]) for d in divergences] == [
        ("status", "credits (the shadow's fake cannot know the account's balance)")
    ]


def test_the_report_is_guarded_like_the_admin_api():
    stand_in = Planted(BflMock(progression="polls:1"))
    with shadow_of(stand_in, admin_token="t0ken-value") as (_app, base), httpx.Client(base_url=base) as c:
        assert c.get("/_mock/shadow").status_code == 403
        assert c.delete("/_mock/shadow").status_code == 403
        ok = c.get("/_mock/shadow", headers={"x-admin-token": "t0ken-value"})
        assert ok.status_code == 200 and ok.json()["summary"]["exchanges"] == 0
    stand_in.mock.close()


def test_a_client_that_hangs_up_mid_body_sends_nothing_upstream():
    import socket

    upstream = Recording(lambda req: (200, [], [b"{}"]))
    with shadow_of(upstream) as (app, base), httpx.Client(base_url=base) as c:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"POST /v1/flux-dev HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n0123456789")
        assert c.get("/v1/get_result?id=after").status_code == 200  # the shadow serves on
        assert app.drain(10)
    assert [r["target"] for r in upstream.received] == ["/v1/get_result?id=after"]
    assert app.report.as_dict()["summary"]["exchanges"] == 1
