"""RedCore's network ("Core", Sun et al., AAAI 2024, Fig. 2) behind the shared ``MultiModalNet`` interface.

Data flow::

    inputs[m] --senc^m (variational)--> μ^m, log σ²^m          (present rows only; zeros elsewhere)
    z̄^m = μ^m (eval) or μ^m + ε·σ^m (training)
    ẑ^m = xenc^m([z̄^{m'} for m' != m, zero where m' is not kept])   (cross-modal representation)
    z^m = z̄^m if m is kept else ẑ^m                                 (Eq. 1: the imputation)
    z^{M+1} = [z^1; ...; z^M] --joint decoder--> prediction;  z^m --dec^m--> unimodal prediction

so :func:`mce_train.evaluation.evaluate` works unchanged: ``encode`` is the self-modal encoders,
``complete(h, keep)`` imputes the dropped modalities from the kept ones, ``head`` is the joint
decoder. :func:`build_redcore` assembles it per benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_losses import reparameterize
from mce_train.benchmarks.base import Splits
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.methods.base import MethodContext
from mce_train.methods.redcore.modules import ResidualCrossEncoder, SequenceTransformer, VariationalEncoder, others
from mce_train.network import MultiModalNet


class RedCoreNet(MultiModalNet):
    """Self-modal variational encoders, cross-modal encoders, per-modality and joint decoders.

    Args:
        modalities: the modality names, in the column order of ``present``.
        encoders: name -> :class:`~mce_train.methods.redcore.modules.VariationalEncoder`
            (``[n, ...] -> Float[n, 2·dim]``).
        cross_encoders: name -> ``Float[n, (M-1)·dim] -> Float[n, dim]``, that modality's cross-modal encoder.
        head: the joint decoder ``Float[N, M, dim] -> logits``.
        unimodal_heads: name -> ``dec^m``, ``Float[n, dim] -> logits``.
        dim: ``D``, the representation size.
    """

    def __init__(
        self,
        modalities: tuple[str, ...],
        encoders: Mapping[str, nn.Module],
        cross_encoders: Mapping[str, nn.Module],
        head: nn.Module,
        unimodal_heads: Mapping[str, nn.Module],
        dim: int,
    ) -> None:
        super().__init__(modalities, encoders, head, unimodal_heads, completion=None)
        if set(cross_encoders) != set(modalities):
            raise ValueError(
                f"cross_encoders must have one entry per modality {modalities}; got {sorted(cross_encoders)}"
            )
        if len(modalities) < 2:
            raise ValueError(f"RedCore imputes a modality from the others: it needs >= 2 modalities; got {modalities}")
        self.cross_encoders = nn.ModuleDict(dict(cross_encoders))
        self.dim = dim

    def encode_gaussian(
        self,
        inputs: Mapping[str, Tensor],
        present: Tensor,
        lengths: Mapping[str, Tensor] | None = None,
        extras: Mapping[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)``, each ``Float[N, M, D]``; zero in the slots of absent modalities (never encoded)."""
        packed = super().encode(inputs, present, lengths, extras)
        if packed.shape[2:] != (2 * self.dim,):
            raise ValueError(
                f"the variational encoders must return [n, {2 * self.dim}] (μ and log σ²); got {list(packed.shape)}"
            )
        return packed[..., : self.dim], packed[..., self.dim :]

    def encode(
        self,
        inputs: Mapping[str, Tensor],
        present: Tensor,
        lengths: Mapping[str, Tensor] | None = None,
        extras: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """``Float[N, M, D]``: ``z̄`` = the mean in eval mode, a reparameterised draw in training; zero where absent."""
        mu, logvar = self.encode_gaussian(inputs, present, lengths, extras)
        if not self.training:
            return mu
        return torch.where(present[..., None], reparameterize(mu, logvar), torch.zeros_like(mu))

    def cross_modal(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M, D]``: ``ẑ^m`` for every modality from the other modalities kept (``Bool[N, M]``).

        The slots outside ``keep`` are replaced by zeros before anything reads them, so a dropped
        modality's features (or a NaN there) never reach an imputation.
        """
        if h.dim() != 3 or keep.shape != h.shape[:2]:
            raise ValueError(f"h must be [N, M, D] and keep [N, M]; got {list(h.shape)} and {list(keep.shape)}")
        visible = h.masked_fill(~keep[..., None], 0.0)
        columns = [self.cross_encoders[name](others(visible, m)) for m, name in enumerate(self.modalities)]
        return torch.stack(columns, dim=1)

    def complete(self, h: Tensor, keep: Tensor) -> Tensor:
        """Eq. 1: the kept slots of ``h`` as they are, the dropped ones imputed by the cross-modal encoders."""
        return torch.where(keep[..., None], h, self.cross_modal(h, keep))


def _cross_encoders(modalities: tuple[str, ...], dim: int, size: str) -> dict[str, nn.Module]:
    """RedCore's residual autoencoders (the paper: 5 blocks of 256-128-64-32-64-128-256 for two 128-d inputs)."""
    layers, blocks = ((dim, dim // 2, dim // 4), 2) if size == "quick" else ((128, 64, 32), 5)
    width = (len(modalities) - 1) * dim
    return {name: ResidualCrossEncoder(width, dim, layers, blocks) for name in modalities}


@torch.no_grad()
def feature_size(net: MultiModalNet, splits: Splits) -> int:
    """``D``: the size of the features ``net``'s encoders give one training sample (every modality encoded)."""
    dataset = IncompleteDataset(splits.train, MissingMask.full(splits.train.sample_ids(), net.modalities))
    batch = collate_incomplete([dataset[0], dataset[1]] if len(dataset) > 1 else [dataset[0]])
    available = batch.present
    was_training = net.training
    net.eval()
    h = net.encode(batch.inputs, available, batch.lengths, batch.extras)
    net.train(was_training)
    if h.dim() != 3:
        raise ValueError(f"RedCore's VIB needs [N, M, D] features; this benchmark's encoders give {list(h.shape)}")
    return int(h.shape[-1])


def build_matched(context: MethodContext) -> RedCoreNet:
    """RedCore on the benchmark's own encoders, fusion and heads (the default: methods compare, not encoders).

    Each encoder gets a Gaussian head of the encoders' feature size ``D`` (the VIB's ``μ`` and ``log σ²``);
    the completion module of the benchmark's network is replaced by RedCore's cross-modal encoders.
    """
    base = context.network()
    dim = feature_size(base, context.splits)
    return RedCoreNet(
        base.modalities,
        {name: VariationalEncoder(base.encoders[name], dim, dim) for name in base.modalities},
        _cross_encoders(base.modalities, dim, context.size),
        base.head,
        {name: base.unimodal_heads[name] for name in base.modalities},
        dim,
    )


def build_iemocap_transformers(size: str, splits: Splits) -> RedCoreNet:
    """IEMOCAP with RedCore's own encoders: transformers over the feature sequences (its paper: 3 layers,
    8 heads, 128-d; ``quick``: 1, 4, 32), mean-pooled over the valid frames."""
    dim, hidden, layers, heads = (32, 32, 1, 4) if size == "quick" else (128, 128, 3, 8)
    first = splits.train[0]
    features = {name: int(first.inputs[name].shape[-1]) for name in iemocap.MODALITIES}
    return RedCoreNet(
        iemocap.MODALITIES,
        {
            name: VariationalEncoder(SequenceTransformer(features[name], dim, layers, heads), dim, dim)
            for name in iemocap.MODALITIES
        },
        _cross_encoders(iemocap.MODALITIES, dim, size),
        iemocap.head(dim, hidden),
        iemocap.unimodal_heads(dim, hidden),
        dim,
    )


ENCODERS = ("benchmark", "paper")
"""``--redcore-encoders``: the benchmark's own (default) or RedCore's paper encoders (IEMOCAP only)."""


def build_redcore(context: MethodContext, encoders: str = "benchmark") -> RedCoreNet:
    """The RedCore network for ``bench`` at ``size`` (``"paper"`` or ``"quick"``).

    Raises:
        ValueError: ``encoders="paper"`` on a benchmark other than IEMOCAP (the only one RedCore's paper has),
            or an unknown ``encoders``.
    """
    if encoders == "benchmark":
        return build_matched(context)
    if encoders != "paper":
        raise ValueError(f"encoders must be one of {ENCODERS}; got {encoders!r}")
    if context.bench.name != "iemocap":
        raise ValueError(
            f"RedCore's own encoders exist for iemocap only (its paper); got benchmark {context.bench.name!r}"
        )
    return build_iemocap_transformers(context.size, context.splits)
