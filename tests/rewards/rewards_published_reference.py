"""An independent re-statement of the published accuracy reward (tulerfeng/Video-R1 grpo.py),
used as the oracle in the parity tests: the original regex, float parsing (NaN included), a
plain dynamic-programming WER, and a fresh stock RougeScorer.
"""

from __future__ import annotations

import re

from rouge_score import rouge_scorer


def published_extract(text: str) -> str:
    match = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL)
    return match.group(1).strip() if match else ""


def published_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except Exception:
        return None


def published_wer(reference: str, hypothesis: str) -> float:
    ref, hyp = reference.split(), hypothesis.split()
    prev = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        cur = [i] + [0] * len(hyp)
        for j in range(1, len(hyp) + 1):
            if ref[i - 1] == hyp[j - 1]:
                cur[j] = prev[j - 1]
            else:
                cur[j] = 1 + min(prev[j], cur[j - 1], prev[j - 1])
        prev = cur
    return prev[len(hyp)] / max(1, len(ref))


_STOCK_ROUGE = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def published_score(output_ans: str, gt_ans: str, question_type: str) -> float:
    try:
        if question_type == "multiple choice":
            return 1.0 if output_ans.strip() == gt_ans.strip() else 0.0
        if question_type == "numerical":
            gt_dec = "." in gt_ans or "," in gt_ans
            out_dec = "." in output_ans or "," in output_ans
            if gt_dec != out_dec:
                return 0.0
            gt, out = published_number(gt_ans), published_number(output_ans)
            if gt is None or out is None:
                return 0.0
            return 1.0 if round(gt, 2) == round(out, 2) else 0.0
        if question_type == "OCR":
            return max(0.0, min(1.0, 1 - published_wer(gt_ans, output_ans)))
        if question_type == "free-form":
            s = _STOCK_ROUGE.score(gt_ans, output_ans)
            mean = (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3
            return max(0.0, min(1.0, mean))
        if question_type == "regression":
            gt, out = published_number(gt_ans), published_number(output_ans)
            if gt is None or out is None:
                return 0.0
            rel = (abs(out - gt) + 1e-9) / (abs(gt) + 1e-9)
            return 1 - min(1.0, max(0.0, rel))
        return 0.0
    except Exception:
        return 0.0


def published_accuracy_reward(contents: list[str], solutions: list[str], qtype: str) -> list[float]:
    return [
        published_score(published_extract(c), published_extract(s), qtype)
        for c, s in zip(contents, solutions, strict=True)
    ]
