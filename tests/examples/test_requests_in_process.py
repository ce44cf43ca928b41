"""requests and aiohttp against BFL's real host name, answered in-process by ``bfl_mock`` (no server, no
network): the code under test keeps its hard-coded ``https://api.bfl.ai``."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import requests

API = "https://api.bfl.ai"


def generate(session: requests.Session, prompt: str) -> str:  # code under test: submit, poll, return the URL
    r = session.post(f"{API}/v1/flux-pro-1.1", json={"prompt": prompt, "width": 512, "height": 512})
    r.raise_for_status()
    while (res := session.get(r.json()["polling_url"]).json())["status"] == "Pending":
        pass
    if res["status"] != "Ready":
        raise RuntimeError(res["status"])
    return str(res["result"]["sample"])


def test_requests_generate_and_download(bfl_mock):
    with requests.Session() as s:
        s.headers["x-key"] = "my-key"
        url = generate(s, "a red cube")
        image = s.get(url)
    assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"
    assert [e.path for e in bfl_mock.requests][:3] == ["/v1/flux-pro-1.1", "/v1/get_result", "/v1/get_result"]


def test_requests_sees_the_fakes_errors(bfl_mock):
    bfl_mock.set_credits("my-key", 0)
    with requests.Session() as s:
        s.headers["x-key"] = "my-key"
        with pytest.raises(requests.HTTPError, match="402"):
            generate(s, "a red cube")


def test_aiohttp_moderated(bfl_mock):
    bfl_mock.add_rule({"prompt_contains": "forbidden"}, {"status": "Request Moderated"})

    async def main() -> str:
        async with aiohttp.ClientSession(headers={"x-key": "my-key"}) as s:
            async with s.post(f"{API}/v1/flux-pro-1.1", json={"prompt": "something forbidden"}) as r:
                polling_url = (await r.json())["polling_url"]
            while True:
                async with s.get(polling_url) as r:
                    status = str((await r.json())["status"])
                if status != "Pending":
                    return status

    assert asyncio.run(main()) == "Request Moderated"
