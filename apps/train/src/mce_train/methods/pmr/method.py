"""PMR (Fan, Xu, Wang, Wang, Guo, CVPR 2023): prototypical modal rebalance, for M modalities and dense maps.

The official code (fanyunfeng-bit/Modal-Imbalance-PMR, ``main_Prototype_grad.py``) and GeWu-Lab's
reproduction (GeWu-Lab/BalanceBenchmark, ``balancemm/trainer/PMR_trainer.py``), two modalities:

* **Prototypes** ``c_k^m``: the class means of each modality's encoder features over a tenth of the
  training set (``calculate_prototype``: ``all_num // 10`` batches), in evaluation mode, before the
  first epoch and after every epoch, then a moving average ``(1 - 0.2)·new + 0.2·old``
  (``--momentum_coef 0.2``).
* **Prototypical cross-entropy** ``PCE^m``: the cross-entropy of the logits ``-||f^m(x) - c_k^m||``.
* **Imbalance ratio** from the prototype scores ``s^m = Σ_i softmax(-d)_{y_i}``: ``ρ = s^a / s^v``.
  BalanceBenchmark weights the slow modality's PCE by ``α · clip(ρ - 1, 0, 1)`` (``1/ρ - 1`` for the other
  way round) and, during the first ``norm_epoch`` epochs, subtracts ``μ`` times the same coefficient times
  the dominant modality's prototype entropy ``E = -Σ_k p_k log p_k`` (held back: its predictions kept
  soft). The official script's simpler form weights the slow modality by ``α`` flat, with no entropy term.
* Loss: ``CE(fused) + α Σ_m β_m PCE^m - μ Σ_m γ_m E^m`` while ``modulation_starts ≤ epoch ≤
  modulation_ends``, then ``CE`` alone.

Values: ``α = 1.0``, ``momentum 0.2``, modulation for 100 of 150 epochs and the tenth of the training set
(official ``main_Prototype_grad.py`` defaults); ``μ = 0.01`` and the entropy for the first 10 of 70
epochs (BalanceBenchmark ``configs/trainer_config.yaml``, PMR section; the official script has none).
The windows are fractions of the schedule's steps, so they mean the same at every benchmark's length.

Beyond the paper (ours):

* ``M`` modalities: ``ρ^m = s^m / mean_{j≠m} s^j`` (each modality against the others), ``β_m =
  clip(1/ρ^m - 1, 0, 1)`` on its PCE (it is slow), ``γ_m = clip(ρ^m - 1, 0, 1)`` on its entropy (it
  dominates). For two modalities this is BalanceBenchmark's rule exactly. ``β`` and ``γ`` are detached
  (BalanceBenchmark's ``clip`` lets the ratio's gradient through, a side effect of returning the tensor).
* Missing modalities: features, prototypes, scores, PCE and entropy of ``m`` use only samples that have
  ``m``; ``s^m`` is a mean over them (not a sum), so a modality missing in 80% of samples is not called
  slow for being rare. A class no sample with ``m`` showed in a prototype pass keeps its previous
  prototype; one never seen has none: it is left out of ``m``'s softmax, and its samples (voxels) out of
  ``m``'s PCE, score and entropy, until a pass sees it. A class absent from a training batch needs
  nothing: its prototype still competes in the softmax of the batch's samples.
* Dense tasks (BraTS, nuScenes): the features are the latent maps the benchmark completes
  (``reconstruction_view``: BraTS' bottleneck ``[C, g, g, g]``, nuScenes' BEV ``[C, X, Y]``); each
  location is one feature vector, its class weights the fractions of its voxels (cells) of each class
  (average-pooled one-hot labels; ignored cells in none). Prototypes, PCE, scores and entropy are then
  the voxel-level ones with each voxel carrying its location's feature: ``c_k`` is the mean over voxels
  of class ``k``, PCE and ``s`` means over valid voxels. nuScenes' binary map has two classes.
* ``E`` is a mean over samples (locations), not BalanceBenchmark's sum over the batch, so ``μ`` keeps its
  meaning at any batch size and grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Subset

from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample, identity
from mce_train.methods.pmr.prototypes import (
    PROTOTYPE_MOMENTUM,
    class_sums,
    class_weights,
    coefficients,
    locations,
    prototype_terms,
    update_prototypes,
)
from mce_train.network import MultiModalNet, evaluation_mode


@register_method(
    "pmr",
    paper="PMR: Fan et al., CVPR 2023 (prototypical modal rebalance)",
    benchmarks=("avmnist", "iemocap", "brats", "nuscenes"),
)
class PMR(Method):
    """The fused task loss plus ratio-weighted prototypical cross-entropy and (early) entropy terms.

    Args:
        n_modalities: ``M``.
        task_loss: the benchmark's per-sample loss.
        alpha, mu: the PCE and entropy weights; momentum: the prototypes' moving-average share of the old.
        modulation_steps, entropy_steps: the steps before which the PCE (and the entropy) terms act.
        passes: ``(epoch) -> iterable of batches``, the prototype pass of an epoch (a seeded tenth).
    """

    options = (
        Option(
            "--pmr-alpha",
            "PMR: weight of the prototypical cross-entropy",
            type=float,
            default=1.0,
            source="fanyunfeng-bit/Modal-Imbalance-PMR main_Prototype_grad.py: --alpha 1.0",
        ),
        Option(
            "--pmr-mu",
            "PMR: weight of the prototype entropy regulariser",
            type=float,
            default=0.01,
            source="GeWu-Lab/BalanceBenchmark configs/trainer_config.yaml (PMR): mu 0.01",
        ),
        Option(
            "--pmr-modulation-ends",
            "PMR: fraction of the steps with the PCE terms",
            type=float,
            default=100 / 150,
            source="fanyunfeng-bit/Modal-Imbalance-PMR main_Prototype_grad.py: --modulation_ends 100 of 150 epochs",
        ),
        Option(
            "--pmr-entropy-ends",
            "PMR: fraction of the steps with the entropy term",
            type=float,
            default=10 / 70,
            source="GeWu-Lab/BalanceBenchmark configs/trainer_config.yaml (PMR): norm_epoch 10 of max_epochs 70",
        ),
        Option(
            "--pmr-prototype-fraction",
            "PMR: share of the training set in each prototype pass",
            type=float,
            default=0.1,
            source="fanyunfeng-bit/Modal-Imbalance-PMR main_Prototype_grad.py: all_num // 10 batches",
        ),
    )

    def __init__(
        self,
        modalities: tuple[str, ...],
        *,
        task_loss: PerSample,
        alpha: float = 1.0,
        mu: float = 0.01,
        momentum: float = PROTOTYPE_MOMENTUM,
        modulation_steps: int = 0,
        entropy_steps: int = 0,
        passes: Callable[[int], Any] | None = None,
        reduce: Callable[[Tensor], Tensor] = identity,
    ) -> None:
        self.modalities, self.task_loss, self.alpha, self.mu, self.momentum = modalities, task_loss, alpha, mu, momentum
        self.modulation_steps, self.entropy_steps = modulation_steps, entropy_steps
        self.passes, self.reduce = passes, reduce
        self.prototypes: Tensor | None = None  # Float[M, K, C]
        self.defined: Tensor | None = None  # Bool[M, K]
        self.steps = 0

    @classmethod
    def check(cls, options: Any) -> None:
        for key in ("pmr_modulation_ends", "pmr_entropy_ends", "pmr_prototype_fraction"):
            if not 0.0 <= float(options[key]) <= 1.0:
                raise ValueError(f"--{key.replace('_', '-')} must be a fraction in [0, 1]; got {options[key]}")

    @classmethod
    def create(cls, context: MethodContext) -> PMR:
        options, train, steps = context.options, context.train, context.schedule.steps
        share = max(context.schedule.batch_size, round(float(options["pmr_prototype_fraction"]) * len(train)))

        def passes(epoch: int) -> Any:
            generator = torch.Generator().manual_seed(context.seed * 1_000_003 + epoch)
            picked = torch.randperm(len(train), generator=generator)[: min(share, len(train))]
            for batch in context.loader(Subset(train, picked.tolist())):
                yield batch.to(context.device)

        return cls(
            context.bench.modalities,
            task_loss=context.bench.task_loss,
            alpha=float(options["pmr_alpha"]),
            mu=float(options["pmr_mu"]),
            modulation_steps=round(float(options["pmr_modulation_ends"]) * steps),
            entropy_steps=round(float(options["pmr_entropy_ends"]) * steps),
            passes=passes,
            reduce=context.distributed.all_reduce_sum,
        )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "mu": self.mu,
            "momentum": self.momentum,
            "windows": [self.modulation_steps, self.entropy_steps],
        }

    @staticmethod
    def features(model: MultiModalNet, batch: Any) -> tuple[Tensor, Tensor]:
        """``(h, f)``: the encoded batch and its latent features ``Float[N, M, C, *space]``."""
        h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
        return h, model.reconstruction_view(h)

    @torch.no_grad()
    def update(self, model: MultiModalNet, batches: Any) -> None:
        """One prototype pass (evaluation mode) over ``batches``: class sums per modality, then the moving average."""
        sums: Tensor | None = None
        counts: Tensor | None = None
        with evaluation_mode(model):
            for batch in batches:
                h, f = self.features(model, batch)
                if sums is None or counts is None:
                    n_classes = self._classes(model, h, batch)
                    sums = f.new_zeros(len(self.modalities), n_classes, f.shape[2], dtype=torch.float32)
                    counts = torch.zeros(len(self.modalities), n_classes, device=f.device)
                weights = class_weights(batch.target, sums.shape[1], tuple(f.shape[3:]))
                for m in range(len(self.modalities)):
                    rows = batch.present[:, m].nonzero().squeeze(1)
                    s, c = class_sums(locations(f[:, m].index_select(0, rows)), weights.index_select(0, rows))
                    sums[m] += s
                    counts[m] += c
        if sums is None or counts is None:
            return
        if self.prototypes is None or self.defined is None:
            self.prototypes = torch.zeros_like(sums)
            self.defined = torch.zeros(counts.shape, dtype=torch.bool, device=counts.device)
        updated = [
            update_prototypes(self.prototypes[m], self.defined[m], sums[m], counts[m], self.momentum)
            for m in range(len(self.modalities))
        ]
        self.prototypes = torch.stack([p for p, _ in updated])
        self.defined = torch.stack([d for _, d in updated])

    @staticmethod
    def _classes(model: MultiModalNet, h: Tensor, batch: Any) -> int:
        """``K``: the head's output channels (2 for a single-logit binary map)."""
        prediction = model.predict(h[:1], batch.present[:1])
        return max(2, int(prediction.shape[1])) if prediction.dim() > 1 else 2

    def on_epoch_start(self, model: MultiModalNet, epoch: int) -> None:
        """Refresh the prototypes (the official code: before the first epoch and after every epoch)."""
        if self.passes is not None:
            self.update(model, self.passes(epoch))

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        h, f = self.features(model, batch)
        loss = self.task_loss(model.predict(h, batch.present), batch.target).mean()
        self.steps += 1
        if self.steps > self.modulation_steps or self.prototypes is None or self.defined is None:
            return loss, {}
        prototypes, defined = self.prototypes.to(f.device), self.defined.to(f.device)
        weights = class_weights(batch.target, prototypes.shape[1], tuple(f.shape[3:]))
        terms = []
        for m in range(len(self.modalities)):
            rows = batch.present[:, m].nonzero().squeeze(1)
            features = locations(f[:, m].index_select(0, rows))
            terms.append(prototype_terms(features, weights.index_select(0, rows), prototypes[m], defined[m]))
        stats = self.reduce(torch.stack([torch.stack([t["score"], t["weight"]]) for t in terms]))
        scores = stats[:, 0] / stats[:, 1].clamp_min(1e-12)
        beta, gamma = coefficients(scores, stats[:, 1] > 0)
        entropy_on = self.steps <= self.entropy_steps
        logs: dict[str, float] = {}
        for m, name in enumerate(self.modalities):
            loss = loss + self.alpha * beta[m] * terms[m]["pce"]
            if entropy_on:
                loss = loss - self.mu * gamma[m] * terms[m]["entropy"]
            logs.update({f"score_{name}": float(scores[m]), f"beta_{name}": float(beta[m])})
            logs[f"gamma_{name}"] = float(gamma[m])
        return loss, logs

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "prototypes": self.prototypes, "defined": self.defined}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps, self.prototypes, self.defined = int(state["steps"]), state["prototypes"], state["defined"]
