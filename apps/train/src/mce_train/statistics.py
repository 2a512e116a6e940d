"""Summaries over seeds: mean, sample standard deviation and a Student-t 95% confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (standard tables); beyond, the
# Cornish-Fisher expansion in 1/df (Abramowitz & Stegun 26.7.5), within 1e-4 of the exact value.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """``t_{0.975}`` with ``df`` degrees of freedom (table for df <= 30, A&S 26.7.5 above).

    >>> round(t_quantile_975(31), 3), round(t_quantile_975(120), 3)
    (2.04, 1.98)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1; got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@dataclass(frozen=True)
class Summary:
    """``mean ± std`` over seeds and the 95% CI of the mean (``low``, ``high``; equal to the mean for one seed)."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if self.n == 1:
            return f"{self.mean:.2f}"
        return f"{self.mean:.2f} ± {self.std:.2f} [{self.low:.2f}, {self.high:.2f}]"


def summarize(values: Sequence[float]) -> Summary:
    """Mean, sample std (n-1) and the t-based 95% confidence interval of ``values``.

    >>> s = summarize([1.0, 2.0, 3.0])
    >>> (s.mean, s.std, round(s.high - s.mean, 3))
    (2.0, 1.0, 2.484)
    """
    if not values:
        raise ValueError("summarize needs at least one value; got none")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(mean, 0.0, mean, mean, 1)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile_975(n - 1) * std / math.sqrt(n)
    return Summary(mean, std, mean - half, mean + half, n)
