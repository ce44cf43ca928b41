"""The dashboard in a real browser (Debian's chromium + chromium-driver through Selenium; ``make test-ui``).

Tasks are submitted through the public API of a served fake; the browser then sees them appear, opens them,
sees their images actually rendered, completes a Pending task, reads a failed webhook's attempts and a 422's
detail, and a page on another origin fails to reset the fake. Screenshots of every page go to ``reports/ui/``.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image

from mock_server.frontends.server import LiveServer, WebhookReceiver
from mock_server.mock import BflMock

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "reports" / "ui"
PHOTO = ROOT / "fixtures" / "images" / "camera.png"
WAIT = 20  # seconds a page may take to show something (polling, not sleeping)


def b64_photo(size: int = 384) -> str:
    im = Image.open(PHOTO).convert("RGB")
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(WAIT)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def until(driver, predicate, what: str):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def safe(d):
        try:
            return predicate(d)
        except WebDriverException:
            return False

    from selenium.common.exceptions import TimeoutException

    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(safe, what)
    except TimeoutException:
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "failure.png"))
        page = driver.execute_script("return document.body ? document.body.innerText : ''")
        raise AssertionError(
            f"{what}: not seen within {WAIT}s at {driver.current_url}; the page said:\n{page[:2000]}"
        ) from None


def shot(driver, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000
    return path


def rendered(driver, css: str) -> int:
    """The naturalWidth of the image matched by ``css`` once it has loaded (0 until then)."""
    return driver.execute_script(
        "const i = document.querySelector(arguments[0]); return i && i.complete ? i.naturalWidth : 0;", css
    )


@pytest.fixture(scope="module")
def fake():
    mock = BflMock(frozen_clock=True, progression="polls:2", seed=3, webhook_allow=("loopback",), webhook_backoff=())
    mock.add_rule(match={"prompt_contains": "hold"}, outcome={"progression": "manual"}, name="held for the UI")
    with LiveServer(mock) as server, WebhookReceiver(statuses=[500]) as receiver:
        with httpx.Client(base_url=server.url, headers={"x-key": "ui-test-key"}, timeout=30) as c:
            canny = c.post(
                "/v1/flux-pro-1.0-canny-finetuned",
                json={"finetune_id": "ft", "prompt": "a camera", "control_image": b64_photo(), "seed": 7},
            ).json()
            for _ in range(2):
                ready = c.get(canny["polling_url"]).json()
            assert ready["status"] == "Ready"
            held = c.post("/v1/flux-pro-1.1", json={"prompt": "hold this one", "width": 512, "height": 512}).json()
            rejected = c.post("/v1/flux-pro-1.1", json={"prompt": "too wide", "width": 1000})
            assert rejected.status_code == 422
            hooked = c.post(
                "/v1/flux-kontext-pro",
                json={"prompt": "notify me", "input_image": b64_photo(256), "webhook_url": receiver.url + "/hook"},
            ).json()
            broken = c.post(
                "/v1/flux-kontext-pro", json={"prompt": "hold: not an image", "input_image": "aGVsbG8="}
            ).json()
            mock.clock.advance(2)
            mock.webhooks.wait_for(hooked["id"])
            job = mock.backend.get_task(broken["id"]).image_job
            assert job is not None and job.exception(timeout=WAIT) is not None  # its input failed the check
        yield {
            "server": server,
            "mock": mock,
            "canny": canny["id"],
            "held": held["id"],
            "hooked": hooked["id"],
            "broken": broken["id"],
        }


def test_tasks_appear_and_the_task_page_shows_its_images(browser, fake):
    url = fake["server"].url
    browser.get(url + "/_mock/")  # the admin root leads a browser to the dashboard
    until(browser, lambda d: d.current_url.endswith("/_mock/ui"), "redirect to /_mock/ui")
    rows = until(browser, lambda d: len(d.find_elements("css selector", "#tasks tbody tr")) >= 3 or None, "task rows")
    statuses = browser.execute_script(  # one script: the live page may re-render between WebDriver calls
        "return Object.fromEntries([...document.querySelectorAll('#tasks tbody tr')]"
        ".map((r) => [r.dataset.task, r.dataset.status]))"
    )
    assert rows and statuses[fake["canny"]] == "Ready" and statuses[fake["held"]] == "Pending"
    shot(browser, "tasks")
    with httpx.Client(base_url=url, headers={"x-key": "ui-test-key"}) as c:  # a new task appears without a reload
        new = c.post("/v1/flux-dev", json={"prompt": "appears live"}).json()["id"]
    until(browser, lambda d: d.find_elements("css selector", f'#tasks tr[data-task="{new}"]'), "the new task, live")

    browser.get(f"{url}/_mock/ui#/task/{fake['canny']}")
    for image in ("control_image", "edges", "result"):
        until(browser, lambda d, i=image: rendered(d, f'img[data-image="{i}"]') > 0, f"{image} rendered")
    caption = browser.find_element("css selector", 'img[data-image="edges"] + figcaption').text
    assert "low=50, high=200" in caption
    assert "se=" in browser.find_element("id", "sample").text
    shot(browser, "task")


def test_completing_a_pending_task_from_the_ui(browser, fake):
    browser.get(f"{fake['server'].url}/_mock/ui#/task/{fake['held']}")
    button = until(browser, lambda d: d.find_element("id", "complete"), "the complete button")
    assert "Pending" in browser.find_element("id", "task-status").text
    button.click()
    until(browser, lambda d: "Ready" in d.find_element("id", "task-status").text, "status Ready after complete")
    assert fake["mock"].task(fake["held"]).status == "Ready"
    until(browser, lambda d: rendered(d, 'img[data-image="result"]') > 0, "its result rendered")


def test_a_failed_webhook_shows_each_attempt(browser, fake):
    browser.get(f"{fake['server'].url}/_mock/ui#/task/{fake['hooked']}")
    card = until(browser, lambda d: d.find_element("css selector", ".delivery"), "the delivery")
    assert "failed" in card.text
    cells = [td.text for td in card.find_elements("css selector", "table.attempts tbody td")]
    assert cells[2] == "500" and '"received"' in cells[5]  # the receiver's status and its own answer
    until(browser, lambda d: rendered(d, 'img[data-image="input_image"]') > 0, "the input image rendered")
    until(browser, lambda d: rendered(d, 'img[data-image="result"]') > 0, "the result, rendered on its first view")
    browser.execute_script("document.querySelector('.delivery').scrollIntoView()")
    shot(browser, "webhooks")


def test_a_422_shows_its_detail_next_to_the_field(browser, fake):
    browser.get(f"{fake['server'].url}/_mock/ui#/requests")
    cell = until(browser, lambda d: d.find_element("css selector", '[data-error-for="width"]'), "the 422 detail")
    assert "multiple of 32" in cell.text
    row = cell.find_element("xpath", "./..")
    assert "1000" in row.text  # the offending value next to its message
    shot(browser, "requests")


def test_the_control_page_moves_the_clock(browser, fake):
    before = fake["mock"].clock.now()
    browser.get(f"{fake['server'].url}/_mock/ui#/control")
    until(browser, lambda d: d.find_element("id", "advance"), "the clock controls").click()
    until(browser, lambda d: fake["mock"].clock.now() >= before + 5, "the clock advanced by 5 s")
    until(browser, lambda d: d.find_element("css selector", "#advance-seconds + span").text == "seconds", "its unit")
    wanted = {"match.prompt_contains", "match.endpoint", "outcome.status", "outcome.http_status"}
    until(
        browser,
        lambda d: wanted <= {i.get_attribute("name") for i in d.find_elements("css selector", "#rule-form input")},
        "the rule form built from the rule schema",
    )
    shot(browser, "control")


def test_the_rule_form_has_every_outcome_the_schema_has(browser, fake):
    mock = fake["mock"]
    browser.get(f"{fake['server'].url}/_mock/ui#/control")
    form = until(browser, lambda d: d.find_element("id", "rule-form"), "the rule form")
    names = {i.get_attribute("name") for i in form.find_elements("css selector", "input, textarea")}
    assert {
        "outcome.reasons",
        "outcome.detail",
        "outcome.headers",
        "outcome.latency.",  # one value for every phase
        "outcome.latency.submit",
        "outcome.latency.poll",
        "outcome.latency.download",
        "outcome.webhook.drop",
        "outcome.webhook.duplicate",
        "outcome.webhook.bad-secret",
        "outcome.webhook.delay",
        "outcome.webhook.early",
        "outcome.webhook.profile",
    } <= names
    assert "outcome.webhook.bad_secret" not in names  # aliases are not offered twice

    def fill(name: str, text: str) -> None:
        form.find_element("css selector", f'[name="{name}"]').send_keys(text)

    fill("rule-name", "from the form")
    fill("match.prompt_contains", "form test")
    fill("outcome.status", "Content Moderated")
    fill("outcome.reasons", "Safety Filter, Violence")
    fill("outcome.headers", "X-Trace: abc\nRetry-After: 2")
    fill("outcome.latency.", "0.5")
    fill("outcome.latency.poll", "1-2")
    fill("outcome.webhook.delay", "3")
    form.find_element("css selector", '[name="outcome.webhook.drop"]').click()
    form.find_element("css selector", "button[type=submit]").click()
    until(browser, lambda d: any(r.name == "from the form" for r in mock.rules.list()), "the rule added")
    rule = next(r for r in mock.rules.list() if r.name == "from the form").to_dict()
    assert rule["match"] == {"prompt_contains": "form test"}
    assert rule["outcome"]["reasons"] == ["Safety Filter", "Violence"]
    assert rule["outcome"]["headers"] == {"X-Trace": "abc", "Retry-After": "2"}
    assert rule["outcome"]["latency"] == {"poll": [1.0, 2.0]}  # the per-phase value wins over "all"
    assert rule["outcome"]["webhook"] == {"drop": True, "delay": 3.0}

    # a mistake the server refuses is shown next to the button, in words
    act(browser, '#rule-form [name="outcome.status"]', "a wrong status", keys="Done")
    act(browser, "#rule-form button[type=submit]", "submit", click=True)
    error = until(browser, lambda d: d.find_element("id", "rule-error").text or None, "the refusal")
    assert "status must be one of" in error and "`" not in error
    mock.rules.remove(rule["id"])
    browser.execute_script("document.getElementById('rule-form').scrollIntoView()")
    shot(browser, "control-rule-form")


def test_the_task_table_labels_every_column_and_filters_by_key(browser, fake):
    url = fake["server"].url
    browser.get(url + "/_mock/ui#/tasks")
    until(browser, lambda d: d.find_elements("css selector", f'#tasks tr[data-task="{fake["broken"]}"]'), "rows")
    headers = browser.execute_script("return [...document.querySelectorAll('#tasks thead th')].map((t) => t.innerText)")
    assert all(headers) and {"prompt", "webhook_url", "input image problem"} <= set(headers)
    column = {name: i for i, name in enumerate(headers)}

    def cell(task: str, name: str) -> str:  # one script: the live page may re-render between WebDriver calls
        return browser.execute_script(
            'const r = document.querySelector(`#tasks tr[data-task="${arguments[0]}"]`);'
            "return r ? r.cells[arguments[1]].innerText : null;",
            task,
            column[name],
        )

    assert cell(fake["canny"], "prompt") == "a camera"
    assert cell(fake["hooked"], "webhook_url") == "yes" and cell(fake["canny"], "webhook_url") == ""
    assert cell(fake["broken"], "input image problem") == "will end as Error: not a PNG, JPEG or WebP image"
    assert cell(fake["held"], "input image problem") == ""
    shot(browser, "tasks-columns")

    def filter_by(text: str, shown, what: str) -> None:
        """Type ``text`` into the key filter until the table shows what ``shown`` expects (the live page
        re-renders every second, so the field is found afresh each time)."""

        def step(d):
            field = d.find_element("css selector", "input[name=key]")
            count = d.find_element("id", "count").text
            if field.get_attribute("value") != text or (text and f"with key {text}," not in count):
                field.clear()
                field.send_keys(text + "\n")
                return False
            return shown(count)

        until(browser, step, what)

    filter_by("some-other-key", lambda n: n.startswith("0 of 0"), "no task for another key")
    filter_by("ui-test-key", lambda n: n.startswith(("4 of 4", "5 of 5")), "the whole key's tasks")
    fingerprint = until(browser, lambda d: cell(fake["canny"], "key (fingerprint)"), "the fingerprint")
    filter_by(fingerprint[:5], lambda n: not n.startswith("0 of"), "the tasks by the start of their fingerprint")
    assert browser.find_elements("css selector", f'#tasks tr[data-task="{fake["canny"]}"]')


def test_the_task_page_explains_a_pending_tasks_image_problem(browser, fake):
    browser.get(f"{fake['server'].url}/_mock/ui#/task/{fake['broken']}")
    problem = until(browser, lambda d: d.find_element("id", "image-problem").text or None, "the image problem")
    assert problem == "the input image failed its check, so this task will end as Error: not a PNG, JPEG or WebP image"
    assert browser.find_element("id", "task-prompt").text == "hold: not an image"
    shot(browser, "task-image-problem")


def act(browser, css: str, what: str, **how) -> None:
    """Click (``click=True``) or type into (``keys=...``) the element at ``css``, found afresh: a live page
    re-renders every second, so an element found before may be gone."""

    def done(d):
        el = d.find_element("css selector", css)
        if how.get("click"):
            el.click()
        else:
            if el.tag_name == "input":
                el.clear()
            el.send_keys(how["keys"])
        return True

    until(browser, done, what)


def test_the_requests_page_filters(browser, fake):
    browser.get(f"{fake['server'].url}/_mock/ui#/requests")
    until(browser, lambda d: d.find_elements("css selector", "#requests tbody tr[data-request]"), "requests")

    def paths() -> list[str]:  # read in one script: the live page may re-render between two WebDriver calls
        return browser.execute_script(
            "return [...document.querySelectorAll('#requests tbody tr[data-request]')]"
            ".map((r) => r.cells[2].textContent)"
        )

    shown = paths()
    assert shown and not any(p.startswith("/v1/get_result") for p in shown)  # polls hidden by default
    act(browser, "#show-polls", "show polls", click=True)
    until(browser, lambda d: any(p.startswith("/v1/get_result") for p in paths()), "the polls, shown")
    act(browser, "#request-filters select[name=status]", "status 4xx", keys="4xx")
    until(browser, lambda d: paths() == ["/v1/flux-pro-1.1"], "only the 422")
    shot(browser, "requests-filtered")
    act(browser, "#request-filters select[name=status]", "any status", keys="any")
    act(browser, "#request-filters input[name=path]", "a path", keys="/v1/flux-kontext\n")
    until(browser, lambda d: paths() and all(p.startswith("/v1/flux-kontext") for p in paths()), "a path prefix")
    act(browser, "#request-filters select[name=method]", "method GET", keys="GET")
    until(browser, lambda d: d.find_elements("css selector", "#main p.muted") and not paths(), "no GET there")


class _Attacker(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


def test_a_page_on_another_origin_cannot_reset_the_fake(browser, fake):
    url = fake["server"].url
    tasks_before = len(fake["mock"].tasks())
    _Attacker.page = f"""<!doctype html><body>
