"""Where image work runs changes nothing it decides: small inputs are checked on the request's thread
(``inline_check_bytes``, ``inline_check_pixels``), the rest on the render pool, and a caller that would only
wait for a queued job runs it itself (``Job.run_here``). Same outcomes, same bytes, either way."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import io
import threading

import httpx
import pytest
from bfl_helpers import BASE, SUBMIT, b64_file, body, small_control
from PIL import Image

from mock_server.core.media import Job
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


def fake(**settings):
    mock = BflMock(frozen_clock=True, seed=3, progression="polls:1", **settings)
    return mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"})


def run(control: str, **settings) -> tuple[dict, object, bytes | None, str | None]:
    """Submit, look at the task's image job, poll once, download: (poll answer, job, result bytes, error)."""
    mock, c = fake(**settings)
    with mock, c:
        tid = c.post(SUBMIT, json=body(control_image=control, seed=5)).json()["id"]
        job = mock.task(tid).image_job
        done = c.get(f"/v1/get_result?id={tid}").json()
        data = c.get(done["result"]["sample"]).content if done["status"] == "Ready" else None
        return done, job, data, mock.task(tid).image_error


def png_b64(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("L", (width, height), 90).save(buf, "PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


def test_a_small_input_is_checked_at_submit_and_gives_the_pools_bytes():
    inline, job, data, _ = run(small_control(64))
    assert job is not None and job.done() and not isinstance(job, Job)  # decided before the submit answered
    pooled, pool_job, pool_data, _ = run(small_control(64), inline_check_bytes=0)
    assert isinstance(pool_job, Job)
    assert inline["status"] == pooled["status"] == "Ready"
    assert data is not None and data == pool_data  # byte-identical result


def test_a_broken_small_input_ends_the_same_way_inline_and_on_the_pool():
    broken = base64.b64encode(base64.b64decode(small_control(64))[:-30]).decode()  # truncated PNG
    inline, _, _, why = run(broken)
    pooled, _, _, pool_why = run(broken, inline_check_bytes=0)
    assert inline["status"] == pooled["status"] == "Error"
    assert inline["details"] == pooled["details"] and why == pool_why and why


@pytest.mark.parametrize(
    ("control", "settings"),
    [
        (png_b64(1200, 1000), {}),  # a few KB, but 1.2 MP: over inline_check_pixels, decoded on the pool
        (small_control(64), {"lazy_render": False}),  # the render comes with the check: never inline
        (small_control(64), {"inline_check_bytes": 100}),  # over the byte limit
        (b64_file("camera.png"), {}),  # a photo of some 100 KB
    ],
    ids=["many-pixels", "eager-render", "byte-limit", "photo"],
)
def test_larger_inputs_go_to_the_render_pool(control, settings):
    done, job, data, _ = run(control, **settings)
    assert done["status"] == "Ready" and data
    assert isinstance(job, Job) or settings.get("lazy_render") is False


def test_an_image_url_is_never_fetched_on_the_requests_thread():
    mock, c = fake(webhook_allow="loopback")
    with mock, c:
        tid = c.post(SUBMIT, json=body(control_image="http://127.0.0.1:9/x.png")).json()["id"]
        job = mock.task(tid).image_job
        assert not isinstance(job, Job) and job is not None  # the fetch pool's, then the render pool's
        job.exception(10)  # refused or unreachable: a failed check, not a hang
        assert c.get(f"/v1/get_result?id={tid}").json()["status"] == "Error"


def test_flux3_video_inputs_other_than_text_are_checked_on_the_pool():
    from mock_server.core.endpoints import family as families
    from mock_server.core.endpoints.registry import ENDPOINTS

    video = next(e.family for e in ENDPOINTS if e.name == "flux-3-video")
    upscale = next(e.family for e in ENDPOINTS if e.family.name == "video-upscale")
    assert families.checks_inline(video, {"mode": "t2v"})
    assert not families.checks_inline(video, {"mode": "i2v"}) and not families.checks_inline(upscale, {})
    canny = next(e.family for e in ENDPOINTS if e.family.name == "canny")
    assert families.checks_inline(canny, {})  # the default (FamilyBase's)


def test_a_job_runs_once_whoever_gets_to_it_first():
    calls = []
    job = Job(lambda: calls.append(threading.current_thread().name) or len(calls))
    job.run_here()
    job.run_here()  # already done: nothing
    assert job.result(0) == 1 and calls == [threading.current_thread().name]
    with cf.ThreadPoolExecutor(1) as pool:
        gate = threading.Event()
        pool.submit(gate.wait, 10)  # the pool's one thread is busy
        queued = Job(lambda: threading.current_thread().name)
        pool.submit(queued.run_here)
        queued.run_here()  # the waiting caller runs it: no hand-off
        gate.set()
    assert queued.result(0) == threading.current_thread().name


def test_a_job_still_queued_when_the_pool_shuts_down_is_cancelled():
    pool = cf.ThreadPoolExecutor(1)
    gate = threading.Event()
    pool.submit(gate.wait, 10)
    job = Job(lambda: "never")
    queued = pool.submit(job.run_here)
    queued.add_done_callback(job.dropped)
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert job.cancelled()  # a waiter sees CancelledError, never waits forever


def test_an_error_in_a_job_run_here_reaches_its_waiter():
    job = Job(lambda: 1 / 0)
    job.run_here()
    with pytest.raises(ZeroDivisionError):
        job.result(0)


def test_the_inline_pixel_budget_is_for_all_of_a_checks_images():
    from mock_server.core import imaging

    one = base64.b64decode(png_b64(250, 250))  # 62,500 pixels each
    with imaging.limits(100, inline_pixels=100_000):
        assert imaging.validate(one, 10**8) == (250, 250)
        with pytest.raises(imaging.Offload):  # the second takes the check past 100,000
            imaging.validate(one, 10**8)
    with imaging.limits(100, inline_pixels=100_000):  # a new check, a new budget
        assert imaging.validate(one, 10**8) == (250, 250)
    assert imaging.validate(one, 10**8) == (250, 250)  # outside a check: no budget


def test_a_flux2_edit_whose_images_together_are_too_many_pixels_goes_to_the_pool():
    mock, c = fake(inline_check_pixels=100_000)
    with mock, c:
        img = png_b64(250, 250)
        alone = c.post("/v1/flux-2-pro", json={"prompt": "p", "input_image": img}).json()["id"]
        both = c.post("/v1/flux-2-pro", json={"prompt": "p", "input_image": img, "input_image_2": img}).json()["id"]
        assert not isinstance(mock.task(alone).image_job, Job) and isinstance(mock.task(both).image_job, Job)
        for tid in (alone, both):
            assert c.get(f"/v1/get_result?id={tid}").json()["status"] == "Ready"
