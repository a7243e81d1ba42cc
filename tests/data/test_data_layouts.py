"""JSONL, an indented JSON array and a one-line JSON array of the same records read alike
(issue 57: in a one-line array every record starts on line 1, and records keyed by their line
overwrote each other)."""

from __future__ import annotations

import pytest
from _layouts import LAYOUTS, expected_source, write_layout
from conftest import good_image, good_video

from video_r1.cli import main
from video_r1.data import read_records
from video_r1.data.parse import read_raw_records

# (row, index of the record, problem_id, field) of each problem `data check --decode` finds
ROWS = [
    good_video(problem_id=1),
    good_image(problem_id="img-2"),
    good_video(problem_id=3, path="videos/gone.mp4"),  # missing media
    good_image(problem_id=4, problem_type="essay"),  # bad problem_type
    good_video(problem_id=5, path="broken.mp4"),  # there, but does not decode
    good_image(problem_id=6),
]
PROBLEMS = [(2, 3, "path"), (3, 4, "problem_type"), (4, 5, "path")]


def _check(path, media_root, capsys) -> tuple[int, list[str]]:
    code = main(["data", "check", str(path), "--media-root", str(media_root), "--decode",
                 "--workers", "2"])  # fmt: skip
    return code, capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_record_is_read_with_its_own_position(tmp_path, media_root, layout):
    path = write_layout(ROWS, tmp_path, "d", layout)
    raws, problems = read_raw_records(path)
    assert problems == []
    assert [r.index for r in raws] == list(range(len(ROWS)))
    records, problems = read_records(path, media_root)
    assert [r.problem_id for r in records] == [1, "img-2", 5, 6]
    assert [r.index for r in records] == [0, 1, 4, 5]
    assert [r.source for r in records] == [expected_source(path, layout, i) for i in (0, 1, 4, 5)]
    assert [(p.index, p.problem_id, p.field) for p in problems] == [
        (2, 3, "path"),
        (3, 4, "problem_type"),
    ]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_data_check_counts_and_names_every_record(tmp_path, media_root, capsys, layout):
    path = write_layout(ROWS, tmp_path, "d", layout)
    code, out = _check(path, media_root, capsys)
    assert code == 1
    assert out[-1] == f"{path}: 6 record(s), 3 good, 3 bad, 3 problem(s) (media decoded)"
    assert len(out) == len(PROBLEMS) + 1
    for line, (index, problem_id, field) in zip(out, PROBLEMS, strict=False):
        assert line.startswith(f"{expected_source(path, layout, index)} ({problem_id}): {field}: ")


def test_the_three_layouts_report_the_same_problems(tmp_path, media_root, capsys):
    reports = []
    for layout in LAYOUTS:
        path = write_layout(ROWS, tmp_path / layout, "d", layout)
        code, out = _check(path, media_root, capsys)
        where = [expected_source(path, layout, index) for index, _, _ in PROBLEMS]
        reasons = [line.removeprefix(w) for line, w in zip(out, where, strict=False)]
        reports.append((code, reasons, out[-1].removeprefix(str(path))))
    assert reports[0] == reports[1] == reports[2]


def test_a_broken_record_of_a_one_line_array_keeps_its_position(tmp_path, capsys):
    path = tmp_path / "d.json"
    path.write_text('[{"a": 1}, {"a": 2,, "b": 3}, {"a": 5}, 7]')
    raws, problems = read_raw_records(path)
    assert [(r.index, r.line, r.value) for r in raws] == [(0, 1, {"a": 1}), (2, 1, {"a": 5}),
                                                          (3, 1, 7)]  # fmt: skip
    assert [(p.index, p.field) for p in problems] == [(1, "json")]
    assert str(problems[0]).startswith(f"{path}[1] (line 1) (?): json: ")
