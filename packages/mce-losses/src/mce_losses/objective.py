"""The composable MCE objective (Eq. 14) with the switches of the paper's ablation (Table 2).

:class:`MCEObjective` adds ``L_task + lambda_single L_single + lambda_sub L_sub + lambda_aux
L_aux`` and returns every term and both factors (:class:`MCETerms`) for logging. Each term and
each factor is switched by :class:`Switches`: a term that is off is an exact zero and its inputs
are not read (so the trainer need not compute them: ask :attr:`MCEObjective.needs_pairs` and
friends); a factor that is off is replaced by ones.

The switches and Table 2's rows (:class:`Switches`, :data:`ABLATION_ROWS`, and how rows j and m
are read) live in :mod:`mce_losses.ablation` and are re-exported here.

>>> import torch
>>> objective = MCEObjective(switches=ABLATION_ROWS["a"])      # row a: L_task alone
>>> objective(task=torch.tensor(0.5), present=torch.ones(2, 3, dtype=torch.bool)).total.item()
0.5
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from mce_losses._checks import (
    check_choice,
    check_floating,
    check_modality_vector,
    check_nonnegative_float,
    check_presence,
)
from mce_losses.ablation import ABLATION_ROWS as ABLATION_ROWS
from mce_losses.ablation import Switches as Switches
from mce_losses.losses import (
    Distance,
    DistanceFn,
    ModalityReduction,
    PairNormalization,
    SampleReduction,
    auxiliary_loss,
    single_modal_loss,
    subset_loss,
)
from mce_losses.subsets import SubsetPairs

_T = TypeVar("_T")


def _required(value: _T | None, name: str, term: str) -> _T:
    if value is None:
        raise ValueError(f"switches.{term} is on: pass {name}")
    return value


def _pairs_of(pairs: SubsetPairs | None, present: Tensor, term: str) -> SubsetPairs:
    checked = _required(pairs, "pairs (mce_losses.subset_pairs(present))", term)
    if not isinstance(checked, SubsetPairs):
        raise TypeError(f"pairs must be a SubsetPairs from mce_losses.subset_pairs; got {type(checked).__name__}")
    if checked.present is not present and (
        checked.present.shape != present.shape
        or checked.present.device != present.device
        or not torch.equal(checked.present, present)
    ):
        raise ValueError("pairs were built from a different presence matrix than the present passed")
    return checked


class MCETerms(NamedTuple):
    """What :class:`MCEObjective` returns: the total and each part, for the backward and the logs."""

    total: Tensor
    """Eq. 14, a scalar: backpropagate this."""
    task: Tensor
    """``L_task`` as given."""
    single: Tensor
    """``L_single`` (Eq. 9), unweighted by lambda; exact 0 when switched off."""
    sub: Tensor
    """``L_sub`` (Eq. 11); exact 0 when switched off."""
    aux: Tensor
    """``L_aux`` (Eq. 13); exact 0 when switched off."""
    a: Tensor
    """``Float[M]``, factor A as applied (ones when switched off), detached."""
    b: Tensor
    """``Float[M]``, factor B as applied (ones when switched off), detached."""

    def scalars(self) -> dict[str, float]:
        """The five losses as Python floats (one host synchronisation each), for a logger."""
        return {name: float(getattr(self, name).detach()) for name in ("total", "task", "single", "sub", "aux")}


class MCEObjective(nn.Module):
    """The MCE training objective (Eq. 14) with Table 2's switches.

    Args:
        factor_a: ``Float[M]`` from :func:`~mce_losses.factor_a` on the training set, held as a
            buffer (moves with ``.to()``, saved in ``state_dict``). Required when ``switches.a``.
        switches: which factors and terms are on; default full MCE (``ABLATION_ROWS["m"]``).
        lambda_single, lambda_sub, lambda_aux: the weights of Eq. 14 (``>= 0``).
        distance, detach_target: L_aux's choices (see :func:`~mce_losses.auxiliary_loss`).
        normalization: how L_sub and L_aux average their rows (see :func:`~mce_losses.subset_loss`).
        modality_reduction, sample_reduction: how L_single combines modalities and samples (see
            :func:`~mce_losses.single_modal_loss`).

    Call it with keyword arguments; inputs of terms that are off may be omitted (and are not
    read when given):

    * ``task``: the scalar task loss (``rho`` of the full prediction);
    * ``present``: ``Bool[N, M]``;
    * ``factor_b``: ``Float[M]`` from :func:`~mce_losses.factor_b` (after any all-reduce), when
      ``switches.b`` and L_single or L_aux is on;
    * ``unimodal_losses``: ``Float[N, M]`` per-sample losses of each modality's own head, for L_single;
    * ``pairs``: :func:`~mce_losses.subset_pairs` of ``present``, for L_sub and L_aux;
    * ``pair_losses``: ``Float[P]``, per-row losses of the subset predictions, for L_sub;
    * ``reconstructed``: ``[P, M, ...]`` and ``features``: ``[N, M, ...]``, for L_aux;
    * ``pair_weights``: optional ``Float[P]`` from :func:`~mce_losses.subset_pair_weights`, replacing
      the per-batch normalisation of L_sub and L_aux (a batch split across processes).
    """

    factor_a: Tensor | None

    def __init__(
        self,
        factor_a: Tensor | None = None,
        switches: Switches | None = None,
        *,
        lambda_single: float = 1.0,
        lambda_sub: float = 1.0,
        lambda_aux: float = 1.0,
        distance: Distance | DistanceFn = "l1",
        detach_target: bool = False,
        normalization: PairNormalization = "subset",
        modality_reduction: ModalityReduction = "sum",
        sample_reduction: SampleReduction = "batch",
    ) -> None:
        super().__init__()
        self.switches = Switches() if switches is None else switches
        if not isinstance(self.switches, Switches):
            raise TypeError(f"switches must be a Switches; got {type(self.switches).__name__}")
        if factor_a is not None:
            check_floating("factor_a", factor_a)
            if factor_a.dim() != 1:
                raise ValueError(f"factor_a must have shape [M]; got shape {list(factor_a.shape)}")
            factor_a = factor_a.detach().clone()
        elif self.switches.a:
            raise ValueError(
                "switches.a is on but no factor_a was given: pass factor_a(present_of_the_training_set) or switch A off"
            )
        self.register_buffer("factor_a", factor_a)
        self.lambda_single = check_nonnegative_float("lambda_single", lambda_single)
        self.lambda_sub = check_nonnegative_float("lambda_sub", lambda_sub)
        self.lambda_aux = check_nonnegative_float("lambda_aux", lambda_aux)
        if not callable(distance):
            check_choice("distance", distance, ("l1", "mse", "l2"))
        self.distance = distance
        self.detach_target = bool(detach_target)
        check_choice("normalization", normalization, ("subset", "sample"))
        check_choice("modality_reduction", modality_reduction, ("sum", "mean"))
        self.normalization: PairNormalization = normalization
        self.modality_reduction: ModalityReduction = modality_reduction
        check_choice("sample_reduction", sample_reduction, ("batch", "present"))
        self.sample_reduction: SampleReduction = sample_reduction

    @property
    def needs_factor_b(self) -> bool:
        """Whether ``factor_b`` must be passed (B on and a term it weights on)."""
        return self.switches.b and (self.switches.single or self.switches.aux)

    @property
    def needs_pairs(self) -> bool:
        """Whether the pair batch is used (L_sub or L_aux on)."""
        return self.switches.sub or self.switches.aux

    @property
    def needs_unimodal_losses(self) -> bool:
        """Whether ``unimodal_losses`` must be passed (L_single on)."""
        return self.switches.single

    @property
    def needs_reconstruction(self) -> bool:
        """Whether ``reconstructed`` and ``features`` must be passed (L_aux on)."""
        return self.switches.aux

    def extra_repr(self) -> str:
        return (
            f"switches={self.switches}, lambda_single={self.lambda_single}, lambda_sub={self.lambda_sub}, "
            f"lambda_aux={self.lambda_aux}, distance={self.distance!r}, detach_target={self.detach_target}, "
            f"normalization={self.normalization!r}, modality_reduction={self.modality_reduction!r}, "
            f"sample_reduction={self.sample_reduction!r}"
        )

    def _factor_a(self, n_modalities: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        if not self.switches.a or self.factor_a is None:
            return torch.ones(n_modalities, dtype=dtype, device=device)
        factor = check_modality_vector("factor_a", self.factor_a, n_modalities, device)
        return factor.to(dtype)

    def _factor_b(self, factor_b: Tensor | None, n_modalities: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        if not self.switches.b:
            return torch.ones(n_modalities, dtype=dtype, device=device)
        if factor_b is None:
            if self.needs_factor_b:
                raise ValueError("switches.b is on: pass factor_b (Float[M], from mce_losses.factor_b)")
            return torch.ones(n_modalities, dtype=dtype, device=device)
        return check_modality_vector("factor_b", factor_b, n_modalities, device).detach().to(dtype)

    def forward(
        self,
        *,
        task: Tensor,
        present: Tensor,
        factor_b: Tensor | None = None,
        unimodal_losses: Tensor | None = None,
        pairs: SubsetPairs | None = None,
        pair_losses: Tensor | None = None,
        reconstructed: Tensor | None = None,
        features: Tensor | None = None,
        pair_weights: Tensor | None = None,
    ) -> MCETerms:
        """Compute Eq. 14 and its parts; see the class docstring for the inputs."""
        check_floating("task", task)
        if task.dim() != 0:
            raise ValueError(f"task must be a scalar loss (shape []); got shape {list(task.shape)}")
        check_presence(present)
        n_modalities, device, dtype = present.shape[1], task.device, task.dtype
        if present.device != device:
            raise ValueError(f"present is on {present.device}; expected {device}, the device of task")
        a = self._factor_a(n_modalities, device, dtype).detach()
        b = self._factor_b(factor_b, n_modalities, device, dtype)
        weight = a * b
        zero = torch.zeros((), dtype=dtype, device=device)
        single = sub = aux = zero
        if self.switches.single:
            unimodal = _required(unimodal_losses, "unimodal_losses (Float[N, M])", "single")
            single = single_modal_loss(
                unimodal,
                present,
                weight,
                modality_reduction=self.modality_reduction,
                sample_reduction=self.sample_reduction,
            )
        if self.switches.sub:
            sub_pairs = _pairs_of(pairs, present, "sub")
            losses = _required(pair_losses, "pair_losses (Float[P])", "sub")
            sub = subset_loss(losses, sub_pairs, normalization=self.normalization, pair_weights=pair_weights)
        if self.switches.aux:
            aux_pairs = _pairs_of(pairs, present, "aux")
            aux = auxiliary_loss(
                _required(reconstructed, "reconstructed ([P, M, ...])", "aux"),
                _required(features, "features ([N, M, ...])", "aux"),
                aux_pairs,
                weight,
                distance=self.distance,
                detach_target=self.detach_target,
                normalization=self.normalization,
                pair_weights=pair_weights,
            )
        total = task
        if self.switches.single:
            total = total + self.lambda_single * single
        if self.switches.sub:
            total = total + self.lambda_sub * sub
        if self.switches.aux:
            total = total + self.lambda_aux * aux
        return MCETerms(total=total, task=task, single=single, sub=sub, aux=aux, a=a, b=b)