<form id=f method=POST action="{url}/_mock/reset" enctype="text/plain"><input name=x value=1></form>
<script>
fetch("{url}/_mock/reset", {{method: "POST", mode: "no-cors", body: "{{}}"}}).finally(() => {{
  document.title = "fetched"; document.getElementById("f").submit();
}});
</script></body>""".encode()
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
        until(browser, lambda d: "cross-site" in d.page_source, "the form's answer")  # the refusal, rendered
    finally:
        attacker.shutdown()
    assert len(fake["mock"].tasks()) == tasks_before > 0  # neither the fetch nor the form reset anything
    shot(browser, "csrf-refused")
    browser.get(f"{url}/_mock/ui#/control")  # the dashboard itself (same origin) may
    until(browser, lambda d: d.find_element("id", "reset"), "the reset button").click()
    browser.switch_to.alert.accept()
    until(browser, lambda d: len(fake["mock"].tasks()) == 0, "reset from the dashboard")


def test_a_token_protected_fake_signs_the_browser_in_once(browser):
    mock = BflMock(frozen_clock=True, admin_token="s3cret-token")
    with LiveServer(mock) as server:
        httpx.post(server.url + "/v1/flux-dev", json={"prompt": "x"}, headers={"x-key": "k"})
        browser.get(server.url + "/_mock/ui")
        field = until(browser, lambda d: d.find_element("id", "token"), "the sign-in form")
        text = browser.find_element("id", "sign-in").text
        assert "`" not in text and "Authorization: Bearer" in text and "--admin-token" in text
        assert browser.find_elements("css selector", "#sign-in code")  # the header shown as code, not backticks
        shot(browser, "sign-in")
        field.send_keys("s3cret-token")
        field.submit()
        until(browser, lambda d: len(d.find_elements("css selector", "#tasks tbody tr")) == 1, "tasks after sign-in")
        cookie = browser.get_cookie("bfl_mock_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and "s3cret" not in cookie["value"]
        assert httpx.get(server.url + "/_mock/tasks").status_code == 403  # still closed to anyone else


def test_a_thousand_tasks_load_and_stay_responsive(browser):
    mock = BflMock(frozen_clock=True, progression="polls:1", active_task_limit=0, credits=1e9, ratelimit_limit=0)
    with LiveServer(mock) as server, httpx.Client(base_url=server.url, headers={"x-key": "k"}) as c:
        for i in range(1000):
            c.post("/v1/flux-pro-1.1", json={"prompt": f"task {i}"})
        start = time.perf_counter()
        browser.get(server.url + "/_mock/ui")
        until(browser, lambda d: d.execute_script("return (window.bflMockRendered || {}).rows") == 1000, "1,000 rows")
        load_s = time.perf_counter() - start
        nav = browser.execute_script("return performance.getEntriesByType('navigation')[0].toJSON()")
        rendered_ms = browser.execute_script("return window.bflMockRendered.at")
        start = time.perf_counter()
        browser.find_element("css selector", "select[name=status]").send_keys("Pending")  # a filter re-renders
        until(browser, lambda d: d.find_element("id", "count").text.startswith("1000 of 1000"), "the filter applied")
        filter_s = time.perf_counter() - start
        figures = {
            "tasks": 1000,
            "page_load_to_1000_rows_s": round(load_s, 3),
            "rows_rendered_at_ms_after_navigation": round(rendered_ms, 1),
            "dom_content_loaded_ms": round(nav["domContentLoadedEventEnd"], 1),
            "filter_rerender_s": round(filter_s, 3),
        }
        (SHOTS / "timings.json").write_text(json.dumps(figures, indent=2))
        print("dashboard with 1,000 tasks:", figures)
        shot(browser, "tasks-1000")


# ------------------------------------------------------------------------------------------------ FLUX 3 video
def media_state(driver, css: str) -> dict | None:
    """A <video>'s loaded state (readyState >= 1: its metadata is in), or None until then."""
    return driver.execute_script(
        "const v = document.querySelector(arguments[0]);"
        "return v && v.readyState >= 1 ? {duration: v.duration, width: v.videoWidth, height: v.videoHeight,"
        " src: v.currentSrc, tag: v.tagName} : null;",
        css,
    )


