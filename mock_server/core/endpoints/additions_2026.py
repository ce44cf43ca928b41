"""Rows for BFL's endpoints added after the April 2026 spec, from ``schemas/openapi/bfl-2026-12-additions.json``
(``core.spec_additions``; the evidence: ``fixtures/reference/api-additions-2026.md``).

The request schemas are the vendored file's, bundled, never copied into code. Prices the evidence lacks are
the base model's (an assumption, labelled) or the ``cost_per_request`` setting.
"""

from __future__ import annotations

from typing import Any

from mock_server.core import spec_additions
from mock_server.core.endpoints.endpoint import Endpoint
from mock_server.core.endpoints.erase import ERASE
from mock_server.core.endpoints.flux2 import FLUX2_KLEIN
from mock_server.core.endpoints.flux3_video import (
    AUTO_SECONDS,
    FLUX3_VIDEO,
    VIDEO_EDIT,
    VIDEO_UPSCALE,
    keyframe_check,
    media_format,
    per_clip,
)
from mock_server.core.endpoints.pricing import per_megapixel
from mock_server.core.endpoints.text_to_image import TEXT_TO_IMAGE
from mock_server.core.endpoints.tools import DEBLUR, FLEX_OUTPAINTING, OUTPAINTING, VTO_V1, VTO_V2, outpainting_check
from mock_server.core.errors import ConfigError

_LORA = (
    "schema: base Flux2KleinInputs + finetune_id/finetune_strength, S-LORA guide (high; public beta); "
    "finetune registry per account, shared LoRAs as `org-id/lora-name` (S-LORA, high); unknown LoRA: FLUX.1's "
    "400 `Finetune not found or not ready` (dossier S7; assumption); price: the base model's (assumption)"
)

KLEIN_LORA: tuple[Endpoint, ...] = tuple(
    Endpoint(
        name=f"flux-2-klein-{model}-finetuned",
        schema=spec_additions.load_component("Flux2KleinFinetunedInputs"),
        family=FLUX2_KLEIN,
        summary=f"Generate or edit an image with FLUX.2 [klein] {label} and a LoRA (public beta)",
        price=per_megapixel(first, extra),
        requires_finetune=True,
        cost_fields="values",
        evidence=_LORA + ("" if "base" not in model else "; base schema unpublished: Flux2KleinInputs (assumption)"),
    )
    for model, label, first, extra in (
        ("4b", "4B (FP8)", 1.4, 0.1),
        ("9b", "9B (FP8)", 1.5, 0.2),
        ("9b-kv", "9B KV (FP8)", 1.5, 0.2),
        ("9b-kv-bf16", "9B KV (BF16)", 1.5, 0.2),
        ("base-4b", "Base 4B (FP8)", 1.4, 0.1),
        ("base-9b", "Base 9B (FP8)", 1.5, 0.2),
    )
)

FLUX_PRO = Endpoint(
    name="flux-pro",
    schema=spec_additions.load_component("FluxProInputs"),
    family=TEXT_TO_IMAGE,
    summary="Generate an image with FLUX.1 [pro].",
    evidence=(
        "path: LiteLLM maps flux-pro to /v1/flux-pro (low); schema: BFL's Python library blackforest 0.1.3 "
        "FluxProInputs + the April webhook fields (medium); output = width x height; price: `cost_per_request`"
    ),
)

ERASE_V1 = Endpoint(
    name="flux-tools/erase-v1",
    schema=spec_additions.load_component("Flux2EraseInputs"),
    family=ERASE,
    summary="Erase an object from an image (FLUX Erase).",
    price=per_megapixel(3, 0.4),
    cost_fields="values",
    evidence=(
        "schema: its API-reference page (high); output = the input's size (assumption); price: $0.03 first MP, "
        "$0.004 each further and each reference MP (two resellers agree; low-medium)"
    ),
)

_NO_PRICE = "price: unpublished (`cost_per_request`)"
TOOLS: tuple[Endpoint, ...] = (
    *(
        Endpoint(
            name=f"flux-tools/vto-{version}",
            schema=spec_additions.load_component("Flux2KleinTryonInputs"),
            family=family,
            summary=f"Virtual try-on ({version}): the person wearing the garment.",
            evidence=f"schema: {source} (high); output: the person's size within {cap} ({conf}); {_NO_PRICE}",
        )
        for version, family, source, cap, conf in (
            ("v1", VTO_V1, "S-TRY generated client", "1 MP", "assumption"),
            ("v2", VTO_V2, "its API-reference page", "4 MP", "v2's page: up to 4 MP, high"),
        )
    ),
    Endpoint(
        name="flux-tools/outpainting-v1",
        schema=spec_additions.load_component("FluxOutpaintingInputs"),
        family=OUTPAINTING,
        summary="Outpaint or extend an image onto a width x height canvas.",
        checks=(outpainting_check(),),
        cost_fields="values",
        evidence=(
            "schema: its API-reference page (high); 4 MP canvas and the out-of-bounds 422: guide (medium; the "
            f"messages are assumptions); {_NO_PRICE}"
        ),
    ),
    Endpoint(
        name="flux-tools/deblur-v1",
        schema=spec_additions.load_component("Flux2DeblurInputs"),
        family=DEBLUR,
        summary="Deblur an image, keeping scene, identity and colours.",
        evidence=f"schema: S-TRY generated client (high); output = the input's size (assumption); {_NO_PRICE}",
    ),
)

