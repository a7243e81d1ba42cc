"""Parsing model output: the answer tag, completion text, and numbers as the published code reads them.

Everything here is total: any string in, a value out, never an exception, because a policy
can write anything.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Published pattern (grpo.py `extract_answer`): the first <answer> tag, whitespace trimmed.
_ANSWER_RE = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)


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
    match = _ANSWER_RE.search(text)
    return match.group(1).strip() if match else ""


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
