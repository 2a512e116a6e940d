"""ShaSpec (Wang, Chen, Ma, Avery, Hull, Carneiro, CVPR 2023): shared-specific feature modelling.

From the paper (arXiv 2307.14126; Fig. 1: one shared encoder, one specific encoder per modality, residual
fusion with a linear projection ``f_proj``) and its official code (billhhh/ShaSpec: ``DualNet_SS.py`` the
network, ``train_SS.py`` the objective, ``loss_Dual.py`` the losses, ``run.sh`` the schedule). The repository
holds the BraTS code only (no Audiovision-MNIST code); where the paper's full text could not be read, the code
decides:

* **Encoders**: one *shared* encoder applied to every modality gives ``r^m``; one *specific* encoder per
  modality gives ``s^m`` (``DualNet_SS``: ``shared_enc`` run on the four volumes stacked along the batch,
  ``flair_enc``... ``t2_enc``; all five are the same 3-D encoder architecture).
* **Residual fusion**: ``f^m = r^m + proj([r^m; s^m])`` with one projection for all modalities
  (``CompositionalLayer``: a 3x3x3 convolution of the concatenation, no bias; the paper: a linear projection).
* **Missing modalities**: a dropped modality's feature is generated from the shared features of the available
  ones: their mean (the paper; ``DualNet_SS.py`` keeps this form, commented out) or the first available one's
  (``general_shared_ft``, what the code runs); ``--shaspec-generation``, default ``mean``.
* **Decoder**: the fused features of all modalities, concatenated, into one decoder (BraTS: with the shared
  encoder's levels as the skip connections).
* **Objective** (``train_SS.py``): ``L = L_task + α·L_dao + β·L_dco`` with ``α = 0.1`` ("shared domain loss
  weight") and ``β = 0.02`` ("specific domain loss weight"). ``L_dao`` (distribution alignment of the shared
  features): ``nn.L1Loss`` between the shared features of the pairs flair-t1, t1-t1ce, t1ce-t2, t2-flair,
  summed. ``L_dco`` (domain classification of the specific features): ``nn.CrossEntropyLoss`` of a linear
  classifier (``dom_classifier``, ``Linear(256, 4)``) on the spatial mean of each specific encoder's last
  features, the label being the modality's index.

Beyond the paper (ours):

* The benchmark's network is the base (a comparison compares methods): its encoders are the *specific*
  encoders, its fusion head and decoder decode the fused features, its unimodal heads are kept but not trained
  (ShaSpec has none; :meth:`ShaSpecNet.unimodal` runs them on a modality's fused feature). ShaSpec replaces
  the benchmark's completion transformer by its own rule (generated features), so that module is not built
  into the network.
* **Shared encoder where inputs differ in shape** (AVMNIST image vs MFCC, IEMOCAP's sequences of 130 / 342 /
  1024 features, nuScenes camera vs LiDAR vs radar): no one module can read every modality's input, so the
  shared encoder is a per-modality *stem* (a second, independently initialised copy of the benchmark's encoder
  for that modality) into a shared *trunk* applied to every modality (``Linear-ReLU-Linear`` on vectors,
  ``Conv3x3-ReLU-Conv1x1`` on BEV maps). The shared encoder thus has the specific encoder's capacity, as in the
  official code, and its last layers are one set of weights. **BraTS** (four same-shape volumes): the shared
  encoder is the benchmark's 3-D U-Net encoder architecture with one set of weights for every modality, as in
  the official code; its packed levels give ``r`` (the bottleneck) and the skips; the specific encoders
  contribute their bottleneck only (the official decoder too takes its skips from the shared encoder).
  The benchmark's fusion head then averages the kept modalities' skips (the official decoder concatenates the
  four modalities' shared levels, zero-input ones included).
* **Feature level**: fusion, generation and both losses act on the encoder outputs the benchmark's head reads:
  vectors, nuScenes' BEV maps (projection: a 3x3 convolution, the 2-D form of the official 3x3x3), BraTS'
  bottleneck maps (the official code's level: the bottleneck ``feature_aspp``).
* **Incomplete training data**: the official code drops whole modalities from complete data (``--mode
  random``: one random subset per batch, the dropped volumes zeroed but still encoded). Here every sample
  trains on its own modalities under the run's training mask (the same masks as every other method) and
  absent modalities are never read: ``L_dao`` averages each pair over the samples having both (a pair no
  sample has both of gives zero), ``L_dco`` averages over the present (sample, modality) slots.
* ``M`` modalities: the alignment pairs are the official cycle ``(0,1), (1,2), ..., (M-1,0)``, each unordered
  pair once (two modalities: one pair; three: all three pairs).
* ShaSpec's own modules are initialised from a generator seeded with the run's seed, under ``fork_rng``, so
  the benchmark's network starts from the baseline's weights and BraTS draws the baseline's crops.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample
from mce_train.methods.shaspec.network import ShaSpecNet, build_shaspec
from mce_train.methods.shaspec.terms import GENERATIONS, distribution_alignment, domain_classification
from mce_train.network import MultiModalNet

ALPHA = 0.1
"""``L_dao``'s weight (billhhh/ShaSpec ``train_SS.py``: ``alpha = 0.1  # shared domain loss weight``)."""
BETA = 0.02
"""``L_dco``'s weight (billhhh/ShaSpec ``train_SS.py``: ``beta = 0.02  # specific domain loss weight``)."""


