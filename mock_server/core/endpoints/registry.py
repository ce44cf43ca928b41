"""The registry: one row per BFL generation endpoint (canny-finetuned, then BFL's OpenAPI of 2026-04-23).

Rows only: each names its family (``canny``, ``text_to_image``, ``kontext``, ``flux2``, ``fill``, ``expand``),
its price (``pricing``), its checks beyond the schema (``checks``) and the evidence for all of it.
"""

from __future__ import annotations

from mock_server.core.endpoints.additions_2026 import ADDITIONS
from mock_server.core.endpoints.canny import CANNY
from mock_server.core.endpoints.checks import aspect_ratio_between
from mock_server.core.endpoints.endpoint import Endpoint
from mock_server.core.endpoints.expand import EXPAND
from mock_server.core.endpoints.fill import FILL
from mock_server.core.endpoints.flux2 import FLUX2, FLUX2_KLEIN
from mock_server.core.endpoints.kontext import KONTEXT, KONTEXT_RATIO
from mock_server.core.endpoints.pricing import per_megapixel
from mock_server.core.endpoints.text_to_image import TEXT_TO_IMAGE, ULTRA

_SPEC = "spec (high)"
_DOCS_PRICE = "price: docs.bfl.ai pricing (high)"
_FLUX2 = (
    f"{_SPEC}; size: docs (medium); {_DOCS_PRICE}, megapixels rounded up as in a recorded answer (medium); "
    "cost/input_mp/output_mp: docs' response schema and resellers' recorded answers (medium)"
)
_ULTRA_RATIO = aspect_ratio_between("21:9", "9:21")

CANNY_FINETUNED = Endpoint(
    name="flux-pro-1.0-canny-finetuned",
    schema="FinetuneCannyInputs",
    family=CANNY,
    summary="Generate an image with FLUX.1 Canny [pro] finetune using a control image.",
    requires_finetune=True,
    cost_fields="absent",  # dossier S3: no cost fields in the FLUX.1 captures of its time
    evidence=(
        "schema: its published page (high); behaviour: dossier S1-S14; size: assumption; price: `cost_per_request` "
        "(docs list FLUX.1 [pro] Finetuned at 6)"
    ),
)

