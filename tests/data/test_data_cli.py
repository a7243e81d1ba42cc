from __future__ import annotations

import json

from conftest import good_image, good_video

from video_r1.cli import main


def write_mixed_json_list(path) -> None:
    """Good and broken records in one JSON list, each object starting on a known line."""
    parts = [
        json.dumps(good_video(problem_id=1)),  # line 2: good
        '{"problem_id": 2, "problem": "x",, }',  # line 3: not JSON
        json.dumps(good_image(problem_id=3, problem_type="essay")),  # line 4: unknown type
        json.dumps(good_video(problem_id=4, path="videos/gone.mp4"), indent=1),  # line 5..
    ]
    more = [
        json.dumps(
            good_video(problem_id=5, solution="<answer>D</answer>")
        ),  # letter not in options
        json.dumps(good_image(problem_id=6, path="../../etc/passwd")),  # escapes the root
    ]
    text = "[\n" + ",\n".join(parts + more) + "\n]\n"
    path.write_text(text)


def test_check_lists_every_bad_record_with_its_line(tmp_path, media_root, capsys):
    data = tmp_path / "mixed.json"
    write_mixed_json_list(data)
    first_after_indented = 5 + json.dumps(good_video(problem_id=4), indent=1).count("\n") + 1

    assert main(["data", "check", str(data), "--media-root", str(media_root)]) == 1
    out = capsys.readouterr().out.splitlines()
    expected_prefixes = [
        f"{data}[1] (line 3) (?): json: ",
        f"{data}[2] (line 4) (3): problem_type: unknown problem_type 'essay'",
        f"{data}[3] (line 5) (4): path: media file not found",
        f"{data}[4] (line {first_after_indented}) (5): solution: answer 'D' is not one of",
        f"{data}[5] (line {first_after_indented + 1}) (6): path: ",
    ]
    assert len(out) == len(expected_prefixes) + 1
    for line, prefix in zip(out, expected_prefixes, strict=False):
        assert line.startswith(prefix), (line, prefix)
    assert "outside the media root" in out[4]
    assert out[-1] == f"{data}: 6 record(s), 1 good, 5 bad, 5 problem(s)"


def test_check_clean_jsonl_exits_zero(tmp_path, media_root, capsys):
    data = tmp_path / "clean.jsonl"
    data.write_text(json.dumps(good_video()) + "\n" + json.dumps(good_image()) + "\n")
    assert main(["data", "check", str(data), "--media-root", str(media_root)]) == 0
    assert capsys.readouterr().out.strip() == f"{data}: 2 record(s), 2 good, 0 bad, 0 problem(s)"


def test_check_missing_file_exits_two(tmp_path, media_root, capsys):
    code = main(["data", "check", str(tmp_path / "absent.jsonl"), "--media-root", str(media_root)])
    assert code == 2 and "absent.jsonl" in capsys.readouterr().err


def test_stats_counts_and_plot(tmp_path, capsys):
    rows = [good_video(), good_video(), good_image(), good_image(problem_type="free-form")]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot = tmp_path / "plots" / "stats.png"
    assert main(["data", "stats", str(data), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert f"{data}: 4 record(s)" in out
    table = {tuple(line.split()[-3:]) for line in out.splitlines() if line.startswith("  ")}
    assert ("video", "2", "50.0") in table and ("free-form", "1", "25.0") in table
    assert ("synthetic", "2", "50.0") in table
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_decode_reports_media_that_fail_to_open(tmp_path, media_root, capsys):
    rows = [
        good_video(),
        good_video(problem_id=2, path="broken.mp4"),
        good_image(),
        good_image(problem_id=4, path="fake.png"),
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["data", "check", str(data), "--media-root", str(media_root)]
    assert main(argv) == 0  # the files exist, so without --decode they pass
    capsys.readouterr()
    assert main([*argv, "--decode", "--workers", "2"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in out[:2]] == [f"{data}:2 (2)", f"{data}:4 (4)"]
    assert all(": path: decode: " in line for line in out[:2])
    assert out[-1] == f"{data}: 4 record(s), 2 good, 2 bad, 2 problem(s) (media decoded)"


def test_check_empty_dataset_is_an_error(tmp_path, media_root, capsys):
    for name, text in (("empty.jsonl", ""), ("empty.json", "[]\n")):
        (tmp_path / name).write_text(text)
        assert main(["data", "check", str(tmp_path / name), "--media-root", str(media_root)]) == 1
        err = capsys.readouterr().err
        assert err == f"error: {tmp_path / name}: no records (an empty dataset)\n"


def test_check_utf8_bom_at_start_is_fine(tmp_path, media_root, capsys):
    rows = [json.dumps(good_video(problem_id=1)), json.dumps(good_image(problem_id=2))]
    for name, text in (("bom.jsonl", "\n".join(rows)), ("bom.json", f"[{','.join(rows)}]")):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
        assert main(["data", "check", str(tmp_path / name), "--media-root", str(media_root)]) == 0
        assert "2 record(s), 2 good, 0 bad" in capsys.readouterr().out
