"""What a *family* is: how an endpoint's output derives from its inputs, typed end to end.

A family is the one place that knows an endpoint kind's inputs: which request fields carry images (the
only source for redaction, recording scrubbing and the dashboard), how the inputs are checked before a
task finishes and rendered on the first download, what media its result is (``image/jpeg`` ..
``video/mp4``, one or more downloadable *artefacts*) and which extra previews it offers (canny's edge map).

``Family`` is the protocol the backend relies on; its payloads are the family's own dataclasses (the type
parameters), never tuples of ``Any``. A few members are optional, with the default ``FamilyBase`` gives:
the accessor functions below read them on any family, so a family written from scratch (a test's toy)
needs only the required ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from mock_server.core import imaging

Fetch = Callable[[str], bytes] | None  # an input image URL -> its bytes (the backend's, under the egress policy)
KeptImage = Callable[[str], "bytes | None"]  # a kept input image field -> its bytes (None: not kept, a URL)

InputsT = TypeVar("InputsT")  # what ``render_inputs`` takes from the params (queued until the check)
CheckedT = TypeVar("CheckedT")  # what ``check`` returns (kept until the first download)
KeptT = TypeVar("KeptT")  # the compact intermediate ``render`` keeps for encoding again

EXTENSIONS: dict[str, str] = {  # media type -> the extension of its signed URL (BFL's: ``sample.jpeg``)
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "video/mp4": "mp4",
}
SAMPLE = "sample"  # the result field (and blob name) of the main artefact


@dataclass(frozen=True)
class Artefact:
    """One downloadable file of a result: its field in ``result`` (``sample``, FLUX 3's ``draft_cache``),
    its media type and the extension of its signed URL."""

    name: str
    media_type: str
    extension: str

    @classmethod
    def of(cls, name: str, media_type: str) -> Artefact:
        return cls(name, media_type, EXTENSIONS.get(media_type, media_type.rpartition("/")[2] or "bin"))


@dataclass(frozen=True)
class Rendered(Generic[KeptT]):
    """A family's output: the encoded main artefact (``sample``), and what lets it (and any further artefact:
    ``Family.artefact``) be encoded again byte-identically later (kept compactly by the result store; the
    encoded bytes live only in a size-bounded cache)."""

    data: bytes
    intermediate: KeptT
    intermediate_bytes: int


@dataclass(frozen=True)
class Preview:
    """A picture the dashboard can show for a task beyond its input images and result (``/images/{name}``)."""

    name: str
    caption: str
    media_type: str = "image/png"


class Family(Protocol[InputsT, CheckedT, KeptT]):
    """How an endpoint's output derives from its inputs. ``check`` and ``render`` run on render threads.

    Image work is lazy: before a task finishes only ``check`` runs (get the input images, validate them:
    what decides the outcome); ``render`` runs on the result's first download (or at once with the setting
    ``lazy_render=false``).

    Optional members (read them with the functions of this module; ``FamilyBase`` has their defaults):
    ``main_input`` (the image field the output derives from; default: the first image field), ``size_rule``
    (the README's words for the output size), ``output_size(params, first)`` (prices by megapixel),
    ``artefacts(output_format)`` (what a result holds: one ``sample`` image in ``output_format`` unless said)
    and ``artefact(name, intermediate, seed=, output_format=)`` (the bytes of the others), ``previews(params)``
    and ``preview(name, params, image, max_side=, max_pixels=)`` (the family's own dashboard pictures),
    ``checks_inline(params)`` (False: ``check`` does work no image header bounds, such as decoding video, so
    it always runs on the render pool; default True: a small input is checked on the request's thread)."""

    name: str
    image_fields: tuple[str, ...]  # input fields holding images (journaled as length + SHA-256)

    def render_inputs(self, params: dict[str, Any]) -> tuple[InputsT, int]:
        """What image work needs from the validated params, and its size in bytes (render backlog)."""
        ...

    def check(self, inputs: InputsT, *, max_pixels: int, fetch: Fetch) -> tuple[CheckedT, int]:
        """Get (``fetch`` an input image given as a URL, under the egress policy) and validate the inputs,
        without pixel work; raise ``imaging.InvalidImage`` for inputs the real service ends in ``Error``.
        Returns what ``render`` needs (kept until the first download) and its size in bytes."""
        ...

    def render(
        self, checked: CheckedT, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[KeptT]:
        """The output from what ``check`` returned."""
        ...

    def rerender(self, intermediate: KeptT, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        """The same bytes of the main artefact again from the kept intermediate (after the cache dropped them)."""
        ...


AnyFamily = Family[Any, Any, Any]
REQUIRED = ("name", "image_fields", "render_inputs", "check", "render", "rerender")  # the protocol's own members


def missing_members(family: object) -> list[str]:
    """The required members ``family`` lacks (an endpoint row refuses such a family at once, by name)."""
    return [m for m in REQUIRED if not hasattr(family, m)]


class FamilyBase(Generic[InputsT, CheckedT, KeptT]):
    """The optional members' defaults, for a family to inherit: an image ``sample`` in the request's
    ``output_format``, no size rule stated, no extra previews."""

    name: str = ""
    image_fields: tuple[str, ...] = ()
    size_rule: str = ""

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        """The output's (width, height) for the params and the first input image's size (None: unknown, as
        before the input is read). Prices by megapixel and the submit answer's ``output_mp`` use it."""
        return None

    def artefacts(self, output_format: str) -> tuple[Artefact, ...]:
        """The result's downloadable files, the main one (``sample``) first."""
        return (Artefact.of(SAMPLE, imaging.content_type(output_format)),)

    def output_media_type(self, output_format: str) -> str:
        """The media type of the main artefact (``sample``)."""
        return self.artefacts(output_format)[0].media_type

    def artefact(self, name: str, intermediate: KeptT, *, seed: int, output_format: str) -> bytes:
        """A further artefact's bytes (one ``artefacts`` lists after ``sample``) from the kept intermediate."""
        raise LookupError(f"no artefact {name!r}")

    def previews(self, params: dict[str, Any]) -> tuple[Preview, ...]:
        """The family's own dashboard pictures for a task with these (journaled) params."""
        return ()

    def checks_inline(self, params: dict[str, Any]) -> bool:
        """Whether ``check`` may run on the request's thread for small inputs: its only decodes are of images
        (bounded by their headers: ``imaging.Offload``)."""
        return True

    def preview(
        self, name: str, params: dict[str, Any], image: KeptImage, *, max_side: int, max_pixels: int
    ) -> tuple[bytes, str]:
        """One of ``previews`` as a thumbnail: (bytes, media type) (``image``: a kept input field's bytes).
        Raises LookupError when it cannot be made (its input no longer kept, or a URL)."""
        raise LookupError(f"no preview {name!r}")


_BASE: FamilyBase[Any, Any, Any] = FamilyBase()


def main_input(family: AnyFamily) -> str | None:
    """The input image field the output derives from (a contract example sends an image there), or None
    when no input image shapes it; unless the family says (``main_input``), its first image field."""
    return cast("str | None", getattr(family, "main_input", (family.image_fields or (None,))[0]))


def size_rule(family: AnyFamily) -> str:
    """The family's output size rule, as the README's endpoint table states it ("" when it states none)."""
    return str(getattr(family, "size_rule", ""))


def output_size(family: AnyFamily, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
    method = getattr(family, "output_size", _BASE.output_size)
    return cast("tuple[int, int] | None", method(params, first))


def artefacts(family: AnyFamily, output_format: str) -> tuple[Artefact, ...]:
    method = getattr(family, "artefacts", _BASE.artefacts)
    return cast("tuple[Artefact, ...]", method(output_format))


def artefact(family: AnyFamily, name: str, intermediate: Any, *, seed: int, output_format: str) -> bytes:
    method = getattr(family, "artefact", _BASE.artefact)
    return cast(bytes, method(name, intermediate, seed=seed, output_format=output_format))


def blob_paths(family: AnyFamily, output_format: str, sample_path: str) -> tuple[tuple[Artefact, str], ...]:
    """Each artefact's delivery path: ``sample_path`` for the main one, the others beside it
    (``<same folder>/<name>.<extension>``)."""
    main, *others = artefacts(family, output_format)
    folder = sample_path.rpartition("/")[0]
    return ((main, sample_path), *((a, f"{folder}/{a.name}.{a.extension}") for a in others))


def artefact_at(family: AnyFamily, output_format: str, path: str) -> Artefact:
    """The artefact a delivery path names (by its file name; the main one unless another matches)."""
    leaf = path.rpartition("/")[2]
    found = artefacts(family, output_format)
    return next((a for a in found[1:] if leaf == f"{a.name}.{a.extension}"), found[0])


def output_media_type(family: AnyFamily, output_format: str) -> str:
    """The media type of the family's main artefact (``sample``) for ``output_format``."""
    return artefacts(family, output_format)[0].media_type


def checks_inline(family: AnyFamily, params: dict[str, Any]) -> bool:
    method = getattr(family, "checks_inline", _BASE.checks_inline)
    return bool(method(params))


def previews(family: AnyFamily, params: dict[str, Any]) -> tuple[Preview, ...]:
    method = getattr(family, "previews", _BASE.previews)
    return cast("tuple[Preview, ...]", method(params))


def preview(
    family: AnyFamily, name: str, params: dict[str, Any], image: KeptImage, *, max_side: int, max_pixels: int
) -> tuple[bytes, str]:
    method = getattr(family, "preview", _BASE.preview)
    return cast("tuple[bytes, str]", method(name, params, image, max_side=max_side, max_pixels=max_pixels))


RESULT = "result"  # the dashboard's name for a task's result (its main artefact)


def dashboard(family: AnyFamily, params: dict[str, Any], output_format: str) -> tuple[Preview, ...]:
    """What the dashboard shows for a task (``/_mock/tasks/{id}/images/{name}``), with captions and media
    types: each input image the request sent (``params`` as journaled: images as length and hash), the
    family's own previews, and the result. A family with its own ``dashboard(params, output_format)`` member
    (the video families: video and bundle inputs) lists them itself."""
    own = getattr(family, "dashboard", None)
    if own is not None:
        return cast("tuple[Preview, ...]", own(params, output_format))
    inputs = []
    for name in family.image_fields:
        value = params.get(name)
        if isinstance(value, dict) and "length" in value:
            inputs.append(Preview(name, f"{name} ({value['length']} bytes of base64)", "image/*"))
        elif isinstance(value, str) and value:
            inputs.append(Preview(name, f"{name} (a URL: not kept)", "image/*"))
    result = Preview(RESULT, RESULT, output_media_type(family, output_format))
    return (*inputs, *previews(family, params), result)
