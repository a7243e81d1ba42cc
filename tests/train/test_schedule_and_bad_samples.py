"""Learning-rate schedule values and the bad-sample policy."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from video_r1.train.bad_samples import BadSampleError, BadSamples
from video_r1.train.config import OptimConfig
from video_r1.train.model import build_optimizer, build_scheduler, lr_factor
from video_r1.utils.io import read_jsonl


def test_lr_factor_values() -> None:
    # warm-up 2 of 10 steps: 1/3, 2/3, then cosine from 1 down over the 8 remaining steps
    assert lr_factor(0, 10, 2, "cosine") == pytest.approx(1 / 3)
    assert lr_factor(1, 10, 2, "cosine") == pytest.approx(2 / 3)
    assert lr_factor(2, 10, 2, "cosine") == 1.0
    assert lr_factor(4, 10, 2, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 8)))
    assert lr_factor(9, 10, 0, "linear") == pytest.approx(0.1)
    assert lr_factor(9, 10, 0, "constant") == 1.0


def test_scheduler_follows_factor_and_no_decay_on_1d() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    cfg = OptimConfig(lr=1.0, weight_decay=0.1, schedule="linear", warmup_steps=1)
    opt = build_optimizer(model, cfg)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert [p.ndim for p in opt.param_groups[1]["params"]] == [1, 1, 1]
    sched = build_scheduler(opt, cfg, total_steps=5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 0.75, 0.5, 0.25])


class _Rec:
    problem_id = 3
    source = "train.jsonl:4"
    media_path = "/data/x.mp4"


def test_skip_logs_and_counts(tmp_path: Path) -> None:
    bad = BadSamples("skip", 0.25, tmp_path / "bad.jsonl")
    for _ in range(3):
        bad.count_good()
    bad.report(_Rec(), "cannot decode", step=2, rank=1)
    assert (bad.seen, bad.bad) == (4, 1)
    [row] = read_jsonl(tmp_path / "bad.jsonl")
    assert row["problem_id"] == 3 and row["source"] == "train.jsonl:4"
    assert row["reason"] == "cannot decode" and row["step"] == 2
    bad.check(bad=1, planned=4)  # 25% of the run is allowed
    with pytest.raises(BadSampleError, match="2 bad samples of the 4 this run trains on"):
        bad.check(bad=2, planned=4)


def test_error_policy_raises_with_record() -> None:
    bad = BadSamples("error", 0.5, "/dev/null")
    with pytest.raises(BadSampleError, match=r"train.jsonl:4 \(problem_id 3\): cannot decode"):
        bad.report(_Rec(), "cannot decode", step=0)
