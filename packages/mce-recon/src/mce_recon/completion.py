"""The MCE reconstruction (completion) module of paper Eq. 15.

``h = h + E_pos``; ``h = MHSA(h, h, h)``; ``h = FFN(h) + h`` over the stacked modality
features ``h`` (missing modalities zeroed), repeated ``depth`` times.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mce_recon._checks import check_choice, check_features, check_int, check_present, check_probability
from mce_recon.blocks import NORMS, CompletionLayer, Norm
from mce_recon.folding import fold_locations, repeat_per_location, unfold_locations


class CompletionTransformer(nn.Module):
    """Reconstruct missing modality features, and refine observed ones, by attention across modalities.

    The module zeroes the features of missing modalities itself (so nothing a caller leaves in a
    "missing" slot can reach the output), adds a learnable per-modality embedding ``E_pos``
    (``Float[1, M, D]``; for a zeroed slot it is the whole token: the learned mask token), and
    runs ``depth`` blocks of multi-head self-attention across the modality axis and a two-layer
    feed-forward network, each with a residual connection.

    Vector features ``Float[B, M, D]`` are ``B`` rows of ``M`` tokens. Feature maps
    ``Float[B, M, C, *spatial]`` (``C == dim``; 1-D, 2-D, 3-D or more spatial axes) are folded
    to ``B * prod(spatial)`` rows: attention runs across modalities at each location
    independently, with the same weights everywhere.

    Args:
        n_modalities: ``M``, the number of modality slots.
        dim: ``D``, the feature width (the channel count of feature maps).
        depth: number of attention + FFN blocks.
        heads: attention heads; must divide ``dim``.
        ffn_dim: hidden width of the FFN; ``None`` means ``4 * dim`` (the usual Transformer
            ratio; the authors' AV-MNIST model uses 1024 for ``dim=320``).
        dropout: dropout on attention weights, attention output and inside the FFN.
        refine_observed: ``True`` (the paper): every slot is replaced by the module's output.
            ``False``: observed slots are returned bit-identical to the input and only missing
            slots are filled.
        norm: ``"pre"`` (LayerNorm before attention and FFN, as in the authors' code),
            ``"post"`` (after each residual sum, the original Transformer) or ``"none"``.
        mask_missing_keys: ``False`` (the paper): missing slots take part in attention as
            ``0 + E_pos`` tokens, so every token can read which modalities are absent.
            ``True``: a missing slot is hidden from every other token's attention (it still
            attends to itself, so a sample with no observed modality never divides by zero).
        embed_every_layer: add ``E_pos`` before every block (the authors' code) rather than
            once before the first. Identical for ``depth=1``.
        max_tokens: if set, attention runs over chunks of at most ``max(1, max_tokens // M)``
            rows (``M`` tokens each) to cap the size of transient buffers on large spatial maps.
            The result does not depend on it (up to float rounding of the kernels).

    Shapes:
        * features: ``Float[B, M, D]`` or ``Float[B, M, D, *spatial]``.
        * present: ``Bool[B, M]``, ``True`` where a modality is observed.
        * output: the shape and dtype of ``features``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> recon = CompletionTransformer(n_modalities=3, dim=16, heads=4)
        >>> features = torch.randn(8, 3, 16)                  # [batch, modality, dim]
        >>> present = torch.rand(8, 3) < 0.6                  # [batch, modality]
        >>> recon(features, present).shape
        torch.Size([8, 3, 16])
        >>> maps = torch.randn(2, 3, 16, 5, 7)                # [batch, modality, channel, height, width]
        >>> recon(maps, torch.ones(2, 3, dtype=torch.bool)).shape
        torch.Size([2, 3, 16, 5, 7])
        >>> keep = CompletionTransformer(3, 16, refine_observed=False)
        >>> filled = keep(features, present)
        >>> bool((filled[present] == features[present]).all())
        True
    """

    def __init__(
        self,
        n_modalities: int,
        dim: int,
        *,
        depth: int = 1,
        heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.0,
        refine_observed: bool = True,
        norm: Norm = "pre",
        mask_missing_keys: bool = False,
        embed_every_layer: bool = True,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__()
        self.n_modalities = check_int("n_modalities", n_modalities, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.heads = check_int("heads", heads, minimum=1)
        if dim % heads:
            raise ValueError(f"heads must divide dim; got dim={dim}, heads={heads} (remainder {dim % heads})")
        self.ffn_dim = 4 * dim if ffn_dim is None else check_int("ffn_dim", ffn_dim, minimum=1)
        self.dropout = check_probability("dropout", dropout)
        self.norm: Norm = check_choice("norm", norm, NORMS)  # type: ignore[assignment]
        self.refine_observed = bool(refine_observed)
        self.mask_missing_keys = bool(mask_missing_keys)
        self.embed_every_layer = bool(embed_every_layer)
        self.max_tokens = None if max_tokens is None else check_int("max_tokens", max_tokens, minimum=1)

        self.modality_embedding = nn.Parameter(torch.empty(1, n_modalities, dim))
        nn.init.trunc_normal_(self.modality_embedding, std=0.02)
        self.layers = nn.ModuleList(
            CompletionLayer(dim, heads, self.ffn_dim, self.dropout, self.norm) for _ in range(depth)
        )

    def extra_repr(self) -> str:
        return (
            f"n_modalities={self.n_modalities}, dim={self.dim}, refine_observed={self.refine_observed}, "
            f"mask_missing_keys={self.mask_missing_keys}, embed_every_layer={self.embed_every_layer}, "
            f"max_tokens={self.max_tokens}"
        )

    def forward(self, features: Tensor, present: Tensor) -> Tensor:
        """Complete and refine the modality features.

        Args:
            features: ``Float[B, M, D]`` vectors or ``Float[B, M, D, *spatial]`` feature maps.
                Values in missing slots are ignored (they may be anything, NaN included).
            present: ``Bool[B, M]``, ``True`` where the modality is observed. For the auxiliary
                completion loss (paper Eqs. 12-13) pass a keep-mask that drops a subset of the
                observed modalities and compare the output at the dropped slots with the
                original features.

        Returns:
            ``h'``, the shape and dtype of ``features``.
        """
        features = check_features(features, self.n_modalities, self.dim)
        present = check_present(present, features)
        n_modalities = self.n_modalities
        spatial_shape = tuple(features.shape[3:])
        slot = present.reshape(present.shape + (1,) * (features.ndim - 2))  # Bool[B, M, 1, *1]
        zeroed = features.masked_fill(~slot, 0.0)

        rows = fold_locations(zeroed) if spatial_shape else zeroed  # Float[R, M, D]
        allowed: Tensor | None = None
        if self.mask_missing_keys:
            row_present = repeat_per_location(present, math.prod(spatial_shape)) if spatial_shape else present
            itself = torch.eye(n_modalities, dtype=torch.bool, device=present.device)
            allowed = (row_present[:, None, :] | itself)[:, None]  # Bool[R, 1, M(query), M(key)]

        n_rows = rows.shape[0]
        chunk = n_rows if self.max_tokens is None else max(1, self.max_tokens // n_modalities)
        if chunk >= n_rows:
            refined = self._encode(rows, allowed)
        else:  # a Python loop over static sizes: unrolled by torch.compile
            parts = []
            for start in range(0, n_rows, chunk):
                part_allowed = None if allowed is None else allowed[start : start + chunk]
                parts.append(self._encode(rows[start : start + chunk], part_allowed))
            refined = torch.cat(parts)

        out = (unfold_locations(refined, spatial_shape) if spatial_shape else refined).to(features.dtype)
        if not self.refine_observed:
            out = torch.where(slot, features, out)
        return out

    def _encode(self, tokens: Tensor, allowed: Tensor | None) -> Tensor:
        """Eq. 15 over ``Float[R, M, D]`` rows of modality tokens."""
        for index, layer in enumerate(self.layers):
            if index == 0 or self.embed_every_layer:
                tokens = tokens + self.modality_embedding
            tokens = layer(tokens, allowed)
        return tokens
