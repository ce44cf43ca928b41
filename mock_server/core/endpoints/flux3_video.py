"""FLUX 3 video (``/v1/flux-3-video``, ``flux-tools/video-upscale-v1``, ``flux-tools/video-edit-v1``): real MP4
clips (``core.video``) that show their inputs.

t2v shows the prompt; i2v shows each keyframe around its timestamp (a plain list spaced evenly over the
clip, ``[seconds, image]`` pairs at those seconds); v2v opens on the input video's last frame (decoded under
``video.VideoLimits``); ``draft: true`` gives a low-resolution clip plus a ``draft_cache`` bundle, and
``draft_enhance`` with that bundle renders the same content at the requested tier. A bundle is the draft's
clip description signed by the fake (HMAC-SHA256 under a per-process key): a tampered or foreign bundle ends
the task ``Error`` (BFL's answer is unpublished; an assumption). Upscale keeps the input's aspect ratio at
``upscale_factor`` (capped at 13.75 MP a frame) and its audio; edit keeps the input's size, duration and audio.

A Ready result's ``duration`` is the clip's length in seconds (``settle_result``), not the task's run time.

Durations: ``auto`` is the last timed keyframe's second rounded up (documented), else 5 s (an assumption).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from mock_server.core import imaging, video
from mock_server.core.endpoints.family import RESULT, Artefact, FamilyBase, Fetch, Preview, Rendered
from mock_server.core.endpoints.pricing import Quote

AUTO_SECONDS = 5  # duration ``auto`` without timed keyframes: the model chooses; unpublished (assumption; a setting)
DRAFT = "draft"  # the output_format the video rows give a draft run (its result lists ``draft_cache``)
BUNDLE_MAGIC = b"BFLMOCK-DRAFT-1\n"
_BUNDLE_KEY = os.urandom(32)  # per process: a bundle from another fake is foreign
MAX_KEYFRAMES = 10
# the dashboard's media type of each input field (``Flux3VideoFamily.dashboard``)
INPUT_MEDIA = {
    "keyframes": "image/*",
    "start_video": "video/mp4",
    "input_video": "video/mp4",
    "video": "video/mp4",
    "draft_cache": "application/octet-stream",
}
UPSCALE_MAX_PIXELS = 13_750_000  # S-VUP: output capped at 13.75 MP per frame


@dataclass(frozen=True)
class ClipSpec:
    """What a clip shows, without its input media (kept per task and inside a draft bundle)."""

    width: int
    height: int
    seconds: float
    audio: bool
    prompt: str
    label: str
    keyframe_times: tuple[float, ...] = ()


@dataclass(frozen=True)
class VideoInputs:
    mode: str  # t2v | i2v | v2v | draft_enhance | upscale | edit
    params: dict[str, Any]


@dataclass(frozen=True)
class VideoChecked:
    spec: ClipSpec
    keyframes: tuple[Any, ...]  # RGB arrays (at most 1024 px a side)
    start_frame: Any
    draft: bool


def _short(mode: str) -> str:
    return {"text-to-video": "t2v", "image-continuation": "i2v", "video-continuation": "v2v"}.get(
        mode, mode.replace("-", "_")
    )


def _media(value: str, fetch: Fetch) -> bytes:
    text = value.strip()
    if text.lower().startswith(("http://", "https://")):
        if fetch is None:
            raise imaging.InvalidImage("media URLs are not fetched here")
        return fetch(text)
    try:
        return base64.b64decode(text.split(",", 1)[1] if text.startswith("data:") else text, validate=True)
    except (binascii.Error, ValueError):
        raise imaging.InvalidImage("the input is not valid base64") from None


def _items(keyframes: Any) -> list[Any]:
    """The keyframes as a list: one image, one ``[seconds, image]`` pair, or a list of either."""
    if keyframes is None:
        return []
    if isinstance(keyframes, str) or _is_pair(keyframes):
        return [keyframes]
    return list(keyframes)


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], (int, float))
        and not isinstance(value[0], bool)
        and isinstance(value[1], str)
    )


def _has_pairs(keyframes: Any) -> bool:
    return any(_is_pair(k) for k in _items(keyframes))


def keyframe_times(keyframes: Any, seconds: float) -> list[tuple[float, Any]]:
    """(seconds, image) for each keyframe: pairs at their seconds, a plain list spaced evenly from 0 to the end."""
    items = _items(keyframes)
    if _has_pairs(keyframes):
        return [(float(k[0]), k[1]) for k in items if _is_pair(k)]
    n = len(items)
    return [(0.0 if n == 1 else seconds * i / (n - 1), k) for i, k in enumerate(items)]


def clip_seconds(params: dict[str, Any], auto_seconds: int = AUTO_SECONDS) -> float:
    """The clip's length: ``duration``, or for ``auto`` the last timed keyframe's second rounded up (5..20),
    else ``auto_seconds`` (setting ``flux3_video_auto_seconds``)."""
    duration = params.get("duration", "auto")
    if duration != "auto" and duration is not None:
        return float(duration)
    if _has_pairs(params.get("keyframes")):
        last = max(t for t, _ in keyframe_times(params["keyframes"], 0))
        return float(min(20, max(5, math.ceil(last))))
    return float(auto_seconds)


def keyframe_check(params: dict[str, Any]) -> list[dict[str, Any]]:
    """i2v's limits that the JSON schema does not state (S-F3V prose): 1..10 images, timed pairs in time order
    within 0..20 s, and 3+ untimed images need an explicit duration. BFL's messages are unpublished: these, in
    the 422 ``value_error`` shape a pydantic validator gives, are assumptions."""
    if _short(str(params.get("mode"))) != "i2v":
        return []
    frames = params.get("keyframes")
    pairs = keyframe_times(frames, 20)
    problem = ""
    if not 1 <= len(pairs) <= MAX_KEYFRAMES:
        problem = f"keyframes must hold 1 to {MAX_KEYFRAMES} images"
    elif _has_pairs(frames):
        times = [t for t, _ in pairs]
        if any(b <= a for a, b in itertools.pairwise(times)) or times[0] < 0 or times[-1] > 20:
            problem = "timed keyframes must be in time order within 0..20 seconds"
    elif len(pairs) >= 3 and params.get("duration", "auto") == "auto":
        problem = "3 or more untimed keyframes need an explicit duration"
    if not problem:
        return []
    return [
        {"type": "value_error", "loc": ["body"], "msg": f"Value error, {problem}", "input": None, "ctx": {"error": {}}}
    ]


def _jpeg(rgb: Any) -> str:
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, 320 / max(w, h))
    small = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return base64.b64encode(imaging.encode(small[:, :, ::-1].copy(), "jpeg", jpeg_quality=85)).decode()


def _rgb(text: str) -> Any:
    import cv2
    import numpy as np

    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(text), dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise imaging.InvalidImage("draft_cache holds an unreadable frame")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _bundle(checked: VideoChecked) -> bytes:
    """The draft's content (its clip description, keyframes and v2v start frame as small JPEGs), signed."""
    start = None if checked.start_frame is None else _jpeg(checked.start_frame)
    body = {"spec": asdict(checked.spec), "keyframes": [_jpeg(k) for k in checked.keyframes], "start": start}
    payload = json.dumps(body, sort_keys=True).encode()
    return BUNDLE_MAGIC + hmac.new(_BUNDLE_KEY, payload, hashlib.sha256).hexdigest().encode() + b"\n" + payload


