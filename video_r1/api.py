"""The Python API: build a config, hand reward functions over as callables, train.

    from video_r1.api import GRPOConfig, SFTConfig, load_config, train_grpo, train_sft
    from video_r1.api import use_reward_functions

    sft = load_config(SFTConfig, "configs/sft_tiny.yaml", ["optim.max_steps=2"])
    model_dir = train_sft(sft).output_dir / "final"

    def short_answer(completions, **columns):
        return [1.0 if len(c) < 400 else 0.0 for c in completions]

    grpo = load_config(GRPOConfig, "configs/grpo_tiny.yaml", [f"model.path={model_dir}"])
    use_reward_functions(grpo, {"accuracy": "accuracy", "format": "format",
                                "short": short_answer}, weights=[1, 1, 0.5])
    result = train_grpo(grpo)   # result.model, result.output_dir

A config is the same dataclass tree the command line builds (`load_config` applies a YAML
file and `key=value` overrides, or build the dataclasses directly). Reward functions have
TRL's signature, `fn(completions, **columns) -> list[float]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from video_r1.recipes.grpo import train as train_grpo
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.sft import SFTConfig
from video_r1.recipes.sft import train as train_sft
from video_r1.train.config import ConfigError, format_config, load_config

__all__ = [
    "GRPOConfig",
    "SFTConfig",
    "format_config",
    "load_config",
    "train_grpo",
    "train_sft",
    "use_reward_functions",
]


def use_reward_functions(
    cfg: Any,
    functions: dict[str, str | Callable[..., list[float]]],
    weights: Sequence[float] | None = None,
) -> list[str]:
    """Make a GRPO config train with `functions` (name -> callable, or a spec string such as
    "accuracy" or "my_rewards.py:short"); returns the names set as `rl.reward_funcs`.

    Callables are registered under their name for this process, so the saved config names
    them; a resume in a new process must register them again (an unknown name is an error).
    """
    from video_r1.rewards.registry import REWARD_FUNCTIONS

    names = []
    for name, fn in functions.items():
        if isinstance(fn, str):
            names.append(fn)
            continue
        if not callable(fn):
            raise ConfigError(f"reward function {name!r}: {fn!r} is not callable")
        if ":" in name or REWARD_FUNCTIONS.get(name, fn) is not fn:
            raise ConfigError(
                f"reward function name {name!r} is taken (or has a ':'); choose another name"
            )
        REWARD_FUNCTIONS[name] = fn
        names.append(name)
    if weights is not None and len(weights) != len(names):
        raise ConfigError(f"{len(weights)} reward weights for {len(names)} reward functions")
    cfg.rl.reward_funcs = names
    cfg.rl.reward_weights = [float(w) for w in weights] if weights is not None else []
    return names
