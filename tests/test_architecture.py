"""The architecture holds (issue 13): layers with one direction of dependency, and a new endpoint is data.

* The import graph of ``mock_server`` has no cycle and no upward import: core <- webhooks <- scheduler <-
  http <- frontends <- the façade, plugin, CLI and contract kit on top.
* A toy second endpoint (an inline schema, one registry row, a small family, all defined in this file)
  gets validation, the lifecycle, downloads, webhooks, rules and OpenAPI without touching the package.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mock_server.core.endpoints import ENDPOINTS, Endpoint, Rendered
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock
from mock_server.testing import WebhookReceiver

PACKAGE = Path(__file__).resolve().parent.parent / "mock_server"
LAYERS = [  # lowest first: a module may import only from its own layer or the ones before it
    ("core", {"core"}),
    ("webhooks", {"webhooks"}),
    ("scheduler", {"scheduler"}),
    ("http", {"http"}),
    ("frontends", {"frontends"}),
    ("tls", {"tls"}),
    ("top", {"mock", "plugin", "cli", "contract", "configfile", "testing", "__init__", "__main__", "shadow"}),
]


def layer_of(module: str) -> int:
    first = module.split(".")[1] if "." in module else "__init__"
    for i, (_, names) in enumerate(LAYERS):
        if first in names:
            return i
    raise AssertionError(f"{module} is in no layer")


def imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mock_server"):
                base = node.module
                deps |= {f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("mock_server")}
        graph[module] = {d for d in deps if d != module}
    return graph


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def test_no_upward_imports():
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
        for m, deps in imports().items()
        for d in deps
        if d != "mock_server" and layer_of(d) > layer_of(m)
    ]
    assert upward == []


def test_no_import_cycles():
    graph = imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_importing_the_package_changes_nothing_process_wide():
    code = (
        "import cv2, PIL.Image; threads, pixels = cv2.getNumThreads(), PIL.Image.MAX_IMAGE_PIXELS\n"
        "import mock_server.plugin, mock_server.mock, mock_server.cli, mock_server.core.imaging\n"
        "assert (cv2.getNumThreads(), PIL.Image.MAX_IMAGE_PIXELS) == (threads, pixels)"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------------------------- a toy endpoint
TOY_SCHEMA: dict[str, Any] = {
    "title": "ToySolidInputs",
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "title": "Prompt"},
        "width": {"type": "integer", "minimum": 16, "maximum": 512, "default": 64, "title": "Width"},
        "height": {"type": "integer", "minimum": 16, "maximum": 512, "default": 32, "title": "Height"},
        "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "Seed"},
        "output_format": {"anyOf": [{"enum": ["jpeg", "png"], "type": "string"}, {"type": "null"}], "default": "png"},
        "webhook_url": {
            "anyOf": [{"type": "string", "format": "uri", "maxLength": 2083, "minLength": 1}, {"type": "null"}],
            "title": "Webhook Url",
        },
        "webhook_secret": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Webhook Secret"},
    },
}


class SolidFamily:
    """A text-to-image family: a solid colour (from the seed) of the requested size."""

    name = "solid"
    image_fields: tuple[str, ...] = ()

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        return (params["width"], params["height"]), 0

    def check(self, inputs: Any, *, max_pixels: int, fetch: Any) -> tuple[Any, int]:
        return inputs, 16

    def render(self, checked: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        return Rendered(self.rerender(checked, seed=seed, output_format=output_format, jpeg_quality=0), checked, 16)

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", intermediate, (seed % 256, 80, 160)).save(buf, "PNG" if output_format == "png" else "JPEG")
        return buf.getvalue()


TOY = Endpoint(name="toy-solid-1.0", schema=TOY_SCHEMA, family=SolidFamily(), summary="A toy endpoint", price=2)


@pytest.fixture
def toy():
    mock = BflMock(
        endpoints=[*ENDPOINTS, TOY], frozen_clock=True, progression="polls:2", seed=5, webhook_allow=("loopback",)
    )
    with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.us1.bfl.ai") as client:
        client.headers["x-key"] = "toy-key"
        yield mock, client


def test_a_toy_endpoint_validates_like_fastapi(toy):
    _, c = toy
    r = c.post("/v1/toy-solid-1.0", json={"prompt": "x", "width": 8})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "type": "greater_than_equal",
            "loc": ["body", "width"],
            "msg": "Input should be greater than or equal to 16",
            "input": 8,
            "ctx": {"ge": 16},
        }
    ]
    assert c.post("/v1/toy-solid-1.0", json={}).json()["detail"][0]["loc"] == ["body", "prompt"]


def test_a_toy_endpoint_has_the_lifecycle_prices_and_downloads(toy):
    mock, c = toy
    r = c.post("/v1/toy-solid-1.0", json={"prompt": "a toy", "width": 96, "height": 48, "seed": 7})
    assert r.status_code == 200, r.text
    polls = [c.get(r.json()["polling_url"]).json() for _ in range(2)]
    assert [p["status"] for p in polls] == ["Pending", "Ready"]
    image = Image.open(io.BytesIO(c.get(polls[-1]["result"]["sample"]).content))
    assert image.size == (96, 48) and image.getpixel((0, 0)) == (7, 80, 160)
    assert mock.credits("toy-key") == mock.settings.credits - 2  # the row's price
    assert mock.task(r.json()["id"]).summary()["endpoint"] == "toy-solid-1.0"


def test_rules_match_on_the_endpoint(toy):
    mock, c = toy
    mock.add_rule({"endpoint": "toy-solid-1.0"}, {"status": "Error", "error": "toys break"})
    toy_id = c.post("/v1/toy-solid-1.0", json={"prompt": "p"}).json()["id"]
    canny = {"finetune_id": "my-finetune", "prompt": "p", "control_image": "aGVsbG8="}
    canny_id = c.post("/v1/flux-pro-1.0-canny-finetuned", json=canny).json()["id"]
    for tid in (toy_id, canny_id):
        c.get(f"/v1/get_result?id={tid}")
    assert c.get(f"/v1/get_result?id={toy_id}").json()["details"] == {"error": "toys break"}
    assert c.get(f"/v1/get_result?id={canny_id}").json()["details"] != {"error": "toys break"}


def test_a_toy_endpoint_sends_webhooks(toy):
    mock, c = toy
    with WebhookReceiver() as receiver:
        tid = c.post("/v1/toy-solid-1.0", json={"prompt": "p", "webhook_url": receiver.url + "/hook"}).json()["id"]
        assert mock.webhooks.wait_for(tid).state == "delivered"
    assert receiver.received[0].json["task_id"] == tid and receiver.received[0].json["status"] == "SUCCESS"


def test_a_toy_endpoint_is_in_the_openapi_document(toy):
    _, c = toy
    spec = c.get("/openapi.json").json()
    op = spec["paths"]["/v1/toy-solid-1.0"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ToySolidInputs"}
    assert spec["components"]["schemas"]["ToySolidInputs"]["properties"]["width"]["maximum"] == 512
    assert op["operationId"] == "toy_solid_1_0_v1_toy_solid_1_0_post"
