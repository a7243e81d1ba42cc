"""The Video-R1 prompt: question templates, per-type answer instructions, chat messages.

The wording is the published one (docs/spec.md#prompt), including its typos and spacing.
"""

from __future__ import annotations

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
}
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


def build_prompt_text(record: Any, wording: Wording = "train") -> str:
    """The user turn's text: question template plus the per-type answer instruction.

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
    return question + TYPE_TEMPLATES[record.problem_type]


def build_messages(
    record: Any, *, wording: Wording = "train", system_prompt: str | None = None
) -> list[dict]:
    """Chat messages for one record: optional system turn, then a user turn (media, then text).

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
        {"type": "text", "text": build_prompt_text(record, wording)},
    ]
    messages.append({"role": "user", "content": content})
    return messages


def tokenizer_texts() -> list[str]:
    """The prompt texts a tokenizer for these prompts should learn (the tiny models' BPE is
    trained on them: `video_r1.models.build_tiny_model(prompt_texts=...)`).

    The question and answer-type templates, and the default system turn of the Qwen chat
    template, which, unlike the SFT system prompt, ends with a period.
    """
    return [*QUESTION_TEMPLATES.values(), *TYPE_TEMPLATES.values(), SFT_SYSTEM_PROMPT + "."]
