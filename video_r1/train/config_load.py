"""Reading and showing a config: YAML then `key=value` overrides merged onto the dataclass
defaults (OmegaConf structured configs: type checks, unknown keys), one-line errors naming the
source and key, the resolved config as YAML, and the `--help` lines.

Generic over config dataclasses; the training sections are in `video_r1.train.config`, which
re-exports these names.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the key and the source."""


def _missing_keys(cfg: Any, prefix: str = "") -> list[str]:
    from omegaconf import OmegaConf

    out = []
    for key in cfg:
        full = f"{prefix}{key}"
        if OmegaConf.is_missing(cfg, key):
            out.append(full)
        elif OmegaConf.is_config(cfg[key]) and not OmegaConf.is_list(cfg[key]):
            out += _missing_keys(cfg[key], full + ".")
    return out


def load_config(cls: type[C], yaml_path: str | Path | None = None, overrides: list[str] = ()) -> C:
    """Build `cls` from its defaults, then the YAML file, then `key=value` overrides.

    Raises ConfigError naming the source and the key for unknown keys (with the closest valid
    key), wrong types, missing required values (`???`) and failed `__post_init__` checks.

    Example:
        >>> from video_r1.train.config import TrainConfig
        >>> cfg = load_config(TrainConfig, None, ["model.path=m", "data.train_file=t",
        ...     "data.media_root=.", "checkpoint.output_dir=o", "optim.lr=2e-6"])
        >>> cfg.optim.lr
        2e-06
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    merged = OmegaConf.structured(cls)
    for source, conf in _config_sources(cls, yaml_path, overrides):
        try:
            merged = OmegaConf.merge(merged, conf)
        except OmegaConfBaseException as e:
            raise ConfigError(f"{source}: {_merge_reason(e, cls, conf)}") from e
    missing = _missing_keys(merged)
    if missing:
        raise ConfigError(f"required config value(s) not set: {', '.join(missing)}")
    try:
        return OmegaConf.to_object(merged)
    except ConfigError:
        raise
    except OmegaConfBaseException as e:
        cause = e.__cause__ if isinstance(e.__cause__, ConfigError) else None
        if cause is not None:
            raise cause from None
        raise ConfigError(str(e).splitlines()[0]) from e


def _config_sources(
    cls: type, yaml_path: str | Path | None, overrides: list[str]
) -> list[tuple[str, Any]]:
    """(source name, OmegaConf) of the YAML file and of each override, in merge order."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    sources: list[tuple[str, Any]] = []
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            sources.append((str(path), OmegaConf.load(path)))
        except Exception as e:  # yaml syntax errors: name the line, as an editor shows it
            mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
            reason = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"{where}: not valid YAML: {reason}") from e
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"command line: override {item!r} is not key=value")
        try:
            conf = OmegaConf.from_dotlist([_quote_word_for_str_field(cls, item)])
        except OmegaConfBaseException as e:
            raise ConfigError(f"command line: bad override {item!r}: {e}") from e
        sources.append((f"command line ({item})", conf))
    return sources


# Words YAML 1.1 reads as booleans: `mixed_precision=no` must stay the string "no".
_YAML_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false"}


def _quote_word_for_str_field(cls: type, item: str) -> str:
    """`key=no` -> `key="no"` when `key` is a string field; any other override unchanged.

    Example:
        >>> from video_r1.train.config import TrainConfig
        >>> _quote_word_for_str_field(TrainConfig, "mixed_precision=no")
        'mixed_precision="no"'
    """
    key, value = item.split("=", 1)
    if value.strip().lower() in _YAML_BOOL_WORDS and _field_type(cls, key) is str:
        return f'{key}="{value.strip()}"'
    return item


def _field_type(cls: type, dotted: str) -> Any:
    """The annotated type of `dotted` (e.g. "optim.lr") in dataclass `cls`; None if unknown."""
    import typing

    current: Any = cls
    for name in dotted.split("."):
        if not dataclasses.is_dataclass(current):
            return None
        current = typing.get_type_hints(current).get(name)
    return current


