"""A user reward function loaded by file path in the GRPO tests (TRL signature)."""


def text_length(completions, **columns):
    """Longer completions score higher: gives a random tiny model non-zero advantages."""
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [min(len(t), 100) / 100 for t in texts]


def text_parity(completions, **columns):
    """A 0/1 'accuracy' that varies across a random tiny model's rollouts (odd text length)."""
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [float(len(t) % 2) for t in texts]


def text_parity_complement(completions, **columns):
    """1 - text_parity: a second term that makes every rollout's base total 1, so a group's
    totals differ by T-GRPO's published bonus alone."""
    return [1.0 - v for v in text_parity(completions)]


def learnable_if_even(completions, problem_id, **columns):
    """An 'accuracy' that teaches only on even problem ids: always 0 on odd ones (their groups
    have no reward variance), text length on even ones (varies across rollouts)."""
    return _unless(completions, problem_id, lambda pid: pid % 2 == 1)


def unlearnable_first_odd(completions, problem_id, **columns):
    """Always 0 on problem ids 1 and 3 (a two-process run's rank-1 first draw without data
    order shuffling), text length elsewhere."""
    return _unless(completions, problem_id, lambda pid: pid in (1, 3))


def _unless(completions, problem_ids, unlearnable):
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [
        0.0 if unlearnable(int(pid)) else min(len(t), 100) / 100
        for t, pid in zip(texts, problem_ids, strict=True)
    ]
