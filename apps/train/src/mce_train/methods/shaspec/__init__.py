"""ShaSpec (Wang et al., CVPR 2023) as a comparison method: ``--methods shaspec``.

* :mod:`~mce_train.methods.shaspec.terms`: missing-feature generation, the distribution-alignment and
  domain-classification losses, on tensors;
* :mod:`~mce_train.methods.shaspec.network`: :class:`ShaSpecNet` (shared + specific encoders, residual fusion)
  on a benchmark's own network, and :func:`build_shaspec`;
* :mod:`~mce_train.methods.shaspec.method`: :class:`ShaSpec`, the objective and its options.
"""

from __future__ import annotations

from mce_train.methods.shaspec.method import ALPHA, BETA, ShaSpec
from mce_train.methods.shaspec.network import PairEncoder, ShaSpecBraTSNet, ShaSpecNet, build_shaspec
from mce_train.methods.shaspec.terms import (
    GENERATIONS,
    alignment_pairs,
    assemble,
    distribution_alignment,
    domain_classification,
    generate_missing,
)

__all__ = [
    "ALPHA",
    "BETA",
    "GENERATIONS",
    "PairEncoder",
    "ShaSpec",
    "ShaSpecBraTSNet",
    "ShaSpecNet",
    "alignment_pairs",
    "assemble",
    "build_shaspec",
    "distribution_alignment",
    "domain_classification",
    "generate_missing",
]
