"""The batch's modality subsets (Eq. 10), their feasible samples, and the (sample, subset) pair batch.

``S_batch`` holds every non-empty subset ``S`` of the ``M`` modalities that some sample of the
batch has in full; ``N_S`` is the set of those samples. L_sub (Eq. 11), L_aux (Eq. 13) and the
coalition values of Eq. 4 all range over the pairs ``(n, S)`` with ``n in N_S``. Here those
pairs become the rows of one batch, so a trainer evaluates all of them in ONE forward pass:

>>> import torch
>>> present = torch.tensor([[True, True, False], [True, False, True]])
>>> pairs = subset_pairs(present)
>>> pairs.subsets.int()                    # S_batch: {0}, {1}, {0,1}, {2}, {0,2}
tensor([[1, 0, 0],
        [0, 1, 0],
        [1, 1, 0],
        [0, 0, 1],
        [1, 0, 1]], dtype=torch.int32)
>>> pairs.sample_index, pairs.subset_index
(tensor([0, 1, 0, 0, 1, 1]), tensor([0, 0, 1, 2, 3, 4]))
>>> features = torch.arange(6.0).view(2, 3, 1)                  # [N, M, D]
>>> pair_features(features, pairs).squeeze(-1).tolist()         # [P, M]: dropped modalities zeroed
[[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0], [3.0, 0.0, 5.0]]

Everything is built with tensor operations over bit codes (no Python loop over samples). The
subset masks and the pairs have data-dependent sizes, so building them costs one host
synchronisation.

Subsets are ordered by their bit code ``sum_m 2**m * S[m]`` (modality 0 is the lowest bit);
pairs are ordered by subset, then by sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mce_losses._checks import check_modalities, check_presence, check_tensor


def all_subsets(n_modalities: int, device: torch.device | str | None = None) -> Tensor:
    """Every non-empty subset of ``n_modalities`` modalities: ``Bool[2**M - 1, M]``, by bit code.

    Row ``k`` is the subset whose bit code is ``k + 1``.

    >>> all_subsets(2).int()
    tensor([[1, 0],
            [0, 1],
            [1, 1]], dtype=torch.int32)
    """
    if isinstance(n_modalities, bool) or not isinstance(n_modalities, int):
        raise TypeError(f"n_modalities must be an int; got {type(n_modalities).__name__}")
    check_modalities("n_modalities", n_modalities)
    codes = torch.arange(1, 2**n_modalities, device=device)
    bits = torch.arange(n_modalities, device=device)
    return ((codes[:, None] >> bits) & 1).bool()


def subset_codes(masks: Tensor) -> Tensor:
    """Bit codes ``sum_m 2**m * mask[..., m]`` of modality masks ``Bool[..., M]`` -> ``Long[...]``.

    >>> subset_codes(torch.tensor([[True, False, True], [False, True, False]]))
    tensor([5, 2])
    """
    check_tensor("masks", masks)
    if masks.dtype != torch.bool or masks.dim() < 1:
        raise ValueError(
            f"masks must be a torch.bool tensor [..., M]; got dtype {masks.dtype}, shape {list(masks.shape)}"
        )
    check_modalities("masks", masks.shape[-1])
    weights = 2 ** torch.arange(masks.shape[-1], device=masks.device)
    return (masks.long() * weights).sum(dim=-1)


def _covered(present: Tensor, include_full: bool) -> tuple[Tensor, Tensor]:
    """All ``2**M - 1`` subsets and ``covered[k, n]``: subset ``k`` is feasible for sample ``n``."""
    n_modalities = check_modalities("present", present.shape[1])
    candidates = all_subsets(n_modalities, present.device)
    codes = torch.arange(1, 2**n_modalities, device=present.device)
    have = subset_codes(present)
    covered = (codes[:, None] & ~have[None, :]) == 0  # S is a subset of M_n
    if not include_full:
        covered &= codes[:, None] != have[None, :]
    return candidates, covered


def batch_subsets(present: Tensor, *, include_full: bool = True) -> tuple[Tensor, Tensor]:
    """``S_batch`` (Eq. 10) and its feasibility matrix, vectorised over samples.

    Args:
        present: ``Bool[N, M]``, ``M <= 16``. Rows with no modality take part in no subset.
        include_full: keep, for each sample, its full set of available modalities (Eq. 10 as
            written, default). False keeps only proper subsets ``S`` of ``M_n``: the pair
            ``(n, M_n)`` repeats the main forward, and the reference code's IEMOCAP script
            leaves it out of L_sub.

    Returns:
        ``(subsets, feasible)``: ``subsets: Bool[S, M]``, the subsets feasible for at least one
        sample, ordered by bit code; ``feasible: Bool[S, N]``, ``feasible[s, n]`` iff
        ``subsets[s]`` is a subset of sample ``n``'s modalities (``n in N_S``).

    >>> subsets, feasible = batch_subsets(torch.tensor([[True, False], [True, True]]))
    >>> subsets.int(), feasible.int()
    (tensor([[1, 0],
            [0, 1],
            [1, 1]], dtype=torch.int32), tensor([[1, 1],
            [0, 1],
            [0, 1]], dtype=torch.int32))
    """
    check_presence(present)
    candidates, covered = _covered(present, include_full)
    occurring = covered.any(dim=1)
    return candidates[occurring], covered[occurring]


@dataclass(frozen=True)
class SubsetPairs:
    """The feasible (sample, subset) pairs of a batch, one row per pair (``P`` rows).

    Build one with :func:`subset_pairs`. Typical use: ``x = pair_features(features, pairs)``,
    ``y = target[pairs.sample_index]``, one forward on ``x``, then per-row losses and scores.
    """

    sample_index: Tensor
    """``Long[P]``: the sample ``n`` of each row."""
    subset_index: Tensor
    """``Long[P]``: the row of :attr:`subsets` (the subset ``S``) of each row."""
    keep: Tensor
    """``Bool[P, M]``: the modalities kept in each row (``S``; a subset of ``present[n]``)."""
    subsets: Tensor
    """``Bool[S, M]``: ``S_batch`` (Eq. 10)."""
    feasible: Tensor
    """``Bool[S, N]``: ``feasible[s, n]`` iff ``n in N_S``."""
    present: Tensor
    """``Bool[N, M]``: the batch's presence matrix the pairs were built from."""
    include_full: bool
    """Whether each sample's full set ``M_n`` is among its pairs."""

    @property
    def drop(self) -> Tensor:
        """``Bool[P, M]``: the dropped modalities ``M_n \\ S`` of each row, the targets of L_aux (Eq. 12)."""
        return self.present[self.sample_index] & ~self.keep

    @property
    def n_pairs(self) -> int:
        """``P``."""
        return int(self.sample_index.shape[0])

    @property
    def n_subsets(self) -> int:
        """``|S_batch|``."""
        return int(self.subsets.shape[0])

    @property
    def n_samples(self) -> int:
        """``N``."""
        return int(self.present.shape[0])

    @property
    def n_modalities(self) -> int:
        """``M``."""
        return int(self.present.shape[1])


