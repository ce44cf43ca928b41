"""An async httpx client against the in-process fake (no sockets)."""

import httpx
import pytest

URL = "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned"


async def generate(client: httpx.AsyncClient, prompt: str, control: str) -> dict:
    r = await client.post(
        URL,
        headers={"x-key": "my-key"},
        json={"finetune_id": "my-finetune", "prompt": prompt, "control_image": control},
    )
    r.raise_for_status()
    while (res := (await client.get(r.json()["polling_url"])).json())["status"] == "Pending":
        pass
    return res


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_async_generation_and_download(bfl_mock, control_b64):
    async with httpx.AsyncClient() as client:
        res = await generate(client, "a red cube", control_b64)
        image = await client.get(res["result"]["sample"])
    assert res["status"] == "Ready"
    assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"
    paths = [e.path for e in bfl_mock.requests]
    assert paths[:3] == ["/v1/flux-pro-1.0-canny-finetuned", "/v1/get_result", "/v1/get_result"]
    assert paths[3].startswith("/results/") and len(paths) == 4


@pytest.mark.anyio
@pytest.mark.bfl_mock(progression="polls:3")
async def test_async_error_path(bfl_mock, control_b64):
    bfl_mock.add_rule({"prompt_contains": "fail"}, {"status": "Error", "error": "GPU fell over"})
    async with httpx.AsyncClient() as client:
        res = await generate(client, "please fail", control_b64)
    assert res == {
        "id": res["id"],
        "status": "Error",
        "result": None,
        "progress": None,
        "details": {"error": "GPU fell over"},
        "preview": None,
    }