_VIDEO = (
    "output: MP4 H.264 + AAC (container: AI SDK, medium; codecs: unpublished), 24 fps (one third-party claim, low); "
    "charged `cost_per_request` (BFL's per-second price is unpublished)"
)
_NULL_COST = "cost null at submit (LiteLLM's docstring, medium)"
VIDEO: tuple[Endpoint, ...] = (
    Endpoint(
        name="flux-3-video",
        schema=spec_additions.load_component("Flux3VideoInputsBody"),
        family=FLUX3_VIDEO,
        summary="Generate a video with FLUX 3 (t2v, i2v, v2v, draft_enhance).",
        price=per_clip(),
        checks=(keyframe_check, media_format),
        cost_fields="values",
        evidence=(
            "schema: its API-reference page, a discriminated RootModel, extras forbidden (high); tier pixels: "
            "the clients' 720/1080 mapping (low; a setting of the snapshot); keyframe limits: prose (medium); cost at "
            "submit only for hd with a `duration`, else null (AI SDK PR #18439 citing BFL's spec, medium-high); "
            f"{_VIDEO}"
        ),
    ),
    Endpoint(
        name="flux-tools/video-upscale-v1",
        schema=spec_additions.load_component("Flux3VideoUpscaleInputs"),
        family=VIDEO_UPSCALE,
        summary="Upscale a video with FLUX 3.",
        checks=(media_format,),
        evidence=(
            f"schema: its API-reference page (high); audio kept: ComfyUI nodes' README (medium); {_NULL_COST}; {_VIDEO}"
        ),
    ),
    Endpoint(
        name="flux-tools/video-edit-v1",
        schema=spec_additions.load_component("Flux3VideoVE2VNamedInputs"),
        family=VIDEO_EDIT,
        summary="Edit a video with FLUX 3.",
        checks=(media_format,),
        evidence=(
            f"schema: S-TRY generated client (high); size, duration, audio follow the input (high); {_NULL_COST}; "
            f"{_VIDEO}"
        ),
    ),
)

ADDITIONS: tuple[Endpoint, ...] = (*KLEIN_LORA, FLUX_PRO, ERASE_V1, *TOOLS, *VIDEO)

# Not in ADDITIONS: served only with the setting ``flux2_flex_outpainting`` (whether BFL still serves it is unknown)
FLEX_OUTPAINTING_ROW = Endpoint(
    name="flux-2-flex-outpainting",
    schema=spec_additions.load_component("OutpaintingInputs"),
    family=FLEX_OUTPAINTING,
    summary="Outpaint an image with FLUX.2 [flex] (a spring-2026 endpoint; possibly superseded by outpainting-v1).",
    evidence=(
        "schema: a spring-2026 spec (tryAGI openapi.json @ f4699840; high that it existed); still served: unknown, "
        "so off unless `flux2_flex_outpainting`; placement and sizes: assumptions; "
        f"{_NO_PRICE}"
    ),
)


def configured(endpoints: tuple[Endpoint, ...], settings: Any) -> tuple[Endpoint, ...]:
    """``endpoints`` as ``settings`` make them: FLUX.2 [flex] outpainting with ``flux2_flex_outpainting``, FLUX 3
    video's request schema from ``flux3_video_snapshot``, and its families with the tier pixels
    (``flux3_video_tiers``) and the ``auto`` length (``flux3_video_auto_seconds``); raises ConfigError for
    values it cannot use."""
    import dataclasses

    from mock_server.core import video
    from mock_server.core.endpoints.flux3_video import Flux3VideoFamily

    tiers, auto = parse_tiers(settings.flux3_video_tiers), int(settings.flux3_video_auto_seconds)
    if not 5 <= auto <= 20:
        raise ConfigError(f"flux3_video_auto_seconds: must be 5-20 (the schema's durations), not {auto}")
    endpoints = with_snapshot(endpoints, settings.flux3_video_snapshot)
    if settings.flux2_flex_outpainting and all(ep.name != FLEX_OUTPAINTING_ROW.name for ep in endpoints):
        endpoints = (*endpoints, FLEX_OUTPAINTING_ROW)
    if tiers == video.TIERS and auto == AUTO_SECONDS:
        return endpoints
    out = []
    for ep in endpoints:
        if isinstance(ep.family, Flux3VideoFamily):
            family = Flux3VideoFamily(ep.family.kind, limits=ep.family.limits, tiers=tiers, auto_seconds=auto)
            ep = dataclasses.replace(ep, family=family)
        out.append(ep)
    return tuple(out)


def parse_tiers(entries: tuple[str, ...]) -> dict[str, int]:
    """``("hd=720", ...)`` as ``{"hd": 720, ...}``: every tier of the spec's snapshots, each an even 16..4320."""
    from mock_server.core import video

    tiers = dict(video.TIERS)
    for entry in entries:
        name, sep, value = str(entry).partition("=")
        name = name.strip()
        try:
            pixels = int(value)
        except ValueError:
            pixels = -1
        if not sep or name not in video.TIERS or not (16 <= pixels <= 4320 and pixels % 2 == 0):
            raise ConfigError(
                f"flux3_video_tiers: expected TIER=PIXELS (tiers {', '.join(video.TIERS)}; an even number of pixels "
                f"16..4320), not {entry!r}"
            )
        tiers[name] = pixels
    return tiers


def with_snapshot(endpoints: tuple[Endpoint, ...], snapshot: str) -> tuple[Endpoint, ...]:
    """``endpoints`` with FLUX 3 video's request schema from ``snapshot`` (setting ``flux3_video_snapshot``):
    the snapshots disagree on the tiers, the aspect ratios and the draft-enhance fields."""
    import dataclasses

    if snapshot == spec_additions.default_snapshot():
        return endpoints
    schema = spec_additions.load_component("Flux3VideoInputsBody", snapshot)
    return tuple(dataclasses.replace(ep, schema=schema) if ep.name == "flux-3-video" else ep for ep in endpoints)
