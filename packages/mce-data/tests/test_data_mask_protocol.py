"""Mask styles x all-missing modes, the official mask files, and the Fig. 7 per-class protocol."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from mce_data import AVMNIST, DataFileError, MissingMask, write_synthetic_avmnist
from mce_data.mask_official import (
    PASSION_PATTERNS,
    official_layout,
    read_nuscenes_csv,
    read_passion_csv,
    write_nuscenes_csv,
    write_passion_csv,
)
from mce_data.mask_per_class import per_class_mask, per_speaker_count

MODS = ("x", "y", "z")
IDS = [f"s{i:04d}" for i in range(2000)]
RATES = (0.2, 0.5, 0.8)
STYLES = ("counts", "bernoulli", "combinations")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("mode", ["exclude", "swap", "redraw"])
def test_every_style_and_mode_is_seeded_and_keeps_no_empty_row(style: str, mode: str) -> None:
    a = MissingMask.generate(IDS, MODS, RATES, seed=5, style=style, all_missing=mode)
    b = MissingMask.generate(IDS, MODS, RATES, seed=5, style=style, all_missing=mode)
    c = MissingMask.generate(IDS, MODS, RATES, seed=6, style=style, all_missing=mode)
    assert a.sample_ids == b.sample_ids
    assert torch.equal(a.present, b.present)
    assert not torch.equal(a.present, c.present) or a.sample_ids != c.sample_ids
    assert bool(a.present.any(dim=1).all())
    assert (a.style, a.all_missing, a.n_source) == (style, mode, len(IDS))
    assert a.n_excluded == len(IDS) - len(a)
    assert (a.n_excluded > 0) == (mode == "exclude")  # 0.2 * 0.5 * 0.8 = 8 % drawn empty
    assert a.realised_missing_rates() == [k / len(a) for k in a.missing_counts()]


@pytest.mark.parametrize("style", ["counts", "combinations"])
def test_exclude_keeps_the_drawn_counts_over_all_ids(style: str) -> None:
    mask = MissingMask.generate(IDS, MODS, RATES, seed=1, style=style, all_missing="exclude")
    # The excluded rows missed every modality, so over all ids each modality misses k_m (+-1 for patterns).
    over_all = [k + mask.n_excluded for k in mask.missing_counts()]
    assert all(
        abs(got - round(r * len(IDS))) <= (0 if style == "counts" else 1)
        for got, r in zip(over_all, RATES, strict=True)
    )
    if style == "combinations":  # independent dropping: the all-missing pattern's exact share
        assert mask.n_excluded == round(math.prod(RATES) * len(IDS))


def test_swap_keeps_every_id_and_exact_counts() -> None:
    for style in ("counts", "bernoulli"):
        drawn = MissingMask.generate(IDS, MODS, RATES, seed=2, style=style, all_missing="exclude")
        swapped = MissingMask.generate(IDS, MODS, RATES, seed=2, style=style, all_missing="swap")
        assert swapped.sample_ids == IDS
        # the swap moves present cells between rows: the drawn per-modality counts over all ids do not change
        assert swapped.missing_counts() == [k + drawn.n_excluded for k in drawn.missing_counts()]


def test_bernoulli_counts_vary_around_the_rates() -> None:
    counts = [MissingMask.generate(IDS, MODS, RATES, seed=s, style="bernoulli", all_missing="swap").missing_counts()
              for s in range(8)]  # fmt: skip
    for m, rate in enumerate(RATES):
        column = [c[m] for c in counts]
        sd = math.sqrt(len(IDS) * rate * (1 - rate))
        assert all(abs(k - rate * len(IDS)) < 5 * sd for k in column)
        assert len(set(column)) > 1  # independent cells: not exact counts


def test_redraw_keeps_every_id_and_lowers_the_rates() -> None:
    """PASSION's rule: an empty row is drawn again, so the realised rates fall below those asked."""
    for style in STYLES:
        mask = MissingMask.generate(IDS, MODS, RATES, seed=3, style=style, all_missing="redraw")
        assert mask.sample_ids == IDS
        realised = mask.realised_missing_rates()
        assert all(got < rate for got, rate in zip(realised, RATES, strict=True))
        assert all(rate - got < 0.1 for got, rate in zip(realised, RATES, strict=True))


