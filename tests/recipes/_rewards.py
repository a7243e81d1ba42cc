"""A user reward function loaded by file path in the GRPO tests (TRL signature)."""


def text_length(completions, **columns):
    """Longer completions score higher: gives a random tiny model non-zero advantages."""
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [min(len(t), 100) / 100 for t in texts]


def text_parity(completions, **columns):
    """A 0/1 'accuracy' that varies across a random tiny model's rollouts (odd text length)."""
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [float(len(t) % 2) for t in texts]
