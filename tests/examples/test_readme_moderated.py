"""The README's "Testing your app with bfl-mock" example, verbatim apart from the control image."""

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

_arr = np.full((64, 64, 3), 235, np.uint8)
_arr[16:48, 16:48] = 25
_buf = io.BytesIO()
Image.fromarray(_arr).save(_buf, "PNG")
CONTROL_B64 = base64.b64encode(_buf.getvalue()).decode()


def generate(client, prompt):  # your code under test
    r = client.post(
        "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned",
        headers={"x-key": "my-key"},
        json={"finetune_id": "my-finetune", "prompt": prompt, "control_image": CONTROL_B64},
    )
    while (res := client.get(r.json()["polling_url"]).json())["status"] == "Pending":
        pass  # tests default to polls:2 -- no sleeping needed
    return res


@pytest.mark.bfl_mock(seed=1)
def test_moderated_prompt_is_reported(bfl_mock):
    bfl_mock.add_rule({"prompt_contains": "nsfw"}, {"status": "Request Moderated"})
    res = generate(httpx.Client(), "something nsfw")
    assert res["status"] == "Request Moderated"
    assert res["details"] == {"Moderation Reasons": ["Safety Filter"]}


def test_ready_without_rules(bfl_mock):
    res = generate(httpx.Client(), "a red cube")
    assert res["status"] == "Ready" and res["result"]["sample"].startswith("https://delivery-us1.bfl.ai/results/")