def config_keys(cls: type, prefix: str = "") -> list[str]:
    """Every leaf key of config class `cls`, dotted.

    Example:
        >>> from video_r1.train.config import CheckpointConfig
        >>> config_keys(CheckpointConfig)[:2]
        ['output_dir', 'save_every']
    """
    keys = []
    for f in dataclasses.fields(cls):
        default = _field_default(f) if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):  # a section (its class, or a tuned instance)
            keys += config_keys(type(default), f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


# Other trainers' names for our settings (TRL's GRPOConfig/SFTConfig, transformers'
# TrainingArguments, EasyR1/verl), matched on a key's last components: `learning_rate`,
# `optim.learning_rate` and `trainer.learning_rate` all hint `optim.lr`.
ALIASES: dict[str, str] = {
    "learning_rate": "optim.lr",
    "per_device_train_batch_size": "optim.per_device_batch_size",
    "gradient_accumulation_steps": "optim.grad_accum",
    "num_train_epochs": "optim.epochs",
    "total_epochs": "optim.epochs",
    "total_training_steps": "optim.max_steps",
    "lr_scheduler_type": "optim.schedule",
    "lr_warmup_ratio": "optim.warmup_ratio",
    "max_grad_norm": "optim.max_grad_norm",
    "grad_clip": "optim.max_grad_norm",
    "adam_beta1": "optim.adam_beta1",
    "adam_beta2": "optim.adam_beta2",
    "adam_epsilon": "optim.adam_eps",
    "output_dir": "checkpoint.output_dir",
    "save_steps": "checkpoint.save_every",
    "save_freq": "checkpoint.save_every",
    "save_total_limit": "checkpoint.keep_last",
    "model_name_or_path": "model.path",
    "model_path": "model.path",
    "torch_dtype": "model.dtype",
    "enable_gradient_checkpointing": "model.gradient_checkpointing",
    "use_peft": "model.lora.enabled",
    "lora_r": "model.lora.r",
    "lora_rank": "model.lora.r",
    "lora_alpha": "model.lora.alpha",
    "lora_dropout": "model.lora.dropout",
    "lora_target_modules": "model.lora.target_modules",
    "bf16": "mixed_precision",
    "fp16": "mixed_precision",
    "kl_coef": "rl.beta",
    "rollout.n": "rl.num_generations",
    "max_response_length": "rl.max_completion_length",
    "clip_ratio": "rl.epsilon",
    "clip_ratio_low": "rl.epsilon",
    "clip_ratio_high": "rl.epsilon_high",
    "use_vllm": "rl.rollout_engine",
    "vllm_gpu_memory_utilization": "rl.vllm_gpu_memory_utilization",
    "gpu_memory_utilization": "rl.vllm_gpu_memory_utilization",
    "train_files": "data.train_file",
    "dataset_name": "data.train_file",
    "image_folder": "data.media_root",
    "logging_steps": "logging.log_every",
    "report_to": "logging.trackers",
    "max_pixels": "media.video_max_pixels",
    "min_pixels": "media.video_min_pixels",
    "max_seq_length": "sft.max_seq_len",
    "max_length": "sft.max_seq_len",
}


def suggest_key(key: str, keys: list[str]) -> str | None:
    """The valid key a wrong `key` most likely means, or None: another trainer's name for the
    setting (ALIASES), the same last components in another section, else a near-typo.

    Example:
        >>> keys = ["optim.lr", "model.lora.enabled", "rl.beta", "rl.num_generations"]
        >>> [suggest_key(k, keys) for k in ("optim.learning_rate", "lora.enabled", "beta",
        ...                                 "algorithm.kl_coef", "rl.num_generation", "zzz")]
        ['optim.lr', 'model.lora.enabled', 'rl.beta', 'rl.beta', 'rl.num_generations', None]
    """
    import difflib

    parts = key.split(".")
    for n in range(len(parts), 0, -1):  # the longest known tail first
        tail = ".".join(parts[-n:])
        if ALIASES.get(tail) in keys:
            return ALIASES[tail]
        same_tail = [k for k in keys if k == tail or k.endswith("." + tail)]
        if len(same_tail) == 1 and same_tail[0] != key:
            return same_tail[0]
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if close:
        return close[0]
    last = {k.rsplit(".", 1)[-1]: k for k in keys}
    close = difflib.get_close_matches(parts[-1], sorted(last), n=1, cutoff=0.75)
    return last[close[0]] if close else None


def _leaf_key(conf: Any, key: str) -> str:
    """The first full key under `key` in `conf`: OmegaConf names the first unknown section
    (`lora` of `lora.enabled=true`), the hint needs the whole key."""
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.select(conf, key, default=None)
    except Exception:  # a key OmegaConf cannot select: keep what it named
        return key
    while OmegaConf.is_dict(node) and len(node) > 0:
        first = next(iter(node))
        key, node = f"{key}.{first}", node[first]
    return key


def _merge_reason(error: Exception, cls: type, conf: Any = None) -> str:
    """One line for an OmegaConf merge error: the key, what is wrong, the closest valid key."""
    import difflib

    key = getattr(error, "full_key", None) or "?"
    if conf is not None and key != "?":
        key = _leaf_key(conf, key)
    renamed = getattr(cls, "RENAMED_KEYS", {})
    if key in renamed:
        return f"key {key!r} was renamed {renamed[key]!r}"
    reason = str(error).splitlines()[0]
    if "not in" in reason or "Key" in type(error).__name__:
        keys = config_keys(cls)
        close = suggest_key(key, keys)
        if close is None:  # a section name: compared with sections
            depth = key.count(".")
            names = {".".join(k.split(".")[: depth + 1]) for k in keys}
            near = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.6)
            close = near[0] if near else None
        hint = f"did you mean {close!r}? " if close else ""
        return f"unknown key {key!r} ({hint}see --help for the valid keys)"
    return f"key {key!r}: {reason}"


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts (for YAML, JSON and trackers)."""
    return dataclasses.asdict(cfg)


def format_config(cfg: Any) -> str:
    """The resolved config as YAML, as printed at start and saved in every checkpoint."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(config_to_dict(cfg)))


def describe_config(cls: type, prefix: str = "", defaults: Any = None) -> list[str]:
    """One line per leaf field: `key (default): help`, for `--help`.

    A section is recursed into whatever builds its default (the section class itself or a
    function returning a tuned instance, like GRPO's published `optim`); its leaves then show
    that instance's values. `defaults` is that instance when recursing.

    Example:
        >>> from video_r1.train.config import CheckpointConfig
        >>> describe_config(CheckpointConfig)[1]
        'save_every (500): save a checkpoint every N optimizer steps (0: only at the end)'
    """
    lines = []
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name) if defaults is not None else _field_default(f)
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            lines += describe_config(type(default), f"{prefix}{f.name}.", default)
            continue
        lines.append(f"{prefix}{f.name} ({default}): {f.metadata.get('help', '')}")
    return lines


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "required"
