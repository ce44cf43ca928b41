"""The oracle: BFL's stack as published (FastAPI + a hand-written pydantic v2 model of the endpoint).

The model is written by hand from the published reference (``../shared/reference/canny-finetuned-endpoint.json``),
independently of ``schemas/`` and of the fake's schema compiler, so the differential test checks both.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional

from pydantic import BaseModel, Field, HttpUrl


class OutputFormat(str, Enum):
    jpeg = "jpeg"
    png = "png"


class FinetuneCannyInputs(BaseModel):
    finetune_id: str = Field(..., description="ID of the fine-tuned model you want to use.")
    finetune_strength: float = Field(1.1, ge=0, le=2)
    prompt: str = Field(...)
    canny_low_threshold: Optional[int] = Field(50, ge=0, le=500)  # noqa: UP045 (as FastAPI apps write it)
    canny_high_threshold: Optional[int] = Field(200, ge=0, le=500)  # noqa: UP045
    control_image: str = Field(...)
    prompt_upsampling: bool = Field(False)
    seed: Optional[int] = Field(None)  # noqa: UP045
    steps: int = Field(50, ge=15, le=50)
    output_format: Optional[OutputFormat] = Field(OutputFormat.jpeg)  # noqa: UP045
    guidance: float = Field(30, ge=1, le=100)
    safety_tolerance: int = Field(2, ge=0, le=6)
    webhook_url: Optional[HttpUrl] = Field(None)  # noqa: UP045
    webhook_secret: Optional[str] = Field(None)  # noqa: UP045


def oracle_app():
    from fastapi import Depends, FastAPI
    from fastapi.security import APIKeyHeader

    app = FastAPI()
    key_header = APIKeyHeader(name="x-key")

    @app.post("/v1/flux-pro-1.0-canny-finetuned")
    def submit(body: FinetuneCannyInputs, key: str = Depends(key_header)):
        if body.webhook_url is not None:
            return {"id": "oracle", "status": "Pending", "webhook_url": str(body.webhook_url)}
        return {"id": "oracle", "polling_url": "oracle"}

    return app