def subset_pairs(present: Tensor, *, include_full: bool = True) -> SubsetPairs:
    """Every feasible (sample, subset) pair of the batch as rows of one batch.

    Args:
        present: ``Bool[N, M]``, ``M <= 16``.
        include_full: see :func:`batch_subsets`. Keep the default True when the rows' scores
            feed :func:`~mce_losses.shapley_from_pairs` (the Shapley value needs ``v(M_n)``).

    Returns:
        :class:`SubsetPairs`; ``P = sum_n (2**|M_n| - 1)`` rows with ``include_full`` (one less
        per sample without). Sample ``n`` with subset ``S`` appears exactly once.
    """
    subsets, feasible = batch_subsets(present, include_full=include_full)
    subset_index, sample_index = feasible.nonzero(as_tuple=True)
    return SubsetPairs(
        sample_index=sample_index,
        subset_index=subset_index,
        keep=subsets[subset_index],
        subsets=subsets,
        feasible=feasible,
        present=present,
        include_full=include_full,
    )


def check_pairs(pairs: object) -> SubsetPairs:
    """``pairs`` if it is a :class:`SubsetPairs`, else a ``TypeError`` saying what to pass."""
    if not isinstance(pairs, SubsetPairs):
        raise TypeError(f"pairs must be a SubsetPairs from subset_pairs(present); got {type(pairs).__name__}")
    return pairs


