"""MBT-Sample (Wei, Feng, Wang, Hu, CVPR 2024): sample-level modality valuation and re-sampling.

What the official code does (GeWu-Lab/Valuate-and-Enhance-Multimodal-Cooperation, ``code/sample_level.py``
``execute_modulation`` and ``code/datasets/dataloader.py`` ``AV_KS_Dataset_sample_level``):

* **Valuation.** After every epoch from ``warmup - 1`` on, the model (evaluation mode, no gradient)
  predicts every training sample from each coalition of its modalities. A coalition's value is
  ``v(S) = |S|`` if its prediction is right and 0 otherwise (``value_all = 2.0``, ``value_a =
  value_v = 1.0``; ``v(∅) = 0``), and each modality's contribution is its Shapley value
  (``contrib_a = (value_a + value_all - value_v) / 2``). The ``|S|`` scale makes a modality that pulls
  its weight worth 1: the values sum to ``|A| · correct``.
* **Re-sampling.** The next epoch's training set is every sample once plus, for each modality ``m``,
  copies of the sample in which every *other* modality is dropped (its features zeroed), so that
  ``m`` alone is trained through the fused head: 1 copy if ``0.4 < φ_m < 1`` (φ = 0.5), 2 if
  ``-0.1 < φ_m < 0.4`` (φ = 0), 3 if ``φ_m < -0.1`` (φ = -0.5), none if ``φ_m ≥ 1``
  (:data:`COPY_BINS`). The first ``warmup`` epochs train without copies (``--warmup 5`` of
  ``--epochs 60``).

Here (same encoders, fusion, masks and recipe as every other method):

* The valuation runs at each epoch boundary of the trainer once ``--mbt-warmup`` of the steps have
  passed (default 5/60, the official warm-up as a fraction of the schedule, so that it means the same
  at every benchmark's number of steps), on every training sample, with the benchmark's own
  prediction from a coalition (``model.predict(h, keep)``: absent slots are what the benchmark's
  network makes of them, zero or completed, as for every method's missing modalities), through
  :func:`mce_shapley.exact` (exact for any ``M``).
* Copies are drawn in the batch of their sample: ``k`` identical copies with the same modality kept
  are one extra row weighted ``k`` (the same loss and gradient as ``k`` rows; batch norm sees the row
  once), and the loss is the mean over the would-be enlarged batch, ``(Σ ℓ_i + Σ k_im ℓ_im) / (N + Σ
  k_im)``. The step count stays the recipe's (the official epoch grows with the copies).

Beyond the paper (ours):

* ``M > 2`` modalities: ``v(S) = |S| · score(S)``, Shapley values of each sample's own game over its
  present modalities, the official bins unchanged (1 still means "pulls its weight"). The official
  bins leave gaps at exactly 0.4 and -0.1; we close them (``-0.1 < φ ≤ 0.4``: 2, ``φ ≤ -0.1``: 3),
  which no two-modality game can reach, so AVMNIST is unchanged.
* Missing modalities: a sample values only the modalities it has (a missing one is a null player,
  never copied). A sample with a single modality is never copied: there is nothing to drop, and the
  copy would only re-weight the sample itself.
* Dense tasks (BraTS, nuScenes): ``score`` is the benchmark's per-sample coalition value (mean Dice
  of WT/TC/ET on the training crop, vehicle IoU of the BEV map) instead of 0/1 correctness, so
  ``v(S) = |S| · Dice`` and the same bins apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional

import mce_shapley
from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample, identity
from mce_train.network import MultiModalNet, evaluation_mode
from mce_train.schedule import steps_per_epoch

COPY_BINS: tuple[tuple[float, int], ...] = ((1.0, 0), (0.4, 1), (-0.1, 2), (float("-inf"), 3))
"""``(lower bound, copies)``: the first bin with ``φ > bound`` (``φ ≥ 1`` for the first) gives the copies.
Official: ``AV_KS_Dataset_sample_level`` (code/datasets/dataloader.py), bins 0.4 < φ < 1: 1, -0.1 < φ < 0.4: 2,
φ < -0.1: 3."""

WARMUP = 5 / 60
"""GeWu-Lab/Valuate-and-Enhance-Multimodal-Cooperation code/sample_level.py: ``--warmup 5`` of ``--epochs 60``."""


def coalition_values(scores: Tensor, coalitions: Tensor) -> Tensor:
    """``v(S) = |S| · score``: ``Float64[R]`` from ``scores: Float[R]`` and ``coalitions: Bool[R, M]``.

    >>> coalition_values(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([[True, True], [True, False], [False, True]]))
    tensor([2., 0., 1.], dtype=torch.float64)
    """
    return scores.double() * coalitions.sum(1).double()


@torch.no_grad()
def sample_values(model: MultiModalNet, batch: Any, score: PerSample) -> Tensor:
    """``Float64[N, M]``: each sample's Shapley values of ``v(S) = |S| · score(predict(S))``, 0 where absent.

    In evaluation mode (the official ``model.eval()``), at most ``N`` coalition rows per forward.
    """
    with evaluation_mode(model):
        h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)

        def game(samples: Tensor, coalitions: Tensor) -> Tensor:
            values = torch.zeros(samples.shape[0], dtype=torch.float64, device=samples.device)
            rows = coalitions.any(1).nonzero().squeeze(1)
            if rows.numel() == 0:
                return values  # v(∅) = 0
            picked, keep = samples.index_select(0, rows), coalitions.index_select(0, rows)
            prediction = model.predict(h.index_select(0, picked), keep)
            value = coalition_values(score(prediction, batch.target.index_select(0, picked)), keep)
            return values.index_copy(0, rows, value)

        result = mce_shapley.exact(
            mce_shapley.RowGame(game, len(batch)), h.shape[1], available=batch.present, max_batch=len(batch)
        )
    return result.values


def copy_counts(values: Tensor, present: Tensor) -> Tensor:
    """``Long[N, M]``: the official re-sampling rule (:data:`COPY_BINS`) on ``values: Float[N, M]``.

    Zero for a modality the sample lacks and for a sample with fewer than two modalities.

    >>> phi = torch.tensor([[1.5, 0.5], [0.0, -0.5], [0.5, 0.0]])
    >>> copy_counts(phi, torch.tensor([[True, True], [True, True], [True, False]])).tolist()
    [[0, 1], [2, 3], [0, 0]]
    """
    counts = torch.full(values.shape, COPY_BINS[-1][1], dtype=torch.long, device=values.device)
    assigned = torch.zeros(values.shape, dtype=torch.bool, device=values.device)
    for index, (bound, copies) in enumerate(COPY_BINS[:-1]):
        hit = ~assigned & ((values >= bound) if index == 0 else (values > bound))
        counts = torch.where(hit, torch.full_like(counts, copies), counts)
        assigned |= hit
    eligible = present & (present.sum(1, keepdim=True) >= 2)
    return torch.where(eligible, counts, torch.zeros_like(counts))


def resampled_loss(
    model: MultiModalNet,
    batch: Any,
    copies: Tensor,
    task_loss: PerSample,
    reduce: Callable[[Tensor], Tensor] = identity,
    world: int = 1,
) -> tuple[Tensor, Tensor]:
    """``(loss, extra rows)``: the batch plus its copies (``copies: Long[N, M]``), one head forward.

    A copy of sample ``i`` for modality ``m`` keeps ``m`` alone; ``k`` copies are one row weighted ``k``.
    The loss is the mean over the enlarged batch; under ``world > 1`` processes, over the global one.
    """
    present, target = batch.present, batch.target
    h = model.encode(batch.inputs, present, batch.lengths, batch.extras)
    sample, modality = copies.nonzero(as_tuple=True)
    weight = copies[sample, modality].to(h.dtype)
    keep = torch.cat([present, functional.one_hot(modality, present.shape[1]).bool()])
    rows = torch.cat([torch.arange(len(batch), device=present.device), sample])
    losses = task_loss(model.predict(h.index_select(0, rows), keep), target.index_select(0, rows))
    weights = torch.cat([torch.ones(len(batch), dtype=losses.dtype, device=losses.device), weight.to(losses.dtype)])
    total = reduce(weights.sum().detach()) / world
    return (weights * losses).sum() / total, weight.sum()


@register_method(
    "mbt-sample",
    paper="MBT-Sample: Wei, Feng, Wang, Hu, CVPR 2024 (sample-level modality valuation, re-sampling)",
    benchmarks=("avmnist", "iemocap", "brats", "nuscenes"),
)
class MBTSample(Method):
    """Sample-level Shapley valuation every epoch after the warm-up; low-contributing modalities re-sampled.

    Args:
        sample_ids: the training set's ids (``copies`` rows, batch ids looked up here).
        modalities: the modality names (``copies`` columns).
        task_loss: the benchmark's per-sample loss; score: its per-sample coalition value (0/1, Dice, IoU).
        warmup_steps: no valuation at epoch boundaries before this step.
        per_epoch: the trainer's steps per epoch.
        value: ``(model) -> Float64[N_train, M]``, the valuation of the training set (rows in ``sample_ids``).
    """

    options = (
        Option(
            "--mbt-warmup",
            "MBT-Sample: fraction of the steps trained before the first valuation (then every epoch)",
            type=float,
            default=WARMUP,
            source="GeWu-Lab/Valuate-and-Enhance-Multimodal-Cooperation code/sample_level.py: --warmup 5 of 60 epochs",
        ),
    )

    def __init__(
        self,
        sample_ids: Sequence[str],
        modalities: Sequence[str],
        *,
        task_loss: PerSample,
        warmup_steps: int,
        per_epoch: int,
        value: Callable[[MultiModalNet], tuple[Tensor, Tensor]] | None = None,
        reduce: Callable[[Tensor], Tensor] = identity,
        world: int = 1,
    ) -> None:
        self.row_of = {sample_id: row for row, sample_id in enumerate(sample_ids)}
        self.modalities = tuple(modalities)
        self.copies = torch.zeros(len(sample_ids), len(self.modalities), dtype=torch.long)
        self.task_loss, self.value, self.reduce, self.world = task_loss, value, reduce, world
        self.warmup_steps, self.per_epoch = warmup_steps, per_epoch
        self.trace: list[dict[str, float]] = []

    @classmethod
    def check(cls, options: Any) -> None:
        if not 0.0 <= float(options["mbt_warmup"]) <= 1.0:
            raise ValueError(f"--mbt-warmup must be a fraction of the steps in [0, 1]; got {options['mbt_warmup']}")

    @classmethod
    def create(cls, context: MethodContext) -> MBTSample:
        train, bench = context.train, context.bench
        ids = list(train.sample_ids())
        row_of = {sample_id: row for row, sample_id in enumerate(ids)}

        def value(model: MultiModalNet) -> tuple[Tensor, Tensor]:
            values = torch.zeros(len(ids), len(bench.modalities), dtype=torch.float64)
            present = torch.zeros(len(ids), len(bench.modalities), dtype=torch.bool)
            for batch in context.loader(train):
                batch = batch.to(context.device)
                rows = torch.tensor([row_of[i] for i in batch.ids])
                values[rows] = sample_values(model, batch, bench.score).cpu()
                present[rows] = batch.present.cpu()
            return values, present

        return cls(
            ids,
            bench.modalities,
            task_loss=bench.task_loss,
            warmup_steps=round(float(context.options["mbt_warmup"]) * context.schedule.steps),
            per_epoch=steps_per_epoch(len(train), context.schedule.batch_size),
            value=value,
            reduce=context.distributed.all_reduce_sum,
            world=context.distributed.world,
        )

    def fingerprint(self) -> dict[str, Any]:
        return {"warmup_steps": self.warmup_steps, "bins": [list(b) for b in COPY_BINS[:-1]]}

    def on_epoch_start(self, model: MultiModalNet, epoch: int) -> None:
        """Value every training sample with the current model and set this epoch's copies (after the warm-up)."""
        if self.value is None or epoch * self.per_epoch < self.warmup_steps:
            return
        values, present = self.value(model)
        self.set_copies(values, present, epoch)

    def set_copies(self, values: Tensor, present: Tensor, epoch: int) -> None:
        """This epoch's copies from the valuation ``values: Float[N_train, M]`` (and record its means)."""
        self.copies = copy_counts(values, present)
        n = present.sum(0).clamp_min(1)
        record: dict[str, float] = {"epoch": float(epoch), "copies": float(self.copies.sum())}
        for m, name in enumerate(self.modalities):
            record[f"phi_{name}"] = float(values[:, m].sum() / n[m])  # the official cona / conv, over samples with m
            record[f"copies_{name}"] = float(self.copies[:, m].sum())
        self.trace.append(record)

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        rows = torch.tensor([self.row_of[i] for i in batch.ids])
        copies = self.copies.index_select(0, rows).to(batch.present.device)
        loss, extra = resampled_loss(model, batch, copies, self.task_loss, self.reduce, self.world)
        return loss, {"copies": float(extra)}

    def summary(self) -> dict[str, Any]:
        """Per valuation: the epoch, the mean Shapley value of each modality and the copies drawn."""
        return {"valuations": self.trace}

    def state_dict(self) -> dict[str, Any]:
        return {"copies": self.copies.clone(), "trace": list(self.trace)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.copies = state["copies"].clone()
        self.trace = list(state["trace"])
