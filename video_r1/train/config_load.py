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
            raise ConfigError(f"{source}: {_merge_reason(e, cls)}") from e
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
        except Exception as e:  # yaml syntax errors
            raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from e
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
        factory = f.default_factory
        if isinstance(factory, type) and dataclasses.is_dataclass(factory):
            keys += config_keys(factory, f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _merge_reason(error: Exception, cls: type) -> str:
    """One line for an OmegaConf merge error: the key, what is wrong, the closest valid key."""
    import difflib

    key = getattr(error, "full_key", None) or "?"
    renamed = getattr(cls, "RENAMED_KEYS", {})
    if key in renamed:
        return f"key {key!r} was renamed {renamed[key]!r}"
    reason = str(error).splitlines()[0]
    if "not in" in reason or "Key" in type(error).__name__:
        depth = key.count(".")  # a section name is compared with sections, a key with keys
        names = {".".join(k.split(".")[: depth + 1]) for k in config_keys(cls)}
        close = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
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
