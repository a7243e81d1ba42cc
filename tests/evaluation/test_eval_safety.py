"""`video-r1 eval` run twice, resumed, sharded, or fed outputs made elsewhere."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from _lock_holder import held_by_a_live_process
from conftest import SMALL

from video_r1.cli import main
from video_r1.utils.io import read_jsonl


def _eval_args(model: Path, bench: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", str(model), "--bench", str(bench), "--media-root",
            str(bench.parent), "--out", str(out), "--no-progress", *SMALL, *extra]  # fmt: skip


def test_locked_folder_names_its_holder_and_a_dead_holder_is_taken_over(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    with held_by_a_live_process(out) as holder:
        assert main(_eval_args(parrot_dir, bench, out, "--limit", "2")) == 1
        err = capsys.readouterr().err
        assert f"pid {holder.pid} on host {socket.gethostname()} since 2026-01-01 10:00" in err
        assert not (out / "samples.jsonl").exists()
    # the holder is dead: its lock is stale and taken over; the run releases it at the end
    assert main(_eval_args(parrot_dir, bench, out, "--limit", "2")) == 0
    assert "took over a stale lock of pid" in capsys.readouterr().out
    assert not (out / ".lock").exists() and len(read_jsonl(out / "samples.jsonl")) == 2


def test_resume_refuses_other_dtype_attention_or_bench_content(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    copy = bench.parent / "bench_copy.jsonl"
    shutil.copyfile(bench, copy)
    out = tmp_path / "run"
    assert main(_eval_args(parrot_dir, copy, out, "--limit", "1")) == 0
    assert main(_eval_args(parrot_dir, copy, out, "--limit", "1", "--dtype", "float32")) == 2
    assert "dtype: 'auto' -> 'float32'" in capsys.readouterr().err
    assert main(_eval_args(parrot_dir, copy, out, "--limit", "1", "--attn", "eager")) == 2
    assert "attn: None -> 'eager'" in capsys.readouterr().err
    copy.write_text("\n".join(reversed(copy.read_text().splitlines())))  # an edited file
    assert main(_eval_args(parrot_dir, copy, out, "--limit", "1")) == 2
    assert "benchmarks.bench_copy.jsonl" in capsys.readouterr().err


def test_resume_refuses_a_model_retrained_into_the_same_folder(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    from safetensors.torch import load_file, save_file

    model = tmp_path / "final"
    shutil.copytree(parrot_dir, model)
    out = tmp_path / "run"
    assert main(_eval_args(model, bench, out, "--limit", "1")) == 0
    weights = model / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3  # "retrained": same path, other weights
    save_file(tensors, weights, metadata={"format": "pt"})
    assert main(_eval_args(model, bench, out, "--limit", "2")) == 2
    assert "model_weights:" in capsys.readouterr().err
    assert len(read_jsonl(out / "samples.jsonl")) == 1  # nothing mixed in


def test_a_start_that_failed_before_any_sample_does_not_block_the_corrected_command(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    assert main(_eval_args(tmp_path / "no_such_model", bench, out, "--limit", "1")) != 0
    assert (out / "run.json").exists() and not (out / "samples.jsonl").exists()
    capsys.readouterr()
    # nothing was evaluated: the corrected command runs (it used to be refused as a resume
    # with another model), and a later change of settings is refused as before
    assert main(_eval_args(parrot_dir, bench, out, "--limit", "1")) == 0
    assert main(_eval_args(parrot_dir, bench, out, "--limit", "1", "--dtype", "float32")) == 2
    assert "dtype: 'auto' -> 'float32'" in capsys.readouterr().err


def test_sampled_run_resumed_in_other_batches_equals_uninterrupted(
    tiny_model_factory, bench: Path, tmp_path: Path
) -> None:
    model = tiny_model_factory("qwen2.5-vl")  # random weights: sampling really varies
    sampling = ["--temperature", "1.0", "--top-p", "1.0", "--max-new-tokens", "6"]
    whole = tmp_path / "whole"
    assert main(_eval_args(model, bench, whole, "--limit", "5", "--batch-size", "3",
                           *sampling)) == 0  # fmt: skip
    parts = tmp_path / "parts"  # 2 samples, then the rest in batches of another size
    assert main(_eval_args(model, bench, parts, "--limit", "2", "--batch-size", "2",
                           *sampling)) == 0  # fmt: skip
    assert main(_eval_args(model, bench, parts, "--limit", "5", "--batch-size", "4",
                           *sampling)) == 0  # fmt: skip
    outputs = {x["key"]: x["output"] for x in read_jsonl(whole / "samples.jsonl")}
    resumed = {x["key"]: x["output"] for x in read_jsonl(parts / "samples.jsonl")}
    assert resumed == outputs
    assert len(set(outputs.values())) > 1  # the outputs are sampled, not one fixed string


def test_every_sample_failed_is_an_error_and_some_failed_a_warning(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    wrong_root = tmp_path / "nothing-here"
    wrong_root.mkdir()
    args = _eval_args(parrot_dir, bench, tmp_path / "all", "--limit", "3")
    args[args.index("--media-root") + 1] = str(wrong_root)
    assert main(args) == 1
    assert "error: all 3 samples failed" in capsys.readouterr().err
    # the 6th record is the broken video
    assert main(_eval_args(parrot_dir, bench, tmp_path / "some", "--limit", "6")) == 0
    err = capsys.readouterr().err
    assert "warning: 1 of 6 samples failed" in err and "--retry-failed" in err


def _predictions(bench: Path, path: Path) -> None:
    """The parrot's answer to every record of `bench`, as another tool would write it."""
    rows = [{"problem_id": json.loads(x)["problem_id"], "output": "<answer>A</answer>"}
            for x in bench.read_text().splitlines()]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_missing_predictions_file_or_an_empty_bench_is_named(
    bench: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "scored"
    missing = ["eval", "--predictions", str(tmp_path / "gone.jsonl"), "--bench", str(bench),
               "--out", str(out)]  # fmt: skip
    assert main(missing) == 2
    assert f"--predictions {tmp_path / 'gone.jsonl'}: no such file" in capsys.readouterr().err
    assert not out.exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    argv = ["eval", "--model", str(tmp_path / "m"), "--bench", str(empty), "--media-root",
            str(tmp_path), "--out", str(out)]  # fmt: skip
    assert main(argv) == 2  # was: an n = 0 summary and exit 0
    assert f"--bench {empty}: the file is empty" in capsys.readouterr().err


def test_predictions_are_scored_like_a_model_run(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    model_run = tmp_path / "model"
    assert main(_eval_args(parrot_dir, bench, model_run)) == 0
    preds = tmp_path / "preds.jsonl"
    _predictions(bench, preds)
    out = tmp_path / "scored"
    assert (
        main(["eval", "--predictions", str(preds), "--bench", str(bench), "--out", str(out)]) == 0
    )
    by_key = {x["key"]: x for x in read_jsonl(out / "samples.jsonl")}
    for line in read_jsonl(model_run / "samples.jsonl"):
        if line["error"] is None:  # the broken video is scored here: no media needed
            assert by_key[line["key"]]["score"] == line["score"]
            assert by_key[line["key"]]["answer"] == "A"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["orders"]["ordered"]["overall"]["n"] == 11
    assert summary["orders"]["ordered"]["overall"]["failed"] == 0
    assert "# Evaluation" in (out / "summary.md").read_text()

    lines = preds.read_text().splitlines()
    preds.write_text("\n".join([*lines[1:], json.dumps({"problem_id": "nope", "output": ""})]))
    assert main(["eval", "--predictions", str(preds), "--bench", str(bench), "--out",
                 str(tmp_path / "bad")]) == 2  # fmt: skip
    assert "preds.jsonl:11: unknown problem_id 'nope'" in capsys.readouterr().err
    preds.write_text("\n".join(lines[1:]))
    assert main(["eval", "--predictions", str(preds), "--bench", str(bench), "--out",
                 str(tmp_path / "bad")]) == 2  # fmt: skip
    assert "no prediction for 1 of 11 samples" in capsys.readouterr().err


def test_shards_merge_into_the_whole_run(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for i, folder in enumerate(shards, start=1):
        assert main(_eval_args(parrot_dir, bench, folder, "--shard", f"{i}/2")) == 0
    keys = [{x["key"] for x in read_jsonl(f / "samples.jsonl")} for f in shards]
    assert len(keys[0]) == 6 and len(keys[1]) == 5 and not keys[0] & keys[1]
    assert main(["eval", "--merge", str(shards[0]), "--out", str(tmp_path / "m")]) == 2
    assert "need each of 1..2 exactly once" in capsys.readouterr().err
    merged = tmp_path / "merged"
    assert main(["eval", "--merge", *map(str, shards), "--out", str(merged)]) == 0
    whole = tmp_path / "whole"
    assert main(_eval_args(parrot_dir, bench, whole)) == 0
    got = json.loads((merged / "summary.json").read_text())
    expected = json.loads((whole / "summary.json").read_text())
    assert got["orders"] == expected["orders"]
    assert got["settings"] == expected["settings"]


def test_shards_of_other_limits_do_not_merge(
    parrot_dir: Path, bench: Path, tmp_path: Path, capsys
) -> None:
    first, second = tmp_path / "s1", tmp_path / "s2"
    assert main(_eval_args(parrot_dir, bench, first, "--shard", "1/2", "--limit", "4")) == 0
    assert main(_eval_args(parrot_dir, bench, second, "--shard", "2/2")) == 0
    merged = tmp_path / "merged"
    assert main(["eval", "--merge", str(first), str(second), "--out", str(merged)]) == 2
    assert "limit: 4 -> 0" in capsys.readouterr().err
    assert not (merged / "summary.json").exists()


def test_shard_flag_is_checked(parrot_dir: Path, bench: Path, tmp_path: Path, capsys) -> None:
    assert main(_eval_args(parrot_dir, bench, tmp_path / "x", "--shard", "3/2")) == 2
    assert "--shard '3/2'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--predictions", "p.jsonl", "--merge", "a", "--out", str(tmp_path)])


def test_predictions_on_a_vsibench_file_of_another_name_get_the_official_scores(
    tmp_path: Path,
) -> None:
    # A converted VSI-Bench file: counting and room size labelled "numerical", a name that
    # does not say VSI-Bench, data_source the scene dataset; the media need not exist.
    records = [("c1", "object_counting", "3", "3"), ("c2", "object_counting", "5", "5"),
               ("c3", "object_counting", "10", "7.2"),
               ("r1", "room_size_estimation", "20.0", "18.3")]  # fmt: skip
    rows = [{"problem_id": pid, "problem": "How many?", "data_type": "video",
             "problem_type": "numerical", "options": [], "solution": f"<answer>{gt}</answer>",
             "path": f"media/{pid}.mp4", "data_source": "scannet", "question_type": qtype}
            for pid, qtype, gt, _ in records]  # fmt: skip
    rows.append({"problem_id": "p1", "problem": "Which turn?", "data_type": "video",
                 "problem_type": "multiple choice", "options": ["A. left", "B. right"],
                 "solution": "<answer>B</answer>", "path": "media/p1.mp4",
                 "data_source": "scannet", "question_type": "route_planning"})  # fmt: skip
    bench = tmp_path / "spatial_test.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = tmp_path / "preds.jsonl"
    answers = [(pid, out) for pid, _, _, out in records] + [("p1", "B")]
    preds.write_text("".join(json.dumps({"problem_id": pid, "output": f"<answer>{out}</answer>"})
                             + "\n" for pid, out in answers))  # fmt: skip
    out = tmp_path / "scored"
    argv = ["eval", "--predictions", str(preds), "--bench", str(bench), "--out", str(out)]
    assert main(argv) == 0
    s = json.loads((out / "summary.json").read_text())["orders"]["ordered"]
    vsi = s["benchmarks"][bench.name]["vsibench"]
    # official, by question type: counting (1 + 1 + 0.5) / 3 = 0.833 (|7.2 - 10| / 10 = 0.28
    # <= 1 - t for t = 0.50..0.70); room size 0.9 (0.085 <= 1 - t for t = 0.50..0.90)
    assert vsi["categories"] == {
        "object_counting": pytest.approx((1 + 1 + 0.5) / 3),
        "room_size_estimation": pytest.approx(0.9),
        "route_planning": 1.0,
    }
    assert vsi["official"] == pytest.approx(((1 + 1 + 0.5) / 3 + 0.9 + 1.0) / 3)
    # published, by problem_type as the published script: numerical exact match, 2 of 4 right;
    # its VSI figure needs regression-labelled questions, and the summary says so
    numerical = s["benchmarks"][bench.name]["by_type"]["numerical"]
    assert numerical["published"] == pytest.approx(2 / 4)
    assert numerical["official"] == pytest.approx((1 + 1 + 0.5 + 0.9) / 4)
    assert vsi["published"] is None and "no scored regression sample" in vsi["published_missing"]
    report = (out / "summary.md").read_text()
    assert "recognised as VSI-Bench by its records" in report
    assert f"| {bench.name} / VSI object_counting |  |  |  |  | 83.3 |" in report