@register_method(
    "shaspec",
    paper="ShaSpec: Wang et al., CVPR 2023 (shared-specific feature modelling)",
    benchmarks=("avmnist", "iemocap", "brats", "nuscenes"),
)
class ShaSpec(Method):
    """The task loss of the fused prediction, plus ``α·L_dao`` on the shared and ``β·L_dco`` on the specific features.

    Args:
        task_loss: the benchmark's per-sample loss.
        alpha, beta: the weights of the distribution-alignment and domain-classification losses.
        generation: how dropped modalities' features are generated (``"mean"`` or ``"first"``).
    """

    options = (
        Option(
            "--shaspec-alpha",
            "ShaSpec: weight of the shared features' distribution-alignment (L1) loss",
            type=float,
            default=ALPHA,
            source="billhhh/ShaSpec train_SS.py: alpha = 0.1 (shared domain loss weight)",
        ),
        Option(
            "--shaspec-beta",
            "ShaSpec: weight of the specific features' domain-classification loss",
            type=float,
            default=BETA,
            source="billhhh/ShaSpec train_SS.py: beta = 0.02 (specific domain loss weight)",
        ),
        Option(
            "--shaspec-generation",
            "ShaSpec: a missing modality's feature, the mean of the kept shared features or the first kept one",
            default="mean",
            choices=GENERATIONS,
            source="ShaSpec paper (mean); billhhh/ShaSpec DualNet_SS.py general_shared_ft (first, the code's)",
        ),
    )

    def __init__(
        self, task_loss: PerSample, *, alpha: float = ALPHA, beta: float = BETA, generation: str = "mean"
    ) -> None:
        if generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {GENERATIONS}; got {generation!r}")
        self.task_loss, self.alpha, self.beta, self.generation = task_loss, alpha, beta, generation

    @classmethod
    def check(cls, options: Any) -> None:
        for key in ("shaspec_alpha", "shaspec_beta"):
            if float(options[key]) < 0:
                raise ValueError(f"--{key.replace('_', '-')} must be >= 0; got {options[key]}")

    @classmethod
    def create(cls, context: MethodContext) -> ShaSpec:
        options = context.options
        return cls(
            context.bench.task_loss,
            alpha=float(options["shaspec_alpha"]),
            beta=float(options["shaspec_beta"]),
            generation=str(options["shaspec_generation"]),
        )

    def build(self, context: MethodContext) -> MultiModalNet:
        return build_shaspec(context, self.generation)

    def fingerprint(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "generation": self.generation}

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        if not isinstance(model, ShaSpecNet):
            raise TypeError(f"ShaSpec trains a ShaSpecNet (its build); got {type(model).__name__}")
        h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
        task = self.task_loss(model.predict(h, batch.present), batch.target).mean()
        shared, _ = model.parts(h)
        dao = distribution_alignment(shared, batch.present)
        dco = domain_classification(model.domain_logits(h), batch.present)
        loss = task + self.alpha * dao + self.beta * dco
        return loss, {"task": float(task.detach()), "dao": float(dao.detach()), "dco": float(dco.detach())}
