"""When each sampled frame was taken, as each architecture is told it
(docs/spec.md#frame-times).

A frame's time is its source index / the video's fps (seconds of the original video); a
clip's frames are described in sorted order, so a time-shuffled clip (T-GRPO) gets the times of
the ordered one and its shuffle is not given away. The three architectures hear it differently:

- Qwen2.5-VL: temporal rope positions advance `second_per_grid_ts` x tokens_per_second per
  temporal patch, and the processor sets `second_per_grid_ts` = 2 / the metadata's sampled fps.
  `video_metadata_fields` makes that fps the sampled frames' real rate (one over their
  spacing), where qwen-vl-utils' nominal n / total x fps understates the spacing by (n - 1) / n.
- Qwen3-VL: `<t seconds>` text before each temporal patch, from frames_indices / fps.
- Qwen2-VL: nothing (its positions count frames), so the prompt states the times
  (`frame_times_in_prompt`, on by default for temporal grounding).

The native engine (`encode_prompts`) and vLLM (`rollout.vllm_engine.vllm_prompt`) take the
same fields from here, so both give the model the same positions and text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from video_r1.media.types import Clip
from video_r1.prompts.templates import build_messages

FRAME_TIMES_IN_PROMPT = ("auto", "on", "off")
GROUNDING = "temporal grounding"


def frame_times(clip: Clip) -> tuple[float, ...]:
    """Seconds of the clip's frames in the source video, in time order (index / fps; the
    decoded timestamps when the fps is unknown).

    Example: indices (0, 10, 20, 30) at 10 fps -> (0.0, 1.0, 2.0, 3.0), shuffled or not
    """
    if clip.source_fps > 0:
        return tuple(i / clip.source_fps for i in sorted(clip.indices))
    return tuple(sorted(clip.timestamps))


def video_metadata_fields(clip: Clip) -> dict[str, Any]:
    """The processor's video metadata of a clip (transformers' VideoMetadata fields), the same
    for the native processor call and vLLM's.

    `total_num_frames` is set so that the sampled fps the processor derives from it
    (n / total x fps) is the frames' real rate, (n - 1) x fps / (last - first index): with
    the linspace sampling of qwen-vl-utils, total = max index + 1 (its nominal value) would
    put Qwen2.5-VL's temporal patches (n - 1) / n of their true spacing apart. The fields are
    not used for sampling (`do_sample_frames` is off), so the fractional total is never read
    as a frame count.

    Example: indices (0, 10, 20, 30) at 10 fps -> total_num_frames 40 / 3, sampled fps 1.0
    (frames 1 s apart, 2 s per temporal patch; the nominal total 31 gives 1.55 s)
    """
    indices = sorted(int(i) for i in clip.indices)
    first, last, n = indices[0], indices[-1], len(indices)
    total: float = last + 1
    if last > first and n > 1:
        total = n * (last - first) / (n - 1)
    fps = float(clip.source_fps)
    return {
        "total_num_frames": total,
        "fps": fps,
        "frames_indices": indices,
        "duration": (last + 1) / fps if fps > 0 else 0.0,
        "height": int(clip.frames.shape[-2]),
        "width": int(clip.frames.shape[-1]),
    }


def knows_time(processor: Any) -> bool:
    """Whether the model behind `processor` is told frame times by its inputs: Qwen2.5-VL
    (time positions, `second_per_grid_ts`) and Qwen3-VL (timestamp text); Qwen2-VL is not."""
    names = getattr(processor, "model_input_names", ())
    return "second_per_grid_ts" in names or type(processor).__name__.startswith("Qwen3VL")


def states_frame_times(setting: str, record: Any, processor: Any) -> bool:
    """Whether the prompt of `record` states its frames' times under `setting`.

    Example: "auto" -> a temporal grounding video for Qwen2-VL only; "on" -> every video
    """
    if setting not in FRAME_TIMES_IN_PROMPT:
        raise ValueError(
            f"frame_times_in_prompt must be one of {FRAME_TIMES_IN_PROMPT}, got {setting!r}"
        )
    if record.data_type != "video" or setting == "off":
        return False
    if setting == "on":
        return True
    return record.problem_type == GROUNDING and not knows_time(processor)


def prompt_messages(
    processor: Any,
    records: Sequence[Any],
    media: Sequence[Any],
    wording: str = "train",
    frame_times_in_prompt: str = "auto",
    *,
    system_prompt: str | None = None,
) -> list[list[dict]]:
    """The chat messages of each (record, media) row, the frames' times stated where
    `frame_times_in_prompt` asks for them (`states_frame_times`).

    Example: a temporal grounding record with a 4-frame clip at 0, 1, 2, 3 s on Qwen2-VL ->
    its user text starts "The video frames were taken at 0.00, 1.00, 2.00, 3.00 seconds."
    """
    if len(records) != len(media):
        raise ValueError(f"{len(records)} records but {len(media)} media entries")
    out = []
    for record, item in zip(records, media, strict=True):
        times = None
        if isinstance(item, Clip) and states_frame_times(frame_times_in_prompt, record, processor):
            times = frame_times(item)
        out.append(
            build_messages(record, wording=wording, system_prompt=system_prompt, frame_times=times)
        )
    return out
