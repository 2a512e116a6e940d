"""MissingMask: reproducible draws, exact counts, the two styles, never all-missing, CSV files, bad input."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize  # type: ignore[import-untyped]

from mce_data.masks import MissingMask

MODS = ("x", "y", "z")
IDS = [f"s{i:04d}" for i in range(1000)]
SETTINGS = [(0.2, 0.5, 0.8), (0.2, 0.8, 0.5), (0.5, 0.2, 0.8), (0.5, 0.8, 0.2), (0.8, 0.2, 0.5), (0.8, 0.5, 0.2)]


@pytest.mark.parametrize("style", ["counts", "combinations"])
def test_same_seed_same_mask_other_seed_other_mask(style: str) -> None:
    a = MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=7, style=style, all_missing="swap")
    b = MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=7, style=style, all_missing="swap")
    c = MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=8, style=style, all_missing="swap")
    assert torch.equal(a.present, b.present)
    assert not torch.equal(a.present, c.present)


@pytest.mark.parametrize("rates", SETTINGS)
def test_counts_style_is_exact_and_never_all_missing(rates: tuple[float, float, float]) -> None:
    mask = MissingMask.generate(IDS, MODS, rates, seed=0, style="counts", all_missing="swap")
    # Tolerance 0: the swap moves present cells between rows, so counts stay round(rate * N).
    assert mask.missing_counts() == [round(r * len(IDS)) for r in rates]
    assert bool(mask.present.any(dim=1).all())
    assert mask.sample_ids == IDS


@given(
    n=st.integers(1, 300),
    rates=st.lists(st.floats(0.0, 0.95), min_size=2, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_counts_style_property(n: int, rates: list[float], seed: int) -> None:
    expected = [math.floor(r * n + 0.5) for r in rates]
    ids, modalities = [f"i{k}" for k in range(n)], [f"m{k}" for k in range(len(rates))]
    if sum(n - k for k in expected) < n and len(rates) - math.fsum(rates) < 1 - 1e-9:
        with pytest.raises(ValueError, match="present cells"):
            MissingMask.generate(ids, modalities, rates, seed=seed, all_missing="swap")
        return
    mask = MissingMask.generate(ids, modalities, rates, seed=seed, all_missing="swap")
    assert bool(mask.present.any(dim=1).all())
    if sum(n - k for k in expected) >= n:
        assert mask.missing_counts() == expected
        return
    # The boundary, sum(1 - rate) >= 1 but rounding half up leaves too few present cells: only counts
    # that were rounded up go down, by one, and just enough that present cells number exactly n.
    lowered = [e - k for e, k in zip(expected, mask.missing_counts(), strict=True)]
    assert set(lowered) <= {0, 1}
    assert all(expected[m] > rates[m] * n for m, d in enumerate(lowered) if d)
    assert int(mask.present.sum()) == n


def _reference_pattern_counts(n: int, rates: tuple[float, ...]) -> dict[tuple[str, ...], int]:
    """Independent dropping, largest-remainder counts in exact arithmetic, independently of mce_data."""
    probs: dict[tuple[str, ...], Fraction] = {}
    for bits in itertools.product([False, True], repeat=len(rates)):
        p = Fraction(1)
        for present, rate in zip(bits, rates, strict=True):
            r = Fraction(rate).limit_denominator(10**6)
            p *= (1 - r) if present else r
        probs[tuple(m for m, b in zip(MODS, bits, strict=True) if b)] = p
    floors = {k: math.floor(v * n) for k, v in probs.items()}
    remainders = sorted(probs, key=lambda k: (-(probs[k] * n - floors[k]), -len(k)))
    for k in remainders[: n - sum(floors.values())]:
        floors[k] += 1
    return floors


def _reference_fitted(rates: tuple[float, ...]) -> dict[tuple[str, ...], float]:
    """The distribution over non-empty patterns closest in KL to independent dropping with the given missing
    marginals, by constrained optimisation (scipy SLSQP), independently of mce_data's IPF."""
    every = [k for k in itertools.product([False, True], repeat=len(rates)) if any(k)]
    weight = {k: float(np.prod([(1 - r) if b else r for b, r in zip(k, rates, strict=True)])) for k in every}
    keys = [k for k in every if weight[k] > 0]  # a rate of 0 rules its patterns out
    prior = np.array([weight[k] for k in keys])
    missing = np.array([[not b for b in k] for k in keys], dtype=float)
    constraints = [{"type": "eq", "fun": lambda q: q.sum() - 1.0}] + [
        {"type": "eq", "fun": lambda q, m=m: missing[:, m] @ q - rates[m]} for m in range(len(rates)) if rates[m] > 0
    ]
    result = optimize.minimize(
        lambda q: float(np.sum(q * np.log(np.maximum(q, 1e-300) / prior))),
        prior / prior.sum(),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * len(keys),
        constraints=constraints,
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert result.success, result.message
    fitted = dict(zip(keys, result.x.tolist(), strict=True))
    return {tuple(m for m, b in zip(MODS, k, strict=True) if b): fitted.get(k, 0.0) for k in every}


@pytest.mark.parametrize("n", [1000, 257])
@pytest.mark.parametrize("rates", [*SETTINGS, (0.1, 0.1, 0.1), (0.3, 0.6, 0.9), (0.7, 0.7, 0.5), (0.0, 0.5, 0.9)])
def test_combinations_swap_keeps_the_requested_missing_rates(n: int, rates: tuple[float, float, float]) -> None:
    # Before the IPF fit, N=1000 and rates (.2, .5, .8) realised missing counts [130, 456, 783].
    ids = IDS[:n]
    mask = MissingMask.generate(ids, MODS, rates, seed=3, style="combinations", all_missing="swap")
    wanted = [math.floor(r * n + 0.5) for r in rates]
    assert all(abs(got - want) <= 1 for got, want in zip(mask.missing_counts(), wanted, strict=True)), (
        mask.missing_counts(),
        wanted,
    )
    assert len(mask) == n
    assert bool(mask.present.any(dim=1).all())
    fitted = _reference_fitted(rates)
    counts = mask.pattern_counts()
    assert sum(counts.values()) == n
    assert all(abs(counts[k] - n * q) < 1.0 + 1e-6 for k, q in fitted.items()), (counts, fitted)


def test_combinations_swap_that_no_distribution_allows_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"sum\(1 - rate\) >= 1"):
        MissingMask.generate(IDS[:10], ("a", "b"), (0.6, 0.6), seed=0, style="combinations", all_missing="swap")
    boundary = MissingMask.generate(IDS[:10], ("a", "b"), (0.5, 0.5), seed=0, style="combinations", all_missing="swap")
    assert boundary.missing_counts() == [5, 5]


