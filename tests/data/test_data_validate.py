from __future__ import annotations

import pytest
from conftest import good_image, good_video

from video_r1.data import validate_record
from video_r1.data.validate import option_letter, resolve_media_path


def fields(problems) -> list[str]:
    return [p.field for p in problems]


def test_good_records_become_records(media_root):
    record, problems = validate_record(good_video(extra_key=7), "d.jsonl", 4, media_root, index=3)
    assert problems == []
    assert record.media_path == media_root.resolve() / "videos" / "clip.mp4"
    assert record.options == ("A. left", "B. right")
    assert record.answer == "B"
    assert record.source == "d.jsonl:4"
    assert record.extra == {"extra_key": 7}
    assert record.to_json()["extra_key"] == 7

    image, problems = validate_record(good_image(), "d.jsonl", 5, media_root, index=4)
    assert problems == [] and image.process.startswith("<think>")


def test_a_record_of_a_json_array_is_named_by_its_position(media_root):
    # json.dump(records, f) puts every record on line 1: the position tells them apart
    record, _ = validate_record(good_video(), "d.json", 1, media_root, index=17, in_array=True)
    assert (record.index, record.line, record.source) == (17, 1, "d.json[17] (line 1)")
    _, problems = validate_record(
        good_video(path="gone.mp4"), "d.json", 1, media_root, index=3, in_array=True
    )
    assert problems[0].index == 3
    assert str(problems[0]).startswith("d.json[3] (line 1) (1): path: media file not found")


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"problem_type": "essay"}, "problem_type", "unknown problem_type"),
        ({"data_type": "audio"}, "data_type", "unknown data_type"),
        ({"solution": "<answer>C</answer>"}, "solution", "not one of the option letters"),
        ({"solution": "B"}, "solution", "no non-empty <answer>"),
        ({"options": []}, "options", "at least 2"),
        ({"options": ["left", "right"]}, "options", "without a leading letter"),
        ({"options": ["A. x", "A. y"]}, "options", "repeated"),
        ({"problem_id": 1.5}, "problem_id", "int or a string"),
        ({"problem": ""}, "problem", "non-empty string"),
        ({"path": "../outside.mp4"}, "path", "outside the media root"),
        ({"path": "/etc/passwd"}, "path", "absolute path"),
        ({"path": "link.png"}, "path", "outside the media root"),
        ({"path": "videos/missing.mp4"}, "path", "media file not found"),
        ({"process": "no tags"}, "process", "<think>"),
        ({"solution": "<answer>A</answer> or <answer>B</answer>"}, "solution", "2 <answer> tags"),
        ({"path": "img.png"}, "path", "data_type 'video' but img.png is an image file (.png)"),
        ({"data_type": "image"}, "path", "data_type 'image' but clip.mp4 is a video file"),
    ],
)
def test_each_schema_violation_is_named(media_root, changes, field, words):
    record, problems = validate_record(good_video(**changes), "d.json", 9, media_root, index=8)
    assert record is None
    assert field in fields(problems)
    problem = problems[fields(problems).index(field)]
    assert words in problem.reason
    assert str(problem).startswith("d.json:9 (")


def test_missing_fields_and_non_objects(media_root):
    raw = good_image()
    del raw["solution"], raw["path"]
    record, problems = validate_record(raw, "d.jsonl", 2, media_root, index=1)
    assert record is None and fields(problems) == ["solution", "path"]
    assert str(problems[0]) == "d.jsonl:2 (img-2): solution: missing required field"

    record, problems = validate_record([1, 2], "d.jsonl", 3, media_root, index=2)
    assert record is None and str(problems[0]).startswith("d.jsonl:3 (?): record: expected a JSON")


def test_numerical_answers_must_be_numbers(media_root):
    raw = good_image(problem_type="numerical", solution="<answer>three</answer>")
    assert fields(validate_record(raw, "f", 1, media_root, index=0)[1]) == ["solution"]
    raw = good_image(problem_type="regression", solution="<answer>0.25</answer>")
    assert validate_record(raw, "f", 1, media_root, index=0)[1] == []
    raw = good_image(problem_type="numerical", solution="<answer>2</answer>", options=["A. 1"])
    assert fields(validate_record(raw, "f", 1, media_root, index=0)[1]) == ["options"]


def test_several_problems_in_one_record_are_all_reported(media_root):
    raw = good_video(data_type="audio", solution="<answer>Z</answer>", path="../x.mp4")
    _, problems = validate_record(raw, "f", 1, media_root, index=0)
    assert sorted(fields(problems)) == ["data_type", "path", "solution"]


def test_option_letter_and_media_path(media_root):
    assert option_letter("C) green") == "C" and option_letter("D: x") == "D"
    assert option_letter("red") is None
    assert resolve_media_path("videos/../img.png", media_root) == media_root.resolve() / "img.png"
    with pytest.raises(ValueError, match="outside the media root"):
        resolve_media_path("videos/../../x", media_root)
