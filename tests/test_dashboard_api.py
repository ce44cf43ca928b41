"""The admin API the dashboard uses (issue 15), without a browser: UI files, thumbnails, task listing filters,
cross-site refusal, the token sign-in cookie, webhook receiver answers. tests_ui/ drives the same in Chromium."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from mock_server.frontends.server import LiveServer, WebhookReceiver
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock
from mock_server.testing import control_image

BASE = "https://api.bfl.ai"
CANNY = "/v1/flux-pro-1.0-canny-finetuned"


@pytest.fixture
def fake():
    mock = BflMock(frozen_clock=True, progression="polls:1", seed=2)
    with mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "dash-key"}) as c:
        yield mock, c


def test_a_browser_at_the_admin_root_is_led_to_the_dashboard(fake):
    _, c = fake
    assert c.get("/_mock/").json()["bfl-mock admin API"]  # scripts keep the JSON index
    r = c.get("/_mock/", headers={"accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 303 and r.headers["location"] == "/_mock/ui"
    page = c.get("/_mock/ui")
    assert page.headers["content-type"].startswith("text/html") and b"/_mock/ui/app.js" in page.content
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
    for name in ("app.js", "app.css"):
        assert c.get(f"/_mock/ui/{name}").status_code == 200
    assert c.get("/_mock/ui/..%2Fconfig").status_code == 404
    assert c.get("/_mock/ui/secrets.txt").status_code == 404
    for text in (page.text, c.get("/_mock/ui/app.js").text, c.get("/_mock/ui/app.css").text):
        assert "https://" not in text  # nothing loaded from the internet


def _png(c: httpx.Response) -> Image.Image:
    assert c.status_code == 200, c.text
    return Image.open(io.BytesIO(c.content))


def test_thumbnails_of_inputs_edges_and_result(fake):
    mock, c = fake
    tid = c.post(CANNY, json={"finetune_id": "f", "prompt": "p", "control_image": control_image(300)}).json()["id"]
    base = f"/_mock/tasks/{tid}/images"
    assert c.get(f"{base}/result").status_code == 404  # Pending: no result yet
    control = _png(c.get(f"{base}/control_image?max=128"))
    assert max(control.size) == 128
    edges = _png(c.get(f"{base}/edges?max=128"))
    low, high = edges.getextrema()  # (min, max) of the one band; getdata() is deprecated in Pillow 13
    assert edges.mode == "L" and low == 0 and high > 100  # edges on black
    c.get(f"/v1/get_result?id={tid}")
    assert mock.task(tid).status == "Ready"
    assert max(_png(c.get(f"{base}/result?max=64")).size) == 64
    assert c.get(f"{base}/mask").status_code == 404 and "no image 'mask'" in c.get(f"{base}/mask").text
    assert c.get("/_mock/tasks/nope/images/result").status_code == 404


def test_input_images_are_kept_within_their_budget_only(fake):
    small = BflMock(frozen_clock=True, keep_inputs_bytes=1)
    with small, httpx.Client(transport=BflTransport(small), base_url=BASE, headers={"x-key": "k"}) as c:
        tid = c.post(CANNY, json={"finetune_id": "f", "prompt": "p", "control_image": control_image(64)}).json()["id"]
        r = c.get(f"/_mock/tasks/{tid}/images/control_image")
        assert r.status_code == 404 and "keep_inputs_bytes" in r.json()["detail"]


def test_task_listing_newest_first_with_filters_and_brief_rows(fake):
    _, c = fake
    ids = [c.post("/v1/flux-dev", json={"prompt": f"t{i}"}).json()["id"] for i in range(3)]
    other = c.post("/v1/flux-pro-1.1", json={"prompt": "x"}, headers={"x-key": "another-key"}).json()["id"]
    assert [r["id"] for r in c.get("/_mock/tasks").json()["tasks"]] == [*ids, other]  # scripts: oldest first
    rows = c.get("/_mock/tasks?brief=1&order=newest").json()["tasks"]
    assert [r["id"] for r in rows] == [other, *reversed(ids)]
    assert set(rows[0]) >= {"endpoint", "status", "key_id", "created_at", "finished_at", "rule", "scenario"}
    assert "params" not in rows[0] and "another-key" not in str(rows)
    newest_dev = c.get("/_mock/tasks?endpoint=flux-dev&limit=2&order=newest").json()["tasks"]
    assert [r["id"] for r in newest_dev] == ids[:0:-1]
    key_id = rows[0]["key_id"]
    assert [r["id"] for r in c.get(f"/_mock/tasks?key_id={key_id}").json()["tasks"]] == [other]
    scen = c.post("/v1/flux-dev", json={"prompt": "s"}, headers={"x-mock-scenario": "error"}).json()["id"]
    assert c.get(f"/_mock/tasks/{scen}").json()["scenario"] == "error"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # scripts and curl send neither header
        ({"sec-fetch-site": "same-origin", "origin": BASE}, 200),  # the dashboard itself
        ({"sec-fetch-site": "none"}, 200),  # typed into the address bar
        ({"origin": "http://evil.example"}, 403),
        ({"origin": "https://api.bfl.ai:8443"}, 403),  # another port is another origin
        ({"origin": "null"}, 403),  # a sandboxed frame or a file:// page
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),  # 127.0.0.1:3000 is same-site with 127.0.0.1:8787
    ],
)
def test_the_admin_api_refuses_cross_site_changes(fake, headers, status):
    mock, c = fake
    c.post("/v1/flux-dev", json={"prompt": "keep me"})
    r = c.post("/_mock/reset", headers=headers)
    assert r.status_code == status, r.text
    assert len(mock.tasks()) == (0 if status == 200 else 1)
    if status == 403:
        assert "cross-site request refused" in r.json()["detail"]
        assert c.get("/_mock/tasks", headers=headers).status_code == 200  # reading is not a change


def test_with_a_token_the_browser_signs_in_once_with_a_cookie():
    mock = BflMock(frozen_clock=True, admin_token="t0ken-value")
    with mock, httpx.Client(transport=BflTransport(mock), base_url=BASE) as c:
        assert c.get("/_mock/ui").status_code == 200  # the page itself (no data) loads to show the sign-in
        assert c.get("/_mock/tasks").status_code == 403
        assert c.post("/_mock/ui/login", json={"token": "wrong"}).status_code == 403
        assert c.post("/_mock/ui/login", json={}).status_code == 400
        ok = c.post("/_mock/ui/login", json={"token": "t0ken-value"})
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "t0ken-value" not in cookie
        assert c.get("/_mock/tasks").status_code == 200  # the cookie, kept by the client
        assert c.post("/_mock/reset", headers={"origin": "http://evil.example"}).status_code == 403
        c.cookies.clear()
        c.cookies.set("bfl_mock_admin", "forged")
        assert c.get("/_mock/tasks").status_code == 403


def test_scenarios_are_listed_for_the_control_page(fake):
    mock, c = fake
    mock.scenario("my-slow", {"progression": "time:30"})
    data = c.get("/_mock/scenarios").json()
    assert "content-moderated" in data["builtin"] and data["defined"]["my-slow"]["progression"] == "time:30"


def test_each_webhook_attempt_keeps_the_receivers_answer():
    mock = BflMock(frozen_clock=True, progression="polls:1", webhook_allow=("loopback",), webhook_backoff=(1.0,))
    with LiveServer(mock) as server, WebhookReceiver(statuses=[503, 200]) as receiver:
        with httpx.Client(base_url=server.url, headers={"x-key": "k"}) as c:
            tid = c.post("/v1/flux-dev", json={"prompt": "x", "webhook_url": receiver.url + "/h"}).json()["id"]
        mock.clock.advance(1)
        delivery = mock.webhooks.wait_for(tid)
    attempts = delivery.to_dict()["attempts"]
    assert [(a["status"], a["answer"]) for a in attempts] == [(503, '{"received": 1}'), (200, '{"received": 2}')]


def test_the_readme_shows_the_task_page_as_the_browser_tests_rendered_it():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shown = "](docs/dashboard-task.png)" in (root / "README.md").read_text()
    shown = shown or "](dashboard-task.png)" in (root / "docs" / "dashboard.md").read_text()
    assert shown
    shot = Image.open(root / "docs" / "dashboard-task.png")
    assert shot.format == "PNG" and shot.size[0] >= 1000
    makefile = (root / "Makefile").read_text()
    assert "\nscreenshots:" in makefile and "cp reports/ui/task.png docs/dashboard-task.png" in makefile
    test_ui = makefile.split("\ntest-ui:", 1)[1].split("\n\n", 1)[0]
    assert "docs/" not in test_ui  # make test-ui leaves tracked files alone; make screenshots updates them


def test_a_receiver_that_answers_200_but_never_sends_its_body_still_gets_one_delivered_attempt():
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    hold = threading.Event()

    def receiver() -> None:
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok"')  # then nothing more
        hold.wait(20)
        conn.close()

    threading.Thread(target=receiver, daemon=True).start()
    mock = BflMock(frozen_clock=True, progression="polls:1", webhook_allow=("loopback",), webhook_timeout_seconds=10)
    with mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"}) as c:
        tid = c.post("/v1/flux-dev", json={"prompt": "x", "webhook_url": f"http://127.0.0.1:{port}/h"}).json()["id"]
        mock.clock.advance(1)
        delivery = mock.webhooks.wait_for(tid, 15).to_dict()
    hold.set()
    srv.close()
    assert delivery["state"] == "delivered"
    assert [(a["status"], a["answer"], a["error"]) for a in delivery["attempts"]] == [(200, '{"ok"', None)]


def test_task_rows_carry_the_prompt_and_the_key_filter_takes_a_key_or_a_fingerprint(fake):
    _, c = fake
    mine = c.post("/v1/flux-dev", json={"prompt": "a lighthouse " * 40}).json()["id"]
    other = c.post("/v1/flux-dev", json={"prompt": "x"}, headers={"x-key": "another-key"}).json()["id"]
    rows = {r["id"]: r for r in c.get("/_mock/tasks?brief=1").json()["tasks"]}
    assert rows[mine]["prompt"].startswith("a lighthouse") and rows[mine]["prompt"].endswith("…")
    assert len(rows[mine]["prompt"]) == 201 and rows[other]["prompt"] == "x"

    def keyed(key: str) -> list[str]:
        return [r["id"] for r in c.get("/_mock/tasks", params={"brief": 1, "key": key}).json()["tasks"]]

    assert keyed("dash-key") == [mine]  # the whole key, compared by its fingerprint
    assert keyed("another-key") == [other]
    assert keyed(rows[other]["key_id"][:6]) == [other]  # the start of the key column's fingerprint
    assert keyed("dash") == [] and keyed("an***") == []  # never a prefix of the secret key itself


def test_the_task_page_is_told_which_images_it_has(fake):
    _, c = fake
    canny = c.post(
        CANNY, json={"finetune_id": "f", "prompt": "p", "control_image": control_image(), "canny_low_threshold": 20}
    ).json()["id"]
    dev = c.post("/v1/flux-dev", json={"prompt": "p"}).json()["id"]
    previews = c.get(f"/_mock/tasks/{canny}").json()["previews"]
    assert [p["name"] for p in previews] == ["control_image", "edges", "result"]
    assert "low=20, high=200" in previews[1]["caption"]
    assert [p["name"] for p in c.get(f"/_mock/tasks/{dev}").json()["previews"]] == ["result"]


def test_an_image_problem_is_in_words(fake):
    mock, c = fake
    mock.add_rule(match={"prompt_contains": "hold"}, outcome={"progression": "manual"})
    tid = c.post("/v1/flux-kontext-pro", json={"prompt": "hold", "input_image": "aGVsbG8gd29ybGQ="}).json()["id"]
    job = mock.backend.get_task(tid).image_job
    assert job is not None and job.exception(timeout=30) is not None  # its check ran, and failed
    row = next(r for r in c.get("/_mock/tasks?brief=1").json()["tasks"] if r["id"] == tid)
    task = c.get(f"/_mock/tasks/{tid}").json()
    assert row["status"] == task["status"] == "Pending"  # it ends as Error when its (manual) time comes
    assert row["image_error"] == task["image_error"] == "not a PNG, JPEG or WebP image"


def test_plain_reason_drops_python_reprs():
    from mock_server.http.admin import plain_reason

    assert plain_reason("undecodable: UnidentifiedImageError: cannot identify image file <_io.BytesIO object at 0x7f>")
    assert plain_reason(
        "undecodable: UnidentifiedImageError: cannot identify image file <_io.BytesIO object at 0x7f>"
    ) == ("not a PNG, JPEG or WebP image")
    assert plain_reason("undecodable: OSError: broken data stream <x.Y object at 0xabc>") == (
        "undecodable: broken data stream the data"
    )
    assert plain_reason(None) is None


def test_the_request_journal_filters_for_the_dashboard(fake):
    _, c = fake
    tid = c.post("/v1/flux-dev", json={"prompt": "p"}).json()["id"]
    for _ in range(3):
        c.get(f"/v1/get_result?id={tid}")
    c.post("/v1/flux-pro-1.1", json={"prompt": "p", "width": 1000})  # 422
    c.get("/v1/get_result?id=nope")  # 404

    def paths(**query: str) -> list[tuple[str, str, int]]:
        entries = c.get("/_mock/requests", params=query).json()["requests"]
        return [(e["method"], e["path"], e["status"]) for e in entries]

    assert len(paths()) == 6
    assert paths(polls="0") == [("POST", "/v1/flux-dev", 200), ("POST", "/v1/flux-pro-1.1", 422)]
    assert paths(status="4xx") == [("POST", "/v1/flux-pro-1.1", 422), ("GET", "/v1/get_result", 404)]
    assert paths(status="2xx", polls="0") == [("POST", "/v1/flux-dev", 200)]
    assert paths(method="GET", status="404") == [("GET", "/v1/get_result", 404)]
    assert paths(path="/v1/flux*", limit="1") == [("POST", "/v1/flux-pro-1.1", 422)]
    bad = c.get("/_mock/requests?status=4x")
    assert bad.status_code == 400 and "or a class such as 4xx" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"match": {"prompt_contain": "x"}, "outcome": {}},
            "body.match: unknown key 'prompt_contain'; did you mean 'prompt_contains'?",
        ),
        ({"match": {}, "outcom": {}}, "body: unknown key 'outcom'; did you mean 'outcome'?"),
        ({"match": {}, "outcome": {"webhook": {"dorp": True}}}, "body.outcome.webhook: unknown key 'dorp'; did"),
        (
            [{"match": {}}, {"match": {}, "outcome": {"status": "Eror"}}],
            "not 'Eror' in rule 2 of the body; did you mean 'Error'?",
        ),
    ],
)
def test_a_rule_the_admin_api_refuses_is_explained_like_a_config_file(fake, body, detail):
    _, c = fake
    r = c.post("/_mock/rules", json=body)
    assert r.status_code == 400 and detail in r.json()["detail"]
    assert "Additional properties" not in r.json()["detail"]


def test_a_list_of_input_images_shows_its_first_image(fake):
    """FLUX 3's keyframes (images, or [seconds, image] pairs): the dashboard's figure is the first keyframe."""
    _, c = fake
    for keyframes in ([control_image(48), control_image(64)], [[0, control_image(48)], [3, control_image(64)]]):
        tid = c.post("/v1/flux-3-video", json={"mode": "i2v", "prompt": "p", "keyframes": keyframes}).json()["id"]
        listed = c.get(f"/_mock/tasks/{tid}").json()["previews"]
        assert any(p["name"] == "keyframes" and "first shown" in p["caption"] for p in listed), listed
        assert _png(c.get(f"/_mock/tasks/{tid}/images/keyframes?max=256")).size == (48, 48)
