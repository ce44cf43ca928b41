import pytest

from mock_server.testing import control_image


@pytest.fixture
def control_b64() -> str:
    """A 256x256 control image (the official SDK refuses sides under 256 px)."""
    return control_image(256)