def mp4_facts(data: bytes) -> tuple[float, int, int]:
    import av

    with av.open(io.BytesIO(data)) as clip:
        stream = clip.streams.video[0]
        return clip.duration / 1_000_000, stream.codec_context.width, stream.codec_context.height


@pytest.fixture(scope="module")
def videos():
    mock = BflMock(frozen_clock=True, progression="polls:1", seed=5)
    with LiveServer(mock) as server, httpx.Client(base_url=server.url, headers={"x-key": "k"}, timeout=60) as c:

        def run(body: dict) -> tuple[str, dict]:
            task = c.post("/v1/flux-3-video", json=body).json()
            return task["id"], c.get(task["polling_url"]).json()

        draft, drafted = run({"mode": "t2v", "prompt": "a red fox in the snow", "duration": 5, "draft": True})
        assert drafted["status"] == "Ready" and "draft_cache" in drafted["result"]
        clip = c.get(drafted["result"]["sample"]).content
        v2v, _ = run({"mode": "v2v", "prompt": "the fox runs on", "start_video": base64.b64encode(clip).decode()})
        i2v, _ = run({"mode": "i2v", "prompt": "a camera turns", "keyframes": [b64_photo(128), b64_photo(96)]})
        yield {
            "server": server,
            "draft": draft,
            "draft_result": drafted["result"],
            "clip": clip,
            "v2v": v2v,
            "i2v": i2v,
        }


