import base64
import io

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def control_b64() -> str:
    """A 256x256 control image (the official SDK refuses sides under 256 px)."""
    arr = np.full((256, 256, 3), 235, np.uint8)
    arr[64:192, 64:192] = 25
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()
