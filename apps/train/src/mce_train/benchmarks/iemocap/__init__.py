"""IEMOCAP: MMIN's acoustic/visual/lexical features, LSTM and TextCNN encoders, FC decoder with BN.

* :mod:`~mce_train.benchmarks.iemocap.data`: MMIN's feature layout (fold 1), else synthetic features in it;
* :mod:`~mce_train.benchmarks.iemocap.models`: the encoders and heads;
* :mod:`~mce_train.benchmarks.iemocap.recipe`: the schedule, the loss weights and the default rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mce_losses import classification_score
from mce_recon import CompletionTransformer
from mce_train.benchmarks.base import Benchmark, Splits, cross_entropy
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.benchmarks.iemocap.data import iemocap_splits
from mce_train.benchmarks.iemocap.recipe import DEFAULT_RATES, recipe
from mce_train.metrics import ClassificationMetric
from mce_train.network import MultiModalNet


def iemocap_build(model: Mapping[str, Any], splits: Splits) -> MultiModalNet:
    """The network of the recipe's ``model`` section: LSTM / TextCNN encoders, completion, FC+BN decoders."""
    dim, hidden, dropout = model["dim"], model["hidden"], model["dropout"]
    first = splits.train[0]
    dims = {name: int(first.inputs[name].shape[-1]) for name in iemocap.MODALITIES}
    return MultiModalNet(
        iemocap.MODALITIES,
        iemocap.encoders(dim, dims, model["text_dropout"]),
        iemocap.head(dim, hidden, dropout),
        iemocap.unimodal_heads(dim, hidden, dropout),
        CompletionTransformer(
            len(iemocap.MODALITIES),
            dim,
            depth=model["completion_depth"],
            heads=model["completion_heads"],
            ffn_dim=model["completion_ffn"],
            dropout=model["completion_dropout"],
        ),
    )


IEMOCAP_BENCHMARK = Benchmark(
    name="iemocap",
    modalities=iemocap.MODALITIES,
    build=iemocap_build,
    recipe=recipe,
    splits=iemocap_splits,
    task_loss=cross_entropy,
    score=classification_score,
    metric=lambda: ClassificationMetric(iemocap.N_CLASSES),
    selection="accuracy",
    default_rates=DEFAULT_RATES,
    mask_style="counts",  # byzhaoAI/MCE emotion_recog/missing_index.py, missing_pattern: exact counts per modality
)
