"""Answering records: media at eval settings in a chosen frame order, one batched generate call.

Shared by `video-r1 eval`, `annotate` and `infer`, so all three see the same prompt, frames and
decoding. The vision tower runs once per sample (video_r1.rollout.encode_vision); K answers of
one record reuse its features.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from video_r1.data import Record
from video_r1.evaluation.settings import FRAME_ORDERS, EvalSettings
from video_r1.media.types import Clip

Media = Clip | torch.Tensor


@dataclass(frozen=True)
class Answer:
    """One generated answer: decoded text (special tokens dropped), tokens, whether cut off."""

    text: str
    num_tokens: int  # completion tokens, including the first EOS
    truncated: bool  # no EOS within max_new_tokens


def stable_seed(*parts: Any) -> int:
    """A seed that depends only on `parts` (not on the process, unlike hash()).

    Example:
        stable_seed(0, "bench.jsonl", 17) == stable_seed(0, "bench.jsonl", 17)  # any process
    """
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


def frame_order_indices(order: str, num_frames: int, seed: int) -> list[int]:
    """The permutation of a clip's frames for a frame order; `seed` fixes the shuffle.

    Example:
        frame_order_indices("reversed", 4, 0) -> [3, 2, 1, 0]
        frame_order_indices("ordered", 4, 0) -> [0, 1, 2, 3]
    """
    if order == "ordered":
        return list(range(num_frames))
    if order == "reversed":
        return list(range(num_frames))[::-1]
    if order == "shuffled":
        from video_r1.media.frame_order import time_shuffle

        return time_shuffle(num_frames, torch.Generator().manual_seed(seed))
    raise ValueError(f"unknown frame order {order!r}; expected one of {list(FRAME_ORDERS)}")


def load_media(
    record: Record, settings: EvalSettings, factor: int, order: str = "ordered", seed: int = 0
) -> Media:
    """The record's media at eval settings: a Clip in `order`, or a uint8 [3, H, W] image.

    Raises MediaError for an unusable file. Images have no frame order: only "ordered" is
    allowed for them (ValueError otherwise).
    """
    from video_r1.media import load_image, load_video

    if record.data_type == "image":
        if order != "ordered":
            raise ValueError(f"{record.source}: an image has no frame order ({order!r})")
        return load_image(record.media_path, settings.image_settings(factor))
    clip = load_video(record.media_path, settings.video_settings(factor))
    if order == "ordered":
        return clip
    return clip.reordered(frame_order_indices(order, clip.num_frames, seed))


def build_generation_config(model: Any, processor: Any, settings: EvalSettings) -> Any:
    from video_r1.models import generation_config

    return generation_config(
        model,
        processor,
        temperature=settings.temperature,
        top_p=settings.top_p,
        top_k=0,  # off: the published evaluation sampled with vLLM, which has no top-k default
        max_new_tokens=settings.max_new_tokens,
        do_sample=not settings.greedy,
    )


def model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


def encode_batch(
    model: Any, processor: Any, records: Sequence[Record], media: Sequence[Media], wording: str,
    frame_times_in_prompt: str = "auto",
) -> Any:  # fmt: skip
    """Prompts of `records` with their media, on the model's device, vision features computed."""
    return _encode_requests(model, processor, records, media, wording, frame_times_in_prompt)[0]


def _encode_requests(
    model: Any, processor: Any, records: Sequence[Record], media: Sequence[Media], wording: str,
    frame_times_in_prompt: str = "auto",
) -> tuple[Any, list[str]]:  # fmt: skip
    """(encoded prompts, their texts). With a vLLM engine the model is a skeleton without
    weights: the prompts are encoded (for their token ids) but no vision tower runs."""
    from video_r1.prompts import encode_prompts, prompt_messages, prompt_text
    from video_r1.rollout import EncodedPrompts, encode_vision

    messages = prompt_messages(
        processor, records, media, wording=wording, frame_times_in_prompt=frame_times_in_prompt
    )
    batch = encode_prompts(processor, messages, list(media))
    texts = [prompt_text(processor, m) for m in messages]
    if getattr(model, "generation_engine", None) is not None:
        return EncodedPrompts(batch.model_inputs, {}, {}), texts
    device = model_device(model)
    inputs = {k: v.to(device) for k, v in batch.model_inputs.items()}
    with torch.no_grad():
        return encode_vision(model, inputs), texts


