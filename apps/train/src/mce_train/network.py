"""The multi-modal network every benchmark shares: encoders, completion, fusion, decoder, unimodal heads.

Data flow (paper Fig. 1, Eq. 15)::

    inputs[m]  --f_enc^m-->  h[N, M, *feature]   (slots of absent modalities are zero)
    h, keep    --f_rec--->   h'[N, M, *feature]   (the completion module fills dropped slots)
    h'         --fusion, f_dec-->  prediction

Every benchmark supplies its encoders, a fusion+decoder ("head") and one unimodal decoder per
modality (``f_dec^m`` of Eq. 9). ``keep`` is any ``Bool[N, M]``: the sample's own modalities for the
task loss, a subset of them for L_sub, L_aux and the Shapley coalition values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from mce_data import IncompleteDataset, MissingMask, MultiModalDataset, collate_incomplete

SUBSET_BUDGET = 2**24
"""Elements of ``h`` (copied once per subset) that :meth:`MultiModalNet.predict_subsets` batches at most."""


class MultiModalNet(nn.Module):
    """Encoders + optional completion module + fused head + unimodal heads.

    Args:
        modalities: the modality names, in the column order of ``present``.
        encoders: name -> module mapping that modality's input ``[n, ...]`` to ``Float[n, *feature]``;
            an encoder with ``takes_lengths = True`` is also given the batch's ``Long[n]`` lengths, one
            with ``takes_extras = True`` the batch's per-sample extras (e.g. camera intrinsics).
        head: fusion and decoder, ``Float[N, M, *feature] -> prediction[N, ...]``.
        unimodal_heads: name -> ``f_dec^m``, ``Float[n, *feature] -> prediction[n, ...]``.
        completion: a module ``(h: Float[N, M, *feature], keep: Bool[N, M]) -> Float[N, M, *feature]``
            (mce-recon's ``CompletionTransformer``), or ``None`` to leave dropped slots at zero.
    """

    def __init__(
        self,
        modalities: tuple[str, ...],
        encoders: Mapping[str, nn.Module],
        head: nn.Module,
        unimodal_heads: Mapping[str, nn.Module],
        completion: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if set(encoders) != set(modalities) or set(unimodal_heads) != set(modalities):
            raise ValueError(
                f"encoders and unimodal_heads must have one entry per modality {modalities}; "
                f"got encoders {sorted(encoders)} and unimodal_heads {sorted(unimodal_heads)}"
            )
        self.modalities = modalities
        self.encoders = nn.ModuleDict(dict(encoders))
        self.unimodal_heads = nn.ModuleDict(dict(unimodal_heads))
        self.head = head
        self.completion = completion

    def encode(
        self,
        inputs: Mapping[str, Tensor],
        present: Tensor,
        lengths: Mapping[str, Tensor] | None = None,
        extras: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """``Float[N, M, *feature]``: each modality encoded for the samples that have it, zero elsewhere.

        Only present rows go through an encoder, so an absent modality costs nothing and can never
        leak into the features.
        """
        columns = []
        for m, name in enumerate(self.modalities):
            rows = present[:, m].nonzero().squeeze(1)
            encoder = self.encoders[name]
            x = inputs[name].index_select(0, rows)
            kwargs: dict[str, Any] = {}
            if lengths is not None and getattr(encoder, "takes_lengths", False):
                kwargs["lengths"] = lengths[name].index_select(0, rows)
            if extras is not None and getattr(encoder, "takes_extras", False):
                kwargs["extras"] = {key: value.index_select(0, rows) for key, value in extras.items()}
            out = encoder(x, **kwargs)
            full = out.new_zeros((present.shape[0], *out.shape[1:]))
            columns.append(full.index_copy(0, rows, out))
        return torch.stack(columns, dim=1)

    def complete(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M, *feature]``: the slots outside ``keep`` zeroed, then filled by the completion module."""
        if self.completion is not None:
            return self.completion(h, keep)  # type: ignore[no-any-return]
        mask = keep.reshape(*keep.shape, *([1] * (h.dim() - 2))).to(h.dtype)
        return h * mask

    def encode_alone(self, batch: Any, m: int) -> Tensor:
        """``Float[N, M, *feature]`` of a batch with only modality ``m`` encoded (where the sample has it).

        What the unimodal models and probes see: every other slot is zero, whatever the sample has.
        """
        only = torch.zeros_like(batch.present)
        only[:, m] = batch.present[:, m]
        return self.encode(batch.inputs, only, batch.lengths, batch.extras)

    def reconstruction_view(self, h: Tensor) -> Tensor:
        """The part of ``h`` the completion module reconstructs, compared by L_aux (Eq. 13).

        All of ``h`` here; a network that packs more into ``h`` (e.g. U-Net skip features beside
        the bottleneck) returns only the completed part, shaped ``[N, M, ...]``.
        """
        return h

    def predict(self, h: Tensor, keep: Tensor) -> Tensor:
        """The fused prediction from the modalities in ``keep`` (``Bool[N, M]``)."""
        return self.head(self.complete(h, keep))  # type: ignore[no-any-return]

    def predict_subsets(self, h: Tensor, keeps: Tensor, *, budget: int = SUBSET_BUDGET) -> Tensor:
        """``prediction[S, N, ...]``: :meth:`predict` of ``h`` (``Float[N, M, *feature]``) from each subset's
        ``keeps[s]`` (``Bool[S, N, M]``), the subsets batched (as many at once as keep ``h``'s copies within
        ``budget`` elements; at least one)."""
        if keeps.dim() != 3 or keeps.shape[1:] != h.shape[:2]:
            raise ValueError(f"expected keeps Bool[S, {h.shape[0]}, {h.shape[1]}]; got {list(keeps.shape)}")
        chunk = max(1, budget // max(1, h.numel()))
        predictions = []
        for first in range(0, keeps.shape[0], chunk):
            keep = keeps[first : first + chunk]
            rows = repeat(h, "batch ... -> (subset batch) ...", subset=keep.shape[0])
            prediction = self.predict(rows, rearrange(keep, "subset batch modality -> (subset batch) modality"))
            predictions.append(rearrange(prediction, "(subset batch) ... -> subset batch ...", subset=keep.shape[0]))
        return torch.cat(predictions)

    def unimodal(self, h: Tensor, m: int) -> Tensor:
        """``f_dec^m(h_m)`` for every row of ``h`` (Eq. 9)."""
        return self.unimodal_heads[self.modalities[m]](h[:, m])  # type: ignore[no-any-return]

    def forward(
        self,
        inputs: Mapping[str, Tensor],
        present: Tensor,
        lengths: Mapping[str, Tensor] | None = None,
        extras: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """The fused prediction from each sample's own modalities."""
        return self.predict(self.encode(inputs, present, lengths, extras), present)


def mode_dependent(model: nn.Module) -> bool:
    """Whether ``model`` computes differently in training mode (batch norm or dropout inside)."""
    return any(
        isinstance(layer, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)) for layer in model.modules()
    )


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in evaluation mode inside the block, then restore each layer's own mode."""
    modes = [(layer, layer.training) for layer in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for layer, training in modes:
            layer.training = training


@torch.no_grad()
def probe_features(net: MultiModalNet, train: MultiModalDataset) -> Tensor:
    """``Float[n, M, *feature]``: ``net``'s encoders on the first two samples of ``train`` (one if it has one), every
    modality kept, in evaluation mode, the global random generator left as it was (BraTS' crops draw from it).

    How a method reads the shape of a benchmark's features before it builds its own modules on them.
    """
    dataset = IncompleteDataset(train, MissingMask.full(train.sample_ids(), net.modalities))
    with torch.random.fork_rng(devices=[]), evaluation_mode(net):
        batch = collate_incomplete([dataset[i] for i in range(min(2, len(dataset)))])
        return net.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
