"""The sampled frames' times reach every architecture (issue 67): Qwen2.5-VL through its time
positions (the frames' real spacing), Qwen3-VL through its `<t seconds>` text, Qwen2-VL through
the prompt (`frame_times_in_prompt`). A clip sampled at other times gives other inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig

from video_r1.data.records import Record
from video_r1.media.types import Clip
from video_r1.models import load_processor
from video_r1.models.positions import qwen2_5_vl_rope_index
from video_r1.prompts import (
    build_messages,
    encode_prompts,
    frame_times,
    processor_factor,
    prompt_messages,
    states_frame_times,
)
from video_r1.prompts.frame_times import video_metadata_fields


def _record(problem_type: str = "temporal grounding", data_type: str = "video") -> Record:
    solution = "<answer>[1.0, 2.0]</answer>" if problem_type == "temporal grounding" else "3"
    return Record(problem_id=1, problem="When is the lamp on?", data_type=data_type,
                  problem_type=problem_type, solution=solution, path="x",
                  media_path=Path("x"))  # fmt: skip


def _clip(indices: tuple[int, ...], fps: float, factor: int) -> Clip:
    """Same pixels for every timing: only the frame times differ between clips."""
    frames = torch.randint(0, 256, (len(indices), 3, 2 * factor, 2 * factor),
                           generator=torch.Generator().manual_seed(0), dtype=torch.uint8)  # fmt: skip
    return Clip(frames, indices, tuple(i / fps for i in indices), fps, "clip.mp4")


def _encode(processor, clip: Clip, setting: str = "auto", record: Record | None = None):
    record = record or _record()
    messages = prompt_messages(processor, [record], [clip], frame_times_in_prompt=setting)
    return encode_prompts(processor, messages, [clip]).model_inputs


def test_frame_times_and_metadata_of_a_clip():
    clip = _clip((0, 10, 20, 30), 10.0, 28)
    assert frame_times(clip) == (0.0, 1.0, 2.0, 3.0)
    assert frame_times(clip.reordered([3, 1, 0, 2])) == (0.0, 1.0, 2.0, 3.0)  # slots, in order
    fields = video_metadata_fields(clip)
    # the processor's sampled fps, n / total x fps, is the frames' real rate: 1 per second
    assert len(fields["frames_indices"]) / fields["total_num_frames"] * fields["fps"] == 1.0
    # a clip of one frame repeated (a 1-frame video): no spacing, the nominal total
    assert video_metadata_fields(_clip((0, 0), 10.0, 28))["total_num_frames"] == 1


def test_qwen25_time_positions_follow_the_real_frame_spacing(tiny_model_factory):
    """Frames 1 s apart put temporal patches (2 frames) 2 s apart: second_per_grid_ts 2.0,
    where qwen-vl-utils' nominal sampled fps (n / (max index + 1) x fps) gave 2 x 31 / 40."""
    path = tiny_model_factory("qwen2.5-vl")
    processor = load_processor(path)
    factor = processor_factor(processor)
    tokens_per_second = AutoConfig.from_pretrained(path).vision_config.tokens_per_second
    positions = {}
    for spacing in (1, 2):  # frames 1 s, then 2 s apart (10 fps source)
        clip = _clip(tuple(range(0, 80 * spacing, 10 * spacing)), 10.0, factor)
        inputs = _encode(processor, clip)
        assert inputs["second_per_grid_ts"].tolist() == pytest.approx([2.0 * spacing])
        video = inputs["mm_token_type_ids"][0] == 2
        pos, _ = qwen2_5_vl_rope_index(
            inputs["input_ids"], inputs["mm_token_type_ids"], None, inputs["video_grid_thw"],
            inputs["second_per_grid_ts"], inputs["attention_mask"],
            spatial_merge_size=processor.video_processor.merge_size,
            tokens_per_second=tokens_per_second,
        )  # fmt: skip
        times = pos[0, 0, video]
        positions[spacing] = (times - times[0]).unique().tolist()
    # 4 temporal patches, 2 x spacing seconds apart, tokens_per_second positions a second
    per_patch = 2 * tokens_per_second
    assert positions[1] == [k * per_patch for k in range(4)]
    assert positions[2] == [2 * k * per_patch for k in range(4)]


