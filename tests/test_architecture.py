"""The architecture holds (issue 13): layers with one direction of dependency, and a new endpoint is data.

* The import graph of ``mock_server`` has no cycle and no upward import: core <- webhooks <- scheduler <-
  http <- frontends <- the façade, plugin, CLI and contract kit on top.
* A toy second endpoint (an inline schema, one registry row, a small family, all defined in this file)
  gets validation, the lifecycle, downloads, webhooks, rules and OpenAPI without touching the package.
* A toy family whose result is no image (a WAV tone and a JSON envelope beside it, defined in this file)
  gets signed links with its media types and extensions, ``Range`` downloads and the dashboard's player.
* A family's fields are its own: no module outside a family's modules names them.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mock_server.core.endpoints import ENDPOINTS, Artefact, Endpoint, Rendered
from mock_server.core.endpoints import family as families
from mock_server.core.schemas import load_request_schema
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


# ---------------------------------------------------------------------------------------------- a toy family
TONE_SCHEMA: dict[str, Any] = {
    "title": "ToyToneInputs",
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "title": "Prompt"},
        "duration_ms": {"type": "integer", "minimum": 10, "maximum": 2000, "default": 250, "title": "Duration Ms"},
        "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "Seed"},
    },
}
RATE = 8000


@dataclass(frozen=True)
class Tone:
    prompt: str
    duration_ms: int


class ToneFamily:
    """A family whose result is sound, not an image: a sine tone (its pitch from the seed) as a WAV ``sample``,
    and an ``envelope`` (JSON) beside it, derived from the same kept intermediate."""

    name = "tone"
    image_fields: tuple[str, ...] = ()

    def artefacts(self, output_format: str) -> tuple[Artefact, ...]:
        return Artefact.of("sample", "audio/wav"), Artefact.of("envelope", "application/json")

    def render_inputs(self, params: dict[str, Any]) -> tuple[Tone, int]:
        return Tone(params["prompt"], params.get("duration_ms") or 250), 0

    def check(self, inputs: Tone, *, max_pixels: int, fetch: Any) -> tuple[Tone, int]:
        return inputs, 32

    def render(
        self, checked: Tone, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[Tone]:
        return Rendered(self.rerender(checked, seed=seed, output_format=output_format, jpeg_quality=0), checked, 32)

    def rerender(self, intermediate: Tone, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        frames = RATE * intermediate.duration_ms // 1000
        pitch = 220 + seed % 220
        pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * i / RATE))) for i in range(frames))
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm)
        return buf.getvalue()

    def artefact(self, name: str, intermediate: Tone, *, seed: int, output_format: str) -> bytes:
        assert name == "envelope"
        envelope = {"prompt": intermediate.prompt, "pitch_hz": 220 + seed % 220, "ms": intermediate.duration_ms}
        return json.dumps(envelope).encode()


TONE = Endpoint(name="toy-tone-1.0", schema=TONE_SCHEMA, family=ToneFamily(), summary="A toy sound endpoint", price=1)


@pytest.fixture
def tone():
    mock = BflMock(endpoints=[*ENDPOINTS, TONE], frozen_clock=True, progression="polls:1", seed=3)
    with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.us1.bfl.ai") as client:
        client.headers["x-key"] = "tone-key"
        yield mock, client


def test_a_toy_family_delivers_non_image_media_with_its_types_and_extensions(tone):
    mock, c = tone
    r = c.post("/v1/toy-tone-1.0", json={"prompt": "la", "duration_ms": 100, "seed": 20})
    assert r.status_code == 200, r.text
    done = c.get(r.json()["polling_url"]).json()
    assert done["status"] == "Ready"
    sample, envelope = httpx.URL(done["result"]["sample"]), httpx.URL(done["result"]["envelope"])
    assert sample.path.endswith("/sample.wav") and sample.params["rsct"] == "audio/wav"
    assert envelope.path.endswith("/envelope.json") and envelope.params["rsct"] == "application/json"
    assert envelope.path.rpartition("/")[0] == sample.path.rpartition("/")[0]  # beside it, in the same folder
    assert mock.task(r.json()["id"]).events[-1][1] != "rendered"  # lazy: nothing rendered before a download

    got = c.get(str(envelope))  # any artefact's first download renders
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert got.json() == {"prompt": "la", "pitch_hz": 240, "ms": 100}
    audio = c.get(str(sample))
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as w:
        assert (w.getframerate(), w.getnframes()) == (RATE, 800)
    assert audio.headers["etag"] != got.headers["etag"] and audio.headers["content-md5"] != got.headers["content-md5"]

    part = c.get(str(sample), headers={"range": "bytes=0-43"})  # a player asks for parts
    assert part.status_code == 206 and part.content == audio.content[:44] and part.content.startswith(b"RIFF")
    assert part.headers["content-range"] == f"bytes 0-43/{len(audio.content)}"


def test_a_toy_family_shows_in_the_dashboard_by_its_media_type(tone):
    _, c = tone
    tid = c.post("/v1/toy-tone-1.0", json={"prompt": "la", "seed": 1}).json()["id"]
    assert c.get(f"/v1/get_result?id={tid}").json()["status"] == "Ready"
    assert c.get(f"/_mock/tasks/{tid}").json()["previews"] == [
        {"name": "result", "caption": "result", "media_type": "audio/wav"}
    ]
    shown = c.get(f"/_mock/tasks/{tid}/images/result")
    assert shown.status_code == 200 and shown.headers["content-type"] == "audio/wav"
    assert shown.content.startswith(b"RIFF")  # the sound itself, for the dashboard's player


def test_the_dashboard_names_no_endpoint_and_no_field():
    """ui/app.js picks images and players by the media types the server lists, never by endpoint or field."""
    script = (PACKAGE / "ui" / "app.js").read_text()
    named = {ep.name for ep in ENDPOINTS} | {f for fields in owned_fields().values() for f in fields}
    assert sorted(n for n in named if f'"{n}"' in script or f"'{n}'" in script or f"/{n}" in script) == []


# ---------------------------------------------------------------------------------------------- fields are owned
def family_modules(family: Any) -> set[str]:
    """The modules a family is written in: its class's and its bases' inside the endpoints package."""
    return {
        c.__module__
        for c in type(family).__mro__
        if c.__module__.startswith("mock_server.core.endpoints.") and c.__module__ != families.__name__
    }


# FLUX 3 video's ``duration`` and ``version`` are also a result's key and the package's version: not owned
COMMON_WORDS = {"duration", "version"}


def owned_fields() -> dict[str, set[str]]:
    """Each family-owned request field -> the modules allowed to name it: a family's image fields, its own
    previews, and the fields of its endpoints' schemas that no other family's endpoints have."""
    by_field: dict[str, set[Any]] = {}
    for ep in ENDPOINTS:
        schema = ep.schema if isinstance(ep.schema, dict) else load_request_schema(ep.schema)
        members = [schema["$defs"][m["$ref"].rsplit("/", 1)[-1]] for m in schema.get("oneOf", [])]  # a union's
        for f in [f for s in (schema, *members) for f in s.get("properties", {})]:
            by_field.setdefault(f, set()).add(type(ep.family))
    owned: dict[str, set[str]] = {}
    for ep in ENDPOINTS:
        fam = ep.family
        shown = families.previews(fam, {f: "x" for f in fam.image_fields})
        for f in (*fam.image_fields, *(p.name for p in shown)):
            owned.setdefault(f, set()).update(family_modules(fam))
    for f, kinds in by_field.items():
        if len(kinds) == 1 and f not in owned and f not in COMMON_WORDS:
            (kind,) = kinds
            owned[f] = {m for ep in ENDPOINTS if type(ep.family) is kind for m in family_modules(ep.family)}
    return owned


def named_strings(tree: ast.AST) -> list[ast.Constant]:
    """The string constants of a module that could name a field: not docstrings, not the names of exports
    (``__all__``, lazy-import tables) and not command-line argument names."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip |= {id(n) for n in ast.walk(node.value)}
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(v, ast.Constant) and str(v.value).startswith("mock_server."):
                    skip.add(id(k))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            skip |= {id(a) for a in node.args}
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


