"""A researcher's SFT run around mistakes: a trained model is never lost, a resume is honest,
an all-bad micro-batch does not crash, and every mistake ends in one `error:` line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _launch import REPO, run_driver, torchrun
from _sft_data import write_cot_records

from video_r1.cli import main
from video_r1.recipes.sft import SFTConfig, train
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

TINY_YAML = REPO / "configs" / "sft_tiny.yaml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("cot_safety"), n=8)


def _overrides(model: Path | str, data: Path, out: Path, *extra: str) -> list[str]:
    return [f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}", "logging.progress_bar=false", *extra]  # fmt: skip


def _cfg(model: Path | str, data: Path, out: Path, *extra: str) -> SFTConfig:
    return load_config(SFTConfig, TINY_YAML, _overrides(model, data, out, *extra))


def _one_error_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_fresh_start_over_a_run_is_refused_and_overwrite_is_explicit(
    tiny_qwen25: Path, sft_data: Path, tmp_path, capsys
) -> None:
    out = tmp_path / "run"
    argv = ["sft", "--config", str(TINY_YAML),
            *_overrides(tiny_qwen25, sft_data, out, "optim.max_steps=4", "checkpoint.save_every=2",
                        "checkpoint.keep_last=1")]  # fmt: skip
    previous = os.umask(0o022)
    try:
        assert main(argv) == 0
    finally:
        os.umask(previous)
    for name in ("model.safetensors", "config.yaml", "trainer_state.json", "config.json"):
        assert stat.S_IMODE((out / "final" / name).stat().st_mode) == 0o644, name  # was 0600
    files = (out / "checkpoint-4").rglob("*")
    modes = {stat.S_IMODE(p.stat().st_mode) for p in files if p.is_file()}
    assert modes == {0o644}  # the optimizer and RNG states too
    capsys.readouterr()
    first = (out / "final" / "model.safetensors").read_bytes()
    # The same command again, a shorter run: refused, the finished run untouched.
    line = _one_error_line(capsys, main([*argv, "optim.max_steps=2"]))
    assert f"{out} holds a run" in line and "--resume" in line and "overwrite=true" in line
    assert (out / "final" / "model.safetensors").read_bytes() == first
    # With the explicit setting the old run is deleted first: final is the new run's
    assert main([*argv, "optim.max_steps=2", "checkpoint.overwrite=true"]) == 0
    assert not (out / "final").is_symlink()
    assert json.loads((out / "final" / "trainer_state.json").read_text())["step"] == 2
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2]


def test_resume_refuses_a_changed_batch_and_says_what_it_ignores(
    tiny_qwen25: Path, sft_data: Path, tmp_path, capsys
) -> None:
    out = tmp_path / "run"
    base = ["sft", "--config", str(TINY_YAML),
            *_overrides(tiny_qwen25, sft_data, out, "optim.max_steps=2",
                        "checkpoint.save_every=1")]  # fmt: skip
    assert main(base) == 0
    shutil.rmtree(out / "checkpoint-2")
    capsys.readouterr()
    line = _one_error_line(capsys, main([*base, "optim.grad_accum=1", "--resume"]))
    assert "resume must keep optim.grad_accum 2 -> 1 (the batch layout)" in line
    assert main([*base, "optim.lr=0.5", "--resume"]) == 0
    out_text = capsys.readouterr().out
    assert "# resume ignores optim.lr 0.5 (keeps 0.001: the lr comes from the checkpoint's" in (
        out_text
    )


def test_resume_from_an_earlier_checkpoint_sets_the_abandoned_later_ones_aside(
    tiny_qwen25: Path, sft_data: Path, tmp_path, capsys
) -> None:
    from video_r1.train.checkpoint import resolve_resume

    out = tmp_path / "run"
    base = ["sft", "--config", str(TINY_YAML),
            *_overrides(tiny_qwen25, sft_data, out, "checkpoint.save_every=2",
                        "checkpoint.keep_last=0")]  # fmt: skip
    assert main([*base, "optim.max_steps=6"]) == 0  # checkpoints 2, 4, 6
    capsys.readouterr()
    # go back to step 2 and train to 4: checkpoint-6 belongs to the run abandoned
    assert main([*base, "optim.max_steps=4", "--resume", str(out / "checkpoint-2")]) == 0
    assert "# abandoned-checkpoint-6: a checkpoint after step 2" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*checkpoint-*")) == [
        "abandoned-checkpoint-4",
        "abandoned-checkpoint-6",
        "checkpoint-2",
        "checkpoint-4",
    ]  # fmt: skip (the old run's 4 and 6 set aside; this run's 4 written)
    # the next plain --resume continues this run, not the abandoned one
    assert resolve_resume("latest", out) == out / "checkpoint-4"
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3, 4]


def test_resume_refuses_other_weights_at_model_path_and_takes_a_copy_elsewhere(
    tiny_qwen25: Path, sft_data: Path, tmp_path, capsys
) -> None:
    from safetensors.torch import load_file, save_file

    model, copy, out = tmp_path / "sft_base", tmp_path / "copy_of_base", tmp_path / "run"
    shutil.copytree(tiny_qwen25, model)
    shutil.copytree(tiny_qwen25, copy)
    argv = ["sft", "--config", str(TINY_YAML), "optim.max_steps=2", "checkpoint.save_every=1"]
    assert main([*argv, *_overrides(model, sft_data, out)]) == 0
    shutil.rmtree(out / "checkpoint-2")
    capsys.readouterr()
    # the same weights under another path: applied
    assert main([*argv, *_overrides(copy, sft_data, out), "--resume"]) == 0
    assert f"# resume applies model.path '{model}' -> '{copy}'" in capsys.readouterr().out
    # the base folder written again with other weights: refused, nothing trained
    shutil.rmtree(out / "checkpoint-2")
    tensors = load_file(model / "model.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, model / "model.safetensors", metadata={"format": "pt"})
    line = _one_error_line(capsys, main([*argv, *_overrides(model, sft_data, out), "--resume"]))
    assert f"model.path {model} holds other weights than this run started from" in line
    assert not (out / "checkpoint-2").exists()


def test_all_bad_first_micro_batch_uses_a_filler_and_resume_is_exact(
    tiny_qwen25: Path, tmp_path, capsys
) -> None:
    # Records 0 and 4 are bad: step 1's first micro-batch (before any good one: no filler
    # yet) and step 3's first micro-batch, the first thing a resume from checkpoint-2 trains.
    data = write_cot_records(tmp_path / "data", n=8, bad_paths=(0, 4))
    settings = ("data.shuffle=false", "optim.max_steps=4", "checkpoint.save_every=2",
                "checkpoint.keep_last=0", "data.max_bad_fraction=0.3")  # fmt: skip
    straight = tmp_path / "straight"
    full = train(_cfg(tiny_qwen25, data, straight, *settings))
    rows = read_jsonl(straight / "bad_samples.jsonl")
    assert [(r["problem_id"], r["step"]) for r in rows] == [(0, 1), (4, 3)]  # metrics' steps
    assert [r["train/bad_samples"] for r in read_jsonl(straight / "metrics.jsonl")] == [1, 1, 2, 2]
    assert f"# 2 of 8 samples were skipped (data.on_bad_sample=skip); see {straight}" in (
        capsys.readouterr().err
    )
    # A crash after step 3: its bad-sample row and metrics are on disk, checkpoint-4 is not.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint-2", resumed / "checkpoint-2")
    for name in ("metrics.jsonl", "bad_samples.jsonl"):
        shutil.copy(straight / name, resumed / name)
    again = train(_cfg(tiny_qwen25, data, resumed, *settings), resume="latest")
    a, b = full.model.state_dict(), again.model.state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    assert read_jsonl(resumed / "bad_samples.jsonl") == rows  # no row repeated


def test_two_processes_one_rank_all_bad_trains_a_filler(tiny_qwen25: Path, tmp_path) -> None:
    # grad_accum 2 on 2 processes without shuffle: rank 0 trains records 0 and 2 at step 1,
    # both bad; rank 1 trains 1 and 3. Rank 0 used to raise and rank 1 to hang.
    data = write_cot_records(tmp_path / "data", n=8, bad_paths=(0, 2))
    out = tmp_path / "run"
    args = [str(TINY_YAML), *_overrides(tiny_qwen25, data, out, "data.shuffle=false",
            "optim.max_steps=2", "data.max_bad_fraction=0.3")]  # fmt: skip
    run_driver(torchrun(), Path(__file__).with_name("_sft_dist_driver.py"), args, timeout=200)
    p0, p1 = torch.load(out / "params_rank0.pt"), torch.load(out / "params_rank1.pt")
    assert all(torch.equal(p0[k], p1[k]) for k in p0)
    assert [(r["problem_id"], r["step"], r["rank"]) for r in read_jsonl(out / "bad_samples.jsonl")
            ] == [(0, 1, 0), (2, 1, 0)]  # fmt: skip
    assert [r["train/bad_samples"] for r in read_jsonl(out / "metrics.jsonl")] == [2, 2]


def test_wrong_media_root_names_the_bad_records(
    tiny_qwen25: Path, sft_data: Path, tmp_path, capsys
) -> None:
    argv = [
        "sft",
        "--config",
        str(TINY_YAML),
        *_overrides(tiny_qwen25, sft_data, tmp_path / "run", f"data.media_root={tmp_path}"),
    ]
    line = _one_error_line(capsys, main(argv))
    assert line.index("8 bad record(s) (first: ") < line.index("do not fill one optimizer step")
    assert "train.jsonl:1 (0): path:" in line and f"data.media_root {tmp_path}" in line


def test_model_path_mistakes_fail_at_once(sft_data: Path, tmp_path, capsys) -> None:
    not_qwen = tmp_path / "llama"
    not_qwen.mkdir()
    (not_qwen / "config.json").write_text(json.dumps({"model_type": "llama"}))
    for model, says in (
        (tmp_path / "nope" / "model", "no such folder"),
        ("./typo-model", "no such folder"),
        (not_qwen, "model_type 'llama' is not supported; supported: qwen2_vl, qwen2_5_vl"),
    ):
        argv = ["sft", "--config", str(TINY_YAML),
                *_overrides(model, sft_data, tmp_path / "run")]  # fmt: skip
        assert says in _one_error_line(capsys, main(argv))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_training_names_the_checkpoint_and_resume_command(
    tiny_qwen25: Path, sft_data: Path, tmp_path, sig: signal.Signals
) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "video_r1.cli", "sft", "--config", str(TINY_YAML),
               *_overrides(tiny_qwen25, sft_data, out, "optim.max_steps=5000",
                           "checkpoint.save_every=1", "checkpoint.keep_last=1")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        # mid-training: a saved checkpoint (any: keep_last=1 prunes checkpoint-1 as soon as
        # checkpoint-2 lands) and the loop past it (two logged steps), not inside start-up
        metrics = out / "metrics.jsonl"
        while not (
            list(out.glob("checkpoint-*/trainer_state.json"))
            and metrics.exists()
            and metrics.read_text().count("\n") >= 2
        ):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(sig)
        err = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("error")]
    assert len(lines) == 1, err
    [line] = lines
    assert line.startswith(f"error: sft stopped by {sig.name}; last checkpoint {out}/checkpoint-")
    assert line.endswith(" checkpoint.save_every=1 checkpoint.keep_last=1 --resume")
    assert f"continue with: video-r1 sft --config {TINY_YAML} model.path=" in line


def test_a_missing_decoding_library_stops_the_run_and_blames_no_record(
    tiny_qwen25: Path, sft_data: Path, tmp_path, capsys, monkeypatch
) -> None:
    """Without PyAV and decord every video would fail: that is the machine's fault, so the run
    stops at once saying what to install, and no record is logged as a bad sample."""
    for module in ("av", "decord"):
        monkeypatch.setitem(sys.modules, module, None)  # as on a machine without them
    out = tmp_path / "run"
    argv = ["sft", "--config", str(TINY_YAML),
            *_overrides(tiny_qwen25, sft_data, out, "optim.max_steps=2")]  # fmt: skip
    line = _one_error_line(capsys, main(argv))
    assert line == (
        "error: no video decoding library to read with: av is not installed (pip install av); "
        "decord is not installed (pip install decord2)"
    )
    assert not (out / "bad_samples.jsonl").exists() or not read_jsonl(out / "bad_samples.jsonl")


def test_an_error_mid_training_ends_the_progress_bar_before_its_error_line(
    tiny_qwen25: Path, tmp_path, capsys
) -> None:
    """With the bar on (the default), an error mid-training ends the bar's line first: glued to
    the bar's end, the `error:` began no line of a job's log."""
    data = write_cot_records(tmp_path / "data", n=4, bad_paths=(2,))
    argv = ["sft", "--config", str(TINY_YAML),
            *_overrides(tiny_qwen25, data, tmp_path / "run", "logging.progress_bar=true",
                        "optim.grad_accum=1", "data.on_bad_sample=error", "data.shuffle=false")]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("train:") and "2/4" in line for line in lines)  # the bar was drawn
    [line] = [x for x in lines if "error:" in x]
    assert line.startswith("error: ") and "train.jsonl:3 (problem_id 2)" in line
