"""A run's share of the CPUs: DataLoader workers and torch's intra-op threads sized from the machine.

A recipe's ``schedule.workers`` is what its loading can use (BraTS and nuScenes read files: 4); the run
starts at most ``(cpus - 1) // 2`` of them, so that the training process keeps most CPUs, and gives
torch ``cpus - workers`` intra-op threads (each worker runs one thread: PyTorch sets that in its
workers). ``cpus`` is this process's share: the CPUs it may run on (``os.sched_getaffinity``, else
``os.cpu_count()``), divided among the processes torchrun starts on the machine. ``--workers`` and
``--threads`` override either; without ``--threads``, an ``OMP_NUM_THREADS`` set in the environment
(``scripts/evidence.sh`` runs jobs side by side with one thread each) is kept.

The run also flushes subnormal floats to zero on the CPU (:func:`flush_denormals`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


def available_cpus() -> int:
    """The CPUs this process may run on, divided among torchrun's processes on this machine (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cpus // max(1, local))


def environment_threads() -> int | None:
    """``OMP_NUM_THREADS`` when the environment sets it to a positive integer, else ``None``."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


@dataclass(frozen=True)
class CPUPlan:
    """How a run uses its CPUs."""

    cpus: int
    workers: int
    """DataLoader worker processes of the training loader."""
    threads: int
    """torch's intra-op threads in the training process."""

    def describe(self) -> str:
        """``"2 CPUs: 0 loader workers, 2 threads"``."""
        cpus = f"{self.cpus} CPU" + ("s" if self.cpus != 1 else "")
        workers = f"{self.workers} loader worker" + ("s" if self.workers != 1 else "")
        return f"{cpus}: {workers}, {self.threads} thread" + ("s" if self.threads != 1 else "")


def plan(recipe_workers: int, *, cpus: int, workers: int | None = None, threads: int | None = None) -> CPUPlan:
    """The workers and threads of a run on ``cpus`` CPUs whose recipe asks for ``recipe_workers``;
    ``workers`` and ``threads`` (the flags) win when given.

    >>> plan(4, cpus=2)
    CPUPlan(cpus=2, workers=0, threads=2)
    >>> plan(4, cpus=16)
    CPUPlan(cpus=16, workers=4, threads=12)
    >>> plan(4, cpus=2, workers=1)
    CPUPlan(cpus=2, workers=1, threads=1)
    """
    if workers is None:
        workers = max(0, min(recipe_workers, (cpus - 1) // 2))
    if threads is None:
        threads = max(1, cpus - workers)
    return CPUPlan(cpus, workers, threads)


def flush_denormals(enabled: bool = True) -> bool:
    """Flush subnormal floats (``|x| < 1.2e-38`` in float32) to zero on the CPU; ``True`` where it is in effect.

    Beyond the paper, for speed only: once a model fits its training set, Adam's second moments and the
    backward pass fill with subnormal numbers, which x86 CPUs handle by a slow path; the default AVMNIST
    baseline's 2,500 steps took 101 s with them and 63 s flushed, with the same test accuracies
    (``apps/train/perf/denormals.py``). Threads inherit the setting from the thread that starts them, so
    call this before the first parallel torch operation. GPUs are not affected; ``False`` restores IEEE
    subnormals (``--keep-denormals``), and a CPU without the flush mode returns ``False``.
    """
    supported = bool(torch.set_flush_denormal(enabled))
    return enabled and supported
