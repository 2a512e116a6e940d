"""RedCore's training objective: VIB over ``M + 1`` decoders plus the regulated imputation loss.

One step (Sun et al., AAAI 2024, Eqs. 1-3, 9-10, Algorithm 1), trained on incomplete data only
(IDT: the self-modal encoders see the present rows of each modality and nothing else)::

    z̄^m ~ N(μ^m, σ^m²) for present m;  ẑ^m = xenc^m(z̄ of the other present modalities)
    z^m = z̄^m if present else ẑ^m;     z^{M+1} = [z^1; ...; z^M]
    L_VIB = Σ_{m ≤ M} [CE(dec^m(z^m), y) + γ·KL_m] + CE(dec^{M+1}(z^{M+1}), y)
    L^m_MSE = mean over the samples having m of ||z̄^m - ẑ^m||²
    L = L_VIB + Σ_m η^m·L^m_MSE,  η from :class:`mce_losses.SupervisionRegulator` (detached losses)

Trained as the official code trains it (sunjunaimer/RedCore, ``models/redcore_mmin_model.py`` and
``train_miss.py``), where it and the paper differ:

* The VIB weight multiplies the KL, ``CE + γ·KL`` with ``γ = 0.0016``: the code weighs
  ``-Σ(1 + log σ² - μ² - σ²)``, twice the KL, by ``lambda1 = 0.0008`` (model l.243-248), with the
  cross-entropies at weight 1. Eq. 3 as printed puts ``γ = 0.008`` on the log-likelihood
  (``KL + γ·CE``); the 128-d KL then outweighs the task ~100-fold and the representations collapse
  onto the prior (``gamma_on="task"`` gives the printed reading).
* The regulation's step size grows: the code multiplies ``α1`` by 1.5 every 500 iterations, from
  iteration 0 (``etaext``, ``get_opts.py`` l.69; model l.281-282). The code's step acts on a unit-norm
  ``η`` that it then scales by ``mse_weight = 0.15`` (``train_miss.py`` l.77-80); on our ``η`` (norm
  ``ξ2 = 0.15``) the same step is ``0.15 · 0.1 = 0.015`` (:data:`OFFICIAL_REGULATION`; the paper's
  ``α1 = 0.1`` is :data:`PAPER_REGULATION`). The bounds ``ξ1 = 0.015``, ``ξ2 = 0.15``, ``K = 3`` and
  ``β = 0.7`` agree; ``η`` is projected onto ``Γ1`` as the paper's Eq. 9 says (the code clamps at 0.1
  and renormalises, which meets ``ξ1`` only approximately).
* Gradients are clipped to norm 1.0 for each sub-network separately, after the backward (model l.300-301):
  each encoder, each unimodal decoder, the joint decoder and the cross-modal encoders.

Choices, where the paper and the code leave room:

* KL terms: one per present (sample, modality), under that modality's term. The joint
  representation is the concatenation of the modality ones, so its KL would only repeat theirs; the
  imputed ``ẑ`` is deterministic and has none.
* Every modality decoder is trained on every sample, on ``z̄`` or ``ẑ`` (the paper: a missing
  modality gets the joint label), so the cross-modal encoders are supervised by the label too.
* The imputation target ``z̄`` is not detached: both encoders receive the feature supervision.
* A modality absent from the whole (global) batch has no imputation loss that step and does not
  move its moving average (``observed = False``).

Dense maps (BraTS, nuScenes; our adaptation: RedCore's paper and code have vector representations
only). The benchmark's own encoders, completion interface, fusion and decoders are kept, and RedCore
acts where the benchmark's completion module acts, the *latent* part of ``h`` (its
``reconstruction_view``): nuScenes' three BEV maps ``[N, 3, dim, X, Y]``, BraTS' bottleneck maps
``[N, 4, C_L, g, g, g]`` (the flags and the U-Net skips packed beside it pass through untouched).

* VIB per location: a Gaussian head (a ``1 × 1`` convolution, :class:`mce_losses.GaussianHead` on
  each location's channels) gives ``μ`` and ``log σ²`` maps; ``z̄ = μ + ε·σ`` with ``ε`` from the
  method's seeded generator, as for vectors. ``KL_m`` is the per-location KL summed over the
  channels and **averaged over the locations** (:func:`~mce_train.methods.redcore.maps.location_kl`):
  the task losses are means over voxels / cells, so ``γ`` weighs one location's code against the
  task as it weighs one vector against one sample's cross-entropy, at any grid size (training crop
  or whole volume, quick or paper); a sum over 200 × 200 cells would weigh the KL 40,000-fold more.
* Cross-modal reconstruction per location: ``xenc^m`` (the residual autoencoders) runs at each
  location on the other kept modalities' channels there (``1 × 1`` convolutions; no spatial context
  of its own: RedCore's encoders are MLPs). ``L^m_MSE`` is the squared distance summed over the
  channels, averaged over the locations and over the samples having ``m``
  (:func:`~mce_train.methods.redcore.maps.location_squared_error`), so for vectors it is the
  paper's; the relative advantage and :class:`mce_losses.SupervisionRegulator` act on these
  per-modality losses exactly as for vectors (all modalities share ``C`` and the grid, so the
  normalisation does not change the relative advantages).
* Decoders: the joint decoder is the benchmark's fusion head on the completed maps; ``dec^m`` is the
  benchmark's unimodal head (segmentation / BEV) on modality ``m``'s completed map. On BraTS,
  completion is the benchmark's own (``BraTSNet.complete`` with RedCore's imputation in the
  completion slot): a dropped modality's bottleneck is imputed, its skip levels are zero (RedCore
  imputes the representation, not the encoder's intermediate levels), the fusion averages the kept
  modalities' skips, and ``dec^m`` of a dropped modality decodes its imputed bottleneck without skips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from mce_losses import SupervisionRegulator, reparameterize, vib_loss
from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample, identity
from mce_train.methods.redcore.completion import slot_mask
from mce_train.methods.redcore.maps import location_kl, location_squared_error
from mce_train.methods.redcore.network import ENCODERS, RedCoreNet, build_redcore
from mce_train.network import MultiModalNet

PAPER_REGULATION: dict[str, float] = {"p": 2.0, "xi_1": 0.015, "xi_2": 0.15, "period": 3, "alpha_1": 0.1, "beta": 0.7}
"""The paper's supervision-regulation settings (RedCore paper, Implementation Details)."""
OFFICIAL_REGULATION: dict[str, float] = {
    **PAPER_REGULATION,
    "alpha_1": 0.015,  # the code's 0.1 on a unit-norm eta, scaled by mse_weight 0.15 (train_miss.py l.77-80)
    "alpha_growth": 1.5,  # etaext (get_opts.py l.69), applied every 500 iterations (model l.281-282)
    "growth_every": 500,
}
"""The regulation as the official code runs it, on this module's ``η`` scale (see the module docstring)."""
REGULATIONS = {"official": OFFICIAL_REGULATION, "paper": PAPER_REGULATION}
OFFICIAL_GAMMA = 0.0016
"""The KL weight of the official code: ``lambda1 = 0.0008`` on twice the KL (model l.243-248)."""
OFFICIAL_CLIP = 1.0
"""``clip_grad_norm_(·, 1.0)`` per sub-network (model l.300-301)."""


