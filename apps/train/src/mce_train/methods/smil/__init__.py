"""SMIL (Ma et al., AAAI 2021) for M modalities: :mod:`~mce_train.methods.smil.method` (the method),
:mod:`~mce_train.methods.smil.network` (reconstruction and regularisers in the completion slot),
:mod:`~mce_train.methods.smil.meta` (the meta-learning step as one loss) and
:mod:`~mce_train.methods.smil.priors` (K-means priors and their mixture)."""

from mce_train.methods.smil.meta import call_with, inner_update, meta_loss, take
from mce_train.methods.smil.method import SMIL, incomplete_patterns
from mce_train.methods.smil.network import SMILCompletion, SMILNet, build_smil
from mce_train.methods.smil.priors import kmeans, kmeans_plus_plus, lloyd, prior_mixture, squared_distances

__all__ = [
    "SMIL",
    "SMILCompletion",
    "SMILNet",
    "build_smil",
    "call_with",
    "incomplete_patterns",
    "inner_update",
    "kmeans",
    "kmeans_plus_plus",
    "lloyd",
    "meta_loss",
    "prior_mixture",
    "squared_distances",
    "take",
]
