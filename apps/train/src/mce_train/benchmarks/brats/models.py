"""BraTS2020: a 3-D U-Net encoder per MRI modality, completion at the bottleneck, mmFormer-style fusion, U-Net decoder.

Data flow (``M = 4`` modalities, ``L`` down-samplings, bottleneck grid ``g = patch / 2**L``)::

    x_m  Float[n, 1, D, H, W] --UNetEncoder--> levels --pack--> h[N, M, F, g, g, g]
    complete(h, keep):  bottleneck [N, M, C_L, g, g, g] -> CompletionTransformer (per grid cell);
                        skip levels of dropped modalities zeroed; flags (kept, valid) set
    head:  intra-modal self-attention per modality over its g³ bottleneck tokens,
           inter-modal self-attention over the tokens of the valid modalities,
           1×1×1 convolution of the concatenated modalities -> fused bottleneck;
           skips fused by the mean over the kept modalities; U-Net decoder -> Float[N, 4, D, H, W]
    f_dec^m:  a light U-Net decoder (one convolution per level) on modality m's own levels

Classes: 0 background, 1 necrosis / non-enhancing core, 2 oedema, 3 enhancing tumour.

Design choices (compact relative to mmFormer, Zhang et al., MICCAI 2022): mmFormer projects the
bottleneck to 512-d tokens and fuses each decoder level with a region-aware module; here the tokens
keep the bottleneck width and the skips are averaged over the kept modalities. The completion
module fills the bottleneck only (the skips carry no completed features), so a dropped modality's
bottleneck takes part in the inter-modal attention exactly when the completion module exists
("valid" flag). The positional embedding is learned on the training-crop grid and interpolated for
other grids, so whole volumes (sides divisible by ``2**L``) also pass through the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from einops import einsum, rearrange, repeat
from torch import Tensor, nn
from torch.nn import functional

from mce_data.brats import MODALITIES
from mce_recon import CompletionTransformer
from mce_train.benchmarks.brats.blocks import N_FLAGS, AttentionBlock, PackedLayout, UNetDecoder, UNetEncoder
from mce_train.network import MultiModalNet

N_CLASSES = 4


@dataclass(frozen=True)
class BraTSConfig:
    """Network sizes.

    Attributes:
        channels: channels per U-Net level, finest first (the last is the bottleneck width).
        patch: the training crop edge (voxels); the positional embedding lives on its bottleneck grid.
        heads: attention heads of the fusion and completion transformers.
    """

    channels: tuple[int, ...]
    patch: int
    heads: int

    def __post_init__(self) -> None:
        if len(self.channels) < 2:
            raise ValueError(f"channels needs at least two levels; got {self.channels}")
        if self.patch % 2 ** (len(self.channels) - 1):
            raise ValueError(
                f"patch must divide by 2**{len(self.channels) - 1} (one halving per level); got {self.patch}"
            )


PAPER = BraTSConfig(channels=(8, 16, 32, 64, 128), patch=80, heads=8)
"""mmFormer's encoder widths (8 to 128 channels, four halvings): 80³ crops -> a 5³ bottleneck."""
QUICK = BraTSConfig(channels=(4, 8, 16), patch=16, heads=2)
"""CPU smoke runs: 16³ crops -> a 4³ bottleneck with 16 channels."""


