"""Deterministic, rank-sharded, resumable record order.

The records an optimizer step trains on are a pure function of (seed, epoch, step, rank,
world size), so resuming needs only the step number: no iterator state to save. GRPO uses the
same sampler with `per_device_batch_size` = prompts per device::

    sampler = RecordSampler(len(records), world_size, rank, batch, accum, seed)
    for step in range(start_step, sampler.total_steps(epochs, max_steps)):
        for micro in sampler.step_batches(step):   # grad_accum lists of record indices
            ...

Each optimizer step consumes `batch x world_size x grad_accum` records of one epoch's
permutation; the last records of an epoch that do not fill a whole step are not trained in
that epoch (`dropped_per_epoch` says how many; a fresh permutation every epoch means a
different few each time), unless `keep_partial` makes them one last, smaller step (SFT: what
HF Trainer does; micro-batches past the end are empty and their ranks run a weight-0 filler). Within a step, micro-batch `a` of rank `r` is the slice
`[(a x world + r) x batch, ... + batch)`, so ranks always see different records.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def epoch_order(num_records: int, seed: int, epoch: int, shuffle: bool = True) -> list[int]:
    """The record order of one epoch: a seeded permutation (or 0..n-1 without shuffle).

    Example:
        >>> epoch_order(4, seed=0, epoch=0, shuffle=False)
        [0, 1, 2, 3]
        >>> sorted(epoch_order(4, seed=0, epoch=1)) == [0, 1, 2, 3]
        True
    """
    if not shuffle:
        return list(range(num_records))
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(num_records, generator=gen).tolist()


@dataclass(frozen=True)
class RecordSampler:
    """Which records each rank trains on at each optimizer step (see module docstring)."""

    num_records: int
    world_size: int
    rank: int
    per_device_batch_size: int
    grad_accum: int
    seed: int
    shuffle: bool = True
    keep_partial: bool = False  # the epoch's last records form a smaller last step

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in [0, {self.world_size})")
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{self.num_records} records do not fill one optimizer step of "
                f"{self.records_per_step} records (per_device_batch_size "
                f"{self.per_device_batch_size} x {self.world_size} processes x grad_accum "
                f"{self.grad_accum}); use more records or smaller batches"
            )

    @property
    def records_per_step(self) -> int:
        return self.per_device_batch_size * self.world_size * self.grad_accum

    @property
    def steps_per_epoch(self) -> int:
        """Example:
        >>> RecordSampler(9, 1, 0, 2, 1, seed=0).steps_per_epoch
        4
        >>> RecordSampler(9, 1, 0, 2, 1, seed=0, keep_partial=True).steps_per_epoch
        5
        """
        if self.keep_partial:
            return -(-self.num_records // self.records_per_step)
        return self.num_records // self.records_per_step

    @property
    def dropped_per_epoch(self) -> int:
        if self.keep_partial:
            return 0
        return self.num_records - self.steps_per_epoch * self.records_per_step

    def total_steps(self, epochs: int, max_steps: int = 0) -> int:
        """Optimizer steps of the run: `max_steps` if > 0, else `epochs` full epochs.

        Example:
            >>> RecordSampler(10, 2, 0, 1, 2, seed=0).total_steps(epochs=3)
            6
        """
        return max_steps if max_steps > 0 else epochs * self.steps_per_epoch

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def step_batches(self, step: int) -> list[list[int]]:
        """The `grad_accum` micro-batches (record indices) this rank trains on at `step`.

        Example:
            >>> s = RecordSampler(8, world_size=2, rank=1, per_device_batch_size=1,
            ...                   grad_accum=2, seed=0, shuffle=False)
            >>> s.step_batches(0), s.step_batches(1)
            ([[1], [3]], [[5], [7]])
        """
        epoch, within = divmod(step, self.steps_per_epoch)
        order = epoch_order(self.num_records, self.seed, epoch, self.shuffle)
        start = within * self.records_per_step
        b = self.per_device_batch_size
        return [
            order[start + (a * self.world_size + self.rank) * b :][:b]
            for a in range(self.grad_accum)
        ]

    def filler_order(self, step: int) -> list[int]:
        """Records to try, in order, when every record of this rank's micro-batch is bad:
        the epoch's order from just after this rank's records of `step`, wrapping around.

        A filler is trained with weight 0 (no gradient) so that every rank still runs a
        forward and backward (collectives) and its result is the same on every resume.

        Example:
            >>> s = RecordSampler(6, world_size=1, rank=0, per_device_batch_size=1,
            ...                   grad_accum=2, seed=0, shuffle=False)
            >>> s.filler_order(1)
            [4, 5, 0, 1, 2, 3]
        """
        epoch, within = divmod(step, self.steps_per_epoch)
        order = epoch_order(self.num_records, self.seed, epoch, self.shuffle)
        start = (within + 1) * self.records_per_step
        start = start % self.num_records
        return order[start:] + order[:start]

    def stream_batches(self, position: int, micro_batches: int) -> list[list[int]]:
        """This rank's `micro_batches` micro-batches read from `position` of the data stream:
        the epoch orders one after another, each cut to its steps_per_epoch x records_per_step
        records as `step_batches` cuts it. A round of dynamic sampling consumes
        micro_batches x per_device_batch_size x world_size positions, laid out as
        `step_batches` lays out a step, so `stream_batches(step x records_per_step,
        grad_accum)` is `step_batches(step)`. The position after a step is saved in the
        checkpoint: what a step reads depends on how many groups earlier steps dropped.

        Example:
            >>> s = RecordSampler(8, world_size=2, rank=1, per_device_batch_size=1,
            ...                   grad_accum=2, seed=0, shuffle=False)
            >>> s.stream_batches(4, 2) == s.step_batches(1), s.stream_batches(6, 1)
            (True, [[7]])
        """
        if self.keep_partial:
            raise ValueError("stream_batches reads whole steps: not with keep_partial")
        usable = self.steps_per_epoch * self.records_per_step
        b, orders = self.per_device_batch_size, {}
        out = []
        for a in range(micro_batches):
            micro = []
            for j in range(b):
                epoch, within = divmod(position + (a * self.world_size + self.rank) * b + j, usable)
                if epoch not in orders:  # one permutation per epoch, not per record
                    orders[epoch] = epoch_order(self.num_records, self.seed, epoch, self.shuffle)
                micro.append(orders[epoch][within])
            out.append(micro)
        return out
