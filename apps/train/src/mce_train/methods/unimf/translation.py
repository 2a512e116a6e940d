"""UniMF's translation module (its "multimodal generation model") in the network's completion slot.

Official code (gw-zhong/UniMF ``src/models.py``, ``TRANSLATEModel``; ``src/train.py``): one translator per
missing modality. Each source token is ``dropout(relu(Linear(x)))`` (``trans_dropout``); the target sequence
is shifted right behind a learned ``[Uni]``/``[Bi]`` start token (``self.multi``, xavier-uniform); every
token gets a learned position embedding (restarting at 0 in each modality's block) plus its modality's
type embedding, then ``embed_dropout``; the sequence ``[sources, start, target[:-1]]`` goes through the
masked transformer (:func:`~mce_train.methods.unimf.transformer.translation_mask`) and ``Linear(E, d)``
maps the target block back to the modality's features. Training is teacher-forced with the MSE to the
real features (``nn.MSELoss``, summed over the translators); evaluation generates the target token by
token from the start token, each step's output fed back as the next input (``phase='test'``).

Here (see the method's "Beyond the paper"): the target is a modality's encoder feature ``h_m`` read as
``T`` tokens of ``D / T`` (:func:`~mce_train.methods.unimf.transformer.as_tokens`); one translator per
target modality takes whichever other modalities are kept, the absent ones masked out of the attention
keys (the same result as leaving them out of the sequence, which the official code does per setting).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from mce_train.methods.unimf.transformer import MaskedTransformer, as_tokens, as_vector, translation_mask


class Translator(nn.Module):
    """Generates modality ``target``'s ``T`` tokens (``Float[n, T, c]``) from the other modalities' tokens.

    Args:
        target: the generated modality's index among ``modalities``.
        modalities, tokens, chunk: ``M``, ``T`` and ``c = D / T``.
        dim, heads, layers: the translator's width ``E``, attention heads and layers.
        attn_dropout, embed_dropout, trans_dropout: the official code's three tuned dropouts.
    """

    def __init__(
        self,
        target: int,
        modalities: int,
        tokens: int,
        chunk: int,
        *,
        dim: int,
        heads: int,
        layers: int,
        attn_dropout: float,
        embed_dropout: float,
        trans_dropout: float,
    ) -> None:
        super().__init__()
        self.target, self.tokens = target, tokens
        self.embed_dropout, self.trans_dropout = embed_dropout, trans_dropout
        self.project = nn.ModuleList(nn.Linear(chunk, dim) for _ in range(modalities))
        self.start = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, dim)))
        self.positions = nn.Embedding(tokens, dim)
        self.types = nn.Embedding(modalities, dim)
        self.encoder = MaskedTransformer(dim, heads, layers, attn_dropout)
        self.out = nn.Linear(dim, chunk)

    def _embed(self, x: Tensor, kind: int) -> Tensor:
        """Project a block ``Float[n, t, c]`` of modality ``kind``: ``dropout(relu(Linear))``."""
        return functional.dropout(functional.relu(self.project[kind](x)), self.trans_dropout, self.training)

    def _place(self, x: Tensor, kind: int) -> Tensor:
        """Add positions ``0..t-1`` and ``kind``'s type embedding to ``Float[n, t, E]``, then ``embed_dropout``."""
        steps = torch.arange(x.shape[1], device=x.device)
        kinds = torch.full_like(steps, kind)
        return functional.dropout(x + self.positions(steps) + self.types(kinds), self.embed_dropout, self.training)

    def forward(self, sources: Tensor, kinds: list[int], keep: Tensor, target_in: Tensor) -> Tensor:
        """``Float[n, t + 1, c]``: the predicted target tokens ``0..t`` after the start and ``target_in``.

        Args:
            sources: ``Float[n, S, T, c]``, the source modalities' tokens (``kinds[s]`` is block ``s``'s modality).
            keep: ``Bool[n, S]``, which source blocks each row has; the others are never read.
            target_in: ``Float[n, t, c]``, the target tokens fed after the start token (``t < T``).
        """
        n, S = sources.shape[:2]
        visible = sources.masked_fill(~keep[:, :, None, None], 0.0)  # an absent block (even NaN) is never read
        blocks = [self._place(self._embed(visible[:, s], kind), kind) for s, kind in enumerate(kinds)]
        start = self.start.expand(n, 1, -1)
        target = torch.cat([start, self._embed(target_in, self.target)], dim=1)
        blocks.append(self._place(target, self.target))
        x = torch.cat(blocks, dim=1)
        mask = translation_mask(S, self.tokens, target.shape[1], x.device)
        padding = torch.cat([keep.repeat_interleave(self.tokens, dim=1), keep.new_ones(n, target.shape[1])], dim=1)
        out = self.encoder(x, mask, ~padding)
        return self.out(out[:, S * self.tokens :])  # type: ignore[no-any-return]

    def teacher_forced(self, sources: Tensor, kinds: list[int], keep: Tensor, target: Tensor) -> Tensor:
        """``Float[n, T, c]``: every target token predicted from the real ones before it (training)."""
        return self.forward(sources, kinds, keep, target[:, :-1])

    def generate(self, sources: Tensor, kinds: list[int], keep: Tensor) -> Tensor:
        """``Float[n, T, c]``: the target generated token by token from the start token (evaluation)."""
        made = sources.new_zeros(sources.shape[0], 0, sources.shape[-1])
        for _ in range(self.tokens):
            made = torch.cat([made, self.forward(sources, kinds, keep, made)[:, -1:]], dim=1)
        return made