def _unbundle(data: bytes) -> VideoChecked:
    if not data.startswith(BUNDLE_MAGIC):
        raise imaging.InvalidImage("draft_cache is not a FLUX 3 draft bundle")
    sig, _, payload = data[len(BUNDLE_MAGIC) :].partition(b"\n")
    expected = hmac.new(_BUNDLE_KEY, payload, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(sig, expected):
        raise imaging.InvalidImage("draft_cache was altered or comes from another server")
    body = json.loads(payload)
    fields = dict(body["spec"])
    fields["keyframe_times"] = tuple(fields.get("keyframe_times") or ())
    start = None if body.get("start") is None else _rgb(body["start"])
    return VideoChecked(ClipSpec(**fields), tuple(_rgb(k) for k in body["keyframes"]), start, False)


class Flux3VideoFamily(FamilyBase[VideoInputs, VideoChecked, VideoChecked]):
    """One family for the FLUX 3 video endpoints (``kind``: generate, upscale or edit)."""

    def __init__(
        self,
        kind: str = "generate",
        *,
        limits: video.VideoLimits | None = None,
        tiers: dict[str, int] | None = None,
        auto_seconds: int = AUTO_SECONDS,
    ) -> None:
        self.kind = kind
        self.tiers = dict(tiers or video.TIERS)  # short side per tier (setting ``flux3_video_tiers``)
        self.auto_seconds = auto_seconds  # ``auto`` without timed keyframes (setting ``flux3_video_auto_seconds``)
        # the input media fields (journaled as length + SHA-256, scrubbed from recordings)
        self.image_fields: tuple[str, ...] = {
            "generate": ("keyframes", "start_video", "draft_cache"),
            "upscale": ("input_video",),
            "edit": ("video",),
        }[kind]
        self.name = {"generate": "flux-3-video", "upscale": "video-upscale", "edit": "video-edit"}[kind]
        self.limits = limits or video.VideoLimits()
        self.size_rule = {
            "generate": (
                f"short side {' / '.join(f'{px} {tier}' for tier, px in self.tiers.items())}, long side from "
                "`aspect_ratio`; 24 fps"
            ),
            "upscale": "the input x `upscale_factor` (at most 13.75 MP a frame), its duration (up to 20 s) and audio",
            "edit": "the input's size, duration and audio",
        }[kind]

    def artefacts(self, output_format: str) -> tuple[Artefact, ...]:
        sample = Artefact.of("sample", "video/mp4")
        if output_format == DRAFT:
            return sample, Artefact("draft_cache", "application/octet-stream", "bin")
        return (sample,)

    def checks_inline(self, params: dict[str, Any]) -> bool:
        """Only text to video (no input at all): the other modes decode video, keyframes or a bundle."""
        return self.kind == "generate" and _short(str(params.get("mode") or self.kind)) == "t2v"

    def render_inputs(self, params: dict[str, Any]) -> tuple[VideoInputs, int]:
        mode = _short(str(params.get("mode") or self.kind))
        size = sum(len(v) for v in params.values() if isinstance(v, str))
        return VideoInputs(mode, dict(params)), size

    def _frames(self, data: bytes) -> Any:
        try:
            return video.last_frame(data, self.limits)
        except video.InvalidVideo as e:
            raise imaging.InvalidImage(str(e)) from None

    def check(self, inputs: VideoInputs, *, max_pixels: int, fetch: Fetch) -> tuple[VideoChecked, int]:
        p, mode = inputs.params, inputs.mode
        audio = bool(p.get("generate_audio", True))
        prompt = str(p.get("prompt") or "")[:300]
        if self.kind in ("upscale", "edit"):
            data = _media(str(p.get("input_video") or p.get("video") or ""), fetch)
            try:
                probe = video.probe(data, self.limits)
            except video.InvalidVideo as e:
                raise imaging.InvalidImage(str(e)) from None
            w, h = probe.width, probe.height
            if self.kind == "upscale":
                factor = float(p.get("upscale_factor") or 2)
                scale = min(factor, math.sqrt(UPSCALE_MAX_PIXELS / (w * h)))
                w, h = video.even(w * scale), video.even(h * scale)
            seconds = min(20.0, max(0.5, probe.seconds))
            label = f"{self.kind} of a {probe.width}x{probe.height} video"
            spec = ClipSpec(w, h, seconds, probe.audio, prompt or self.kind, label)
            return VideoChecked(spec, (), self._frames(data), False), len(data)
        if mode == "draft_enhance":
            bundle = _media(str(p.get("draft_cache") or p.get("draft_task_id") or ""), fetch)
            draft_checked = _unbundle(bundle)
            drafted = draft_checked.spec
            tier = str(getattr(p.get("resolution"), "value", p.get("resolution")) or "fhd")
            short, wide = self.tiers[tier], drafted.width / drafted.height
            w, h = (video.even(short * wide), short) if wide >= 1 else (short, video.even(short / wide))
            spec = replace(drafted, width=w, height=h, label=f"draft_enhance {tier}")
            return replace(draft_checked, spec=spec), len(bundle)
        seconds = clip_seconds(p, self.auto_seconds)
        resolution = str(getattr(p.get("resolution"), "value", p.get("resolution")) or "hd")
        ratio = str(getattr(p.get("aspect_ratio"), "value", p.get("aspect_ratio")) or "auto")
        draft = bool(p.get("draft"))
        w, h = video.frame_size(resolution, ratio, self.tiers)
        if draft:  # a fast low-resolution preview
            scale = video.DRAFT_SHORT_SIDE / min(w, h)
            w, h = video.even(w * scale), video.even(h * scale)
        keyframes: list[Any] = []
        times: list[float] = []
        nbytes = 0
        if mode == "i2v":
            for t, image in keyframe_times(p.get("keyframes"), seconds):
                data, _ = _image(str(image), max_pixels, fetch)
                keyframes.append(_thumb(data, max_pixels))
                times.append(t)
                nbytes += len(data)
        start = None
        if mode == "v2v":
            data = _media(str(p.get("start_video") or ""), fetch)
            start = self._frames(data)
            nbytes += len(data)
        label = f"{mode} {resolution}{' draft' if draft else ''}"
        spec = ClipSpec(w, h, seconds, audio, prompt, label, tuple(times))
        return VideoChecked(spec, tuple(keyframes), start, draft), nbytes + 400

    def render(
        self, checked: VideoChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[VideoChecked]:
        data = self._encode(checked, seed)
        kept = sum(getattr(k, "nbytes", 0) for k in checked.keyframes) + getattr(checked.start_frame, "nbytes", 0)
        return Rendered(data, checked, kept + 400)

    def _encode(self, checked: VideoChecked, seed: int) -> bytes:
        s = checked.spec
        frames = tuple(video.Keyframe(t, k) for t, k in zip(s.keyframe_times, checked.keyframes, strict=True))
        clip = video.Clip(
            s.width, s.height, s.seconds, audio=s.audio, seed=seed, prompt=s.prompt, label=s.label,
            keyframes=frames, start_frame=checked.start_frame, limits=self.limits,
        )  # fmt: skip
        return video.render(clip)

    def rerender(self, intermediate: VideoChecked, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        return self._encode(intermediate, seed)

    def artefact(self, name: str, intermediate: VideoChecked, *, seed: int, output_format: str) -> bytes:
        if name == "draft_cache" and intermediate.draft:
            return _bundle(intermediate)
        raise LookupError(f"no artefact {name!r}")

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return None

    def dashboard(self, params: dict[str, Any], output_format: str) -> tuple[Preview, ...]:
        """What the dashboard lists for a task, by media type: the keyframes as images, an input video as
        ``video/mp4``, a draft bundle as ``application/octet-stream`` (a file, not a picture), the MP4 result."""
        inputs = []
        for name in self.image_fields:
            value = params.get(name)
            media = INPUT_MEDIA.get(name, "image/*")
            if isinstance(value, list) and value:  # keyframes: a list of images (or [seconds, image] pairs)
                n = len(value)
                inputs.append(Preview(name, f"{name} ({n} image{'s, the first shown' if n > 1 else ''})", media))
            elif isinstance(value, dict) and "length" in value:
                inputs.append(Preview(name, f"{name} ({value['length']} bytes of base64)", media))
            elif isinstance(value, str) and value:
                what = "a URL: not kept" if value.lower().startswith(("http://", "https://")) else "base64"
                inputs.append(Preview(name, f"{name} ({what})", media))
        return (*inputs, Preview(RESULT, RESULT, self.artefacts(output_format)[0].media_type))


def _image(value: str, max_pixels: int, fetch: Fetch) -> tuple[bytes, tuple[int, int]]:
    from mock_server.core.endpoints import painted

    return painted.get_image(value, max_pixels, fetch)


def _thumb(data: bytes, max_pixels: int) -> Any:
    import numpy as np

    from mock_server.core.endpoints import painted

    return np.asarray(painted.open_image(data, max_pixels, fit=1024).convert("RGB"))


def _value(params: dict[str, Any], name: str, default: str) -> str:
    value = params.get(name)
    return str(getattr(value, "value", value) or default)


def price_known(params: dict[str, Any]) -> bool:
    """Whether the submit can state the price: an explicit ``duration`` at ``hd``. It cannot when the model
    chooses the length (``auto``, and ``draft_enhance``, whose length is the draft's) or when the clip goes
    through the video upsampler (``fhd`` and above) (AI SDK PR #18439 citing BFL's spec; medium-high)."""
    if _short(str(params.get("mode"))) not in ("t2v", "i2v", "v2v"):
        return False
    duration = params.get("duration", "auto")
    return duration is not None and duration != "auto" and _value(params, "resolution", "hd") == "hd"


class per_clip:  # lower case: reads as a price in the rows, price=per_clip()
    """FLUX 3 video's price: ``default`` credits a clip (``cost_per_request``, or the ``prices`` setting: BFL's
    per-second price is unpublished), shown at submit only when ``price_known`` (else ``cost`` is null there and
    settled on the poll); no megapixels (``input_mp``/``output_mp`` null)."""

    def quote(self, params: dict[str, Any], default: float) -> Quote:
        return Quote(float(default), None, None, estimate=price_known(params))

    def __str__(self) -> str:
        return "`cost_per_request` (at submit: hd with a `duration`; else null, settled on the poll)"


# get_result while a FLUX 3 task runs: Pending, then Reasoning, then Generating (S-TRY's newer StatusResponse,
# high; when each begins is unpublished: here by progress, the first half Reasoning)
RUNNING_STATUSES = ("Pending", "Reasoning", "Generating")


def poll_view(family: Any, view: dict[str, Any], cost: float | None) -> dict[str, Any]:
    """A FLUX 3 task's get_result body: the running statuses by progress, and on ``Ready`` the settled cost
    (``SettledCostResultResponse``: ResultResponse plus a required ``cost``; AI SDK PR #18439, medium-high).
    Other families' views are returned as they are."""
    if not isinstance(family, Flux3VideoFamily):
        return view
    status, progress = view.get("status"), view.get("progress")
    if status == RUNNING_STATUSES[0] and progress is not None:
        view = {**view, "status": RUNNING_STATUSES[1] if progress < 0.5 else RUNNING_STATUSES[2]}
    elif status == "Ready" and cost is not None:
        view = {**view, "cost": cost}
    return view


def reads_own_links(family: Any) -> bool:
    """Whether an input URL that is the fake's own delivery link to this family's artefact is read without a
    request: FLUX 3's (``draft_enhance`` takes the draft's ``draft_cache`` URL while unexpired, S-F3V; a clip's
    URL as v2v, upscale or edit input). Other links go through the egress policy, which refuses the fake."""
    return isinstance(family, Flux3VideoFamily)


def settle_result(task: Any, kept: Callable[[str], Any]) -> None:
    """A Ready FLUX 3 task's ``result.duration`` is its clip's length in seconds (what the clients read:
    AI SDK's ``bflVideoResultSchema``, a Go port; medium), not the task's run time as for images. ``kept``:
    the result store's lookup (the checked clip: upscale, edit and draft_enhance lengths come from their
    input); without it (evicted) the request's length, or None for a length only the input knows."""
    if not isinstance(task.endpoint.family, Flux3VideoFamily) or task.result is None:
        return
    item = kept(task.id)
    checked = getattr(item, "checked", item)  # media.Unrendered(checked), or the rendered intermediate
    if isinstance(checked, VideoChecked):
        seconds: float | None = checked.spec.seconds
    elif task.endpoint.family.kind == "generate" and _short(str(task.params.get("mode"))) in ("t2v", "i2v", "v2v"):
        seconds = clip_seconds(task.params, task.endpoint.family.auto_seconds)
    else:
        seconds = None
    task.result["duration"] = seconds


def media_format(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Not a check: marks a draft run (``output_format`` ``draft``) so that its result lists ``draft_cache``
    beside ``sample`` (a family's artefacts are chosen by the output format). Refuses nothing."""
    params["output_format"] = DRAFT if params.get("draft") else "mp4"
    return []


FLUX3_VIDEO = Flux3VideoFamily("generate")
VIDEO_UPSCALE = Flux3VideoFamily("upscale")
VIDEO_EDIT = Flux3VideoFamily("edit")