def generate_answers(
    model: Any,
    processor: Any,
    records: Sequence[Record],
    media: Sequence[Media],
    settings: EvalSettings,
    *,
    samples_per_record: int = 1,
    seeds: Sequence[int] | None = None,
    generation_config: Any = None,
) -> list[list[Answer]]:
    """`samples_per_record` answers to each record (its K answers from one generate call).

    Greedy decoding answers every record in one batched call. Sampling answers each record in
    its own call (its own padding), seeded with its seed (`seeds`, default settings.seed for
    every record), so a record's answers do not depend on which records share its batch: a
    resumed or re-batched run gives the same answers as an uninterrupted one. The price is
    no batching across records when sampling (the default eval decoding, top_p 0.001, is
    sampling in name only; use --greedy for batched greedy decoding).
    """
    from video_r1.models import stop_token_ids
    from video_r1.rollout.engine import NativeEngine, RolloutRequest

    if len(records) != len(media):
        raise ValueError(f"{len(records)} records but {len(media)} media")
    seeds = [settings.seed] * len(records) if seeds is None else list(seeds)
    if len(seeds) != len(records):
        raise ValueError(f"{len(records)} records but {len(seeds)} seeds")
    config = generation_config or build_generation_config(model, processor, settings)
    eos = stop_token_ids(processor.tokenizer, model)
    engine = getattr(model, "generation_engine", None) or NativeEngine(model)
    if settings.greedy:
        groups = [list(range(len(records)))]
    else:  # one record per call, with its own padding and seed: nothing depends on the batch
        groups = [[i] for i in range(len(records))]
    answers: list[list[Answer]] = [[] for _ in records]
    for group in groups:
        group_media = [media[i] for i in group]
        group_records = [records[i] for i in group]
        if engine.name == "vllm":  # prompt texts; no vision tower (the model has no weights)
            encoded, texts = _encode_requests(
                model, processor, group_records, group_media, settings.wording,
                settings.frame_times_in_prompt,
            )  # fmt: skip
        else:
            encoded = encode_batch(model, processor, group_records, group_media,
                                   settings.wording, settings.frame_times_in_prompt)  # fmt: skip
            texts = []
        if not settings.greedy:
            torch.manual_seed(seeds[group[0]])  # the vLLM engine draws its seeds from it
        request = RolloutRequest(encoded, texts, group_media, [samples_per_record] * len(group),
                                 config, eos)  # fmt: skip
        rollouts = engine.generate(request)
        for k, row in enumerate(rollouts.rows.tolist()):
            ids = rollouts.completion_ids[k][rollouts.completion_mask[k].bool()]
            answers[group[row]].append(
                Answer(
                    text=processor.tokenizer.decode(ids, skip_special_tokens=True),
                    num_tokens=int(ids.numel()),
                    truncated=bool(rollouts.truncated[k]),
                )
            )
    return answers


def answer_each(
    model: Any,
    processor: Any,
    records: Sequence[Record],
    media: Sequence[Media],
    settings: EvalSettings,
    seeds: Sequence[int],
    *,
    samples_per_record: int = 1,
    generation_config: Any = None,
) -> list[tuple[list[Answer] | None, str | None]]:
    """(answers, None) or (None, error) per record: a batch that fails to generate is retried
    one record at a time, so a single bad record fails alone (its error recorded).

    Example:
        three records, the second too long for the model -> [(answers, None),
        (None, "RuntimeError: ..."), (answers, None)]
    """
    try:
        answers = generate_answers(
            model, processor, records, media, settings, seeds=seeds,
            samples_per_record=samples_per_record, generation_config=generation_config,
        )  # fmt: skip
        return [(a, None) for a in answers]
    except Exception as err:  # noqa: BLE001 - recorded per record as its error
        if len(records) == 1:
            return [(None, f"{type(err).__name__}: {err}")]
    return [
        answer_each(
            model, processor, [r], [m], settings, [seed],
            samples_per_record=samples_per_record, generation_config=generation_config,
        )[0]
        for r, m, seed in zip(records, media, seeds, strict=True)
    ]  # fmt: skip


def load_model_and_processor(
    path: str,
    *,
    dtype: str = "auto",
    device: str | None = None,
    attn: str | None = None,
    engine: str = "native",
    vllm: Any = None,
) -> tuple[Any, Any]:
    """The checkpoint (eval mode, on `device`; default cuda if available) and its processor.

    engine "vllm": the weights go to an in-process vLLM engine (`vllm`: its VLLMSettings)
    instead; the model returned is the checkpoint's skeleton on the meta device (no memory),
    which answers what generation settings ask of a model (vocabulary size, eos ids), with
    the engine as its `generation_engine`.
    """
    from video_r1.models import load_model, load_processor

    if engine == "vllm":
        return _vllm_skeleton(path, dtype, vllm), load_processor(path)
    model = load_model(path, dtype=dtype, attn_implementation=attn)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    return model, load_processor(path)


