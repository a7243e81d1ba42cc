"""Per-answer accuracy scorers, one per problem type, with the published semantics by default.

Published semantics (tulerfeng/Video-R1 `src/r1-v/src/open_r1/grpo.py`, `accuracy_reward`):

- multiple choice: 1.0 if the stripped strings are equal, else 0.0.
- numerical: 0.0 if exactly one side contains "." or ","; else both parsed with `float` after
  removing commas and compared after `round(x, 2)`. So "42.0" vs "42" is 0.0 and "1,000" vs
  "1000" is 0.0.
- OCR: 1 - WER, clipped to [0, 1]; words are `str.split()` tokens, case-sensitive; the
  error count is divided by max(1, reference words) (so an empty reference gives 1.0 only to
  an empty prediction).
- free-form: mean of ROUGE-1, ROUGE-2 and ROUGE-L F-measures (rouge_score, Porter stemming).
- regression: 1 - min(1, (|pred - gt| + 1e-9) / (|gt| + 1e-9)); 0.0 if either is unparsable.
- temporal grounding (not in Video-R1; video_r1.rewards.grounding): temporal IoU of the answered
  interval with the solution's `[start, end]`, 0.0 if unreadable or reversed; `grounding`
  picks the published variant (iou, time_r1, videochat_r1).

One deliberate difference: a non-finite number ("nan", "inf", "1e309") is unparsable here.
In the published code `float("nan")` parses, its relative error is NaN, `max(0.0, nan)` is
0.0, and a regression answer of "nan" scores 1.0 for any ground truth: a reward hack.

`lenient=True` compares normalised answers instead (video_r1.rewards.lenient): option letters
from "B. blue" / "(b)" / "Answer: B", the first number in the text with thousands separators
and units allowed ("42.0" == "42", "1,000 m" == "1000"), case-folded OCR words. Free-form is
the same either way (ROUGE already lower-cases).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from video_r1.rewards.grounding import GROUNDING, check_grounding_reward, score_grounding
from video_r1.rewards.lenient import normalize_choice, normalize_transcript, parse_number_lenient
from video_r1.rewards.parsing import parse_float

Scorer = Callable[[str, str, bool], float]


def score_multiple_choice(prediction: str, ground_truth: str, lenient: bool = False) -> float:
    """1.0 if the answers name the same option, else 0.0.

    Example:
        >>> score_multiple_choice(" B ", "B"), score_multiple_choice("B. blue", "B")
        (1.0, 0.0)
        >>> score_multiple_choice("B. blue", "B", lenient=True)
        1.0
    """
    if lenient:
        return 1.0 if normalize_choice(prediction) == normalize_choice(ground_truth) else 0.0
    return 1.0 if prediction.strip() == ground_truth.strip() else 0.0


def score_numerical(prediction: str, ground_truth: str, lenient: bool = False) -> float:
    """1.0 if the numbers agree to 2 decimals (published: and both or neither has "." or ",").

    Example:
        >>> score_numerical("3.14159", "3.14"), score_numerical("42.0", "42")
        (1.0, 0.0)
        >>> score_numerical("42.0", "42", lenient=True)
        1.0
    """
    if lenient:
        pred, gt = parse_number_lenient(prediction), parse_number_lenient(ground_truth)
    else:
        if _has_separator(prediction) != _has_separator(ground_truth):
            return 0.0
        pred, gt = parse_float(prediction), parse_float(ground_truth)
    if pred is None or gt is None:
        return 0.0
    return 1.0 if round(gt, 2) == round(pred, 2) else 0.0


def _has_separator(text: str) -> bool:
    return "." in text or "," in text


def score_ocr(prediction: str, ground_truth: str, lenient: bool = False) -> float:
    """1 - word error rate of the prediction against the ground truth, clipped to [0, 1].

    Example:
        >>> score_ocr("STOP here now", "STOP here")  # 1 insertion / 2 words
        0.5
        >>> score_ocr("stop here", "STOP here"), score_ocr("stop here", "STOP here", lenient=True)
        (0.5, 1.0)
    """
    if lenient:
        prediction, ground_truth = (
            normalize_transcript(prediction),
            normalize_transcript(ground_truth),
        )
    return min(1.0, max(0.0, 1.0 - word_error_rate(ground_truth, prediction)))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance / max(1, reference words), words split on any whitespace.

    jiwer computes the edit distance; both sides are re-joined with single spaces first
    because jiwer splits on " " only, and the published code splits on any whitespace.

    Example:
        >>> word_error_rate("a b c", "a x c"), word_error_rate("", "a b")
        (0.3333333333333333, 2.0)
    """
    import jiwer  # imported here: costs ~0.1 s and only OCR needs it

    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:  # jiwer's empty-reference rule is the published one; keep it explicit
        return float(len(hyp.split()))
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))


