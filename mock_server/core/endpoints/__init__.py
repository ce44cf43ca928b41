"""BFL's generation endpoints as data: one row per endpoint (``registry``), one *family* per way of deriving
the output (a module each), prices (``pricing``), output size rules (``sizes``) and checks beyond the schema
(``checks``).

A row names the path, the input schema (a file in ``schemas/`` or an inline JSON Schema), the family that
turns the inputs into a result, the price in credits, the active-task limit and whether a finetune must
exist. The HTTP layer compiles the schema and routes the path; the backend prices, limits and renders by
the row; OpenAPI documents it. Adding an endpoint is a row (and, for a new kind of output, a family module:
``family.Family``, its payloads its own dataclasses, its media types its ``artefacts``).
"""

from __future__ import annotations

from mock_server.core.endpoints.canny import CANNY, CannyFamily
from mock_server.core.endpoints.checks import Check, aspect_ratio_between
from mock_server.core.endpoints.edit import EditFamily
from mock_server.core.endpoints.endpoint import Endpoint
from mock_server.core.endpoints.expand import EXPAND, ExpandFamily
from mock_server.core.endpoints.family import (
    EXTENSIONS,
    AnyFamily,
    Artefact,
    Family,
    FamilyBase,
    Fetch,
    Preview,
    Rendered,
)
from mock_server.core.endpoints.fill import FILL, FillFamily
from mock_server.core.endpoints.flux2 import FLUX2, FLUX2_KLEIN, Flux2Family
from mock_server.core.endpoints.kontext import KONTEXT, KontextFamily
from mock_server.core.endpoints.pricing import MEGAPIXEL, Quote, per_megapixel
from mock_server.core.endpoints.registry import CANNY_FINETUNED, ENDPOINTS, all_image_fields, image_fields
from mock_server.core.endpoints.sizes import parse_ratio, ultra_size
from mock_server.core.endpoints.text_to_image import TEXT_TO_IMAGE, ULTRA, TextToImageFamily, UltraFamily

__all__ = [
    "CANNY",
    "CANNY_FINETUNED",
    "ENDPOINTS",
    "EXPAND",
    "EXTENSIONS",
    "FILL",
    "FLUX2",
    "FLUX2_KLEIN",
    "KONTEXT",
    "MEGAPIXEL",
    "TEXT_TO_IMAGE",
    "ULTRA",
    "AnyFamily",
    "Artefact",
    "CannyFamily",
    "Check",
    "EditFamily",
    "Endpoint",
    "ExpandFamily",
    "Family",
    "FamilyBase",
    "Fetch",
    "FillFamily",
    "Flux2Family",
    "KontextFamily",
    "Preview",
    "Quote",
    "Rendered",
    "TextToImageFamily",
    "UltraFamily",
    "all_image_fields",
    "aspect_ratio_between",
    "image_fields",
    "parse_ratio",
    "per_megapixel",
    "ultra_size",
]
