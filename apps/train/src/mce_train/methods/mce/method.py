"""MCE (Zhao, Zhang, Zou, Pattern Recognition 2025): the training step of Eq. 14 over the benchmark's network.

One step runs the encoders once, then one batched forward of the completion module and the fused
head over every feasible (sample, modality subset) pair of the batch. That pair batch serves three
terms at once:

* ``L_sub`` (Eq. 11): the loss of each pair's prediction;
* ``L_aux`` (Eq. 13): each pair's completed features against the real ones at its dropped slots;
* the Shapley values of Eq. 5 (:mod:`~mce_train.methods.mce.shapley`): each pair's per-sample score
  is the coalition value ``v_n(S)``, so exact Shapley costs no extra forward.

Factor B (Eq. 8) comes from sums over the batch (``U``, ``phi``, counts), passed through
``reduce`` so a distributed run all-reduces them and B means the same as on one process. ``U`` (Eq.
6) comes from frozen unimodal models trained once per seed in :meth:`MCE.prepare`
(:mod:`~mce_train.methods.mce.upper_bounds`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mce_losses import (
    ABLATION_ROWS,
    MCEObjective,
    capability_statistics,
    factor_a,
    factor_b,
    subset_pair_weights,
    subset_pairs,
    subset_row_counts,
)
from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample, identity
from mce_train.methods.mce.shapley import ESTIMATORS, batch_shapley
from mce_train.methods.mce.trace import FactorBTrace
from mce_train.methods.mce.upper_bounds import context_upper_bounds
from mce_train.network import MultiModalNet


def lambdas(text: str) -> tuple[float, float, float]:
    """``"1,2,1"`` -> ``(1.0, 2.0, 1.0)``: Eq. 14's (lambda_single, lambda_sub, lambda_aux), each >= 0."""
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(not v >= 0 for v in values):
        raise ValueError(f"--lambdas must be three non-negative numbers single,sub,aux like 1,2,1; got {text!r}")
    return values[0], values[1], values[2]


