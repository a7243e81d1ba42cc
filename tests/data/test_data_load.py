from __future__ import annotations

import json

import pytest
from conftest import good_image, good_video

from video_r1.data import RecordError, load_records, read_records, write_records
from video_r1.data.parse import read_raw_records


def test_json_list_lines_are_where_each_object_starts(tmp_path):
    text = '[\n  {"a": 1,\n   "b": 2},\n\n  {"a": 3}, {"a": 4}\n]\n'
    (tmp_path / "d.json").write_text(text)
    raws, problems = read_raw_records(tmp_path / "d.json")
    assert problems == []
    assert [(r.index, r.line, r.value["a"]) for r in raws] == [(0, 2, 1), (1, 5, 3), (2, 5, 4)]


def test_json_list_syntax_error_is_reported_and_reading_goes_on(tmp_path):
    text = '[\n {"a": 1},\n {"a": 2,, "b": 3},\n {"a": 5}\n]'
    (tmp_path / "d.json").write_text(text)
    raws, problems = read_raw_records(tmp_path / "d.json")
    assert [(r.index, r.line, r.value["a"]) for r in raws] == [(0, 2, 1), (2, 4, 5)]
    assert len(problems) == 1 and problems[0].index == 1  # the broken record keeps its place
    assert str(problems[0]).startswith(f"{tmp_path / 'd.json'}[1] (line 3) (?): json: Expecting")


def test_json_list_unclosed_and_trailing(tmp_path):
    (tmp_path / "a.json").write_text('[{"a": 1},\n {"a": 2}')
    raws, problems = read_raw_records(tmp_path / "a.json")
    assert len(raws) == 2 and [p.reason for p in problems] == ["unclosed list"]
    assert problems[0].index is None  # a fault of the file, of no one record
    assert str(problems[0]) == f"{tmp_path / 'a.json'} (line 2) (?): json: unclosed list"
    (tmp_path / "b.json").write_text('[{"a": 1}]\n]')
    raws, problems = read_raw_records(tmp_path / "b.json")
    assert len(raws) == 1 and problems[0].line == 2 and "extra data" in problems[0].reason
    (tmp_path / "c.json").write_text("[ ]")
    assert read_raw_records(tmp_path / "c.json") == ([], [])


def test_jsonl_bad_line_keeps_the_rest(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"a": 1}\n\n{"a": \n{"a": 3}\n')
    raws, problems = read_raw_records(tmp_path / "d.jsonl")
    assert [(r.index, r.line, r.value["a"]) for r in raws] == [(0, 1, 1), (2, 4, 3)]
    assert [(p.index, p.line, p.problem_id, p.field) for p in problems] == [(1, 3, "?", "json")]


def test_load_records_raises_with_every_problem(tmp_path, media_root):
    rows = [good_video(), good_image(problem_type="essay"), good_video(path="nope.mp4")]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records, problems = read_records(path, media_root)
    assert [r.problem_id for r in records] == [1]
    assert [(p.line, p.field) for p in problems] == [(2, "problem_type"), (3, "path")]
    with pytest.raises(RecordError) as info:
        load_records(path, media_root)
    assert info.value.problems == problems
    assert "2 problem(s)" in str(info.value) and "d.jsonl:3 (1): path" in str(info.value)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_write_then_read_round_trip(tmp_path, media_root, suffix):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good_video(foo="bar")) + "\n" + json.dumps(good_image()) + "\n")
    records = load_records(path, media_root)
    out = tmp_path / f"out{suffix}"
    write_records(out, records)
    again = load_records(out, media_root)
    assert [r.to_json() for r in again] == [r.to_json() for r in records]
    assert [r.extra for r in again] == [{"foo": "bar"}, {}]
    assert [r.source for r in again] == (
        [f"{out}[0] (line 2)", f"{out}[1] (line 16)"]
        if suffix == ".json"
        else [f"{out}:1", f"{out}:2"]
    )
    if suffix == ".json":
        assert isinstance(json.loads(out.read_text()), list)


def test_jsonl_records_holding_unicode_line_separators_round_trip(tmp_path, media_root):
    # JSON strings may hold U+2028, U+2029 and U+0085 raw, and write_records writes them raw
    rows = [good_video(problem="one\u2028two"), good_image(problem="three\u2029four\x85five"),
            good_video(problem="last")]  # fmt: skip
    path = tmp_path / "d.jsonl"
    write_records(path, load_records_from_rows(tmp_path, rows, media_root))
    records, problems = read_records(path, media_root)
    assert problems == []
    assert [r.problem for r in records] == ["one\u2028two", "three\u2029four\x85five", "last"]
    assert [r.source for r in records] == [f"{path}:{n}" for n in (1, 2, 3)]


def load_records_from_rows(tmp_path, rows, media_root):
    source = tmp_path / "rows.json"
    source.write_text(json.dumps(rows))  # ASCII-escaped: readable before the fix too
    return load_records(source, media_root)


def test_write_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset suffix"):
        write_records(tmp_path / "x.csv", [])


def test_missing_media_root_is_an_error(tmp_path):
    (tmp_path / "d.jsonl").write_text("")
    with pytest.raises(FileNotFoundError, match="media root"):
        read_records(tmp_path / "d.jsonl", tmp_path / "absent")
