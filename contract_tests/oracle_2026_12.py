"""The oracle for BFL's endpoints added after April 2026: FastAPI + pydantic v2 models written by hand from the
published schemas (the evidence file, ``fixtures/reference/api-additions-2026.md``, and the vendored
``schemas/openapi/bfl-2026-12-additions.json`` read as a document), never from the fake's compiled models.

It is what BFL's stack would be if it were written the way pydantic publishes these schemas: a ``Literal``
for an inline enum, an ``Enum`` class behind a ``$ref``, ``SecretStr`` for ``format: password``, ``HttpUrl``
for the webhook URL, ``extra="forbid"`` where ``additionalProperties`` is false, and for FLUX 3 video a
``RootModel`` over a union discriminated by ``mode`` (the spec says so). It follows the default snapshot
(``latest``) of the FLUX 3 video spec.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, RootModel, SecretStr

# ruff: noqa: UP007, UP045 (written as FastAPI apps write their models)

User = Optional[Annotated[str, Field(min_length=1, max_length=256)]]
Auto = Literal["auto"]


class OutputFormat(str, Enum):
    jpeg = "jpeg"
    png = "png"
    webp = "webp"


class Flux3VideoAspectRatio(str, Enum):
    r21_9 = "21:9"
    r2_1 = "2:1"
    r16_9 = "16:9"
    r4_3 = "4:3"
    r1_1 = "1:1"
    r3_4 = "3:4"
    r9_16 = "9:16"


class Flux3VideoResolution(str, Enum):
    hd = "hd"
    fhd = "fhd"
    qhd = "qhd"
    uhd = "uhd"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Flux3VideoT2VInputs(_Strict):
    mode: Literal["t2v", "text-to-video"]
    user: User = None
    prompt: str
    aspect_ratio: Union[Flux3VideoAspectRatio, Auto] = "auto"
    duration: Union[Annotated[int, Field(ge=5, le=20)], Auto] = "auto"
    resolution: Flux3VideoResolution = Flux3VideoResolution.hd
    version: Literal["latest"] = "latest"
    generate_audio: bool = True
    safety_tolerance: int = Field(2, ge=0, le=4)
    draft: bool = False


Keyframe = tuple[float, str]


class Flux3VideoI2VInputs(_Strict):
    mode: Literal["i2v", "image-continuation"]
    user: User = None
    prompt: str
    keyframes: Union[str, Keyframe, list[str], list[Keyframe]]
    aspect_ratio: Union[Flux3VideoAspectRatio, Auto] = "auto"
    duration: Union[Annotated[int, Field(ge=5, le=20)], Auto] = "auto"
    resolution: Flux3VideoResolution = Flux3VideoResolution.hd
    version: Literal["latest"] = "latest"
    generate_audio: bool = True
    safety_tolerance: int = Field(2, ge=0, le=4)
    draft: bool = False


class Flux3VideoV2VInputs(_Strict):
    mode: Literal["v2v", "video-continuation"]
    user: User = None
    prompt: str
    start_video: str
    aspect_ratio: Union[Flux3VideoAspectRatio, Auto] = "auto"
    duration: Union[Annotated[int, Field(ge=5, le=15)], Auto] = "auto"
    resolution: Flux3VideoResolution = Flux3VideoResolution.hd
    version: Literal["latest"] = "latest"
    generate_audio: bool = True
    safety_tolerance: int = Field(2, ge=0, le=4)
    draft: bool = False


class Flux3VideoDraftEnhanceInputs(_Strict):
    mode: Literal["draft_enhance", "draft-enhance"]
    user: User = None
    draft_cache: str
    resolution: Flux3VideoResolution = Flux3VideoResolution.fhd
    safety_tolerance: int = Field(2, ge=0, le=4)


class Flux3VideoInputsBody(
    RootModel[
        Annotated[
            Union[Flux3VideoT2VInputs, Flux3VideoI2VInputs, Flux3VideoV2VInputs, Flux3VideoDraftEnhanceInputs],
            Field(discriminator="mode"),
        ]
    ]
):
    pass


class Flux3VideoUpscaleInputs(_Strict):
    user: User = None
    input_video: str
    prompt: str = ""
    creativity: Literal[0, 1] = 1
    upscale_factor: float = Field(2, ge=1.5, le=3)
    safety_tolerance: int = Field(2, ge=0, le=4)
    webhook_url: Optional[HttpUrl] = None
    webhook_secret: Optional[SecretStr] = None


class Flux3VideoVE2VNamedInputs(_Strict):
    user: User = None
    video: str
    prompt: str
    safety_tolerance: int = Field(2, ge=0, le=4)


class Flux2EraseInputs(BaseModel):
    user: User = None
    image: str
    mask: str
    dilate_pixels: int = Field(10, ge=0, le=25)
    seed: Optional[int] = None
    safety_tolerance: int = Field(2, ge=0, le=5)
    output_format: Optional[OutputFormat] = OutputFormat.png
    webhook_url: Optional[HttpUrl] = None
    webhook_secret: Optional[SecretStr] = None


class Flux2KleinTryonInputs(BaseModel):
    user: User = None
    prompt: str
    person: str
    garment: str
    seed: Optional[int] = None
    safety_tolerance: int = Field(2, ge=0, le=5)
    output_format: Optional[OutputFormat] = OutputFormat.jpeg
    webhook_url: Optional[HttpUrl] = None
    webhook_secret: Optional[SecretStr] = None


class FluxOutpaintingInputs(BaseModel):
    input_image: str
    width: int = Field(..., ge=64)
    height: int = Field(..., ge=64)
    auto_crop: bool = False
    reference_offset_x: Optional[int] = None
    reference_offset_y: Optional[int] = None
    prompt: Optional[str] = None
    mode: Literal["high", "fast"] = "high"
    safety_tolerance: int = Field(2, ge=0, le=5)
    output_format: Optional[OutputFormat] = OutputFormat.png


class Flux2DeblurInputs(BaseModel):
    image: str
    seed: Optional[int] = None
    safety_tolerance: int = Field(2, ge=0, le=5)
    output_format: Optional[OutputFormat] = OutputFormat.png
    webhook_url: Optional[HttpUrl] = None
    webhook_secret: Optional[SecretStr] = None


class Flux2KleinFinetunedInputs(BaseModel):
    """Flux2KleinInputs of the April spec plus the LoRA fields."""

    finetune_id: str
    finetune_strength: float = 1.0
    prompt: str
    input_image: Optional[str] = None
    input_image_2: Optional[str] = None
    input_image_3: Optional[str] = None
    input_image_4: Optional[str] = None
    seed: Optional[int] = None
    width: Optional[int] = Field(0, ge=64)
    height: Optional[int] = Field(0, ge=64)
    safety_tolerance: int = Field(2, ge=0, le=5)
    output_format: Optional[OutputFormat] = OutputFormat.jpeg
    webhook_url: Optional[HttpUrl] = None
    webhook_secret: Optional[str] = None


class FluxProInputs(BaseModel):
    width: int = Field(1024, ge=256, le=1440, multiple_of=32)
    height: int = Field(768, ge=256, le=1440, multiple_of=32)
    image_prompt: Optional[str] = None
    prompt: Optional[str] = ""
    seed: Optional[int] = None
    safety_tolerance: int = Field(2, ge=0, le=6)
    output_format: Optional[OutputFormat] = OutputFormat.jpeg
    prompt_upsampling: bool = False
    steps: Optional[int] = Field(40, ge=1, le=50)
    guidance: Optional[float] = Field(2.5, ge=1.5, le=5)
    interval: Optional[float] = Field(2.0, ge=1, le=4)
    webhook_url: Optional[HttpUrl] = None
    webhook_secret: Optional[str] = None


class Flux3ImageInputs(_Strict):
    prompt: str
    images: Optional[Annotated[list[str], Field(min_length=1, max_length=10)]] = None
    aspect_ratio: str = "auto"
    resolution: Literal["768sq", "1k", "1.5k", "2k", "4k"] = "1k"
    safety_tolerance: int = Field(2, ge=0, le=4)
    grounding: bool = True
    version: Literal["latest"] = "latest"


class OutpaintingInputs(BaseModel):
    input_image: str
    width: Optional[int] = Field(None, ge=64)
    height: Optional[int] = Field(None, ge=64)
    bbox_x1: Optional[int] = None
    bbox_y1: Optional[int] = None
    auto_crop: bool = False
    pre_padded: bool = False
    prompt_upsampling: bool = True
    output_format: Optional[OutputFormat] = OutputFormat.png
    steps: int = Field(30, ge=1, le=100)
    guidance: float = Field(4.0, ge=1, le=20)
    cache_residual_diff_threshold: Optional[float] = Field(None, ge=0, le=1)
    effort: Literal["high", "medium", "low"] = "high"


KLEIN_LORA = ("4b", "9b", "9b-kv", "9b-kv-bf16", "base-4b", "base-9b")
ROUTES: dict[str, type[BaseModel]] = {
    "/v1/flux-3-video": Flux3VideoInputsBody,
    "/v1/flux-tools/video-upscale-v1": Flux3VideoUpscaleInputs,
    "/v1/flux-tools/video-edit-v1": Flux3VideoVE2VNamedInputs,
    "/v1/flux-tools/erase-v1": Flux2EraseInputs,
    "/v1/flux-tools/vto-v1": Flux2KleinTryonInputs,
    "/v1/flux-tools/vto-v2": Flux2KleinTryonInputs,
    "/v1/flux-tools/outpainting-v1": FluxOutpaintingInputs,
    "/v1/flux-tools/deblur-v1": Flux2DeblurInputs,
    **{f"/v1/flux-2-klein-{m}-finetuned": Flux2KleinFinetunedInputs for m in KLEIN_LORA},
    "/v1/flux-pro": FluxProInputs,
    "/v1/flux-3-image": Flux3ImageInputs,
    "/v1/flux-2-flex-outpainting": OutpaintingInputs,
}


def oracle_app(paths: list[str] | None = None) -> Any:
    """FastAPI serving ``paths`` (default: every addition) with the hand-written models."""
    from fastapi import Depends, FastAPI
    from fastapi.security import APIKeyHeader

    app = FastAPI()
    key_header = APIKeyHeader(name="x-key")

    def route(model: type[BaseModel]) -> Any:
        def submit(body: Any, key: str = Depends(key_header)) -> dict[str, Any]:
            url = getattr(body, "webhook_url", None)
            if url is not None:
                return {"id": "oracle", "status": "Pending", "webhook_url": str(url)}
            return {"id": "oracle", "polling_url": "oracle"}

        submit.__annotations__["body"] = model
        return submit

    for path in paths or list(ROUTES):
        app.post(path)(route(ROUTES[path]))
    return app
