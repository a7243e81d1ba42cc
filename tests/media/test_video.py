"""load_video / probe_video on a real clip, synthetic clips and generated edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import moving_frames, qwen_fetch_video, write_frames

from video_r1.media import MediaError, VideoSettings, load_video, probe_video
from video_r1.media.video import read_frames

TRAIN = VideoSettings()  # 2 fps, 4..16 frames, 128x28x28 pixels per frame


def test_video1_matches_qwen_vl_utils(video1):
    clip = load_video(video1, TRAIN)
    ele = {
        "fps": 2.0,
        "min_frames": 4,
        "max_frames": 16,
        "min_pixels": TRAIN.min_pixels,
        "max_pixels": TRAIN.max_pixels,
    }
    reference, ref_indices = qwen_fetch_video(video1, ele)
    # 491 frames at 22.29 fps = 22 s x 2 fps = 44 -> capped at 16; 360x640 -> 224x420.
    assert clip.indices == tuple(ref_indices)
    assert clip.indices[:4] == (0, 33, 65, 98) and clip.indices[-1] == 490
    assert clip.frames.dtype == torch.uint8
    assert tuple(clip.frames.shape) == tuple(reference.shape) == (16, 3, 224, 420)
    # Not bit-exact: uint8 fixed-point resize vs qwen-vl-utils' float32 one (see resize_frames).
    assert (clip.frames.float() - reference).abs().mean() < 0.5
    assert clip.source_fps == pytest.approx(22.29)
    assert clip.timestamps[0] == 0.0
    assert clip.timestamps[1] == pytest.approx(33 / 22.29, abs=0.02)


def test_pyav_and_decord_decode_identical_frames(media_dir, video1):
    indices = [0, 5, 6, 17, 33, 39]
    _, fast, seconds = read_frames(str(media_dir / "clip.mp4"), indices, "pyav")
    _, slow, seconds_decord = read_frames(str(media_dir / "clip.mp4"), indices, "decord")
    assert np.array_equal(fast, slow)  # packet skipping and GOP-parallel decode lose nothing
    assert seconds == pytest.approx([i / 10 for i in indices])
    assert seconds_decord == pytest.approx(seconds)
    real = [0, 33, 66, 67, 166, 167, 168, 490]  # around keyframes 67 and 167
    assert np.array_equal(
        read_frames(str(video1), real, "pyav")[1],
        read_frames(str(video1), real, "decord")[1],
    )


def test_synthetic_clip_matches_qwen_indices_and_size(media_dir):
    settings = VideoSettings(max_frames=8, min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
    clip = load_video(media_dir / "clip.mp4", settings)
    ele = {
        "fps": 2.0,
        "min_frames": 4,
        "max_frames": 8,
        "min_pixels": settings.min_pixels,
        "max_pixels": settings.max_pixels,
    }
    reference, ref_indices = qwen_fetch_video(media_dir / "clip.mp4", ele)
    # 40 frames at 10 fps: 4 s x 2 fps = 8 frames, linspace(0, 39, 8) rounded.
    assert clip.indices == tuple(ref_indices) == (0, 6, 11, 17, 22, 28, 33, 39)
    assert clip.frames.shape == reference.shape
    assert (clip.frames.float() - reference).abs().mean() < 1.0


def test_nframes_override(media_dir):
    clip = load_video(media_dir / "clip.mp4", VideoSettings(nframes=5))  # round(2.5) * 2 = 4
    assert clip.indices == (0, 13, 26, 39)
    clip = load_video(media_dir / "clip.mp4", VideoSettings(nframes=100))  # clamped to 40
    assert clip.num_frames == 40 and clip.indices == tuple(range(40))


@pytest.mark.parametrize("backend", ["auto", "pyav", "decord"])
def test_one_frame_clip_repeats_its_frame(media_dir, backend):
    clip = load_video(media_dir / "one_frame.mp4", TRAIN, backend=backend)
    assert clip.indices == (0, 0)
    assert torch.equal(clip.frames[0], clip.frames[1])


def test_very_short_clip(media_dir):
    clip = load_video(media_dir / "three_frames.mp4", TRAIN)
    assert clip.indices == (0, 2)  # min 4 frames, but the clip has 3: floor to even = 2


def test_odd_size_is_resized_to_multiples_of_28(media_dir):
    clip = load_video(media_dir / "odd.mp4", TRAIN)
    # 37x51 -> smart_resize(37, 51, 28, min 100352): beta = sqrt(100352 / 1887) = 7.29;
    # ceil(269.8 / 28) * 28 = 280, ceil(371.9 / 28) * 28 = 392.
    assert tuple(clip.frames.shape) == (4, 3, 280, 392)


def test_rotation_metadata_is_applied(media_dir):
    settings = VideoSettings(nframes=2, min_pixels=0)
    upright = load_video(media_dir / "clip.mp4", settings)
    turned = load_video(media_dir / "rot90.mp4", settings)
    # 72x128 landscape (-> 84x140) shown turned 90 degrees counterclockwise: 140x84.
    assert upright.frames.shape[-2:] == (84, 140)
    assert turned.frames.shape[-2:] == (140, 84)
    # The moving square starts top-left; after a counterclockwise turn it is bottom-left.
    first = turned.frames[0].float().mean(0)
    assert first[-10:, :10].mean() > first[:10, -10:].mean() + 50
    flipped = load_video(media_dir / "rot180.mp4", VideoSettings(nframes=2, min_pixels=0))
    assert flipped.frames.shape[-2] < flipped.frames.shape[-1]
    first = flipped.frames[0].float().mean(0)
    assert first[-10:, -10:].mean() > first[:10, :10].mean() + 50  # square now bottom-right
    assert probe_video(media_dir / "rot90.mp4").rotation == 90


def test_variable_frame_rate_uses_frame_order_and_true_timestamps(media_dir):
    clip = load_video(media_dir / "vfr.mp4", VideoSettings(nframes=4))
    assert clip.indices == (0, 4, 7, 11)  # linspace(0, 11, 4) = 0, 3.67, 7.33, 11
    assert clip.timestamps == pytest.approx((0.0, 0.44, 1.28, 2.03))


@pytest.mark.parametrize("keyframe_in_lead_in", [False, True])
def test_clip_cut_without_reencoding_shows_only_its_own_frames(tmp_path, keyframe_in_lead_in):
    """`ffmpeg -ss T -c copy` keeps the packets from the keyframe before T, marked discard by
    an edit list: they are decoded as references and never shown. The clip is the frames
    after T, exactly as FFmpeg's own decode shows them."""
    import av

    from video_r1.media.video_pyav import PyAVVideo

    path = tmp_path / "cut.mp4"  # 12 frames of lead-in at negative times, 20 shown
    options = {"g": "8"} if keyframe_in_lead_in else {"g": "50"}
    frames = moving_frames(32, 48, 64)
    write_frames(path, frames, pts=[(i - 12) * 100 for i in range(32)], options=options)
    with av.open(str(path)) as container:
        shown = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(shown) == 20
    video = PyAVVideo(str(path))
    assert video.num_frames == 20  # not 32 (the lead-in), and not refused as truncated
    got, seconds = video.read(list(range(20)))
    assert all(np.array_equal(got[i], shown[i]) for i in range(20))
    assert seconds[0] == 0.0 and seconds[-1] == pytest.approx(1.9)
    clip = load_video(path, VideoSettings(nframes=4, min_pixels=0))
    assert clip.indices == (0, 6, 13, 19) and probe_video(path).num_frames == 20


