"""An experiment base exported from one folder and adopted by another (`--export-base`,
`--base-sft`): the SFT checkpoint travels, the benchmark and initial model are rebuilt and
checked."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from video_r1.cli import main
from video_r1.demo.pipeline import SCALES, make_benchmark, make_model, run_sft
from video_r1.experiments.shipped_base import MANIFEST, adopt_base, tree_sha256
from video_r1.experiments.temporal import EXPERIMENT_TASKS
from video_r1.utils.hashing import weights_sha256

QUICK = dataclasses.replace(SCALES["quick"], tasks=EXPERIMENT_TASKS)


def test_a_base_exported_here_is_adopted_elsewhere_and_checked(tmp_path, capsys):
    # a base as `video-r1 experiment temporal --scale quick` builds it under OUT/base
    first = tmp_path / "first"
    base = first / "base"
    make_benchmark(base / "synth", QUICK, 0, False)
    make_model(base / "tiny_model", QUICK, 0)
    run_sft(base, base / "tiny_model", QUICK, 0, False)
    sft = weights_sha256(base / "sft" / "final")

    shipped = tmp_path / "shipped"
    export = ["experiment", "temporal", "--out", str(first), "--export-base", str(shipped)]
    assert main(export) == 0
    manifest = json.loads((shipped / MANIFEST).read_text())
    assert manifest == {"sft": sft, "initial_model": weights_sha256(base / "tiny_model"),
                        "benchmark": tree_sha256(base / "synth")}  # fmt: skip
    names = {p.name for p in shipped.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", MANIFEST} <= names
    assert not {"state", "config.yaml"} & names  # no optimizer state, no machine paths
    assert main(export) == 2 and "exists" in capsys.readouterr().err  # never overwritten

    # another folder builds the benchmark and the model, then takes the checkpoint: no SFT
    second = tmp_path / "second"
    argv = ["experiment", "temporal", "--out", str(second), "--scale", "quick", "--seeds", "0",
            "--steps", "1", "--variants", "grpo", "--no-progress", "--base-sft", str(shipped)]  # fmt: skip
    assert main(argv) == 0
    assert weights_sha256(second / "base" / "sft" / "final") == sft
    assert not (second / "base" / "sft" / "metrics.jsonl").exists()  # nothing was trained
    results = json.loads((second / "results.json").read_text())
    assert results["base_sft"] == sft[:16]
    config = (second / "runs" / "grpo" / "seed0" / "final" / "config.yaml").read_text()
    assert str((second / "base" / "sft" / "final").resolve()) in config
    assert main(argv) == 0  # a rerun resumes on the adopted checkpoint

    # a checkpoint trained from another benchmark is refused before anything is written
    other = tmp_path / "other"
    shutil.copytree(shipped, other)
    (other / MANIFEST).write_text(json.dumps({**manifest, "benchmark": "0" * 64}))
    third = tmp_path / "third"
    assert main([*argv[:3], str(third), *argv[4:-1], str(other)]) == 2
    error = capsys.readouterr().err
    assert (
        "trained from benchmark 0000000000000000" in error
        and tree_sha256(third / "base" / "synth")[:16] in error
    )
    assert not (third / "base" / "sft").exists() and not (third / "runs").exists()
    # a checkpoint whose weights are not the ones its manifest names
    (other / MANIFEST).write_text(json.dumps({**manifest, "sft": "1" * 64}))
    with pytest.raises(ValueError, match="changed after export"):
        adopt_base(other, third / "base")
    # a base that already holds another checkpoint keeps it and says so
    shutil.copytree(third / "base" / "tiny_model", third / "base" / "sft" / "final")
    with pytest.raises(ValueError, match="holds the checkpoint"):
        adopt_base(shipped, third / "base")
    assert weights_sha256(third / "base" / "sft" / "final") != sft
    # --base-sft builds its own base: with --from-demo it is refused
    assert main([*argv, "--from-demo", str(base)]) == 2
    assert "not both" in capsys.readouterr().err
