"""FLUX.1 Kontext [pro]/[max]: editing (``edit``) at ~1 MP, at ``aspect_ratio`` (3:7 .. 7:3) or the input's."""

from __future__ import annotations

from mock_server.core.endpoints.checks import aspect_ratio_between
from mock_server.core.endpoints.edit import EditFamily, EditRequest
from mock_server.core.endpoints.sizes import about, parse_ratio


class KontextFamily(EditFamily):
    size_rule = "~1 MP at `aspect_ratio` (3:7 .. 7:3) or the input's ratio"

    def size(self, request: EditRequest, first: tuple[int, int] | None) -> tuple[int, int]:
        ratio = first[0] / first[1] if first is not None else 1.0
        if request.aspect_ratio:
            w, h = parse_ratio(str(request.aspect_ratio))
            ratio = w / h
        return about(1.048576, ratio, 32)  # ~1 MP: 1:1 -> 1024 x 1024


KONTEXT = KontextFamily(inputs=4)
KONTEXT_RATIO = aspect_ratio_between("7:3", "3:7")  # docs (dossier A11); the spec's description says 21:9 .. 9:21
