"""ZeRO-3 generation with the weights gathered once per call (video_r1/train/zero3.py), two real
CPU processes under `accelerate launch` (gloo): the same greedy rollouts and log-probs as the
per-token path, every generation forward sees the whole model, no process waits for the other,
torch's own `linear` and no engine hooks during the call (they only cost time there), and the
engine is partitioned again (hooks, DeepSpeed's `linear`) afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _launch import REPO, accelerate_launch, run_driver
from _sft_data import write_cot_records

DRIVER = Path(__file__).with_name("_zero3_gather_driver.py")
NEW_TOKENS = (12, 5)  # per rank, as in the driver: rank 0 a video, rank 1 an image
pytestmark = pytest.mark.slow


def test_gathered_generation_matches_per_token(tiny_model_factory, tmp_path) -> None:
    pytest.importorskip("deepspeed")
    data = write_cot_records(tmp_path / "data", n=2)
    out = tmp_path / "out"
    run_driver(accelerate_launch("zero3"), DRIVER, [
        str(out), str(REPO / "configs" / "grpo_tiny.yaml"),
        f"model.path={tiny_model_factory('qwen2.5-vl')}", f"data.train_file={data}",
        f"data.media_root={data.parent}", f"checkpoint.output_dir={out}",
    ])  # fmt: skip
    for rank, new_tokens in enumerate(NEW_TOKENS):
        runs = torch.load(out / f"rank{rank}.pt")
        per_token = runs["per_token"]
        assert per_token["gathered"] is False
        # synced_gpus: both ranks run the prefill (it gives the first token) and one forward
        # per later token of the longest rank, each gathering per layer
        assert per_token["forwards_whole"] == [False] * max(NEW_TOKENS)
        zero3_as_built = {"zero3_linear": True, "engine_hooks": True}
        assert per_token["forward_states"] == [zero3_as_built] * max(NEW_TOKENS)
        for name in ("gathered", "gathered_again"):
            run = runs[name]
            assert run["gathered"] is True, name
            # the whole model during every forward; each rank only its own tokens (no sync)
            assert run["forwards_whole"] == [True] * new_tokens, (name, rank)
            assert run["hooks"][0] == run["hooks"][1] > 0, name  # ZeRO-3 hooks back on exit
            # torch's own linear and no engine hooks while whole; DeepSpeed's state back after
            plain = {"zero3_linear": False, "engine_hooks": False}
            assert run["forward_states"] == [plain] * new_tokens, name
            assert run["state_before_after"] == (zero3_as_built, zero3_as_built), name
            assert run["repartitioned"], name
            assert run["completion_ids"].shape[1] == new_tokens
            assert torch.equal(run["completion_ids"], per_token["completion_ids"]), (name, rank)
            assert torch.equal(run["completion_mask"], per_token["completion_mask"])
            torch.testing.assert_close(run["logprobs"], per_token["logprobs"])
            torch.testing.assert_close(run["ref_logprobs"], per_token["ref_logprobs"])
