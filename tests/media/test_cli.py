"""`video-r1 frames`: writes a contact sheet of the sampled frames; bad input exits 1."""

from __future__ import annotations

import argparse

import pytest
from PIL import Image

from video_r1.media import cli


def main(argv: list[str]) -> int:
    """`video-r1 frames ...` through the subcommand module (video_r1.cli loads every stage)."""
    assert argv[0] == "frames"
    parser = argparse.ArgumentParser(
        prog="video-r1 frames",
        description=cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv[1:]))


def test_frames_writes_contact_sheet(media_dir, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    code = main(
        [
            "frames",
            str(media_dir / "clip.mp4"),
            "--nframes",
            "4",
            "--max-pixels",
            str(64 * 28 * 28),
            "--min-pixels",
            "784",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    # 72x128 frames at <= 50,176 px stay 84x140 (round to 28); 4 frames in one row of 4.
    with Image.open(out) as sheet:
        assert sheet.size == (4 + 4 * (140 + 4), 4 + 84 + 16 + 4)
    printed = capsys.readouterr().out
    assert "4 frames of 140x84" in printed and "frame     39" in printed


def test_frames_reports_broken_video(media_dir, tmp_path, capsys):
    code = main(["frames", str(media_dir / "garbage.mp4"), "--out", str(tmp_path / "s.png")])
    assert code == 1
    assert "garbage.mp4" in capsys.readouterr().err
    assert not (tmp_path / "s.png").exists()


def test_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["frames", "--help"])
    assert "contact sheet" in capsys.readouterr().out


def test_frames_on_an_image_uses_the_image_loader(tmp_path, capsys):
    image = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), (200, 40, 40)).save(image, quality=90)
    out = tmp_path / "sheet.png"
    assert main(["frames", str(image), "--out", str(out)]) == 0
    # 300x200 = 60,000 px in [3136, 200704]: rounded to multiples of 28 -> 308x196
    assert "image of 308x196 (image loader)" in capsys.readouterr().out
    with Image.open(out) as sheet:
        assert sheet.size == (4 + 4 * (308 + 4), 4 + 196 + 16 + 4)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    assert main(["frames", str(truncated), "--out", str(tmp_path / "cut.png")]) == 1
    err = capsys.readouterr().err
    assert "cut.jpg" in err and "truncated" in err
    assert not (tmp_path / "cut.png").exists()
