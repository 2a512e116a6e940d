"""UniMF (Huan, Zhong, Chen, Liang, IEEE TMM 2023) as a comparison method: ``--methods unimf``.

Official code: gw-zhong/UniMF (``src/models.py``, ``src/train.py``, ``main.py``, ``modules/``). Facts used:

* Two models trained together on ``task loss + translation loss`` (``src/train.py``: ``combined_loss =
  raw_loss + trans_loss``, weight 1): the translation module (``TRANSLATEModel``, one per missing
  modality; :mod:`~mce_train.methods.unimf.translation`) generates the missing modality from the present
  ones, teacher-forced with the MSE in training and token by token at test; the fusion model
  (``UNIMFModel``; :mod:`~mce_train.methods.unimf.fusion`) reads the present modalities and the
  generated ones (gradients of the task loss flow into the translator: ``fake_v`` is not detached)
  through the multimodal-label masked transformer.
* Sizes: ``E = 32`` (``main.py``: ``hyp_params.embed_dim = 32``), 8 heads (``--num_heads 8``), relu and
  residual dropout 0.1. The translator's and the fusion's depth (1-8) and the attention, embedding,
  output and translation dropouts (0-0.5) are tuned per dataset by optuna (``main.py`` ``objective``);
  no tuned value is published, so the defaults here are ours (4 layers each, dropout 0.25: the middle of
  the searched ranges).
* Optimiser: Adam, lr 1e-3, clipping 0.8 (``main.py``, ``scripts/mosi.sh``), a separate Adam for the
  translator, ``ReduceLROnPlateau``; here every method trains on the benchmark's recipe instead.

Beyond the paper (ours):

* Features, not raw inputs: the benchmark's encoders (IEMOCAP's LSTM/TextCNN, AVMNIST's LeNet5/MFCC CNN)
  give pooled vectors ``h_m: Float[D]``, not per-step sequences, so the translator generates the
  *encoder feature* of a dropped modality, in the completion slot (evaluation over every subset runs
  unchanged), and each ``h_m`` is read as ``T`` tokens of ``D / T`` (``--unimf-tokens``, default 4), a
  short sequence for the translator's causal generation and the fusion's attention. The fusion
  replaces the benchmark's concatenation head (``--unimf-fusion benchmark`` keeps the benchmark's).
* Random per-sample missingness: the official code trains one translator per fixed input setting on
  complete data. Here one translator per target modality takes whichever others are kept (absent ones
  masked out of the attention keys, equal to leaving them out of the sequence). Its teacher-forced MSE
  is computed where a sample has the target and another modality, from all the others it has; the
  target feature is detached (the official target is a raw input, which no gradient reaches; a
  trainable target could shrink towards what is easy to translate). The fused prediction reads each
  sample's real features where present and generated ones (token by token, as at test) where missing.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, Option, PerSample
from mce_train.methods.unimf.fusion import LabelFusion
from mce_train.methods.unimf.translation import TranslationCompletion, Translator
from mce_train.network import MultiModalNet, probe_features

FUSIONS = ("unimf", "benchmark")
OFFICIAL = "gw-zhong/UniMF"
TUNED = f"ours: the middle of the range {OFFICIAL} main.py tunes with optuna"


class UniMFNet(MultiModalNet):
    """The benchmark's encoders and unimodal heads, UniMF's translators in the completion slot, its fusion head."""

    @property
    def translation(self) -> TranslationCompletion:
        completion = self.completion
        if not isinstance(completion, TranslationCompletion):
            raise TypeError(f"a UniMFNet completes with TranslationCompletion; got {type(completion).__name__}")
        return completion


def feature_size(net: MultiModalNet, train: Any) -> int:
    """``D``: the width of each modality's feature ``h[N, M, D]`` (probed on a training sample, RNG untouched)."""
    h = probe_features(net, train)
    if h.dim() != 3:
        raise ValueError(f"UniMF here reads vector features [N, M, D]; this benchmark's encoders give {list(h.shape)}")
    return int(h.shape[2])


def n_outputs(head: nn.Module) -> int:
    """The classes of a benchmark head: its last linear layer's outputs."""
    linears = [layer for layer in head.modules() if isinstance(layer, nn.Linear)]
    if not linears:
        raise ValueError(f"cannot read the classes of the head {type(head).__name__}: it has no linear layer")
    return int(linears[-1].out_features)


