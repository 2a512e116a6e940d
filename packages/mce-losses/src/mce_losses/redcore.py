"""RedCore's relative-advantage supervision regulation ("Red", Sun et al., AAAI 2024, Eqs. 4-10, Algorithm 1).

The imputation losses ``L^m`` of the modalities are weighted by ``η^m`` in
``L = L_VIB + Σ_m η^m·L^m``. The *relative advantage* ``RA^m = (L̄ - L^m)/L̄`` (Eqs. 4-5,
``L̄`` the mean over modalities) is positive for strong modalities (small loss) and negative
for weak ones, and ``Σ_m RA^m = M - M = 0`` exactly (the paper's Eq. 8). Every ``K`` steps,
``η ← Pro_Γ1[η - α1·r]`` (Eq. 9, projected gradient descent on ``r^T η``): weak modalities
(``RA < 0``, larger loss) get MORE supervision, strong ones less. ``r`` is computed from the
moving-average losses of Eq. 10, ``L_MAL ← (1 - β)·L_MAL + β·L`` (β weighs the *new* loss).

Choices where the paper is silent (all documented on :class:`SupervisionRegulator`):

* timing: Algorithm 1 computes ``r(θ_{sK})`` and updates ``η`` *before* the ``K`` model steps
  ``sK … sK+K-1``, so ``update`` changes ``η`` at steps ``0, K, 2K, …`` from the moving average
  that already includes that step's losses, and returns the ``η`` to weigh that same step;
* the moving average starts at the first observed loss of each modality (``L_MAL`` at the
  first step is that loss); relative advantages are scale-free, so a zero start would only
  differ through its transient;
* ``η_0``: the paper says "randomly choose"; the default is the uniform point of ``Γ1``
  (``ξ2 / M^(1/p)`` each, deterministic), ``init="random"`` draws a seeded random one;
* all losses zero: ``RA = 0`` (the balanced, trivial case ``r = 0`` the paper sets aside).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mce_losses.redcore_projection import check_constraint_parameters, check_nonempty, project_eta

__all__ = ["SupervisionRegulator", "moving_average", "relative_advantage"]


def _check_losses(name: str, losses: object) -> Tensor:
    if not isinstance(losses, Tensor) or not losses.is_floating_point():
        got = f"dtype {losses.dtype}" if isinstance(losses, Tensor) else type(losses).__name__
        raise TypeError(f"{name} must be a floating-point torch.Tensor; got {got}")
    if losses.dim() < 1 or losses.shape[-1] == 0:
        raise ValueError(f"{name} must have shape [..., M] with M >= 1 modalities; got shape {list(losses.shape)}")
    return losses


def _check_beta(beta: object) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 < beta <= 1.0:
        raise ValueError(f"beta must be a number in (0, 1] (the weight of the new loss, Eq. 10); got {beta!r}")
    return float(beta)


def relative_advantage(losses: Tensor) -> Tensor:
    """Relative advantage of each modality, ``RA^m = (L̄ - L^m) / L̄`` with ``L̄ = mean_m L^m`` (Eqs. 4-5).

    Positive: modality ``m`` is strong (smaller loss than average); negative: weak. The entries
    sum to zero (``Σ_m (L̄ - L^m) = M·L̄ - M·L̄``), up to rounding. When every loss is zero
    the advantage is defined as zero.

    Args:
        losses: ``Float[..., M]`` non-negative per-modality losses (imputation losses, or their
            moving averages as the paper uses them); leading dimensions are independent.

    Returns:
        ``Float[..., M]``.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: empty last dimension, or a negative or non-finite loss.

    Example:
        >>> import torch
        >>> relative_advantage(torch.tensor([1.0, 3.0])).double().round(decimals=4).tolist()
        [0.5, -0.5]
    """
    losses = _check_losses("losses", losses)
    if not bool(torch.isfinite(losses).all()):
        raise ValueError(f"losses must be finite; got {losses.tolist()}")
    if bool((losses < 0).any()):
        raise ValueError(f"losses must be >= 0 (the relative advantage divides by their mean); got {losses.tolist()}")
    mean = losses.mean(dim=-1, keepdim=True)
    safe = torch.where(mean > 0, mean, torch.ones_like(mean))
    return torch.where(mean > 0, (mean - losses) / safe, torch.zeros_like(losses))


def moving_average(previous: Tensor, current: Tensor, beta: float = 0.7) -> Tensor:
    """One step of Eq. 10: ``(1 - β)·previous + β·current`` (β is the weight of the NEW value).

    Args:
        previous: ``Float[...]``, ``L_MAL(θ_{k-1})``.
        current: ``Float[...]`` of the same shape, ``L_MSE(θ_k)``.
        beta: ``β ∈ (0, 1]``; the paper uses 0.7 (``β = 1`` disables the averaging).

    Returns:
        ``Float[...]``, ``L_MAL(θ_k)``.

    Example:
        >>> import torch
        >>> moving_average(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0]), beta=0.5).tolist()
        [2.0, 2.0]
    """
    beta = _check_beta(beta)
    previous, current = _check_losses("previous", previous), _check_losses("current", current)
    if previous.shape != current.shape:
        raise ValueError(
            f"previous and current must have the same shape; got {list(previous.shape)} and {list(current.shape)}"
        )
    return (1.0 - beta) * previous + beta * current


class SupervisionRegulator(nn.Module):
    """The double-loop supervision regulation of RedCore (Algorithm 1, Eqs. 4, 5, 9, 10).

    Call :meth:`update` once per training step with the detached per-modality imputation
    losses ``L^m_MSE(θ_k)``; it updates the moving averages (Eq. 10) every step, the relative
    advantages from them (Eqs. 4-5), and every ``period`` (``K``) steps — at steps
    ``0, K, 2K, …``, as in Algorithm 1 where ``η`` is updated before each block of ``K`` model
    steps — takes ``η ← Pro_Γ1[η - α1·r]`` (Eq. 9, :func:`~mce_losses.redcore_projection.project_eta`).
    A weak modality (larger loss, ``RA < 0``) thus gains weight; a strong one loses it.
    It returns the ``η`` to weigh that step's losses: ``loss = L_VIB + (η * L_MSE).sum()``.

    A modality absent from every sample of a batch has no loss that step: pass
    ``observed[m] = False`` (its entry may then be NaN) and its moving average is left alone.
    Until every modality has been observed once, ``advantage`` stays zero and ``η`` is not
    updated (the update waits for the next multiple of ``K``).

    Args:
        n_modalities: ``M``.
        p: the norm of constraint (6c); the paper uses 2.
        xi_1: the lower bound ``ξ1`` on each ``η^m`` (6b); paper 0.015.
        xi_2: ``||η||_p = ξ2`` (6c); paper 0.15.
        period: ``K``, model steps per ``η`` update; paper 3.
        alpha_1: the step size ``α1`` of Eq. 9; paper 0.1.
        alpha_growth, growth_every: the step size at training step ``k`` is
            ``α1 · alpha_growth^(⌊k / growth_every⌋ + 1)``: the official code multiplies it by 1.5 at
            steps 0, 500, 1000, ... (``etaext``; not in the paper). The default ``alpha_growth = 1``
            keeps ``α1`` constant (Eq. 9 as printed).
        beta: the weight of the new loss in Eq. 10; paper 0.7.
        init: ``"uniform"`` (default): ``η_0 = ξ2/M^(1/p)·1``, the centre of ``Γ1``;
            ``"random"``: the projection of a uniform draw from ``[0, ξ2)^M`` (the paper's
            "randomly choose η_0"), seeded by ``generator``.
        generator: the CPU ``torch.Generator`` for ``init="random"``.

    Attributes (buffers, all in ``state_dict``, so a resumed run continues identically):
        eta: ``Float64[M]``, the current supervision weights.
        advantage: ``Float64[M]``, the relative advantages of the latest step (zero-sum).
        moving_losses: ``Float64[M]``, ``L_MAL`` of Eq. 10.
        observed: ``Bool[M]``, modalities whose loss has been seen at least once.
        step: ``Long[]``, training steps seen; ``eta_updates``: ``Long[]``, ``η`` updates made.

    Example:
        >>> import torch
        >>> regulator = SupervisionRegulator(2)
        >>> eta = regulator.update(torch.tensor([1.0, 3.0]))  # step 0 updates η: modality 1 is weaker
        >>> bool(eta[1] > eta[0]), regulator.advantage.tolist()
        (True, [0.5, -0.5])
    """

    eta: Tensor
    advantage: Tensor
    moving_losses: Tensor
    observed: Tensor
    step: Tensor
    eta_updates: Tensor

    def __init__(
        self,
        n_modalities: int,
        *,
        p: float = 2.0,
        xi_1: float = 0.015,
        xi_2: float = 0.15,
        period: int = 3,
        alpha_1: float = 0.1,
        alpha_growth: float = 1.0,
        growth_every: int = 500,
        beta: float = 0.7,
        init: str = "uniform",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("n_modalities", n_modalities), ("period", period), ("growth_every", growth_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1; got {value!r}")
        self.p, self.xi_1, self.xi_2 = check_constraint_parameters(p, xi_1, xi_2)
        check_nonempty(n_modalities, self.p, self.xi_1, self.xi_2)
        if isinstance(alpha_1, bool) or not isinstance(alpha_1, (int, float)) or not alpha_1 > 0:
            raise ValueError(f"alpha_1 must be a number > 0 (the step size of Eq. 9); got {alpha_1!r}")
        if isinstance(alpha_growth, bool) or not isinstance(alpha_growth, (int, float)) or not alpha_growth >= 1:
            raise ValueError(f"alpha_growth must be a number >= 1 (1: a constant step size); got {alpha_growth!r}")
        self.n_modalities, self.period = n_modalities, period
        self.alpha_1, self.beta = float(alpha_1), _check_beta(beta)
        self.alpha_growth, self.growth_every = float(alpha_growth), growth_every
        if init == "uniform":
            eta = torch.full((n_modalities,), self.xi_2 / n_modalities ** (1.0 / self.p), dtype=torch.float64)
        elif init == "random":
            raw = torch.rand(n_modalities, generator=generator, dtype=torch.float64) * self.xi_2
            eta = project_eta(raw, p=self.p, xi_1=self.xi_1, xi_2=self.xi_2)
        else:
            raise ValueError(f"init must be 'uniform' or 'random'; got {init!r}")
        self.register_buffer("eta", eta)
        self.register_buffer("advantage", torch.zeros(n_modalities, dtype=torch.float64))
        self.register_buffer("moving_losses", torch.zeros(n_modalities, dtype=torch.float64))
        self.register_buffer("observed", torch.zeros(n_modalities, dtype=torch.bool))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("eta_updates", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return (
            f"n_modalities={self.n_modalities}, p={self.p}, xi_1={self.xi_1}, xi_2={self.xi_2}, "
            f"period={self.period}, alpha_1={self.alpha_1}, alpha_growth={self.alpha_growth}, "
            f"growth_every={self.growth_every}, beta={self.beta}"
        )

    @torch.no_grad()
    def update(self, losses: Tensor, observed: Tensor | None = None) -> Tensor:
        """Advance one training step; return ``Float[M]`` ``η`` (``losses``' dtype and device) for this step.

        Args:
            losses: ``Float[M]`` per-modality imputation losses of this step (detached; no
                gradient flows through the regulation). Non-negative and finite where observed.
            observed: optional ``Bool[M]``; ``False`` marks a modality with no loss this step.

        Raises:
            TypeError: wrong dtype. ValueError: wrong shape, negative or non-finite observed loss.
        """
        losses = _check_losses("losses", losses)
        M = self.n_modalities
        if tuple(losses.shape) != (M,):
            raise ValueError(f"losses must have shape [{M}] (one per modality); got shape {list(losses.shape)}")
        if observed is None:
            seen = torch.ones(M, dtype=torch.bool, device=self.eta.device)
        else:
            if not isinstance(observed, Tensor) or observed.dtype != torch.bool or tuple(observed.shape) != (M,):
                got = f"{observed.dtype} {list(observed.shape)}" if isinstance(observed, Tensor) else observed
                raise ValueError(f"observed must be a torch.bool tensor of shape [{M}]; got {got}")
            seen = observed.to(self.eta.device)
        current = losses.detach().to(device=self.eta.device, dtype=torch.float64)
        bad = seen & ~(torch.isfinite(current) & (current >= 0))
        if bool(bad.any()):
            raise ValueError(
                f"observed losses must be finite and >= 0; got {losses.tolist()} (observed {seen.tolist()})"
            )
        first = seen & ~self.observed
        averaged = moving_average(self.moving_losses, torch.where(seen, current, self.moving_losses), self.beta)
        self.moving_losses.copy_(torch.where(first, current, torch.where(seen, averaged, self.moving_losses)))
        self.observed.logical_or_(seen)
        ready = bool(self.observed.all())
        if ready:
            self.advantage.copy_(relative_advantage(self.moving_losses))
        if ready and int(self.step) % self.period == 0:
            stepped = self.eta - self.step_size() * self.advantage
            self.eta.copy_(project_eta(stepped, p=self.p, xi_1=self.xi_1, xi_2=self.xi_2))
            self.eta_updates += 1
        self.step += 1
        return self.eta.to(device=losses.device, dtype=losses.dtype, copy=True)

    def step_size(self) -> float:
        """``α1 · alpha_growth^(⌊step / growth_every⌋ + 1)`` at the current step (``α1`` when ``alpha_growth = 1``)."""
        return self.alpha_1 * self.alpha_growth ** (int(self.step) // self.growth_every + 1)

    def forward(self, losses: Tensor) -> Tensor:
        """``Σ_m η^m·losses^m``: the regulated imputation term of the loss (no update; gradients flow to ``losses``).

        Args:
            losses: ``Float[M]`` per-modality imputation losses (with their graph).

        Returns:
            ``Float[]`` in ``losses``' dtype.
        """
        losses = _check_losses("losses", losses)
        if tuple(losses.shape) != (self.n_modalities,):
            raise ValueError(f"losses must have shape [{self.n_modalities}]; got shape {list(losses.shape)}")
        return (self.eta.to(device=losses.device, dtype=losses.dtype) * losses).sum()
