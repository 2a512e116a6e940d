"""Training objectives: the plain baseline and MCE (paper Eq. 14), over the shared network.

One MCE step runs the encoders once, then one batched forward of the completion module and the
fused head over every feasible (sample, modality subset) pair of the batch. That pair batch
serves three terms at once:

* ``L_sub`` (Eq. 11): the loss of each pair's prediction;
* ``L_aux`` (Eq. 13): each pair's completed features against the real ones at its dropped slots;
* the Shapley values of Eq. 5: the pair's per-sample score (0/1 correct, Dice, ...) is the
  coalition value ``v_n(S)``; :func:`mce_shapley.exact` values each sample's own game by looking
  those values up (``v_n(∅) = 0``: no modality, no correct answer), so exact Shapley costs no
  extra forward. Coalition values are per-sample games only in evaluation mode: when the network
  has batch norm or dropout (e.g. IEMOCAP's and nuScenes' heads), a training-mode prediction
  depends on the rest of the pair batch, so the pairs are scored again, without gradient, in
  evaluation mode (batch-norm statistics untouched); a network without such layers reuses the
  training forward. ``shapley="permutation"`` instead asks the model for the coalitions a Monte Carlo
  budget draws (the option for many modalities, where the pair batch would be too large).

Factor B (Eq. 8) comes from sums over the batch (``U``, ``phi``, counts), passed through
``reduce`` so a distributed run all-reduces them and B means the same as on one process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

import mce_shapley
from mce_losses import (
    MCEObjective,
    SubsetPairs,
    capability_statistics,
    factor_b,
    subset_pair_weights,
    subset_pairs,
    subset_row_counts,
)
from mce_train.network import MultiModalNet, evaluation_mode, mode_dependent

PerSample = Callable[[Tensor, Tensor], Tensor]
"""``(prediction[N, ...], target[N, ...]) -> Float[N]``: a per-sample loss or score."""


class Baseline:
    """The plain multi-modal model trained on its task loss only (Table 2, row a)."""

    name = "baseline"

    def __init__(self, task_loss: PerSample) -> None:
        self.task_loss = task_loss

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        prediction = model(batch.inputs, batch.present, batch.lengths, batch.extras)
        return self.task_loss(prediction, batch.target).mean(), {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state


def identity(tensor: Tensor) -> Tensor:
    """The ``reduce`` of a single process: nothing to sum over."""
    return tensor


class MCE:
    """Modality Capability Enhancement: LCE factors A, B and RCE terms L_single, L_sub, L_aux.

    Args:
        objective: :class:`mce_losses.MCEObjective` with factor A of the training set and the
            ablation switches.
        upper_scores: ``Float[N_train, M]``, the frozen unimodal models' per-sample scores on the
            training set (Eq. 6), rows in the order of ``sample_ids``.
        sample_ids: the training set's ids (batch ids are looked up here).
        task_loss: per-sample loss ``rho``; score: per-sample coalition value ``f_acc`` (Eq. 4).
        shapley: ``"exact"`` (from the pair batch) or ``"permutation"`` (Monte Carlo through the model).
        permutations: the Monte Carlo budget per sample (``shapley="permutation"``).
        exact_when_cheaper: let the Monte Carlo estimator solve a sample exactly when its
            ``2**|A_i|`` coalitions cost less than the budget (turn off only to time Monte Carlo).
        reduce: sums a tensor over processes (identity on one process).
        world: the number of processes; above 1, L_sub and L_aux weight each row by the whole
            batch's subset counts (summed with ``reduce``), so the ranks' averaged gradients are
            those of one process with the global batch.
        seed: seeds the Monte Carlo generator.
    """

    name = "mce"

    def __init__(
        self,
        objective: MCEObjective,
        upper_scores: Tensor,
        sample_ids: Sequence[str],
        *,
        task_loss: PerSample,
        score: PerSample,
        shapley: str = "exact",
        permutations: int = 200,
        exact_when_cheaper: bool = True,
        reduce: Callable[[Tensor], Tensor] = identity,
        seed: int = 0,
        world: int = 1,
    ) -> None:
        if shapley not in ("exact", "permutation"):
            raise ValueError(f"shapley must be 'exact' or 'permutation'; got {shapley!r}")
        if upper_scores.shape[0] != len(sample_ids):
            raise ValueError(
                f"upper_scores needs one row per training sample ({len(sample_ids)}); got {upper_scores.shape[0]}"
            )
        self.objective, self.upper_scores = objective, upper_scores
        self.row_of: Mapping[str, int] = {sample_id: row for row, sample_id in enumerate(sample_ids)}
        self.task_loss, self.score, self.shapley, self.permutations = task_loss, score, shapley, permutations
        self.reduce, self.seed, self.calls = reduce, seed, 0
        self.exact_when_cheaper = exact_when_cheaper
        self.world = world
        self.last_phi_sum: Tensor | None = None

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        present, target = batch.present, batch.target
        h = model.encode(batch.inputs, present, batch.lengths, batch.extras)
        task = self.task_loss(model.predict(h, present), target).mean()
        switches = self.objective.switches
        pairs = subset_pairs(present) if self.objective.needs_pairs or self.objective.needs_factor_b else None
        completed = pair_prediction = None
        if pairs is not None:
            completed = model.complete(h.index_select(0, pairs.sample_index), pairs.keep)
            pair_prediction = model.head(completed)
        b = None
        logs: dict[str, float] = {}
        if self.objective.needs_factor_b:
            assert pairs is not None
            assert pair_prediction is not None
            phi = self._shapley(model, h.detach(), batch, pairs, pair_prediction)
            rows = torch.tensor([self.row_of[i] for i in batch.ids], device=self.upper_scores.device)
            upper = self.upper_scores.index_select(0, rows).to(present.device)
            stats = [self.reduce(s) for s in capability_statistics(upper, phi, present)]
            b = factor_b(*stats)
            self.last_phi_sum = stats[1]
            logs.update({f"B_{m}": float(v) for m, v in zip(model.modalities, b.tolist(), strict=True)})
            logs.update({f"U_{m}": float(v) for m, v in zip(model.modalities, stats[0].tolist(), strict=True)})
            logs.update({f"phi_{m}": float(v) for m, v in zip(model.modalities, stats[1].tolist(), strict=True)})
        unimodal = None
        if switches.single:
            unimodal = torch.stack([self.task_loss(model.unimodal(h, m), target) for m in range(h.shape[1])], 1)
        pair_losses = None
        if switches.sub:
            assert pairs is not None
            assert pair_prediction is not None
            pair_losses = self.task_loss(pair_prediction, target.index_select(0, pairs.sample_index))
        pair_weights = None
        if pairs is not None and self.world > 1:
            counts = self.reduce(subset_row_counts(pairs))
            pair_weights = subset_pair_weights(pairs, counts, scale=float(self.world))
        terms = self.objective(
            pair_weights=pair_weights,
            task=task,
            present=present,
            factor_b=b,
            unimodal_losses=unimodal,
            pairs=pairs,
            pair_losses=pair_losses,
            reconstructed=model.reconstruction_view(completed) if switches.aux and completed is not None else None,
            features=model.reconstruction_view(h) if switches.aux else None,
        )
        logs.update(
            {k: float(v.detach()) for k, v in (("single", terms.single), ("sub", terms.sub), ("aux", terms.aux))}
        )
        return terms.total, logs

    @torch.no_grad()
    def _shapley(self, model: MultiModalNet, h: Tensor, batch: Any, pairs: SubsetPairs, prediction: Tensor) -> Tensor:
        """``Float64[N, M]``: each sample's Shapley values of its fused head's score (Eq. 5), in eval mode."""
        if model.training and mode_dependent(model):
            with evaluation_mode(model):
                return self._shapley(
                    model, h, batch, pairs, model.predict(h.index_select(0, pairs.sample_index), pairs.keep)
                )
        present, target = batch.present, batch.target
        n, m = present.shape
        if self.shapley == "exact":
            bits = 1 << torch.arange(m, device=present.device)
            table = torch.zeros(n, 2**m, dtype=torch.float64, device=present.device)
            codes = (pairs.keep.long() * bits).sum(1)
            values = self.score(prediction.detach(), target.index_select(0, pairs.sample_index)).double()
            table[pairs.sample_index, codes] = values

            def lookup(samples: Tensor, coalitions: Tensor) -> Tensor:
                return table[samples, (coalitions.long() * bits).sum(1)]

            game = mce_shapley.RowGame(lookup, n, device=present.device)
            return mce_shapley.exact(game, m, available=present).values

        def evaluate(samples: Tensor, coalitions: Tensor) -> Tensor:
            keep = coalitions & present.index_select(0, samples)
            out = self.score(model.predict(h.index_select(0, samples), keep), target.index_select(0, samples))
            return torch.where(keep.any(1), out.double(), torch.zeros_like(out, dtype=torch.float64))

        self.calls += 1
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.calls)
        result = mce_shapley.permutation(
            mce_shapley.RowGame(evaluate, n, device=present.device),
            m,
            available=present,
            n_permutations=self.permutations,
            generator=generator,
            exact_when_cheaper=self.exact_when_cheaper,
        )
        return result.values

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = int(state["calls"])
