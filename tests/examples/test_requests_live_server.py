"""`requests` (or any language) against a live fake on a loopback port."""

import requests


def test_requests_client(bfl_server, control_b64):
    s = requests.Session()
    s.headers["x-key"] = "my-key"
    r = s.post(
        bfl_server.url + "/v1/flux-pro-1.0-canny-finetuned",
        json={
            "finetune_id": "my-finetune",
            "prompt": "a red cube",
            "control_image": control_b64,
            "output_format": "png",
        },
    )
    assert r.status_code == 200
    polls = [s.get(r.json()["polling_url"]).json() for _ in range(2)]
    assert [p["status"] for p in polls] == ["Pending", "Ready"]
    img = s.get(polls[-1]["result"]["sample"])
    assert img.headers["content-type"] == "image/png" and img.content[:4] == b"\x89PNG"


def test_validation_errors_are_the_real_ones(bfl_server):
    r = requests.post(
        bfl_server.url + "/v1/flux-pro-1.0-canny-finetuned", json={"prompt": 1}, headers={"x-key": "my-key"}
    )
    assert r.status_code == 422
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [
        ("missing", ["body", "finetune_id"]),
        ("string_type", ["body", "prompt"]),
        ("missing", ["body", "control_image"]),
    ]
