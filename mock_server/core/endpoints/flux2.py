"""FLUX.2 ([pro], [max], [flex], [klein]): editing (``edit``) with up to 8 (klein: 4) input images, at
``width`` x ``height`` or the first input's size within 4 MP."""

from __future__ import annotations

from mock_server.core.endpoints.edit import EditFamily, EditRequest
from mock_server.core.endpoints.sizes import floor_to

MAX_PIXELS = 4_194_304  # the first input's size is kept within 4 MP


class Flux2Family(EditFamily):
    size_rule = "`width` x `height` down to multiples of 16, else the first input's size within 4 MP, else 1024 x 1024"

    def size(self, request: EditRequest, first: tuple[int, int] | None) -> tuple[int, int]:
        width, height = int(request.width or 0), int(request.height or 0)
        if width and height:  # down to multiples of 16 (docs), as the canny output size rounds down
            return floor_to(width, 16), floor_to(height, 16)
        if first is not None:  # the input's size, within 4 MP, in multiples of 16
            scale = min(1.0, (MAX_PIXELS / (first[0] * first[1])) ** 0.5)
            return floor_to(int(first[0] * scale), 16), floor_to(int(first[1] * scale), 16)
        return 1024, 1024


FLUX2 = Flux2Family(inputs=8)
FLUX2_KLEIN = Flux2Family(inputs=4)
