"""Paired kernel regression on odd features up to order 3: Shapley values for mid-size budgets.

For sample ``i`` with ``n = |A_i|`` players write a coalition as ``z`` in ``{0, 1}^n`` and
``y = z - 1/2``. Complementing a coalition maps ``y`` to ``-y``, so every game splits into an
even part (``e(S) = e(A_i minus S)``) and an odd part ``d(S) = (v(S) - v(A_i minus S)) / 2``.
The even part has no Shapley value beyond ``v(empty)`` (its Shapley values are zero), so
only ``d`` matters, and it is a sum of odd products of the ``y``'s: linear terms ``y_j``,
cubic ``y_j y_k y_l``, then order 5 and above. This estimator fits

    d(S) ~= sum_j beta_j y_j + sum_{j<k<l} gamma_jkl y_j y_k y_l

by weighted least squares under the Shapley kernel (one row per complementary pair), with
the efficiency constraint ``d(A_i) = (v(A_i) - v(empty)) / 2`` and a ridge penalty on the
cubic coefficients (its strength chosen per sample, below), and returns the fit's Shapley values
``phi_j = beta_j + (1/12) sum_{k<l} gamma_jkl`` (each of ``y_j y_k y_l``'s three players gets
``1/12``). Efficiency holds exactly. Enumerating every coalition recovers the exact Shapley
values (the kernel theorem: the residual is orthogonal to the linear features), and the fit is
exact for any game whose Harsanyi dividends stop at order 4 (the cubic terms take order 3 and
order 4 leaves only even and cubic parts), where paired KernelSHAP (:func:`~mce_shapley.kernel`)
is exact only up to order 2: on games with real interactions, its error comes from order 5
and above, plus the variance of ``n + C(n, 3)`` coefficients, which the ridge tames at small
budgets (``ridge=0`` or ``order=1`` is paired KernelSHAP with the sampling below).

Ridge selection: the best fixed penalty differs between games and budgets by two orders of
magnitude (on the README's games, 0.1 to 3 at ``M = 12``; a value that is best for sums of
unanimity games at one budget costs a neural game 30 % more error). So by default each sample
fits every value of a grid (:data:`RIDGES`) and keeps the one whose fit has the least
leave-one-out error over its own rows, ``sum_k w_k (r_k / (1 - h_k))**2`` (``r_k`` the residual,
``h_k`` the row's leverage in the weighted ridge fit without the efficiency constraint):
no extra game evaluation, about ``len(RIDGES)`` times the solve.

Sampling (per sample, budget ``B`` evaluations): the empty and full coalitions, then whole
strata ``{s, n - s}`` in order ``s = 1, 2, ..`` while a stratum costs no more than its share of
the budget (as in :func:`~mce_shapley.kernel`); the rest of the budget is split between the
other strata in proportion to their kernel mass, and each draws its pairs uniformly *without
replacement* (the first distinct ones of an i.i.d. Philox stream, which is a simple random
sample). A row of stratum ``s`` weighs ``p(s) / C(n, s)`` when enumerated and
``mass_s / m_s`` when sampled (``m_s`` its distinct pairs).

Standard errors: the fit is linear in the sampled rows' ``w_k x_k d_k``; per sampled stratum,
the variance of the mean of ``g_k = U x_k r_k`` (``U`` the map from the rows' moments to
``phi``, ``r_k`` the residual) with the finite-population correction ``1 - m_s / C_s``,
summed over strata (a sandwich estimate; it ignores the ridge's bias).

Cost: ``F = n + C(n, 3)`` coefficients per sample (232 at ``n = 12``, 576 at 16, 1160 at 20);
building the normal equations takes ``O(rows * F^2)`` per sample, solving ``O(F^3)``. The
enumerated strata's part of the normal matrix is shared by all samples with the same ``n``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import torch
from torch import Tensor

from mce_shapley._checks import check_int, check_n_players
from mce_shapley._philox import random_keys
from mce_shapley._sampling import CoalitionCache, Estimates, Run, draw_seed, solve_exactly
from mce_shapley.availability import Availability
from mce_shapley.coalitions import available_first
from mce_shapley.exact_shapley import DEFAULT_MAX_BATCH
from mce_shapley.games import Game, RowEvaluator
from mce_shapley.result import ShapleyResult

_WORK_ELEMENTS = 2**23
"""Bound on the (sample, row, feature) entries one chunk holds."""

_OVERSAMPLE = 3
"""Candidates drawn per wanted pair of a sampled stratum (the first distinct ones are kept)."""

RIDGES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
"""The default ``ridge`` grid: each sample takes the value of least leave-one-out error (module doc)."""


@dataclass(frozen=True)
class _Plan:
    """The sampling plan for samples of ``n`` players and a budget."""

    enumerated: tuple[tuple[int, ...], ...]  # one coalition (local players) per enumerated pair
    enumerated_weights: tuple[float, ...]
    sampled: tuple[tuple[int, int, int, float], ...]  # (size s, wanted pairs m_s, pairs in the stratum, mass)

    @property
    def rows(self) -> int:
        return len(self.enumerated) + sum(wanted for _, wanted, _, _ in self.sampled)


def _kernel_mass(n: int) -> list[float]:
    q = [0.0] + [(n - 1) / (s * (n - s)) for s in range(1, n)] + [0.0]
    return [value / sum(q) for value in q]


@cache
def _plan(n: int, budget: int) -> _Plan:
    p = _kernel_mass(n)
    pairs_left, mass_left = (budget - 2) // 2, 1.0
    enumerated: list[tuple[int, ...]] = []
    weights: list[float] = []
    s = 1
    while s <= n // 2:
        middle = 2 * s == n
        pairs = math.comb(n, s) // (2 if middle else 1)
        mass = p[s] * (1 if middle else 2)
        uncovered = sum(math.comb(n, t) // (2 if 2 * t == n else 1) for t in range(s, n // 2 + 1))
        if uncovered > pairs_left and (pairs > pairs_left or not (s == 1 or pairs_left * mass / mass_left >= pairs)):
            break  # (a budget that covers every remaining stratum enumerates them all)
        combos = [c for c in itertools.combinations(range(n), s) if not middle or 0 in c]
        enumerated += combos
        weights += [mass / pairs] * pairs
        pairs_left, mass_left = pairs_left - pairs, mass_left - mass
        s += 1
    rest = list(range(s, n // 2 + 1))
    sampled: list[tuple[int, int, int, float]] = []
    if rest and pairs_left > 0:
        masses = [p[t] * (1 if 2 * t == n else 2) for t in rest]
        caps = [math.comb(n, t) // (2 if 2 * t == n else 1) for t in rest]
        raw = [pairs_left * mass / sum(masses) for mass in masses]
        wanted = [min(int(r), cap) for r, cap in zip(raw, caps, strict=True)]
        by_remainder = sorted(range(len(rest)), key=lambda i: (int(raw[i]) - raw[i], i))
        left = pairs_left - sum(wanted)
        while left > 0 and any(w < c for w, c in zip(wanted, caps, strict=True)):
            for i in by_remainder:
                if left and wanted[i] < caps[i]:
                    wanted[i], left = wanted[i] + 1, left - 1
        sampled = [(t, w, c, mass) for t, w, c, mass in zip(rest, wanted, caps, masses, strict=True) if w > 0]
    return _Plan(tuple(enumerated), tuple(weights), tuple(sampled))


@cache
def _triples(n: int) -> tuple[tuple[int, int, int], ...]:
    return tuple(itertools.combinations(range(n), 3))


def _features(y: Tensor, triples: Tensor) -> Tensor:
    """``Float64[..., F]``: ``y`` (``Float64[..., n]``) then the products over ``triples`` (``Long[C, 3]``)."""
    if not triples.numel():
        return y
    return torch.cat([y, y[..., triples[:, 0]] * y[..., triples[:, 1]] * y[..., triples[:, 2]]], dim=-1)


def _shapley_map(n: int, triples: Tensor, device: torch.device) -> Tensor:
    """``Float64[n, F]``: the fit's Shapley values as a linear map of its coefficients."""
    linear = torch.eye(n, dtype=torch.float64, device=device)
    cubic = torch.zeros(n, triples.shape[0], dtype=torch.float64, device=device)
    if triples.numel():
        columns = torch.arange(triples.shape[0], device=device)
        for position in range(3):
            cubic[triples[:, position], columns] = 1.0 / 12.0
    return torch.cat([linear, cubic], dim=1)


