"""Euclidean projection onto RedCore's supervision domain ``Γ1 = {η ≥ ξ1·1, ||η||_p = ξ2}`` (paper Eq. 9).

``Γ1`` is not convex (the p-norm sphere), so "the" projection is the global minimiser of
``||x - y||_2`` over ``Γ1``; it is unique except on a measure-zero set of inputs, where the
tie is broken deterministically (lowest index first).

* ``p = 2`` is solved exactly. On the sphere ``||x||_2 = ξ2`` the distance is
  ``ξ2² - 2<x, y> + ||y||²``, so the projection maximises the linear function ``<x, y>``:

  - some ``y_i > 0``: the maximiser of ``<x, y>`` over the convex set
    ``{x ≥ ξ1, ||x||_2 ≤ ξ2}`` satisfies the (sufficient) convex KKT conditions with
    ``x_i = max(ξ1, t·y_i)``, ``t > 0`` fixed by ``||x||_2 = ξ2``. It lies on the sphere, so it
    is the global answer on ``Γ1`` too. ``t`` comes from an active-set sweep over the
    breakpoints ``t_j = ξ1 / y_(j)`` of the sorted positive entries (water filling);
  - every ``y_i ≤ 0``: all coordinates sit at ``ξ1`` but the one with the largest ``y_i``, which
    takes the rest of the norm (minimising a non-negative weighted sum of the increments over
    the sphere puts all the increment on the cheapest coordinate).

* ``p ≠ 2`` (``p ≥ 1``): bisection on the Lagrange multiplier ``λ`` of the norm constraint. For a
  given ``λ`` each coordinate minimises ``(x - y_i)²/2 + λ·x^p`` *globally* over
  ``[ξ1, U]``, ``U = (ξ2^p - (M-1)·ξ1^p)^(1/p)`` (no point of ``Γ1`` leaves that box, so the box
  changes nothing). Its derivative is monotone on either side of its single inflection point,
  so the candidates are the two ends and at most two stationary points found by bisection.
  ``Σ x_i(λ)^p`` does not increase with ``λ``, and a ``λ`` whose minimisers meet the norm
  exactly certifies a global minimum (Everett's theorem) — with ``λ ≥ 0`` when ``y`` lies
  outside the convex hull, ``λ < 0`` when the point must be pushed outwards. If
  ``Σ x_i(λ)^p`` jumps over ``ξ2^p`` (a duality gap; seen for ``p > 2`` with ``y`` inside),
  the coordinate that jumps is set to close the norm, each such candidate is polished by
  Newton's method on the KKT system, and the closest feasible one is returned: feasible, but
  then a local (not certified global) optimum — within 1e-8 of a brute-force grid in tests.
  For ``p = 1`` the set is convex and ``y`` is first shifted along ``1`` (which changes nothing).

The arithmetic is done on the host in float64 (M is a handful of modalities); the result
comes back with the input's dtype and device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

_BISECTIONS = 200
_GAP_TOLERANCE = 1e-9


def check_constraint_parameters(p: object, xi_1: object, xi_2: object) -> tuple[float, float, float]:
    """``(p, ξ1, ξ2)`` as floats with ``p ≥ 1``, ``ξ1 > 0``, ``ξ2 > 0``, or an error saying what came."""
    values = []
    for name, value in (("p", p), ("xi_1", xi_1), ("xi_2", xi_2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite; got {value}")
        values.append(float(value))
    p_, xi_1_, xi_2_ = values
    if p_ < 1.0:
        raise ValueError(f"p must be >= 1 (the l_p norm of the paper's constraint 6c); got p={p_}")
    if xi_1_ <= 0.0:
        raise ValueError(f"xi_1 must be > 0 (the paper's lower bound on every eta^m); got xi_1={xi_1_}")
    if xi_2_ <= 0.0:
        raise ValueError(f"xi_2 must be > 0 (the l_p norm of eta); got xi_2={xi_2_}")
    return p_, xi_1_, xi_2_


def check_nonempty(n_modalities: int, p: float, xi_1: float, xi_2: float) -> None:
    """Raise if ``Γ1`` is empty, i.e. ``M·ξ1^p > ξ2^p``: even ``η = ξ1·1`` has too large a norm."""
    if n_modalities * xi_1**p > xi_2**p * (1.0 + 1e-12):
        raise ValueError(
            f"the set {{eta >= xi_1, ||eta||_p = xi_2}} is empty for M={n_modalities}, p={p}, xi_1={xi_1}, "
            f"xi_2={xi_2}: M * xi_1**p = {n_modalities * xi_1**p:.6g} exceeds xi_2**p = {xi_2**p:.6g}. "
            "Lower xi_1 or raise xi_2"
        )


def project_eta(eta: Tensor, *, p: float = 2.0, xi_1: float = 0.015, xi_2: float = 0.15) -> Tensor:
    """Euclidean projection of ``eta`` onto ``{x ≥ ξ1 elementwise, ||x||_p = ξ2}`` (RedCore Eq. 9).

    Args:
        eta: ``Float[M]``, the point to project (in Eq. 9, ``η_s - α1·r(θ_s)``); any finite values.
        p: the norm of constraint (6c), ``p ≥ 1``. ``p = 2`` (the paper's setting) is exact
            (water filling); other ``p`` use bisection on the Lagrange multiplier (module docstring).
        xi_1: the lower bound ``ξ1 > 0`` on every coordinate (6b).
        xi_2: the norm ``ξ2`` (6c).

    Returns:
        ``Float[M]``: the closest point of the set, with ``eta``'s dtype and device.

    Raises:
        TypeError: ``eta`` is not a floating-point tensor, or a parameter is not a number.
        ValueError: ``eta`` is not 1-D, empty or non-finite; ``p < 1``; ``ξ1 ≤ 0``; ``ξ2 ≤ 0``; or
            the set is empty (``M·ξ1^p > ξ2^p``).

    Example:
        >>> import torch
        >>> x = project_eta(torch.tensor([0.3, 0.4, -1.0], dtype=torch.float64))
        >>> [round(v, 4) for v in x.tolist()]
        [0.0895, 0.1194, 0.015]
        >>> round(float(x.norm()), 6)
        0.15
    """
    p_, a, radius = check_constraint_parameters(p, xi_1, xi_2)
    if not isinstance(eta, Tensor) or not eta.is_floating_point():
        got = f"dtype {eta.dtype}" if isinstance(eta, Tensor) else type(eta).__name__
        raise TypeError(f"eta must be a floating-point torch.Tensor of shape [M]; got {got}")
    if eta.dim() != 1 or eta.numel() == 0:
        raise ValueError(f"eta must have shape [M] with M >= 1 (one entry per modality); got shape {list(eta.shape)}")
    y = [float(v) for v in eta.detach().to(device="cpu", dtype=torch.float64).tolist()]
    if not all(math.isfinite(v) for v in y):
        raise ValueError(f"eta must be finite; got {y}")
    check_nonempty(len(y), p_, a, radius)
    if len(y) == 1 or len(y) * a**p_ >= radius**p_ * (1.0 - 1e-12):
        # A single point: (ξ2) for one modality, or ξ1·1 when the bound is tight.
        x = [radius] if len(y) == 1 else [a] * len(y)
    elif p_ == 2.0:
        x = _project_l2(y, a, radius)
    elif p_ == 1.0:
        # Γ1 lies in the hyperplane Σx = ξ2, so shifting y along 1 changes nothing: centre it (no cancellation).
        shift = math.fsum(y) / len(y) - radius / len(y)
        x = _project_lp([v - shift for v in y], p_, a, radius)
    else:
        x = _project_lp(y, p_, a, radius)
    return torch.tensor(x, dtype=torch.float64).to(device=eta.device, dtype=eta.dtype)


def _project_l2(y: list[float], a: float, radius: float) -> list[float]:
    """Exact projection for ``p = 2`` (requires ``M ≥ 2`` and ``M·a² < radius²``)."""
    M = len(y)
    top = max(range(M), key=lambda i: (y[i], -i))
    if y[top] <= 0.0:
        x = [a] * M
        x[top] = math.sqrt(max(radius**2 - (M - 1) * a**2, a**2))
        return x
    # x_i = max(a, t·y_i) is unchanged when y is divided by its largest entry and t multiplied by it:
    # work with entries in (0, 1] so that no square underflows or breakpoint overflows.
    scale = y[top]
    unit = [v / scale for v in y]
    positive = sorted((v for v in unit if v > 0.0), reverse=True)
    # Sorted coordinate j is free once t >= a / y_(j). Find the last breakpoint whose norm stays <= radius:
    # t_j² (S + y_j²) + (M - j - 1) a² <= radius², multiplied through by y_j² (no division).
    free, squares = 1, 1.0
    while free < len(positive):
        y_j2 = positive[free] ** 2
        if a**2 * (squares + y_j2) > y_j2 * (radius**2 - (M - free - 1) * a**2):
            break
        squares += y_j2
        free += 1
    t = math.sqrt(max(radius**2 - (M - free) * a**2, 0.0) / squares)
    return [max(a, t * v) for v in unit]


def _bisect_root(fn: Callable[[float], float], lo: float, hi: float) -> float:
    """A root of ``fn`` on ``[lo, hi]`` where ``fn(lo) ≤ 0 ≤ fn(hi)`` or the reverse (bisection)."""
    rising = fn(hi) >= fn(lo)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if (fn(mid) < 0.0) == rising:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _coordinate_minimiser(y_i: float, lam: float, p: float, a: float, upper: float) -> float:
    """Global minimiser of ``h(x) = (x - y_i)²/2 + lam·x^p`` over ``[a, upper]``."""

    def h(x: float) -> float:  # (x - y_i)²/2 + lam·x^p minus its value at a, written so that no square overflows
        return float((x - a) * (0.5 * (x + a) - y_i) + lam * (x**p - a**p))

    def slope(x: float) -> float:
        return float(x - y_i + lam * p * x ** (p - 1.0))

    pieces = [(a, upper)]
    if lam < 0.0 and p not in (1.0, 2.0):
        # h'' = 1 + lam·p·(p-1)·x^(p-2) vanishes once: h' is monotone on either side of that point.
        bend = (-1.0 / (lam * p * (p - 1.0))) ** (1.0 / (p - 2.0))
        if a < bend < upper:
            pieces = [(a, bend), (bend, upper)]
    candidates = [a, upper]
    for lo, hi in pieces:
        s_lo, s_hi = slope(lo), slope(hi)
        if (s_lo <= 0.0 <= s_hi) or (s_hi <= 0.0 <= s_lo):
            candidates.append(_bisect_root(slope, lo, hi))
    return min(candidates, key=h)


def _project_lp(y: list[float], p: float, a: float, radius: float) -> list[float]:
    """Projection for general ``p ≥ 1`` by bisection on the multiplier (module docstring)."""
    M = len(y)
    target = radius**p
    upper = (target - (M - 1) * a**p) ** (1.0 / p)

    def point(lam: float) -> list[float]:
        return [_coordinate_minimiser(v, lam, p, a, upper) for v in y]

    def power_sum(x: list[float]) -> float:
        return math.fsum(v**p for v in x)

    lam_lo, lam_hi = 0.0, 0.0  # power_sum(point(lam_lo)) >= target >= power_sum(point(lam_hi))
    start = power_sum(point(0.0))
    step = 1.0
    if start >= target:
        while power_sum(point(lam_hi)) > target:
            lam_lo, lam_hi, step = lam_hi, lam_hi + step, 2.0 * step
    else:
        while power_sum(point(lam_lo)) < target:
            lam_hi, lam_lo, step = lam_lo, lam_lo - step, 2.0 * step
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lam_lo + lam_hi)
        if lam_hi - lam_lo <= 1e-15 * max(1.0, abs(mid)):
            break
        if power_sum(point(mid)) >= target:
            lam_lo = mid
        else:
            lam_hi = mid
    x_lo, x_hi = point(lam_lo), point(lam_hi)
    if power_sum(x_lo) - power_sum(x_hi) <= _GAP_TOLERANCE * target:
        x = x_lo if power_sum(x_lo) - target <= target - power_sum(x_hi) else x_hi
        scale = radius / power_sum(x) ** (1.0 / p)
        return [max(a, v * scale) for v in x]
    return _close_gap(y, x_lo, x_hi, p, a, radius)


def _close_gap(y: list[float], x_lo: list[float], x_hi: list[float], p: float, a: float, radius: float) -> list[float]:
    """At a duality gap: set one jumping coordinate to meet the norm, polish with Newton on the KKT system."""
    candidates = []
    for base in (x_lo, x_hi):
        for j in range(len(y)):
            rest = radius**p - sum(v**p for i, v in enumerate(base) if i != j)
            if x_lo[j] == x_hi[j] or rest < a**p:
                continue
            candidate = list(base)
            candidate[j] = rest ** (1.0 / p)
            candidates.append(candidate)
            polished = _newton_kkt(y, candidate, p, a, radius)
            if polished is not None:
                candidates.append(polished)
    if not candidates:  # cannot happen for a non-empty set; keep a feasible answer regardless
        scale = radius / sum(v**p for v in x_hi) ** (1.0 / p)
        return [max(a, v * scale) for v in x_hi]
    return min(candidates, key=lambda x: sum((c - v) * (c - v) for c, v in zip(x, y, strict=True)))


def _newton_kkt(y: list[float], start: list[float], p: float, a: float, radius: float) -> list[float] | None:
    """Newton on ``x_i - y_i + λ·p·x_i^(p-1) = 0`` (free ``i``), ``Σ x^p = radius^p``; None if it fails."""
    free = [i for i, v in enumerate(start) if v > a * (1.0 + 1e-9)]
    if not free:
        return None
    x = torch.tensor(start, dtype=torch.float64)
    y_free = torch.tensor([y[i] for i in free], dtype=torch.float64)
    x_free = x[free]
    # least-squares multiplier from the stationarity equations at the start
    grad = p * x_free ** (p - 1.0)
    lam = float(((y_free - x_free) * grad).sum() / (grad * grad).sum())
    fixed = float((x**p).sum() - (x_free**p).sum())
    for _ in range(50):
        grad = p * x_free ** (p - 1.0)
        residual = torch.cat([x_free - y_free + lam * grad, ((x_free**p).sum() + fixed - radius**p).reshape(1)])
        if float(residual.abs().max()) < 1e-15:
            break
        n = len(free)
        jacobian = torch.zeros(n + 1, n + 1, dtype=torch.float64)
        jacobian[:n, :n] = torch.diag(1.0 + lam * p * (p - 1.0) * x_free ** (p - 2.0))
        jacobian[:n, n] = grad
        jacobian[n, :n] = grad
        try:
            step = torch.linalg.solve(jacobian, -residual)
        except RuntimeError:
            return None
        x_free = x_free + step[:n]
        lam += float(step[n])
        if not bool(torch.isfinite(x_free).all()) or bool((x_free < a).any()):
            return None
    x[free] = x_free
    if abs(float((x**p).sum()) - radius**p) > 1e-12 * radius**p:
        return None
    return [float(v) for v in x.tolist()]
