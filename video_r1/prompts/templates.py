"""The Video-R1 prompt: question templates, per-type answer instructions, chat messages.

The wording is the published one (docs/spec.md#prompt), including its typos and spacing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

Wording = Literal["train", "eval"]

_THINK_INTRO = (
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', "
    "'oh, I see', 'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
)
# RL training wording (the published grpo script) and the evaluation / CoT-generation wording.
QUESTION_TEMPLATES: dict[str, str] = {
    "train": "{Question}\n"
    + _THINK_INTRO
    + "Provide your detailed reasoning between the <think> </think> tags, and then give your "
    "final answer between the <answer> </answer> tags.",
    "eval": "{Question}\n"
    + _THINK_INTRO
    + "Provide your detailed reasoning between the <think> and </think> tags, and then give "
    "your final answer between the <answer> and </answer> tags.",
}
TYPE_TEMPLATES: dict[str, str] = {
    "multiple choice": " Please provide only the single option letter (e.g., A, B, C, D, etc.)"
    " within the <answer> </answer> tags.",
    "numerical": " Please provide the numerical value (e.g., 42 or 3.14) within the"
    " <answer> </answer> tags.",
    "OCR": " Please transcribe text from the image/video clearly and provide your text answer"
    " within the <answer> </answer> tags.",
    "free-form": " Please provide your text answer within the <answer> </answer> tags.",
    "regression": " Please provide the numerical value (e.g., 42 or 3.14) within the"
    " <answer> </answer> tags.",
    # not Video-R1's: Time-R1's answer instruction (src/open_r1/grpo_video.py), in this style
    "temporal grounding": " Please provide the start and end times (in seconds, precise to two"
    ' decimal places) in the format "start time to end time" within the <answer> </answer>'
    ' tags. For example: "12.54 to 17.83".',
}
VIDEO_R1_TYPES = ("multiple choice", "numerical", "OCR", "free-form", "regression")
SFT_SYSTEM_PROMPT = "You are a helpful assistant"  # as in the published SFT script (no period)


def format_question(record: Any) -> str:
    """The question text: the problem, plus the options for multiple choice.

    As published (docs/spec.md#prompt): no separator before "Options", and every option,
    the last one included, followed by a newline, so the template's "{Question}\\n" leaves a
    blank line before the instructions.

    Example:
        problem "Which colour?" with options ("A. red", "B. blue") ->
        "Which colour?Options:\\nA. red\\nB. blue\\n"
    """
    if record.problem_type == "multiple choice":
        if not record.options:
            raise ValueError(
                f"{record.source or record.problem_id}: multiple choice without options"
            )
        return record.problem + "Options:\n" + "".join(f"{option}\n" for option in record.options)
    return record.problem


def build_prompt_text(
    record: Any, wording: Wording = "train", frame_times: Sequence[float] | None = None
) -> str:
    """The user turn's text: question template plus the per-type answer instruction, after a
    sentence that states the frames' times when `frame_times` is given (`frame_times_sentence`).

    Example:
        a numerical record "How many cubes?" -> "How many cubes?\\nPlease think about ... tags."
        + " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags."
    """
    if wording not in QUESTION_TEMPLATES:
        raise ValueError(
            f"unknown wording {wording!r}; expected one of {sorted(QUESTION_TEMPLATES)}"
        )
    if record.problem_type not in TYPE_TEMPLATES:
        raise ValueError(
            f"{record.source or record.problem_id}: unknown problem_type {record.problem_type!r}"
        )
    question = QUESTION_TEMPLATES[wording].format(Question=format_question(record))
    text = question + TYPE_TEMPLATES[record.problem_type]
    if frame_times is not None:
        text = frame_times_sentence(frame_times) + "\n" + text
    return text


def frame_times_sentence(times: Sequence[float]) -> str:
    """The sentence that states the frames' times (not published wording), before the question.

    Example:
        >>> frame_times_sentence([0.0, 0.5, 1.25])
        'The video frames were taken at 0.00, 0.50, 1.25 seconds.'
    """
    return "The video frames were taken at " + ", ".join(f"{t:.2f}" for t in times) + " seconds."


def build_messages(
    record: Any,
    *,
    wording: Wording = "train",
    system_prompt: str | None = None,
    frame_times: Sequence[float] | None = None,
) -> list[dict]:
    """Chat messages for one record: optional system turn, then a user turn (media, then text).
    `frame_times`: seconds of the video's frames, stated before the question (see
    `video_r1.prompts.frame_times.prompt_messages` decides when).

    Example:
        a video record -> [{"role": "user", "content": [{"type": "video"},
                                                        {"type": "text", "text": "..."}]}]
    """
    if record.data_type not in ("image", "video"):
        raise ValueError(
            f"{record.source or record.problem_id}: bad data_type {record.data_type!r}"
        )
    messages: list[dict] = []
    if system_prompt is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    content = [
        {"type": record.data_type},
        {"type": "text", "text": build_prompt_text(record, wording, frame_times)},
    ]
    messages.append({"role": "user", "content": content})
    return messages


def tokenizer_texts() -> list[str]:
    """The prompt texts a tokenizer for these prompts should learn (the tiny models' BPE is
    trained on them: `video_r1.models.build_tiny_model(prompt_texts=...)`).

    The question and Video-R1's five answer-type templates, and the default system turn of the
    Qwen chat template, which, unlike the SFT system prompt, ends with a period. Later types
    (temporal grounding) are left out, so that adding one leaves the tiny models' vocabulary,
    and the demo built on it, as they were; byte-level BPE still encodes their text.
    """
    published = [text for kind, text in TYPE_TEMPLATES.items() if kind in VIDEO_R1_TYPES]
    return [*QUESTION_TEMPLATES.values(), *published, SFT_SYSTEM_PROMPT + "."]