def regression(
    game: Game,
    n_players: int,
    *,
    available: Tensor | None = None,
    budget: int = 512,
    order: int = 3,
    ridge: float | Sequence[float] = RIDGES,
    generator: torch.Generator | None = None,
    exact_when_cheaper: bool = True,
    sample_keys: Tensor | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> ShapleyResult:
    """Monte Carlo per-sample Shapley values by paired kernel regression on odd features up to order 3.

    The most accurate estimator here for budgets from about ``2**n / 64`` to ``2**n / 4``
    evaluations at ``n`` from 10 to 20 players (README); see the module docstring for the method.

    Args:
        game: a dense game or a :class:`~mce_shapley.RowGame`.
        n_players: ``M``.
        available: ``Bool[N, M]``, the players each sample has (default: all).
        budget: game evaluations per sample at most (empty and full coalitions included);
            a sample not solved exactly needs ``budget >= 2 * |A_i| + 6``.
        order: 3 fits the linear and cubic odd features; 1 the linear ones only (paired
            KernelSHAP with stratified sampling without replacement).
        ridge: penalty on the cubic coefficients: ``ridge * (F / P)**2 / 2`` times the cubic
            features' mean square (``F`` coefficients, ``P`` pairs, row weights adding up to 1);
            0 for none; a sequence: each sample takes the value of least leave-one-out error
            (default :data:`RIDGES`; module doc).
        generator: the source of the run's seed (default: torch's global generator).
        exact_when_cheaper: solve a sample exactly when ``2**|A_i| <= budget``.
        sample_keys: ``Long[N]``, a stable id per sample (default ``arange(N)``); with the
            same keys and seed a sample draws the same coalitions in any batch.
        max_batch: at most this many evaluations per game call (see :func:`~mce_shapley.exact`).

    Returns:
        :class:`~mce_shapley.ShapleyResult` in the game's dtype (fitted in float64): ``values``
        ``Float[N, M]`` (0 for players a sample lacks, efficient to rounding), ``std`` the
        sandwich standard errors, ``n_permutations`` the pairs per sample (0 where exact).

    Host synchronisation: a few reads to plan the work, then a few per chunk of samples with
    the same ``|A_i|`` (the new coalitions, the NaN check).

    >>> weights = torch.tensor([[1.0, -2.0, 3.0, 0.5, 1.5, 2.0, 1.0, -1.0, 0.25, 4.0]])
    >>> cubic = lambda c: c.float() @ weights.T + 2.0 * (c[:, :3].all(-1, keepdim=True)).float()
    >>> result = regression(cubic, 10, budget=400, ridge=0.0, generator=torch.Generator().manual_seed(0))
    >>> [round(value, 4) for value in result.values[0].tolist()]   # order-3 interaction: exact
    [1.6667, -1.3333, 3.6667, 0.5, 1.5, 2.0, 1.0, -1.0, 0.25, 4.0]
    >>> result.values.dtype, result.n_evals <= 400
    (torch.float32, True)
    """
    n_players = check_n_players(n_players)
    check_int("budget", budget, minimum=4, maximum=2**40)
    check_int("max_batch", max_batch, minimum=1)
    if order not in (1, 3):
        raise ValueError(f"order must be 1 (linear odd features) or 3 (linear and cubic); got {order!r}")
    ridges = _check_ridges(ridge)
    seed = draw_seed(generator)
    run = Run.start(game, n_players, available, sample_keys, max_batch)
    players, keys, evaluate = run.players, run.keys, run.evaluate
    counts = players.counts
    cheap = (torch.ones_like(counts) << counts.clamp(max=62)) <= budget if exact_when_cheaper else counts <= 2
    device = players.device
    estimates = run.estimates()
    exact_samples = cheap.nonzero().flatten()
    if exact_samples.numel():
        solve_exactly(evaluate, players, exact_samples, estimates, max_batch)
    sampled = (~cheap).nonzero().flatten()
    sizes: list[int] = torch.unique(counts[sampled]).tolist()
    if sizes and budget < 2 * sizes[-1] + 6:
        raise ValueError(
            f"budget must be >= 2 * |A_i| + 6 = {2 * sizes[-1] + 6} for samples with {sizes[-1]} available players "
            f"(the empty and full coalitions, the |A_i| pairs of one player and all but one, and 2 sampled pairs); "
            f"got {budget}"
        )
    for n in sizes:
        group = sampled[counts[sampled] == n]
        plan = _plan(n, budget)
        cubic = order == 3 and n >= 3
        triples = torch.tensor(_triples(n) if cubic else (), dtype=torch.long, device=device).reshape(-1, 3)
        width = n + triples.shape[0]
        per_sample = max((plan.rows + 2) * (width + n_players), len(ridges) * width * width)  # rows; K normal matrices
        chunk = max(1, min(2 ** (62 - n_players), _WORK_ELEMENTS // per_sample))
        fit = _Fit(plan, n, triples, ridges, device)
        for start in range(0, group.numel(), chunk):
            fit.run(evaluate, players, keys, group[start : start + chunk], seed, estimates)
        estimates.n_permutations = estimates.n_permutations.index_fill(0, group, plan.rows)
    return run.result(estimates)


def _check_ridges(ridge: float | Sequence[float]) -> tuple[float, ...]:
    """``ridge`` as a non-empty tuple of finite numbers >= 0."""
    values = (ridge,) if isinstance(ridge, (int, float)) else tuple(ridge) if isinstance(ridge, Sequence) else ()
    if not values or not all(
        isinstance(r, (int, float)) and not isinstance(r, bool) and r >= 0 and math.isfinite(r) for r in values
    ):
        raise ValueError(f"ridge must be a finite number >= 0 or a non-empty sequence of them; got {ridge!r}")
    return tuple(float(r) for r in values)


class _Fit:
    """The shared part of the fit for samples of ``n`` players: enumerated rows and their normal matrix."""

    def __init__(self, plan: _Plan, n: int, triples: Tensor, ridges: tuple[float, ...], device: torch.device) -> None:
        self.plan, self.n, self.triples, self.device = plan, n, triples, device
        patterns = torch.zeros(len(plan.enumerated), n, dtype=torch.bool, device=device)
        for row, chosen in enumerate(plan.enumerated):
            patterns[row, list(chosen)] = True
        self.patterns = patterns  # Bool[E, n]
        self.weights = torch.tensor(plan.enumerated_weights, dtype=torch.float64, device=device)  # [E]
        self.features = _features(patterns.double() - 0.5, triples)  # [E, F]
        self.gram = (self.features * self.weights[:, None]).T @ self.features  # [F, F]
        width = self.features.shape[1]
        penalty = torch.zeros(width, dtype=torch.float64, device=device)
        # the rows' weights add up to 1 and a cubic feature's square is 1/64; the prior's weight
        # shrinks as (coefficients / rows)**2, which tracked the best fixed penalty across budgets
        penalty[n:] = 1 / 64.0 * (width / max(plan.rows, 1)) ** 2 / 2
        grid = torch.tensor(ridges, dtype=torch.float64, device=device)
        self.penalties = grid[:, None, None] * torch.diag(penalty)  # [K, F, F], one per ridge
        self.at_full = _features(torch.full((1, n), 0.5, dtype=torch.float64, device=device), triples)[0]  # [F]
        self.shapley = _shapley_map(n, triples, device)  # [n, F]

    def _draw(self, sample_ids: Tensor, seed: int) -> tuple[Tensor, Tensor, list[tuple[int, int, Tensor]]]:
        """The sampled rows: ``(members: Bool[A, S, n], weights: Float64[A, S], strata)``.

        ``strata`` lists ``(first row, rows, valid: Bool[A, rows])`` per sampled stratum.
        """
        n, device = self.n, self.device
        count = sample_ids.shape[0]
        members, weights, strata = [], [], []
        first = 0
        for size, wanted, population, mass in self.plan.sampled:
            candidates = min(_OVERSAMPLE * wanted + 8, 2**26)
            ids = torch.arange(candidates, device=device) + (size << 26)
            player_keys = random_keys(seed, sample_ids, ids, n)  # [A, L, n]
            chosen = player_keys.argsort(dim=-1, stable=True).argsort(dim=-1) < size  # uniform of this size
            if 2 * size == n:
                chosen = torch.where(chosen[..., :1], chosen, ~chosen)  # the pair's member holding local player 0
            bits = (chosen.long() << torch.arange(n, device=device)).sum(-1)  # [A, L]
            sorted_bits, order = torch.sort(bits, dim=-1, stable=True)
            repeat = torch.zeros_like(sorted_bits, dtype=torch.bool)
            repeat[:, 1:] = sorted_bits[:, 1:] == sorted_bits[:, :-1]
            fresh = torch.zeros_like(repeat).scatter(-1, order, ~repeat)  # first occurrence, in draw order
            rank = fresh.long().cumsum(-1) - 1
            keep = fresh & (rank < wanted)
            # the kept candidates, in draw order, padded with the first candidate (weight 0)
            position = torch.where(keep, rank, wanted).clamp(max=wanted)
            slots = torch.zeros(count, wanted + 1, dtype=torch.long, device=device)
            slots = slots.scatter(-1, position, torch.arange(candidates, device=device).expand(count, -1))
            valid = torch.zeros(count, wanted + 1, dtype=torch.bool, device=device).scatter(-1, position, keep)
            slots, valid = torch.where(valid, slots, 0)[:, :wanted], valid[:, :wanted]
            distinct = valid.sum(dim=-1, keepdim=True).clamp(min=1)
            members.append(chosen.gather(1, slots[..., None].expand(-1, -1, n)))
            weights.append(torch.where(valid, mass / distinct, 0.0))
            strata.append((first, wanted, valid, population))
            first += wanted
        if not members:
            empty = torch.zeros(count, 0, n, dtype=torch.bool, device=device)
            return empty, torch.zeros(count, 0, dtype=torch.float64, device=device), []
        return torch.cat(members, dim=1), torch.cat(weights, dim=1), [(f, w, v) for f, w, v, _ in strata]

    def _select(
        self, grams: Tensor, fits: Tensor, drawn: Tensor, drawn_weights: Tensor, odd: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``(Long[A], Float64[A, F, F])``: per sample, the ridge (index into ``grams: Float64[K, A, F, F]``)
        of least LOO error, and the inverse of its normal matrix (the standard errors reuse it).

        The error of row ``k`` is its residual under the constrained fit (``fits: Float64[K, A, F]``)
        over ``1 - h_k``, ``h_k`` its leverage in the unconstrained weighted ridge fit (the textbook
        leave-one-out error when the constraint is slack; the unconstrained fit's own residuals chose
        worse ridges on the README's games); ``drawn: Float64[A, S, F]`` and
        ``drawn_weights: Float64[A, S]`` the sampled rows, ``odd: Float64[A, T]`` every row's target.
        """
        count = drawn.shape[0]
        rows = torch.cat([self.features.expand(count, -1, -1), drawn], dim=1)  # [A, T, F]
        weights = torch.cat([self.weights.expand(count, -1), drawn_weights], dim=1)  # [A, T]
        pick = torch.zeros(count, dtype=torch.long, device=drawn.device)
        best = chosen = torch.empty(0)
        for k, (gram, fit) in enumerate(zip(grams, fits, strict=True)):  # one ridge at a time bounds the memory
            inverse = torch.linalg.inv(gram)  # [A, F, F]
            leverage = (rows @ inverse * rows).sum(-1) * weights  # [A, T]
            residual = odd - (rows * fit[:, None, :]).sum(-1)
            score = (weights * (residual / (1 - leverage).clamp(min=1e-9)) ** 2).sum(-1)
            if k == 0:
                best, chosen = score, inverse
                continue
            better = score < best  # strict: ties keep the first, as argmin does
            best = torch.where(better, score, best)
            chosen = torch.where(better[:, None, None], inverse, chosen)
            pick = torch.where(better, k, pick)
        return pick, chosen

    def run(
        self, evaluate: RowEvaluator, players: Availability, keys: Tensor, samples: Tensor, seed: int, out: Estimates
    ) -> None:
        """Fit ``samples`` (``Long[A]``, each with ``n`` players) and write their estimates into ``out``."""
        n, device, m = self.n, self.device, players.n_players
        count = samples.numel()
        order = available_first(players.mask[samples])[:, :n]  # Long[A, n]: local player -> player
        drawn, drawn_weights, strata = self._draw(keys[samples], seed)
        rows = torch.cat([self.patterns.expand(count, -1, -1), drawn], dim=1)  # Bool[A, T, n]
        everyone = torch.ones(count, 1, n, dtype=torch.bool, device=device)
        members = torch.cat([~everyone, everyone, rows, ~rows], dim=1)  # empty, full, rows, complements
        bits = (members.long() << order[:, None, :]).sum(-1)
        local = torch.arange(count, device=device)
        values = CoalitionCache(evaluate, samples, m, players.n_samples)((local[:, None] << m) | bits)
        base, grand = values[:, 0], values[:, 1]
        total = rows.shape[1]
        odd = (values[:, 2 : 2 + total] - values[:, 2 + total :]) / 2  # [A, T]
        enumerated = self.patterns.shape[0]
        x = _features(drawn.double() - 0.5, self.triples)  # [A, S, F]
        grams = self.gram + torch.einsum("asf,as,asg->afg", x, drawn_weights, x)  # [A, F, F], unpenalised
        moments = odd[:, :enumerated] @ (self.features * self.weights[:, None])  # [A, F]
        moments = moments + torch.einsum("asf,as,as->af", x, drawn_weights, odd[:, enumerated:])
        target = ((grand - base) / 2)[:, None]
        rhs = torch.stack([moments, self.at_full.expand(count, -1)], dim=-1)
        grams = grams + self.penalties[:, None]  # [K, A, F, F]
        solved = torch.linalg.solve(grams, rhs.expand(grams.shape[0], -1, -1, -1))  # [K, A, F, 2]
        inv_moments, inv_full = solved[..., 0], solved[..., 1]
        scale = torch.einsum("f,kaf->ka", self.at_full, inv_full)
        multiplier = (torch.einsum("kaf,f->ka", inv_moments, self.at_full) - target[:, 0]) / scale
        fits = inv_moments - inv_full * multiplier[..., None]  # [K, A, F]
        if grams.shape[0] > 1:
            pick, inverse = self._select(grams, fits, x, drawn_weights, odd)
        else:
            pick, inverse = torch.zeros_like(samples), None
        gram, coefficients = grams[pick, local], fits[pick, local]
        inv_full, scale = inv_full[pick, local], scale[pick, local]
        phi = coefficients @ self.shapley.T  # [A, n]
        std = torch.zeros_like(phi)
        if strata:
            # phi is U @ moments + const, U = S (G^-1 - G^-1 a a^T G^-1 / a^T G^-1 a)
            if inverse is None:
                inverse = torch.linalg.inv(gram)  # [A, F, F]
            projector = inverse - inv_full[:, :, None] * inv_full[:, None, :] / scale[:, None, None]
            mapping = torch.einsum("jf,afg->ajg", self.shapley, projector)  # [A, n, F]
            residual = odd[:, enumerated:] - (x * coefficients[:, None, :]).sum(-1)  # [A, S]
            terms = torch.einsum("ajf,asf->asj", mapping, x) * residual[..., None]  # [A, S, n]
            variance = torch.zeros_like(phi)
            for (first, width, valid), (_, _, population, mass) in zip(strata, self.plan.sampled, strict=True):
                part = terms[:, first : first + width]
                kept = valid.double()[..., None]
                distinct = kept.sum(dim=1).clamp(min=2)
                mean = (part * kept).sum(dim=1) / distinct
                spread = ((part - mean[:, None]) ** 2 * kept).sum(dim=1) / (distinct - 1)
                variance = variance + mass**2 * (1 - distinct / population).clamp(min=0) * spread / distinct
            std = variance.sqrt()
        zeros = torch.zeros(count, m, dtype=torch.float64, device=device)
        out.put(
            samples,
            zeros.scatter(-1, order, phi),
            zeros.scatter(-1, order, std),
            base,
            grand,
            torch.zeros_like(samples),
        )