def score_free_form(prediction: str, ground_truth: str, lenient: bool = False) -> float:
    """Mean of ROUGE-1, ROUGE-2 and ROUGE-L F-measures (stemmed), clipped to [0, 1].

    Example:
        >>> score_free_form("the cat sat", "the cat sat")
        1.0
        >>> round(score_free_form("cats sitting", "the cat sat"), 4)  # rouge1 .4, rouge2 0, rougeL .4
        0.2667
    """
    scores = rouge_scorer().score(ground_truth, prediction)
    mean = (scores["rouge1"].fmeasure + scores["rouge2"].fmeasure + scores["rougeL"].fmeasure) / 3
    return min(1.0, max(0.0, mean))


def score_regression(prediction: str, ground_truth: str, lenient: bool = False) -> float:
    """1 - min(1, relative error), with 1e-9 added to both sides of the ratio; 0.0 if unparsable.

    Example:
        >>> round(score_regression("9", "10"), 6)  # 1 - (1 + 1e-9) / (10 + 1e-9)
        0.9
        >>> score_regression("25", "10"), score_regression("x", "10")
        (0.0, 0.0)
    """
    parse = parse_number_lenient if lenient else parse_float
    pred, gt = parse(prediction), parse(ground_truth)
    if pred is None or gt is None:
        return 0.0
    relative = (abs(pred - gt) + 1e-9) / (abs(gt) + 1e-9)
    return 1.0 - min(1.0, max(0.0, relative))


def score_temporal_grounding(prediction: str, ground_truth: str, lenient: bool = False) -> float:
    """Temporal IoU of the answered interval with `[start, end]` (the `iou` variant; `lenient`
    changes nothing: the parser already reads every format it knows).

    Example:
        >>> score_temporal_grounding("1.0 to 3.0", "[1.0, 3.0]"), score_temporal_grounding("x", "[1, 3]")
        (1.0, 0.0)
    """
    return score_grounding(prediction, ground_truth, "iou")


# Keys are the problem types of the dataset schema (video_r1.data.records.PROBLEM_TYPES).
SCORERS: dict[str, Scorer] = {
    "multiple choice": score_multiple_choice,
    "numerical": score_numerical,
    "OCR": score_ocr,
    "free-form": score_free_form,
    "regression": score_regression,
    GROUNDING: score_temporal_grounding,
}


def check_problem_type(problem_type: str) -> None:
    """Raise ValueError naming the known types if `problem_type` has no scorer.

    Example:
        >>> check_problem_type("numerical")  # no error
    """
    if problem_type not in SCORERS:
        known = ", ".join(repr(t) for t in SCORERS)
        raise ValueError(f"unknown problem_type {problem_type!r}; known types: {known}")


def score_answer(
    prediction: str,
    ground_truth: str,
    problem_type: str,
    lenient: bool = False,
    grounding: str = "iou",
) -> float:
    """Score one extracted answer against the ground-truth answer, in [0, 1].

    Raises ValueError for an unknown problem type (a dataset error, never a silent 0) or
    grounding variant; any prediction string, however malformed, gets a score. `grounding`
    (iou, time_r1, videochat_r1) scores the temporal grounding type only.

    Example:
        >>> score_answer("B", "B", "multiple choice"), score_answer("B", "C", "multiple choice")
        (1.0, 0.0)
    """
    check_problem_type(problem_type)
    check_grounding_reward(grounding)
    if not isinstance(prediction, str):
        prediction = ""
    if problem_type == GROUNDING:
        return float(score_grounding(prediction, ground_truth, grounding))
    return float(SCORERS[problem_type](prediction, ground_truth, lenient))


@functools.cache
def rouge_scorer():  # -> rouge_score.rouge_scorer.RougeScorer
    """The shared ROUGE-1/2/L scorer with Porter stemming (built once; ~50 ms to build).

    Its tokenizer is rouge_score's own `tokenize` with a memoised stemmer: the same tokens,
    several times faster on real text, where most words repeat.
    """
    from rouge_score import rouge_scorer as rs
    from rouge_score import tokenize, tokenizers

    class _CachedStemTokenizer(tokenizers.Tokenizer):
        def __init__(self) -> None:
            stemmer = tokenizers.porter.PorterStemmer()
            self.stem = functools.lru_cache(maxsize=1 << 16)(stemmer.stem)

        def tokenize(self, text: str) -> list[str]:
            return tokenize.tokenize(text, self)

    return rs.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_CachedStemTokenizer())
