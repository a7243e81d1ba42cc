"""extract_answer, completion_text and the format check agree with the published regexes."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rewards_published_reference import published_extract

from video_r1.rewards.parsing import (
    FORMAT_PATTERN,
    completion_text,
    extract_answer,
    has_think_answer_format,
    parse_float,
)

# Text made of tag pieces and whitespace, so that the interesting cases come up often.
PIECES = [
    "<answer>",
    "</answer>",
    "<think>",
    "</think>",
    " ",
    "\n",
    "\t",
    "B",
    "42",
    "<",
    ">",
    "answer",
    "/",
    "\u00a0",
    "\u2003",
]
tag_soup = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


def test_extract_answer_cases():
    assert extract_answer("<think>x</think><answer> B </answer>") == "B"
    assert extract_answer("<answer>\n 42 \n</answer><answer>7</answer>") == "42"  # first tag
    assert extract_answer("<answer>B") == ""  # unclosed
    assert extract_answer("no tags at all") == ""
    assert extract_answer("<answer></answer>") == ""
    assert extract_answer("<answer><answer>C</answer>") == "<answer>C"  # nested: as the regex
    assert extract_answer("</answer><answer>D</answer>") == "D"
    assert extract_answer(None) == ""  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(tag_soup)
def test_extract_answer_equals_published_regex(text):
    assert extract_answer(text) == published_extract(text)


@settings(max_examples=400, deadline=None)
@given(tag_soup)
def test_format_check_equals_published_fullmatch(text):
    expected = re.fullmatch(FORMAT_PATTERN, text, re.DOTALL) is not None
    assert has_think_answer_format(text) == expected


def test_format_cases():
    assert has_think_answer_format("<think>a</think><answer>B</answer>")
    assert has_think_answer_format("<think>\n</think>\n \n<answer>\nB\n</answer>")
    assert has_think_answer_format("<think></think><answer></answer>")
    assert not has_think_answer_format(" <think>a</think><answer>B</answer>")  # leading space
    assert not has_think_answer_format("<think>a</think><answer>B</answer>\n")  # trailing
    assert not has_think_answer_format("<think>a</think>x<answer>B</answer>")  # text between
    assert not has_think_answer_format("<answer>B</answer>")


def test_pathological_inputs_finish():
    # The regex forms backtrack quadratically on these (minutes at 1 MB); ours are linear.
    many_open = "<answer>" * 130_000
    assert extract_answer(many_open) == ""
    spaces = "<answer>" + " " * 1_000_000 + "x"
    assert extract_answer(spaces) == ""
    joints = "<think>" + "</think><answer>" * 60_000 + "x"
    assert not has_think_answer_format(joints)
    assert has_think_answer_format(joints[:-1] + "</answer>")


def test_completion_text_forms():
    assert completion_text("plain") == "plain"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    assert completion_text({"role": "assistant", "content": "hi"}) == "hi"
    parts = [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        }
    ]
    assert completion_text(parts) == "ab"
    assert completion_text([]) == ""
    assert completion_text(None) == ""
    assert completion_text([{"role": "assistant"}]) == ""


def test_parse_float():
    assert parse_float("1,000.5") == 1000.5
    assert parse_float(" 42 ") == 42.0
    assert parse_float("12 m") is None
    assert parse_float("nan") is None and parse_float("inf") is None
    assert parse_float("1e309") is None  # overflows to inf
    assert parse_float("") is None
