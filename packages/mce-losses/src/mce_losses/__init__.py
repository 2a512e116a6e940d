"""mce-losses: the MCE objective (LCE factors A and B; RCE losses L_single, L_sub, L_aux).

Model-agnostic functions, one per equation of the paper's Sec. 3.2-3.3, and a composable
:class:`MCEObjective` (Eq. 14) with the switches of the ablation (Table 2). Shapes: ``N``
samples, ``M`` modalities, ``P`` (sample, subset) rows, ``S`` subsets in the batch.

* factors: :func:`factor_a` (Eq. 3), :func:`capability_statistics` (sums for Eqs. 5-6),
  :func:`capability_gap` (Eq. 7), :func:`factor_b` (Eq. 8);
* scores ``f_acc`` for Eqs. 4 and 6: :func:`classification_score`, :func:`dice_score`,
  :func:`iou_score`, :func:`regression_score`;
* subsets: :func:`batch_subsets` (Eq. 10), :func:`subset_pairs`, :func:`pair_features`,
  :func:`shapley_from_pairs` (Eq. 5 on the pair batch);
* losses: :func:`single_modal_loss` (Eq. 9), :func:`subset_loss` (Eq. 11),
  :func:`auxiliary_loss` (Eq. 13), :func:`total_objective` (Eq. 14).

>>> import torch, mce_losses
>>> present = torch.tensor([[True, False, True], [True, True, False], [True, False, False]])
>>> mce_losses.factor_a(present, normalize="none").tolist()
[1.0, 3.0, 3.0]
>>> mce_losses.subset_pairs(present).n_pairs     # 3 + 3 + 1 (sample, subset) rows
7
"""

from mce_losses.__about__ import __version__
from mce_losses.factors import (
    CapabilityStatistics,
    capability_gap,
    capability_statistics,
    factor_a,
    factor_a_from_counts,
    factor_a_from_missing_rates,
    factor_b,
    factor_b_from_scores,
)
from mce_losses.losses import auxiliary_loss, single_modal_loss, subset_loss, total_objective
from mce_losses.objective import ABLATION_ROWS, MCEObjective, MCETerms, Switches
from mce_losses.redcore import SupervisionRegulator, moving_average, relative_advantage
from mce_losses.redcore_projection import project_eta
from mce_losses.scores import classification_score, dice_score, iou_score, regression_score
from mce_losses.shapley import shapley_from_pairs
from mce_losses.subsets import (
    SubsetPairs,
    all_subsets,
    batch_subsets,
    pair_features,
    subset_codes,
    subset_pair_weights,
    subset_pairs,
    subset_row_counts,
)
from mce_losses.vib import GaussianHead, gaussian_kl, reparameterize, vib_loss

__all__ = [
    "ABLATION_ROWS",
    "CapabilityStatistics",
    "GaussianHead",
    "MCEObjective",
    "MCETerms",
    "SubsetPairs",
    "SupervisionRegulator",
    "Switches",
    "__version__",
    "all_subsets",
    "auxiliary_loss",
    "batch_subsets",
    "capability_gap",
    "capability_statistics",
    "classification_score",
    "dice_score",
    "factor_a",
    "factor_a_from_counts",
    "factor_a_from_missing_rates",
    "factor_b",
    "factor_b_from_scores",
    "gaussian_kl",
    "iou_score",
    "moving_average",
    "pair_features",
    "project_eta",
    "regression_score",
    "relative_advantage",
    "reparameterize",
    "shapley_from_pairs",
    "single_modal_loss",
    "subset_codes",
    "subset_loss",
    "subset_pair_weights",
    "subset_pairs",
    "subset_row_counts",
    "total_objective",
    "vib_loss",
]