class ModalityEncoder(nn.Module):
    """``f_enc^m``: ``Float[n, 1, D, H, W] -> Float[n, F, D / 2**L, H / 2**L, W / 2**L]`` (packed levels, flags 1)."""

    def __init__(self, layout: PackedLayout) -> None:
        super().__init__()
        self.layout = layout
        self.unet = UNetEncoder(layout.channels)

    def forward(self, volume: Tensor) -> Tensor:
        step = 2**self.layout.depth
        if volume.dim() != 5 or volume.shape[1] != 1 or any(s % step for s in volume.shape[2:]):
            raise ValueError(
                f"expected a volume Float[n, 1, D, H, W] with sides divisible by {step}; got {tuple(volume.shape)}"
            )
        if volume.shape[0] == 0:  # no sample has this modality (instance norm refuses empty batches)
            grid = [s // step for s in volume.shape[2:]]
            return volume.new_zeros((0, self.layout.width, *grid))
        levels = self.unet(volume)
        bottleneck = levels[-1]
        flags = bottleneck.new_ones((bottleneck.shape[0], N_FLAGS, *bottleneck.shape[2:]))
        return self.layout.pack(levels, flags)


class FusionHead(nn.Module):
    """mmFormer-style fusion and a U-Net decoder: ``Float[N, M, F, g, g, g] -> Float[N, 4, D, H, W]`` logits."""

    def __init__(self, layout: PackedLayout, n_modalities: int, grid: int, heads: int) -> None:
        super().__init__()
        dim = layout.bottleneck
        self.layout = layout
        self.intra = nn.ModuleList(AttentionBlock(dim, heads) for _ in range(n_modalities))
        self.inter = AttentionBlock(dim, heads)
        self.position = nn.Parameter(torch.zeros(1, dim, grid, grid, grid))
        self.modality = nn.Parameter(torch.zeros(1, n_modalities, 1, dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        nn.init.trunc_normal_(self.modality, std=0.02)
        self.merge = nn.Conv3d(n_modalities * dim, dim, 1)
        self.decoder = UNetDecoder(layout.channels, N_CLASSES, convs=2)

    def _position(self, grid: tuple[int, ...]) -> Tensor:
        """``Float[1, tokens, C]``: the learned embedding, interpolated when the grid differs from training."""
        position: Tensor = self.position
        if tuple(position.shape[2:]) != grid:
            position = functional.interpolate(position, size=grid, mode="trilinear", align_corners=False)
        return rearrange(position, "one channel depth height width -> one (depth height width) channel")

    def fuse(self, bottleneck: Tensor, flags: Tensor) -> tuple[Tensor, Tensor]:
        """The fused bottleneck ``Float[N, C_L, g, g, g]`` and the skip weights ``Float[N, M]`` (the mean over
        the kept modalities) from the completed bottlenecks ``Float[N, M, C_L, g, g, g]`` and their flags
        ``Float[N, M, 2, g, g, g]``."""
        flags = flags[..., 0, 0, 0] > 0.5  # Bool[N, M, 2]
        kept, valid = flags[..., 0], flags[..., 1]
        valid = valid | ~valid.any(1, keepdim=True)  # nothing valid: attend to the (empty) slots, no NaN
        grid = tuple(bottleneck.shape[3:])
        tokens = rearrange(bottleneck, "batch modality channel d h w -> batch modality (d h w) channel")
        tokens = tokens + self._position(grid).unsqueeze(1)
        intra = torch.stack([block(tokens[:, m]) for m, block in enumerate(self.intra)], dim=1)
        joint = rearrange(intra + self.modality, "batch modality token channel -> batch (modality token) channel")
        keys = repeat(valid, "batch modality -> batch (modality token)", token=tokens.shape[2])
        joint = self.inter(joint, keys)
        fused = rearrange(
            joint,
            "batch (modality d h w) channel -> batch modality channel d h w",
            modality=bottleneck.shape[1],
            d=grid[0],
            h=grid[1],
        )
        fused = fused * valid[:, :, None, None, None, None].to(fused.dtype)
        merged = self.merge(rearrange(fused, "batch modality channel d h w -> batch (modality channel) d h w"))
        dtype = bottleneck.dtype
        weights = kept.to(dtype) / kept.sum(1, keepdim=True).clamp(min=1).to(dtype)
        return merged, weights

    def forward(self, h: Tensor) -> Tensor:
        parts = self.layout.unpack(h)
        merged, weights = self.fuse(parts.bottleneck, parts.flags)
        skips = [(skip * weights[:, :, None, None, None, None]).sum(1) for skip in parts.skips]
        return self.decoder(merged, skips)  # type: ignore[no-any-return]

    def skip_terms(self, skips: list[Tensor]) -> list[Tensor]:
        """Each modality's term of the decoder's first convolution per level: ``[Float[N, M, C_l, ...] for l < L]``
        from the skips ``[Float[N, M, C_l, ...]]`` (:meth:`UNetDecoder.skip_terms`; computed once for all subsets)."""
        modalities = skips[0].shape[1]
        flat = [rearrange(skip, "batch modality channel d h w -> (batch modality) channel d h w") for skip in skips]
        return [
            rearrange(term, "(batch modality) channel d h w -> batch modality channel d h w", modality=modalities)
            for term in self.decoder.skip_terms(flat)
        ]

    def forward_subsets(self, completed: Tensor, terms: list[Tensor]) -> Tensor:
        """``Float[S, N, 4, D, H, W]`` logits of every subset from its completed bottleneck and flags
        ``Float[S, N, M, C_L + 2, g, g, g]`` and the samples' :meth:`skip_terms`: :meth:`forward` of each
        subset, up to rounding (the mean of the kept skips' terms is the term of their mean)."""
        subsets = completed.shape[0]
        rows = rearrange(completed, "subset batch modality channel d h w -> (subset batch) modality channel d h w")
        width = self.layout.bottleneck
        merged, weights = self.fuse(rows[:, :, :width], rows[:, :, width : width + N_FLAGS])
        weights = rearrange(weights, "(subset batch) modality -> subset batch modality", subset=subsets)
        fused = [
            rearrange(
                einsum(
                    weights, term, "subset batch modality, batch modality channel d h w -> subset batch channel d h w"
                ),
                "subset batch channel d h w -> (subset batch) channel d h w",
            )
            for term in terms
        ]
        logits = self.decoder.forward_terms(merged, fused)
        return rearrange(logits, "(subset batch) label d h w -> subset batch label d h w", subset=subsets)


class UnimodalHead(nn.Module):
    """``f_dec^m``: a light U-Net decoder on one modality's packed levels: ``Float[n, F, g, g, g] -> Float[n, 4, ...]``.

    Light: one convolution block per level instead of the fused decoder's two.
    """

    def __init__(self, layout: PackedLayout) -> None:
        super().__init__()
        self.layout = layout
        self.decoder = UNetDecoder(layout.channels, N_CLASSES, convs=1)

    def forward(self, h: Tensor) -> Tensor:
        if h.shape[0] == 0:
            return h.new_zeros((0, N_CLASSES, *(s * 2**self.layout.depth for s in h.shape[2:])))
        parts = self.layout.unpack(h)
        return self.decoder(parts.bottleneck, parts.skips)  # type: ignore[no-any-return]


class BraTSNet(MultiModalNet):
    """:class:`~mce_train.network.MultiModalNet` over packed U-Net features: completion acts on the bottleneck.

    ``h`` is ``Float[N, M, F, g, g, g]`` (see :class:`~mce_train.benchmarks.brats.blocks.PackedLayout`).
    ``patch`` is the training crop edge: sliding-window inference uses windows of that size.
    """

    def __init__(
        self,
        config: BraTSConfig,
        encoders: Mapping[str, nn.Module],
        head: nn.Module,
        unimodal_heads: Mapping[str, nn.Module],
        completion: nn.Module | None,
    ) -> None:
        super().__init__(MODALITIES, encoders, head, unimodal_heads, completion)
        self.layout = PackedLayout(config.channels)
        self.patch = (config.patch,) * 3

    def complete(self, h: Tensor, keep: Tensor) -> Tensor:
        """The bottleneck completed (or zeroed without a completion module), dropped skips zeroed, flags set."""
        width = self.layout.bottleneck
        mask = keep[:, :, None, None, None, None].to(h.dtype)
        bottleneck, rest = h[:, :, :width], h[:, :, width + N_FLAGS :]
        if self.completion is not None:
            bottleneck = self.completion(bottleneck, keep).to(h.dtype)
            valid = torch.ones_like(mask)
        else:
            bottleneck, valid = bottleneck * mask, mask
        grid = tuple(h.shape[3:])
        flags = torch.cat([mask, valid], dim=2).expand(-1, -1, -1, *grid)
        return torch.cat([bottleneck, flags, rest * mask], dim=2)

    def reconstruction_view(self, h: Tensor) -> Tensor:
        """``Float[N, M, C_L, g, g, g]``: the bottleneck maps the completion module reconstructs (for L_aux)."""
        return h[:, :, : self.layout.bottleneck]


def build_network(config: BraTSConfig, *, completion: bool = True, completion_depth: int = 1) -> BraTSNet:
    """The BraTS network of ``config`` (with the Eq. 15 completion module of ``completion_depth`` blocks unless
    ``completion=False``)."""
    layout = PackedLayout(config.channels)
    grid = config.patch // 2**layout.depth
    return BraTSNet(
        config,
        {m: ModalityEncoder(layout) for m in MODALITIES},
        FusionHead(layout, len(MODALITIES), grid, config.heads),
        {m: UnimodalHead(layout) for m in MODALITIES},
        CompletionTransformer(len(MODALITIES), layout.bottleneck, depth=completion_depth, heads=config.heads)
        if completion
        else None,
    )
