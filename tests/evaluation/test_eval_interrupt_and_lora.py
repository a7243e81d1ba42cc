"""Ctrl-C in `eval` / `annotate` says what is saved and how to continue; a LoRA run's
checkpoint (adapters only) is evaluated, annotated with and asked as base + adapters."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import SMALL

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]


def _interrupt_after_first_lines(argv: list[str], progress: Path) -> subprocess.CompletedProcess:
    """Run `video-r1 ARGV` in a process; SIGINT it once `progress` holds a finished line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "video_r1.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    while proc.poll() is None and not (progress.exists() and b"\n" in progress.read_bytes()):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()  # still running: the interrupt lands mid-run
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _continue_with(stderr: str, command: str) -> list[str]:
    """The command after "continue with: ", as the arguments of video_r1.cli."""
    line = next(line for line in stderr.splitlines() if line.startswith("error: "))
    args = shlex.split(line.split("continue with: ", 1)[1])
    assert args[:2] == ["video-r1", command], line
    return args[1:]


def test_ctrl_c_in_eval_names_what_is_saved_and_the_command_that_continues(
    parrot_dir: Path, bench: Path, tmp_path: Path
) -> None:
    # it printed only "error: " (exit 130)
    out = tmp_path / "run"
    argv = ["eval", "--model", str(parrot_dir), "--bench", str(bench), "--media-root",
            str(bench.parent), "--out", str(out), "--no-progress", "--batch-size", "1",
            *SMALL]  # fmt: skip
    stopped = _interrupt_after_first_lines(argv, out / "samples.jsonl")
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    saved = len(read_jsonl(out / "samples.jsonl"))
    assert f"error: eval stopped by SIGINT; {saved} samples saved in {out / 'samples.jsonl'}; " \
        "continue with: video-r1 eval --model" in stopped.stderr, stopped.stderr[-3000:]  # fmt: skip
    assert 0 < saved < 11 and not (out / ".lock").exists()
    # the printed command continues: every sample once
    assert main(_continue_with(stopped.stderr, "eval")) == 0
    keys = [line["key"] for line in read_jsonl(out / "samples.jsonl")]
    assert len(keys) == len(set(keys)) == 11  # every record of the bench, once


def test_ctrl_c_in_annotate_names_what_is_saved_and_the_command_that_continues(
    parrot_dir: Path, synth_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cot.jsonl"
    argv = ["annotate", "--teacher", str(parrot_dir), "--data", str(synth_root / "train.jsonl"),
            "--media-root", str(synth_root), "--out", str(out), "--no-progress",
            "--batch-size", "1", "--limit", "12", *SMALL]  # fmt: skip
    progress = out.with_name("cot.jsonl.progress.jsonl")
    stopped = _interrupt_after_first_lines(argv, progress)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    saved = len(read_jsonl(progress))
    assert f"error: annotate stopped by SIGINT; {saved} records saved in {progress}; " \
        "continue with: video-r1 annotate --teacher" in stopped.stderr, stopped.stderr[-3000:]  # fmt: skip
    assert main(_continue_with(stopped.stderr, "annotate")) == 0
    assert len(read_jsonl(progress)) == 12


@pytest.fixture(scope="module")
def lora_checkpoint(parrot_dir: Path, tmp_path_factory) -> tuple[Path, dict]:
    """A LoRA run's checkpoint-N on the parrot: adapter files, processor files and the run's
    config.yaml, no config.json; with the merged weights it stands for."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from video_r1.models import load_processor

    folder = tmp_path_factory.mktemp("lora_run") / "checkpoint-2"
    torch.manual_seed(0)
    base = AutoModelForImageTextToText.from_pretrained(parrot_dir, dtype=torch.float32)
    peft_cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )  # fmt: skip (non-zero B: the merge shows)
    model = get_peft_model(base, peft_cfg)
    model.save_pretrained(folder)
    load_processor(parrot_dir).save_pretrained(folder)
    (folder / "config.yaml").write_text(f"model:\n  path: {parrot_dir}\n")
    merged = {k: v.clone() for k, v in model.merge_and_unload().state_dict().items()}
    assert not (folder / "config.json").exists()
    return folder, merged


def test_a_lora_checkpoint_loads_as_its_base_with_the_adapter_merged(lora_checkpoint) -> None:
    from video_r1.models import load_model

    folder, merged = lora_checkpoint
    # was: Unrecognized model ... Should have a `model_type` key in its config.json
    loaded = load_model(folder, dtype="float32", fast_vision=False).state_dict()
    assert set(loaded) == set(merged)
    for name, value in merged.items():
        assert torch.allclose(loaded[name], value, atol=1e-6), name


def test_eval_annotate_and_infer_take_a_lora_checkpoint(
    lora_checkpoint, bench: Path, synth_root: Path, tmp_path: Path, capsys
) -> None:
    folder, _ = lora_checkpoint
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(folder), "--bench", str(bench), "--media-root",
                 str(bench.parent), "--out", str(out), "--no-progress", "--limit", "2",
                 *SMALL]) == 0  # fmt: skip
    assert len(read_jsonl(out / "samples.jsonl")) == 2
    cot = tmp_path / "cot.jsonl"
    assert main(["annotate", "--teacher", str(folder), "--data", str(synth_root / "train.jsonl"),
                 "--media-root", str(synth_root), "--out", str(cot), "--no-progress",
                 "--limit", "1", *SMALL]) == 0  # fmt: skip
    image = synth_root / "media" / "test" / "color_image" / "00000.png"
    assert main(["infer", "--model", str(folder), "--image", str(image), "--question",
                 "Colour?", "--type", "free-form", *SMALL]) == 0  # fmt: skip


def test_a_lora_checkpoint_whose_base_is_gone_says_what_to_pass(
    lora_checkpoint, bench: Path, tmp_path: Path, capsys
) -> None:
    import shutil

    folder, _ = lora_checkpoint
    moved = tmp_path / "checkpoint-2"
    shutil.copytree(folder, moved)
    adapter = json.loads((moved / "adapter_config.json").read_text())
    adapter["base_model_name_or_path"] = "runs/gone/model"
    (moved / "adapter_config.json").write_text(json.dumps(adapter))
    (moved / "config.yaml").write_text("model:\n  path: runs/gone/model\n")
    code = main(["eval", "--model", str(moved), "--bench", str(bench), "--media-root",
                 str(bench.parent), "--out", str(tmp_path / "eval"), "--limit", "1", *SMALL])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert (
        f"error: model path {moved}: a LoRA checkpoint (adapters only) whose base model "
        "(runs/gone/model) is not found from here; pass the run's final/" in err
    ), err


def test_the_vllm_engine_says_a_lora_checkpoint_needs_its_merged_model(lora_checkpoint) -> None:
    # vLLM reads merged weights from disk: one line saying what to pass, before it loads
    from video_r1.evaluation.answering import load_model_and_processor
    from video_r1.models.loading import ModelPathError

    folder, _ = lora_checkpoint
    with pytest.raises(ModelPathError, match=r"a LoRA checkpoint \(adapters only\); --engine "
                       r"vllm needs merged weights: pass the run's final/"):  # fmt: skip
        load_model_and_processor(str(folder), engine="vllm")
