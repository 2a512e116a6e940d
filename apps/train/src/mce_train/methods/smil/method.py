"""SMIL (Ma, Ren, Zhao, Tulyakov, Wu, Peng, AAAI 2021): Bayesian meta-learning for severely missing modalities.

Read from the official code (mengmenm/SMIL: ``src/run_experiment.sh``, ``src/train_missing_eval_missing.py``,
``src/get_sound_mean_kmean.py``, ``src/models/soundlenet5.py``, ``src/models/newencoder.py``,
``src/models/loss.py``); the paper's full text was not at hand, so the code decides every detail:

* **Modality priors**: ``K = 10`` K-means centroids of the audio features of the full-modality training samples
  (``--n_clusters 10``), from a model pretrained on those samples, fixed during meta-training
  (:mod:`~mce_train.methods.smil.priors`).
* **Reconstruction** and **feature regularisation** (Bayesian: perturbations ``softplus(μ + ε)``, ``ε ~ N(0, I)``
  in the meta-train pass, ``softplus(μ)`` elsewhere): :mod:`~mce_train.methods.smil.network`. The code has no
  KL term (``KDLossAlignTwo`` is CE plus two feature MSEs), so none is added here.
* **Meta-learning**: one second-order inner step of lr ``α_t = 1e-3 · 0.1^⌊t / 1000⌋`` over 8000 iterations
  (``--lr_inner 1e-3``, ``--inner_loop 1``, ``--iterations 8000``) on the missing-modality batch, the outer
  loss on the full-modality batch through the adapted weights, feature-MSE weights 0.01 and 0.01:
  :mod:`~mce_train.methods.smil.meta` (also how it maps onto the trainer's single optimiser). Outer
  Adam lr 1e-3, weight decay 1e-4 are the AVMNIST recipe's own values.

Beyond the paper (ours):

* **Any modality missing**: each modality ``m`` has its own priors (K-means of ``m``'s features over the
  training samples that have ``m``) and reconstruction head ``fc0^m`` reading what the sample has
  (``[h ⊙ keep; keep]``); for AVMNIST's audio this is the official network (network module docstring).
  Meta-train samples are the batch's incomplete samples with their own modalities; meta-validation
  samples are its complete ones, each dropping the modalities of a presence pattern drawn (global
  generator) with the frequencies of the training mask's incomplete patterns (for ``--protocol fig7``
  always the audio, as in the code); with no incomplete training sample, uniformly over the proper subsets.
* **The trainer's schedule and data**: every method trains from the same initial weights with the same batches,
  so there is no pretraining stage; the priors follow the jointly trained encoders instead, recomputed at
  every epoch start in evaluation mode over the training set; from the second pass on, K-means starts from the
  previous centroids so prior ``k`` stays the same cluster (``fc0``'s weights keep their meaning). The official
  batches (64 missing + 64 full samples per iteration) become the recipe's batch split by completeness; a
  part with fewer than 2 samples under batch norm (IEMOCAP's head) is skipped that step. The inner-lr decay is a
  fraction of the steps (1000/8000), as the other methods' windows are. Every encoder and the fusion head are
  adapted in the inner step (the code's audio branch gets no gradient there anyway); the code's
  frozen-then-unfrozen audio extractor (``extractor_grad=False``, then ``requires_grad = True`` in
  ``meta_training``) is simply trained.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample
from mce_train.methods.smil.meta import meta_loss
from mce_train.methods.smil.network import SMILNet, build_smil
from mce_train.methods.smil.priors import kmeans
from mce_train.network import MultiModalNet, evaluation_mode

CODE = "mengmenm/SMIL src/train_missing_eval_missing.py"
ORDERS = ("second", "first")


def incomplete_patterns(present: Tensor) -> tuple[Tensor, Tensor]:
    """``(patterns: Bool[P, M], counts: Float[P])``: the incomplete presence patterns of a training mask
    (``Bool[N, M]``) and how many rows have each; every non-empty proper subset, once each, if there are none."""
    incomplete = present[~present.all(1)]
    if incomplete.shape[0]:
        patterns, counts = torch.unique(incomplete, dim=0, return_counts=True)
        return patterns, counts.to(torch.float32)
    m = present.shape[1]
    rows = [[i in combo for i in range(m)] for size in range(1, m) for combo in itertools.combinations(range(m), size)]
    patterns = torch.tensor(rows, dtype=torch.bool).reshape(len(rows), m)
    return patterns, torch.ones(len(rows))


@register_method(
    "smil",
    paper="SMIL: Ma et al., AAAI 2021 (Bayesian meta-learning for severely missing modality)",
    benchmarks=("avmnist", "iemocap"),
)
class SMIL(Method):
    """Prior-based reconstruction, perturbation regularisers and the meta-train / meta-validation loss.

    Args:
        patterns, counts: :func:`incomplete_patterns` of the training mask.
        task_loss: the benchmark's per-sample loss.
        passes: ``() -> iterable of batches`` over the training set (the prior passes).
        seed: seeds K-means (with the epoch and the modality).
    """

    options = (
        Option("--smil-priors", "SMIL: priors (K-means clusters) per modality", type=int, default=10,
               source="mengmenm/SMIL src/get_sound_mean_kmean.py: --n_clusters 10"),
        Option("--smil-inner-lr", "SMIL: inner-step learning rate", type=float, default=1e-3,
               source=f"{CODE}: --lr_inner 1e-3"),
        Option("--smil-inner-steps", "SMIL: inner steps per training step", type=int, default=1,
               source=f"{CODE}: --inner_loop 1"),
        Option("--smil-inner-decay", "SMIL: fraction of the steps between tenfold inner-lr decays", type=float,
               default=1000 / 8000, source=f"{CODE}: lr_inner * 0.1 ** (iterate // 1000), --iterations 8000"),
        Option("--smil-fused-weight", "SMIL: weight of the fused-feature MSE", type=float, default=0.01,
               source=f"{CODE}: KDLossAlignTwo(alpha=0.01)"),
        Option("--smil-hidden-weight", "SMIL: weight of the hidden-feature MSE", type=float, default=0.01,
               source=f"{CODE}: KDLossAlignTwo(beta=0.01)"),
        Option("--smil-order", "SMIL: second-order inner step (official) or first-order", default="second",
               choices=ORDERS, source=f"{CODE}: torch.autograd.grad(..., create_graph=True)"),
    )  # fmt: skip

    def __init__(
        self,
        patterns: Tensor,
        counts: Tensor,
        *,
        task_loss: PerSample,
        n_priors: int = 10,
        inner_lr: float = 1e-3,
        inner_steps: int = 1,
        decay_steps: int = 0,
        fused_weight: float = 0.01,
        hidden_weight: float = 0.01,
        order: str = "second",
        passes: Callable[[], Iterable[Any]] | None = None,
        seed: int = 0,
    ) -> None:
        self.patterns, self.counts, self.task_loss = patterns, counts, task_loss
        self.n_priors, self.inner_lr, self.inner_steps, self.decay_steps = n_priors, inner_lr, inner_steps, decay_steps
        self.fused_weight, self.hidden_weight, self.order = fused_weight, hidden_weight, order
        self.passes, self.seed = passes, seed
        self.steps = 0

    @classmethod
    def check(cls, options: Any) -> None:
        for key in ("smil_priors", "smil_inner_steps"):
            if int(options[key]) < 1:
                raise ValueError(f"--{key.replace('_', '-')} must be >= 1; got {options[key]}")
        if not 0.0 < float(options["smil_inner_decay"]) <= 1.0:
            raise ValueError(f"--smil-inner-decay must be a fraction in (0, 1]; got {options['smil_inner_decay']}")

    @classmethod
    def create(cls, context: MethodContext) -> SMIL:
        options = context.options
        patterns, counts = incomplete_patterns(context.mask.present)

        def passes() -> Iterable[Any]:
            for batch in context.loader(context.train):
                yield batch.to(context.device)

        return cls(
            patterns,
            counts,
            task_loss=context.bench.task_loss,
            n_priors=int(options["smil_priors"]),
            inner_lr=float(options["smil_inner_lr"]),
            inner_steps=int(options["smil_inner_steps"]),
            decay_steps=max(1, round(float(options["smil_inner_decay"]) * context.schedule.steps)),
            fused_weight=float(options["smil_fused_weight"]),
            hidden_weight=float(options["smil_hidden_weight"]),
            order=str(options["smil_order"]),
            passes=passes,
            seed=context.seed,
        )

    def build(self, context: MethodContext) -> MultiModalNet:
        return build_smil(context.network(), self.n_priors)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "priors": self.n_priors,
            "inner": [self.inner_lr, self.inner_steps, self.decay_steps, self.order],
            "weights": [self.fused_weight, self.hidden_weight],
        }

    def inner_lr_at(self, step: int) -> float:
        """``α_t = α · 0.1^⌊t / decay_steps⌋`` (official: every 1000 of 8000 iterations)."""
        return self.inner_lr * 0.1 ** (step // max(1, self.decay_steps))

    def keep_for(self, n: int) -> Tensor:
        """``Bool[n, M]``: a drawn incomplete pattern per meta-validation sample (the global generator)."""
        return self.patterns[torch.multinomial(self.counts, n, replacement=True)]

    @torch.no_grad()
    def update_priors(self, model: SMILNet, batches: Iterable[Any], epoch: int) -> None:
        """K-means of each modality's features over ``batches`` (evaluation mode), from the previous priors if any."""
        completion = model.smil()
        features: list[list[Tensor]] = [[] for _ in model.modalities]
        with torch.random.fork_rng(devices=[]), evaluation_mode(model):  # the loader must not move the global RNG
            for batch in batches:
                h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
                for m in range(len(model.modalities)):
                    features[m].append(h[batch.present[:, m], m].float().cpu())
        priors, defined = completion.priors, completion.defined
        for m, chunks in enumerate(features):
            x = torch.cat(chunks) if chunks else torch.empty(0)
            if x.shape[0] == 0:
                continue
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 31 + m)
            init = priors[m].float().cpu() if bool(defined[m]) else None
            priors[m] = kmeans(x, self.n_priors, generator=generator, init=init).to(priors.device, priors.dtype)
            defined[m] = True

    def on_epoch_start(self, model: MultiModalNet, epoch: int) -> None:
        if self.passes is not None and isinstance(model, SMILNet):
            self.update_priors(model, self.passes(), epoch)

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        if not isinstance(model, SMILNet):
            raise TypeError(f"SMIL trains a SMILNet (its build()); got {type(model).__name__}")
        lr = self.inner_lr_at(self.steps)
        self.steps += 1
        return meta_loss(
            model,
            batch,
            task_loss=self.task_loss,
            keep_for=self.keep_for,
            lr=lr,
            steps=self.inner_steps,
            second_order=self.order == "second",
            fused_weight=self.fused_weight,
            hidden_weight=self.hidden_weight,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
