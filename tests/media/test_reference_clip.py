"""The clip tests and benchmarks use: found beside the repository or by env var, else generated."""

from __future__ import annotations

import pytest

from video_r1.media import probe_video
from video_r1.media.reference_clip import ENV_VAR, VIDEO1, reference_clip

pytestmark = pytest.mark.slow  # encodes 491 frames of 640x360


def _keyframes(path) -> list[int]:
    import av

    with av.open(str(path)) as container:
        packets = container.demux(container.streams.video[0])
        return [i for i, packet in enumerate(packets) if packet.is_keyframe]


def test_standin_has_video1s_geometry_when_the_named_clip_is_absent(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent.mp4"))
    clip = reference_clip(tmp_path)
    assert clip == tmp_path / "video1_standin.mp4"
    info = probe_video(clip)
    assert (info.num_frames, info.height, info.width) == (VIDEO1.frames, 360, 640)
    assert info.fps == pytest.approx(VIDEO1.fps)
    assert _keyframes(clip) == [0, 67, 167, 226, 320, 426]  # the GOPs the decode tests plan
    mtime = clip.stat().st_mtime_ns
    assert reference_clip(tmp_path) == clip and clip.stat().st_mtime_ns == mtime  # reused


def test_env_var_names_the_clip(tmp_path, monkeypatch):
    named = tmp_path / "mine.mp4"
    named.write_bytes(b"any file: the locator does not decode it")
    monkeypatch.setenv(ENV_VAR, str(named))
    assert reference_clip(tmp_path / "unused") == named
