"""A missing decoding library is the environment's fault, not the file's: `auto` passes over it
to the next backend, and where none is installed the error says what to install and is never
a MediaError (which the recipes would count as a bad sample). Found on a GPU machine whose
image had no PyAV: every clip failed with a bare ModuleNotFoundError."""

from __future__ import annotations

import sys

import pytest
import torch

from video_r1.media import BackendMissing, MediaError, VideoSettings, load_video, probe_video

SETTINGS = VideoSettings(nframes=4, min_pixels=16 * 28 * 28, max_pixels=64 * 28 * 28)


def _uninstall(monkeypatch, *modules: str) -> None:
    """Make `import module` fail as on a machine without it (None in sys.modules)."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_auto_passes_over_a_missing_pyav_to_decord(media_dir, monkeypatch) -> None:
    by_decord = load_video(media_dir / "clip.mp4", SETTINGS, backend="decord")
    _uninstall(monkeypatch, "av")
    clip = load_video(media_dir / "clip.mp4", SETTINGS)
    assert clip.indices == by_decord.indices
    assert torch.equal(clip.frames, by_decord.frames)


def test_auto_passes_over_a_missing_decord_when_pyav_fails(media_dir, monkeypatch) -> None:
    """A file PyAV cannot read, decord missing: the file's reason, as a MediaError."""
    _uninstall(monkeypatch, "decord")
    with pytest.raises(MediaError, match="garbage.mp4") as raised:
        load_video(media_dir / "garbage.mp4", SETTINGS)
    assert "not installed" not in str(raised.value)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_a_named_backend_that_is_missing_says_what_to_install(
    media_dir, monkeypatch, backend
) -> None:
    module, package = {"pyav": ("av", "av"), "decord": ("decord", "decord2")}[backend]
    _uninstall(monkeypatch, module)
    with pytest.raises(BackendMissing) as raised:
        load_video(media_dir / "clip.mp4", SETTINGS, backend=backend)
    assert not isinstance(raised.value, MediaError)
    assert raised.value.missing == [f"{module} is not installed (pip install {package})"]


def test_no_library_at_all_names_both_installs(media_dir, monkeypatch) -> None:
    _uninstall(monkeypatch, "av", "decord")
    for read in (lambda p: load_video(p, SETTINGS), probe_video):
        with pytest.raises(BackendMissing) as raised:
            read(media_dir / "clip.mp4")
        assert str(raised.value) == (
            "no video decoding library to read with: av is not installed (pip install av); "
            "decord is not installed (pip install decord2)"
        )
    # a file that does not exist is still the file's problem, whatever is installed
    with pytest.raises(MediaError, match="missing.mp4"):
        load_video(media_dir / "missing.mp4", SETTINGS)