@pytest.mark.parametrize("n", [945, 7, 1001])
def test_counts_at_the_boundary_with_an_odd_number_of_samples_give_every_sample_one_modality(n: int) -> None:
    """(0.5, 0.5) on an odd N: half up would miss ceil(N/2) of each, N - 1 present cells for N samples.
    One count goes down by one instead (AVMNIST's 945 training samples at (0.5, 0.5))."""
    ids = [f"s{i}" for i in range(n)]
    three = MissingMask.generate(
        ids[:5], ("a", "b", "c"), (0.7, 0.7, 0.6), seed=1, all_missing="swap"
    )  # 3.5, 3.5, 3.0 missing
    assert three.missing_counts() == [4, 3, 3]  # half up gives 4, 4, 3: 4 present cells; one 4 goes down
    assert bool(three.present.any(dim=1).all())
    mask = MissingMask.generate(ids, ("a", "b"), (0.5, 0.5), seed=1, all_missing="swap")
    assert bool(mask.present.any(dim=1).all())
    assert bool((mask.present.sum(dim=1) == 1).all())  # exactly N present cells for N samples
    assert sorted(mask.missing_counts()) == [n // 2, n // 2 + 1]
    # rates that are not at the boundary keep round half up; rates below it are still an error
    assert MissingMask.generate(ids, ("a", "b"), (0.5, 0.3), seed=1, all_missing="swap").missing_counts() == [
        math.floor(0.5 * n + 0.5),
        math.floor(0.3 * n + 0.5),
    ]
    with pytest.raises(ValueError, match="present cells"):
        MissingMask.generate(ids, ("a", "b"), (0.5, 0.6), seed=1, all_missing="swap")


def test_combinations_with_exclude_is_independent_dropping() -> None:
    rates = (0.2, 0.5, 0.8)
    mask = MissingMask.generate(IDS, MODS, rates, seed=3, style="combinations", all_missing="exclude")
    reference = _reference_pattern_counts(len(IDS), rates)
    assert len(IDS) - len(mask) == reference.pop(())
    assert mask.pattern_counts() == reference


def test_exclude_drops_exactly_the_all_missing_rows() -> None:
    rates = (0.8, 0.5, 0.5)
    kept = MissingMask.generate(IDS, MODS, rates, seed=2, style="counts", all_missing="exclude")
    assert 0 < len(IDS) - len(kept) < len(IDS)
    assert bool(kept.present.any(dim=1).all())
    # Over the original ids each modality missed exactly k_m; the excluded rows missed every modality.
    excluded = len(IDS) - len(kept)
    assert kept.missing_counts() == [round(r * len(IDS)) - excluded for r in rates]
    comb = MissingMask.generate(IDS, MODS, rates, seed=2, style="combinations", all_missing="exclude")
    assert len(IDS) - len(comb) == _reference_pattern_counts(len(IDS), rates)[()]


def test_swap_that_cannot_keep_counts_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"all_missing='exclude'"):
        MissingMask.generate(IDS[:10], ("a", "b"), (0.6, 0.6), seed=0, all_missing="swap")


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan")])
def test_rates_outside_unit_interval_name_the_value(bad: float) -> None:
    with pytest.raises(ValueError, match=r"rate 1 must be in \[0, 1\).*" + str(bad).replace(".", r"\.")):
        MissingMask.generate(IDS, MODS, (0.1, bad, 0.2), seed=0, all_missing="swap")


