"""Parsing model output: the answer tag, completion text, and numbers as the published code reads them.

Everything here is total: any string in, a value out, never an exception, because a policy
can write anything.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Published pattern (grpo.py `extract_answer`): the first <answer> tag, whitespace trimmed.
ANSWER_PATTERN = r"<answer>\s*(.*?)\s*</answer>"
_OPEN, _CLOSE = "<answer>", "</answer>"


def extract_answer(text: str) -> str:
    """Return the content of the first `<answer>...</answer>` tag, stripped; "" if there is none.

    Example:
        >>> extract_answer("<think>hmm</think><answer> B </answer>")
        'B'
        >>> extract_answer("no tag")
        ''
    """
    if not isinstance(text, str):
        return ""
    # Same result as `re.search(ANSWER_PATTERN, text, re.DOTALL).group(1).strip()`, found with two `find`s: the
    # regex backtracks quadratically on many unclosed tags or long whitespace runs, and a
    # policy can write either. tests/rewards/test_parsing.py checks the two agree.
    start = text.find(_OPEN)
    if start < 0:
        return ""
    end = text.find(_CLOSE, start + len(_OPEN))
    if end < 0:
        return ""
    return text[start + len(_OPEN) : end].strip()


def completion_text(completion: Any) -> str:
    """Return the text of one TRL completion: a string, or `[{"role": ..., "content": ...}]`.

    A conversational completion's text is the content of its first message (TRL passes the
    assistant turn alone). Content given as a list of parts keeps only the text parts.
    Anything else becomes "" so that a reward scores it 0 instead of raising.

    Example:
        >>> completion_text([{"role": "assistant", "content": "<answer>B</answer>"}])
        '<answer>B</answer>'
        >>> completion_text("plain")
        'plain'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)) and completion:
        first = completion[0]
        if isinstance(first, dict):
            return _content_text(first.get("content"))
        if isinstance(first, str):
            return first
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def parse_float(text: str) -> float | None:
    """Parse a number the way Python's `float` does after dropping commas; None if it fails.

    Non-finite results ("nan", "inf", "1e309") are None: no reward is defined on them.

    Example:
        >>> parse_float("1,000.5")
        1000.5
        >>> parse_float("12 m") is None
        True
    """
    try:
        value = float(text.replace(",", ""))
    except (ValueError, OverflowError, AttributeError):
        return None
    return value if math.isfinite(value) else None


# Published format pattern (grpo.py `format_reward`), used with re.fullmatch and DOTALL.
FORMAT_PATTERN = r"<think>.*?</think>\s*<answer>.*?</answer>"
_THINK_OPEN, _ANSWER_CLOSE = "<think>", "</answer>"
_JOINT_RE = re.compile(r"</think>\s*<answer>")


def has_think_answer_format(text: str) -> bool:
    """True if the whole text matches `<think>.*?</think>\\s*<answer>.*?</answer>` (DOTALL).

    Equivalent to `re.fullmatch(FORMAT_PATTERN, text, re.DOTALL)` but linear in the text:
    the text must open with <think>, close with </answer>, and hold a `</think>\\s*<answer>`
    in between (the lazy groups may contain anything, so any such joint will do).

    Example:
        >>> has_think_answer_format("<think>x</think>\\n<answer>B</answer>")
        True
        >>> has_think_answer_format("<think>x</think><answer>B</answer> trailing")
        False
    """
    if not isinstance(text, str):
        return False
    if not (text.startswith(_THINK_OPEN) and text.endswith(_ANSWER_CLOSE)):
        return False
    return _JOINT_RE.search(text, len(_THINK_OPEN), len(text) - len(_ANSWER_CLOSE)) is not None
