"""One T-GRPO step, the recipe's own experience + update helpers vs the published structure.

Setting (REFERENCE.md's baseline): a tiny random Qwen2.5-VL (text hidden 128, 2 layers, vision
depth 2), ../shared/media/video1.mp4 (where it is missing, a generated stand-in of its geometry:
video_r1.media.reference_clip) at training settings (16 frames, 128x28x28 pixels per
frame), G = 8 ordered + 4 shuffled rollouts of exactly 64 new tokens (`--new-tokens`), beta
0.04, fp32, CPU; `--prompts N` prompts per step, each its own micro-batch (micro-batch 1 with
gradient accumulation, as memory-limited real runs are), one optimizer step per step.

- optimised: the step's media loaded as the recipe does (`load_records_media`: clips
  decoded side by side), then `video_r1.recipes.grpo_step.collect_experience` and `update`,
  as the recipe runs them: vision tower once per (prompt, frame order), the rollouts of all N prompts in
  one generate call, prompt prefixes shared, features shared by the policy and reference.
  Each prompt row's KV cache is kept once (shared-prefix attention, rl.cascade_attention).
- expanded: optimised with rl.cascade_attention=false: each row's cache copied to its
  rollouts, every decode step and log-prob pass reading all N copies (the earlier path; off
  CPU the optimised mode runs this too, since no fused kernel serves the shared prefix there).
- per-rollout: optimised with rl.grouped_update=false: the log-prob passes (reference, and the
  update's policy pass) on the shared prompt cache, or where the cache is off (the policy
  with `--gradient-checkpointing`, in training) as one full sequence per rollout, each
  carrying its own copy of the prompt (the earlier path; the optimised mode runs each prompt
  row once with its rollouts' completions after it, video_r1/rollout/grouped.py). `--modes optimised,per-rollout` prints the update's speed-up
  (policy + backward + optimizer) and both modes' peak memory during the update.
- eager-decode: optimised with rl.cuda_graph_decode=false: on CUDA, each decode step the
  model's own forward on a growing cache instead of one replayed CUDA graph (the same as
  optimised on CPU, where no graph is used).
- vllm: optimised with rl.rollout_engine=vllm: the rollouts from an in-process vLLM engine
  (the policy's weights pushed before each step's generation, `weight_sync`, part of
  `generate`), log-probs and update as optimised. `--vllm-kv-cache-gb` sizes its KV cache
  (needed on CPU); with `--preset 3b` it starts on random weights (`load_format=dummy`) and
  the first push gives it the policy's. The first (warm-up) step includes no engine start:
  the engine starts while the context is built.
- off: the published structure, per prompt: pixels repeated once per rollout, ordered and
  shuffled generated in two sequential calls, policy and reference forwards on repeated
  pixels, backward; the optimizer steps after the last prompt. The model is transformers' as
  it is (Conv3d patch embedding, one sdpa call per attention window, as the published trainer
  runs it; the other modes use video_r1.models.fast_vision).

Each mode runs in its own processes (for its own peak RSS), the two modes alternating for
`--rounds` rounds so that a change in machine load hits both alike; prints the median step
time over all timed steps, the per-phase breakdown (other = time outside the phases), peak
RSS, and the ratio. `--preset 3b` builds a random-init model at Qwen2.5-VL-3B size from a
config (no download) for a GPU: `--device cuda --dtype bfloat16 --modes optimised
--new-tokens 256` (the README's GPU figures; the off mode at that size fits only with
`--gradient-checkpointing`, which both modes then use). On a GPU, or with `--peak-tflops`, one more
untimed step counts the update's FLOPs (torch's FlopCounterMode: matmuls, convolutions and
attention, forward and backward, as they run) and prints the update's MFU: those FLOPs over
the median policy + backward + optimizer time, over the peak rate.

    .venv/bin/python benchmarks/grpo_step.py [--prompts 4] [--steps 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _update_figures.py beside it

from _update_figures import UpdatePeak, flop_counter, mfu_lines, update_lines  # noqa: E402

G, G_SHUFFLED, BETA = 8, 4, 0.04
# dense bf16 peak by the vendor's datasheet (SXM parts), the MFU's denominator on a GPU
PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4}
# Qwen2.5-VL-3B-Instruct's sizes (its config.json); the tokenizer stays the tiny one
PRESET_3B_TEXT = {
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
}
PRESET_3B_VISION = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                    "out_hidden_size": 2048, "fullatt_block_indexes": [7, 15, 23, 31],
                    "window_size": 112}  # fmt: skip


def build_model(model_dir: str, preset: str, dtype: str, device: str, stock: bool = False):
    """The tiny checkpoint, or a random-init model of the preset's size (no weights read);
    stock: transformers' modules as they are (no `use_fast_vision`), as the published
    trainer runs them."""
    import torch
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    from video_r1.models import load_model
    from video_r1.models.fast_vision import use_fast_vision

    if preset == "tiny":
        return load_model(model_dir, dtype=dtype, fast_vision=not stock).to(device)
    tiny = AutoConfig.from_pretrained(model_dir)
    text = {**tiny.text_config.to_dict(), **PRESET_3B_TEXT}
    text.pop("layer_types", None)  # derived from the layer count
    text["rope_parameters"] = {**text["rope_parameters"], "mrope_section": [16, 24, 24]}
    vision = {**tiny.vision_config.to_dict(), **PRESET_3B_VISION}
    config = type(tiny)(
        **{
            **tiny.to_dict(),
            "text_config": text,
            "vision_config": vision,
            "tie_word_embeddings": True,
        }
    )  # as the 3B checkpoint
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=getattr(torch, dtype))
    if not stock:
        use_fast_vision(model)
    return model


def index_reward(completions, **columns):
    """0.01 x position: a random model scores 0 everywhere; keep the advantages non-zero."""
    return [0.01 * i for i in range(len(completions))]


def recipe_context(
    model_dir: str, preset: str, dtype: str, device: str, prompts: int, new_tokens: int,
    cascade: bool = True, stock: bool = False, checkpointing: bool = False, graphs: bool = True,
    vllm_kv_cache_gb: float | None = None, grouped: bool = True,
):  # fmt: skip
    """The recipe's StepContext for this setting (one process, no checkpoint); cascade:
    rl.cascade_attention (False: each prompt row's cache copied to its rollouts); graphs:
    rl.cuda_graph_decode (decode steps replayed as CUDA graphs on CUDA); stock: the
    model without video-r1's module changes (`build_model`); checkpointing: activation
    checkpointing in training mode, as `prepare_model` sets `model.gradient_checkpointing`;
    grouped: rl.grouped_update (False: the per-rollout policy pass)."""
    import copy

    from accelerate import Accelerator

    from video_r1.models import generation_config, load_processor, stop_token_ids
    from video_r1.recipes.grpo_config import GRPOConfig
    from video_r1.recipes.grpo_types import StepContext
    from video_r1.rewards import accuracy_reward, format_reward
    from video_r1.rl.group_scores import RewardTerm, ScoringSettings
    from video_r1.train.config import load_config
    from video_r1.train.model import build_optimizer, build_scheduler

    cfg = load_config(GRPOConfig, None, [
        f"model.path={model_dir}", "data.train_file=unused", "data.media_root=.",
        "checkpoint.output_dir=unused", "optim.per_device_batch_size=1", f"optim.grad_accum={prompts}",
        f"rl.num_generations={G}", f"rl.num_shuffled_generations={G_SHUFFLED}", f"rl.beta={BETA}",
        f"rl.max_completion_length={new_tokens}", f"rl.min_completion_length={new_tokens}",
        f"rl.cascade_attention={str(cascade).lower()}", f"rl.cuda_graph_decode={str(graphs).lower()}",
        f"model.dtype={dtype}", f"rl.grouped_update={str(grouped).lower()}",
        # as the recipe's config says it (prepare_model reads it)
        f"model.gradient_checkpointing={str(checkpointing).lower()}",
    ])  # fmt: skip
    if vllm_kv_cache_gb is not None:  # rollouts from vLLM
        cfg.rl.rollout_engine, cfg.rl.vllm_kv_cache_gb = "vllm", vllm_kv_cache_gb
    accelerator = Accelerator(cpu=device == "cpu", gradient_accumulation_steps=prompts,
                              step_scheduler_with_optimizer=False)  # fmt: skip
    policy = build_model(model_dir, preset, dtype, device, stock)
    if checkpointing:  # as video_r1.train.model.prepare_model does for the recipe
        policy.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        policy.train()
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    optimizer = build_optimizer(policy, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, 1000)
    model, optimizer, scheduler = accelerator.prepare(policy, optimizer, scheduler)
    processor = load_processor(model_dir)
    gen_config = generation_config(model, processor, temperature=1.0, top_p=0.95,
                                   max_new_tokens=new_tokens, do_sample=True)  # fmt: skip
    gen_config.min_new_tokens = new_tokens  # fixed-length completions
    terms = [RewardTerm("accuracy", accuracy_reward), RewardTerm("format", format_reward),
             RewardTerm("index", index_reward)]  # fmt: skip
    engine = None
    if vllm_kv_cache_gb is not None:
        engine = vllm_engine(cfg, accelerator.unwrap_model(model), processor, preset)
    return StepContext(
        cfg=cfg, accelerator=accelerator, model=model, policy=accelerator.unwrap_model(model),
        reference=reference, processor=processor, optimizer=optimizer, scheduler=scheduler,
        gen_config=gen_config, eos_ids=stop_token_ids(processor.tokenizer), terms=terms,
        scoring=ScoringSettings(len_control=False), vision_trainable=True, zero3=False,
        engine=engine,
    )  # fmt: skip


def vllm_engine(cfg, policy, processor, preset: str):
    """The recipe's vLLM engine for this setting. A preset model exists only in memory: vLLM
    gets its config (and the processor) in a folder and random weights, which the first
    step's push replaces with the policy's."""
    from video_r1.recipes.grpo_engine import make_engine

    if preset == "tiny":
        return make_engine(cfg, policy, zero3=False)
    folder = Path(tempfile.mkdtemp(prefix="grpo-step-vllm-"))
    policy.config.save_pretrained(folder)
    processor.save_pretrained(folder)
    cfg.model.path = str(folder)
    return make_engine(cfg, policy, zero3=False, load_format="dummy")


def optimised_step(ctx, video: Path, records: list, settings, seed: int, timer,
                   update_context=None) -> int:  # fmt: skip
    """One step through the recipe's helpers; returns the number of generated tokens.
    update_context: entered around the update alone (a FLOP counter, `UpdatePeak`)."""
    import contextlib

    import torch

    from video_r1.media.record_media import load_records_media
    from video_r1.recipes.grpo_step import PromptBatch, collect_experience, update

    assert ctx.cfg.media.video_settings() == settings  # the off mode's frames
    with timer("media"):  # as the recipe loads a step's media: records side by side
        media = load_records_media(records, ctx.cfg.media)
        failed = [m for m in media if isinstance(m, Exception)]
        if failed:
            raise failed[0]
        batches = [PromptBatch([r], [m]) for r, m in zip(records, media, strict=True)]
    experience = collect_experience(ctx, batches, torch.Generator().manual_seed(seed), timer)
    with update_context or contextlib.nullcontext():
        update(ctx, experience, timer)
    chunks = {id(micro.chunk): micro.chunk for micro in experience}.values()
    return int(sum(float(chunk.rollouts.completion_mask.sum()) for chunk in chunks))


def off_prompt(model, reference, processor, record, video, settings, gen_config, eos, seed, timer,
               scale: float) -> int:  # fmt: skip
    """One prompt the published way, its loss scaled by `scale`; returns generated tokens."""
    import torch

    from video_r1.media import load_video
    from video_r1.media.frame_order import time_shuffle
    from video_r1.prompts import build_messages, encode_prompts, repeat_batch, select
    from video_r1.rewards import accuracy_reward, format_reward
    from video_r1.rl import group_advantages, policy_loss
    from video_r1.rollout import Rollouts, completion_mask

    device = next(model.parameters()).device
    with timer("media"):
        clip = load_video(video, settings)
        shuffled = clip.reordered(
            time_shuffle(clip.num_frames, torch.Generator().manual_seed(seed))
        )
    with timer("prompt"):
        messages = build_messages(record)
        batch = encode_prompts(processor, [messages, messages], [clip, shuffled])
        inputs = {k: v.to(device) for k, v in batch.model_inputs.items()}
    with timer("generate"), torch.no_grad():
        outs = []
        for row, n in ((0, G), (1, G_SHUFFLED)):  # two sequential calls, pixels repeated
            rep = repeat_batch(select(inputs, [row]), n)
            outs.append(model.generate(**rep, generation_config=gen_config))
        prompt_len = inputs["input_ids"].shape[1]
        completions = torch.cat([o[:, prompt_len:] for o in outs])
        rows = torch.tensor([0] * G + [1] * G_SHUFFLED, device=device)
        rollouts = Rollouts(
            rows=rows, prompt_ids=inputs["input_ids"][rows], prompt_mask=inputs["attention_mask"][rows],
            completion_ids=completions, completion_mask=completion_mask(completions, eos),
            truncated=torch.ones(len(rows), dtype=torch.bool),
        )  # fmt: skip

    def repeated_logprobs(net):
        rep = repeat_batch(select(inputs, [0]), G)
        comp = rollouts.completion_ids[:G]
        rep["input_ids"] = torch.cat([rep["input_ids"], comp], 1)
        rep["attention_mask"] = torch.cat([rep["attention_mask"], rollouts.completion_mask[:G]], 1)
        types = rep["mm_token_type_ids"]
        rep["mm_token_type_ids"] = torch.cat([types, torch.zeros_like(comp, dtype=types.dtype)], 1)
        logits = net(**rep, logits_to_keep=comp.shape[1] + 1).logits[:, :-1]
        return torch.log_softmax(logits.float(), -1).gather(-1, comp.unsqueeze(-1)).squeeze(-1)

    with timer("reference"), torch.no_grad():
        ref_logprobs = repeated_logprobs(reference)
    with timer("policy"):
        logprobs = repeated_logprobs(model)
    with timer("rewards"):
        texts = processor.tokenizer.batch_decode(rollouts.completion_ids, skip_special_tokens=True)
        columns = {"solution": [record.solution] * len(texts),
                   "problem_type": [record.problem_type] * len(texts)}  # fmt: skip
        acc, fmt = accuracy_reward(texts, **columns), format_reward(texts)
        rewards = torch.tensor(
            [a + f + 0.01 * i for i, (a, f) in enumerate(zip(acc, fmt, strict=True))]
        )
        advantages = group_advantages(rewards[:G].view(1, G)).view(-1).to(device)
    with timer("backward"):
        loss, _ = policy_loss(logprobs, advantages, rollouts.completion_mask[:G].float(),
                              ref_logprobs=ref_logprobs, beta=BETA)  # fmt: skip
        (loss * scale).backward()
    return int(rollouts.completion_mask.sum())


def run_mode(args: argparse.Namespace) -> dict:
    import torch

    from video_r1.compat import ensure_torchvision_importable
    from video_r1.utils.malloc import keep_large_allocations

    ensure_torchvision_importable()  # before transformers
    keep_large_allocations()  # as `video-r1` does (VIDEO_R1_MALLOC=system: not)
    from video_r1.data.records import Record
    from video_r1.media.types import VideoSettings
    from video_r1.recipes.grpo import PhaseTimer

    torch.manual_seed(0)
    video = Path(args.video)
    records = [
        Record(problem_id=i, problem="What happens in the video?", data_type="video",
               problem_type="multiple choice", solution="<answer>A</answer>", path=video.name,
               media_path=video, options=("A. something", "B. nothing"))
        for i in range(args.prompts)
    ]  # fmt: skip
    settings = VideoSettings()  # training: 16 frames, 128x28x28
    ctx = recipe_context(args.model_dir, args.preset, args.dtype, args.device, args.prompts,
                         args.new_tokens, cascade=args.mode != "expanded",
                         stock=args.mode == "off", checkpointing=args.gradient_checkpointing,
                         graphs=args.mode != "eager-decode", grouped=args.mode != "per-rollout",
                         vllm_kv_cache_gb=args.vllm_kv_cache_gb if args.mode == "vllm" else None)  # fmt: skip
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    runs, update_peak = [], UpdatePeak(args.device)
    for i in range(args.steps + 1):  # the first step warms up
        timer = PhaseTimer()
        start = time.perf_counter()
        if args.mode != "off":
            tokens = optimised_step(ctx, video, records, settings, i, timer, update_peak)
        else:
            tokens = sum(
                off_prompt(ctx.policy, ctx.reference, ctx.processor, r, video, settings,
                           ctx.gen_config, ctx.eos_ids, i, timer, 1.0 / len(records))
                for r in records
            )  # fmt: skip
            with timer("optimizer"):
                torch.nn.utils.clip_grad_norm_(ctx.policy.parameters(), ctx.cfg.optim.max_grad_norm)
                ctx.optimizer.step()
                ctx.optimizer.zero_grad(set_to_none=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        phases = dict(timer.seconds)
        phases["total"] = time.perf_counter() - start
        phases["other"] = phases["total"] - sum(
            v for k, v in phases.items() if k != "total" and k not in NESTED
        )
        phases["tokens_per_s"] = tokens / phases["generate"]
        if i:
            runs.append(phases)
    gpu = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    update_flops, flops_error = 0.0, None
    if args.mfu and args.mode != "off":
        # one more, untimed step: the update's FLOPs as it runs (matmuls, convolutions and
        # attention, forward and backward, counted by torch; a shared prompt prefix counts once)
        try:
            counter = flop_counter()
            optimised_step(ctx, video, records, settings, args.steps + 1, PhaseTimer(), counter)
            update_flops = float(counter.get_total_flops())
        except Exception as e:  # keep the timings; the parent says why there is no MFU
            flops_error = repr(e)
    return {"mode": args.mode, "steps": runs, "peak_rss_gib": rss, "peak_gpu_gib": gpu,
            "update_peak_gib": update_peak.gib,
            "update_flops": update_flops, "update_flops_error": flops_error}  # fmt: skip


MODES = ["optimised", "off", "expanded", "per-rollout", "eager-decode", "vllm"]
PHASES = ["media", "prompt", "generate", "weight_sync", "rewards", "reference", "policy",
          "backward", "optimizer", "other", "total", "tokens_per_s"]  # fmt: skip
NESTED = {"weight_sync"}  # timed inside another phase (generate): not added to the total


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=3, help="timed steps per round (after 1 warm-up)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode")
    parser.add_argument("--prompts", type=int, default=1, help="prompts per step (micro-batch 1)")
    parser.add_argument(
        "--video",
        help="the clip (default: ../shared/media/video1.mp4 from the repository root, or "
        "$VIDEO_R1_TEST_VIDEO; where missing, a generated stand-in of its geometry)",
    )
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument(
        "--new-tokens", type=int, default=64, help="generated tokens per rollout (fixed length)"
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        help="the device's peak rate, for the update's MFU (default on an H100/H200: 989.4, "
        "dense bf16; elsewhere no MFU unless given)",
    )
    parser.add_argument(
        "--preset",
        default="tiny",
        choices=["tiny", "3b"],
        help="tiny random Qwen2.5-VL, or random init at Qwen2.5-VL-3B size",
    )
    parser.add_argument(
        "--modes",
        default="optimised,off",
        help="comma-separated modes to run: optimised, off, expanded (optimised with "
        "rl.cascade_attention=false: each prompt row's KV cache copied to its rollouts), "
        "per-rollout (optimised with rl.grouped_update=false: with --gradient-checkpointing "
        "the update's policy pass runs one full sequence per rollout), "
        "eager-decode (optimised with rl.cuda_graph_decode=false: no CUDA graphs), vllm "
        "(optimised with rl.rollout_engine=vllm)",
    )
    parser.add_argument(
        "--vllm-kv-cache-gb",
        type=float,
        default=None,
        help="vllm mode: vLLM's KV cache in GiB (default: 1 on CPU; on CUDA 0, sized from "
        "rl.vllm_gpu_memory_utilization's 0.3)",
    )
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="activation checkpointing in both modes, as configs/grpo.yaml's "
        "model.gradient_checkpointing: true runs (it turns the KV cache off in training: the "
        "policy's log-prob passes run prefix-grouped, in the per-rollout mode one sequence "
        "per rollout, as in the recipe)",
    )
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.video is None:  # the stand-in, when needed, is kept for the next run
        from video_r1.media.reference_clip import reference_clip

        args.video = str(reference_clip(Path(tempfile.gettempdir()) / "video-r1"))
    if not Path(args.video).is_file():
        parser.error(f"--video {args.video}: no such file")
    unknown = [m for m in args.modes.split(",") if m not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)} (choose from {', '.join(MODES)})")
    if args.new_tokens < 1:
        parser.error(f"--new-tokens {args.new_tokens}: must be at least 1")
    if args.vllm_kv_cache_gb is None:
        args.vllm_kv_cache_gb = 0.0 if args.device.startswith("cuda") else 1.0
    args.mfu = args.peak_tflops is not None or args.device.startswith("cuda")
    return args


def peak_tflops(args: argparse.Namespace) -> float | None:
    """--peak-tflops, or the datasheet's dense bf16 rate of an H100/H200 in bf16."""
    if args.peak_tflops is not None or not args.device.startswith("cuda"):
        return args.peak_tflops
    import torch

    name = torch.cuda.get_device_name(args.device)
    chip = next((c for c in PEAK_BF16_TFLOPS if c in name), None)
    return PEAK_BF16_TFLOPS[chip] if chip and args.dtype == "bfloat16" else None


def main() -> None:
    args = parse_args()
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    from video_r1.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # before transformers
    from video_r1.models import build_tiny_model
    from video_r1.prompts import tokenizer_texts

    modes = args.modes.split(",")
    steps: dict[str, list] = {mode: [] for mode in modes}
    peaks: dict[str, dict] = {mode: {"peak_rss_gib": 0.0, "peak_gpu_gib": 0.0,
                                     "update_peak_gib": 0.0} for mode in modes}  # fmt: skip
    flops: dict[str, float] = {mode: 0.0 for mode in modes}
    flops_errors: dict[str, str] = {}
    passed = ["--steps", str(args.steps), "--prompts", str(args.prompts), "--video", args.video,
              "--device", args.device, "--dtype", args.dtype, "--preset", args.preset,
              "--new-tokens", str(args.new_tokens),
              "--vllm-kv-cache-gb", str(args.vllm_kv_cache_gb)]  # fmt: skip
    if args.gradient_checkpointing:
        passed.append("--gradient-checkpointing")
    if args.peak_tflops is not None:
        passed += ["--peak-tflops", str(args.peak_tflops)]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(
            Path(tmp) / "tiny", "qwen2.5-vl", prompt_texts=tokenizer_texts()
        )
        for _ in range(args.rounds):
            for mode in modes:
                proc = subprocess.run(
                    [sys.executable, __file__, "--mode", mode, "--model-dir", str(model_dir), *passed],
                    capture_output=True, text=True,
                )  # fmt: skip
                if proc.returncode:  # the child's traceback, not just its exit status
                    sys.exit(f"mode {mode} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                steps[mode] += result["steps"]
                for key in peaks[mode]:
                    peaks[mode][key] = max(peaks[mode][key], result[key])
                flops[mode] = max(flops[mode], result["update_flops"])
                if result["update_flops_error"]:
                    flops_errors[mode] = result["update_flops_error"]
    medians = {m: {k: statistics.median(s.get(k, 0.0) for s in runs) for k in PHASES}
               for m, runs in steps.items()}  # fmt: skip
    print(f"T-GRPO step, {args.preset} Qwen2.5-VL, {Path(args.video).name} 16 frames, "
          f"{args.prompts} prompt(s)/step, G={G}+{G_SHUFFLED}, {args.new_tokens} tokens, {args.dtype} on "
          f"{args.device}{', activation checkpointing' if args.gradient_checkpointing else ''}; "
          f"median of {args.steps * args.rounds} steps per mode, "
          f"{args.rounds} alternating rounds (s)")  # fmt: skip
    w = max(11, *(len(m) + 1 for m in modes))  # column width
    print(f"{'phase':<13}" + "".join(f"{m:>{w}}" for m in modes))
    for phase in PHASES:
        print(f"{phase:<13}" + "".join(f"{medians[m][phase]:>{w}.3f}" for m in modes))
    print(f"{'peak RSS':<13}" + "".join(f"{peaks[m]['peak_rss_gib']:>{w - 1}.2f}G" for m in modes))
    if args.device.startswith("cuda"):
        print(
            f"{'peak GPU mem':<13}"
            + "".join(f"{peaks[m]['peak_gpu_gib']:>{w - 1}.2f}G" for m in modes)
        )
    for line in mfu_lines(medians, flops, flops_errors, peak_tflops(args)):
        print(line)
    for line in update_lines(medians, {m: peaks[m]["update_peak_gib"] for m in modes}):
        print(line)
    for mode in (m for m in modes if m != "off" and "off" in modes):
        ratio = medians["off"]["total"] / medians[mode]["total"]
        print(f"speed-up (off / {mode}): {ratio:.2f}x")
    if {"optimised", "vllm"} <= set(modes):
        for phase in ("generate", "total"):
            ratio = medians["optimised"][phase] / medians["vllm"][phase]
            print(f"{phase} speed-up (optimised / vllm): {ratio:.2f}x")
    if {"optimised", "eager-decode"} <= set(modes):  # the CUDA graphs' share, on CUDA
        ratio = medians["eager-decode"]["generate"] / medians["optimised"]["generate"]
        print(f"generation speed-up (eager-decode / optimised): {ratio:.2f}x")


if __name__ == "__main__":
    main()
