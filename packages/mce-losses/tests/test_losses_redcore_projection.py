"""project_eta against independent solvers: a dense grid on the constraint surface and multi-start SLSQP."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar  # type: ignore[import-untyped]

from mce_losses.redcore_projection import _project_l2, _project_lp, project_eta

XI_1, XI_2 = 0.015, 0.15
Array = NDArray[np.float64]


def _ours(y: Array, p: float) -> Array:
    return project_eta(torch.tensor(y, dtype=torch.float64), p=p, xi_1=XI_1, xi_2=XI_2).numpy()


def _upper(M: int, p: float) -> float:
    return float((XI_2**p - (M - 1) * XI_1**p) ** (1.0 / p))


def _grid_m2(y: Array, p: float) -> Array:
    """Brute force for M = 2: walk the curve x2 = (ξ2^p - x1^p)^(1/p), then refine the best cell."""

    def on_curve(x1: Array) -> Array:
        return np.stack([x1, np.maximum(XI_2**p - x1**p, 0.0) ** (1.0 / p)], axis=-1)

    hi = _upper(2, p)
    x1 = np.linspace(XI_1, hi, 20001)
    points = on_curve(x1)
    distances = ((points - y) ** 2).sum(axis=-1)
    best = int(np.argmin(distances))
    lo_cell, hi_cell = x1[max(best - 1, 0)], x1[min(best + 1, x1.size - 1)]
    refined = minimize_scalar(
        lambda t: float(((on_curve(np.array([t]))[0] - y) ** 2).sum()),
        bounds=(lo_cell, hi_cell),
        method="bounded",
        options={"xatol": 1e-13},
    )
    candidates = [points[best], on_curve(np.array([refined.x]))[0]]
    return min(candidates, key=lambda c: float(((c - y) ** 2).sum()))


def _slsqp(y: Array, p: float, starts: list[Array]) -> Array:
    """Multi-start SLSQP on min ||x - y||² s.t. x ≥ ξ1, Σ x^p = ξ2^p; the best feasible local solution."""
    M = y.size
    best, best_value = None, math.inf
    for start in starts:
        result = minimize(
            lambda x: float(((x - y) ** 2).sum()),
            start,
            jac=lambda x: 2.0 * (x - y),
            method="SLSQP",
            bounds=[(XI_1, None)] * M,
            constraints=[{"type": "eq", "fun": lambda x: np.array([(np.abs(x) ** p).sum() / XI_2**p - 1.0])}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        x = np.asarray(result.x, dtype=np.float64)
        feasible = abs((x**p).sum() / XI_2**p - 1.0) < 1e-9 and bool((x >= XI_1 - 1e-12).all())
        value = float(((x - y) ** 2).sum())
        if feasible and value < best_value:
            best, best_value = x, value
    assert best is not None, f"SLSQP found no feasible point for y={y.tolist()}, p={p}"
    return best


def _feasible_starts(M: int, p: float, rng: np.random.Generator) -> list[Array]:
    starts = [np.full(M, XI_2 / M ** (1.0 / p))]
    for j in range(M):  # the vertices: all at ξ1 but one
        vertex = np.full(M, XI_1)
        vertex[j] = _upper(M, p)
        starts.append(vertex)
    for _ in range(4):
        raw = XI_1 + rng.random(M) * 0.2
        starts.append(raw * XI_2 / ((raw**p).sum() ** (1.0 / p)))
    return starts


def _grid_m3(y: Array, p: float) -> Array:
    """Brute force for M = 3: a 500 x 500 grid over (x1, x2) with x3 solved from the norm, SLSQP-polished."""
    axis = np.linspace(XI_1, _upper(3, p), 500)
    x1, x2 = np.meshgrid(axis, axis, indexing="ij")
    rest = XI_2**p - x1**p - x2**p
    valid = rest >= XI_1**p
    x3 = np.where(valid, np.maximum(rest, 0.0) ** (1.0 / p), np.nan)
    distances = (x1 - y[0]) ** 2 + (x2 - y[1]) ** 2 + (x3 - y[2]) ** 2
    distances = np.where(valid, distances, np.inf)
    order = np.argsort(distances, axis=None)[:3]
    seeds = [np.array([x1.flat[i], x2.flat[i], x3.flat[i]]) for i in order]
    polished = _slsqp(y, p, seeds)
    grid_best = seeds[0]
    return min([polished, grid_best], key=lambda c: float(((c - y) ** 2).sum()))


def _random_targets(M: int, rng: np.random.Generator, count: int) -> list[Array]:
    """Points like those Eq. 9 produces (η - α1·r with Σ r = 0), plus wide and all-negative ones."""
    targets = []
    for i in range(count):
        if i % 3 == 0:
            eta = XI_1 + rng.random(M) * 0.12
            r = rng.normal(size=M)
            targets.append(eta - 0.1 * (r - r.mean()))
        elif i % 3 == 1:
            targets.append(rng.uniform(-0.1, 0.3, size=M))
        else:
            targets.append(rng.uniform(-0.05, 0.12, size=M) if i % 2 else rng.uniform(-0.3, 0.0, size=M))
    return targets


def _distance(x: Array, y: Array) -> float:
    return float(np.sqrt(((x - y) ** 2).sum()))


def _assert_feasible(x: Array, p: float) -> None:
    assert (x >= XI_1 - 1e-12).all(), x
    assert (x**p).sum() ** (1.0 / p) == pytest.approx(XI_2, abs=1e-10)


@pytest.mark.parametrize("p", [2.0, 1.5, 1.0, 3.0])
def test_projection_matches_brute_force_and_slsqp_for_two_modalities(p: float) -> None:
    rng = np.random.default_rng(1000 + int(10 * p))
    for y in _random_targets(2, rng, 24):
        ours = _ours(y, p)
        _assert_feasible(ours, p)
        grid = _grid_m2(y, p)
        slsqp = _slsqp(y, p, _feasible_starts(2, p, rng))
        for reference in (grid, slsqp):
            assert _distance(ours, y) == pytest.approx(_distance(reference, y), abs=1e-8), (y, ours, reference)
        np.testing.assert_allclose(ours, grid, atol=1e-5, err_msg=f"y={y.tolist()}, p={p}")


@pytest.mark.parametrize("p", [2.0, 1.5])
def test_projection_matches_grid_and_slsqp_for_three_modalities(p: float) -> None:
    rng = np.random.default_rng(2000 + int(10 * p))
    for y in _random_targets(3, rng, 12):
        ours = _ours(y, p)
        _assert_feasible(ours, p)
        for reference in (_grid_m3(y, p), _slsqp(y, p, _feasible_starts(3, p, rng))):
            # ours must be at least as close as every independent answer, and no farther than the best.
            assert _distance(ours, y) <= _distance(reference, y) + 1e-8, (y, ours, reference)
        assert _distance(ours, y) == pytest.approx(_distance(_grid_m3(y, p), y), abs=1e-7)


def test_exact_l2_agrees_with_the_general_multiplier_bisection() -> None:
    rng = np.random.default_rng(7)
    for M in (2, 3, 5):
        for y in _random_targets(M, rng, 15):
            exact = _project_l2(y.tolist(), XI_1, XI_2)
            general = _project_lp(y.tolist(), 2.0, XI_1, XI_2)
            np.testing.assert_allclose(exact, general, atol=1e-9, err_msg=f"y={y.tolist()}")


def test_nonpositive_point_goes_to_the_vertex_of_its_largest_entry() -> None:
    x = _ours(np.array([-0.2, -0.1, -0.3]), 2.0)
    np.testing.assert_allclose(x, [XI_1, math.sqrt(XI_2**2 - 2 * XI_1**2), XI_1], atol=1e-12)


def test_feasible_point_is_returned_unchanged() -> None:
    y = np.array([0.05, 0.08, 0.0])
    y[2] = math.sqrt(XI_2**2 - 0.05**2 - 0.08**2)
    np.testing.assert_allclose(_ours(y, 2.0), y, atol=1e-12)


def test_dtype_and_device_are_kept() -> None:
    out = project_eta(torch.tensor([0.1, 0.2], dtype=torch.float32))
    assert out.dtype == torch.float32
    assert out.device == torch.device("cpu")


def test_one_modality_and_tight_bound_give_the_single_point() -> None:
    assert project_eta(torch.tensor([7.0])).tolist() == pytest.approx([XI_2])
    tight = project_eta(torch.tensor([0.3, -1.0, 0.0, 2.0]), xi_1=0.1, xi_2=0.2)  # 4 * 0.1² = 0.2²
    assert tight.tolist() == pytest.approx([0.1] * 4)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=8),
    p=st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.0]),
)
def test_projection_is_feasible_and_idempotent(values: list[float], p: float) -> None:
    y = torch.tensor(values, dtype=torch.float64)
    x = project_eta(y, p=p)
    _assert_feasible(x.numpy(), p)
    torch.testing.assert_close(project_eta(x, p=p), x, atol=1e-9, rtol=0.0)


@pytest.mark.parametrize(
    ("eta", "kwargs", "error", "match"),
    [
        (torch.ones(2, 2), {}, ValueError, r"shape \[M\].*got shape \[2, 2\]"),
        (torch.ones(0), {}, ValueError, r"got shape \[0\]"),
        (torch.tensor([0.1, float("nan")]), {}, ValueError, "finite"),
        (torch.tensor([1, 2]), {}, TypeError, "floating-point.*int64"),
        ([0.1, 0.2], {}, TypeError, "got list"),
        (torch.ones(2), {"p": 0.5}, ValueError, r"p must be >= 1.*got p=0.5"),
        (torch.ones(2), {"p": True}, TypeError, "p must be a real number"),
        (torch.ones(2), {"xi_1": 0.0}, ValueError, "xi_1 must be > 0"),
        (torch.ones(2), {"xi_2": -1.0}, ValueError, "xi_2 must be > 0"),
        (torch.ones(101), {}, ValueError, "empty for M=101"),
        (torch.ones(11), {"p": 1.0}, ValueError, "empty for M=11"),
    ],
)
def test_bad_arguments_raise(eta: object, kwargs: dict[str, float], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        project_eta(eta, **kwargs)  # type: ignore[arg-type]