def test_grayscale_and_4k(media_dir):
    gray = load_video(media_dir / "gray.mkv", TRAIN)
    assert gray.frames.shape[1] == 3
    assert torch.equal(gray.frames[:, 0], gray.frames[:, 1])
    big = load_video(media_dir / "big.mp4", TRAIN)
    assert tuple(big.frames.shape) == (2, 3, 224, 420)  # 2160x3840 -> 224x420 at 100,352 px


def test_probe_video(media_dir):
    info = probe_video(media_dir / "clip.mp4")
    assert (info.num_frames, info.fps, info.height, info.width) == (40, 10.0, 72, 128)
    assert info.duration == pytest.approx(4.0)


def test_matroska_cut_short_is_truncated_not_a_shorter_clip(tmp_path):
    """Matroska has no frame count in its header, but keeps its declared duration when the
    file loses its end: a 6 s clip cut to half its bytes is refused, not read as a shorter clip."""
    whole = write_frames(tmp_path / "whole.mkv", moving_frames(60, 48, 64))
    assert probe_video(whole).num_frames == 60
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"cut.mkv: truncated: the stream declares 6.0 s"):
        load_video(cut, VideoSettings(nframes=4, min_pixels=0))


def test_decord_quirk_falls_back_to_pyav_and_is_named_when_forced(decord_quirk):
    settings = VideoSettings(nframes=2, min_pixels=0)
    clip = load_video(decord_quirk, settings, backend="auto")
    assert clip.frames.shape[:2] == (2, 3)
    assert torch.equal(clip.frames, load_video(decord_quirk, settings, backend="pyav").frames)
    with pytest.raises(MediaError, match="decord"):
        load_video(decord_quirk, settings, backend="decord")


