"""The FLUX 3 clips (``mock_server.core.video``), read back with PyAV: container, codecs, size, duration,
frame rate, the audio track or its absence, determinism, and that the picture derives from the inputs."""

from __future__ import annotations

import io

import numpy as np
import pytest

av = pytest.importorskip("av")

from mock_server.core import video  # noqa: E402


def _read(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as src:
        v = src.streams.video[0]
        out = {
            "format": src.format.name,
            "size": (v.codec_context.width, v.codec_context.height),
            "codec": v.codec_context.name,
            "fps": float(v.average_rate),
            "seconds": src.duration / 1_000_000,
            "audio": [a.codec_context.name for a in src.streams.audio],
            "frames": sum(1 for _ in src.decode(video=0)),
        }
    return out


def _frame_at(data: bytes, seconds: float) -> np.ndarray:
    with av.open(io.BytesIO(data)) as src:
        for frame in src.decode(video=0):
            if frame.time is not None and frame.time >= seconds - 1e-6:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError("no frame at that time")


@pytest.mark.parametrize(
    ("resolution", "ratio", "size"),
    [
        ("hd", "16:9", (1280, 720)),
        ("fhd", "16:9", (1920, 1080)),
        ("qhd", "1:1", (1440, 1440)),
        ("uhd", "9:16", (2160, 3840)),
        ("hd", "21:9", (1680, 720)),
        ("hd", "4:3", (960, 720)),
        ("fhd", "auto", (1920, 1080)),
    ],
)
def test_tier_sizes_short_side_from_the_tier_long_side_from_the_ratio(resolution, ratio, size):
    assert video.frame_size(resolution, ratio) == size


def test_a_5_second_hd_clip_is_an_h264_mp4_with_aac_at_24_fps():
    clip = video.Clip(1280, 720, 5, seed=1, prompt="a red fox", label="t2v hd")
    info = _read(video.render(clip))
    assert info["format"].startswith("mov,mp4")
    assert info["codec"] == "h264" and info["size"] == (1280, 720) and info["fps"] == 24.0
    assert info["audio"] == ["aac"]
    assert info["frames"] == 120 and info["seconds"] == pytest.approx(5.0, abs=0.05)


def test_generate_audio_false_gives_no_audio_track():
    info = _read(video.render(video.Clip(640, 360, 5, audio=False, prompt="silent")))
    assert info["audio"] == [] and info["seconds"] == pytest.approx(5.0, abs=0.05)


def test_the_same_clip_gives_the_same_bytes_and_another_prompt_other_bytes():
    a = video.render(video.Clip(320, 180, 2, seed=5, prompt="a"))
    assert a == video.render(video.Clip(320, 180, 2, seed=5, prompt="a"))
    assert a != video.render(video.Clip(320, 180, 2, seed=5, prompt="b"))


def test_frame_rate_is_a_parameter():
    info = _read(video.render(video.Clip(320, 180, 2, fps=30, prompt="x")))
    assert info["fps"] == 30.0 and info["frames"] == 60


def test_a_keyframe_is_shown_at_its_timestamp():
    green = np.zeros((90, 160, 3), dtype=np.uint8)
    green[:, :, 1] = 255
    clip = video.Clip(320, 180, 5, prompt="x", keyframes=(video.Keyframe(3.0, green),), audio=False)
    data = video.render(clip)
    at, before = _frame_at(data, 3.0), _frame_at(data, 1.0)
    assert at[40:140, 40:280, 1].mean() > 200 and at[40:140, 40:280, 0].mean() < 60  # the keyframe fills it
    assert not (before[40:140, 40:280, 1].mean() > 200 and before[40:140, 40:280, 0].mean() < 60)


def test_v2v_opens_on_the_input_videos_last_frame():
    blue = np.zeros((180, 320, 3), dtype=np.uint8)
    blue[:, :, 2] = 255
    source = video.render(video.Clip(320, 180, 2, prompt="source", keyframes=(video.Keyframe(2.0, blue),)))
    last = video.last_frame(source)
    assert last.shape == (180, 320, 3) and last[20:160, 20:300, 2].mean() > 200
    follow = video.render(video.Clip(320, 180, 5, prompt="next", start_frame=last, audio=False))
    first = _frame_at(follow, 0.0)
    assert first[20:160, 20:300, 2].mean() > 200


def test_probe_reads_a_clip_and_refuses_what_is_not_a_usable_video():
    data = video.render(video.Clip(320, 180, 2, prompt="x"))
    p = video.probe(data)
    assert (p.width, p.height, p.fps, p.audio, p.video_codec) == (320, 180, 24.0, True, "h264")
    with pytest.raises(video.InvalidVideo, match="not a readable video"):
        video.probe(b"\x00" * 1000)
    with pytest.raises(video.InvalidVideo, match="larger than"):
        video.probe(data, video.VideoLimits(max_input_bytes=100))
    with pytest.raises(video.InvalidVideo, match="exceed"):
        video.probe(data, video.VideoLimits(max_input_pixels=100))
    with pytest.raises(video.InvalidVideo, match="longer than"):
        video.probe(data, video.VideoLimits(max_input_seconds=1))


def test_big_frames_change_less_often_so_a_render_stays_bounded():
    assert video.updates_per_second(video.Clip(1280, 720, 5)) == 8
    assert video.updates_per_second(video.Clip(640, 360, 5)) == 12
    assert video.updates_per_second(video.Clip(3840, 2160, 5)) == 1
    with pytest.raises(ValueError, match="duration"):
        video.render(video.Clip(320, 180, 21))
    with pytest.raises(ValueError, match="even"):
        video.render(video.Clip(321, 180, 2))
