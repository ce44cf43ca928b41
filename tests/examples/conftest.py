import pytest
from bfl_helpers import small_control


@pytest.fixture
def control_b64() -> str:
    """A 256x256 control image (the official SDK refuses sides under 256 px)."""
    return small_control(256)
