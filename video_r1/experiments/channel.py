"""Through which groups can the published temporal bonus act? Read from a run's rollouts.jsonl.

With group std scaling the bonus cancels in a group whose accuracy is 0/1 and whose other
reward terms (format, length bonus) are equal across it (docs/experiment_temporal.md). So per
prompt group of a run (the ordered rollouts the recipe logs with `rl.debug_rollouts`) this
counts whether format or another non-accuracy term varies, whether the length bonus varies,
and, for groups that got the bonus, whether the published advantages differ from GRPO's at all.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from video_r1.utils.io import read_jsonl

CHANNEL_KEYS = ("groups", "varying_terms", "varying_length", "varying_any", "bonus_groups",
                "bonus_effective")  # fmt: skip


def group_rows(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The ordered rollouts of rollouts.jsonl grouped by (step, rank, problem id), in order.

    Example:
        >>> rows = [{"step": 1, "rank": 0, "problem_id": "a", "order": "ordered"},
        ...         {"step": 1, "rank": 0, "problem_id": "a", "order": "shuffled"},
        ...         {"step": 1, "rank": 0, "problem_id": "b", "order": "ordered"}]
        >>> [len(g) for g in group_rows(rows)]
        [1, 1]
    """
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("order") == "ordered":
            groups[(row["step"], row["rank"], row["problem_id"])].append(row)
    return list(groups.values())


def group_channel(
    group: list[dict[str, Any]], accuracy_term: str = "accuracy", scale_rewards: str = "group"
) -> dict[str, bool]:
    """What one group's ordered rollouts allow the published bonus (see the module docstring);
    `scale_rewards` is the run's advantage scaling (with "none" any bonus changes them).

    Example (format varies, bonus on the first; group std scaling then sees the bonus):
        >>> g = [{"terms": {"accuracy": 1.0, "format": 1.0}, "length_bonus": 0.0,
        ...       "temporal_bonus": 0.3, "total": 2.3},
        ...      {"terms": {"accuracy": 0.0, "format": 0.0}, "length_bonus": 0.0,
        ...       "temporal_bonus": 0.0, "total": 0.0},
        ...      {"terms": {"accuracy": 0.0, "format": 1.0}, "length_bonus": 0.0,
        ...       "temporal_bonus": 0.0, "total": 1.0}]
        >>> c = group_channel(g); c["varying_terms"], c["bonus_groups"], c["bonus_effective"]
        (True, True, True)
    """
    import torch

    from video_r1.rl.advantages import group_advantages

    others = {name for row in group for name in row["terms"] if name != accuracy_term}
    varying_terms = any(len({row["terms"].get(n) for row in group}) > 1 for n in others)
    varying_length = len({row["length_bonus"] for row in group}) > 1
    bonus = any(row["temporal_bonus"] > 0 for row in group)
    effective = False
    if bonus and len(group) > 1:
        total = torch.tensor([[float(row["total"]) for row in group]], dtype=torch.float64)
        base = total - torch.tensor([[float(row["temporal_bonus"]) for row in group]],
                                    dtype=torch.float64)  # fmt: skip
        # differences beyond the std epsilon's effect (~1e-4 relative) count
        change = group_advantages(total, scale_rewards) - group_advantages(base, scale_rewards)
        effective = bool(change.abs().max() > 1e-3)
    return {
        "groups": True,
        "varying_terms": varying_terms,
        "varying_length": varying_length,
        "varying_any": varying_terms or varying_length,
        "bonus_groups": bonus,
        "bonus_effective": effective,
    }


def run_channel(run_dir: Path) -> dict[str, float] | None:
    """Counts of CHANNEL_KEYS over a run's logged groups; None without rollouts.jsonl. The
    accuracy term and the advantage scaling come from the run's saved config (final/)."""
    path = run_dir / "rollouts.jsonl"
    if not path.exists():
        return None
    rl = _run_rl_settings(run_dir)
    accuracy_term = rl.get("accuracy_reward", "accuracy").rsplit(":", 1)[-1]
    scale_rewards = rl.get("scale_rewards", "group")
    rows = read_jsonl(path)  # split at "\n" only: texts may hold U+2028 raw
    counts = dict.fromkeys(CHANNEL_KEYS, 0.0)
    for group in group_rows(rows):
        for key, value in group_channel(group, accuracy_term, scale_rewards).items():
            counts[key] += float(value)
    return counts


def _run_rl_settings(run_dir: Path) -> dict[str, Any]:
    # the resolved config the recipe saves with the final model; defaults if absent
    path = run_dir / "final" / "config.yaml"
    if not path.exists():
        return {}
    import yaml

    return (yaml.safe_load(path.read_text()) or {}).get("rl", {})


def channel_fractions(counts: list[dict[str, float]]) -> dict[str, float | None]:
    """Summed counts of several runs as fractions: of all groups for the varying_* keys and
    bonus_groups, and of bonus groups for bonus_effective.

    Example:
        >>> channel_fractions([{"groups": 4, "varying_terms": 1, "varying_length": 0,
        ...     "varying_any": 1, "bonus_groups": 2, "bonus_effective": 1}])["bonus_effective"]
        0.5
    """
    total = {k: sum(c[k] for c in counts) for k in CHANNEL_KEYS}
    groups, bonus = total["groups"], total["bonus_groups"]
    out: dict[str, float | None] = {"groups": groups}
    for key in ("varying_terms", "varying_length", "varying_any", "bonus_groups"):
        out[key] = total[key] / groups if groups else None
    out["bonus_effective"] = total["bonus_effective"] / bonus if bonus else None
    return out