# Pending: the contract kit's example body skips text to image's image_prompt by name; it becomes
# ``families.main_input(endpoint.family)`` with the contract kit's move into a package.
PENDING = {("mock_server.contract", "image_prompt")}


def test_no_module_outside_a_family_names_its_fields():
    owned = owned_fields()
    assert {"control_image", "canny_low_threshold", "edges", "mask", "top", "input_image_8"} <= set(owned)
    leaks = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in named_strings(ast.parse(path.read_text())):
            allowed = owned.get(node.value)
            if allowed is not None and module not in allowed:
                leaks.append((module, node.value, node.lineno))
    pending = [leak for leak in leaks if any(leak[0].startswith(m) and leak[1] == f for m, f in PENDING)]
    assert [leak for leak in leaks if leak not in pending] == []


def test_the_toy_families_are_typed_as_families():
    """The toy families satisfy the protocol's required members; the optional ones read through defaults."""
    for fam in (SolidFamily(), ToneFamily()):
        for member in ("name", "image_fields", "render_inputs", "check", "render", "rerender"):
            assert hasattr(fam, member), member
    assert families.output_media_type(SolidFamily(), "png") == "image/png"
    assert families.output_media_type(ToneFamily(), "png") == "audio/wav"
    assert families.main_input(SolidFamily()) is None and families.size_rule(SolidFamily()) == ""
    assert inspect.signature(ToneFamily.render).return_annotation == "Rendered[Tone]"


def test_the_core_stays_small_enough_to_read():
    """The orchestrator under ~400 lines and no function in ``core/`` over ~60: a newcomer reads each whole.
    (Measured by the AST: a function's lines from its ``def`` to its last statement, docstring included.)"""
    core = PACKAGE / "core"
    assert len((core / "backend.py").read_text().splitlines()) <= 400
    long = []
    for path in sorted(core.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > 60:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({size} lines)")
    assert not long, long
