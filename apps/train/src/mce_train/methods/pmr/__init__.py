"""PMR (Fan et al., CVPR 2023) for M modalities and dense maps: :mod:`~mce_train.methods.pmr.method` (the method)
and :mod:`~mce_train.methods.pmr.prototypes` (its computations on tensors)."""

from mce_train.methods.pmr.method import PMR
from mce_train.methods.pmr.prototypes import (
    PROTOTYPE_MOMENTUM,
    class_sums,
    class_weights,
    coefficients,
    locations,
    prototype_terms,
    update_prototypes,
)

__all__ = [
    "PMR",
    "PROTOTYPE_MOMENTUM",
    "class_sums",
    "class_weights",
    "coefficients",
    "locations",
    "prototype_terms",
    "update_prototypes",
]