ENDPOINTS: tuple[Endpoint, ...] = (
    CANNY_FINETUNED,
    Endpoint(
        name="flux-pro-1.1",
        schema="spec:FluxPro11Inputs",
        family=TEXT_TO_IMAGE,
        summary="Generate an image with FLUX 1.1 [pro] with optional Redux image prompt.",
        price=4,
        evidence="spec (high); output = width x height; price: docs.bfl.ai pricing (high)",
    ),
    Endpoint(
        name="flux-dev",
        schema="spec:FluxDevInputs",
        family=TEXT_TO_IMAGE,
        summary="Generate an image with FLUX.1 [dev].",
        price=2.5,
        evidence=(
            "spec (high); recorded flux-dev exchanges, cost/input_mp/output_mp null (high); price: $0.025 "
            "quoted by a reseller as BFL's (medium)"
        ),
    ),
    Endpoint(
        name="flux-pro-1.1-ultra",
        schema="spec:FluxUltraInput",
        family=ULTRA,
        summary="Generate an image with FLUX 1.1 [pro] with ultra mode and optional raw mode.",
        price=6,
        checks=(_ULTRA_RATIO,),
        evidence=(
            "spec (high); aspect ratio 21:9 .. 9:21: docs (medium); ~4 MP size rule: one provider's table (medium); "
            "price: docs.bfl.ai pricing (high)"
        ),
    ),
    Endpoint(
        name="flux-kontext-pro",
        schema="spec:FluxKontextProInputs",
        family=KONTEXT,
        summary="Edit or create an image with Flux Kontext",
        checks=(KONTEXT_RATIO,),
        price=4,
        evidence=f"{_SPEC}; ratio 3:7 .. 7:3, ~1 MP: docs (medium); {_DOCS_PRICE}",
    ),
    Endpoint(
        name="flux-kontext-max",
        schema="spec:FluxKontextProInputs",
        family=KONTEXT,
        summary="Edit or create an image with Flux Kontext Max",
        checks=(KONTEXT_RATIO,),
        active_limit=6,  # help.bfl.ai (dossier A6)
        price=8,
        evidence=f"{_SPEC}; 6 active tasks: help.bfl.ai (high); {_DOCS_PRICE}",
    ),
    *(
        Endpoint(
            name=name,
            schema=f"spec:{schema}",
            family=family,
            summary=f"Generate or edit an image with FLUX.2 {label}",
            price=per_megapixel(first, extra),
            cost_fields="values",
            evidence=_FLUX2 if "preview" not in name else f"{_FLUX2}; preview priced as its model (assumption)",
        )
        for name, schema, family, label, first, extra in (
            ("flux-2-pro", "Flux2Inputs", FLUX2, "[pro]", 3, 1.5),
            ("flux-2-pro-preview", "Flux2Inputs", FLUX2, "[pro] (preview)", 3, 1.5),
            ("flux-2-max", "Flux2Inputs", FLUX2, "[max]", 7, 3),
            ("flux-2-flex", "Flux2FlexInputs", FLUX2, "[flex]", 5, 5),
            ("flux-2-klein-4b", "Flux2KleinInputs", FLUX2_KLEIN, "[klein] 4B", 1.4, 0.1),
            ("flux-2-klein-9b", "Flux2KleinInputs", FLUX2_KLEIN, "[klein] 9B", 1.5, 0.2),
            ("flux-2-klein-9b-preview", "Flux2KleinInputs", FLUX2_KLEIN, "[klein] 9B (preview)", 1.5, 0.2),
        )
    ),
    Endpoint(
        name="flux-pro-1.0-fill",
        schema="spec:FluxProFillInputs",
        family=FILL,
        summary="Generate an image with FLUX.1 Fill [pro] using an input image and mask.",
        price=5,
        evidence=f"{_SPEC}; output = the input's size (assumption); {_DOCS_PRICE}",
    ),
    Endpoint(
        name="flux-pro-1.0-expand",
        schema="spec:FluxProExpandInputs",
        family=EXPAND,
        summary="Expand an image by adding pixels on any side.",
        price=5,
        evidence=f"{_SPEC}; price: not in BFL's table, as Fill (the other FLUX tool; assumption)",
    ),
    Endpoint(
        name="flux-pro-1.0-fill-finetuned",
        schema="spec:FinetuneFluxProFillInputs",
        family=FILL,
        summary="Generate an image with FLUX.1 Fill [pro] finetune using an input image and mask.",
        requires_finetune=True,
        price=6,
        evidence=f"{_SPEC}; {_DOCS_PRICE} (FLUX.1 Fill [pro] Finetuned)",
    ),
    Endpoint(
        name="flux-pro-1.1-ultra-finetuned",
        schema="spec:FinetuneFluxUltraInput",
        family=ULTRA,
        summary="Generate an image with FLUX 1.1 [pro] with ultra mode and a finetune.",
        checks=(_ULTRA_RATIO,),
        requires_finetune=True,
        price=7,
        evidence=f"{_SPEC}; size as Ultra (medium); {_DOCS_PRICE} (FLUX1.1 [pro] Ultra Finetuned)",
    ),
    *ADDITIONS,  # BFL's endpoints added after the April spec (additions_2026.py)
)


# --- image fields (one source for recordings, the journal, logs and the dashboard) ----------------------
def image_fields(endpoint: Endpoint) -> tuple[str, ...]:
    """The request fields of ``endpoint`` that carry an image (base64 or URL): what is scrubbed wherever a
    request is recorded, journaled or logged."""
    return endpoint.family.image_fields


def all_image_fields() -> frozenset[str]:
    """Every image field of every endpoint: for scrubbing a body whose endpoint is not known."""
    return frozenset(f for ep in ENDPOINTS for f in image_fields(ep))
