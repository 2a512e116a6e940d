"""MissingMask: reproducible draws, exact counts, the two styles, never all-missing, CSV files, bad input."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mce_data.masks import MissingMask

MODS = ("x", "y", "z")
IDS = [f"s{i:04d}" for i in range(1000)]
SETTINGS = [(0.2, 0.5, 0.8), (0.2, 0.8, 0.5), (0.5, 0.2, 0.8), (0.5, 0.8, 0.2), (0.8, 0.2, 0.5), (0.8, 0.5, 0.2)]


@pytest.mark.parametrize("style", ["counts", "combinations"])
def test_same_seed_same_mask_other_seed_other_mask(style: str) -> None:
    a = MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=7, style=style)
    b = MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=7, style=style)
    c = MissingMask.generate(IDS, MODS, (0.2, 0.5, 0.8), seed=8, style=style)
    assert torch.equal(a.present, b.present)
    assert not torch.equal(a.present, c.present)


@pytest.mark.parametrize("rates", SETTINGS)
def test_counts_style_is_exact_and_never_all_missing(rates: tuple[float, float, float]) -> None:
    mask = MissingMask.generate(IDS, MODS, rates, seed=0, style="counts")
    # Tolerance 0: the redraw swaps present cells between rows, so counts stay round(rate * N).
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
    if sum(n - k for k in expected) < n:
        with pytest.raises(ValueError, match="present cells"):
            MissingMask.generate([f"i{k}" for k in range(n)], [f"m{k}" for k in range(len(rates))], rates, seed=seed)
        return
    mask = MissingMask.generate([f"i{k}" for k in range(n)], [f"m{k}" for k in range(len(rates))], rates, seed=seed)
    assert mask.missing_counts() == expected
    assert bool(mask.present.any(dim=1).all())


def _reference_pattern_counts(n: int, rates: tuple[float, ...], drop_empty: bool) -> dict[tuple[str, ...], int]:
    """Largest-remainder counts computed in exact arithmetic, independently of mce_data."""
    probs: dict[tuple[str, ...], Fraction] = {}
    for bits in itertools.product([False, True], repeat=len(rates)):
        p = Fraction(1)
        for present, rate in zip(bits, rates, strict=True):
            r = Fraction(rate).limit_denominator(10**6)
            p *= (1 - r) if present else r
        probs[tuple(m for m, b in zip(MODS, bits, strict=True) if b)] = p
    if drop_empty:
        total = 1 - probs.pop(())
        probs = {k: v / total for k, v in probs.items()}
    floors = {k: math.floor(v * n) for k, v in probs.items()}
    remainders = sorted(probs, key=lambda k: (-(probs[k] * n - floors[k]), -len(k)))
    for k in remainders[: n - sum(floors.values())]:
        floors[k] += 1
    return floors


@pytest.mark.parametrize("rates", SETTINGS[:3])
def test_combinations_style_matches_per_pattern_counts(rates: tuple[float, float, float]) -> None:
    mask = MissingMask.generate(IDS, MODS, rates, seed=3, style="combinations")
    reference = _reference_pattern_counts(len(IDS), rates, drop_empty=True)
    assert mask.pattern_counts() == reference
    assert sum(reference.values()) == len(IDS)


def test_exclude_drops_exactly_the_all_missing_rows() -> None:
    rates = (0.8, 0.5, 0.5)
    kept = MissingMask.generate(IDS, MODS, rates, seed=2, style="counts", all_missing="exclude")
    assert 0 < len(IDS) - len(kept) < len(IDS)
    assert bool(kept.present.any(dim=1).all())
    # Over the original ids each modality missed exactly k_m; the excluded rows missed every modality.
    excluded = len(IDS) - len(kept)
    assert kept.missing_counts() == [round(r * len(IDS)) - excluded for r in rates]
    comb = MissingMask.generate(IDS, MODS, rates, seed=2, style="combinations", all_missing="exclude")
    assert len(IDS) - len(comb) == _reference_pattern_counts(len(IDS), rates, drop_empty=False)[()]


def test_redraw_that_cannot_keep_counts_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"all_missing='exclude'"):
        MissingMask.generate(IDS[:10], ("a", "b"), (0.6, 0.6), seed=0)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan")])
def test_rates_outside_unit_interval_name_the_value(bad: float) -> None:
    with pytest.raises(ValueError, match=r"rate 1 must be in \[0, 1\).*" + str(bad).replace(".", r"\.")):
        MissingMask.generate(IDS, MODS, (0.1, bad, 0.2), seed=0)


def test_other_bad_arguments() -> None:
    with pytest.raises(ValueError, match="expected 3 missing rates"):
        MissingMask.generate(IDS, MODS, (0.1, 0.2), seed=0)
    with pytest.raises(ValueError, match="unique"):
        MissingMask.generate(["a", "a"], MODS, (0.1, 0.2, 0.3), seed=0)
    with pytest.raises(ValueError, match="style"):
        MissingMask.generate(IDS, MODS, (0.1, 0.2, 0.3), seed=0, style="random")
    with pytest.raises(TypeError, match="seed"):
        MissingMask.generate(IDS, MODS, (0.1, 0.2, 0.3), seed=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="every modality missing"):
        MissingMask(["a"], ("x",), torch.tensor([[False]]))


def test_lookup_follows_ids_not_positions() -> None:
    mask = MissingMask.generate(IDS, MODS, (0.3, 0.3, 0.3), seed=0)
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


@pytest.mark.parametrize("all_missing", ["redraw", "exclude"])
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
    path = MissingMask.generate(IDS, MODS, (0.2, 0.2, 0.2), seed=0).save_csv(tmp_path / "m.csv")
    with pytest.raises(ValueError, match=r"m\.csv.*drawn for 1000 ids"):
        MissingMask.load_csv(path, expected_ids=IDS[:999])
    with pytest.raises(ValueError, match=r"m\.csv.*other ids/order"):
        MissingMask.load_csv(path, expected_ids=list(reversed(IDS)))
    with pytest.raises(ValueError, match=r"m\.csv.*modalities"):
        MissingMask.load_csv(path, modalities=("x", "y", "w"))


def test_corrupt_mask_files_name_the_file_and_line(tmp_path: Path) -> None:
    path = MissingMask.generate(IDS[:4], MODS, (0.2, 0.2, 0.2), seed=0).save_csv(tmp_path / "m.csv")
    lines = path.read_text().splitlines()
    (tmp_path / "bad.csv").write_text("\n".join([*lines[:3], "s0001,1,2,0", *lines[4:]]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 4"):
        MissingMask.load_csv(tmp_path / "bad.csv")
    (tmp_path / "plain.csv").write_text("id,x\na,1\n")
    with pytest.raises(ValueError, match=r"plain\.csv: not an mce-data mask"):
        MissingMask.load_csv(tmp_path / "plain.csv")


def test_load_or_generate_checks_settings(tmp_path: Path) -> None:
    path = tmp_path / "mask.csv"
    first = MissingMask.load_or_generate(path, IDS, MODS, (0.2, 0.5, 0.8), seed=1)
    again = MissingMask.load_or_generate(path, IDS, MODS, (0.2, 0.5, 0.8), seed=1)
    assert torch.equal(first.present, again.present)
    with pytest.raises(ValueError, match=r"seed: file 1 vs requested 2"):
        MissingMask.load_or_generate(path, IDS, MODS, (0.2, 0.5, 0.8), seed=2)
