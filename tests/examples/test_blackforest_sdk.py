"""BFL's official Python SDK (PyPI ``blackforest``) driving the canny-finetuned endpoint against bfl_server.

The SDK has no input model for ``flux-pro-1.0-canny-finetuned``; register a small one on the client.
"""

from typing import Optional

import pytest
from pydantic import BaseModel, Field

blackforest = pytest.importorskip("blackforest")
from blackforest import BFLClient  # noqa: E402
from blackforest.client import BFLError  # noqa: E402
from blackforest.types.general.client_config import ClientConfig  # noqa: E402

MODEL = "flux-pro-1.0-canny-finetuned"


class FinetuneCannyInputs(BaseModel):  # what the SDK posts (model_dump(exclude_none=True))
    finetune_id: str
    prompt: str
    control_image: str
    finetune_strength: float = Field(1.1, ge=0, le=2)
    canny_low_threshold: Optional[int] = Field(50, ge=0, le=500)  # noqa: UP045
    canny_high_threshold: Optional[int] = Field(200, ge=0, le=500)  # noqa: UP045
    seed: Optional[int] = None  # noqa: UP045
    output_format: Optional[str] = "jpeg"  # noqa: UP045


@pytest.fixture
def client(bfl_server):
    c = BFLClient(api_key="my-key", base_url=bfl_server.url)
    c.model_input_registry = {**BFLClient.model_input_registry, MODEL: FinetuneCannyInputs}
    return c


def test_sdk_submit_and_poll(client, control_b64):
    task = client.generate(
        MODEL, {"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": control_b64, "seed": 42}
    )
    statuses = [client.get_task_status(task.id) for _ in range(2)]
    assert [s.status for s in statuses] == ["Pending", "Ready"]
    assert task.polling_url.endswith(f"/v1/get_result?id={task.id}")


def test_sdk_sync_mode(client, control_b64):
    config = ClientConfig(sync=True, polling_interval=0.1, max_retries=5)
    res = client.generate(MODEL, {"finetune_id": "my-finetune", "prompt": "x", "control_image": control_b64}, config)
    assert set(res.result) == {"sample", "prompt", "seed", "start_time", "end_time", "duration"}  # get_result's result


def test_sdk_raises_on_real_error_bodies(client, control_b64, bfl_server):
    with pytest.raises(ValueError, match="less than or equal to 500"):  # the SDK validates before sending
        client.generate(
            MODEL,
            {"finetune_id": "my-finetune", "prompt": "x", "control_image": control_b64, "canny_low_threshold": 600},
        )
    bfl_server.set_credits("my-key", 0)
    with pytest.raises(BFLError, match="402"):  # 402 Insufficient credits from the fake
        client.generate(MODEL, {"finetune_id": "my-finetune", "prompt": "x", "control_image": control_b64})


@pytest.mark.bfl_mock(progression="polls:1")
def test_sdk_sync_mode_does_not_stop_on_error_status(client, control_b64, bfl_server):
    """A real SDK limitation the fake makes visible: sync polling only stops on Ready/completed/failed,
    so a task that ends in `Error` is polled until max_retries."""
    bfl_server.add_rule({}, "error")
    config = ClientConfig(sync=True, polling_interval=0.1, max_retries=2)
    with pytest.raises(BFLError, match="maximum retries"):
        client.generate(MODEL, {"finetune_id": "my-finetune", "prompt": "x", "control_image": control_b64}, config)
