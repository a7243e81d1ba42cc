"""SFT trains an epoch's last records as a smaller last step (HF Trainer's default)."""

from __future__ import annotations

from video_r1.train.sampler import RecordSampler


def test_nine_records_in_batches_of_two_train_five_steps_each_record_once():
    s = RecordSampler(9, 1, 0, per_device_batch_size=2, grad_accum=1, seed=3, keep_partial=True)
    assert s.steps_per_epoch == 5 and s.dropped_per_epoch == 0
    for epoch in range(2):
        seen = [i for step in range(5 * epoch, 5 * epoch + 5) for mb in s.step_batches(step)
                for i in mb]  # fmt: skip
        assert sorted(seen) == list(range(9))
    assert s.step_batches(4) == [s.step_batches(4)[0]] and len(s.step_batches(4)[0]) == 1


def test_a_rank_past_the_end_gets_empty_micro_batches():
    ranks = [RecordSampler(5, 2, r, 1, 2, seed=0, shuffle=False, keep_partial=True) for r in (0, 1)]
    assert ranks[0].steps_per_epoch == 2
    assert [r.step_batches(1) for r in ranks] == [[[4], []], [[], []]]
    assert sorted(ranks[1].filler_order(1)) == list(range(5))  # a weight-0 filler for rank 1
