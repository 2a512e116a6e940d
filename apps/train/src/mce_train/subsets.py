"""The evaluation protocol's modality subsets: every non-empty subset, named ``"image+audio"``."""

from __future__ import annotations

import torch
from torch import Tensor


def named_subsets(modalities: tuple[str, ...]) -> list[tuple[str, Tensor]]:
    """Every non-empty subset as ``(name, Bool[M])``, by size, then in modality order (the order of the reports;
    :func:`mce_losses.all_subsets` orders by bit code, for the pair batch).

    >>> [name for name, _ in named_subsets(("image", "audio"))]
    ['image', 'audio', 'image+audio']
    """
    m = len(modalities)
    masks = [[bool(bits >> i & 1) for i in range(m)] for bits in range(1, 2**m)]
    masks.sort(key=lambda mask: (sum(mask), [not bit for bit in mask]))
    return [("+".join(n for n, bit in zip(modalities, mask, strict=True) if bit), torch.tensor(mask)) for mask in masks]
