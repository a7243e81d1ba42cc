"""load_image: an image file as uint8 [3, H, W], resized with the qwen-vl-utils rules."""

from __future__ import annotations

import os

import numpy as np
import torch

from video_r1.media.sampling import smart_resize
from video_r1.media.types import ImageSettings, MediaError

DEFAULT_IMAGE_SETTINGS = ImageSettings()  # frozen, so one shared default is safe


def to_rgb(image):
    """A PIL image as 8-bit RGB, transparency composited onto white (as qwen-vl-utils does).

    Beyond qwen-vl-utils (which only handles RGBA): palette/LA/P images with transparency are
    composited too, and 16/32-bit integer images are scaled to 8 bits instead of clipped.
    """
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        # 16-bit data (PNG): scale 0..65535 to 0..255; PIL's convert("L") would clip at 255.
        scale = 257.0 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 1.0
        array = np.clip(np.round(array.astype(np.float64) / scale), 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    elif image.mode == "F":
        array = np.clip(np.round(np.asarray(image)), 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def load_image(
    path: str | os.PathLike, settings: ImageSettings = DEFAULT_IMAGE_SETTINGS
) -> torch.Tensor:
    """Read an image as uint8 [3, H, W] with H, W multiples of settings.factor and H x W in
    [min_pixels, max_pixels] (qwen-vl-utils fetch_image: PIL bicubic resize).

    EXIF orientation is applied and an animated image gives its first frame. Raises MediaError
    naming the file and the reason for a missing, empty, truncated or non-image file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = str(path)
    if not os.path.exists(path):
        raise MediaError(path, "missing: no such file")
    if os.path.getsize(path) == 0:
        raise MediaError(path, "empty file (0 bytes)")
    try:
        with Image.open(path) as opened:
            opened.seek(0)  # animated GIF/PNG/WebP: the first frame
            opened.load()
            image = ImageOps.exif_transpose(opened) or opened
            image = to_rgb(image)
    except UnidentifiedImageError:
        raise MediaError(path, "not an image (format not recognised)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise MediaError(path, f"truncated or corrupt image ({e})") from None
    width, height = image.size
    try:
        out_h, out_w = smart_resize(
            height, width, settings.factor, settings.min_pixels, settings.max_pixels
        )
    except ValueError as e:
        raise MediaError(path, f"image of {width}x{height} cannot be sized: {e}") from None
    if (out_w, out_h) != (width, height):
        image = image.resize((out_w, out_h), resample=Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()
