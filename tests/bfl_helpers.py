"""Helpers shared by the tests (import from here, not from conftest)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "fixtures" / "images"
SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"
BASE = "https://api.us1.bfl.ai"


def b64_file(name: str) -> str:
    return base64.b64encode((IMAGES / name).read_bytes()).decode()


def b64_image(arr: np.ndarray, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def small_control(size: int = 64) -> str:
    """A real (synthetic but structured) 64x64 control image: a dark square on a light ground."""
    arr = np.full((size, size, 3), 235, dtype=np.uint8)
    arr[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 25
    return b64_image(arr)


def body(**overrides) -> dict:
    out = {"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": small_control()}
    out.update(overrides)
    return out


def submit(client: httpx.Client, **overrides) -> dict:
    r = client.post(SUBMIT, json=body(**overrides))
    assert r.status_code == 200, r.text
    return r.json()


def poll_until_done(client: httpx.Client, task_id: str, limit: int = 50) -> list[dict]:
    seen = []
    for _ in range(limit):
        r = client.get("/v1/get_result", params={"id": task_id})
        seen.append(r.json())
        if r.json()["status"] != "Pending":
            return seen
    raise AssertionError(f"task {task_id} still Pending after {limit} polls")