def test_a_flux_3_video_plays_in_the_task_page_and_its_draft_bundle_is_listed(browser, videos):
    seconds, width, height = mp4_facts(videos["clip"])
    browser.get(f"{videos['server'].url}/_mock/ui#/task/{videos['draft']}")
    state = until(browser, lambda d: media_state(d, 'video[data-image="result"]'), "the result video's metadata")
    assert state["tag"] == "VIDEO" and (state["width"], state["height"]) == (width, height) == (640, 360)
    assert abs(state["duration"] - seconds) < 0.1 and seconds == 5
    assert state["src"] == videos["draft_result"]["sample"]  # the signed MP4 itself (same origin here)
    # the live page re-renders every second, and keeps the player (a playing video is not restarted)
    at = browser.execute_script(
        "document.querySelector('video[data-image=result]').kept = true; return window.bflMockRendered.at;"
    )
    until(browser, lambda d: d.execute_script("return window.bflMockRendered.at") > at, "a re-render")
    assert browser.execute_script("return document.querySelector('video[data-image=result]').kept === true")
    link = browser.find_element("css selector", 'a[data-artefact="draft_cache"]')
    assert link.get_attribute("href") == videos["draft_result"]["draft_cache"]
    assert link.get_attribute("download") == "draft_cache.bin"
    row = browser.find_element("css selector", 'tr[data-file="draft_cache"]').text
    assert "application/octet-stream" in row
    assert "video/mp4" in browser.find_element("css selector", 'tr[data-file="sample"]').text
    assert browser.find_element("css selector", "#main h3").text == "Media"
    assert not browser.find_elements("css selector", "img[data-image]")  # a t2v task has no input pictures
    shot(browser, "task-video")
    browser.execute_script("document.getElementById('files').scrollIntoView()")
    shot(browser, "task-video-files")


