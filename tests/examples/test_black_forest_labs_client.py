"""A second client library, unmodified and with no glue: PyPI ``black-forest-labs`` 1.0.0 (an unofficial
client; its default host is BFL's older ``https://api.bfl.ml``, which the plugin intercepts too). It submits
with ``generate(model, **params)``, polls ``get_result`` and parses the answers with its own pydantic models
(``Task``, ``Status``, ``Result`` with an ``HttpUrl`` sample), so the fake's shapes must satisfy them."""

import importlib.util
import io

import httpx
import pytest
from PIL import Image

if importlib.util.find_spec("black_forest_labs") is None:  # importing it needs BFL_API_KEY: the fixture sets it
    pytest.skip("black-forest-labs is not installed", allow_module_level=True)


@pytest.fixture
def bfl(bfl_mock, monkeypatch):
    monkeypatch.setenv("BFL_API_KEY", "my-key")  # the library builds a default client from it on import
    import black_forest_labs

    return black_forest_labs.Client()  # its own defaults: https://api.bfl.ml, x-key from the environment


@pytest.mark.bfl_mock(progression="polls:2")
@pytest.mark.parametrize(
    ("model", "params", "size"),
    [
        ("flux-pro-1.1", {"prompt": "a red cube", "width": 512, "height": 384}, (512, 384)),
        ("flux-dev", {"prompt": "a blue sphere", "width": 256, "height": 256, "steps": 20}, (256, 256)),
        ("flux-pro-1.1-ultra", {"prompt": "a wide valley", "aspect_ratio": "21:9"}, (3136, 1344)),
        ("flux-2-pro", {"prompt": "a green cone", "width": 640, "height": 360}, (640, 352)),
    ],
)
def test_the_library_generates_polls_and_downloads(bfl, bfl_mock, model, params, size):
    from black_forest_labs import Status

    task = bfl.generate(model, **params)
    assert task.status is None  # the submit answer has no status; the library's model allows that
    polled = [bfl.get_result(task)]
    while not polled[-1].is_done:
        polled.append(bfl.get_result(task.id))
    assert [t.status for t in polled] == [Status.PENDING, Status.READY]
    result = polled[-1].result
    assert result.prompt == params["prompt"] and str(result.sample).startswith("https://delivery-us1.bfl.ai/results/")
    image = Image.open(io.BytesIO(httpx.get(str(result.sample)).content))
    assert image.size == size
    assert bfl_mock.tasks()[0].summary()["endpoint"] == model


@pytest.mark.bfl_mock(progression="polls:1")
def test_the_librarys_errors_are_the_real_ones(bfl, bfl_mock):
    from black_forest_labs import Status

    with pytest.raises(httpx.HTTPStatusError) as e:
        bfl.generate("flux-pro-1.1", prompt="x", width=1000)
    assert e.value.response.status_code == 422
    assert e.value.response.json()["detail"][0]["loc"] == ["body", "width"]
    bfl_mock.add_rule(match={"endpoint": "flux-dev"}, outcome={"status": "Request Moderated"})
    task = bfl.generate("flux-dev", prompt="x")
    assert bfl.get_result(task).status is Status.REQUEST_MODERATED
