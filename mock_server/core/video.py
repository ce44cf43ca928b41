"""Real, cheap, deterministic MP4 clips for the FLUX 3 video endpoints (H.264 video, an AAC track unless silent).

Why PyAV: its wheels ship FFmpeg with libx264 and the native AAC encoder, so no system FFmpeg is needed; frames
go in as numpy arrays, and the same library reads an input video back (v2v's last frame, the tests). The clip
is what the request says, so a player or ``ffprobe`` sees the right thing: the tier's size for the aspect
ratio (BFL publishes no pixels: by default the short side is 720 ``hd``, 1080 ``fhd``, 1440 ``qhd``, 2160
``uhd``, as the clients map the tiers, and the long side follows the ratio, rounded to an even number), the
requested seconds at 24 fps (one third-party claim; a setting), audio or none.

And it visibly derives from its inputs: a background coloured from the prompt and seed with the prompt
written on it, a bar that sweeps once over the clip (so seeking shows where you are), i2v keyframes shown
around their timestamps, v2v opening on the input video's last frame. Rendering is bounded: the content
changes at most ``max_updates_per_second`` times a second (fewer for big frames, within a pixel budget) and
repeats the same YUV frame in between, which libx264 (``ultrafast``) encodes as skipped blocks; one frame at a
time is in memory. Measured here (2 cores, shared): 5 s hd ~0.6 s CPU, 20 s fhd ~4 s, a draft ~0.3 s.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

TIERS = {"hd": 720, "fhd": 1080, "qhd": 1440, "uhd": 2160}  # short side in pixels (assumption; a setting)
DRAFT_SHORT_SIDE = 360  # a draft is a fast low-resolution preview (S-F3V: "fast preview"; pixels unknown)
AUDIO_RATE = 48_000


class InvalidVideo(ValueError):
    """An input video the fake cannot use (not a video, too large, too long): the task ends ``Error``."""


@dataclass(frozen=True)
class VideoLimits:
    """Bounds on inputs and on one render (documented in docs/api-2026-12.md)."""

    max_input_bytes: int = 50 * 1024 * 1024  # S-VUP: base64 MP4 up to 50 MB
    max_input_pixels: int = 2560 * 1440  # S-VUP: at most 2560x1440 per frame
    max_input_seconds: float = 60.0  # v2v / upscale inputs (upscale cuts at 20 s; "well over" is refused)
    max_seconds: float = 20.0  # the longest clip the schema allows
    max_updates_per_second: int = 12  # content changes per second at most (frames in between repeat)
    pixel_budget: int = 1280 * 720 * 8  # pixels of new content per second of video (bounds CPU per second)


@dataclass(frozen=True)
class Keyframe:
    seconds: float
    rgb: Any  # numpy uint8 (h, w, 3), at most 1024 px a side


@dataclass(frozen=True)
class Clip:
    """What to render."""

    width: int
    height: int
    seconds: float
    fps: int = 24
    audio: bool = True
    seed: int = 0
    prompt: str = ""
    label: str = ""  # a second line (mode, tier, "draft")
    keyframes: tuple[Keyframe, ...] = ()
    start_frame: Any = None  # numpy uint8 (h, w, 3): v2v opens on it
    limits: VideoLimits = field(default_factory=VideoLimits)

    @property
    def frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


def even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def frame_size(resolution: str, aspect_ratio: str, tiers: dict[str, int] | None = None) -> tuple[int, int]:
    """(width, height) for a tier and ``W:H`` (``auto``: 16:9): the tier's short side, the long side from the
    ratio rounded to an even number (H.264 with 4:2:0 needs even sides)."""
    short = (tiers or TIERS)[resolution]
    w, _, h = (aspect_ratio if aspect_ratio and aspect_ratio != "auto" else "16:9").partition(":")
    rw, rh = int(w), int(h)
    if rw >= rh:
        return even(short * rw / rh), short
    return short, even(short * rh / rw)


def _colour(text: str, seed: int) -> tuple[int, int, int]:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return digest[0], digest[1], digest[2]


def _background(clip: Clip) -> Any:
    """The clip's still: a gradient in the prompt's colours with the prompt, label and seed written on it."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    w, h = clip.width, clip.height
    a = np.array(_colour(clip.prompt, clip.seed), dtype=np.float32)
    b = np.array(_colour(clip.prompt[::-1], clip.seed + 1), dtype=np.float32)
    t = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    row = (a * (1 - t) + b * t).astype(np.uint8)  # (1, w, 3)
    img = Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (h, w, 3))))
    draw = ImageDraw.Draw(img)
    size = max(10, min(w, h) // 14)
    ink = (255, 255, 255) if sum(_colour(clip.prompt, clip.seed)) < 384 else (0, 0, 0)
    words, lines, line = clip.prompt.split(), [], ""
    for word in words[:80]:
        if len(line) + len(word) + 1 > max(8, w // (size // 2 + 1)) and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    font = ImageFont.load_default(size=size)
    draw.multiline_text((size, size), "\n".join(lines[:8]), fill=ink, font=font)
    small = ImageFont.load_default(size=max(8, size // 2))
    footer = f"{clip.label} · seed {clip.seed} · {w}x{h} · {clip.seconds:g} s"
    draw.text((size, h - 2 * size), footer.strip(" ·"), fill=ink, font=small)
    return np.asarray(img)


def _fit(rgb: Any, width: int, height: int) -> Any:
    """``rgb`` scaled to fit within width x height, centred on black (letterboxed)."""
    import cv2
    import numpy as np

    h, w = rgb.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    out = np.zeros((height, width, 3), dtype=np.uint8)
    x, y = (width - nw) // 2, (height - nh) // 2
    out[y : y + nh, x : x + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def updates_per_second(clip: Clip) -> int:
    """How often the content changes: at most ``max_updates_per_second`` and within the pixel budget."""
    by_budget = clip.limits.pixel_budget // max(1, clip.width * clip.height)
    return max(1, min(clip.fps, clip.limits.max_updates_per_second, by_budget))


def _content(clip: Clip) -> Iterator[tuple[int, Any]]:
    """(frame index, RGB frame) each time the picture changes; the frames in between repeat it."""
    import numpy as np

    base = _background(clip)
    start = _fit(clip.start_frame, clip.width, clip.height) if clip.start_frame is not None else None
    step = max(1, round(clip.fps / updates_per_second(clip)))
    bar_h = max(4, clip.height // 40)
    window = 0.5  # seconds a keyframe is shown around its timestamp
    current: tuple[int, Any] | None = None  # the fitted keyframe on screen
    for index in range(0, clip.frames, step):
        t = index / clip.fps
        frame = base.copy()
        if start is not None and t < 1.0:  # v2v: open on the input's last frame, fading into the new content
            alpha = 1.0 - t
            frame = (start * alpha + frame * (1 - alpha)).astype(np.uint8)
        near = [i for i, k in enumerate(clip.keyframes) if abs(k.seconds - t) <= window]
        if near:
            i = near[0]
            if current is None or current[0] != i:
                current = (i, _fit(clip.keyframes[i].rgb, clip.width, clip.height))
            frame = current[1].copy()
        x = int((clip.width - clip.width // 10) * min(1.0, t / max(clip.seconds, 1e-6)))
        frame[clip.height - bar_h :, x : x + clip.width // 10] = 255  # the sweeping bar
        yield index, frame


def _audio_frames(clip: Clip, stream: Any) -> Iterator[Any]:
    """A tone in the prompt's pitch with a click each second, mono, as AAC-sized float frames."""
    import av
    import numpy as np

    samples = round(clip.seconds * AUDIO_RATE)
    pitch = 220 + (_colour(clip.prompt, clip.seed)[0] / 255) * 440
    chunk = stream.codec_context.frame_size or 1024
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        t = (np.arange(start, start + n, dtype=np.float64)) / AUDIO_RATE
        wave = 0.2 * np.sin(2 * math.pi * pitch * t)
        wave[(t % 1.0) < 0.01] += 0.3
        frame = av.AudioFrame.from_ndarray(wave.astype(np.float32)[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        yield frame


def render(clip: Clip) -> bytes:
    """The MP4 for ``clip`` (deterministic: the same clip gives the same bytes)."""
    import av
    import cv2

    if clip.width % 2 or clip.height % 2 or clip.width < 16 or clip.height < 16:
        raise ValueError(f"frame size must be even and at least 16 px, not {clip.width}x{clip.height}")
    if not 0 < clip.seconds <= clip.limits.max_seconds:
        raise ValueError(f"duration must be within 0..{clip.limits.max_seconds:g} s, not {clip.seconds}")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        out.metadata.clear()
        # ultrafast + zerolatency: no lookahead or B-frames (one frame buffered, not 40 of 4K); one thread: the
        # same bytes on every machine, and a render takes one core, never both
        x264 = {"preset": "ultrafast", "tune": "zerolatency", "crf": "28", "threads": "1"}
        video = out.add_stream("libx264", rate=clip.fps, options=x264)
        video.width, video.height, video.pix_fmt = clip.width, clip.height, "yuv420p"
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if clip.audio else None
        changes = _content(clip)
        pending = next(changes, None)
        frame: Any = None
        for index in range(clip.frames):
            if pending is not None and pending[0] == index:
                yuv = cv2.cvtColor(pending[1], cv2.COLOR_RGB2YUV_I420)
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                pending = next(changes, None)
            frame.pts = index
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            for aframe in _audio_frames(clip, audio):
                for packet in audio.encode(aframe):
                    out.mux(packet)
            for packet in audio.encode(None):
                out.mux(packet)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- reading inputs
@dataclass(frozen=True)
class Probe:
    width: int
    height: int
    seconds: float
    fps: float
    audio: bool
    video_codec: str
    audio_codec: str | None


def probe(data: bytes, limits: VideoLimits | None = None) -> Probe:
    """What an MP4 holds (without decoding it), within ``limits``; raises ``InvalidVideo``."""
    import av

    limits = limits or VideoLimits()
    if len(data) > limits.max_input_bytes:
        raise InvalidVideo(f"the video is larger than {limits.max_input_bytes // (1024 * 1024)} MB")
    try:
        with av.open(io.BytesIO(data), "r") as src:
            if not src.streams.video:
                raise InvalidVideo("the input has no video stream")
            v = src.streams.video[0]
            w, h = v.codec_context.width, v.codec_context.height
            if src.duration is not None:
                seconds = src.duration / 1_000_000
            elif v.duration is not None and v.time_base is not None:
                seconds = float(v.duration * v.time_base)
            else:
                seconds = 0.0
            fps = float(v.average_rate or 0)
            a = src.streams.audio[0] if src.streams.audio else None
            result = Probe(w, h, seconds, fps, a is not None, v.codec_context.name, a.codec_context.name if a else None)
    except InvalidVideo:
        raise
    except Exception as e:  # av.error.InvalidDataError and friends
        raise InvalidVideo(f"the input is not a readable video ({type(e).__name__})") from None
    if w * h > limits.max_input_pixels:
        raise InvalidVideo(f"the video's frames ({w}x{h}) exceed {limits.max_input_pixels:,} pixels")
    if seconds > limits.max_input_seconds:
        raise InvalidVideo(f"the video is longer than {limits.max_input_seconds:g} s")
    return result


def last_frame(data: bytes, limits: VideoLimits | None = None) -> Any:
    """The input video's last frame as RGB (h, w, 3), after ``probe``'s bounds: seeks near the end and
    decodes forward, so memory is one frame and time a few GOPs whatever the length."""
    import av

    p = probe(data, limits)
    try:
        with av.open(io.BytesIO(data), "r") as src:
            stream = src.streams.video[0]
            if p.seconds > 1 and stream.time_base is not None:
                src.seek(int((p.seconds - 1) / stream.time_base), stream=stream, backward=True, any_frame=False)
            last = None
            for frame in src.decode(stream):
                last = frame
            if last is None:
                raise InvalidVideo("the video has no frames")
            return last.to_ndarray(format="rgb24")
    except InvalidVideo:
        raise
    except Exception as e:
        raise InvalidVideo(f"the input is not a readable video ({type(e).__name__})") from None
