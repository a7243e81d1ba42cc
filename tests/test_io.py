"""Appended JSON lines: whole rows, in order, nothing written for nothing."""

from video_r1.utils.io import append_jsonl, append_jsonl_rows, read_jsonl


def test_append_jsonl_rows_appends_whole_lines_in_order(tmp_path):
    path = tmp_path / "logs" / "rollouts.jsonl"
    append_jsonl_rows(path, [])
    assert not path.exists()  # no empty file for a step that logged nothing
    append_jsonl_rows(path, [{"step": 1, "text": "é"}, {"step": 1, "text": "b"}])
    append_jsonl(path, {"step": 2})
    append_jsonl_rows(path, ({"step": 3, "k": k} for k in range(2)))
    assert read_jsonl(path) == [
        {"step": 1, "text": "é"}, {"step": 1, "text": "b"}, {"step": 2}, {"step": 3, "k": 0},
        {"step": 3, "k": 1},
    ]  # fmt: skip
    assert path.read_text(encoding="utf-8").count("\n") == 5