def test_qwen3_timestamp_text_states_the_frame_times(tiny_model_factory):
    processor = load_processor(tiny_model_factory("qwen3-vl"))
    factor = processor_factor(processor)
    texts = {}
    for fps in (10.0, 4.0):
        clip = _clip((0, 10, 20, 30), fps, factor)
        ids = _encode(processor, clip)["input_ids"][0]
        texts[fps] = processor.tokenizer.decode(ids)
    # each temporal patch: the mean time of its 2 frames (0 and 1 s, 2 and 3 s at 10 fps)
    assert "<0.5 seconds>" in texts[10.0] and "<2.5 seconds>" in texts[10.0]
    assert "<1.2 seconds>" in texts[4.0] and "<6.2 seconds>" in texts[4.0]  # 1.25, 6.25
    assert "frames were taken" not in texts[10.0]  # auto: Qwen3-VL is told by its timestamps


def test_qwen2_prompt_states_the_frame_times_by_setting(tiny_model_factory):
    processor = load_processor(tiny_model_factory("qwen2-vl"))
    factor = processor_factor(processor)
    clip = _clip((0, 10, 20, 30), 10.0, factor)
    later = _clip((0, 15, 30, 45), 10.0, factor)
    decode = processor.tokenizer.decode
    stated = "The video frames were taken at 0.00, 1.00, 2.00, 3.00 seconds.\n"
    grounding = decode(_encode(processor, clip)["input_ids"][0])
    assert stated + "When is the lamp on?" in grounding  # auto: on for grounding on Qwen2-VL
    assert "0.00, 1.50, 3.00, 4.50 seconds." in decode(_encode(processor, later)["input_ids"][0])
    assert "frames were taken" not in decode(_encode(processor, clip, "off")["input_ids"][0])
    numerical = _record("numerical")
    assert "frames were taken" not in decode(
        _encode(processor, clip, "auto", numerical)["input_ids"][0]
    )
    assert stated in decode(_encode(processor, clip, "on", numerical)["input_ids"][0])
    # a time-shuffled clip states the same (sorted) times: its order is not given away
    shuffled = clip.reordered([2, 0, 3, 1])
    assert stated in decode(_encode(processor, shuffled)["input_ids"][0])


def test_auto_setting_by_architecture_and_record(tiny_model_factory):
    processors = {arch: load_processor(tiny_model_factory(arch))
                  for arch in ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")}  # fmt: skip
    grounding, image = _record(), _record("numerical", data_type="image")
    assert [states_frame_times("auto", grounding, p) for p in processors.values()] == [
        True, False, False,
    ]  # fmt: skip
    assert all(states_frame_times("on", grounding, p) for p in processors.values())
    assert not any(states_frame_times("on", image, p) for p in processors.values())
    with pytest.raises(ValueError, match="frame_times_in_prompt must be one of"):
        states_frame_times("yes", grounding, processors["qwen2-vl"])


def test_build_messages_without_times_is_unchanged():
    record = _record("numerical")
    assert build_messages(record) == prompt_messages(None, [record], [None])[0]


def test_sft_example_states_the_times_as_rl_does(tiny_model_factory):
    from video_r1.prompts import encode_sft_example

    processor = load_processor(tiny_model_factory("qwen2-vl"))
    clip = _clip((0, 10, 20, 30), 10.0, processor_factor(processor))
    record = dataclasses.replace(_record(), process="<think>lit in the middle</think>")
    decode = processor.tokenizer.decode
    inputs, _ = encode_sft_example(processor, record, clip)
    assert "taken at 0.00, 1.00, 2.00, 3.00 seconds." in decode(inputs["input_ids"][0])
    inputs, _ = encode_sft_example(processor, record, clip, frame_times_in_prompt="off")
    assert "frames were taken" not in decode(inputs["input_ids"][0])


def test_the_setting_is_checked_where_it_is_set():
    import argparse

    from video_r1.evaluation.settings import (
        EvalSettings,
        add_settings_arguments,
        settings_from_args,
    )
    from video_r1.recipes.sft import SFTConfig
    from video_r1.train.config import ConfigError, load_config

    required = ["model.path=m", "data.train_file=t", "data.media_root=r", "checkpoint.output_dir=o"]
    cfg = load_config(SFTConfig, None, [*required, "data.frame_times_in_prompt=on"])
    assert cfg.data.frame_times_in_prompt == "on"
    assert load_config(SFTConfig, None, required).data.frame_times_in_prompt == "auto"
    with pytest.raises(ConfigError, match="frame_times_in_prompt"):
        load_config(SFTConfig, None, [*required, "data.frame_times_in_prompt=sometimes"])
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    args = parser.parse_args(["--frame-times-in-prompt", "off"])
    assert settings_from_args(args).frame_times_in_prompt == "off"
    with pytest.raises(ValueError, match="frame_times_in_prompt"):
        EvalSettings(frame_times_in_prompt="sometimes")
