"""The benchmarks the trainer knows, by name (``--benchmark``).

Each lives in its own folder (``benchmarks/<name>/``: data wiring, models, metrics, recipe) as a
:class:`~mce_train.benchmarks.base.Benchmark`.
"""

from __future__ import annotations

from mce_train.benchmarks.avmnist import AVMNIST_BENCHMARK
from mce_train.benchmarks.base import Benchmark, Splits, cross_entropy
from mce_train.benchmarks.brats import BRATS_BENCHMARK
from mce_train.benchmarks.iemocap import IEMOCAP_BENCHMARK
from mce_train.benchmarks.nuscenes import NUSCENES_BENCHMARK

BENCHMARKS: dict[str, Benchmark] = {
    "avmnist": AVMNIST_BENCHMARK,
    "iemocap": IEMOCAP_BENCHMARK,
    "brats": BRATS_BENCHMARK,
    "nuscenes": NUSCENES_BENCHMARK,
}


def get(name: str) -> Benchmark:
    """The benchmark called ``name``, or an error listing the known ones."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


__all__ = ["BENCHMARKS", "Benchmark", "Splits", "cross_entropy", "get"]
