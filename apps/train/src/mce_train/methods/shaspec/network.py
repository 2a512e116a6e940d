"""ShaSpec's network on a benchmark's own network: shared + specific encoders, residual fusion, generated features.

``h`` holds both features of every modality, shared first: ``h[N, M, F_shared + C, *space]``.

* vectors (AVMNIST, IEMOCAP) and BEV maps (nuScenes): ``h = [r; s]``, ``F_shared = C``: ``r = T(stem^m(x_m))``
  (a per-modality stem, then the trunk ``T`` that every modality shares), ``s = f_enc^m(x_m)`` (the benchmark's
  encoder, the *specific* one);
* BraTS: ``h = [shared packed levels; s]``: the shared encoder is one 3-D U-Net (the benchmark's encoder
  architecture, one set of weights) applied to every modality, its packed levels (bottleneck ``r``, flags,
  skips) first, then the specific encoder's bottleneck ``s`` (``C = C_L`` channels).

``complete(h, keep)`` fuses the kept slots, ``f^m = r^m + proj([r^m; s^m])`` (one projection for all
modalities), and fills the dropped ones with the feature generated from the kept shared features
(:func:`~mce_train.methods.shaspec.terms.generate_missing`); it reads nothing of the dropped slots. The
benchmark's head decodes the result (BraTS: fused bottlenecks, flags, the shared encoder's skips of the kept
modalities). So ``model.encode`` then ``model.predict_subsets(h, keeps)`` (or the benchmark's predictor) gives
ShaSpec's prediction for every modality subset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from mce_train.benchmarks.base import Splits
from mce_train.benchmarks.brats.blocks import N_FLAGS, PackedLayout
from mce_train.benchmarks.brats.models import BraTSNet, FusionHead
from mce_train.benchmarks.brats.predictors import DECODED_VOXELS
from mce_train.methods.base import MethodContext
from mce_train.methods.shaspec.terms import assemble, pooled, slot_mask
from mce_train.network import SUBSET_BUDGET, MultiModalNet, probe_features


def layer(inputs: int, outputs: int, kernel: int, spatial: int, *, bias: bool) -> nn.Module:
    """A linear layer on vectors (``spatial = 0``), a ``kernel``-wide convolution on 2-D or 3-D maps."""
    if spatial == 0:
        return nn.Linear(inputs, outputs, bias=bias)
    if spatial == 2:
        return nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, bias=bias)
    if spatial == 3:
        return nn.Conv3d(inputs, outputs, kernel, padding=kernel // 2, bias=bias)
    raise ValueError(f"features must be vectors or 2-D / 3-D maps; got {spatial} spatial dimensions")


def trunk(dim: int, spatial: int) -> nn.Module:
    """The shared trunk (ours): ``layer(C, C) -> ReLU -> layer(C, C)`` (3x3 then 1x1 on maps)."""
    return nn.Sequential(layer(dim, dim, 3, spatial, bias=True), nn.ReLU(), layer(dim, dim, 1, spatial, bias=True))


def projection(dim: int, spatial: int) -> nn.Module:
    """``f_proj``: ``[r; s] (2C) -> C``, no bias (``DualNet_SS.py`` ``CompositionalLayer``: a 3x3x3 convolution
    of the concatenation; the paper's linear projection on vectors)."""
    return layer(2 * dim, dim, 3, spatial, bias=False)


def _call(module: nn.Module, x: Tensor, lengths: Tensor | None, extras: Mapping[str, Tensor] | None) -> Tensor:
    kwargs: dict[str, Any] = {}
    if lengths is not None and getattr(module, "takes_lengths", False):
        kwargs["lengths"] = lengths
    if extras is not None and getattr(module, "takes_extras", False):
        kwargs["extras"] = extras
    return module(x, **kwargs)  # type: ignore[no-any-return]


class SharedBranch(nn.Module):
    """One modality's way into the shared encoder: ``T(stem(x))``; ``trunk`` is the same module for every modality."""

    def __init__(self, stem: nn.Module, shared_trunk: nn.Module) -> None:
        super().__init__()
        self.stem, self.trunk = stem, shared_trunk
        self.takes_lengths = bool(getattr(stem, "takes_lengths", False))
        self.takes_extras = bool(getattr(stem, "takes_extras", False))

    def forward(self, x: Tensor, lengths: Tensor | None = None, extras: Mapping[str, Tensor] | None = None) -> Tensor:
        return self.trunk(_call(self.stem, x, lengths, extras))  # type: ignore[no-any-return]


class PairEncoder(nn.Module):
    """``[n, ...] -> Float[n, F_shared + C, *space]``: the shared features, then the specific encoder's first
    ``specific_channels`` channels (all without it)."""

    def __init__(self, specific: nn.Module, shared: nn.Module, specific_channels: int | None = None) -> None:
        super().__init__()
        self.specific, self.shared, self.specific_channels = specific, shared, specific_channels
        self.takes_lengths = any(getattr(m, "takes_lengths", False) for m in (specific, shared))
        self.takes_extras = any(getattr(m, "takes_extras", False) for m in (specific, shared))

    def forward(self, x: Tensor, lengths: Tensor | None = None, extras: Mapping[str, Tensor] | None = None) -> Tensor:
        s = _call(self.specific, x, lengths, extras)
        if self.specific_channels is not None:
            s = s[:, : self.specific_channels]
        r = _call(self.shared, x, lengths, extras)
        return torch.cat([r, s.to(r.dtype)], dim=1)


class ShaSpecNet(MultiModalNet):
    """ShaSpec over vector or map features ``h = [r; s]`` (``Float[N, M, 2C, *space]``).

    Args:
        network: the benchmark's network: its head and unimodal heads are kept (its completion module is not).
        encoders: name -> :class:`PairEncoder`.
        fuse: ``f_proj`` (:func:`projection`), shared by every modality.
        classifier: the domain classifier, ``Float[..., C] -> Float[..., M]``.
        dim: ``C``, the channels of ``r`` and ``s``.
        generation: the missing-feature rule (:data:`~mce_train.methods.shaspec.terms.GENERATIONS`).
    """

    def __init__(
        self,
        network: MultiModalNet,
        encoders: Mapping[str, nn.Module],
        fuse: nn.Module,
        classifier: nn.Module,
        dim: int,
        generation: str,
    ) -> None:
        super().__init__(network.modalities, encoders, network.head, dict(network.unimodal_heads.items()))
        self.fuse, self.domain_classifier, self.dim, self.generation = fuse, classifier, dim, generation
        patch = getattr(network, "patch", None)
        if patch is not None:
            self.patch = patch

    def parts(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(r, s)``: the shared and specific features ``Float[N, M, C, *space]`` of ``h``."""
        return h[:, :, : self.dim], h[:, :, h.shape[2] - self.dim :]

    def fuse_slots(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M, C, *space]``: ``r + proj([r; s])`` in the slots of ``keep``, zero elsewhere."""
        r, s = self.parts(h)
        slots = rearrange(keep, "batch modality -> (batch modality)").nonzero().squeeze(1)
        pairs = rearrange(torch.cat([r, s], dim=2), "batch modality ... -> (batch modality) ...")
        picked = pairs.index_select(0, slots)
        out: Tensor = picked[:, : self.dim] + self.fuse(picked)
        flat = out.new_zeros((pairs.shape[0], *out.shape[1:])).index_copy(0, slots, out)
        return rearrange(flat, "(batch modality) ... -> batch modality ...", modality=h.shape[1])

    def complete(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M, C, *space]``: fused features where kept, generated from the kept shared features elsewhere."""
        return assemble(self.fuse_slots(h, keep), self.parts(h)[0], keep, self.generation)

    def predict(self, h: Tensor, keep: Tensor) -> Tensor:
        """The head on :meth:`complete` (defined here so that a benchmark predictor's shortcut for the plain
        network, BraTS', defers to this network's :meth:`predict_subsets`)."""
        return self.head(self.complete(h, keep))  # type: ignore[no-any-return]

    def predict_subsets(self, h: Tensor, keeps: Tensor, *, budget: int = SUBSET_BUDGET) -> Tensor:
        """``prediction[S, N, ...]`` of every subset ``keeps[s]``: the kept slots are fused once (a slot's fused
        feature does not depend on the others), then assembled and decoded per subset, batched."""
        fused, r = self.fuse_slots(h, keeps.any(0)), self.parts(h)[0]
        chunk = max(1, budget // max(1, h.numel()))
        predictions = []
        for first in range(0, keeps.shape[0], chunk):
            keep = keeps[first : first + chunk]
            prediction = self.head(self.assemble_subsets(fused, r, keep)[1])
            predictions.append(rearrange(prediction, "(subset batch) ... -> subset batch ...", subset=keep.shape[0]))
        return torch.cat(predictions)

    def assemble_subsets(self, fused: Tensor, r: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """``(rows: Bool[S·N, M], completed: Float[S·N, M, C, *space])`` for the ``S`` subsets ``keep``
        (``Bool[S, N, M]``): the fused slots and shared features repeated per subset, then assembled with its rows."""
        subsets = keep.shape[0]
        rows = rearrange(keep, "subset batch modality -> (subset batch) modality")
        fused_rows, shared_rows = (repeat(x, "batch ... -> (subset batch) ...", subset=subsets) for x in (fused, r))
        return rows, assemble(fused_rows, shared_rows, rows, self.generation)

    def domain_logits(self, h: Tensor) -> Tensor:
        """``Float[N, M, M]``: the domain classifier on each slot's (spatially averaged) specific feature."""
        return self.domain_classifier(pooled(self.parts(h)[1]))  # type: ignore[no-any-return]

    def unimodal(self, h: Tensor, m: int) -> Tensor:
        """``f_dec^m`` on modality ``m``'s fused feature, ``m`` kept alone (ShaSpec trains no unimodal head)."""
        only = torch.zeros(h.shape[:2], dtype=torch.bool, device=h.device)
        only[:, m] = True
        return self.unimodal_heads[self.modalities[m]](self.complete(h, only)[:, m])  # type: ignore[no-any-return]

    def encode_alone(self, batch: Any, m: int) -> Tensor:
        """``Float[N, M, C, *space]``: the completed features of modality ``m`` alone, what the head would see of it
        (the analyses' "encoder" of ShaSpec: shared and specific encoders and the fusion)."""
        only = torch.zeros_like(batch.present)
        only[:, m] = batch.present[:, m]
        return self.complete(self.encode(batch.inputs, only, batch.lengths, batch.extras), only)


class ShaSpecBraTSNet(ShaSpecNet):
    """ShaSpec on BraTS: ``h = [shared packed levels (F); specific bottleneck (C_L)]``: ``Float[N, M, F + C_L, g³]``.

    ``complete`` returns the benchmark's packed layout: fused (kept) or generated (dropped) bottlenecks, flags
    (kept; valid everywhere, as with the benchmark's completion module) and the shared encoder's skips of the kept
    modalities, which the fusion head averages.
    """

    def __init__(
        self,
        network: BraTSNet,
        encoders: Mapping[str, nn.Module],
        fuse: nn.Module,
        classifier: nn.Module,
        generation: str,
    ) -> None:
        super().__init__(network, encoders, fuse, classifier, network.layout.bottleneck, generation)
        self.layout: PackedLayout = network.layout

    def _flags(self, keep: Tensor, grid: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        mask = slot_mask(keep, 3 + len(grid)).to(dtype)
        return torch.cat([mask, torch.ones_like(mask)], dim=2).expand(-1, -1, -1, *grid)

    def complete(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M, F, g, g, g]``: the packed input of the benchmark's fusion head."""
        packed = h[:, :, : self.layout.width]
        bottleneck = super().complete(h, keep)
        grid = tuple(h.shape[3:])
        rest = packed[:, :, self.dim + N_FLAGS :]
        rest = torch.where(slot_mask(keep, h.dim()), rest, torch.zeros_like(rest))
        return torch.cat([bottleneck, self._flags(keep, grid, bottleneck.dtype), rest.to(bottleneck.dtype)], dim=2)

    def predict_subsets(self, h: Tensor, keeps: Tensor, *, budget: int = SUBSET_BUDGET) -> Tensor:
        """``Float[S, N, 4, D, H, W]``: as :func:`mce_train.benchmarks.brats.predictors.predict_subsets` does for
        the benchmark's network, each skip enters the decoder once per modality (its first convolution's term)."""
        head = self.head
        if not isinstance(head, FusionHead):
            return super().predict_subsets(h, keeps, budget=budget)
        terms = head.skip_terms(self.layout.unpack(h[:, :, : self.layout.width]).skips)
        fused, r = self.fuse_slots(h, keeps.any(0)), self.parts(h)[0]
        grid = tuple(h.shape[3:])
        chunk = max(1, DECODED_VOXELS // max(1, h.shape[0] * math.prod(grid) * 8**self.layout.depth))
        logits = []
        for first in range(0, keeps.shape[0], chunk):
            keep = keeps[first : first + chunk]
            rows, bottleneck = self.assemble_subsets(fused, r, keep)
            completed = torch.cat([bottleneck, self._flags(rows, grid, bottleneck.dtype)], dim=2)
            completed = rearrange(completed, "(subset batch) ... -> subset batch ...", subset=keep.shape[0])
            logits.append(head.forward_subsets(completed, terms))
        return torch.cat(logits)


@torch.no_grad()
def feature_shape(network: MultiModalNet, splits: Splits) -> tuple[int, int]:
    """``(C, spatial)``: the channels of a training sample's features and their number of spatial dimensions.

    The global random generator is left as it was."""
    h = probe_features(network, splits.train)
    if h.dim() < 3:
        raise ValueError(f"ShaSpec needs [N, M, C, *space] features; the encoders give {list(h.shape)}")
    return int(h.shape[2]), h.dim() - 3


EXTRA_SEED = 7_919
"""Offset of the seed ShaSpec's own modules are initialised from (under ``fork_rng``: the global generator, which
draws BraTS' crops, continues exactly as after the benchmark network's initialisation, as for the baseline)."""


def build_shaspec(context: MethodContext, generation: str) -> ShaSpecNet:
    """ShaSpec on the benchmark's network: its encoders are the specific ones, its head and unimodal heads kept."""
    network = context.network()
    names = network.modalities
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(context.seed * 1_000_003 + EXTRA_SEED)  # CPU only: CUDA streams untouched
        other = context.network()  # fresh encoders of the same architecture: the shared encoder (BraTS) or the stems
        if isinstance(network, BraTSNet):
            dim = network.layout.bottleneck
            shared = other.encoders[names[0]]  # one U-Net encoder for every modality (DualNet_SS.py: shared_enc)
            pairs = {name: PairEncoder(network.encoders[name], shared, specific_channels=dim) for name in names}
            classifier = nn.Linear(dim, len(names))  # DualNet_SS.py: dom_classifier, Linear(256, 4)
            return ShaSpecBraTSNet(network, pairs, projection(dim, 3), classifier, generation)
        dim, spatial = feature_shape(network, context.splits)
        shared_trunk = trunk(dim, spatial)
        pairs = {
            name: PairEncoder(network.encoders[name], SharedBranch(other.encoders[name], shared_trunk))
            for name in names
        }
        return ShaSpecNet(network, pairs, projection(dim, spatial), nn.Linear(dim, len(names)), dim, generation)
