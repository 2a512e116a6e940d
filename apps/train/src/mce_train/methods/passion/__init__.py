"""PASSION (Shi et al., ACM MM 2024) on every benchmark: :mod:`~mce_train.methods.passion.method` (the method),
:mod:`~mce_train.methods.passion.terms` (its computations on tensors) and
:mod:`~mce_train.methods.passion.branches` (the fused head's prediction and last features)."""

from mce_train.methods.passion.branches import branch, final_layer
from mce_train.methods.passion.method import PASSION
from mce_train.methods.passion.terms import (
    class_logits,
    epoch_preference,
    pixel_distillation,
    semantic_distillation,
    similarity_maps,
    step_preference,
    update_weights,
    valid_locations,
)

__all__ = [
    "PASSION",
    "branch",
    "class_logits",
    "epoch_preference",
    "final_layer",
    "pixel_distillation",
    "semantic_distillation",
    "similarity_maps",
    "step_preference",
    "update_weights",
    "valid_locations",
]