def test_other_bad_arguments() -> None:
    with pytest.raises(ValueError, match="expected 3 missing rates"):
        MissingMask.generate(IDS, MODS, (0.1, 0.2), seed=0, all_missing="swap")
    with pytest.raises(ValueError, match="unique"):
        MissingMask.generate(["a", "a"], MODS, (0.1, 0.2, 0.3), seed=0, all_missing="swap")
    with pytest.raises(ValueError, match="style"):
        MissingMask.generate(IDS, MODS, (0.1, 0.2, 0.3), seed=0, style="random", all_missing="swap")
    with pytest.raises(TypeError, match="seed"):
        MissingMask.generate(IDS, MODS, (0.1, 0.2, 0.3), seed=None, all_missing="swap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        MissingMask.generate(IDS, MODS, (0.1, 0.2, 0.3), seed=-1, all_missing="swap")
    with pytest.raises(ValueError, match="one-dimensional"):
        MissingMask.generate(IDS, MODS, np.zeros((3, 1)), seed=0, all_missing="swap")
    with pytest.raises(ValueError, match="every modality missing"):
        MissingMask(["a"], ("x",), torch.tensor([[False]]))


def test_lookup_follows_ids_not_positions() -> None:
    mask = MissingMask.generate(IDS, MODS, (0.3, 0.3, 0.3), seed=0, all_missing="swap")
    order = torch.randperm(len(IDS), generator=torch.Generator().manual_seed(0)).tolist()
    looked = mask.lookup([IDS[i] for i in order])
    assert torch.equal(looked, mask.present[order])
    with pytest.raises(KeyError, match="nope"):
        mask.lookup(["nope"])


def test_full_and_subset() -> None:
    assert bool(MissingMask.full(IDS[:5], MODS).present.all())
    sub = MissingMask.subset(IDS[:5], MODS, ["z", "x"])
    assert sub.present.tolist() == [[True, False, True]] * 5
    with pytest.raises(ValueError, match="keep"):
        MissingMask.subset(IDS[:5], MODS, ["w"])


@pytest.mark.parametrize("all_missing", ["swap", "exclude"])
def test_csv_round_trip(tmp_path: Path, all_missing: str) -> None:
    mask = MissingMask.generate(IDS, MODS, (0.8, 0.5, 0.5), seed=4, all_missing=all_missing)
    path = mask.save_csv(tmp_path / "masks" / "seed4.csv")
    loaded = MissingMask.load_csv(path, expected_ids=IDS, modalities=MODS)
    assert torch.equal(loaded.present, mask.present)
    assert (loaded.sample_ids, loaded.rates, loaded.seed, loaded.style) == (
        mask.sample_ids,
        (0.8, 0.5, 0.5),
        4,
        "counts",
    )
    rows = path.read_text().splitlines()
    assert rows[1] == "id,x,y,z"
    assert rows[2] == mask.sample_ids[0] + "," + ",".join(str(int(v)) for v in mask.present[0].tolist())


def test_file_for_another_dataset_is_an_error(tmp_path: Path) -> None:
    path = MissingMask.generate(IDS, MODS, (0.2, 0.2, 0.2), seed=0, all_missing="swap").save_csv(tmp_path / "m.csv")
    with pytest.raises(ValueError, match=r"m\.csv.*drawn for 1000 ids"):
        MissingMask.load_csv(path, expected_ids=IDS[:999])
    with pytest.raises(ValueError, match=r"m\.csv.*other ids/order"):
        MissingMask.load_csv(path, expected_ids=list(reversed(IDS)))
    with pytest.raises(ValueError, match=r"m\.csv.*modalities"):
        MissingMask.load_csv(path, modalities=("x", "y", "w"))


def test_corrupt_mask_files_name_the_file_and_line(tmp_path: Path) -> None:
    path = MissingMask.generate(IDS[:4], MODS, (0.2, 0.2, 0.2), seed=0, all_missing="swap").save_csv(tmp_path / "m.csv")
    lines = path.read_text().splitlines()
    (tmp_path / "bad.csv").write_text("\n".join([*lines[:3], "s0001,1,2,0", *lines[4:]]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 4"):
        MissingMask.load_csv(tmp_path / "bad.csv")
    (tmp_path / "plain.csv").write_text("id,x\na,1\n")
    with pytest.raises(ValueError, match=r"plain\.csv: not an mce-data mask"):
        MissingMask.load_csv(tmp_path / "plain.csv")


def test_load_or_generate_checks_settings(tmp_path: Path) -> None:
    path = tmp_path / "mask.csv"
    first = MissingMask.load_or_generate(path, IDS, MODS, (0.2, 0.5, 0.8), seed=1, all_missing="swap")
    again = MissingMask.load_or_generate(path, IDS, MODS, (0.2, 0.5, 0.8), seed=1, all_missing="swap")
    assert torch.equal(first.present, again.present)
    with pytest.raises(ValueError, match=r"seed: file 1 vs requested 2"):
        MissingMask.load_or_generate(path, IDS, MODS, (0.2, 0.5, 0.8), seed=2, all_missing="swap")


@pytest.mark.parametrize("rates", [np.array([0.2, 0.5, 0.8]), torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)])
def test_rates_may_be_arrays_or_tensors(rates: np.ndarray | torch.Tensor) -> None:
    mask = MissingMask.generate(IDS, MODS, rates, seed=1, all_missing="swap")
    assert mask.rates == (0.2, 0.5, 0.8)
    assert torch.equal(
        mask.present, MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=1, all_missing="swap").present
    )


def _partial_availability(n: int, seed: int) -> torch.Tensor:
    """BraTS2015-like: a third of the rows lack y and z (only x), a few lack x, the rest have everything."""
    g = torch.Generator().manual_seed(seed)
    available = torch.ones(n, 3, dtype=torch.bool)
    kind = torch.randint(0, 6, (n,), generator=g)
    available[kind < 2, 1:] = False
    available[kind == 2, 0] = False
    return available


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rates", [(0.2, 0.3, 0.3), (0.3, 0.2, 0.4)])
def test_counts_draw_among_the_available_cells(seed: int, rates: tuple[float, float, float]) -> None:
    n = 300
    available = _partial_availability(n, seed)
    mask = MissingMask.generate(IDS[:n], MODS, rates, seed=seed, available=available, all_missing="swap")
    present = mask.present
    assert not bool((present & ~available).any())  # cells the source lacks stay missing
    assert bool(present.any(dim=1).all())  # never all-missing, with the source's gaps included
    dropped = (~present & available).sum(dim=0).tolist()
    assert dropped == [math.floor(r * n + 0.5) for r in rates]  # exact counts among the available cells
    only = available.sum(dim=1) == 1
    assert bool((present[only] == available[only]).all())  # a sample's last available modality is kept
    assert mask.missing_counts() == [d + int((~available[:, m]).sum()) for m, d in enumerate(dropped)]


def test_counts_with_availability_that_cannot_be_met_is_an_error() -> None:
    available = torch.zeros(10, 2, dtype=torch.bool)
    available[:, 1] = True
    available[:3, 0] = True
    with pytest.raises(ValueError, match=r"modality 0: rate 0.5 asks for 5 of 10 samples to miss it, but only 3"):
        MissingMask.generate(IDS[:10], ("a", "b"), (0.5, 0.0), seed=0, available=available, all_missing="swap")
    with pytest.raises(ValueError, match=r"available must be Bool\[10, 2\]"):
        MissingMask.generate(IDS[:10], ("a", "b"), (0.1, 0.1), seed=0, available=available[:5], all_missing="swap")


def test_samples_without_any_available_modality() -> None:
    available = _partial_availability(50, 0)
    available[[4, 9], :] = False
    with pytest.raises(ValueError, match=r"2 id\(s\), e.g. \['s0004', 's0009'\] have no modality available"):
        MissingMask.generate(IDS[:50], MODS, (0.1, 0.1, 0.1), seed=0, available=available, all_missing="swap")
    mask = MissingMask.generate(IDS[:50], MODS, (0.1, 0.1, 0.1), seed=0, available=available, all_missing="exclude")
    assert "s0004" not in mask
    assert "s0009" not in mask
    assert not bool((mask.present & ~available[[IDS.index(sid) for sid in mask.sample_ids]]).any())


@pytest.mark.parametrize("all_missing", ["swap", "exclude"])
def test_combinations_respect_availability(all_missing: str) -> None:
    available = _partial_availability(400, 3)
    mask = MissingMask.generate(
        IDS[:400], MODS, (0.2, 0.5, 0.4), seed=0, style="combinations", all_missing=all_missing, available=available
    )
    rows = [IDS.index(sid) for sid in mask.sample_ids]
    assert not bool((mask.present & ~available[rows]).any())
    assert bool(mask.present.any(dim=1).all())
    assert (len(mask) == 400) == (all_missing == "swap")


def test_hand_edits_of_a_mask_file_are_detected(tmp_path: Path) -> None:
    mask = MissingMask.generate(IDS[:20], MODS, (0.2, 0.5, 0.4), seed=0, all_missing="swap")
    path = mask.save_csv(tmp_path / "m.csv")
    lines = path.read_text().splitlines()
    row = next(i for i in range(2, len(lines)) if lines[i].endswith(",0"))
    edited = [*lines[:row], lines[row][:-1] + "1", *lines[row + 1 :]]  # a 0 made 1: the row stays valid
    (tmp_path / "cells.csv").write_text("\n".join(edited) + "\n")
    with pytest.raises(ValueError, match=r"cells\.csv: the 0/1 cells do not match .*present_sha256"):
        MissingMask.load_csv(tmp_path / "cells.csv")
    excluded = MissingMask.generate(IDS[:200], MODS, (0.7, 0.7, 0.5), seed=0, all_missing="exclude")
    lines = excluded.save_csv(tmp_path / "ex.csv").read_text().splitlines()
    (tmp_path / "rows.csv").write_text("\n".join([*lines[:5], *lines[6:]]) + "\n")  # one row deleted
    with pytest.raises(ValueError, match=r"rows\.csv: the rows' ids do not match .*rows_sha256"):
        MissingMask.load_csv(tmp_path / "rows.csv")


def test_mask_file_records_realised_rates(tmp_path: Path) -> None:
    mask = MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=0, style="combinations", all_missing="swap")
    meta = json.loads(mask.save_csv(tmp_path / "m.csv").read_text().splitlines()[0][len("# mce-data-mask ") :])
    assert meta["realised_rates"] == [k / len(IDS) for k in mask.missing_counts()]
    assert all(abs(a - b) <= 1 / len(IDS) for a, b in zip(meta["realised_rates"], (0.2, 0.5, 0.8), strict=True))


