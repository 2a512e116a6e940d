"""Building blocks of the BraTS network: 3-D U-Net encoder and decoder, a packed multi-scale layout, attention.

The U-Net follows mmFormer's per-modality encoder (Zhang et al., MICCAI 2022): a stem convolution, then
per level a stride-2 convolution and a residual pair of 3×3×3 convolutions, each convolution followed
by instance normalisation and a leaky ReLU. Level ``l`` has ``channels[l]`` channels at ``1 / 2**l``
of the input resolution; the last level is the bottleneck.

:class:`PackedLayout` stores every level of one modality in one tensor on the bottleneck grid, so the
shared :class:`~mce_train.network.MultiModalNet` can carry the skip features in its ``h[N, M, ...]``:
level ``l`` is folded space-to-depth by ``2**(L - l)`` per axis (lossless, and the input size is
recovered from the grid), after the bottleneck channels and two flag channels (``kept``, ``valid``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional

N_FLAGS = 2
"""Flag channels packed after the bottleneck: 0 = the modality is kept (its skips are real), 1 = its
bottleneck is valid (kept, or filled by the completion module)."""


class ConvBlock(nn.Sequential):
    """``Conv3d(k, stride) -> InstanceNorm3d(affine) -> LeakyReLU(0.01)``."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2),
            nn.InstanceNorm3d(out_channels, affine=True),
            nn.LeakyReLU(0.01),
        )


class UNetEncoder(nn.Module):
    """One modality's 3-D U-Net encoder: ``Float[n, 1, D, H, W] -> [Float[n, C_l, D / 2**l, ...] for each level]``."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.stem = ConvBlock(1, self.channels[0])
        self.down = nn.ModuleList(
            ConvBlock(a, b, stride=2) for a, b in zip(self.channels[:-1], self.channels[1:], strict=True)
        )
        self.residual = nn.ModuleList(nn.Sequential(ConvBlock(c, c), ConvBlock(c, c)) for c in self.channels)

    def forward(self, volume: Tensor) -> list[Tensor]:
        x = self.stem(volume)
        x = x + self.residual[0](x)
        levels = [x]
        for down, residual in zip(self.down, self.residual[1:], strict=True):
            x = down(x)
            x = x + residual(x)
            levels.append(x)
        return levels


class UNetDecoder(nn.Module):
    """3-D U-Net decoder: bottleneck ``Float[n, C_L, ...]`` and skips ``[Float[n, C_l, ...], l < L]`` -> logits.

    Per level (coarse to fine): a stride-2 transposed convolution to ``C_l`` channels, concatenation
    with the skip, ``convs`` convolution blocks; a 1×1×1 convolution gives ``Float[n, classes, D, H, W]``.
    """

    def __init__(self, channels: Sequence[int], n_classes: int, *, convs: int = 2) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.up = nn.ModuleList(
            nn.ConvTranspose3d(b, a, 2, stride=2) for a, b in zip(self.channels[:-1], self.channels[1:], strict=True)
        )
        self.merge = nn.ModuleList(
            nn.Sequential(ConvBlock(2 * c, c), *(ConvBlock(c, c) for _ in range(convs - 1))) for c in self.channels[:-1]
        )
        self.classifier = nn.Conv3d(self.channels[0], n_classes, 1)

    def forward(self, bottleneck: Tensor, skips: Sequence[Tensor]) -> Tensor:
        if len(skips) != len(self.channels) - 1:
            raise ValueError(f"expected {len(self.channels) - 1} skip levels; got {len(skips)}")
        x = bottleneck
        for level in reversed(range(len(skips))):
            x = self.merge[level](torch.cat([self.up[level](x), skips[level]], dim=1))
        return self.classifier(x)  # type: ignore[no-any-return]

    def _split(self, level: int) -> tuple[nn.Conv3d, list[nn.Module]]:
        """Level ``level``'s first convolution, and the layers after it (its norm and activation, the other blocks)."""
        block = self.merge[level]
        assert isinstance(block, nn.Sequential)
        first = block[0]
        assert isinstance(first, ConvBlock)
        conv = first[0]
        assert isinstance(conv, nn.Conv3d)
        return conv, [*list(first)[1:], *list(block)[1:]]

    def skip_terms(self, skips: Sequence[Tensor]) -> list[Tensor]:
        """What each skip contributes to its level's first convolution: ``[Float[n, C_l, ...] for l < L]``.

        That convolution is linear in its input ``[up; skip]``, so ``conv([up; skip]) = conv_up(up) +
        conv_skip(skip)``; ``conv_skip`` (no bias) of a weighted sum of skips is the weighted sum of their
        terms, which :meth:`forward_terms` takes in their place.
        """
        if len(skips) != len(self.channels) - 1:
            raise ValueError(f"expected {len(self.channels) - 1} skip levels; got {len(skips)}")
        terms = []
        for level, skip in enumerate(skips):
            conv, _ = self._split(level)
            weight = conv.weight[:, self.channels[level] :]
            terms.append(functional.conv3d(skip, weight, None, conv.stride, conv.padding))
        return terms

    def forward_terms(self, bottleneck: Tensor, terms: Sequence[Tensor]) -> Tensor:
        """:meth:`forward` with each skip given by its :meth:`skip_terms` term (the same logits up to rounding)."""
        if len(terms) != len(self.channels) - 1:
            raise ValueError(f"expected {len(self.channels) - 1} skip terms; got {len(terms)}")
        x = bottleneck
        for level in reversed(range(len(terms))):
            conv, rest = self._split(level)
            weight = conv.weight[:, : self.channels[level]]
            x = functional.conv3d(self.up[level](x), weight, conv.bias, conv.stride, conv.padding) + terms[level]
            for layer in rest:
                x = layer(x)
        return self.classifier(x)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Unpacked:
    """The parts of a packed tensor; leading dims (``[N, M]`` or ``[n]``) are kept.

    Attributes:
        bottleneck: ``Float[..., C_L, d, h, w]``.
        flags: ``Float[..., 2, d, h, w]`` (constant maps: kept, valid).
        skips: ``[Float[..., C_l, d * 2**(L-l), ...] for l < L]``, finest first.
    """

    bottleneck: Tensor
    flags: Tensor
    skips: list[Tensor]


