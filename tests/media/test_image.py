"""load_image: qwen-vl-utils' sizes and pixels, plus the modes and files it does not handle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from video_r1.media import ImageSettings, MediaError, load_image

SMALL = ImageSettings(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)


def gradient(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1
    ).astype(np.uint8)


def test_rgb_matches_qwen_fetch_image(tmp_path):
    from qwen_vl_utils.vision_process import fetch_image

    path = tmp_path / "a.png"
    Image.fromarray(gradient(300, 500)).save(path)
    image = load_image(path, SMALL)
    reference = fetch_image(
        {"image": str(path), "min_pixels": SMALL.min_pixels, "max_pixels": SMALL.max_pixels}
    )
    # 300x500 at 12,544 px: beta = sqrt(150000 / 12544) = 3.458; 86.8 -> 84, 144.6 -> 140.
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 84, 140)
    assert torch.equal(image, torch.from_numpy(np.array(reference)).permute(2, 0, 1))


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((56, 56, 4), np.uint8)
    rgba[:, :28] = (255, 0, 0, 255)  # left half opaque red, right half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png", SMALL)
    assert tuple(image.shape) == (3, 56, 56)
    assert image[:, 10, 5].tolist() == [255, 0, 0]
    assert image[:, 10, 50].tolist() == [255, 255, 255]


def test_palette_with_transparency_and_grayscale(tmp_path):
    palette = Image.new("P", (56, 56), 0)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.paste(1, (0, 0, 28, 56))
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    image = load_image(tmp_path / "p.png", SMALL)
    assert image[:, 5, 5].tolist() == [0, 255, 0] and image[:, 5, 50].tolist() == [255] * 3
    Image.fromarray(np.full((56, 84), 77, np.uint8), "L").save(tmp_path / "g.jpg", quality=100)
    gray = load_image(tmp_path / "g.jpg", SMALL)
    assert tuple(gray.shape) == (3, 56, 84) and abs(int(gray[0, 20, 20]) - 77) <= 1


def test_16_bit_is_scaled_not_clipped(tmp_path):
    array = np.full((56, 56), 32768, np.uint16)  # half scale
    Image.fromarray(array).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png", SMALL)
    assert image[:, 10, 10].tolist() == [128, 128, 128]  # round(32768 / 257) = 127.5 -> 128


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (56, 56), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    image = load_image(tmp_path / "a.gif", SMALL)
    assert image[:, 28, 28].tolist() == [255, 0, 0]


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((56, 112, 3), np.uint8)
    array[:, :56] = 255  # left half white, landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: display rotated 90 degrees clockwise
    Image.fromarray(array).save(tmp_path / "r.jpg", exif=exif, quality=100)
    image = load_image(tmp_path / "r.jpg", SMALL)
    assert tuple(image.shape) == (3, 112, 56)  # shown as portrait
    assert image[:, 10, 28].float().mean() > 200 > image[:, 100, 28].float().mean()


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("missing.png", None, "missing"),
        ("empty.png", b"", "empty"),
        ("text.png", b"hello, not an image\n" * 10, "not an image"),
    ],
)
def test_bad_files_raise_media_error(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError) as info:
        load_image(path, SMALL)
    assert info.value.path == str(path)
    assert info.value.reason.startswith(reason)


def test_truncated_image(tmp_path):
    Image.fromarray(gradient(200, 200)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as info:
        load_image(tmp_path / "cut.png", SMALL)
    assert str(tmp_path / "cut.png") in str(info.value)
    assert info.value.reason.startswith("truncated or corrupt image")
