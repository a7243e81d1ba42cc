"""Training configuration: typed dataclass sections, YAML files, `key=value` overrides.

The sections below are shared by every recipe. A recipe composes them into its own config
class (SFT: `video_r1.recipes.sft.SFTConfig`; GRPO subclasses `TrainConfig` the same way and
adds its own section), then calls::

    cfg = load_config(GRPOConfig, "configs/grpo.yaml", ["optim.lr=2e-6"])
    print(format_config(cfg))          # the resolved config, printed at start

Every field carries `metadata={"help": ...}`; `describe_config(cls)` lists them for `--help`.
An unknown key (in the YAML or on the command line) raises `ConfigError` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from video_r1.media.types import (
    FPS,
    FPS_MIN_FRAMES,
    IMAGE_FACTOR,
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    TRAIN_VIDEO_MAX_PIXELS,
    VIDEO_MIN_PIXELS,
    VIDEO_TOTAL_PIXELS,
    ImageSettings,
    VideoSettings,
)
from video_r1.prompts.frame_times import FRAME_TIMES_IN_PROMPT

# re-exported: the recipes import the sections and the loading API from one module
from video_r1.train.config_load import (  # noqa: F401
    ConfigError,
    config_keys,
    config_to_dict,
    describe_config,
    format_config,
    load_config,
)

SCHEDULES = ("cosine", "constant", "linear")
MIXED_PRECISIONS = ("auto", "no", "bf16", "fp16")
DTYPES = ("float32", "bfloat16", "float16")
BAD_SAMPLE_POLICIES = ("error", "skip")


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


# Language-model projections of Qwen2/2.5/3-VL; the vision tower (`visual.*`) is left out.
DEFAULT_LORA_TARGETS = (
    r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"
)


@dataclass
class LoraConfig:
    enabled: bool = _help("train LoRA adapters (peft) instead of all weights", default=False)
    r: int = _help("LoRA rank", default=64)
    alpha: int = _help("LoRA alpha (scale = alpha / r)", default=128)
    dropout: float = _help("LoRA dropout (0 keeps runs bit-reproducible)", default=0.05)
    target_modules: str = _help(
        "regex of module names that get adapters (peft target_modules)",
        default=DEFAULT_LORA_TARGETS,
    )

    def __post_init__(self) -> None:
        if self.enabled and self.r <= 0:
            raise ConfigError(f"model.lora.r must be > 0 when LoRA is enabled, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class ModelConfig:
    path: str = _help("model folder or hub id (Hugging Face format)", default="???")
    dtype: str = _help(
        f"dtype the weights are loaded and kept in, one of {DTYPES}. Keep float32 with "
        "mixed_precision=bf16 unless the backend keeps fp32 master weights (DeepSpeed does): "
        "an lr of 1e-6 is below bf16's resolution and updates of bf16 weights vanish",
        default="float32",
    )
    attn_implementation: str = _help(
        "attention kernel: sdpa, eager or flash_attention_2", default="sdpa"
    )
    gradient_checkpointing: bool = _help(
        "recompute activations in backward to save memory", default=False
    )
    freeze_vision: bool = _help("freeze the vision tower (visual.*) and its merger", default=False)
    lora: LoraConfig = _help("LoRA adapters", default_factory=LoraConfig)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"model.dtype must be one of {DTYPES}, got {self.dtype!r}")


@dataclass
class MediaConfig:
    fps: float = _help("video frames sampled per second", default=FPS)
    min_frames: int = _help("fewest frames per video", default=FPS_MIN_FRAMES)
    max_frames: int = _help("most frames per video (published training: 16)", default=16)
    video_min_pixels: int = _help("per-frame min pixels", default=VIDEO_MIN_PIXELS)
    video_max_pixels: int = _help(
        "per-frame max pixels (training 128x28x28)", default=TRAIN_VIDEO_MAX_PIXELS
    )
    video_total_pixels: int = _help("pixel budget over all frames", default=VIDEO_TOTAL_PIXELS)
    image_min_pixels: int = _help("image min pixels", default=IMAGE_MIN_PIXELS)
    image_max_pixels: int = _help("image max pixels (256x28x28)", default=IMAGE_MAX_PIXELS)
    factor: int = _help(
        "height/width multiple (28 for Qwen2/2.5-VL, 32 Qwen3-VL)", default=IMAGE_FACTOR
    )
    cache_dir: str | None = _help("decoded-frame cache folder (none: no cache)", default=None)

    def __post_init__(self) -> None:
        if not 0 < self.min_frames <= self.max_frames:
            raise ConfigError(
                f"media: need 0 < min_frames <= max_frames, got {self.min_frames}, {self.max_frames}"
            )
        if self.video_min_pixels > self.video_max_pixels:
            raise ConfigError("media.video_min_pixels is larger than media.video_max_pixels")

    def video_settings(self) -> VideoSettings:
        return VideoSettings(
            fps=self.fps,
            min_frames=self.min_frames,
            max_frames=self.max_frames,
            min_pixels=self.video_min_pixels,
            max_pixels=self.video_max_pixels,
            total_pixels=self.video_total_pixels,
            factor=self.factor,
        )

    def image_settings(self) -> ImageSettings:
        return ImageSettings(
            min_pixels=self.image_min_pixels, max_pixels=self.image_max_pixels, factor=self.factor
        )


@dataclass
class DataConfig:
    train_file: str = _help("training records (JSON list or JSONL)", default="???")
    media_root: str = _help("folder the records' `path` fields are relative to", default="???")
    on_bad_sample: str = _help(
        "a sample whose media or encoding fails: 'error' stops the run, 'skip' drops it "
        "(logged to OUTPUT/bad_samples.jsonl; never replaced by another sample)",
        default="error",
    )
    max_bad_fraction: float = _help(
        "with skip: stop when more than this fraction of the samples seen so far is bad",
        default=0.01,
    )
    shuffle: bool = _help("shuffle records every epoch (seeded)", default=True)
    seed: int = _help("seed of the record order", default=42)
    frame_times_in_prompt: str = _help(
        "state each sampled frame's time (seconds) in the prompt: 'auto' for temporal "
        "grounding on models without a sense of time (Qwen2-VL), 'on' for every video, 'off' "
        "never (docs/spec.md#frame-times)",
        default="auto",
    )

    def __post_init__(self) -> None:
        if self.on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigError(
                f"data.on_bad_sample must be one of {BAD_SAMPLE_POLICIES}, got {self.on_bad_sample!r}"
            )
        if self.frame_times_in_prompt not in FRAME_TIMES_IN_PROMPT:
            raise ConfigError(
                f"data.frame_times_in_prompt must be one of {FRAME_TIMES_IN_PROMPT}, "
                f"got {self.frame_times_in_prompt!r}"
            )
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ConfigError(
                f"data.max_bad_fraction must be in [0, 1], got {self.max_bad_fraction}"
            )


@dataclass
class OptimConfig:
    lr: float = _help("peak learning rate (AdamW)", default=1e-6)
    weight_decay: float = _help("AdamW weight decay (not applied to biases/norms)", default=0.0)
    adam_beta1: float = _help("AdamW beta1", default=0.9)
    adam_beta2: float = _help("AdamW beta2", default=0.999)
    adam_eps: float = _help("AdamW epsilon", default=1e-8)
    schedule: str = _help(
        f"learning-rate schedule after warm-up, one of {SCHEDULES}", default="cosine"
    )
    warmup_ratio: float = _help("warm-up steps as a fraction of all steps", default=0.0)
    warmup_steps: int = _help("warm-up steps (overrides warmup_ratio when > 0)", default=0)
    max_grad_norm: float = _help("clip the gradient norm to this (0: no clipping)", default=1.0)
    grad_accum: int = _help("micro-batches accumulated per optimizer step", default=1)
    per_device_batch_size: int = _help("records per micro-batch per process", default=1)
    epochs: int = _help("passes over the training records", default=1)
    max_steps: int = _help("stop after this many optimizer steps (0: run all epochs)", default=0)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")
        if self.grad_accum < 1 or self.per_device_batch_size < 1:
            raise ConfigError("optim.grad_accum and optim.per_device_batch_size must be >= 1")
        if self.epochs < 1 and self.max_steps <= 0:
            raise ConfigError("set optim.epochs >= 1 or optim.max_steps > 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"optim.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


@dataclass
class CheckpointConfig:
    output_dir: str = _help("run folder: checkpoints, metrics.jsonl, logs", default="???")
    save_every: int = _help(
        "save a checkpoint every N optimizer steps (0: only at the end)", default=500
    )
    keep_last: int = _help("keep only the newest K checkpoints (0: keep all)", default=2)
    overwrite: bool = _help(
        "start fresh in an output_dir that holds a run (checkpoints or final): delete that "
        "run's files first. Without it such a fresh start is refused (use --resume instead)",
        default=False,
    )

    def __post_init__(self) -> None:
        if self.save_every < 0 or self.keep_last < 0:
            raise ConfigError("checkpoint.save_every and checkpoint.keep_last must be >= 0")


@dataclass
class LoggingConfig:
    log_every: int = _help("write metrics every N optimizer steps", default=1)
    trackers: list[str] = _help(
        "accelerate trackers (tensorboard, wandb, mlflow, ...); [] for none",
        default_factory=lambda: ["tensorboard"],
    )
    project: str = _help("tracker project / run name", default="video-r1")
    progress_bar: bool = _help(
        "show a tqdm progress bar with ETA on the main process", default=True
    )

    def __post_init__(self) -> None:
        if self.log_every < 1:
            raise ConfigError(f"logging.log_every must be >= 1, got {self.log_every}")


@dataclass
class TrainConfig:
    """The sections every recipe shares. Recipes subclass this and add their own."""

    model: ModelConfig = _help("model loading and what is trained", default_factory=ModelConfig)
    media: MediaConfig = _help("frame sampling and pixel limits", default_factory=MediaConfig)
    data: DataConfig = _help(
        "training records and the bad-sample policy", default_factory=DataConfig
    )
    optim: OptimConfig = _help("optimizer, schedule and batch sizes", default_factory=OptimConfig)
    checkpoint: CheckpointConfig = _help(
        "where and how often to save", default_factory=CheckpointConfig
    )
    logging: LoggingConfig = _help("metrics and trackers", default_factory=LoggingConfig)
    mixed_precision: str = _help(
        f"one of {MIXED_PRECISIONS}; auto = bf16 where the GPU supports it, else no", default="auto"
    )
    seed: int = _help(
        "seed of the run's randomness: dropout, LoRA init and, in GRPO, rollout sampling and "
        "T-GRPO's frame shuffles (the record order has data.seed)",
        default=42,
    )

    def __post_init__(self) -> None:
        if self.mixed_precision not in MIXED_PRECISIONS:
            hint = ""
            if self.mixed_precision in ("True", "False"):  # YAML 1.1 reads a bare no as False
                hint = ' (write mixed_precision: "no" in YAML: a bare no is a boolean there)'
            raise ConfigError(
                f"mixed_precision must be one of {MIXED_PRECISIONS}, "
                f"got {self.mixed_precision!r}{hint}"
            )
