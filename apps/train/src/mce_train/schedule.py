"""Optimisation settings (:class:`Schedule`), the optimiser they build and the learning rate at each step.

Each benchmark's recipe (``benchmarks/<name>/recipe.py``) fills a :class:`Schedule` and says where each value
comes from; :func:`mce_train.trainer.fit` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

SCHEDULERS = ("step", "poly", "linear", "onecycle")


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings, in steps (each benchmark's recipe says where each value comes from).

    ``scheduler`` sets the learning rate at each step:

    * ``"step"``: multiplied by ``decay_gamma`` every ``decay_every`` steps (0: constant);
    * ``"poly"``: ``lr * (1 - step / steps) ** poly_power`` (mmFormer's and PASSION's poly decay);
    * ``"linear"``: constant for ``decay_start`` steps, then linearly to 0 at ``steps`` (MMIN's ``niter`` then
      ``niter_decay`` epochs);
    * ``"onecycle"``: OneCycle (linear, as Simple-BEV's ``OneCycleLR``): a warm-up from ``lr / 25`` to ``lr``
      over ``warmup_fraction`` of the steps, then a linear decay to ``lr / 25e4``.

    ``clip_norm > 0`` clips the gradients' global L2 norm before each optimiser step (0: no clipping).
    """

    steps: int
    batch_size: int
    lr: float
    optimizer: str = "adam"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    scheduler: str = "step"
    decay_every: int = 0
    decay_gamma: float = 0.1
    poly_power: float = 0.9
    decay_start: int = 0
    warmup_fraction: float = 0.05
    clip_norm: float = 0.0
    eval_every: int = 100
    checkpoint_every: int = 100
    workers: int = 0

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}; got {self.scheduler!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")


OPTIMIZERS = ("adam", "adamw", "sgd")


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """The trainer's steps in one epoch of ``n_samples``: full batches only (:class:`~mce_train.batches.StepBatches`
    drops an epoch's last partial batch), at least one.

    >>> steps_per_epoch(945, 128), steps_per_epoch(3, 8)
    (7, 1)
    """
    return max(1, n_samples // batch_size)


FUSED_SINCE = (2, 4)
"""The torch release whose Adam, AdamW and SGD have fused CPU kernels (CUDA had them before)."""


def fused_supported(params: Sequence[torch.Tensor], version: str = torch.__version__) -> bool:
    """Whether the optimiser can take ``fused=True`` for ``params``: floating tensors all on CPU or all on CUDA,
    and a torch of :data:`FUSED_SINCE` or later.

    One kernel per step instead of a few per tensor: Adam's step on AVMNIST's network is about 5x faster on
    CPU (``python apps/train/perf/optimizer_step.py``); it rounds differently in the last bits only.
    """
    release = tuple(int(part) for part in version.split("+")[0].split(".")[:2])
    devices = {p.device.type for p in params}
    return (
        release >= FUSED_SINCE
        and len(devices) == 1
        and devices <= {"cpu", "cuda"}
        and all(p.is_floating_point() for p in params)
    )


def make_optimizer(model: torch.nn.Module, schedule: Schedule) -> torch.optim.Optimizer:
    """The schedule's optimiser over ``model``'s trainable parameters (fused where :func:`fused_supported`)."""
    params = [p for p in model.parameters() if p.requires_grad]
    fused: dict[str, Any] = {"fused": True} if fused_supported(params) else {}  # else torch's own choice
    if schedule.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=schedule.lr, betas=schedule.betas, weight_decay=schedule.weight_decay, **fused
        )
    if schedule.optimizer == "adamw":
        return torch.optim.AdamW(
            params, lr=schedule.lr, betas=schedule.betas, weight_decay=schedule.weight_decay, **fused
        )
    # SGD with Nesterov momentum betas[0] (ShaSpec's and nnU-Net-style segmentation recipes)
    return torch.optim.SGD(
        params,
        lr=schedule.lr,
        momentum=schedule.betas[0],
        nesterov=True,
        weight_decay=schedule.weight_decay,
        **fused,
    )


def onecycle_lr(
    max_lr: float,
    step: int,
    total_steps: int,
    pct_start: float = 0.05,
    div_factor: float = 25.0,
    final_div: float = 1e4,
) -> float:
    """The learning rate of :class:`torch.optim.lr_scheduler.OneCycleLR` (``anneal_strategy="linear"``) at ``step``.

    Where the warm-up ends exactly at step 0 (``pct_start * total_steps == 1``, e.g. 20 steps at 0.05), torch divides
    zero by zero; here that run starts at ``max_lr`` and anneals, the limit of the warm-up's end approaching 0.
    """
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps}); got {step}")
    initial = max_lr / div_factor
    peak = float(pct_start * total_steps) - 1
    if peak > 0 and step <= peak:
        return initial + (max_lr - initial) * step / peak
    return max_lr + (initial / final_div - max_lr) * (step - peak) / (total_steps - 1 - peak)


def lr_at(schedule: Schedule, step: int) -> float:
    """The learning rate of ``schedule`` at ``step`` (0-based)."""
    if schedule.scheduler == "onecycle":
        return onecycle_lr(schedule.lr, step, schedule.steps, schedule.warmup_fraction)
    if schedule.scheduler == "poly":
        return schedule.lr * float((1 - min(step, schedule.steps) / schedule.steps) ** schedule.poly_power)
    if schedule.scheduler == "linear":
        if step < schedule.decay_start:
            return schedule.lr
        return schedule.lr * max(0.0, 1 - (step - schedule.decay_start) / max(1, schedule.steps - schedule.decay_start))
    if schedule.decay_every <= 0:
        return schedule.lr
    return schedule.lr * schedule.decay_gamma ** (step // schedule.decay_every)
