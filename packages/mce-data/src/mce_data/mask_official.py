"""The official mask files users already have: PASSION's BraTS splits and MCE's nuScenes masks (read and write).

PASSION (Jun-Jie-Shi/PASSION ``datasets/BraTS/brats_split/Brats2020_imb_split_mr{abcd}.csv``, written by
``code/preprocessing/generate_imb_mr.py``, read by ``code/data/datasets_nii.py``)::

    data_name,mask_id,mask,pos_mask_ids
    HG_BraTS20_Training_002,10,"[True, True, True, False]","[1, 2, 3, 5, 6, 9, 10]"
    HG_BraTS20_Training_003,2,"[False, False, True, False]",[2]

One row per training case (the file is PASSION's training list). ``mask`` is a Python list of booleans in the
order [flair, t1c, t1, t2], ``True`` = present; ``mask_id`` indexes :data:`PASSION_PATTERNS` (``mask_array``
in ``datasets_nii.py``) and ``pos_mask_ids`` lists the ids of every non-empty subset of the present modalities.
The file name's digits are ``int(10 * r)`` of the missing rates of (T1, T1c, FLAIR, T2). PASSION's ``t1c`` is
our ``t1ce``; its names carry an ``HG_`` / ``LG_`` grade prefix that our case folders lack, so a name is matched
with the prefix if the dataset has it, else without.

MCE's nuScenes masks (byzhaoAI/MCE ``scene_seg/train_split/nuScenes_imb_{abc}.csv``, read by
``scene_seg/nuscenesdataset.py``, ``VizData``)::

    Camera,LiDAR,RADAR,Count
    0,1,1,2
    1,1,0,2

One row per training sample, in the order of the training samples sorted by (scene token, timestamp) (the order
of :class:`mce_data.NuScenesBEV` ids); ``1`` = present; ``Count`` is the row sum (the official code drops it; we
check it). The digits are ``int(10 * r)`` of (camera, lidar, radar).

A row with no modality is left out (the paper's rule, Sec. 3.1; :attr:`MissingMask.n_excluded` counts it); the
official files have none. A malformed file is a :class:`~mce_data.errors.DataFileError` naming the file and line.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from mce_data.errors import DataFileError
from mce_data.mask_checks import check_ids, ids_digest
from mce_data.masks import MissingMask

PASSION_MODALITIES = ("flair", "t1ce", "t1", "t2")
"""Our names of PASSION's ``mask`` columns, in its order [flair, t1c, t1, t2] (``generate_imb_mr.py`` l.282)."""


def _flags(*present: str) -> tuple[bool, bool, bool, bool]:
    """A PASSION pattern: which of [flair, t1c, t1, t2] are ``present``."""
    return ("flair" in present, "t1c" in present, "t1" in present, "t2" in present)


PASSION_PATTERNS = (
    _flags("t2"), _flags("t1c"), _flags("t1"), _flags("flair"), _flags("t1c", "t2"), _flags("t1c", "t1"),
    _flags("flair", "t1"), _flags("t1", "t2"), _flags("flair", "t2"), _flags("flair", "t1c"),
    _flags("flair", "t1c", "t1"), _flags("flair", "t1", "t2"), _flags("flair", "t1c", "t2"),
    _flags("t1c", "t1", "t2"), _flags("flair", "t1c", "t1", "t2"),
)  # fmt: skip
"""PASSION's ``mask_array`` (``code/data/datasets_nii.py`` l.27-30): ``mask_id`` -> [flair, t1c, t1, t2]."""
PASSION_HEADER = ["data_name", "mask_id", "mask", "pos_mask_ids"]
NUSCENES_COLUMNS = {"Camera": "camera", "LiDAR": "lidar", "RADAR": "radar"}
"""The columns of MCE's nuScenes mask files and our modality names, in the files' order."""


def read_passion_csv(path: str | Path, sample_ids: Sequence[str], modalities: Sequence[str]) -> MissingMask:
    """The mask of ``sample_ids`` (in their order) from a PASSION BraTS split CSV (module doc).

    ``modalities`` are the dataset's (``("flair", "t1", "t1ce", "t2")``); every id needs a row, rows of other
    cases are ignored (a split that is a subset of PASSION's training list). ``rates`` come from the file name
    when it follows ``..._mr{abcd}.csv``, in ``modalities`` order; ``all_missing`` is ``"redraw"``, PASSION's rule.
    """
    path = Path(path)
    ids = check_ids(sample_ids)
    order = _columns(modalities, PASSION_MODALITIES, path)
    rows: dict[str, tuple[bool, ...]] = {}
    for line, row in _rows(path, PASSION_HEADER):
        if len(row) != 4:
            raise DataFileError(path, f"expected 4 columns {PASSION_HEADER}, got {row}", line=line)
        cells = [c.strip() for c in row[2].strip("[]").split(",")]
        if len(cells) != 4 or any(c not in ("True", "False") for c in cells):
            raise DataFileError(path, f"mask must be a list of 4 True/False, got {row[2]!r}", line=line)
        pattern = tuple(c == "True" for c in cells)
        if not row[1].isdigit() or int(row[1]) >= len(PASSION_PATTERNS) or PASSION_PATTERNS[int(row[1])] != pattern:
            raise DataFileError(path, f"mask_id {row[1]!r} does not name the pattern {row[2]}", line=line)
        rows[row[0]] = pattern
    present = []
    for sid in ids:
        name = sid if sid in rows else next((f"{g}_{sid}" for g in ("HG", "LG") if f"{g}_{sid}" in rows), None)
        if name is None:
            raise ValueError(f"{path}: no row for case {sid!r} (the file has {len(rows)} cases)")
        present.append([rows[name][k] for k in order])
    digits = _rate_digits(path, r"_mr(\d{4})\.csv$")
    rates = None if digits is None else dict(zip(("t1", "t1ce", "flair", "t2"), digits, strict=True))
    return _mask(ids, modalities, present, "passion-csv", "redraw", rates)


