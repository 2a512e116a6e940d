"""RedCore's relative advantage, moving average and SupervisionRegulator, against hand computations."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mce_losses.redcore import SupervisionRegulator, moving_average, relative_advantage

XI_1, XI_2 = 0.015, 0.15


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1e3, allow_nan=False), min_size=1, max_size=10))
def test_relative_advantages_sum_to_zero(values: list[float]) -> None:
    ra = relative_advantage(torch.tensor(values, dtype=torch.float64))
    assert abs(float(ra.sum())) < 1e-9
    mean = sum(values) / len(values)
    if mean > 0:  # Eq. 5 by hand
        expected = [(mean - v) / mean for v in values]
        assert ra.tolist() == pytest.approx(expected, abs=1e-12)


def test_relative_advantage_sign_and_batch_rows() -> None:
    ra = relative_advantage(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    assert ra[0].tolist() == pytest.approx([0.5, 0.0, -0.5])  # mean 2: strong, balanced, weak
    assert ra[1].tolist() == [0.0, 0.0, 0.0]  # all-zero losses: defined as balanced


@pytest.mark.parametrize(
    ("losses", "error", "match"),
    [
        (torch.tensor([1.0, -0.1]), ValueError, ">= 0"),
        (torch.tensor([1.0, float("inf")]), ValueError, "finite"),
        (torch.tensor([1, 2]), TypeError, "int64"),
        (torch.tensor(1.0), ValueError, r"shape \[\.\.\., M\].*got shape \[\]"),
    ],
)
def test_relative_advantage_rejects_bad_losses(losses: torch.Tensor, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        relative_advantage(losses)


def test_moving_average_by_hand() -> None:
    sequence = [[4.0, 1.0], [2.0, 3.0], [6.0, 0.5], [1.0, 1.0]]
    by_hand = list(sequence[0])
    average = torch.tensor(sequence[0])
    for values in sequence[1:]:
        by_hand = [0.3 * old + 0.7 * new for old, new in zip(by_hand, values, strict=True)]
        average = moving_average(average, torch.tensor(values), beta=0.7)
    assert average.tolist() == pytest.approx(by_hand)
    assert moving_average(torch.tensor([5.0]), torch.tensor([2.0]), beta=1.0).tolist() == [2.0]


@pytest.mark.parametrize("beta", [0.0, 1.5, -0.1, True])
def test_moving_average_rejects_beta_outside_zero_one(beta: float) -> None:
    with pytest.raises(ValueError, match=r"beta must be a number in \(0, 1\]"):
        moving_average(torch.ones(2), torch.ones(2), beta=beta)


def test_moving_average_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"same shape; got \[2\] and \[3\]"):
        moving_average(torch.ones(2), torch.ones(3))


def test_first_update_follows_eq9_by_hand() -> None:
    regulator = SupervisionRegulator(2)
    start = XI_2 / math.sqrt(2)
    assert regulator.eta.tolist() == pytest.approx([start, start])  # uniform point of Γ1
    eta = regulator.update(torch.tensor([1.0, 3.0]))
    # r = [0.5, -0.5]; y = η0 - 0.1 r; both coordinates stay above ξ1 after scaling onto the sphere.
    y = [start - 0.05, start + 0.05]
    norm = math.hypot(*y)
    expected = [XI_2 * v / norm for v in y]
    assert min(expected) > XI_1
    assert eta.tolist() == pytest.approx(expected, abs=1e-7)
    assert eta.dtype == torch.float32
    assert int(regulator.eta_updates) == 1


def test_eta_moves_toward_the_weaker_modality_and_settles_at_the_vertex() -> None:
    regulator = SupervisionRegulator(3)
    etas = [regulator.update(torch.tensor([0.5, 2.0, 0.5], dtype=torch.float64)).tolist() for _ in range(60)]
    weak_weights = [eta[1] for eta in etas]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(weak_weights))
    assert weak_weights[-1] > weak_weights[0] > XI_2 / math.sqrt(3)
    # r = [0.5, -1, 0.5] forever: the descent of r^T η over Γ1 ends at the vertex favouring modality 1.
    assert etas[-1] == pytest.approx([XI_1, math.sqrt(XI_2**2 - 2 * XI_1**2), XI_1], abs=1e-9)
    assert regulator.advantage.tolist() == pytest.approx([0.5, -1.0, 0.5])
    assert abs(float(regulator.advantage.sum())) < 1e-12


def test_eta_changes_only_every_period_steps() -> None:
    regulator = SupervisionRegulator(2, period=3)
    generator = torch.Generator().manual_seed(3)
    etas = []
    for _ in range(10):
        etas.append(regulator.update(torch.rand(2, generator=generator) + 0.1).tolist())
    for step in range(1, 10):
        changed = etas[step] != etas[step - 1]
        assert changed == (step % 3 == 0), (step, etas)
    assert int(regulator.step) == 10
    assert int(regulator.eta_updates) == 4  # steps 0, 3, 6, 9


def test_regulator_moving_losses_and_advantage_by_hand() -> None:
    regulator = SupervisionRegulator(2, beta=0.7)
    sequence = [[1.0, 2.0], [3.0, 1.0], [2.0, 2.0]]
    average = list(sequence[0])
    regulator.update(torch.tensor(sequence[0]))
    for values in sequence[1:]:
        regulator.update(torch.tensor(values))
        average = [0.3 * old + 0.7 * new for old, new in zip(average, values, strict=True)]
    assert regulator.moving_losses.tolist() == pytest.approx(average)
    mean = sum(average) / 2
    assert regulator.advantage.tolist() == pytest.approx([(mean - v) / mean for v in average])


def test_unobserved_modality_keeps_its_average_and_delays_the_first_update() -> None:
    regulator = SupervisionRegulator(2, period=1)
    start = regulator.eta.clone()
    regulator.update(torch.tensor([1.0, float("nan")]), observed=torch.tensor([True, False]))
    assert torch.equal(regulator.eta, start)  # modality 1 never seen: no advantage yet
    assert regulator.advantage.tolist() == [0.0, 0.0]
    regulator.update(torch.tensor([1.0, 3.0]))
    assert regulator.moving_losses.tolist() == pytest.approx([1.0, 3.0])  # first sight of modality 1 starts it
    regulator.update(torch.tensor([2.0, float("nan")]), observed=torch.tensor([True, False]))
    assert regulator.moving_losses.tolist() == pytest.approx([0.3 + 1.4, 3.0])
    assert int(regulator.eta_updates) == 2


def test_state_dict_round_trip_resumes_identically() -> None:
    generator = torch.Generator().manual_seed(11)
    stream = [torch.rand(3, generator=generator) * torch.tensor([1.0, 2.0, 4.0]) for _ in range(20)]
    original = SupervisionRegulator(3, init="random", generator=torch.Generator().manual_seed(5))
    for losses in stream[:7]:
        original.update(losses)
    resumed = SupervisionRegulator(3)
    resumed.load_state_dict(original.state_dict())
    for losses in stream[7:]:
        assert torch.equal(original.update(losses), resumed.update(losses))
    assert set(original.state_dict()) == {"eta", "advantage", "moving_losses", "observed", "step", "eta_updates"}


def test_random_init_is_seeded_and_feasible() -> None:
    first = SupervisionRegulator(4, init="random", generator=torch.Generator().manual_seed(1)).eta
    again = SupervisionRegulator(4, init="random", generator=torch.Generator().manual_seed(1)).eta
    assert torch.equal(first, again)
    assert bool((first >= XI_1 - 1e-12).all())
    assert float(first.norm()) == pytest.approx(XI_2)


def test_forward_weights_losses_with_eta_and_passes_gradients() -> None:
    regulator = SupervisionRegulator(2)
    losses = torch.tensor([1.0, 2.0], requires_grad=True)
    eta = regulator.update(losses.detach())
    total = regulator(losses)
    total.backward()
    assert float(total.detach()) == pytest.approx(float(eta[0] + 2 * eta[1]))
    assert losses.grad is not None
    assert losses.grad.tolist() == pytest.approx(eta.tolist())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_modalities": 0}, "n_modalities must be an int >= 1"),
        ({"n_modalities": 2, "period": 0}, "period must be an int >= 1"),
        ({"n_modalities": 2, "p": 0.9}, "p must be >= 1"),
        ({"n_modalities": 2, "alpha_1": 0.0}, "alpha_1 must be a number > 0"),
        ({"n_modalities": 2, "beta": 0.0}, "beta must be a number"),
        ({"n_modalities": 2, "init": "zeros"}, "init must be 'uniform' or 'random'"),
        ({"n_modalities": 101}, "empty for M=101"),
    ],
)
def test_regulator_rejects_bad_configuration(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SupervisionRegulator(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("losses", "observed", "error", "match"),
    [
        (torch.ones(3), None, ValueError, r"shape \[2\].*got shape \[3\]"),
        (torch.tensor([1.0, float("nan")]), None, ValueError, "finite and >= 0"),
        (torch.tensor([1.0, -1.0]), None, ValueError, "finite and >= 0"),
        (torch.tensor([1, 2]), None, TypeError, "floating-point"),
        (torch.ones(2), torch.ones(2), ValueError, "observed must be a torch.bool tensor of shape"),
    ],
)
def test_regulator_update_rejects_bad_losses(
    losses: torch.Tensor, observed: torch.Tensor | None, error: type[Exception], match: str
) -> None:
    regulator = SupervisionRegulator(2)
    with pytest.raises(error, match=match):
        regulator.update(losses, observed)
    assert int(regulator.step) == 0  # a rejected call changes nothing


def test_step_size_grows_as_the_official_code_grows_it() -> None:
    """``etaext = 1.5`` every 500 iterations, starting at iteration 0: 0.15, then 0.225 from step 500."""
    regulator = SupervisionRegulator(2, alpha_1=0.1, alpha_growth=1.5, growth_every=500)
    assert regulator.step_size() == pytest.approx(0.15)
    regulator.step.fill_(499)
    assert regulator.step_size() == pytest.approx(0.15)
    regulator.step.fill_(500)
    assert regulator.step_size() == pytest.approx(0.225)
    assert SupervisionRegulator(2, alpha_1=0.1).step_size() == 0.1  # constant by default (Eq. 9)
    with pytest.raises(ValueError, match="alpha_growth must be a number >= 1"):
        SupervisionRegulator(2, alpha_growth=0.5)


def test_the_grown_step_size_is_the_one_applied() -> None:
    losses = torch.tensor([1.0, 3.0])
    grown = SupervisionRegulator(2, alpha_1=0.01, alpha_growth=2.0, growth_every=10)
    plain = SupervisionRegulator(2, alpha_1=0.02)
    torch.testing.assert_close(grown.update(losses), plain.update(losses))  # step 0: 0.01 * 2 = 0.02
