"""`video-r1 data convert --from charades-sta`: records from annotation lines, bad lines named
by number, output written whole or not at all."""

from __future__ import annotations

import json

import pytest

from video_r1.cli import main
from video_r1.data import load_records
from video_r1.data.convert import QUESTION, convert_charades_sta

LINES = [
    "3MSZA 24.3 30.4##person turn a light on.",
    "",
    "3MSZA 0 6.9##Person opening a door",
    "AB12C 1.5 2##a person is eating",
]


def test_lines_become_grounding_records(tmp_path):
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("\n".join(LINES) + "\n")
    records, bad = convert_charades_sta(ann, tmp_path / "videos")
    assert bad == []
    assert records[0] == {
        "problem_id": "3MSZA_0",
        "problem": QUESTION.replace("{query}", "person turn a light on"),
        "data_type": "video",
        "problem_type": "temporal grounding",
        "solution": "<answer>[24.3, 30.4]</answer>",
        "path": "3MSZA.mp4",
        "data_source": "charades-sta",
        "query": "person turn a light on",
    }
    assert [r["problem_id"] for r in records] == ["3MSZA_0", "3MSZA_1", "AB12C_0"]
    assert [r["solution"] for r in records[1:]] == [
        "<answer>[0.0, 6.9]</answer>",
        "<answer>[1.5, 2.0]</answer>",
    ]
    assert records[1]["query"] == "person opening a door"


def test_the_cli_writes_records_that_data_check_accepts(tmp_path, capsys):
    root = tmp_path / "data"
    videos = root / "charades" / "videos"
    videos.mkdir(parents=True)
    for vid in ("3MSZA", "AB12C"):
        (videos / f"{vid}.mp4").write_bytes(b"")  # data check without --decode: present is enough
    ann = tmp_path / "a.txt"
    ann.write_text("\n".join(LINES) + "\n")
    out = tmp_path / "sta.jsonl"
    argv = ["data", "convert", "--from", "charades-sta", str(ann), "--videos", str(videos),
            "--media-root", str(root), "--out", str(out),
            "--question", 'When does "{query}" happen?']  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out == f"wrote 3 record(s) to {out}\n"
    records = load_records(out, root)
    assert [r.path for r in records] == ["charades/videos/3MSZA.mp4"] * 2 + [
        "charades/videos/AB12C.mp4"
    ]
    assert records[2].problem == 'When does "a person is eating" happen?'
    assert records[2].answer == "[1.5, 2.0]"
    assert main(["data", "check", str(out), "--media-root", str(root)]) == 0


def test_bad_lines_are_named_and_nothing_is_written(tmp_path, capsys):
    ann = tmp_path / "a.txt"
    ann.write_text(
        "\n".join(
            [
                "V1 1 2##fine",
                "V1 1 2 person sits",  # no ##
                "V1 3 2##reversed",
                "V1 x 2##not a number",
                "V1 -1 2##negative",
                "V1 1 2##  .",
                "V1 2##too few",
            ]
        )
    )
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    argv = ["data", "convert", "--from", "charades-sta", str(ann), "--videos", str(tmp_path),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:6] == [
        f"{ann}:2: no '##' between the times and the sentence",
        f"{ann}:3: start 3.0 is not before end 2.0",
        f"{ann}:4: start and end must be numbers (seconds), got 'x' and '2'",
        f"{ann}:5: start -1.0 is negative",
        f"{ann}:6: empty sentence after '##'",
        f"{ann}:7: expected 'VIDEO_ID START END' before '##', got 'V1 2'",
    ]
    assert "6 bad line(s)" in err[6] and "nothing written" in err[6]
    assert out.read_text() == "old\n"  # untouched
    assert main([*argv, "--skip-bad"]) == 0
    assert [json.loads(x)["problem_id"] for x in out.read_text().splitlines()] == ["V1_0"]


def test_videos_outside_the_media_root_and_a_question_without_query_are_errors(tmp_path):
    ann = tmp_path / "a.txt"
    ann.write_text("V1 1 2##x\n")
    with pytest.raises(ValueError, match="is not inside the media root"):
        convert_charades_sta(ann, tmp_path / "videos", tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="has no {query}"):
        convert_charades_sta(ann, tmp_path, question="When?")
