"""FLUX.1 Canny: the output shows the edges of ``control_image`` that BFL's preprocessing derives.

The preprocessing is BFL's reference code (LANCZOS to the output size, ``cv2.Canny`` on RGB, ``imaging``);
the output draws those edges on a seeded gradient. The dashboard shows the edge map beside the inputs.
Everything canny (its image field, its thresholds and their defaults) is known here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core import imaging, previews
from mock_server.core.endpoints.family import FamilyBase, Fetch, KeptImage, Preview, Rendered

CONTROL = "control_image"
EDGES = "edges"  # the preview of the edge map


@dataclass(frozen=True)
class CannyInputs:
    control: str  # base64, as sent
    low: int | None  # canny_low_threshold (None: BFL's default, 50)
    high: int | None  # canny_high_threshold (None: 200)


@dataclass(frozen=True)
class CannyChecked:
    control: bytes
    low: int | None
    high: int | None


class CannyFamily(FamilyBase[CannyInputs, CannyChecked, imaging.EdgeMap]):
    """FLUX.1 Canny: BFL's reference preprocessing (LANCZOS to the output size, ``cv2.Canny`` on RGB) of
    ``control_image``; the output shows those edges on a seeded gradient (``imaging``)."""

    name = "canny"
    size_rule = "the control image's size, down to multiples of 16"
    image_fields: tuple[str, ...] = (CONTROL,)

    def render_inputs(self, params: dict[str, Any]) -> tuple[CannyInputs, int]:
        control = params[CONTROL]
        inputs = CannyInputs(control, params.get("canny_low_threshold"), params.get("canny_high_threshold"))
        return inputs, len(control)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return None if first is None else imaging.output_size(*first)

    def check(self, inputs: CannyInputs, *, max_pixels: int, fetch: Fetch) -> tuple[CannyChecked, int]:
        data = imaging.decode_base64(inputs.control)
        imaging.validate(data, max_pixels)
        return CannyChecked(data, inputs.low, inputs.high), len(data)

    def render(
        self, checked: CannyChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[imaging.EdgeMap]:
        edges = imaging.edge_map(checked.control, checked.low, checked.high, max_pixels)
        data = imaging.render(edges, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(edges.width * edges.height)
        return Rendered(data, edges, edges.nbytes)

    def rerender(self, intermediate: imaging.EdgeMap, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        data = imaging.render(intermediate, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(intermediate.width * intermediate.height)
        return data

    # -- the dashboard's edge map ----------------------------------------------------------------------------
    def previews(self, params: dict[str, Any]) -> tuple[Preview, ...]:
        if params.get(CONTROL) is None:
            return ()
        low, high = self._thresholds(params)
        return (Preview(EDGES, f"edge map: cv2.Canny(low={low}, high={high}) as BFL's preprocessing"),)

    def preview(
        self, name: str, params: dict[str, Any], image: KeptImage, *, max_side: int, max_pixels: int
    ) -> tuple[bytes, str]:
        """The edge map BFL's preprocessing gives the control image (white edges on black), as a thumbnail."""
        if name != EDGES:
            raise LookupError(f"no preview {name!r}")
        control = image(CONTROL)
        if control is None:
            raise LookupError("the control image is no longer kept (keep_inputs_bytes) or is a URL")
        from PIL import Image

        low, high = params.get("canny_low_threshold"), params.get("canny_high_threshold")
        edges = imaging.edge_map(control, low, high, max_pixels)
        im = Image.fromarray((edges.to_array() * 255).astype("uint8"), "L")
        return previews.encode(im, max_side)

    @staticmethod
    def _thresholds(params: dict[str, Any]) -> tuple[int, int]:
        low, high = params.get("canny_low_threshold", 50), params.get("canny_high_threshold", 200)
        return (imaging.DEFAULT_LOW if low is None else low), (imaging.DEFAULT_HIGH if high is None else high)


CANNY = CannyFamily()