class TranslationCompletion(nn.Module):
    """``(h: Float[N, M, D], keep: Bool[N, M]) -> Float[N, M, D]``: kept slots as they are, dropped ones generated.

    One :class:`Translator` per modality; a dropped modality is generated from the kept others only
    (never from another generated one, as the official one-modality settings translate ``L -> A`` and
    ``L -> V`` both from ``L``).
    """

    def __init__(self, modalities: tuple[str, ...], translators: dict[str, Translator], tokens: int) -> None:
        super().__init__()
        if set(translators) != set(modalities) or len(modalities) < 2:
            raise ValueError(f"need one translator per modality of {modalities} (>= 2); got {sorted(translators)}")
        self.modalities, self.tokens = modalities, tokens
        self.translators = nn.ModuleDict(translators)

    def translator(self, name: str) -> Translator:
        """The translator that generates modality ``name``."""
        translator = self.translators[name]
        if not isinstance(translator, Translator):
            raise TypeError(f"expected a Translator for {name!r}; got {type(translator).__name__}")
        return translator

    def _sources(self, h: Tensor, keep: Tensor, m: int) -> tuple[Tensor, list[int], Tensor]:
        others = [j for j in range(len(self.modalities)) if j != m]
        return as_tokens(h[:, others], self.tokens), others, keep[:, others]

    def forward(self, h: Tensor, keep: Tensor) -> Tensor:
        if h.dim() != 3 or keep.shape != h.shape[:2]:
            raise ValueError(f"expected h [N, M, D] and keep [N, M]; got {list(h.shape)} and {list(keep.shape)}")
        columns = []
        for m, name in enumerate(self.modalities):
            rows = (~keep[:, m]).nonzero().squeeze(1)
            sources, kinds, kept = self._sources(h.index_select(0, rows), keep.index_select(0, rows), m)
            made = as_vector(self.translator(name).generate(sources, kinds, kept)) if rows.numel() else None
            column = h[:, m].masked_fill(~keep[:, m, None], 0.0)
            columns.append(column if made is None else column.index_copy(0, rows, made.to(h.dtype)))
        return torch.stack(columns, dim=1)

    def translation_loss(self, h: Tensor, present: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The teacher-forced MSE, summed over target modalities (the official ``trans_loss``).

        Modality ``m`` is a target in the rows that have it and at least one other modality, translated
        from all the others they have; its features are the target (detached, as the official raw inputs
        are) and the teacher input. A target no row qualifies for adds nothing.
        """
        total = h.new_zeros(())
        logs: dict[str, float] = {}
        for m, name in enumerate(self.modalities):
            sources, kinds, kept = self._sources(h, present, m)
            rows = (present[:, m] & kept.any(1)).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            target = as_tokens(h[:, m].index_select(0, rows).detach(), self.tokens)
            predicted = self.translator(name).teacher_forced(
                sources.index_select(0, rows), kinds, kept.index_select(0, rows), target
            )
            mse = functional.mse_loss(predicted, target)
            total = total + mse
            logs[f"translation_{name}"] = float(mse.detach())
        return total, logs