def test_a_video_task_lists_its_inputs_by_media_type(browser, videos):
    url = videos["server"].url
    browser.get(f"{url}/_mock/ui#/task/{videos['v2v']}")
    state = until(browser, lambda d: media_state(d, 'video[data-image="start_video"]'), "the input video's metadata")
    assert (state["width"], state["height"]) == (640, 360) and abs(state["duration"] - 5) < 0.1
    assert not browser.find_elements("css selector", 'img[data-image="start_video"]')
    until(browser, lambda d: media_state(d, 'video[data-image="result"]'), "the result video")
    shot(browser, "task-video-v2v")
    browser.get(f"{url}/_mock/ui#/task/{videos['i2v']}")
    caption = until(
        browser,
        lambda d: d.execute_script(
            "const f = document.querySelector('[data-image=keyframes], [data-missing=keyframes]');"
            "return f ? f.closest('figure').innerText : null;"
        ),
        "the keyframes",
    )
    assert "keyframes (2 images, the first shown)" in caption
    until(  # the first keyframe is shown (it was a 404 while only single-image fields were kept)
        browser,
        lambda d: d.execute_script(
            "const i = document.querySelector('img[data-image=keyframes]'); return i && i.naturalWidth > 0;"
        ),
        "the first keyframe",
    )
    until(browser, lambda d: media_state(d, 'video[data-image="result"]'), "the i2v result video")
    assert not browser.find_elements("css selector", 'video[data-image="keyframes"]')


