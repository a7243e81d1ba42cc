"""Paired differences and Student-t confidence intervals for the experiments (pure functions).

A variant and GRPO run with the same seed form a pair; the per-seed difference is the measure,
and its mean gets a two-sided t-interval with n - 1 degrees of freedom. Seeds run in different
sessions pool exactly through their summaries (n, mean, sd): `pool` of the summaries of two
sets of values is the t-interval of all of them. Beside the t-interval, tests that assume
nothing of the differences' distribution (all-or-nothing tasks give differences of 0 or about
+-50 points): the sign test, the sign-flip (permutation) test of the mean and Wilcoxon's
signed-rank test. `familywise_level` widens an interval for a verdict that is one of several
comparisons (variants, and looks at seeds added batch by batch). Quantiles and the rank and
permutation tests are scipy's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided `level` quantile of Student's t with `df` degrees of freedom (4 decimals).

    Example:
        >>> t_quantile(7), t_quantile(7, 0.99)  # 8 seeds
        (2.3646, 3.4995)
    """
    from scipy.stats import t as student_t

    if df < 1:
        raise ValueError(f"a t-interval needs at least 2 values (df >= 1), got df {df}")
    if not 0 < level < 1:
        raise ValueError(f"a confidence level lies between 0 and 1, got {level}")
    return round(float(student_t.ppf(0.5 + level / 2, df)), 4)


def familywise_level(comparisons: int, level: float = 0.95) -> float:
    """The level at which each of `comparisons` intervals must hold for all of them to hold
    together at `level` (Bonferroni): a verdict on one variant after several variants were
    compared, or after the seeds were looked at batch by batch, counts every such comparison.

    Example: 2 variants, each looked at after 6 batches of seeds
        >>> round(familywise_level(12), 5), familywise_level(1)
        (0.99583, 0.95)
    """
    if comparisons < 1:
        raise ValueError(f"comparisons must be at least 1, got {comparisons}")
    return 1 - (1 - level) / comparisons


@dataclass(frozen=True)
class Interval:
    """Mean of `n` values with its two-sided t confidence interval [low, high]."""

    mean: float
    low: float
    high: float
    n: int
    won: int = 0  # values above 0 (a variant's seeds better than GRPO's), for the sign test
    lost: int = 0  # values below 0

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Summary:
    """`n` values as their mean and sample standard deviation `sd`: what `pool` needs of
    each part (seeds of this report, seeds of an earlier one)."""

    n: int
    mean: float
    sd: float
    won: int = 0  # values above 0
    lost: int = 0  # values below 0