@register_method(
    "unimf",
    paper="UniMF: Huang et al., IEEE TMM 2023 (translation and multimodal transformer fusion)",
    benchmarks=("iemocap", "avmnist"),
)
class UniMF(Method):
    """Task loss on the fused prediction (dropped modalities generated) plus the weighted translation MSE."""

    options = (
        Option("--unimf-tokens", "UniMF: tokens each modality's feature is read as", type=int, default=4),
        Option(
            "--unimf-dim",
            "UniMF: transformer width E",
            type=int,
            default=32,
            source=f"{OFFICIAL} main.py: embed_dim 32",
        ),
        Option(
            "--unimf-heads", "UniMF: attention heads", type=int, default=8, source=f"{OFFICIAL} main.py: --num_heads 8"
        ),
        Option("--unimf-trans-layers", "UniMF: translator layers", type=int, default=4, source=f"{TUNED} (1-8)"),
        Option("--unimf-fusion-layers", "UniMF: fusion layers", type=int, default=4, source=f"{TUNED} (1-8)"),
        Option(
            "--unimf-dropout",
            "UniMF: attention, embedding, output and translation dropout",
            type=float,
            default=0.25,
            source=f"{TUNED} (0-0.5)",
        ),
        Option(
            "--unimf-translation-weight",
            "UniMF: weight of the translation MSE",
            type=float,
            default=1.0,
            source=f"{OFFICIAL} src/train.py: combined_loss = raw_loss + trans_loss",
        ),
        Option(
            "--unimf-fusion",
            "UniMF: its label-attention fusion, or the benchmark's head",
            default="unimf",
            choices=FUSIONS,
            source=f"{OFFICIAL} src/models.py: UNIMFModel",
        ),
    )

    def __init__(self, task_loss: PerSample, settings: dict[str, Any]) -> None:
        self.task_loss, self.settings = task_loss, settings

    @classmethod
    def check(cls, options: Any) -> None:
        for key in ("unimf_tokens", "unimf_dim", "unimf_heads", "unimf_trans_layers", "unimf_fusion_layers"):
            if int(options[key]) < 1:
                raise ValueError(f"--{key.replace('_', '-')} must be >= 1; got {options[key]}")
        if int(options["unimf_dim"]) % int(options["unimf_heads"]):
            raise ValueError(f"--unimf-heads {options['unimf_heads']} must divide --unimf-dim {options['unimf_dim']}")
        if not 0.0 <= float(options["unimf_dropout"]) < 1.0 or float(options["unimf_translation_weight"]) < 0:
            raise ValueError("--unimf-dropout must be in [0, 1) and --unimf-translation-weight >= 0")

    @classmethod
    def create(cls, context: MethodContext) -> UniMF:
        settings = {option.dest.removeprefix("unimf_"): context.options[option.dest] for option in cls.options}
        return cls(context.bench.task_loss, settings)

    def fingerprint(self) -> dict[str, Any]:
        return dict(self.settings)

    def build(self, context: MethodContext) -> UniMFNet:
        network = context.network()
        return build_unimf(network, feature_size(network, context.splits.train), self.settings)

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        if not isinstance(model, UniMFNet):
            raise TypeError(f"UniMF trains a UniMFNet; got {type(model).__name__}")
        h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
        task = self.task_loss(model.predict(h, batch.present), batch.target).mean()
        translation, logs = model.translation.translation_loss(h, batch.present)
        logs.update({"task": float(task.detach()), "translation": float(translation.detach())})
        return task + float(self.settings["translation_weight"]) * translation, logs


def build_unimf(network: MultiModalNet, width: int, settings: dict[str, Any]) -> UniMFNet:
    """UniMF on a benchmark ``network`` whose features are ``Float[N, M, width]`` (its completion replaced)."""
    tokens, M = int(settings["tokens"]), len(network.modalities)
    if width % tokens:
        raise ValueError(f"--unimf-tokens {tokens} must divide the feature size {width}")
    dim, heads, dropout = int(settings["dim"]), int(settings["heads"]), float(settings["dropout"])
    translators = {
        name: Translator(
            m,
            M,
            tokens,
            width // tokens,
            layers=int(settings["trans_layers"]),
            embed_dropout=dropout,
            trans_dropout=dropout,
            dim=dim,
            heads=heads,
            attn_dropout=dropout,
        )
        for m, name in enumerate(network.modalities)
    }
    head = network.head
    if settings["fusion"] == "unimf":
        head = LabelFusion(
            M,
            tokens,
            width // tokens,
            n_outputs(network.head),
            layers=int(settings["fusion_layers"]),
            embed_dropout=dropout,
            out_dropout=dropout,
            dim=dim,
            heads=heads,
            attn_dropout=dropout,
        )
    elif settings["fusion"] != "benchmark":
        raise ValueError(f"--unimf-fusion must be one of {FUSIONS}; got {settings['fusion']!r}")
    completion = TranslationCompletion(network.modalities, translators, tokens)
    return UniMFNet(
        network.modalities, dict(network.encoders.items()), head, dict(network.unimodal_heads.items()), completion
    )