def write_passion_csv(mask: MissingMask, path: str | Path) -> Path:
    """Write ``mask`` (modalities flair, t1, t1ce, t2 in any order) in PASSION's layout; ids are written as they
    are (add PASSION's grade prefix yourself if its code is to read the file)."""
    path = Path(path)
    order = _columns(PASSION_MODALITIES, mask.modalities, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(PASSION_HEADER)
        for sid, row in zip(mask.sample_ids, mask.present.tolist(), strict=True):
            pattern = tuple(row[k] for k in order)
            subsets = [
                PASSION_PATTERNS.index(p)
                for p in PASSION_PATTERNS
                if all(a <= b for a, b in zip(p, pattern, strict=True))
            ]
            writer.writerow([sid, PASSION_PATTERNS.index(pattern), str(list(pattern)), str(sorted(subsets))])
    return path


def read_nuscenes_csv(path: str | Path, sample_ids: Sequence[str], modalities: Sequence[str]) -> MissingMask:
    """The mask of ``sample_ids`` from an MCE nuScenes mask CSV: row ``i`` is ``sample_ids[i]``, so the ids must be
    the training samples sorted by (scene token, timestamp), as :class:`mce_data.NuScenesBEV` lists them.

    The file must have exactly one row per id; ``rates`` come from the name (``..._imb_{abc}.csv``)."""
    path = Path(path)
    ids = check_ids(sample_ids)
    order = _columns(modalities, tuple(NUSCENES_COLUMNS.values()), path)
    present = []
    for line, row in _rows(path, [*NUSCENES_COLUMNS, "Count"]):
        if len(row) != 4 or any(v not in ("0", "1") for v in row[:3]) or not row[3].isdigit():
            raise DataFileError(path, f"expected three 0/1 values and a count, got {row}", line=line)
        if int(row[3]) != sum(v == "1" for v in row[:3]):
            raise DataFileError(path, f"Count {row[3]} is not the number of present modalities in {row}", line=line)
        present.append([row[k] == "1" for k in order])
    if len(present) != len(ids):
        raise ValueError(f"{path}: {len(present)} rows for {len(ids)} training samples (one row per sample, in order)")
    digits = _rate_digits(path, r"_imb_(\d{3})\.csv$")
    rates = None if digits is None else dict(zip(NUSCENES_COLUMNS.values(), digits, strict=True))
    return _mask(ids, modalities, present, "mce-nuscenes-csv", None, rates)


def write_nuscenes_csv(mask: MissingMask, path: str | Path) -> Path:
    """Write ``mask`` (modalities camera, lidar, radar) in MCE's nuScenes layout, one row per id in mask order."""
    path = Path(path)
    order = _columns(tuple(NUSCENES_COLUMNS.values()), mask.modalities, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow([*NUSCENES_COLUMNS, "Count"])
        for row in mask.present.tolist():
            writer.writerow([int(row[k]) for k in order] + [sum(row)])
    return path


def official_layout(path: str | Path) -> str | None:
    """``"passion-csv"`` or ``"mce-nuscenes-csv"`` when the file's first line is that layout's header, else ``None``."""
    with Path(path).open(newline="", encoding="utf-8", errors="replace") as stream:
        first = next(csv.reader(itertools.islice(stream, 1)), [])
    if first == PASSION_HEADER:
        return "passion-csv"
    if first == [*NUSCENES_COLUMNS, "Count"]:
        return "mce-nuscenes-csv"
    return None


def _columns(want: Sequence[str], have: Sequence[str], path: Path) -> list[int]:
    """For each of ``want``, its column in ``have``; a ``ValueError`` when the modality sets differ."""
    if sorted(want) != sorted(have):
        raise ValueError(f"{path}: the file's modalities are {sorted(have)}, the dataset's {sorted(want)}")
    return [list(have).index(m) for m in want]


def _rows(path: Path, header: list[str]) -> list[tuple[int, list[str]]]:
    """``(line number, row)`` after checking the header; unreadable text is a :class:`DataFileError`."""
    if not path.is_file():
        raise FileNotFoundError(f"mask file {path} does not exist")
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataFileError(path, f"not a CSV text file ({error})") from error
    if not rows or rows[0] != header:
        raise DataFileError(path, f"expected the header {','.join(header)}, got {rows[0] if rows else 'nothing'}")
    if len(rows) == 1:
        raise DataFileError(path, "the mask has no rows")
    return list(enumerate(rows[1:], start=2))


def _rate_digits(path: Path, pattern: str) -> list[float] | None:
    match = re.search(pattern, path.name)
    return None if match is None else [int(d) / 10 for d in match.group(1)]


def _mask(
    ids: list[str],
    modalities: Sequence[str],
    present: list[list[bool]],
    style: str,
    all_missing: str | None,
    rates: dict[str, float] | None,
) -> MissingMask:
    """The mask of the rows that have a modality (the others left out, module doc)."""
    cells = torch.tensor(present, dtype=torch.bool).reshape(len(ids), len(modalities))
    alive = cells.any(dim=1)
    kept = [sid for sid, ok in zip(ids, alive.tolist(), strict=True) if ok]
    return MissingMask(
        kept,
        tuple(modalities),
        cells[alive],
        rates=None if rates is None else tuple(rates[m] for m in modalities),
        style=style,
        all_missing="exclude" if not bool(alive.all()) else all_missing,
        source_digest=ids_digest(ids),
        n_source=len(ids),
    )
