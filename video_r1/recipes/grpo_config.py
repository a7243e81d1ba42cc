"""Configuration of the GRPO / T-GRPO recipe: the shared training sections plus `rl`.

Defaults reproduce the published Video-R1 run (docs/spec.md#t-grpo); everything new is
opt-in and named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from video_r1.rewards.grounding import GROUNDING_REWARDS
from video_r1.rl.advantages import TEMPORAL_VARIANTS
from video_r1.rl.group_scores import ScoringSettings
from video_r1.rl.loss import IMPORTANCE_LEVELS
from video_r1.rollout.engine import ENGINES
from video_r1.train.config import ConfigError, OptimConfig, TrainConfig, _help

SCALE_REWARDS = ("group", "none")
LOSS_TYPES = ("sequence", "token", "dr_grpo")
VLLM_DTYPES = ("auto", "bfloat16", "float32", "float16")
REWARD_FORMATS = ("standard", "conversational")
# the group-scoring constants live in ScoringSettings; RLConfig takes its defaults from there
_PUBLISHED = ScoringSettings()


@dataclass
class RLConfig:
    temporal: bool = _help(
        "T-GRPO: also roll out on time-shuffled frames and add the temporal bonus (video prompts)",
        default=_PUBLISHED.temporal,
    )
    num_generations: int = _help("G: ordered rollouts per prompt", default=8)
    num_shuffled_generations: int = _help(
        "rollouts per video prompt on shuffled frames (-1: G/2, as published)", default=-1
    )
    alpha: float = _help(
        "temporal bonus added to correct ordered rollouts of a passing group",
        default=_PUBLISHED.alpha,
    )
    mu: float = _help(
        "a group passes when p >= mu * p_shuffled (published code 0.8; the paper's rule is 1.0)",
        default=_PUBLISHED.mu,
    )
    temporal_strict: bool = _help(
        "a group passes only when p > mu * p_shuffled (the paper's 'strictly exceeds'); false: "
        "p >= mu * p_shuffled, as the published code",
        default=_PUBLISHED.temporal_strict,
    )
    correct_threshold: float = _help(
        "accuracy above which a rollout counts as correct", default=_PUBLISHED.correct_threshold
    )
    len_control: bool = _help(
        "add the length bonus of the published code", default=_PUBLISHED.len_control
    )
    length_bonus_min_tokens: int = _help(
        "length bonus window: lower bound (tokens, incl. EOS; not a completion limit)",
        default=_PUBLISHED.length_bonus_min_tokens,
    )
    length_bonus_max_tokens: int = _help(
        "length bonus window: upper bound (tokens, incl. EOS; not a completion limit)",
        default=_PUBLISHED.length_bonus_max_tokens,
    )
    length_bonus: float = _help(
        "the bonus for a correct rollout whose length is in the window",
        default=_PUBLISHED.length_bonus,
    )
    reward_funcs: list[str] = _help(
        "reward functions: registered names (accuracy, format, ...) or package.module:function or "
        "path/to/file.py:function, called as TRL calls them (README: Your own reward function)",
        default_factory=lambda: ["accuracy", "format"],
    )
    reward_weights: list[float] = _help(
        "weight of each reward function ([] = all 1.0)", default_factory=list
    )
    accuracy_reward: str = _help(
        "the reward function whose values feed the temporal and length rules", default="accuracy"
    )
    reward_format: str = _help(
        "what reward functions get, as TRL's dataset formats: standard (prompts and completions "
        "as strings: the chat-templated prompt text, the completion text) or conversational "
        "(chat messages: the prompt's, and [{'role': 'assistant', 'content': text}])",
        default=_PUBLISHED.reward_format,
    )
    lenient_accuracy: bool = _help(
        "score answers leniently (option letters from 'B. blue', '42.0' == '42')", default=False
    )
    grounding_reward: str = _help(
        f"accuracy of temporal grounding answers, one of {GROUNDING_REWARDS}: iou (video-r1's "
        "parser: [1, 3], 1 - 3, 1 to 3, 1s-3s, mm:ss; temporal IoU), time_r1 (Time-R1: the last "
        "'A to B' of the last <answer>; IoU), videochat_r1 (VideoChat-R1: up to 3 intervals "
        "[(s, e), ...], IoU of the unions). Unreadable or reversed answers score 0",
        default="iou",
    )
    beta: float = _help("KL coefficient; 0 loads no reference model", default=0.04)
    temperature: float = _help("rollout sampling temperature", default=1.0)
    top_p: float = _help("rollout nucleus sampling", default=0.95)
    top_k: int = _help(
        "rollout top-k (0: off); 50 is transformers 4.49's default, which the published "
        "trainer sampled with",
        default=50,
    )
    max_completion_length: int = _help("max new tokens per rollout", default=768)
    min_completion_length: int = _help(
        "min new tokens per rollout (0: none; benchmarks set it to max for fixed lengths)",
        default=0,
    )
    scale_rewards: str = _help(
        f"advantage scaling, one of {SCALE_REWARDS}: group std as published, none as Dr. GRPO",
        default="group",
    )
    loss_type: str = _help(
        f"loss normalisation, one of {LOSS_TYPES}: per sequence as published, per token (DAPO), "
        "or Dr. GRPO (constant denominator)",
        default="sequence",
    )
    num_iterations: int = _help(
        "optimizer steps per step's rollouts: passes over the experience, each walking every "
        "micro-batch and ending in one optimizer and one scheduler step (1 = on-policy as "
        "published; from the second pass on, epsilon clips the ratio to the generating policy)",
        default=1,
    )
    update_dropout: bool = _help(
        "keep the model's dropout (LoRA's model.lora.dropout) on in the update passes. Off: "
        "the rollouts (eval mode), the old and reference log-probs and every update pass "
        "(train mode, dropout modules off) use one network, so the gradient is that of the "
        "policy that sampled and pass 1's ratio is exactly 1; on: each micro-batch's log-probs "
        "come from a random dropout sub-network of it, whose ratio to the sampling policy is "
        "not 1 even before any optimizer step (clipping acts on that noise). Rollouts and the "
        "old and reference log-probs never use dropout",
        default=False,
    )
    rollout_batch_size: int = _help(
        "prompts per generate call, independent of the training micro-batch (0: every prompt "
        "of the step on this process in one call); a multiple of optim.per_device_batch_size",
        default=0,
    )
    epsilon: float | None = _help(
        "PPO clip range (ratio in [1-eps, 1+eps_high]); none = no clipping with one update "
        "per batch, 0.2 when rl.num_iterations > 1",
        default=None,
    )
    epsilon_high: float | None = _help("upper clip range (none: epsilon)", default=None)
    gather_for_generation: bool = _help(
        "under DeepSpeed ZeRO-3: gather the full weights once per generation call and once for "
        "the reference log-prob pass instead of once per forward (per token); costs a full "
        "model copy per GPU meanwhile (bf16 7B: about 15 GiB); false: per-token gathering, for "
        "models that do not fit. No effect without ZeRO-3",
        default=True,
    )
    cascade_attention: bool = _help(
        "shared-prefix attention in generation and log-prob passes: each prompt row's KV cache "
        "kept once and merged exactly with each rollout's own tokens (video_r1/rollout/"
        "cascade.py); false copies the row's cache to every rollout (the earlier, slower path, "
        "kept as a fallback). Off CPU generation and log-prob passes copy the cache regardless "
        "(no fused kernel is wired there: measured on an H200, generation ran 2.4x faster on "
        "the copied cache)",
        default=True,
    )
    grouped_update: bool = _help(
        "the policy's log-prob pass in the update (with grad), and the old and reference "
        "log-probs alike (the same computation), as one sequence per prompt row: the prompt "
        "once, then its rollouts' completions, each attending to the prompt and itself only "
        "(video_r1/rollout/grouped.py; needs model.attn_implementation sdpa or eager). "
        "Measured faster than the earlier paths with and without model.gradient_checkpointing "
        "(docs/speed.md). false: the shared prompt cache (rl.cascade_attention), or under "
        "checkpointing (which turns the cache off in training) one full sequence per rollout, "
        "the prompt copied to each (the earlier path)",
        default=True,
    )
    cuda_graph_decode: bool = _help(
        "on CUDA, generation decodes with fixed shapes (each rollout's KV cache preallocated "
        "to its final length, written in place) and replays every decode step after the "
        "first as one CUDA graph instead of hundreds of kernel launches (video_r1/rollout/"
        "static_decode.py); false: the model's own forward on a growing cache. Not used on "
        "CPU, under DeepSpeed ZeRO-3 (its forward gathers parameters in hooks) or for text "
        "models with sliding-window layers",
        default=True,
    )
    prompt_wording: str = _help("prompt template wording: train or eval", default="train")
    debug_rollouts: int = _help(
        "write this many sample rollouts per step to OUTPUT/rollouts.jsonl (0: none)", default=0
    )
    paired_sampling: bool = _help(
        "common random numbers: generate the ordered and the time-shuffled rollouts of a call in "
        "two calls seeded from (seed, step, rank, call, stream), so drawing shuffled rollouts "
        "never changes the ordered ones and a GRPO and a T-GRPO run of one seed sample the same "
        "ordered rollouts from the same policy (the temporal experiment turns it on); false: "
        "one call on the global random stream",
        default=False,
    )
    rollout_engine: str = _help(
        f"what generates the rollouts, one of {ENGINES}: native (video-r1's decoder on the "
        "policy) or vllm (an in-process vLLM engine per training process, the policy's weights "
        "pushed to it before a step's generation when they changed; pip install "
        "'video-r1[vllm]'). With vllm, rl.paired_sampling seeds each prompt row's sampling "
        "from (seed, step, rank, call, stream, row): the ordered rollouts do not depend on the "
        "shuffled ones drawn in the same call, up to vLLM's batch-dependent float rounding, and "
        "are not the native engine's draws",
        default="native",
    )
    vllm_importance_sampling_cap: float = _help(
        "with rl.rollout_engine=vllm: truncated importance sampling, each token's policy-"
        "gradient term weighed by min(exp(trainer_logp - vllm_logp), C) with C this cap; both "
        "log-probs are of the distribution that sampled (suppressed ids, temperature, top-k, "
        "top-p), so the ratio holds only the engine's drift from the trainer (kernels, "
        "precision, stale weights), not the mass top-k / top-p cut, and the cap truncates the "
        "tokens the engine made far less likely than the trainer would (2.0: the cap TRL "
        "first shipped its token-level truncation with, newer TRL takes 3.0); 0: no "
        "correction (the gap is logged either way, train/mismatch/*)",
        default=2.0,
    )
    vllm_dtype: str = _help(
        f"with rl.rollout_engine=vllm: the engine's precision, one of {VLLM_DTYPES}; auto: the "
        "trainer's compute precision (bfloat16 under mixed_precision bf16, float16 under fp16, "
        "else model.dtype), not the float32 master weights'. On a CPU whose vLLM build has no "
        "bf16 kernels (no AVX512-BF16) bfloat16 runs in float32, said in one line",
        default="auto",
    )
    vllm_gpu_memory_utilization: float = _help(
        "with rl.rollout_engine=vllm: share of the GPU's memory vLLM may take (weights + KV "
        "cache) beside the trainer (TRL's colocate default is 0.3)",
        default=0.3,
    )
    vllm_kv_cache_gb: float = _help(
        "with rl.rollout_engine=vllm: vLLM's KV cache size in GiB (0: on a GPU what "
        "rl.vllm_gpu_memory_utilization leaves; on a CPU room for one generate call's rollouts "
        "of rl.vllm_max_model_len tokens each, at most a quarter of the free memory)",
        default=0.0,
    )
    vllm_max_model_len: int = _help(
        "with rl.rollout_engine=vllm: longest prompt + completion vLLM plans for (0: the "
        "checkpoint's maximum, which the KV cache must hold at least once)",
        default=0,
    )
    vllm_enforce_eager: bool = _help(
        "with rl.rollout_engine=vllm: no torch.compile and no CUDA graphs (starts in seconds, "
        "decodes slower)",
        default=False,
    )
    temporal_variant: str = _help(
        f"how the temporal rule shapes advantages, one of {TEMPORAL_VARIANTS}: published (bonus "
        "before normalisation), after_norm (bonus added after it), group_weight (passing groups "
        "x (1 + alpha)), margin (+alpha * max(0, p - p~) after it); docs/experiment_temporal.md",
        default="published",
    )

    # --- DAPO and GSPO (docs/dapo_gspo.md); off by default: the published run stays the default
    dynamic_sampling: bool = _help(
        "DAPO dynamic sampling: drop every prompt group whose ordered rewards are all equal "
        "(zero advantages) before the update, and draw and roll out more prompts (the next ones "
        "of the data order) until the step holds its prompts or "
        "rl.dynamic_sampling_max_rounds generation rounds have run",
        default=False,
    )
    dynamic_sampling_max_rounds: int = _help(
        "with rl.dynamic_sampling: generation rounds per step at most, the first included; a "
        "step still short then trains on what it kept (and says so)",
        default=4,
    )
    overlong_buffer_tokens: int = _help(
        "DAPO soft overlong penalty: width of the window before rl.max_completion_length in "
        "which the reward falls linearly to -rl.overlong_penalty (0: off)",
        default=_PUBLISHED.overlong_buffer_tokens,
    )
    overlong_penalty: float = _help(
        "DAPO soft overlong penalty factor: the reward lost at rl.max_completion_length tokens "
        "(0: off)",
        default=_PUBLISHED.overlong_penalty,
    )
    mask_truncated_completions: bool = _help(
        "rollouts that hit rl.max_completion_length without EOS get no loss (DAPO's overlong "
        "filtering; TRL's name); their rewards still shape their group's advantages",
        default=False,
    )
    importance_sampling_level: str = _help(
        f"importance ratio, one of {IMPORTANCE_LEVELS}: token (as published, PPO/GRPO), sequence "
        "(GSPO: exp of the mean token log-ratio, one clipped ratio per rollout) or "
        "sequence_token (GSPO-token); acts from the second of rl.num_iterations passes",
        default="token",
    )

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ConfigError("rl.num_generations must be >= 2 (group-relative advantages)")
        if self.num_shuffled_generations == -1:
            self.num_shuffled_generations = self.num_generations // 2
        if self.temporal and self.num_shuffled_generations < 1:
            raise ConfigError("rl.temporal needs rl.num_shuffled_generations >= 1")
        if self.scale_rewards not in SCALE_REWARDS:
            raise ConfigError(
                f"rl.scale_rewards must be one of {SCALE_REWARDS}, got {self.scale_rewards!r}"
            )
        if self.reward_format not in REWARD_FORMATS:
            raise ConfigError(
                f"rl.reward_format must be one of {REWARD_FORMATS}, got {self.reward_format!r}"
            )
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"rl.loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if self.grounding_reward not in GROUNDING_REWARDS:
            raise ConfigError(
                f"rl.grounding_reward must be one of {GROUNDING_REWARDS}, got {self.grounding_reward!r}"
            )
        if self.reward_weights and len(self.reward_weights) != len(self.reward_funcs):
            raise ConfigError(
                f"rl.reward_weights has {len(self.reward_weights)} values for "
                f"{len(self.reward_funcs)} reward functions"
            )
        if self.accuracy_reward not in self.reward_funcs:
            raise ConfigError(
                f"rl.accuracy_reward {self.accuracy_reward!r} is not in rl.reward_funcs {self.reward_funcs}"
            )
        if self.len_control and "length" in self.reward_funcs:
            raise ConfigError(
                "rl.reward_funcs has 'length' and rl.len_control is true: the published length "
                "bonus would be added twice; set rl.len_control=false to use the reward function "
                "(it can be weighted), or drop 'length'"
            )
        if self.num_iterations < 1:
            raise ConfigError("rl.num_iterations must be >= 1")
        if self.rollout_batch_size < 0:
            raise ConfigError("rl.rollout_batch_size must be >= 0 (0: the whole step per call)")
        if self.num_iterations > 1 and self.epsilon is None:
            self.epsilon = 0.2  # several updates per batch without clipping would diverge
        if self.prompt_wording not in ("train", "eval"):
            raise ConfigError("rl.prompt_wording must be 'train' or 'eval'")
        if not 0 < self.top_p <= 1 or self.temperature <= 0 or self.top_k < 0:
            raise ConfigError(
                "rl.top_p must be in (0, 1], rl.temperature > 0 and rl.top_k >= 0 (0: off)"
            )
        if self.rollout_engine not in ENGINES:
            raise ConfigError(
                f"rl.rollout_engine must be one of {ENGINES}, got {self.rollout_engine!r}"
            )
        if self.vllm_dtype not in VLLM_DTYPES:
            raise ConfigError(
                f"rl.vllm_dtype must be one of {VLLM_DTYPES}, got {self.vllm_dtype!r}"
            )
        if self.vllm_importance_sampling_cap != 0 and self.vllm_importance_sampling_cap < 1:
            raise ConfigError(
                "rl.vllm_importance_sampling_cap must be 0 (no correction) or >= 1 (a cap "
                "below 1 would shrink every token's weight)"
            )
        if self.temporal_variant not in TEMPORAL_VARIANTS:
            raise ConfigError(
                f"rl.temporal_variant must be one of {TEMPORAL_VARIANTS}, got {self.temporal_variant!r}"
            )
        self._check_dapo_gspo()

    def _check_dapo_gspo(self) -> None:
        if self.dynamic_sampling_max_rounds < 1:
            raise ConfigError("rl.dynamic_sampling_max_rounds must be >= 1 (the first round)")
        if not 0 <= self.overlong_buffer_tokens <= self.max_completion_length:
            raise ConfigError(
                f"rl.overlong_buffer_tokens must be in [0, rl.max_completion_length "
                f"{self.max_completion_length}]"
            )
        if self.overlong_penalty < 0:
            raise ConfigError("rl.overlong_penalty must be >= 0 (the reward lost at the limit)")
        if self.importance_sampling_level not in IMPORTANCE_LEVELS:
            raise ConfigError(
                f"rl.importance_sampling_level must be one of {IMPORTANCE_LEVELS}, got {self.importance_sampling_level!r}"
            )


def _published_optim() -> OptimConfig:
    # docs/spec.md#training-recipe: lr 1e-6 cosine, weight decay 0.01, grad-norm clip 5,
    # 1 prompt per device
    return OptimConfig(lr=1e-6, weight_decay=0.01, max_grad_norm=5.0, schedule="cosine")


@dataclass
class GRPOConfig(TrainConfig):
    optim: OptimConfig = _help(
        "optimizer, schedule and batch sizes", default_factory=_published_optim
    )
    rl: RLConfig = _help("GRPO / T-GRPO settings", default_factory=RLConfig)
    # keys of earlier versions: an error names the new key (video_r1.train.config_load._merge_reason)
    RENAMED_KEYS: ClassVar[dict[str, str]] = {
        "rl.min_length": "rl.length_bonus_min_tokens",
        "rl.max_length": "rl.length_bonus_max_tokens",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        batch = self.optim.per_device_batch_size
        if self.rl.rollout_batch_size % batch:
            raise ConfigError(
                f"rl.rollout_batch_size {self.rl.rollout_batch_size} must be a multiple of "
                f"optim.per_device_batch_size {batch} (generate calls hold whole micro-batches)"
            )
