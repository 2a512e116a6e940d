"""mce-recon: the transformer reconstruction (completion) module of MCE (paper Eq. 15).

Stacked per-modality features (missing ones zeroed) plus a learned per-modality embedding go
through self-attention across modalities; the output completes missing modalities and refines
observed ones, for vectors ``[batch, modality, dim]`` and feature maps
``[batch, modality, channel, *spatial]`` alike.

>>> import torch, mce_recon
>>> _ = torch.manual_seed(0)
>>> recon = mce_recon.CompletionTransformer(n_modalities=2, dim=8, heads=2)
>>> features = torch.randn(4, 2, 8)
>>> present = torch.tensor([[True, True], [True, False], [False, True], [True, True]])
>>> recon(features, present).shape
torch.Size([4, 2, 8])
"""

from mce_recon.__about__ import __version__
from mce_recon.blocks import CompletionLayer, FeedForward, ModalityAttention
from mce_recon.completion import CompletionTransformer
from mce_recon.folding import fold_locations, unfold_locations

__all__ = [
    "CompletionLayer",
    "CompletionTransformer",
    "FeedForward",
    "ModalityAttention",
    "__version__",
    "fold_locations",
    "unfold_locations",
]
