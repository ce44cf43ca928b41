"""BFL's generation endpoints as data: one row per endpoint, one *family* per way of deriving the output.

A row names the path, the input schema (a file in ``schemas/`` or an inline JSON Schema), the family that
turns the inputs into an image, the price in credits, the active-task limit and whether a finetune must
exist. The HTTP layer compiles the schema and routes the path; the backend prices, limits and renders by
the row; OpenAPI documents it. Adding an endpoint is a row (and, for a new kind of output, a family).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mock_server.core import imaging


@dataclass(frozen=True)
class Rendered:
    """A family's output: the encoded image, and what lets it be encoded again byte-identically later
    (kept compactly by the result store; the encoded bytes live only in a size-bounded cache)."""

    data: bytes
    intermediate: Any
    intermediate_bytes: int
    width: int
    height: int


class Family(Protocol):
    """How an endpoint's output image derives from its inputs. Runs on render threads."""

    name: str
    image_fields: tuple[str, ...]  # input fields holding images (journaled as length + SHA-256)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        """What rendering needs from the validated params, and its size in bytes (render backlog)."""
        ...

    def render(self, inputs: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        """The output; raise ``imaging.InvalidImage`` for inputs the real service ends in ``Error``."""
        ...

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        """The same bytes again from the kept intermediate (after the encoded cache dropped them)."""
        ...


class CannyFamily:
    """FLUX.1 Canny: BFL's reference preprocessing (LANCZOS to the output size, ``cv2.Canny`` on RGB) of
    ``control_image``; the output shows those edges on a seeded gradient (``imaging``)."""

    name = "canny"
    image_fields: tuple[str, ...] = ("control_image",)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        control = params["control_image"]
        return (control, params.get("canny_low_threshold"), params.get("canny_high_threshold")), len(control)

    def render(self, inputs: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        control, low, high = inputs
        edges = imaging.edge_map_from_control(control, low, high, max_pixels)
        data = imaging.render(edges, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(edges.width * edges.height)
        return Rendered(data, edges, edges.nbytes, edges.width, edges.height)

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        data = imaging.render(intermediate, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(intermediate.width * intermediate.height)
        return data


@dataclass(frozen=True)
class Endpoint:
    name: str  # the path after /v1/
    schema: str | dict[str, Any]  # a schema in schemas/ by name, or an inline JSON Schema
    family: Family
    summary: str = ""
    price: float | None = None  # credits per submit; None: the ``cost_per_request`` setting
    active_limit: int | None = None  # active tasks per key; None: the ``active_task_limit`` setting
    requires_finetune: bool = False  # ``finetune_id`` must name a usable finetune of the key's account
    evidence: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    @property
    def operation_id(self) -> str:
        slug = self.name.replace("-", "_").replace(".", "_")
        return f"{slug}_v1_{slug}_post"

    @property
    def schema_name(self) -> str:
        return self.schema if isinstance(self.schema, str) else str(self.schema.get("title", self.name))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="flux-pro-1.0-canny-finetuned",
        schema="FinetuneCannyInputs",
        family=CannyFamily(),
        summary="Generate an image with FLUX.1 Canny [pro] finetune using a control image.",
        requires_finetune=True,
        evidence="the published endpoint page (canny-finetuned-endpoint.json); dossier S1-S14",
    ),
)