@dataclass(frozen=True)
class PackedLayout:
    """How one modality's U-Net levels and flags share one ``Float[..., F, d, h, w]`` tensor on the bottleneck grid.

    >>> layout = PackedLayout((2, 4))
    >>> levels = [torch.randn(3, 2, 8, 8, 8), torch.randn(3, 4, 4, 4, 4)]
    >>> packed = layout.pack(levels, torch.ones(3, 2, 4, 4, 4))
    >>> tuple(packed.shape), layout.width
    ((3, 22, 4, 4, 4), 22)
    >>> torch.equal(layout.unpack(packed).skips[0], levels[0])
    True
    """

    channels: tuple[int, ...]

    @property
    def depth(self) -> int:
        """``L``, the number of down-samplings (the input divides by ``2**L``)."""
        return len(self.channels) - 1

    @property
    def bottleneck(self) -> int:
        """``C_L``, the bottleneck channels (what the completion module sees)."""
        return self.channels[-1]

    def sizes(self) -> list[int]:
        """Channel counts of the packed parts: bottleneck, flags, then each skip level folded."""
        folded = [c * 8 ** (self.depth - level) for level, c in enumerate(self.channels[:-1])]
        return [self.bottleneck, N_FLAGS, *folded]

    @property
    def width(self) -> int:
        """``F``, the packed channel count."""
        return sum(self.sizes())

    def pack(self, levels: Sequence[Tensor], flags: Tensor) -> Tensor:
        """``Float[..., F, d, h, w]`` from the encoder's levels (finest first) and ``Float[..., 2, d, h, w]`` flags."""
        if len(levels) != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} levels; got {len(levels)}")
        folded = [
            rearrange(
                x,
                "... channel (depth bd) (height bh) (width bw) -> ... (channel bd bh bw) depth height width",
                bd=2 ** (self.depth - level),
                bh=2 ** (self.depth - level),
                bw=2 ** (self.depth - level),
            )
            for level, x in enumerate(levels[:-1])
        ]
        return torch.cat([levels[-1], flags.to(levels[-1].dtype), *folded], dim=-4)

    def unpack(self, packed: Tensor) -> Unpacked:
        """The bottleneck, flags and skip levels of ``packed`` (views where possible)."""
        if packed.dim() < 4 or packed.shape[-4] != self.width:
            raise ValueError(f"expected packed features [..., {self.width}, d, h, w]; got {tuple(packed.shape)}")
        parts = torch.split(packed, self.sizes(), dim=-4)
        skips = [
            rearrange(
                part,
                "... (channel bd bh bw) depth height width -> ... channel (depth bd) (height bh) (width bw)",
                bd=2 ** (self.depth - level),
                bh=2 ** (self.depth - level),
                bw=2 ** (self.depth - level),
            )
            for level, part in enumerate(parts[2:])
        ]
        return Unpacked(parts[0], parts[1], skips)


class AttentionBlock(nn.Module):
    """A pre-norm transformer layer over tokens ``Float[B, S, C]``: ``x + MHSA(LN(x))``, then ``x + FFN(LN(x))``.

    ``keys`` (``Bool[B, S]``, optional) hides the ``False`` tokens from every query; each row needs
    at least one ``True``.
    """

    def __init__(self, dim: int, heads: int, *, ffn_ratio: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads must divide dim; got dim={dim}, heads={heads}")
        self.heads = heads
        self.norm_attention = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.project = nn.Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_ratio * dim), nn.GELU(), nn.Linear(ffn_ratio * dim, dim))

    def forward(self, tokens: Tensor, keys: Tensor | None = None) -> Tensor:
        query, key, value = rearrange(
            self.qkv(self.norm_attention(tokens)),
            "batch token (three head dim) -> three batch head token dim",
            three=3,
            head=self.heads,
        )
        mask = None if keys is None else keys[:, None, None, :]
        attended = functional.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        tokens = tokens + self.project(rearrange(attended, "batch head token dim -> batch token (head dim)"))
        return tokens + self.ffn(self.norm_ffn(tokens))  # type: ignore[no-any-return]
