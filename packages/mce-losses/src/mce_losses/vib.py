"""Variational information bottleneck pieces of RedCore ("Core", Eqs. 2-3; Alemi et al. 2016).

Each modality's encoder outputs a diagonal Gaussian ``N(μ, diag(exp(logvar)))``; the
representation is drawn with the reparameterisation trick ``z = μ + ε ⊙ σ``, ``ε ~ N(0, I)``,
and the prior is ``q(z) = N(0, I)``. The paper writes the noise as ``ε ⊙ f_Σ(x)`` with ``f_Σ``
"the covariance"; for a diagonal covariance the elementwise product only makes sense with the
standard deviation, which is what is used here (``σ = exp(logvar / 2)``; the log-variance is
the numerically safe output of a network).

Eq. 3 weighs the *task* term: ``L_VIB = mean_n [KL_n - γ·log q(y_n | z_n)] = mean KL + γ·CE``
with ``γ = 0.008``. Many VIB implementations instead weigh the KL (``CE + β·KL``, Alemi's β);
:func:`vib_loss` follows the paper by default and takes ``gamma_on="kl"`` for the other reading.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GaussianHead", "gaussian_kl", "reparameterize", "vib_loss"]


def _check_pair(mu: object, logvar: object) -> tuple[Tensor, Tensor]:
    for name, value in (("mu", mu), ("logvar", logvar)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            got = f"dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"{name} must be a floating-point torch.Tensor; got {got}")
    assert isinstance(mu, Tensor)
    assert isinstance(logvar, Tensor)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape; got {list(mu.shape)} and {list(logvar.shape)}")
    if mu.dim() < 1:
        raise ValueError(f"mu and logvar must have a feature dimension, shape [..., D]; got shape {list(mu.shape)}")
    return mu, logvar


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``z = μ + ε ⊙ exp(logvar / 2)`` with ``ε ~ N(0, I)``; differentiable in ``μ`` and ``logvar``.

    Args:
        mu: ``Float[..., D]`` means.
        logvar: ``Float[..., D]`` log-variances (same shape).
        generator: the ``torch.Generator`` for ``ε`` (on ``mu``'s device); None uses the global one.

    Returns:
        ``Float[..., D]``, one sample per entry.

    Example:
        >>> import torch
        >>> mu, logvar = torch.zeros(2, 3), torch.full((2, 3), -100.0)  # almost no noise
        >>> torch.allclose(reparameterize(mu, logvar, torch.Generator().manual_seed(0)), mu, atol=1e-10)
        True
    """
    mu, logvar = _check_pair(mu, logvar)
    noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + noise * torch.exp(0.5 * logvar)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(μ, diag(exp(logvar))) || N(0, I))`` per sample, summed over the feature dimension.

    ``KL = ½ Σ_d (exp(logvar_d) + μ_d² - 1 - logvar_d)``.

    Args:
        mu: ``Float[..., D]`` (typically ``Float[N, D]``).
        logvar: ``Float[..., D]``.

    Returns:
        ``Float[...]`` (``Float[N]``), non-negative.

    Example:
        >>> import torch
        >>> gaussian_kl(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.zeros(2, 2)).double().round(decimals=4).tolist()
        [0.0, 0.5]
    """
    mu, logvar = _check_pair(mu, logvar)
    return 0.5 * (torch.exp(logvar) + mu * mu - 1.0 - logvar).sum(dim=-1)


def vib_loss(task_loss: Tensor, kl: Tensor, gamma: float = 0.008, *, gamma_on: str = "task") -> Tensor:
    """The VIB objective of one modality (Eq. 3): ``mean(kl) + γ·mean(task_loss)``.

    Args:
        task_loss: ``Float[]`` or ``Float[N]`` negative log-likelihood ``-log q(y|z)`` (cross-entropy).
        kl: ``Float[]`` or ``Float[N]`` from :func:`gaussian_kl`.
        gamma: ``γ ≥ 0``; the paper uses 0.008.
        gamma_on: ``"task"`` (Eq. 3 as printed: ``KL + γ·CE``) or ``"kl"`` (``CE + γ·KL``, the β-VIB
            convention of many implementations).

    Returns:
        ``Float[]``. Sum it over the ``M + 1`` modalities (the ``M`` unimodal heads and the joint one).

    Example:
        >>> import torch
        >>> vib_loss(torch.tensor(2.0), torch.tensor([1.0, 5.0]), gamma=0.5)
        tensor(4.)
        >>> vib_loss(torch.tensor(2.0), torch.tensor([1.0, 5.0]), gamma=0.5, gamma_on="kl")
        tensor(3.5000)
    """
    for name, value in (("task_loss", task_loss), ("kl", kl)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            got = f"dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"{name} must be a floating-point torch.Tensor; got {got}")
        if value.dim() > 1:
            raise ValueError(f"{name} must be a scalar or have shape [N]; got shape {list(value.shape)}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0:
        raise ValueError(f"gamma must be a number >= 0; got {gamma!r}")
    if gamma_on == "task":
        return kl.mean() + gamma * task_loss.mean()
    if gamma_on == "kl":
        return task_loss.mean() + gamma * kl.mean()
    raise ValueError(f"gamma_on must be 'task' (Eq. 3: KL + gamma*CE) or 'kl' (CE + gamma*KL); got {gamma_on!r}")


class GaussianHead(nn.Module):
    """A linear layer producing the diagonal Gaussian ``(μ, logvar)`` of a variational encoder.

    Args:
        in_dim: input features.
        out_dim: ``D``, the representation size.

    Example:
        >>> import torch
        >>> head = GaussianHead(8, 4)
        >>> mu, logvar = head(torch.randn(5, 8, generator=torch.Generator().manual_seed(0)))
        >>> tuple(mu.shape), tuple(logvar.shape), tuple(gaussian_kl(mu, logvar).shape)
        ((5, 4), (5, 4), (5,))
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1; got {value!r}")
        self.out_dim = out_dim
        self.linear = nn.Linear(in_dim, 2 * out_dim)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """``Float[..., in_dim]`` -> ``(μ, logvar)``, each ``Float[..., out_dim]``."""
        if features.shape[-1:] != (self.linear.in_features,):
            raise ValueError(
                f"features must have shape [..., {self.linear.in_features}]; got shape {list(features.shape)}"
            )
        mu, logvar = self.linear(features).split(self.out_dim, dim=-1)
        return mu, logvar
