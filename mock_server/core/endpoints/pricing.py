"""What a submit costs: a row's price (credits, or a function of the input and output megapixels) and the
megapixels the submit answer reports."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

from mock_server.core import imaging
from mock_server.core.endpoints.family import AnyFamily, output_size

MEGAPIXEL = 1_048_576  # BFL's pricing: 1024 x 1024 is one megapixel


@dataclass(frozen=True)
class Quote:
    cost: float  # credits
    input_mp: float | None
    output_mp: float | None
    estimate: bool = True  # False: the submit answer's ``cost`` is null (the price depends on the finished output)

    @property
    def submit_cost(self) -> float | None:
        """``cost`` as the submit answer shows it: null when it is no estimate (settled on the poll)."""
        return self.cost if self.estimate else None


@runtime_checkable
class QuotePrice(Protocol):
    """A price that makes the whole quote itself (FLUX 3 video: no megapixels, an estimate only sometimes)."""

    def quote(self, params: dict[str, Any], default: float) -> Quote: ...


# credits, or of input/output MP, or a QuotePrice; None: the ``cost_per_request`` setting
Price = float | Callable[[float, float], float] | QuotePrice | None


class per_megapixel:  # lower case: reads as a price in the rows, price=per_megapixel(3, 1.5)
    """FLUX.2's megapixel pricing (docs.bfl.ai pricing; BFL's skills repo: "(firstMP + (outputMP - 1) *
    mpPrice) + inputMP * mpPrice"): ``first`` credits for the first output megapixel, ``extra`` for each further
    one started and for each input megapixel started. A recorded answer (cost 4.5 for output_mp 1.98 on
    flux-2-pro) shows megapixels rounded up."""

    def __init__(self, first: float, extra: float) -> None:
        self.first, self.extra = first, extra

    def __call__(self, input_mp: float, output_mp: float) -> float:
        started = max(1, math.ceil(round(output_mp, 2) - 1e-9))
        inputs = math.ceil(round(input_mp, 2) - 1e-9) if input_mp else 0
        return round(self.first + self.extra * (started - 1) + self.extra * inputs, 4)

    def __str__(self) -> str:
        return f"{self.first:g} + {self.extra:g}/MP"


def quote(family: AnyFamily, price: Price, params: dict[str, Any], default: float, *, megapixels: bool = True) -> Quote:
    """What a submit costs in credits (``price``: a number, or a function of the input and output megapixels;
    None: ``default``) and, with ``megapixels``, the input/output MP the answer reports."""
    own = getattr(price, "quote", None)  # a QuotePrice (not isinstance: a runtime Protocol check is slow)
    if own is not None:
        return cast(Quote, own(params, default))
    price = cast("float | Callable[[float, float], float] | None", price)
    if not megapixels and not callable(price):
        return Quote(float(default if price is None else price), None, None)
    first, input_mp = None, 0.0
    for f in family.image_fields:
        value = params.get(f)
        if isinstance(value, str) and value:
            size = imaging.peek_size(value)
            first = first or size
            input_mp += size[0] * size[1] / MEGAPIXEL if size else 1.0  # a URL: read later, counted as 1 MP
    out = output_size(family, params, first)
    output_mp = out[0] * out[1] / MEGAPIXEL if out else 1.0
    cost = price(input_mp, output_mp) if callable(price) else default if price is None else price
    return Quote(round(float(cost), 4), round(input_mp, 2), round(output_mp, 2))
