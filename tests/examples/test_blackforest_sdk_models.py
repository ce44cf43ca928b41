"""BFL's official Python SDK (PyPI ``blackforest`` 0.1.3, the latest release), unmodified and with no glue,
driving the endpoints it knows against the fake: Kontext with an input image, Ultra, FLUX 1.1 [pro], dev, fill, expand.
(It has no FLUX.2 models yet; ``tests/test_endpoints.py`` drives those with plain httpx.)"""

import pytest

blackforest = pytest.importorskip("blackforest")
from blackforest import BFLClient  # noqa: E402
from blackforest.types.general.client_config import ClientConfig  # noqa: E402

from mock_server.testing import control_image  # noqa: E402

SYNC = ClientConfig(sync=True, polling_interval=0.1, max_retries=5)


@pytest.fixture
def client(bfl_server):
    return BFLClient(api_key="my-key", base_url=bfl_server.url)


def test_sdk_kontext_with_an_input_image(client, bfl_server):
    res = client.generate("flux-kontext-pro", {"prompt": "make it blue", "input_image": control_image(256)}, SYNC)
    assert res.result["sample"].startswith(bfl_server.url + "/results/")
    (task,) = bfl_server.tasks()
    assert task.summary()["endpoint"] == "flux-kontext-pro"
    assert task.summary()["params"]["input_image"]["length"] > 0  # journaled as length + hash, not the image


def test_sdk_ultra_and_pro_1_1(client, bfl_server):
    ultra = client.generate("flux-pro-1.1-ultra", {"prompt": "a wide valley", "aspect_ratio": "21:9"}, SYNC)
    pro = client.generate("flux-pro-1.1", {"prompt": "a red cube", "width": 512, "height": 512}, SYNC)
    assert ultra.result["prompt"] == "a wide valley" and pro.result["prompt"] == "a red cube"
    assert {t.summary()["endpoint"] for t in bfl_server.tasks()} == {"flux-pro-1.1-ultra", "flux-pro-1.1"}


def test_sdk_fill_expand_and_dev(client, bfl_server):
    image = control_image(256)  # the SDK itself refuses fill/expand images under 256 x 256
    fill = client.generate("flux-pro-1.0-fill", {"prompt": "a window", "image": image, "mask": image}, SYNC)
    expand = client.generate("flux-pro-1.0-expand", {"prompt": "more sky", "image": image, "top": 64}, SYNC)
    dev = client.generate("flux-dev", {"prompt": "a lamp", "width": 256, "height": 256}, SYNC)
    assert fill.result["prompt"] == "a window" and expand.result["prompt"] == "more sky" and dev.result["sample"]
    assert {t.summary()["endpoint"] for t in bfl_server.tasks()} == {
        "flux-pro-1.0-fill",
        "flux-pro-1.0-expand",
        "flux-dev",
    }


def test_sdk_0_1_3_cannot_send_flux_2_yet(client, bfl_server):
    """Why FLUX.2 is not driven by the official SDK here: 0.1.3 (the latest on PyPI) refuses the model itself,
    before any request. When a release adds FLUX.2 this fails: drive flux-2-pro with it then."""
    from blackforest.client import BFLError

    with pytest.raises(BFLError, match="Model flux-2-pro not supported"):
        client.generate("flux-2-pro", {"prompt": "x"}, SYNC)
    assert len(bfl_server.requests) == 0