@register_method(
    "redcore",
    paper="RedCore: Sun et al., AAAI 2024",
    benchmarks=("avmnist", "iemocap", "brats", "nuscenes"),
)
class RedCore(Method):
    """The RedCore objective over a :class:`~mce_train.methods.redcore.network.RedCoreNet`.

    Args:
        task_loss: per-sample cross-entropy ``-log q(y | z)``.
        modalities: the modality names (the log keys ``eta_<m>``, ``advantage_<m>``, ``mse_<m>``).
        n_train: training-set size; with it, each step also logs its ``epoch`` (``step //
            (n_train // global batch)``, the trainer's epochs).
        gamma: the VIB coefficient ``γ`` (:data:`OFFICIAL_GAMMA`; the paper's 0.008 sits on the CE).
        gamma_on: ``"kl"`` (``CE + γ·KL``, default, see the module docstring) or ``"task"`` (Eq. 3 as printed).
        regulation: :class:`mce_losses.SupervisionRegulator` settings; default :data:`OFFICIAL_REGULATION`.
        clip: the gradient norm each sub-network is clipped to after the backward (0: no clipping).
        reduce: sums a tensor over processes (identity on one process): every rank then feeds the
            regulator the same global losses and holds the same ``η``.
        seed: seeds the reparameterisation noise, drawn from a generator seeded with ``(seed, step)``
            (not the global one), so a resumed run draws exactly the noise an uninterrupted one does.
        encoders: what :meth:`build` puts under the VIB: ``"benchmark"`` (the benchmark's own encoders,
            fusion and heads: the default, so a comparison compares methods) or ``"paper"`` (RedCore's
            transformer encoders, IEMOCAP only).
    """

    options = (
        Option(
            "--redcore-encoders",
            "RedCore's encoders: the benchmark's own (default) or its paper's transformers (iemocap)",
            default="benchmark",
            choices=ENCODERS,
            source="ours: methods compare on the benchmark's encoders (MCE paper, Sec. 4)",
        ),
        Option(
            "--redcore-gamma",
            "RedCore's KL weight (CE + gamma * KL)",
            type=float,
            default=OFFICIAL_GAMMA,
            source="RedCore official code, models/redcore_mmin_model.py: lambda1 0.0008 on 2 KL",
        ),
        Option(
            "--redcore-regulation",
            "RedCore's eta regulation: as its official code runs it, or as its paper prints it",
            default="official",
            choices=tuple(REGULATIONS),
            source="RedCore official code, train_miss.py and models/redcore_mmin_model.py",
        ),
        Option(
            "--redcore-clip",
            "RedCore's gradient-norm clip per sub-network (0: none)",
            type=float,
            default=OFFICIAL_CLIP,
            source="RedCore official code, models/redcore_mmin_model.py: clip_grad_norm_(1.0)",
        ),
    )

    def __init__(
        self,
        task_loss: PerSample,
        modalities: Sequence[str],
        *,
        n_train: int | None = None,
        gamma: float = OFFICIAL_GAMMA,
        gamma_on: str = "kl",
        regulation: dict[str, float] | None = None,
        reduce: Callable[[Tensor], Tensor] = identity,
        seed: int = 0,
        encoders: str = "benchmark",
        clip: float = OFFICIAL_CLIP,
    ) -> None:
        if gamma_on not in ("kl", "task"):
            raise ValueError(f"gamma_on must be 'kl' (CE + gamma*KL) or 'task' (KL + gamma*CE); got {gamma_on!r}")
        if n_train is not None and n_train < 1:
            raise ValueError(f"n_train must be >= 1; got {n_train}")
        settings = {**OFFICIAL_REGULATION, **(regulation or {})}
        self.task_loss, self.modalities = task_loss, tuple(modalities)
        self.n_train, self.gamma, self.gamma_on, self.reduce = n_train, float(gamma), gamma_on, reduce
        self.seed, self.encoders, self.clip, self.settings = seed, encoders, float(clip), settings
        self.regulator = SupervisionRegulator(
            len(self.modalities),
            p=settings["p"],
            xi_1=settings["xi_1"],
            xi_2=settings["xi_2"],
            period=int(settings["period"]),
            alpha_1=settings["alpha_1"],
            alpha_growth=settings.get("alpha_growth", 1.0),
            growth_every=int(settings.get("growth_every", 500)),
            beta=settings["beta"],
        )

    @classmethod
    def create(cls, context: MethodContext) -> RedCore:
        return cls(
            context.bench.task_loss,
            context.bench.modalities,
            n_train=len(context.mask.sample_ids),
            reduce=context.distributed.all_reduce_sum,
            seed=context.seed,
            encoders=context.options["redcore_encoders"],
            gamma=context.options["redcore_gamma"],
            regulation=REGULATIONS[context.options["redcore_regulation"]],
            clip=context.options["redcore_clip"],
        )

    def build(self, context: MethodContext) -> RedCoreNet:
        return build_redcore(context, self.encoders)

    def fingerprint(self) -> dict[str, Any]:
        return {"encoders": self.encoders, "gamma": [self.gamma, self.gamma_on], "regulation": self.settings}

    def after_backward(self, model: MultiModalNet) -> None:
        """Clip each sub-network's gradient norm to ``clip`` (the official code's per-network clipping)."""
        if self.clip <= 0:
            return
        for part in subnetworks(model):
            torch.nn.utils.clip_grad_norm_(part.parameters(), self.clip)

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """The step's loss ``L_VIB + Σ η^m·L^m_MSE`` (this call advances the regulator by one step)."""
        if not isinstance(model, RedCoreNet):
            raise TypeError(f"the redcore method needs a RedCoreNet (build_redcore); got {type(model).__name__}")
        if model.modalities != self.modalities:
            raise ValueError(f"the model's modalities {model.modalities} differ from the method's {self.modalities}")
        present, target = batch.present, batch.target
        mu, logvar, rest = model.encode_gaussian(batch.inputs, present, batch.lengths, batch.extras)
        step = int(self.regulator.step)
        noise = torch.Generator(device=mu.device).manual_seed(self.seed * 1_000_003 + step)
        mask = slot_mask(present, mu.dim())
        z_bar = torch.where(mask, reparameterize(mu, logvar, noise), torch.zeros_like(mu))
        z = model.complete(model.join(z_bar, rest), present)  # z^m = z̄^m if present else ẑ^m (Eq. 1)
        z_hat = model.cross_modal(z_bar, present, present)  # ẑ^m of the present slots, for L^m_MSE

        joint = self.task_loss(model.head(z), target)
        total = vib_loss(joint, torch.zeros_like(joint), self.gamma, gamma_on=self.gamma_on)
        unimodal_ce, kls = [], []
        for m in range(len(self.modalities)):
            ce = self.task_loss(model.unimodal(z, m), target)
            kl = torch.where(present[:, m], location_kl(mu[:, m], logvar[:, m]), torch.zeros_like(ce))
            total = total + vib_loss(ce, kl, self.gamma, gamma_on=self.gamma_on)
            unimodal_ce.append(ce.mean())
            kls.append(kl.mean())

        squared = location_squared_error(z_bar, z_hat.to(z_bar.dtype))
        squared = torch.where(present, squared, torch.zeros_like(squared))
        counts = present.sum(0).to(squared.dtype)
        imputation = squared.sum(0) / counts.clamp(min=1.0)  # L^m_MSE of this process's rows, with its graph
        global_counts = self.reduce(counts.detach().clone())
        global_sums = self.reduce(squared.detach().sum(0))
        observed = global_counts > 0
        global_batch = int(self.reduce(torch.tensor(float(present.shape[0]), device=present.device)))
        eta = self.regulator.update(global_sums / global_counts.clamp(min=1.0), observed)
        total = total + (eta.to(imputation.dtype) * imputation).sum()

        logs: dict[str, float] = {"ce_joint": float(joint.detach().mean())}
        logs["ce_unimodal"] = float(torch.stack(unimodal_ce).detach().sum())
        logs["kl"] = float(torch.stack(kls).detach().sum())
        advantage = self.regulator.advantage
        for m, name in enumerate(self.modalities):
            logs[f"mse_{name}"] = float(global_sums[m] / global_counts[m].clamp(min=1.0))
            logs[f"eta_{name}"] = float(self.regulator.eta[m])
            logs[f"advantage_{name}"] = float(advantage[m])
        if self.n_train is not None:
            logs["epoch"] = float(step // max(1, self.n_train // max(1, global_batch)))
        return total, logs

    def state_dict(self) -> dict[str, Any]:
        """The regulator's ``η``, moving averages, advantages and step counters (all a resumed run needs)."""
        return {"regulator": {k: v.detach().clone() for k, v in self.regulator.state_dict().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.regulator.load_state_dict(state["regulator"])


def subnetworks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's sub-networks: each entry of a ``ModuleDict`` child (per-modality encoders and heads) and
    each other child (the joint decoder, the completion slot holding the cross-modal encoders)."""
    parts: list[torch.nn.Module] = []
    for child in model.children():
        if isinstance(child, torch.nn.ModuleDict):
            parts.extend(child.values())
        elif isinstance(child, MultiModalNet):
            parts.extend(subnetworks(child))
        else:
            parts.append(child)
    return parts
