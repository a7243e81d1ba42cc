"""The training run's folder: one run at a time (OUT/.lock), `--resume` with nothing to resume,
a refused run leaving nothing behind, and `final` a self-contained model folder."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from _launch import REPO
from _lock_holder import held_by_a_live_process
from _sft_data import write_cot_records

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

pytestmark = pytest.mark.slow
GRPO_TINY = ["rl.num_generations=2", "rl.max_completion_length=8", "rl.temporal=false",
             "optim.per_device_batch_size=2", "data.shuffle=false"]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("cot_folder"), n=4)


def _argv(recipe: str, model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    tiny = GRPO_TINY if recipe == "grpo" else []
    return [recipe, "--config", str(REPO / "configs" / f"{recipe}_tiny.yaml"),
            f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}", "logging.progress_bar=false", "optim.max_steps=2",
            "checkpoint.save_every=1", *tiny, *extra]  # fmt: skip


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("recipe", ["sft", "grpo"])
def test_a_second_run_on_a_folder_in_use_is_refused_and_a_dead_runs_lock_taken_over(
    recipe: str, tiny_qwen25: Path, data: Path, tmp_path: Path, capsys
) -> None:
    # Two grpo runs on one folder both exited 0 with their metrics interleaved.
    out = tmp_path / "run"
    with held_by_a_live_process(out) as holder:
        assert main(_argv(recipe, tiny_qwen25, data, out)) == 1
        line = _error_line(capsys)
        assert f"in use by pid {holder.pid} on host {socket.gethostname()}" in line, line
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written
        # a live run with a checkpoint is not one to continue with --resume
        (out / "checkpoint-1").mkdir()
        (out / "checkpoint-1" / "trainer_state.json").write_text("{}")
        assert main(_argv(recipe, tiny_qwen25, data, out)) == 1
        assert f"in use by pid {holder.pid}" in _error_line(capsys)
        shutil.rmtree(out / "checkpoint-1")
    # the holder is gone: its lock is stale, taken over, and released at the end
    assert main(_argv(recipe, tiny_qwen25, data, out)) == 0
    assert f"took over a stale lock of pid {holder.pid}" in capsys.readouterr().out
    assert not (out / ".lock").exists()
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2]


def test_final_is_a_self_contained_model_folder(
    tiny_qwen25: Path, data: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    out = tmp_path / "run"
    assert main(_argv("sft", tiny_qwen25, data, out, "checkpoint.keep_last=1")) == 0
    final = out / "final"
    # was a symlink to checkpoint-2 carrying state/ (`cp -r` copied a dangling link)
    assert final.is_dir() and not final.is_symlink() and not (final / "state").exists()
    names = {p.name for p in final.iterdir()}
    assert {"model.safetensors", "config.json", "config.yaml", "trainer_state.json"} <= names
    copy = tmp_path / "elsewhere"
    shutil.copytree(out / "final", copy, symlinks=True)  # what `cp -r` does with links
    shutil.rmtree(out)
    model = AutoModelForImageTextToText.from_pretrained(copy)
    AutoProcessor.from_pretrained(copy)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert json.loads((copy / "trainer_state.json").read_text())["step"] == 2


def test_resume_on_a_missing_or_empty_folder_is_refused(
    tiny_qwen25: Path, data: Path, tmp_path: Path, capsys
) -> None:
    # it started a fresh run at step 0 without a word
    missing = tmp_path / "typo"
    assert main([*_argv("sft", tiny_qwen25, data, missing), "--resume"]) == 1
    line = _error_line(capsys)
    assert f"--resume: {missing}: no such folder, nothing to resume" in line, line
    assert "drop --resume" in line and not missing.exists()
    # a job that restarts itself: --resume auto starts where there is nothing to resume
    assert main([*_argv("sft", tiny_qwen25, data, missing), "--resume", "auto"]) == 0
    assert json.loads((missing / "final" / "trainer_state.json").read_text())["step"] == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*_argv("grpo", tiny_qwen25, data, empty), "--resume"]) == 1
    assert f"{empty}: no run in it" in _error_line(capsys)
    assert list(empty.iterdir()) == []
    # a final/ is a model folder, not a checkpoint to resume from
    out = tmp_path / "done"
    assert main(_argv("sft", tiny_qwen25, data, out)) == 0
    capsys.readouterr()
    assert main([*_argv("sft", tiny_qwen25, data, out), "--resume", str(out / "final")]) == 1
    assert "a model folder (a run's final/), not a checkpoint" in _error_line(capsys)


def test_a_run_refused_by_a_check_leaves_no_folder(
    tiny_qwen25: Path, data: Path, tmp_path: Path, capsys
) -> None:
    # 4 records cannot fill a step of 8: refused after the folder was made, which stayed
    out = tmp_path / "runs" / "refused"
    too_big = ("optim.per_device_batch_size=8", "sft.drop_last=true")
    assert main(_argv("sft", tiny_qwen25, data, out, *too_big)) == 1
    assert "records do not fill one optimizer step" in _error_line(capsys)
    assert not out.exists()
    # a folder that was there before stays, without the lock
    out.mkdir(parents=True)
    assert main(_argv("sft", tiny_qwen25, data, out, *too_big)) == 1
    assert out.is_dir() and list(out.iterdir()) == []