@pytest.mark.parametrize(
    "name, reason",
    [
        ("missing.mp4", "missing"),
        ("empty.mp4", "empty"),
        ("garbage.mp4", "not a readable video"),  # text renamed .mp4
        ("audio.m4a", "audio only"),
        ("cut.mp4", "truncated or corrupt mp4"),  # moov index lost
        ("cut_faststart.mp4", "truncated: header lists 40 frames"),  # frame data lost
    ],
)
@pytest.mark.parametrize("backend", ["auto", "pyav", "decord"])
def test_broken_files_raise_media_error_naming_file_and_reason(media_dir, name, reason, backend):
    path = media_dir / name
    for call in (
        lambda: load_video(path, TRAIN, backend=backend),
        lambda: probe_video(path, backend=backend),
    ):
        with pytest.raises(MediaError) as info:
            call()
        assert info.value.path == str(path)
        assert str(path) in str(info.value)
        if backend != "decord" or reason in ("missing", "empty", "truncated or corrupt mp4"):
            assert info.value.reason.startswith(reason)
        assert "Traceback" not in info.value.reason


def test_unknown_backend_is_a_value_error(media_dir):
    with pytest.raises(ValueError, match="unknown video backend"):
        load_video(media_dir / "clip.mp4", backend="torchcodec")


def test_h264_reference_flag_parsing():
    from video_r1.media.video_pyav import h264_nonref

    # 4-byte length prefix, then the NAL header: type = byte & 31, nal_ref_idc = (byte >> 5) & 3.
    assert h264_nonref(b"\x00\x00\x00\x02\x01\x9e", 4)  # non-IDR slice, ref_idc 0
    assert not h264_nonref(b"\x00\x00\x00\x02\x41\x9a", 4)  # non-IDR slice, ref_idc 2
    assert not h264_nonref(b"\x00\x00\x00\x02\x65\x88", 4)  # IDR slice, ref_idc 3
    assert not h264_nonref(b"\x00\x00\x00\x02\x06\x05", 4)  # SEI only: no slice, keep it


def test_plan_decodes_only_what_the_frames_need(video1):
    from video_r1.media.video_pyav import PyAVVideo

    reader = PyAVVideo(str(video1))
    wanted = {0, 33, 65, 98}  # all in the first two GOPs (keyframes 0, 67, 167, ...)
    jobs = reader._plan(wanted)
    assert len(jobs) == 2  # GOPs with no wanted frame are never decoded
    fed = sum(len(packets) for packets, _ in jobs)
    assert fed < 167  # cut after the last wanted packet; unwanted non-reference B-frames dropped


def test_rotation_is_read_by_a_single_threaded_decoder(video1, monkeypatch):
    """The stream's own decoder (used once, for the rotation) defaults to FFmpeg slice threads
    on every CPU, a setting with reported deadlocks (video_pyav.py). It runs with one thread,
    as the per-GOP decoders do."""
    from video_r1.media.video_pyav import PyAVVideo

    threads = []
    read_rotation = PyAVVideo._read_rotation

    def spy(self, ctx):
        rotation = read_rotation(self, ctx)
        threads.append(ctx.thread_count)  # what the opened codec ran with
        return rotation

    monkeypatch.setattr(PyAVVideo, "_read_rotation", spy)
    reader = PyAVVideo(str(video1))
    assert threads == [1] and reader.rotation == 0
    frames, _ = reader.read([0, 100])
    assert frames.shape[0] == 2
