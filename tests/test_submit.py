"""The front door: validation, auth and errors answer like FastAPI + pydantic v2 (issue 2)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from bfl_helpers import BASE, SUBMIT, body

from mock_server.core.schemas import load_schema, schema_dir
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


def post(client, content, ctype="application/json", **headers):
    h = {"content-type": ctype} if ctype else {}
    h.update(headers)
    return client.post(SUBMIT, content=content, headers=h)


def test_success_body_and_polling_url(client):
    r = client.post(SUBMIT, json=body())
    assert r.status_code == 200
    data = r.json()
    assert list(data) == ["id", "polling_url"]
    assert uuid.UUID(data["id"]).version == 4
    assert data["polling_url"] == f"{BASE}/v1/get_result?id={data['id']}"
    assert r.headers["content-type"] == "application/json"
    assert "x-request-id" not in r.headers


def test_webhook_submit_answers_async_webhook_response_with_normalised_url(client):
    r = client.post(SUBMIT, json=body(webhook_url="http://127.0.0.1:9"))
    assert r.status_code == 200
    data = r.json()
    assert list(data) == ["id", "status", "webhook_url"]
    assert data["status"] == "Pending"
    assert data["webhook_url"] == "http://127.0.0.1:9/"


def test_polling_url_follows_the_origin_the_client_used(fake):
    with httpx.Client(transport=BflTransport(fake), base_url="http://localhost:4321") as c:
        r = c.post(SUBMIT, json=body(), headers={"x-key": "k"})
    assert r.json()["polling_url"].startswith("http://localhost:4321/v1/get_result?id=")


def test_public_url_overrides_origin():
    with (
        BflMock(public_url="https://bfl.example.test", frozen_clock=True) as m,
        httpx.Client(transport=BflTransport(m), base_url="http://127.0.0.1:1") as c,
    ):
        r = c.post(SUBMIT, json=body(), headers={"x-key": "k"})
    assert r.json()["polling_url"].startswith("https://bfl.example.test/v1/get_result?id=")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]),
        (
            b"{",
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", 1],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": "Expecting property name enclosed in double quotes"},
                }
            ],
        ),
        (
            b"[1,2]",
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": [1, 2],
                }
            ],
        ),
        (
            b"{}",
            [
                {"type": "missing", "loc": ["body", f], "msg": "Field required", "input": {}}
                for f in ("finetune_id", "prompt", "control_image")
            ],
        ),
    ],
)
def test_structural_errors(client, content, expected):
    r = post(client, content)
    assert r.status_code == 422
    assert r.json() == {"detail": expected}


def test_field_errors_in_published_field_order(client):
    bad = body(
        finetune_id=1,
        finetune_strength="3",
        steps=3.5,
        output_format="gif",
        guidance=0,
        safety_tolerance=7,
        webhook_url="ftp://x",
        canny_low_threshold=-1,
    )
    r = client.post(SUBMIT, json=bad)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [e["loc"][1] for e in detail] == [
        "finetune_id",
        "finetune_strength",
        "canny_low_threshold",
        "steps",
        "output_format",
        "guidance",
        "safety_tolerance",
        "webhook_url",
    ]
    by = {e["loc"][1]: e for e in detail}
    assert by["finetune_strength"] == {
        "type": "less_than_equal",
        "loc": ["body", "finetune_strength"],
        "msg": "Input should be less than or equal to 2",
        "input": "3",
        "ctx": {"le": 2.0},
    }
    assert by["output_format"]["ctx"] == {"expected": "'jpeg' or 'png'"}
    assert by["webhook_url"]["type"] == "url_scheme"
    assert by["steps"]["type"] == "int_from_float"


def test_lax_coercions_are_accepted(fake, client):
    r = client.post(SUBMIT, json=body(steps="20", seed=3.0, prompt_upsampling="yes", guidance="2.5"))
    assert r.status_code == 200, r.text
    task = fake.task(r.json()["id"])
    assert task.params["steps"] == 20 and task.seed == 3 and task.params["prompt_upsampling"] is True


def test_extra_fields_are_ignored(client):
    assert client.post(SUBMIT, json=body(width=1024, unknown={"x": 1})).status_code == 200


def test_non_finite_numbers_get_422_not_500(client):
    r = post(client, b'{"finetune_id":"a","prompt":"b","control_image":"c","finetune_strength":NaN,"seed":1e400}')
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [e["type"] for e in detail] == ["less_than_equal", "finite_number"]
    assert detail[0]["input"] is None  # the real service crashes rendering NaN; the fake echoes null


def test_invalid_utf8_json_is_400_like_fastapi(client):
    r = post(client, b'{"prompt": "\xff"}')
    assert r.status_code == 400
    assert r.json() == {"detail": "There was an error parsing the body"}


def test_body_without_json_content_type_is_not_parsed(client):
    r = post(client, json.dumps(body()).encode(), ctype="text/plain")
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "model_attributes_type"
    assert post(client, json.dumps(body()).encode(), ctype="application/vnd.api+json").status_code == 200


def test_missing_key_then_invalid_key(fake):
    with httpx.Client(transport=BflTransport(fake), base_url=BASE) as c:
        r = c.post(SUBMIT, json=body())
        assert (r.status_code, r.json()) == (403, {"detail": "Not authenticated"})
        r = c.post(SUBMIT, json=body(), headers={"x-key": ""})
        assert (r.status_code, r.json()) == (403, {"detail": "Not authenticated - Invalid Authentication"})
        # FastAPI order: malformed JSON is reported before authentication, validation after it
        assert c.post(SUBMIT, content=b"{", headers={"content-type": "application/json"}).status_code == 422
        assert c.post(SUBMIT, json={}).status_code == 403


def test_api_key_restriction_and_401_option():
    with (
        BflMock(api_keys=("good",), missing_key_status=401, frozen_clock=True) as m,
        httpx.Client(transport=BflTransport(m), base_url=BASE) as c,
    ):
        assert c.post(SUBMIT, json=body(), headers={"x-key": "good"}).status_code == 200
        r = c.post(SUBMIT, json=body(), headers={"x-key": "bad"})
        assert (r.status_code, r.json()["detail"]) == (403, "Not authenticated - Invalid Authentication")
        assert c.post(SUBMIT, json=body()).status_code == 401


def test_unknown_path_wrong_method_and_trailing_slash(client):
    r = client.get("/v1/bad model")
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    r = client.get(SUBMIT)
    assert (r.status_code, r.json(), r.headers["allow"]) == (405, {"detail": "Method Not Allowed"}, "POST")
    r = client.post(SUBMIT + "/", json=body())
    assert r.status_code == 307 and r.headers["location"] == BASE + SUBMIT


def test_schema_is_the_source_of_truth(tmp_path):
    """Changing a bound in a copy of the schema changes what the fake accepts."""
    src = schema_dir()
    for f in src.glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    schema = load_schema("FinetuneCannyInputs")
    schema["properties"]["steps"]["maximum"] = 40
    schema["properties"]["webhook_url"]["anyOf"][0]["maxLength"] = 30
    (tmp_path / "FinetuneCannyInputs.json").write_text(json.dumps(schema))
    default = BflMock(frozen_clock=True)
    custom = BflMock(schema_dir=str(tmp_path), frozen_clock=True)
    try:
        for mock, steps_ok, url_ok in ((default, True, True), (custom, False, False)):
            with httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"}) as c:
                r = c.post(SUBMIT, json=body(steps=45))
                assert (r.status_code == 200) is steps_ok
                r = c.post(SUBMIT, json=body(webhook_url="http://127.0.0.1:9/" + "a" * 40))
                assert (r.status_code == 200) is url_ok
        with httpx.Client(transport=BflTransport(custom), base_url=BASE, headers={"x-key": "k"}) as c:
            err = c.post(SUBMIT, json=body(steps=45)).json()["detail"][0]
        assert err["ctx"] == {"le": 40} and err["msg"] == "Input should be less than or equal to 40"
    finally:
        default.close()
        custom.close()


def test_openapi_document_is_built_from_schemas(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    comp = doc["components"]["schemas"]
    assert list(comp["FinetuneCannyInputs"]["properties"]) == list(load_schema("FinetuneCannyInputs")["properties"])
    assert "/_mock/reset" in doc["paths"]
    assert doc["paths"]["/_mock/reset"]["post"]["tags"] == ["bfl-mock admin"]


def test_lone_surrogate_echo_is_valid_json_not_500(client):
    # Starlette would crash encoding "\ud800" into UTF-8; the fake falls back to ASCII escapes
    r = post(client, b'{"prompt": "\\ud800"}')
    assert r.status_code == 422
    assert r.content.isascii()
    detail = r.json()["detail"]
    assert [e["loc"][1] for e in detail] == ["finetune_id", "control_image"]
    assert detail[0]["input"] == {"prompt": "\ud800"}


def test_query_fast_path_matches_parse_qs():
    from urllib.parse import parse_qs

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mock_server.http.types import HttpRequest

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="id=&%+ab2;", max_size=12))
    def check(qs):
        values = parse_qs(qs, keep_blank_values=True).get("id")
        assert HttpRequest("GET", "/", qs).query("id") == (values[-1] if values else None)

    check()


def test_openapi_declares_every_path_parameter(client):
    import re

    doc = client.get("/openapi.json").json()
    for path, ops in doc["paths"].items():
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), path


def test_multiple_of_is_enforced_as_pydantic_does():
    """BFL's published FluxPro11Inputs has ``width: {multipleOf: 32.0}``: the compiled model enforces it."""
    import pydantic

    from mock_server.core.errors import ValidationFailed
    from mock_server.http.validation import build_model, validate_body

    schema = {
        "title": "Sized",
        "type": "object",
        "properties": {"width": {"type": "integer", "minimum": 256, "maximum": 1440, "multipleOf": 32.0}},
    }
    model = build_model(schema)
    assert validate_body(model, {"width": 1024}).width == 1024  # type: ignore[attr-defined]
    with pytest.raises(ValidationFailed) as info:
        validate_body(model, {"width": 1000})
    hand_written = pydantic.create_model("Sized", width=(int, pydantic.Field(None, ge=256, le=1440, multiple_of=32.0)))
    with pytest.raises(pydantic.ValidationError) as expected:
        hand_written.model_validate({"width": 1000})
    want = expected.value.errors(include_url=False)[0]
    assert info.value.errors == [
        {"type": want["type"], "loc": ["body", "width"], "msg": want["msg"], "input": 1000, "ctx": want["ctx"]}
    ]
    assert want["type"] == "multiple_of"