def pair_features(features: Tensor, pairs: SubsetPairs, *, fill: float = 0.0) -> Tensor:
    """Gather each row's sample features and blank the modalities outside its subset.

    Args:
        features: ``[N, M, ...]`` per-modality features (vectors ``[N, M, D]`` or maps
            ``[N, M, C, *spatial]``).
        pairs: from :func:`subset_pairs` on the same batch.
        fill: the value of a dropped modality (0.0: Sec. 3.5 feeds absent modalities as zeros).

    Returns:
        ``[P, M, ...]``: row ``p`` is ``features[sample_index[p]]`` with modality ``m`` replaced
        by ``fill`` where ``keep[p, m]`` is False. Differentiable in ``features``.
    """
    check_pairs(pairs)
    check_tensor("features", features)
    n_samples, n_modalities = pairs.n_samples, pairs.n_modalities
    if features.dim() < 2 or tuple(features.shape[:2]) != (n_samples, n_modalities):
        raise ValueError(
            f"features must have shape [N, M, ...] = [{n_samples}, {n_modalities}, ...] to match the pairs' "
            f"presence matrix; got shape {list(features.shape)}"
        )
    if features.device != pairs.present.device:
        raise ValueError(f"features is on {features.device}; expected {pairs.present.device}, the pairs' device")
    rows = features[pairs.sample_index]
    keep = pairs.keep.view(*pairs.keep.shape, *([1] * (features.dim() - 2)))
    return torch.where(keep, rows, torch.full((), fill, dtype=rows.dtype, device=rows.device))


def subset_row_counts(pairs: SubsetPairs) -> Tensor:
    """``Float[2**M]``: how many rows of ``pairs`` each subset (by :func:`subset_codes`) has, i.e. ``|N_S|``.

    Sum it over processes (all-reduce) to get the global batch's ``|N_S|`` for :func:`subset_pair_weights`.

    >>> pairs = subset_pairs(torch.tensor([[True, True], [True, False]]))
    >>> subset_row_counts(pairs).tolist()      # {0}: 2 samples, {1}: 1, {0, 1}: 1
    [0.0, 2.0, 1.0, 1.0]
    """
    check_pairs(pairs)
    codes = subset_codes(pairs.keep)
    size = 2**pairs.n_modalities
    return torch.zeros(size, device=codes.device).index_add(0, codes, torch.ones(codes.shape[0], device=codes.device))


def subset_pair_weights(pairs: SubsetPairs, row_counts: Tensor | None = None, *, scale: float = 1.0) -> Tensor:
    """``Float[P]``: row weights ``scale / (|S_batch| |N_S|)`` that turn a weighted sum of the rows into Eqs. 11 / 13.

    ``sum_p w_p rho_p`` equals :func:`~mce_losses.subset_loss` with ``normalization="subset"`` when
    ``row_counts`` are this batch's own (:func:`subset_row_counts`, the default). With counts summed
    over the slices of a batch split across processes, each process's weighted sum is its share of
    the whole batch's L_sub / L_aux, and the shares add up to it exactly; pass ``scale=world_size``
    when the gradients are then averaged over processes.

    Args:
        pairs: this process's pairs.
        row_counts: ``Float[2**M]``, ``|N_S|`` per subset code over the whole batch (default: these pairs').
        scale: a factor on every weight.
    """
    check_pairs(pairs)
    counts = subset_row_counts(pairs) if row_counts is None else row_counts
    expected = (2**pairs.n_modalities,)
    if tuple(counts.shape) != expected:
        raise ValueError(
            f"row_counts must have shape {list(expected)} (one count per subset code); got {list(counts.shape)}"
        )
    n_subsets = (counts > 0).sum().clamp_min(1)
    per_row = counts.to(pairs.present.device)[subset_codes(pairs.keep)]
    return scale / (n_subsets * per_row.clamp_min(1))
