"""Compatibility shims that must run before anything imports torchvision.

Transformers 5.x Qwen-VL processors import torchvision. On machines where the only
torchvision wheel is CUDA-linked (as on our CPU machines), loading its C extension
fails, and torchvision's Python code then dies registering fake kernels for
``torchvision::nms`` / ``torchvision::qnms`` because those operator schemas were never
defined. Defining the two schemas ourselves lets torchvision's Python side import; the
pure-tensor transforms the processors use do not need the C ops.

Where torchvision's own library loads (a matching CPU or CUDA build) the schemas already
exist and this does nothing.
"""

from __future__ import annotations

import importlib.util

_SCHEMAS = {
    "nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_applied = False


def _torchvision_ops_loadable() -> bool:
    """True if torchvision's compiled ops load (then no shim is needed)."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # no torchvision: nothing to patch
    import glob
    import os

    for lib in glob.glob(os.path.join(spec.submodule_search_locations[0], "_C*.so")):
        try:
            torch.ops.load_library(lib)
            return True
        except OSError:
            return False
    return False


def ensure_torchvision_importable() -> None:
    """Define the missing torchvision op schemas if its C extension cannot load."""
    global _applied
    if _applied:
        return
    _applied = True
    import sys

    if "torchvision" in sys.modules or _torchvision_ops_loadable():
        return
    import torch

    for name, schema in _SCHEMAS.items():
        try:
            torch.library.define(f"torchvision::{name}", schema)
        except RuntimeError:  # already defined (another copy of this shim ran)
            pass