def test_swap_is_refused_when_cells_are_too_few() -> None:
    with pytest.raises(ValueError, match="exclude"):
        MissingMask.generate(IDS[:10], ("a", "b"), (0.7, 0.6), seed=0, all_missing="swap")
    redrawn = MissingMask.generate(IDS[:10], ("a", "b"), (0.7, 0.6), seed=0, all_missing="redraw")
    assert len(redrawn) == 10
    assert bool(redrawn.present.any(dim=1).all())


def test_bad_mode_and_style_name_the_choices() -> None:
    with pytest.raises(ValueError, match=r"all_missing must be one of \('exclude', 'swap', 'redraw'\)"):
        MissingMask.generate(IDS, MODS, RATES, seed=0, all_missing="keep")
    with pytest.raises(ValueError, match="style must be one of"):
        MissingMask.generate(IDS, MODS, RATES, seed=0, style="uniform")


# -- PASSION's BraTS split CSVs ---------------------------------------------------------------------
BRATS = ("flair", "t1", "t1ce", "t2")
PASSION_ROWS = """data_name,mask_id,mask,pos_mask_ids
HG_BraTS20_Training_002,10,"[True, True, True, False]","[1, 2, 3, 5, 6, 9, 10]"
HG_BraTS20_Training_003,2,"[False, False, True, False]",[2]
HG_BraTS20_Training_006,3,"[True, False, False, False]",[3]
HG_BraTS20_Training_010,9,"[True, True, False, False]","[1, 3, 9]"
"""


def test_a_passion_file_reads_in_our_modality_order(tmp_path: Path) -> None:
    path = tmp_path / "Brats2020_imb_split_mr2258.csv"
    path.write_text(PASSION_ROWS)
    assert official_layout(path) == "passion-csv"
    ids = ["BraTS20_Training_003", "BraTS20_Training_002", "BraTS20_Training_010"]  # no grade prefix, any order
    mask = read_passion_csv(path, ids, BRATS)
    # [flair, t1c, t1, t2] -> (flair, t1, t1ce, t2)
    assert mask.present.int().tolist() == [[0, 1, 0, 0], [1, 1, 1, 0], [1, 0, 1, 0]]
    assert mask.rates == (0.5, 0.2, 0.2, 0.8)  # mr2258: T1 .2, T1c .2, FLAIR .5, T2 .8
    assert (mask.style, mask.all_missing, mask.n_excluded) == ("passion-csv", "redraw", 0)


def test_passion_layout_round_trips_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(PASSION_ROWS)
    ids = [line.split(",")[0] for line in PASSION_ROWS.splitlines()[1:]]
    mask = read_passion_csv(source, ids, BRATS)
    assert write_passion_csv(mask, tmp_path / "out.csv").read_text() == PASSION_ROWS
    drawn = MissingMask.generate([f"c{i}" for i in range(40)], BRATS, (0.2, 0.5, 0.2, 0.8), seed=0,
                                 style="combinations", all_missing="redraw")  # fmt: skip
    again = read_passion_csv(write_passion_csv(drawn, tmp_path / "drawn.csv"), drawn.sample_ids, BRATS)
    assert torch.equal(again.present, drawn.present)
    assert len(set(PASSION_PATTERNS)) == 15
    assert not any(p == (False,) * 4 for p in PASSION_PATTERNS)


def test_malformed_passion_files_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(PASSION_ROWS.replace('2,"[False, False, True, False]"', '3,"[False, False, True, False]"'))
    with pytest.raises(DataFileError, match=r"bad.csv, line 3: mask_id '3' does not name"):
        read_passion_csv(path, ["BraTS20_Training_003"], BRATS)
    path.write_text(PASSION_ROWS)
    with pytest.raises(ValueError, match="no row for case 'BraTS20_Training_999'"):
        read_passion_csv(path, ["BraTS20_Training_999"], BRATS)


# -- MCE's nuScenes mask CSVs ------------------------------------------------------------------------
NUSCENES = ("camera", "lidar", "radar")
NUSCENES_ROWS = "Camera,LiDAR,RADAR,Count\n0,1,1,2\n1,1,0,2\n1,0,0,1\n"


