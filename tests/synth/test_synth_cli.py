from __future__ import annotations

import json
from collections import Counter

from video_r1.cli import main
from video_r1.data import load_records
from video_r1.data.records import DATA_TYPES, PROBLEM_TYPES
from video_r1.synth import TASKS


def test_benchmark_is_valid_complete_and_deterministic(tmp_path, capsys):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["synth", str(a), "--n", "90", "--seed", "3"]) == 0
    assert main(["synth", str(b), "--n", "90", "--seed", "3"]) == 0
    assert main(["synth", str(c), "--n", "90", "--seed", "4"]) == 0
    for split in ("train", "test"):
        assert (a / f"{split}.jsonl").read_bytes() == (b / f"{split}.jsonl").read_bytes()
        assert (a / f"{split}.jsonl").read_bytes() != (c / f"{split}.jsonl").read_bytes()

    train = load_records(a / "train.jsonl", a)  # raises RecordError on any schema problem
    test = load_records(a / "test.jsonl", a)
    assert len(train) + len(test) == 90 and len(test) == sum(
        v["records"]["test"] for v in json.loads((a / "tasks.json").read_text())["tasks"].values()
    )
    everything = train + test
    assert {r.problem_type for r in everything} == set(PROBLEM_TYPES) - {"temporal grounding"}
    assert {r.data_type for r in everything} == set(DATA_TYPES)
    # every task of the default mix; the opt-in appear only when named
    assert {r.data_source for r in train} == {name for name, t in TASKS.items() if t.default}
    assert "appear" not in {r.data_source for r in train}
    assert all(r.process.startswith("<think>") and r.process.endswith("</think>") for r in train)
    assert all(r.process is None for r in test)
    suffixes = {r.data_type: r.media_path.suffix for r in everything}
    assert suffixes == {"video": ".mp4", "image": ".png"}
    # the default mix leans on multiple-choice video
    mc_video = sum(r.problem_type == "multiple choice" and r.data_type == "video" for r in train)
    assert mc_video > len(train) / 2

    tasks = json.loads((a / "tasks.json").read_text())["tasks"]
    assert tasks["direction"]["order_dependent"] is True
    assert tasks["direction"]["chance_accuracy"] == 0.25
    assert tasks["direction"]["order_blind_accuracy"] == 0.75
    assert tasks["event_order"]["order_blind_accuracy"] == 0.75  # the lit colour, 3 in 4
    assert tasks["count_video"]["order_dependent"] is False
    assert tasks["count_video"]["order_blind_accuracy"] == 1.0
    assert set(tasks["ocr_image"]) >= {"description", "problem_type", "data_type"}


def test_task_subset_and_bad_arguments(tmp_path, capsys):
    out = tmp_path / "sub"
    assert main(["synth", str(out), "--n", "10", "--tasks", "reverse,light_fraction"]) == 0
    lines = (out / "train.jsonl").read_text().splitlines()
    sources = Counter(json.loads(line)["data_source"] for line in lines)
    assert set(sources) == {"reverse", "light_fraction"}
    assert set(json.loads((out / "tasks.json").read_text())["tasks"]) == set(sources)
    appear = tmp_path / "appear"
    assert main(["synth", str(appear), "--n", "4", "--tasks", "appear,event_order"]) == 0
    tasks = json.loads((appear / "tasks.json").read_text())["tasks"]
    assert tasks["appear"]["order_dependent"] is True
    assert tasks["appear"]["chance_accuracy"] == 0.5
    assert tasks["appear"]["order_blind_accuracy"] == 0.75  # the shape's colour, 3 in 4

    capsys.readouterr()
    assert main(["synth", str(out), "--n", "10"]) == 2  # would overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["synth", str(out), "--n", "10", "--tasks", "nope", "--overwrite"]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert (out / "train.jsonl").exists()  # a rejected call leaves the old benchmark alone
    assert main(["synth", str(tmp_path / "x"), "--n", "4", "--size", "100"]) == 2
    assert "multiple of 28" in capsys.readouterr().err