def _vllm_skeleton(path: str, dtype: str, settings: Any) -> Any:
    import dataclasses

    from transformers import AutoConfig, AutoModelForImageTextToText, GenerationConfig

    from video_r1.models.loading import ModelPathError, adapter_base
    from video_r1.rollout.vllm_engine import VLLMEngine, VLLMSettings

    if adapter_base(path) is not None:  # vLLM loads weights from disk, merged
        raise ModelPathError(
            f"model path {path}: a LoRA checkpoint (adapters only); --engine vllm needs merged "
            "weights: pass the run's final/ (the merged model), or use --engine native"
        )
    config = AutoConfig.from_pretrained(path)
    if dtype == "auto":  # the checkpoint's, as load_model takes it (vLLM's "auto" may downcast)
        dtype = str(getattr(config, "dtype", None) or "auto").removeprefix("torch.")
    engine = VLLMEngine(path, dataclasses.replace(settings or VLLMSettings(), dtype=dtype))
    with torch.device("meta"):
        skeleton = AutoModelForImageTextToText.from_config(config)
    try:
        skeleton.generation_config = GenerationConfig.from_pretrained(path)
    except OSError:  # no generation_config.json: the config's own defaults
        pass
    skeleton.generation_engine = engine
    return skeleton


@contextmanager
def engine_closed(model: Any) -> Iterator[None]:
    """Close a vLLM skeleton's engine on any way out of the block (at interpreter exit vLLM's
    own shutdown comes in no set order with the rest; VLLMEngine.close says why that fails)."""
    try:
        yield
    finally:
        engine = getattr(model, "generation_engine", None)
        if engine is not None:
            engine.close()


def add_engine_arguments(parser: Any) -> None:
    """--engine and the vLLM engine's flags (eval, annotate)."""
    parser.add_argument(
        "--engine", choices=("native", "vllm"), default="native",
        help="generation engine: native (video-r1's decoder) or vllm (pip install "
        "'video-r1[vllm]'); the same prompts, frames, pixels and decoding settings",
    )  # fmt: skip
    parser.add_argument(
        "--vllm-gpu-memory-utilization", type=float, default=0.9,
        help="with --engine vllm: share of the GPU's memory vLLM may take (default 0.9)",
    )  # fmt: skip
    parser.add_argument(
        "--vllm-kv-cache-gb", type=float, default=0.0,
        help="with --engine vllm: KV cache size in GiB (0: on a GPU what the memory share "
        "leaves; on a CPU room for --batch-size (annotate: x --samples) sequences of "
        "max_model_len tokens, at most a quarter of the free memory)",
    )  # fmt: skip
    parser.add_argument(
        "--vllm-max-model-len", type=int, default=0,
        help="with --engine vllm: longest prompt + answer planned for (0: the checkpoint's)",
    )  # fmt: skip
    parser.add_argument(
        "--vllm-enforce-eager", action="store_true",
        help="with --engine vllm: no compilation or CUDA graphs (quick start, slower decoding)",
    )  # fmt: skip


def vllm_settings_from_args(args: Any) -> Any:
    """The VLLMSettings of --vllm-* flags (None with --engine native)."""
    if getattr(args, "engine", "native") != "vllm":
        return None
    from video_r1.rollout.vllm_engine import VLLMSettings

    return VLLMSettings(
        gpu_memory_utilization=args.vllm_gpu_memory_utilization, kv_cache_gb=args.vllm_kv_cache_gb,
        max_model_len=args.vllm_max_model_len, enforce_eager=args.vllm_enforce_eager,
        kv_cache_sequences=args.batch_size * getattr(args, "samples", 1),  # one generate call
    )  # fmt: skip


def add_model_arguments(parser: Any, flag: str = "--model", required: bool = True) -> None:
    """--model/--teacher DIR, --dtype, --device, --attn: how the checkpoint is loaded."""
    parser.add_argument(
        flag, required=required, metavar="DIR", help="local Qwen-VL checkpoint folder"
    )
    parser.add_argument(
        "--dtype",
        default="auto",
        help="weights dtype: auto (the checkpoint's), bfloat16, float16 or float32",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    parser.add_argument(
        "--attn", default=None, help="attention implementation, e.g. sdpa or flash_attention_2"
    )
