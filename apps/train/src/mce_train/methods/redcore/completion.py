"""RedCore's cross-modal encoders as a completion module (the benchmark network's ``completion`` slot).

Every benchmark network completes its features through one module
``completion(latent: Float[N, M, C, *space], keep: Bool[N, M]) -> Float[N, M, C, *space]``, called on
the part of ``h`` that is completed (all of it for vectors and nuScenes' BEV maps, the bottleneck
for BraTS). :class:`CrossModalCompletion` fills that slot with RedCore's Eq. 1: a dropped modality's
representation is imputed by its cross-modal encoder ``xenc^m`` from the other modalities kept, a
kept one is left as it is. So the benchmark's own ``complete`` (BraTS: flags and skip levels) runs
unchanged around it.

On maps the cross-modal encoder runs at each location on the ``(M - 1)·C`` channels of the other
modalities there (its linear layers are ``1 × 1`` convolutions): RedCore's encoders are MLPs on
vectors, and the spatial context is the benchmark's encoders' and fusion's business.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from einops import rearrange
from torch import Tensor, nn

from mce_train.methods.redcore.maps import channel_first


def slot_mask(keep: Tensor, dims: int) -> Tensor:
    """``Bool[N, M, 1, ...]``: ``keep`` broadcastable over a tensor of ``dims`` dimensions ``[N, M, C, *space]``."""
    return keep.reshape(*keep.shape, *([1] * (dims - 2)))


def others(h: Tensor, m: int) -> Tensor:
    """Every modality's slot of ``h`` but ``m``, concatenated in order along the channels, channel last.

    ``Float[n, M, C, *space] -> Float[n, *space, (M-1)·C]`` (a vector ``[n, M, D]`` gives ``[n, (M-1)·D]``).
    """
    keep = [j for j in range(h.shape[1]) if j != m]
    return rearrange(h[:, keep], "batch modality channel ... -> batch ... (modality channel)")


class CrossModalCompletion(nn.Module):
    """``(latent: Float[N, M, C, *space], keep: Bool[N, M]) -> Float[N, M, C, *space]`` by Eq. 1.

    Args:
        modalities: the modality names, in the column order of ``keep``.
        cross_encoders: name -> ``xenc^m``, ``Float[..., (M-1)·C] -> Float[..., C]`` on the last axis
            (:class:`~mce_train.methods.redcore.modules.ResidualCrossEncoder`).
    """

    def __init__(self, modalities: tuple[str, ...], cross_encoders: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if set(cross_encoders) != set(modalities):
            raise ValueError(
                f"cross_encoders must have one entry per modality {modalities}; got {sorted(cross_encoders)}"
            )
        if len(modalities) < 2:
            raise ValueError(f"RedCore imputes a modality from the others: it needs >= 2 modalities; got {modalities}")
        self.modalities = modalities
        self.cross_encoders = nn.ModuleDict(dict(cross_encoders))

    def impute(self, latent: Tensor, keep: Tensor, slots: Tensor | None = None) -> Tensor:
        """``ẑ^m = xenc^m(the other kept modalities)`` in the ``slots`` (``Bool[N, M]``; default all), zero elsewhere.

        The slots outside ``keep`` are zeroed before anything reads them, so a dropped modality's
        features (even NaN) never reach an imputation. Each ``xenc^m`` runs on the rows of its slots only.
        """
        if latent.dim() < 3 or keep.shape != latent.shape[:2]:
            raise ValueError(
                f"latent must be [N, M, C, *space] and keep [N, M]; got {list(latent.shape)} and {list(keep.shape)}"
            )
        if keep.shape[1] != len(self.modalities):
            raise ValueError(
                f"expected {len(self.modalities)} modalities {self.modalities}; got keep {list(keep.shape)}"
            )
        slots = torch.ones_like(keep) if slots is None else slots
        visible = latent.masked_fill(~slot_mask(keep, latent.dim()), 0.0)
        columns = []
        for m, name in enumerate(self.modalities):
            rows = slots[:, m].nonzero().squeeze(1)
            imputed = channel_first(self.cross_encoders[name](others(visible.index_select(0, rows), m)))
            full = imputed.new_zeros((latent.shape[0], *imputed.shape[1:]))
            columns.append(full.index_copy(0, rows, imputed))
        return torch.stack(columns, dim=1)

    def forward(self, latent: Tensor, keep: Tensor) -> Tensor:
        """The kept slots of ``latent`` as they are, the dropped ones imputed (Eq. 1)."""
        imputed = self.impute(latent, keep, ~keep)
        return torch.where(slot_mask(keep, latent.dim()), latent, imputed.to(latent.dtype))
