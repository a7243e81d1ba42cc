"""Reward functions by name, and users' own functions by reference.

A spec is a registered name (`accuracy`, `format`, ...), `package.module:function`, or
`path/to/file.py:function`. Functions are called as TRL's GRPOTrainer calls them
(`video_r1.rl.group_scores`: every argument by keyword; one float, or None, per completion),
so a TRL reward function works unchanged.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from video_r1.rewards.functions import accuracy_reward, format_reward, length_reward

RewardFunction = Callable[..., list[float]]

REWARD_FUNCTIONS: dict[str, RewardFunction] = {
    "accuracy": accuracy_reward,
    "format": format_reward,
    "length": length_reward,
}

# names of earlier versions -> what replaces them (one switch per behaviour)
REMOVED_NAMES = {
    "accuracy_lenient": "use 'accuracy' with rl.lenient_accuracy=true",
}


class RewardSpecError(ValueError):
    """A reward function spec names nothing usable; the message says what and why."""


def resolve_reward_function(spec: str) -> RewardFunction:
    """Return the reward function a spec names.

    Raises RewardSpecError for an unknown name (listing the known ones), a module that cannot
    be imported, a missing file, or a missing or non-callable attribute.

    Example:
        >>> resolve_reward_function("format").__name__
        'format_reward'
        >>> resolve_reward_function("video_r1.rewards.functions:accuracy_reward").__name__
        'accuracy_reward'
    """
    spec = spec.strip()
    if ":" not in spec:
        if spec in REWARD_FUNCTIONS:
            return REWARD_FUNCTIONS[spec]
        if spec in REMOVED_NAMES:
            raise RewardSpecError(f"reward function {spec!r} was removed: {REMOVED_NAMES[spec]}")
        known = ", ".join(sorted(REWARD_FUNCTIONS))
        raise RewardSpecError(
            f"unknown reward function {spec!r}; known names: {known} "
            "(or give 'package.module:function' or 'path/to/file.py:function')"
        )
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise RewardSpecError(f"reward function spec {spec!r} must be 'module_or_file:function'")
    if target.endswith(".py") or "/" in target or "\\" in target:
        namespace = _load_file(Path(target), spec)
    else:
        try:
            namespace = importlib.import_module(target)
        except ImportError as e:
            raise RewardSpecError(f"reward function {spec!r}: cannot import {target!r}: {e}") from e
    fn = getattr(namespace, attr, None)
    if fn is None:
        raise RewardSpecError(f"reward function {spec!r}: {target!r} has no attribute {attr!r}")
    if not callable(fn):
        raise RewardSpecError(f"reward function {spec!r}: {attr!r} is not callable")
    return fn


def _load_file(path: Path, spec: str):  # -> types.ModuleType
    path = path.expanduser().resolve()
    if not path.is_file():
        raise RewardSpecError(f"reward function {spec!r}: file {path} does not exist")
    # A name unique to the path, so two files called rewards.py do not replace each other.
    name = "video_r1_user_reward_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise RewardSpecError(f"reward function {spec!r}: cannot load {path} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise RewardSpecError(f"reward function {spec!r}: error while loading {path}: {e}") from e
    return module