def test_an_mce_nuscenes_file_reads_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "nuScenes_imb_258.csv"
    path.write_text(NUSCENES_ROWS)
    assert official_layout(path) == "mce-nuscenes-csv"
    mask = read_nuscenes_csv(path, ["t0", "t1", "t2"], NUSCENES)
    assert mask.present.int().tolist() == [[0, 1, 1], [1, 1, 0], [1, 0, 0]]
    assert mask.rates == (0.2, 0.5, 0.8)
    assert write_nuscenes_csv(mask, tmp_path / "out.csv").read_text() == NUSCENES_ROWS
    empty = tmp_path / "empty_row.csv"
    empty.write_text(NUSCENES_ROWS + "0,0,0,0\n")
    kept = read_nuscenes_csv(empty, ["t0", "t1", "t2", "t3"], NUSCENES)
    assert (len(kept), kept.n_excluded, kept.all_missing) == (3, 1, "exclude")


def test_malformed_nuscenes_files_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "nuScenes_imb_258.csv"
    path.write_text(NUSCENES_ROWS.replace("1,0,0,1", "1,0,0,2"))
    with pytest.raises(DataFileError, match=r"line 4: Count 2 is not the number of present modalities"):
        read_nuscenes_csv(path, ["a", "b", "c"], NUSCENES)
    path.write_text(NUSCENES_ROWS)
    with pytest.raises(ValueError, match="3 rows for 2 training samples"):
        read_nuscenes_csv(path, ["a", "b"], NUSCENES)
    path.write_text("camera,lidar,radar\n1,1,1\n")
    with pytest.raises(DataFileError, match="expected the header Camera,LiDAR,RADAR,Count"):
        read_nuscenes_csv(path, ["a"], NUSCENES)


# -- Fig. 7: every image, audio for the first k per class and speaker --------------------------------
def test_per_speaker_counts_are_the_official_ones() -> None:
    assert [3 * per_speaker_count(p / 10, 105, 3) for p in range(1, 11)] == [12, 21, 33, 42, 54, 63, 75, 84, 96, 105]
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        per_speaker_count(0.0, 105, 3)


def test_per_class_mask_keeps_the_first_ranks() -> None:
    mask = per_class_mask(["a", "b", "c"], ("image", "audio"), "audio", strata=["u", "u", "v"], ranks=[2, 0, 1], keep=2)
    assert mask.present.int().tolist() == [[1, 0], [1, 1], [1, 1]]
    assert (mask.all_missing, mask.rates, mask.seed) == (None, None, None)


def test_avmnist_fig7_mask_is_deterministic_and_stratified(tmp_path: Path) -> None:
    root = write_synthetic_avmnist(tmp_path, n_per_digit=50, speakers=("jackson", "nicolas", "theo"))
    train = AVMNIST(root, "train", val_fraction=0.0)
    assert len(train) == 1050  # 10 digits x 3 speakers x 35 takes, as the real pool
    mask = train.fig7_mask(0.1)
    assert torch.equal(mask.present, train.fig7_mask(0.1).present)
    assert bool(mask.present[:, 0].all())
    audio = mask.present[:, 1].tolist()
    per_stratum: dict[tuple[int, str], list[int]] = {}
    for (_, clip), has in zip(train.clips, audio, strict=True):
        if has:
            per_stratum.setdefault((clip.digit, clip.speaker), []).append(clip.take)
    assert len(per_stratum) == 30
    assert all(takes == [15, 16, 17, 18] for takes in per_stratum.values())
    held = AVMNIST(root, "train")  # a validation carve-out does not move which clips keep audio
    kept = {train.clips[i][1] for i, has in enumerate(audio) if has}
    assert {
        c for (_, c), has in zip(held.clips, held.fig7_mask(0.1).present[:, 1].tolist(), strict=True) if has
    } <= kept


def test_combinations_on_few_samples_keep_every_modality_somewhere() -> None:
    """7 BraTS cases at T2 missing 0.8: the largest remainder alone gives T2 to no case (1.4 expected)."""
    for seed in range(5):
        mask = MissingMask.generate([f"c{i}" for i in range(7)], ("flair", "t1", "t1ce", "t2"), (0.5, 0.2, 0.2, 0.8),
                                    seed=seed, style="combinations")  # fmt: skip
        assert bool(mask.present.any(dim=0).all())
