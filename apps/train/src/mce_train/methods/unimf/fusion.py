"""UniMF's fusion (its "multimodal understanding model"): a multimodal label over every modality's tokens.

Official code (gw-zhong/UniMF ``src/models.py``, ``UNIMFModel``): each modality's sequence is projected to
``E`` (a temporal ``Conv1d``), encoded by a GRU, given position and modality-type embeddings and
``embed_dropout``; a learned label token ``[CLS]`` (position 0, its own type) is put in front and the whole
sequence goes through the masked transformer of ``modules/unimf.py``
(:func:`~mce_train.methods.unimf.transformer.label_mask`). The label's output ``z`` is decoded as
``out(z + proj2(dropout(relu(proj1(z)))))`` (``out_dropout``).

Here the benchmark's encoders play the Conv1d + GRU part; each modality's completed feature
``Float[D]`` is read as ``T`` tokens of ``D / T`` and embedded by a per-modality ``Linear(D / T, E)``
(the official Conv1d with kernel size 1). This head replaces the benchmark's concatenation head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from mce_train.methods.unimf.transformer import MaskedTransformer, as_tokens, label_mask


class LabelFusion(nn.Module):
    """``Float[N, M, D] -> Float[N, classes]``: UniMF's label-attention transformer and residual decoder.

    Args:
        modalities, tokens, chunk: ``M``, ``T`` and ``c = D / T``.
        n_classes: the decoder's outputs.
        dim, heads, layers: the transformer's width ``E``, heads and layers.
        attn_dropout, embed_dropout, out_dropout: the official code's tuned dropouts.
    """

    def __init__(
        self,
        modalities: int,
        tokens: int,
        chunk: int,
        n_classes: int,
        *,
        dim: int,
        heads: int,
        layers: int,
        attn_dropout: float,
        embed_dropout: float,
        out_dropout: float,
    ) -> None:
        super().__init__()
        self.modalities, self.tokens = modalities, tokens
        self.embed_dropout, self.out_dropout = embed_dropout, out_dropout
        self.project = nn.ModuleList(nn.Linear(chunk, dim) for _ in range(modalities))
        self.label = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, dim)))
        self.positions = nn.Embedding(tokens, dim)
        self.types = nn.Embedding(modalities + 1, dim)  # the last: the label's (the official MULTI_MODAL_TYPE_IDX)
        self.encoder = MaskedTransformer(dim, heads, layers, attn_dropout)
        self.proj1, self.proj2 = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.decoder = nn.Linear(dim, n_classes)

    def label_state(self, h: Tensor) -> Tensor:
        """``Float[N, E]``: the label token's output over the modalities' tokens of ``h`` (``Float[N, M, D]``)."""
        if h.dim() != 3 or h.shape[1] != self.modalities:
            raise ValueError(f"expected h [N, {self.modalities}, D]; got {list(h.shape)}")
        tokens = as_tokens(h, self.tokens)
        steps = torch.arange(self.tokens, device=h.device)
        label = self.label + self.positions(steps[:1]) + self.types(torch.full_like(steps[:1], self.modalities))
        blocks = [label.expand(h.shape[0], 1, -1)]
        for m in range(self.modalities):
            x = self.project[m](tokens[:, m]) + self.positions(steps) + self.types(torch.full_like(steps, m))
            blocks.append(functional.dropout(x, self.embed_dropout, self.training))
        x = torch.cat(blocks, dim=1)
        return self.encoder(x, label_mask(self.modalities, self.tokens, x.device))[:, 0]  # type: ignore[no-any-return]

    def forward(self, h: Tensor) -> Tensor:
        z = self.label_state(h)
        z = z + self.proj2(functional.dropout(functional.relu(self.proj1(z)), self.out_dropout, self.training))
        return self.decoder(z)  # type: ignore[no-any-return]
