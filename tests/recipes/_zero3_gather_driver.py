"""Entry point of the ZeRO-3 gathering test: greedy rollouts and log-probs, per-token vs gathered.

Builds the policy engine and the reference engine as the GRPO recipe does, rolls out this
rank's record greedily once with per-token gathering (`synced_gpus`) and twice with the weights
gathered once per call, and saves, per mode, the completions, the policy and reference
log-probs, and what the ZeRO-3 state looked like during and after generation. Rank 0 rolls out
a video (ordered + shuffled rows) with more new tokens than rank 1 (an image), so without
`synced_gpus` the two processes run different numbers of forwards.

    accelerate launch --config_file configs/accelerate/zero3.yaml --num_processes 2 \\
        _zero3_gather_driver.py OUT_DIR configs/grpo_tiny.yaml key=value ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from video_r1.data import load_records
from video_r1.media.record_media import load_record_media
from video_r1.models import generation_config, load_processor, stop_token_ids
from video_r1.prompts import build_messages, encode_prompts
from video_r1.recipes.grpo import load_reference
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.grpo_step import build_prompt_rows
from video_r1.rollout import completion_logprobs, encode_vision, generate_rollouts
from video_r1.train.config import load_config
from video_r1.train.model import build_optimizer, prepare_model
from video_r1.train.setup import setup_accelerator
from video_r1.train.zero3 import gathered_weights, parameter_offload

NEW_TOKENS = (12, 5)  # per rank


def forward_state(engine) -> dict[str, bool]:
    """Whether `torch.nn.functional.linear` is DeepSpeed's ZeRO-3 replacement and whether the
    engine's own forward hooks are registered."""
    from deepspeed.runtime.zero.linear import zero3_linear_wrap

    return {
        "zero3_linear": torch.nn.functional.linear is zero3_linear_wrap,
        "engine_hooks": engine.module_forward_pre_hook is not None
        and engine.module_forward_post_hook is not None,
    }


class ForwardProbe:
    """Counts root forwards, whether each saw every partitioned weight whole, and the
    `forward_state` each ran in."""

    def __init__(self, module: torch.nn.Module, engine) -> None:
        from deepspeed.runtime.zero.partition_parameters import ZeroParamStatus

        self.available = ZeroParamStatus.AVAILABLE
        self.partitioned = [p for p in module.parameters() if not getattr(p, "ds_persist", False)]
        self.whole: list[bool] = []
        self.states: list[dict[str, bool]] = []
        self.engine = engine
        self.handle = module.register_forward_pre_hook(self._record)

    def _record(self, module, args) -> None:
        self.whole.append(all(p.ds_status == self.available for p in self.partitioned))
        self.states.append(forward_state(self.engine))


def rollout(model, policy, reference, inputs, counts, gen_config, eos_ids, gather: bool) -> dict:
    with torch.no_grad():
        encoded = encode_vision(policy, inputs)
    offload = parameter_offload(model)
    hooks_before = len(offload.forward_hooks)
    state_before = forward_state(model)
    probe = ForwardProbe(policy, model)
    with gathered_weights(model, gather) as gathered:
        rollouts = generate_rollouts(
            policy, encoded, counts, gen_config, eos_ids, synced_gpus=not gathered
        )
    probe.handle.remove()
    state_after = forward_state(model)
    repartitioned = all(p.ds_status != probe.available for p in probe.partitioned)
    logprobs = completion_logprobs(model, encoded, rollouts)  # with grad, hooks back
    with torch.no_grad(), gathered_weights(reference, gather):
        ref_logprobs = completion_logprobs(reference, encoded, rollouts)
    return {
        "gathered": gathered,
        "completion_ids": rollouts.completion_ids,
        "completion_mask": rollouts.completion_mask,
        "logprobs": logprobs.detach(),
        "ref_logprobs": ref_logprobs,
        "forwards_whole": probe.whole,
        "forward_states": probe.states,
        "state_before_after": (state_before, state_after),
        "hooks": (hooks_before, len(offload.forward_hooks)),
        "repartitioned": repartitioned,
    }


def main(out: Path, config: str, overrides: list[str]) -> None:
    cfg = load_config(GRPOConfig, config, overrides)
    accelerator = setup_accelerator(cfg, out)
    rank = accelerator.process_index
    # partition every weight (by default DeepSpeed keeps those under 1e5 elements whole, which
    # in the tiny model is all but the embeddings), as in a real-size model
    zero = accelerator.state.deepspeed_plugin.deepspeed_config["zero_optimization"]
    zero["stage3_param_persistence_threshold"] = 0
    processor = load_processor(cfg.model.path)
    model = prepare_model(cfg.model)
    optimizer = build_optimizer(model, cfg.optim)
    model, optimizer = accelerator.prepare(model, optimizer)
    policy = accelerator.unwrap_model(model)
    reference = load_reference(cfg, accelerator)
    record = load_records(cfg.data.train_file, cfg.data.media_root)[rank]
    media = load_record_media(record, cfg.media)
    sources, row_media, counts = build_prompt_rows([media], cfg, torch.Generator().manual_seed(0))
    messages = [build_messages(record) for _ in sources]
    prompts = encode_prompts(processor, messages, row_media)
    inputs = {k: v.to(accelerator.device) for k, v in prompts.model_inputs.items()}
    gen_config = generation_config(
        policy, processor, max_new_tokens=NEW_TOKENS[rank], do_sample=False
    )
    gen_config.min_new_tokens = NEW_TOKENS[rank]
    eos_ids = stop_token_ids(processor.tokenizer)
    args = (model, policy, reference, inputs, counts, gen_config, eos_ids)
    runs = {
        "per_token": rollout(*args, gather=False),
        "gathered": rollout(*args, gather=True),
        "gathered_again": rollout(*args, gather=True),  # after the hooks came back once
    }
    out.mkdir(parents=True, exist_ok=True)
    torch.save(runs, out / f"rank{rank}.pt")
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