def summarise(values: Sequence[float]) -> Summary:
    """The summary of `values` (at least 2).

    Example:
        >>> s = summarise([0.1, 0.2, 0.3])
        >>> s.n, round(s.mean, 9), round(s.sd, 9)
        (3, 0.2, 0.1)
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"a t-interval needs at least 2 values, got {n}")
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    won, lost = sum(v > 0 for v in values), sum(v < 0 for v in values)
    return Summary(n=n, mean=mean, sd=sd, won=won, lost=lost)


def sign_test(won: int, lost: int) -> float:
    """Two-sided exact sign test: the probability, with no difference between the methods,
    of a split of won/lost seeds (ties left out) at least this uneven.

    A task learned all or nothing per seed gives differences of 0 or about +-50 points, far
    from the normal values a t-interval assumes; the sign test needs nothing of the sort.

    Example: 5 won and 1 lost: 2 x P(at most 1 of 6) = 2 x (1 + 6) / 64
        >>> sign_test(5, 1), sign_test(4, 0), sign_test(0, 0)
        (0.21875, 0.125, 1.0)
    """
    n = won + lost
    if n == 0:
        return 1.0
    tail = math.fsum(math.comb(n, k) for k in range(min(won, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def sign_flip_test(values: Sequence[float], resamples: int = 200_000) -> float:
    """Two-sided permutation test of the mean: the probability, with no difference between
    the methods (each difference as likely negative as positive), of a mean at least as far
    from 0 under random signs. Exact (every sign pattern) for up to 17 values; above that
    `resamples` random patterns from a fixed seed, so a report is reproducible.

    Example: 3 differences, 8 sign patterns; |mean| >= 0.2 for (+,+,+) and (-,-,-) only
        >>> sign_flip_test([0.1, 0.2, 0.3])
        0.25
    """
    import numpy as np
    from scipy.stats import permutation_test

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        raise ValueError(f"a sign-flip test needs at least 2 values, got {len(x)}")
    if not np.any(x):
        return 1.0
    result = permutation_test(
        (x,), lambda a, axis: np.mean(a, axis=axis), permutation_type="samples",
        n_resamples=resamples, vectorized=True, rng=np.random.default_rng(0),
    )  # fmt: skip
    return float(result.pvalue)


def wilcoxon_test(values: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank test that the differences centre on 0 (zeros left
    out, as in the sign test); 1.0 when every difference is 0.

    Example: 4 positive differences, no negative one: 2 / 2^4
        >>> wilcoxon_test([0.1, 0.2, 0.3, 0.4])
        0.125
    """
    from scipy.stats import wilcoxon

    if len(values) < 2:
        raise ValueError(f"a signed-rank test needs at least 2 values, got {len(values)}")
    if not any(values):
        return 1.0
    return float(wilcoxon(values).pvalue)


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean and t-interval of `values` (the per-seed paired differences).

    Example: differences 0.1, 0.2, 0.3: mean 0.2, sd 0.1, half-width 4.3027 x 0.1 / sqrt(3)
        >>> i = t_interval([0.1, 0.2, 0.3])
        >>> round(i.mean, 4), round(i.half_width, 4)
        (0.2, 0.2484)
    """
    return pool([summarise(values)], level)


def seeds_for_half_width(interval: Interval, target: float, level: float = 0.95) -> int:
    """Seeds whose t-interval would have half-width `target` or less if their values spread as
    those behind `interval` do (its sd): how far an inconclusive comparison is from a powered
    null. An estimate: the sd of a few seeds is itself uncertain.

    Example: 8 differences of sd 0.05 (half-width 2.3646 x 0.05 / sqrt(8) = 0.0418); a
    half-width of 0.02 needs 27 (2.0555 x 0.05 / sqrt(27) = 0.0198; 26 give 0.0202)
        >>> seeds_for_half_width(Interval(0.01, 0.01 - 0.0418, 0.01 + 0.0418, 8), 0.02)
        27
    """
    if target <= 0:
        raise ValueError(f"target half-width must be positive, got {target}")
    sd = interval.half_width * math.sqrt(interval.n) / t_quantile(interval.n - 1, level)
    # t's quantile exceeds the normal one at any df: this n is a lower bound to step up from
    normal = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    n = max(2, math.ceil((normal * sd / target) ** 2))
    while t_quantile(n - 1, level) * sd / math.sqrt(n) > target:
        n += 1
    return n


def paired_differences(variant: Mapping[int, float], baseline: Mapping[int, float]) -> list[float]:
    """variant - baseline for every seed both have, in seed order.

    Example:
        >>> paired_differences({0: 0.6, 1: 0.5, 2: 0.9}, {0: 0.5, 1: 0.5})
        [0.1, 0.0]
    """
    seeds = sorted(set(variant) & set(baseline))
    return [round(variant[s] - baseline[s], 12) for s in seeds]


def pooled(by_task: Mapping[str, float], tasks: Sequence[str]) -> float | None:
    """Mean over `tasks` (each task weighs the same), None if any is missing.

    Example:
        >>> pooled({"direction": 0.8, "reverse": 0.6, "shape_video": 0.3}, ["direction", "reverse"])
        0.7
    """
    if not tasks or any(t not in by_task for t in tasks):
        return None
    return round(math.fsum(by_task[t] for t in tasks) / len(tasks), 12)


def pool(summaries: Sequence[Summary], level: float = 0.95) -> Interval:
    """Mean and t-interval of all the values behind `summaries`, as if `t_interval` had them:
    the pooled mean, and the pooled sum of squares (each part's within-part sum plus its
    n x (mean - pooled mean)^2).

    Example: [0.1, 0.2, 0.3] and [0.5, 0.7] pool to the interval of the five values
        >>> a, b = pool([summarise([0.1, 0.2, 0.3]), summarise([0.5, 0.7])]), t_interval(
        ...     [0.1, 0.2, 0.3, 0.5, 0.7])
        >>> round(a.mean, 9) == round(b.mean, 9), round(a.half_width, 9) == round(b.half_width, 9)
        (True, True)
    """
    n = sum(s.n for s in summaries)
    if n < 2:
        raise ValueError(f"a t-interval needs at least 2 values, got {n}")
    mean = math.fsum(s.n * s.mean for s in summaries) / n
    squares = math.fsum((s.n - 1) * s.sd**2 + s.n * (s.mean - mean) ** 2 for s in summaries)
    half = t_quantile(n - 1, level) * math.sqrt(squares / (n - 1)) / math.sqrt(n)
    won, lost = sum(s.won for s in summaries), sum(s.lost for s in summaries)
    return Interval(mean=mean, low=mean - half, high=mean + half, n=n, won=won, lost=lost)
