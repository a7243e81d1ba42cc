"""Temporal grounding records: `data check` names every bad `[start, end]` answer."""

from __future__ import annotations

import json

import pytest
from conftest import good_video

from video_r1.cli import main
from video_r1.data import validate_record


def grounding(**changes) -> dict:
    record = good_video(
        problem="the red square stops",
        problem_type="temporal grounding",
        options=None,
        solution="<answer>[0.5, 1.5]</answer>",
    )
    record.pop("options")
    record.update(changes)
    return record


def test_a_grounding_record_is_good(media_root):
    record, problems = validate_record(grounding(), "d.jsonl", 1, media_root, index=0)
    assert problems == [] and record.problem_type == "temporal grounding"
    assert record.answer == "[0.5, 1.5]"


@pytest.mark.parametrize(
    "solution, words",
    [
        ("<answer>0.5 to 1.5</answer>", "is not [start, end]: two numbers in seconds"),
        ("<answer>[0.5]</answer>", "is not [start, end]"),
        ("<answer>[0.5, 1.0, 1.5]</answer>", "is not [start, end]"),
        ('<answer>["0.5", "1.5"]</answer>', "is not [start, end]"),
        ("<answer>[1.5, 0.5]</answer>", "start 1.5 is not before end 0.5"),
        ("<answer>[1.0, 1.0]</answer>", "start 1.0 is not before end 1.0"),
        ("<answer>[-0.5, 1.5]</answer>", "start -0.5 is negative"),
    ],
)
def test_bad_grounding_answers_are_named(media_root, solution, words):
    _, problems = validate_record(grounding(solution=solution), "d.jsonl", 3, media_root, index=2)
    assert [p.field for p in problems] == ["solution"]
    assert words in problems[0].reason
    assert str(problems[0]).startswith("d.jsonl:3 (1): solution: ")


def test_grounding_needs_a_video(media_root):
    _, problems = validate_record(
        grounding(data_type="image", path="img.png"), "d.jsonl", 1, media_root, index=0
    )
    assert [p.field for p in problems] == ["data_type"]
    assert "temporal grounding needs a video" in problems[0].reason


def test_check_decode_names_an_answer_beyond_the_video(tmp_path, media_root, capsys):
    # the clip is 8 frames at 4 fps: 2.0 s; one frame (0.25 s) of slack for a rounded end
    rows = [
        grounding(problem_id=1, solution="<answer>[0.5, 2.0]</answer>"),
        grounding(problem_id=2, solution="<answer>[1.0, 2.25]</answer>"),
        grounding(problem_id=3, solution="<answer>[1.0, 2.5]</answer>"),
    ]
    data = tmp_path / "g.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["data", "check", str(data), "--media-root", str(media_root)]
    assert main(argv) == 0  # without --decode the duration is unknown
    capsys.readouterr()
    assert main([*argv, "--decode", "--workers", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{data}:3 (3): solution: answer ends at 2.5 s, after the video's 2.000 s"
    assert out[-1] == f"{data}: 3 record(s), 2 good, 1 bad, 1 problem(s) (media decoded)"
