"""Figures of the grounding experiment from its output folders (docs/grounding_experiment.md)."""

import json
from collections import Counter
from pathlib import Path

from video_r1.rewards.grounding import parse_interval

OUT = Path("/tmp/grounding_exp")
for stage in ("sft", "grpo"):
    summary = json.loads((OUT / f"eval_{stage}" / "summary.json").read_text())
    g = summary["orders"]["ordered"]["overall"]["grounding"]
    lines = [
        json.loads(line)
        for line in (OUT / f"eval_{stage}" / "samples.jsonl").read_text().splitlines()
    ]
    unread = sum(parse_interval(line["answer"] or "") is None for line in lines)
    answers = Counter(line["answer"] for line in lines)
    print(
        stage,
        "n",
        g["n"],
        "miou",
        round(g["miou"]["published"], 4),
        "R@0.3",
        round(g["recall@0.3"]["published"], 4),
        "R@0.5",
        round(g["recall@0.5"]["published"], 4),
        "R@0.7",
        round(g["recall@0.7"]["published"], 4),
        "unreadable",
        unread,
        "distinct answers",
        len(answers),
        "top",
        answers.most_common(3),
    )
    print(
        "  example output:",
        lines[0]["output"][:160].replace("\n", " | "),
        "truth",
        lines[0]["ground_truth"],
    )
steps = [json.loads(line) for line in (OUT / "grpo" / "metrics.jsonl").read_text().splitlines()]
steps = [s for s in steps if "train/reward/accuracy" in s]
acc = [s["train/reward/accuracy"] for s in steps]
fmt = [s.get("train/reward/format", 0) for s in steps]
k = 20
print(
    "grpo steps",
    len(acc),
    "accuracy (IoU) reward first",
    k,
    round(sum(acc[:k]) / k, 4),
    "last",
    k,
    round(sum(acc[-k:]) / k, 4),
    "format first/last",
    round(sum(fmt[:k]) / k, 3),
    round(sum(fmt[-k:]) / k, 3),
)
print("grpo mean step time", round(sum(s["train/step_time_s"] for s in steps) / len(steps), 2))

# what the answers follow: the lamp's colour (the shortcut) or where the window really is
records = {r["problem_id"]: r for r in map(json.loads, (OUT / "synth" / "test.jsonl").open())}


def window(record):
    return tuple(json.loads(record["solution"][len("<answer>") : -len("</answer>")]))


def colour(record):  # green: the window starts in segment 0-2 (75% of records), else red
    early = window(record)[0] < 1.5
    return "green" if early == record["shortcut_agrees"] else "red"


for stage in ("sft", "grpo"):
    lines = [
        json.loads(line)
        for line in (OUT / f"eval_{stage}" / "samples.jsonl").read_text().splitlines()
    ]
    table = Counter(
        (
            colour(records[line["problem_id"]]),
            "early" if window(records[line["problem_id"]])[0] < 1.5 else "late",
            line["answer"],
        )
        for line in lines
    )
    print(stage, "(colour, true half, answer): count")
    for key, count in sorted(table.items()):
        print("  ", key, count)
