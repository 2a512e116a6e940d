"""VIB pieces: KL against torch.distributions, reparameterisation statistics and gradients, the loss."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from mce_losses.vib import GaussianHead, gaussian_kl, reparameterize, vib_loss


def test_gaussian_kl_matches_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    logvar = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), reference)
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).tolist() == [0.0, 0.0]


def test_reparameterize_statistics_with_a_seeded_generator() -> None:
    n = 200_000
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64).expand(n, 2)
    logvar = torch.tensor([math.log(4.0), math.log(0.25)], dtype=torch.float64).expand(n, 2)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    std = torch.tensor([2.0, 0.5], dtype=torch.float64)
    # five standard errors of the mean and of the variance (normal: var of s² is 2σ⁴/n)
    assert ((z.mean(0) - torch.tensor([1.0, -2.0])).abs() < 5 * std / math.sqrt(n)).all()
    assert ((z.var(0) - std**2).abs() < 5 * std**2 * math.sqrt(2.0 / n)).all()
    again = reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    assert torch.equal(z, again)


def test_reparameterize_passes_gradients_to_mu_and_logvar() -> None:
    mu = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 1.0, -1.0]], requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(2))
    mu_grad, logvar_grad = torch.autograd.grad(z.sum(), (mu, logvar))
    std = torch.exp(0.5 * logvar.detach())
    noise = (z.detach() - mu.detach()) / std
    torch.testing.assert_close(mu_grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar_grad, 0.5 * noise * std)  # d/dlogvar of ε·exp(logvar/2)


def test_vib_loss_weighs_the_task_term_by_default_as_in_eq3() -> None:
    task, kl = torch.tensor([2.0, 4.0]), torch.tensor([1.0, 3.0])  # means 3 and 2
    assert float(vib_loss(task, kl)) == pytest.approx(2.0 + 0.008 * 3.0)
    assert float(vib_loss(task, kl, gamma_on="kl")) == pytest.approx(3.0 + 0.008 * 2.0)
    assert float(vib_loss(torch.tensor(1.0), kl, gamma=0.1, gamma_on="kl")) == pytest.approx(1.0 + 0.1 * 2.0)
    assert float(vib_loss(torch.tensor(1.0), kl, gamma=0.1)) == pytest.approx(2.0 + 0.1 * 1.0)


def test_gaussian_head_shapes_and_training_signal() -> None:
    torch.manual_seed(0)
    head = GaussianHead(4, 3)
    features = torch.randn(8, 4, generator=torch.Generator().manual_seed(3))
    mu, logvar = head(features)
    assert mu.shape == logvar.shape == (8, 3)
    (weight_grad,) = torch.autograd.grad(gaussian_kl(mu, logvar).mean(), (head.linear.weight,))
    assert float(weight_grad.abs().sum()) > 0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4)),
            ValueError,
            r"same shape; got \[2, 3\] and \[2, 4\]",
        ),
        (lambda: gaussian_kl(torch.zeros(2, dtype=torch.long), torch.zeros(2)), TypeError, "mu must be a floating"),
        (lambda: reparameterize(torch.tensor(0.0), torch.tensor(0.0)), ValueError, "feature dimension"),
        (lambda: vib_loss(torch.tensor(1.0), torch.ones(2), gamma=-1.0), ValueError, "gamma must be a number >= 0"),
        (lambda: vib_loss(torch.tensor(1.0), torch.ones(2), gamma_on="both"), ValueError, "gamma_on must be"),
        (
            lambda: vib_loss(torch.ones(2, 2), torch.ones(2)),
            ValueError,
            r"task_loss must be a scalar or have shape \[N\]",
        ),
        (lambda: GaussianHead(0, 3), ValueError, "in_dim must be an int >= 1"),
        (lambda: GaussianHead(4, 3)(torch.zeros(2, 5)), ValueError, r"shape \[\.\.\., 4\]; got shape \[2, 5\]"),
    ],
)
def test_vib_bad_arguments_raise(call: object, error: type[Exception], match: str) -> None:
    assert callable(call)
    with pytest.raises(error, match=match):
        call()
