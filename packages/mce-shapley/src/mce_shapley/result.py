"""The result object every estimator returns."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class ShapleyResult:
    """Per-sample Shapley values and what it cost to get them.

    Every float tensor is in the game's dtype (the dtype of the values the game returned;
    float64 if it returned several, promoted); the estimators accumulate in float64 inside.

    Attributes:
        values: ``Float[N, M]``; exactly 0 for players a sample does not have.
        std: ``Float[N, M]``, the standard error of each value (the standard deviation of
            the Monte Carlo mean); zeros where the value is exact.
        base: ``Float[N]``, ``v_i(empty set)``.
        grand: ``Float[N]``, ``v_i(A_i)``, the value of all of sample ``i``'s players.
        n_evals: game evaluations spent, counted as (sample, coalition) pairs.
        n_calls: calls made to the game.
        n_permutations: ``Long[N]``, permutations drawn per sample (coalition pairs for
            :func:`~mce_shapley.kernel`): 0 where the value is
            exact (all of :func:`~mce_shapley.exact`, and the samples that
            :func:`~mce_shapley.permutation` or :func:`~mce_shapley.kernel` solved exactly).
    """

    values: Tensor
    std: Tensor
    base: Tensor
    grand: Tensor
    n_evals: int
    n_calls: int
    n_permutations: Tensor

    @property
    def efficiency_gap(self) -> Tensor:
        """``Float[N]``: ``sum_j values[i, j] - (grand[i] - base[i])``; zero up to rounding for exact values."""
        return self.values.sum(dim=-1) - (self.grand - self.base)
