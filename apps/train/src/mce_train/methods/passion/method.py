"""PASSION (Shi, Shang, Sun, Yu, Yang, Yan, ACM MM 2024): preference-aware self-distillation under imbalanced
missing rates.

From the official code (Jun-Jie-Shi/PASSION: ``code/train.py``, ``code/models/mmformer.py``,
``code/utils/criterions.py``, ``code/options.py``, ``code/scripts/train.sh``; backbone mmFormer, IDT setting):

* **Teacher and students.** The teacher is the fused prediction from the sample's own modalities (detached). The
  student of modality ``m`` is the same fused network run on ``m`` alone (``fuse_pred_flair`` etc.: the fusion
  transformer and decoder on a mask keeping only ``m``), for the samples that have ``m``.
* **Pixel-wise self-distillation** ``KL_m``: ``T² · mean p_t (log p_t - log p_s)`` of the softened maps
  (``temp_kl_loss_bs``, ``T = 4``: ``--temp 4``).
* **Semantic-wise self-distillation** ``P_m``: per sample, class prototypes (class means of the decoder's last
  feature map over the voxels of each class) of student and teacher; each voxel's cosine similarity to each
  prototype; ``P`` the mean squared gap between the two similarity maps, ``d`` the mean absolute gap
  (``prototype_passion_loss_bs``).
* **Relative preference.** Per step ``rp_iter_m = Σ_b mask_bm (d_bm / d̄_b - 1)``; per epoch ``rp_epoch_m =
  (D̄ - D_m) / D̄`` from ``D_m``, the mean ``d`` over the epoch's samples with ``m``.
* **Task-wise regularisation** ``β``: after each epoch ``β ← 2β'/||β'||``, ``β' = clamp(β - η·rp_epoch, 0.1, 4)``;
  ``η = 0.01``, times 1.5 at epochs 0, 100, 200 of 300 (``eta``, ``eta_ext``, ``epoch % 100 == 0``).
* **Gradient-wise regularisation** ``rp_mask_m = rp_iter_m > 0``: the unimodal task loss and the semantic term
  of ``m`` pass gradients only in steps where ``m`` trails (the official code has no gradient modulation after
  backward: this mask on the loss is all of it, so ``after_backward`` is not needed).
* **Missing-rate weights** ``w_m = iter_per_epoch / n_m`` (``modal_weight``; ``n_m`` samples have ``m``).
* Loss: ``L_fuse + Σ_m rp_mask_m β_m w_m L_sep^m + 0.5 Σ_m β_m w_m KL_m + 0.1 Σ_m rp_mask_m w_m P_m``, the per
  modality terms summed over the batch's samples that have ``m``; ``L_sep^m`` the task loss of the unimodal
  decoder (``decoder_sep``). Before ``--region_fusion_start_epoch`` (0 in ``train.sh``) only ``Σ β w L_sep``.

Beyond the paper (ours):

* The network is the benchmark's own (``context.network()``): the student is ``model.predict(h, only m)`` (its
  completion module fills the other slots, as at evaluation), ``L_sep^m`` uses its unimodal head ``f_dec^m``,
  the features are the input of the head's last layer (:mod:`~mce_train.methods.passion.branches`). mmFormer's
  deep supervision (``prm_loss`` and the KL on its four side outputs) belongs to its decoder, which has no side
  outputs here: left out, as for every method.
* Per-sample sums become batch means (``w_m = N / n_m`` with ``1/B Σ_b``): at the official batch size 1 they
  are the same; ``√M`` replaces the ``2`` of ``2β/||β||`` (``M = 4``: the same; unit weights stay fixed).
* Epoch schedules are fractions of the run's epochs (``η`` grows every third, warm-up none), so they mean the
  same at every benchmark's length.
* Vector tasks (AVMNIST, IEMOCAP): the pixel-wise term is the per-sample KL of the class distributions; the
  semantic term uses prototypes over the batch's samples with ``m`` (a single vector's own class mean is itself):
  each sample's similarity to every class prototype of the batch, student against teacher. nuScenes: the
  binary logit ``z`` is the two classes ``(0, z)``; ignored cells are left out of both terms.
* Each branch is its own call of the head, as in the official code; a head with batch norm (IEMOCAP, nuScenes)
  thus updates its running statistics once per branch, on that branch's rows.
* A sample whose distances are all zero (a single modality: student = teacher) adds nothing to ``rp_iter``;
  the official division gives NaN there, which turns every ``rp_mask`` of that step off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample, identity
from mce_train.methods.passion.branches import branch, final_layer
from mce_train.methods.passion.terms import (
    class_logits,
    epoch_preference,
    pixel_distillation,
    semantic_distillation,
    step_preference,
    update_weights,
    valid_locations,
)
from mce_train.methods.pmr.prototypes import class_weights
from mce_train.network import MultiModalNet
from mce_train.schedule import steps_per_epoch

SOURCE = "Jun-Jie-Shi/PASSION code/train.py"


@register_method(
    "passion",
    paper="PASSION: Shi et al., ACM MM 2024 (balanced self-distillation, imbalanced missing rates)",
    benchmarks=("brats", "avmnist", "iemocap", "nuscenes"),
)
class PASSION(Method):
    """The fused task loss plus preference-weighted unimodal, pixel-wise and semantic-wise terms.

    Args:
        modalities: the modality names; task_loss: the benchmark's per-sample loss.
        counts: ``n_m``, the training samples with each modality (``Float[M]``); n_samples: ``N``.
        temperature, kl_weight, proto_weight: ``T`` and the weights of the pixel-wise and semantic-wise terms.
        eta, eta_growth, eta_every: ``η``, its factor and the epochs between its growths (from epoch 0).
        warmup_epochs: epochs with the unimodal task loss alone.
    """

    options = (
        Option("--passion-temperature", "PASSION: distillation temperature T", type=float, default=4.0,
               source="Jun-Jie-Shi/PASSION code/scripts/train.sh and options.py: --temp 4"),
        Option("--passion-kl-weight", "PASSION: weight of the pixel-wise distillation", type=float, default=0.5,
               source=f"{SOURCE}: kl_loss * 0.5"),
        Option("--passion-proto-weight", "PASSION: weight of the semantic-wise distillation", type=float,
               default=0.1, source=f"{SOURCE}: proto_loss * 0.1"),
        Option("--passion-eta", "PASSION: step of the task-wise weights", type=float, default=0.01,
               source=f"{SOURCE}: eta = 0.01"),
        Option("--passion-eta-growth", "PASSION: factor of eta at each growth", type=float, default=1.5,
               source=f"{SOURCE}: eta_ext = 1.5"),
        Option("--passion-eta-every", "PASSION: fraction of the epochs between growths of eta", type=float,
               default=1 / 3, source=f"{SOURCE}: epoch % 100 == 0 of --num_epochs 300"),
        Option("--passion-warmup", "PASSION: fraction of the epochs with the unimodal loss alone", type=float,
               default=0.0, source="Jun-Jie-Shi/PASSION code/scripts/train.sh: --region_fusion_start_epoch 0"),
    )  # fmt: skip

    def __init__(
        self,
        modalities: tuple[str, ...],
        *,
        task_loss: PerSample,
        counts: Tensor,
        n_samples: int,
        temperature: float = 4.0,
        kl_weight: float = 0.5,
        proto_weight: float = 0.1,
        eta: float = 0.01,
        eta_growth: float = 1.5,
        eta_every: int = 1,
        warmup_epochs: int = 0,
        reduce: Callable[[Tensor], Tensor] = identity,
    ) -> None:
        self.modalities, self.task_loss, self.reduce = modalities, task_loss, reduce
        self.counts, self.n_samples = counts.float(), n_samples
        self.temperature, self.kl_weight, self.proto_weight = temperature, kl_weight, proto_weight
        self.initial_eta, self.eta_growth, self.eta_every = eta, eta_growth, max(1, eta_every)
        self.warmup_epochs = warmup_epochs
        m = len(modalities)
        self.eta, self.beta, self.epoch = eta, torch.ones(m), 0
        self.distance_sum, self.steps_in_epoch = torch.zeros(m), 0
        self.history: list[list[float]] = []

    @property
    def missing_weights(self) -> Tensor:
        """``Float[M]``: ``w_m = N / n_m`` (official ``modal_weight = iter_per_epoch / modal_num`` at batch 1)."""
        return torch.where(self.counts > 0, self.n_samples / self.counts.clamp_min(1.0), torch.zeros_like(self.counts))

    @classmethod
    def check(cls, options: Any) -> None:
        for key in ("passion_eta_every", "passion_warmup"):
            if not 0.0 <= float(options[key]) <= 1.0:
                raise ValueError(f"--{key.replace('_', '-')} must be a fraction in [0, 1]; got {options[key]}")
        if float(options["passion_temperature"]) <= 0:
            raise ValueError(f"--passion-temperature must be positive; got {options['passion_temperature']}")

    @classmethod
    def create(cls, context: MethodContext) -> PASSION:
        options, schedule = context.options, context.schedule
        per_epoch = steps_per_epoch(len(context.train), schedule.batch_size)
        epochs = math.ceil(schedule.steps / per_epoch)
        present = context.mask.present
        return cls(
            context.bench.modalities,
            task_loss=context.bench.task_loss,
            counts=present.sum(0),
            n_samples=int(present.shape[0]),
            temperature=float(options["passion_temperature"]),
            kl_weight=float(options["passion_kl_weight"]),
            proto_weight=float(options["passion_proto_weight"]),
            eta=float(options["passion_eta"]),
            eta_growth=float(options["passion_eta_growth"]),
            eta_every=round(float(options["passion_eta_every"]) * epochs),
            warmup_epochs=round(float(options["passion_warmup"]) * epochs),
            reduce=context.distributed.all_reduce_sum,
        )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "weights": [self.kl_weight, self.proto_weight],
            "eta": [self.initial_eta, self.eta_growth, self.eta_every],
            "warmup_epochs": self.warmup_epochs,
            "counts": [self.n_samples, *self.counts.tolist()],
        }

    def on_epoch_start(self, model: MultiModalNet, epoch: int) -> None:
        """Close the finished epoch: after the warm-up its relative preference moves ``β``."""
        del model
        if self.steps_in_epoch > 0:
            finished = epoch - 1
            if finished >= self.warmup_epochs:
                if finished % self.eta_every == 0:
                    self.eta *= self.eta_growth
                defined = self.counts > 0
                mean = self.distance_sum / self.counts.clamp_min(1.0)  # D_m (official: epoch_dist_m)
                self.beta = update_weights(self.beta, epoch_preference(mean, defined), self.eta)
            self.history.append(self.beta.tolist())
        self.epoch, self.distance_sum, self.steps_in_epoch = epoch, torch.zeros_like(self.beta), 0

    def terms(self, model: MultiModalNet, batch: Any) -> dict[str, Tensor]:
        """The step's terms: ``fused`` (scalar), per modality ``sep``, ``kl``, ``proto`` (``Float[M]``, sums over
        the batch's samples with ``m`` divided by the batch size ``B``) and ``distance`` (``Float[B, M]``, detached,
        0 where absent)."""
        layer = final_layer(model.head)
        h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
        prediction, features = branch(model, layer, h, batch.present)
        fused = self.task_loss(prediction, batch.target).mean()
        teacher, teacher_features = prediction.detach(), features.detach()
        n, m_count = batch.present.shape
        weights = class_weights(batch.target, class_logits(teacher[:1]).shape[1], tuple(teacher_features.shape[2:]))
        valid = valid_locations(batch.target)
        zero = h.new_zeros((), dtype=torch.float32)
        sep, kl, proto = [zero] * m_count, [zero] * m_count, [zero] * m_count
        distance = torch.zeros(n, m_count, device=h.device)
        for m in range(m_count):
            rows = batch.present[:, m].nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            hm = h.index_select(0, rows)
            only = torch.zeros_like(batch.present.index_select(0, rows))
            only[:, m] = True
            student, student_features = branch(model, layer, hm, only)
            pixel = pixel_distillation(
                student, teacher.index_select(0, rows), valid.index_select(0, rows), self.temperature
            )
            semantic, gap = semantic_distillation(
                student_features, teacher_features.index_select(0, rows), weights.index_select(0, rows)
            )
            unimodal = self.task_loss(model.unimodal(hm, m), batch.target.index_select(0, rows))
            sep[m], kl[m], proto[m] = unimodal.float().sum() / n, pixel.sum() / n, semantic.sum() / n
            distance[rows, m] = gap.detach()
        return {
            "fused": fused,
            "sep": torch.stack(sep),
            "kl": torch.stack(kl),
            "proto": torch.stack(proto),
            "distance": distance,
        }

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        terms = self.terms(model, batch)
        distance = terms["distance"]
        stats = self.reduce(torch.stack([step_preference(distance, batch.present), (distance * batch.present).sum(0)]))
        self.distance_sum = self.distance_sum + stats[1].cpu()
        self.steps_in_epoch += 1
        device = terms["fused"].device
        beta, w = self.beta.to(device), self.missing_weights.to(device)
        if self.epoch < self.warmup_epochs:  # official warm-up: the unimodal decoders alone, no rp_mask
            trails = torch.ones_like(beta, dtype=torch.bool)
            loss = (beta * w * terms["sep"]).sum()
        else:
            trails = stats[0].to(device) > 0  # rp_mask: the gradient-wise regularisation
            gate = trails.to(beta.dtype)
            loss = (
                terms["fused"]
                + (gate * beta * w * terms["sep"]).sum()
                + self.kl_weight * (beta * w * terms["kl"]).sum()
                + self.proto_weight * (gate * w * terms["proto"]).sum()
            )
        logs = {name: float(terms[name].detach().sum()) for name in ("fused", "sep", "kl", "proto")}
        for m, name in enumerate(self.modalities):
            logs[f"beta_{name}"] = float(self.beta[m])
            logs[f"trails_{name}"] = float(trails[m])
        return loss, logs

    def summary(self) -> dict[str, Any]:
        """The task-wise weights after each epoch (``passion_beta.per_epoch``, modality order ``modalities``)."""
        return {"passion_beta": {"modalities": list(self.modalities), "per_epoch": self.history}}

    def state_dict(self) -> dict[str, Any]:
        return {
            "eta": self.eta,
            "beta": self.beta.clone(),
            "epoch": self.epoch,
            "distance_sum": self.distance_sum.clone(),
            "steps_in_epoch": self.steps_in_epoch,
            "history": [list(row) for row in self.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.eta, self.beta, self.epoch = float(state["eta"]), state["beta"].clone(), int(state["epoch"])
        self.distance_sum, self.steps_in_epoch = state["distance_sum"].clone(), int(state["steps_in_epoch"])
        self.history = [list(row) for row in state["history"]]
