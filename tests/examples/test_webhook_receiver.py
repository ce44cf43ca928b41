"""Testing your own webhook receiver: the fake calls it back like BFL would."""

import hmac

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from mock_server.frontends.server import ThreadedServer

SECRET = "whsec-test"


def make_receiver_app(store: dict) -> Starlette:  # <- your application code
    async def hook(request):
        if not hmac.compare_digest(request.headers.get("x-webhook-secret", ""), SECRET):
            return JSONResponse({"error": "bad secret"}, status_code=401)
        payload = await request.json()
        store[payload["task_id"]] = payload
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/bfl-hook", hook, methods=["POST"])])


@pytest.fixture
def receiver():
    store: dict = {}
    with ThreadedServer(make_receiver_app(store)) as server:
        server.store = store
        yield server


def submit(control, webhook_url, **headers):
    r = httpx.post(
        "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned",
        headers={"x-key": "my-key", **headers},
        json={
            "finetune_id": "my-finetune",
            "prompt": "a red cube",
            "control_image": control,
            "webhook_url": webhook_url,
            "webhook_secret": SECRET,
        },
    )
    assert r.json()["status"] == "Pending"
    return r.json()["id"]


def test_receiver_stores_finished_tasks(bfl_mock, receiver, control_b64):
    task_id = submit(control_b64, receiver.url + "/bfl-hook")
    bfl_mock.clock.advance(1)  # nobody polls: the task finishes on the fake clock
    delivery = bfl_mock.webhooks.wait_for(task_id)
    assert delivery.state == "delivered"
    assert receiver.store[task_id]["status"] == "SUCCESS"
    assert receiver.store[task_id]["result"]["sample"].startswith("https://delivery-us1.bfl.ai/results/")


def test_receiver_rejects_forged_notifications(bfl_mock, receiver, control_b64):
    task_id = submit(control_b64, receiver.url + "/bfl-hook", **{"X-Mock-Webhook-Fault": "bad-secret"})
    bfl_mock.clock.advance(1)
    delivery = bfl_mock.webhooks.wait_for(task_id)
    assert [a.status for a in delivery.attempts] == [401] and delivery.state == "failed"
    assert task_id not in receiver.store
