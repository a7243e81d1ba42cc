"""Lenient answer normalisation (opt-in): what a reader would accept, not what the published
code accepts.

The published scorers compare raw strings, so "B. blue" is wrong for "B" and "42.0" is wrong
for "42". With `lenient=True` the scorers compare what these functions extract instead.
"""

from __future__ import annotations

import math
import re

# An optional lead-in ("Answer:", "The correct option is"), then a letter, optionally bracketed.
_CHOICE_RE = re.compile(
    r"^(?:(?:the\s+)?(?:correct\s+|final\s+|best\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:：]?\s*)?"
    r"(?P<open>[(\[])?(?P<letter>[A-Za-z])(?P<close>[)\]])?(?P<next>[.:)\],;]|\s|$)",
    re.IGNORECASE,
)
# A number with optional sign, thousands separators ("1,000"), decimals and exponent.
_NUMBER_RE = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_SPACE_RE = re.compile(r"\s+")


def normalize_choice(text: str) -> str:
    """Return the option letter a multiple-choice answer names (upper case), else the text
    case-folded with whitespace collapsed and a trailing "." removed.

    A lower-case letter counts only when bracketed or followed by ".", ")", ":" or the end, so
    that "a cat" stays text; so do the one-letter words "A" and "I" before a lower-case word
    ("I think it is B" names no option I, "A cat" no option A), where "B blue" names B.

    Example:
        >>> [normalize_choice(t) for t in ["B. blue", "(b)", "Answer: B", "b", "a cat", "I think"]]
        ['B', 'B', 'B', 'B', 'a cat', 'i think']
    """
    stripped = text.strip()
    match = _CHOICE_RE.match(stripped)
    if match:
        letter = match.group("letter")
        bracketed = match.group("open") is not None or match.group("close") is not None
        followed = match.group("next") in (".", ")", ":", "]", "")
        rest = stripped[match.end() :].lstrip()
        word = letter in "AI" and not bracketed and not followed and rest[:1].islower()
        if (letter.isupper() and not word) or bracketed or followed:
            return letter.upper()
    return _SPACE_RE.sub(" ", stripped).casefold().rstrip(".").strip()


def parse_number_lenient(text: str) -> float | None:
    """Return the first number written in the text (thousands separators and units allowed);
    None if there is none or it is not finite.

    Example:
        >>> [parse_number_lenient(t) for t in ["42.0", "1,000 m", "about -3.5e2 cm", "none"]]
        [42.0, 1000.0, -350.0, None]
    """
    match = _NUMBER_RE.search(text)
    if match is None:
        return None
    try:
        value = float(match.group(0).replace(",", ""))
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def normalize_transcript(text: str) -> str:
    """Case-fold OCR text for the lenient word error rate (word splitting is unchanged).

    Example:
        >>> normalize_transcript("STOP Here")
        'stop here'
    """
    return text.casefold()
