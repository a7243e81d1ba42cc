"""The run folder's guards: no fresh start over a run, no silent config change on resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_r1.train.checkpoint import CheckpointError, prune_checkpoints
from video_r1.train.config import TrainConfig, format_config, load_config
from video_r1.train.run_folder import check_resume_config, claim_output_dir

REQUIRED = ["model.path=m", "data.train_file=t.jsonl", "data.media_root=.",
            "checkpoint.output_dir=out"]  # fmt: skip


def _fake_run(out: Path, steps: tuple[int, ...] = (2, 4)) -> None:
    for step in steps:
        (out / f"checkpoint-{step}").mkdir(parents=True)
        (out / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (out / "final").symlink_to(f"checkpoint-{steps[-1]}")
    (out / "metrics.jsonl").write_text('{"step": 1}\n')


def test_fresh_start_over_a_run_is_refused(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    with pytest.raises(CheckpointError, match=r"--resume.*checkpoint.output_dir.*overwrite=true"):
        claim_output_dir(tmp_path, overwrite=False)
    assert (tmp_path / "checkpoint-4").is_dir() and (tmp_path / "metrics.jsonl").is_file()


def test_overwrite_deletes_the_old_run_only(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    (tmp_path / ".tmp-checkpoint-6").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    claim_output_dir(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_empty_or_debris_only_folder_is_a_fresh_start(tmp_path: Path) -> None:
    claim_output_dir(tmp_path / "new", overwrite=False)  # does not exist yet
    (tmp_path / ".tmp-checkpoint-2").mkdir()  # a crash during the first save
    claim_output_dir(tmp_path, overwrite=False)
    assert not (tmp_path / ".tmp-checkpoint-2").exists()


def test_pruning_never_deletes_the_checkpoint_just_written(tmp_path: Path) -> None:
    _fake_run(tmp_path, steps=(10, 20))  # a run with higher step numbers
    (tmp_path / "checkpoint-1").mkdir()
    (tmp_path / "checkpoint-1" / "trainer_state.json").write_text("{}")
    prune_checkpoints(tmp_path, keep_last=1, newest=1)
    assert (tmp_path / "checkpoint-1").is_dir()


def _saved(tmp_path: Path, *overrides: str) -> Path:
    ckpt = tmp_path / "checkpoint-2"
    ckpt.mkdir(parents=True, exist_ok=True)
    cfg = load_config(TrainConfig, None, [*REQUIRED, *overrides])
    (ckpt / "config.yaml").write_text(format_config(cfg))
    return ckpt


def _now(*overrides: str) -> str:
    return format_config(load_config(TrainConfig, None, [*REQUIRED, *overrides]))


@pytest.mark.parametrize(
    "override",
    ["optim.grad_accum=4", "optim.per_device_batch_size=2", "data.train_file=other.jsonl",
     "data.seed=1", "seed=7"],
)  # fmt: skip
def test_resume_refuses_changed_data_batch_and_seed(tmp_path: Path, override: str) -> None:
    ckpt = _saved(tmp_path)
    key = override.split("=")[0]
    with pytest.raises(CheckpointError, match=rf"resume must keep {key} "):
        check_resume_config(ckpt, _now(override))


def test_resume_says_what_it_ignores_and_applies(tmp_path: Path) -> None:
    ckpt = _saved(tmp_path, "optim.lr=1e-6")
    lines = check_resume_config(ckpt, _now("optim.lr=5e-6", "checkpoint.save_every=7"))
    assert lines == [
        "# resume applies checkpoint.save_every 500 -> 7",
        "# resume ignores optim.lr 5e-06 (keeps 1e-06: the lr comes from the checkpoint's "
        "scheduler)",
    ]
    assert check_resume_config(ckpt, _now("optim.lr=1e-6")) == []
    # a longer run is allowed: the schedule is rebuilt for the new number of steps
    assert check_resume_config(ckpt, _now("optim.max_steps=99")) == [
        "# resume applies optim.max_steps 0 -> 99"
    ]