def test_load_or_generate_with_availability(tmp_path: Path) -> None:
    available = _partial_availability(100, 0)
    path = tmp_path / "mask.csv"
    first = MissingMask.load_or_generate(
        path, IDS[:100], MODS, (0.2, 0.2, 0.2), seed=1, available=available, all_missing="swap"
    )
    again = MissingMask.load_or_generate(
        path, IDS[:100], MODS, (0.2, 0.2, 0.2), seed=1, available=available, all_missing="swap"
    )
    assert torch.equal(first.present, again.present)
    assert not bool((first.present & ~available).any())
    with pytest.raises(ValueError, match=r"mask\.csv: existing mask was drawn with other settings \(availability"):
        MissingMask.load_or_generate(path, IDS[:100], MODS, (0.2, 0.2, 0.2), seed=1, all_missing="swap")


def test_tight_availability_is_met_for_every_seed() -> None:
    """A feasible but tight case that a single greedy deal strands for some seeds (review finding)."""
    ids = [f"s{i}" for i in range(8)]
    available = torch.tensor([[True, False]] * 5 + [[False, True]] * 2 + [[True, True]])
    for seed in range(20):
        mask = MissingMask.generate(
            ids, ("a", "b"), (0.2, 0.4), seed=seed, style="combinations", available=available, all_missing="swap"
        )
        assert bool(mask.present.any(1).all())
        assert not bool((mask.present & ~available).any())


def test_float32_rates_mean_the_decimal_they_print_as() -> None:
    ids = [f"s{i}" for i in range(10)]
    from_floats = MissingMask.generate(ids, ("a", "b"), (0.35, 0.15), seed=0, all_missing="swap")
    from_tensor = MissingMask.generate(ids, ("a", "b"), torch.tensor([0.35, 0.15]), seed=0, all_missing="swap")
    assert from_tensor.missing_counts() == from_floats.missing_counts() == [4, 2]  # round half up of 3.5
    assert torch.equal(from_tensor.present, from_floats.present)


def test_rates_just_inside_the_feasible_boundary_fit() -> None:
    ids = [f"s{i}" for i in range(1000)]
    mask = MissingMask.generate(
        ids, ("a", "b", "c"), (0.7, 0.7, 0.6 - 1e-4), seed=0, style="combinations", all_missing="swap"
    )
    assert mask.missing_counts() == [700, 700, 600]
    assert bool(mask.present.any(1).all())
