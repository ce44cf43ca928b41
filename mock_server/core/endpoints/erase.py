"""FLUX Erase (``flux-tools/erase-v1``): the masked object removed and the area filled from its surroundings.

The mask (white = remove, black = keep; BFL: the image's dimensions, resized to them here when not) is grown
by ``dilate_pixels`` and filled with a normalised blur of the unmasked pixels around it, so the output is
the input's size with the object visibly gone and its neighbourhood's colours in its place. There is no
prompt (BFL's instruction is built in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core.endpoints import painted
from mock_server.core.endpoints.family import Fetch, Rendered


@dataclass(frozen=True)
class EraseInputs:
    image: str  # as sent: base64 or a URL
    mask: str
    dilate: int


@dataclass(frozen=True)
class EraseChecked:
    image: bytes
    mask: bytes
    dilate: int


class EraseFamily(painted.Painted[EraseInputs, EraseChecked]):
    name = "erase"
    size_rule = "the input image's size"
    image_fields: tuple[str, ...] = ("image", "mask")

    def render_inputs(self, params: dict[str, Any]) -> tuple[EraseInputs, int]:
        image, mask = params["image"], params["mask"]
        return EraseInputs(image, mask, int(params.get("dilate_pixels") or 0)), len(image) + len(mask)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return first

    def check(self, inputs: EraseInputs, *, max_pixels: int, fetch: Fetch) -> tuple[EraseChecked, int]:
        image, _ = painted.get_image(inputs.image, max_pixels, fetch)
        mask, _ = painted.get_image(inputs.mask, max_pixels, fetch)
        return EraseChecked(image, mask, inputs.dilate), len(image) + len(mask)

    def render(
        self, checked: EraseChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[bytes]:
        import cv2
        import numpy as np
        from PIL import Image

        rgb = np.asarray(painted.open_image(checked.image, max_pixels).convert("RGB"), dtype=np.float32)
        h, w = rgb.shape[:2]
        mask_img = painted.open_image(checked.mask, max_pixels).convert("L").resize((w, h))
        mask: Any = (np.asarray(mask_img) > 127).astype(np.uint8)
        if checked.dilate:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * checked.dilate + 1, 2 * checked.dilate + 1))
            mask = cv2.dilate(mask, kernel)
        keep = (1 - mask).astype(np.float32)
        # normalised convolution at a reduced scale, windows growing until every masked point has kept pixels
        # around it: each point takes the mean colour of its nearest kept neighbourhood
        scale = max(1, max(w, h) // 256)
        small = (max(1, w // scale), max(1, h // scale))
        kept_rgb = cv2.resize(rgb * keep[:, :, None], small, interpolation=cv2.INTER_AREA)
        kept = cv2.resize(keep, small, interpolation=cv2.INTER_AREA)
        fill_small = np.zeros_like(kept_rgb)
        todo = np.ones(kept.shape, dtype=bool)
        size = 3
        while todo.any() and size <= 2 * max(small) + 1:
            den = cv2.blur(kept, (size, size))
            ready = todo & (den > 0.2)
            fill_small[ready] = (cv2.blur(kept_rgb, (size, size)) / np.maximum(den, 1e-3)[:, :, None])[ready]
            todo &= ~ready
            size = size * 2 + 1
        fill = cv2.resize(fill_small, (w, h), interpolation=cv2.INTER_LINEAR)
        out = np.where(mask[:, :, None] == 1, fill, rgb).clip(0, 255).astype(np.uint8)
        return self._finish(Image.fromarray(out), output_format, jpeg_quality)


ERASE = EraseFamily()