def test_an_image_task_page_is_unchanged(browser, fake):
    url = fake["server"].url
    with httpx.Client(base_url=url, headers={"x-key": "ui-test-key"}, timeout=30) as c:  # (an earlier test resets)
        task = c.post("/v1/flux-dev", json={"prompt": "an image task", "width": 512, "height": 512}).json()
        assert [c.get(task["polling_url"]).json()["status"] for _ in range(2)][-1] == "Ready"  # polls:2
    browser.get(f"{url}/_mock/ui#/task/{task['id']}")
    until(browser, lambda d: rendered(d, 'img[data-image="result"]') > 0, "the image result")
    assert browser.find_element("css selector", "#main h3").text == "Images"
    assert not browser.find_elements("css selector", "video, audio")
    files = [r.get_attribute("data-file") for r in browser.find_elements("css selector", "#files tr[data-file]")]
    assert files == ["sample"]
    media = browser.find_element("css selector", 'tr[data-file="sample"] td:nth-child(2)').text
    assert media == "image/jpeg"  # the task's output_format, as its signed URL states
    assert "se=" in browser.find_element("id", "sample").text


# ------------------------------------------------------------------------------------------------ Shadow page
class _Planted:
    """A stand-in upstream: a served fake that differs in one planted way (the answer to a submit whose prompt
    says ``plant-region`` has one more key, ``region``, than the fake predicts)."""

    def __init__(self, mock: BflMock) -> None:
        from mock_server.frontends.asgi import create_app

        self.app = create_app(mock, close_on_shutdown=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            m = await receive()
            body, more = body + m.get("body", b""), m.get("more_body", False)
        sent = False

        async def again():
            nonlocal sent
            if sent:  # the body once, then (as a server would) nothing more
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        answer = {"body": b""}

        async def keep(message):
            if message["type"] == "http.response.start":
                answer["start"] = message
            else:
                answer["body"] += message.get("body", b"")

        await self.app(scope, again, keep)
        out, start = answer["body"], answer["start"]
        if b"plant-region" in body and start["status"] == 200:
            out = json.dumps({**json.loads(out), "region": "eu4"}).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(out)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": out})


def test_the_shadow_page_shows_each_divergence_with_its_evidence(browser):
    from mock_server.frontends.server import ThreadedServer
    from mock_server.shadow.app import ShadowApp
    from mock_server.shadow.forward import Upstream, UpstreamOptions
    from mock_server.shadow.rules import BEHAVIOURS

    real = BflMock(progression="polls:1", seed=1)
    predicting = BflMock(progression="manual", seed=2)
    with ThreadedServer(_Planted(real)) as upstream:
        shadow = ShadowApp(Upstream(UpstreamOptions(upstream.url, allow=("loopback",), timeout=30)), predicting)
        try:
            with ThreadedServer(shadow) as server, httpx.Client(base_url=server.url, timeout=60) as c:
                c.headers["x-key"] = "app-key"
                agreed = c.post("/v1/flux-pro-1.1", json={"prompt": "a red cube"})
                planted = c.post("/v1/flux-pro-1.1", json={"prompt": "plant-region, please"})
                assert agreed.status_code == 200 and planted.json()["region"] == "eu4"  # the app gets the real answers
                assert shadow.drain(60)
                browser.get(server.url + "/_mock/ui#/shadow")
                until(browser, lambda d: d.find_elements("css selector", 'nav a[data-page="shadow"]'), "the nav link")
                item = until(browser, lambda d: d.find_element("css selector", ".shadow-divergence"), "a divergence")
                assert len(browser.find_elements("css selector", ".shadow-divergence")) == 1
                assert item.get_attribute("data-behaviour") == "submit"
                act(browser, ".shadow-divergence summary", "open the divergence", click=True)
                text = until(
                    browser,
                    lambda d: d.execute_script(
                        "const e = document.querySelector('.shadow-divergence');"
                        "return e && e.open ? e.innerText : null;"
                    ),
                    "the divergence, opened",
                )
                assert "response key region is sent by the upstream, not predicted" in text
                assert f"evidence {BEHAVIOURS['submit'].evidence}" in text
                assert "1 divergence," in browser.find_element("id", "shadow-summary").text
                parts = browser.execute_script(
                    "return Object.fromEntries([...document.querySelectorAll('.shadow-divergence [data-part]')]"
                    ".map((e) => [e.dataset.part, e.innerText]))"
                )
                assert parts["request"].startswith("POST ") and "/v1/flux-pro-1.1" in parts["request"]
                assert "plant-region, please" in parts["request"]
                assert parts["real"].startswith("HTTP 200") and '"region": "eu4"' in parts["real"]
                assert parts["predicted"].startswith("HTTP 200") and "region" not in parts["predicted"]
                assert '"polling_url"' in parts["predicted"]
                assert "app-key" not in text
                # it stays open across the page's live refresh
                at = browser.execute_script("return window.bflMockRendered.at")
                until(browser, lambda d: d.execute_script("return window.bflMockRendered.at") > at, "a re-render")
                assert browser.execute_script("return document.querySelector('.shadow-divergence').open")
                shot(browser, "shadow")
        finally:
            shadow.close()
            predicting.close()
            real.close()