@register_method(
    "mce",
    paper="MCE: Zhao, Zhang, Zou, Pattern Recognition 2025",
    benchmarks=("avmnist", "iemocap", "brats", "nuscenes"),
)
class MCE(Method):
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

    options = (
        Option(
            "--ablation",
            "MCE's terms as the paper's Table 2 row a to m (m: full MCE)",
            default="m",
            choices=tuple(ABLATION_ROWS),
            source="MCE paper, Table 2 (m: full MCE)",
        ),
        Option(
            "--shapley",
            "MCE's Shapley values: exact (from the pair batch) or permutation (Monte Carlo)",
            default="exact",
            choices=ESTIMATORS,
        ),
        Option(
            "--permutations", "MCE's Monte Carlo budget per sample (--shapley permutation; even)", type=int, default=200
        ),
        Option(
            "--lambdas",
            "MCE's loss weights single,sub,aux (Eq. 14)",
            type=lambdas,
            default=(1.0, 1.0, 1.0),
            source="ours: unit weights where the benchmark's recipe sets none",
        ),
        Option(
            "--a-normalisation",
            "MCE's factor A (Eq. 3): divided by its mean (Sec. 3.2.1) or as written (none)",
            default="mean",
            choices=("mean", "none"),
            source="MCE paper, Sec. 3.2.1: normalised by its mean",
        ),
    )

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> None:
        weights = options["lambdas"]
        if len(weights) != 3 or not all(isinstance(w, (int, float)) and w >= 0 for w in weights):
            raise ValueError(f"mce.lambdas must be three non-negative numbers (single, sub, aux); got {weights!r}")
        if options["shapley"] == "permutation" and (options["permutations"] < 2 or options["permutations"] % 2):
            raise ValueError(f"--permutations must be even and >= 2 (antithetic pairs); got {options['permutations']}")

    @classmethod
    def create(cls, context: MethodContext) -> MCE:
        """Factor A of the seed's training mask; the ablation row's switches; the benchmark's loss weights.

        Factor A is divided by its mean by default: Eq. 3 defines ``A_m = N / count_m`` and Sec. 3.2.1
        normalises it "for example, by its mean" before use, so the weights average to 1 and the
        overall loss scale is unchanged; ``--a-normalisation none`` gives Eq. 3 as written, which is
        what the official code applies (``1 / (1 - r_m)``).
        """
        options = context.options
        switches = ABLATION_ROWS[options["ablation"]]
        single, sub, aux = (float(w) for w in options["lambdas"])
        a = factor_a(context.mask.present, normalize=options["a_normalisation"]) if switches.a else None
        objective = MCEObjective(a, switches, lambda_single=single, lambda_sub=sub, lambda_aux=aux)
        method = cls(
            objective,
            None,
            context.mask.sample_ids,
            task_loss=context.bench.task_loss,
            score=context.bench.score,
            shapley=options["shapley"],
            permutations=options["permutations"],
            reduce=context.distributed.all_reduce_sum,
            seed=context.seed,
            world=context.distributed.world,
        )
        method.trace_file = context.run_dir / "factor_b.csv" if context.distributed.main else None
        return method

    def prepare(self, context: MethodContext) -> None:
        """Train (or load from the cache) the frozen unimodal models behind U (Eq. 6), when factor B needs them."""
        if self.objective.needs_factor_b:
            self.set_upper_scores(context_upper_bounds(context))

    def fingerprint(self) -> dict[str, Any]:
        objective = self.objective
        return {
            "switches": repr(objective.switches),
            "shapley": [self.shapley, self.permutations],
            "lambdas": [objective.lambda_single, objective.lambda_sub, objective.lambda_aux],
            "factor_a": None if objective.factor_a is None else objective.factor_a.tolist(),
        }

    def __init__(
        self,
        objective: MCEObjective,
        upper_scores: Tensor | None,
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
        self.objective = objective
        self.row_of: Mapping[str, int] = {sample_id: row for row, sample_id in enumerate(sample_ids)}
        self.upper_scores = torch.zeros(0)
        if upper_scores is not None:
            self.set_upper_scores(upper_scores)
        self.task_loss, self.score, self.shapley, self.permutations = task_loss, score, shapley, permutations
        self.reduce, self.seed, self.calls = reduce, seed, 0
        self.exact_when_cheaper = exact_when_cheaper
        self.world = world
        self.last_phi_sum: Tensor | None = None
        self.steps = 0
        self.trace: FactorBTrace | None = None
        self.trace_file: Path | None = None

    def set_upper_scores(self, upper_scores: Tensor) -> None:
        """``Float[N_train, M]``, the frozen unimodal models' scores (Eq. 6), rows in ``sample_ids`` order."""
        if upper_scores.shape[0] != len(self.row_of):
            raise ValueError(
                f"upper_scores needs one row per training sample ({len(self.row_of)}); got {upper_scores.shape[0]}"
            )
        self.upper_scores = upper_scores

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
            if self.upper_scores.numel() == 0:
                raise RuntimeError("factor B needs the unimodal models' scores: call prepare() or set_upper_scores()")
            assert pairs is not None
            assert pair_prediction is not None
            if self.shapley == "permutation":
                self.calls += 1
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.calls)
            phi = batch_shapley(
                model,
                h.detach(),
                batch,
                pairs,
                pair_prediction,
                score=self.score,
                estimator=self.shapley,
                permutations=self.permutations,
                generator=generator,
                exact_when_cheaper=self.exact_when_cheaper,
            )
            rows = torch.tensor([self.row_of[i] for i in batch.ids], device=self.upper_scores.device)
            upper = self.upper_scores.index_select(0, rows).to(present.device)
            stats = [self.reduce(s) for s in capability_statistics(upper, phi, present)]
            b = factor_b(*stats)
            self.last_phi_sum = stats[1]
            if self.trace is None:
                self.trace = FactorBTrace(model.modalities)
            self.trace.add(
                self.steps + 1, b=b.tolist(), upper=stats[0].tolist(), phi=stats[1].tolist(), number=stats[2].tolist()
            )
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
        self.steps += 1
        return terms.total, logs

    def on_epoch_start(self, model: MultiModalNet, epoch: int) -> None:
        """Close the previous epoch's factor-B record (and rewrite ``factor_b.csv`` in the run folder)."""
        if self.trace is not None and epoch > 0:
            self.trace.close_epoch(epoch - 1)
            if self.trace_file is not None:
                self.trace.write(self.trace_file)

    def summary(self) -> dict[str, Any]:
        """Factor B per modality and epoch, and the first step each ``B_m`` fell below 0.01."""
        if self.trace is None:
            return {}
        last = int(self.trace.records[-1]["epoch"]) + 1 if self.trace.records else 0
        self.trace.close_epoch(last)  # the last (possibly partial) epoch
        if self.trace_file is not None:
            self.trace.write(self.trace_file)
        return self.trace.summary()

    def state_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "steps": self.steps,
            "trace": None if self.trace is None else self.trace.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls, self.steps = int(state["calls"]), int(state.get("steps", 0))
        if state.get("trace") is not None:
            self.trace = FactorBTrace(state["trace"]["modalities"])
            self.trace.load_state_dict(state["trace"])
