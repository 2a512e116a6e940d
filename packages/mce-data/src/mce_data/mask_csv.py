"""The mask file: a JSON metadata comment line, then ``id,<modality>...`` rows of 0/1.

::

    # mce-data-mask {"version": 3, "modalities": ["image", "audio"], "rates": [0.2, 0.5], "seed": 0, ...}
    id,image,audio
    train-00000,1,0
    train-00001,1,1

The metadata carries the rates, seed, style, ``all_missing`` choice, a digest of the ids the mask was
drawn for (and of the source availability it was drawn within, if any), so a file that does not belong
to a dataset (other ids, other order, other modalities) or to an experiment (other rates or seed) is
detected on load. It also carries sha256 digests of the 0/1 cells (``present_sha256``) and of the ids of
the rows (``rows_sha256``), so hand edits of the cells or deleted rows are an error naming the file, and
the realised per-modality missing rates of the rows (``realised_rates``, for reading only) and how many ids
were left out (``n_excluded``, for reading only; both are recomputed from the rows on load).

Format versions: 3 (mce-data 0.2) names the all-missing modes ``"exclude"``, ``"swap"`` and ``"redraw"``
(:mod:`mce_data.mask_modes`). Version 2 (mce-data 0.1) called today's ``"swap"`` ``"redraw"``: such files are
read with ``all_missing="swap"`` for their drawn styles (``"counts"``: cells swapped; ``"combinations"``: the
all-missing share fitted onto the other patterns, as 0.1 did) and ``None`` for full / subset / hand-made masks,
so a mask drawn by 0.1 keeps its meaning and reloads under the honest name.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mce_data.errors import DataFileError
from mce_data.mask_checks import STYLES, check_ids, check_modalities, ids_digest
from mce_data.masks import MissingMask

MAGIC = "# mce-data-mask "
VERSION = 3
READABLE = (2, 3)
"""Format versions :func:`read_mask_csv` reads (module doc)."""


def present_digest(present: torch.Tensor) -> str:
    """sha256 of a ``Bool[N, M]`` presence matrix (its shape, then its cells row by row as bytes 0/1)."""
    cells = present.to(torch.uint8).contiguous().numpy()
    return hashlib.sha256(f"{tuple(cells.shape)}".encode() + cells.tobytes()).hexdigest()


def write_mask_csv(mask: MissingMask, path: Path) -> Path:
    """Write ``mask`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    meta: dict[str, Any] = {
        "version": VERSION,
        "modalities": list(mask.modalities),
        "rates": None if mask.rates is None else list(mask.rates),
        "seed": mask.seed,
        "style": mask.style,
        "all_missing": mask.all_missing,
        "n_source": mask.n_source,
        "source_digest": mask.source_digest,
        "available_digest": mask.available_digest,
        "present_sha256": present_digest(mask.present),
        "rows_sha256": ids_digest(mask.sample_ids),
        "realised_rates": [round(rate, 6) for rate in mask.realised_missing_rates()],
        "n_excluded": mask.n_excluded,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            stream.write(MAGIC + json.dumps(meta) + "\n")
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(["id", *mask.modalities])
            for sid, row in zip(mask.sample_ids, mask.present.to(torch.uint8).tolist(), strict=False):
                writer.writerow([sid, *row])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_mask_csv(
    path: Path, *, expected_ids: Sequence[str] | None = None, modalities: Sequence[str] | None = None
) -> MissingMask:
    """Parse a file written by :func:`write_mask_csv` (format 2 or 3, module doc); a malformed file is a
    :class:`~mce_data.errors.DataFileError` naming ``path`` (and the line), a mismatch a ``ValueError``."""
    if not path.is_file():
        raise FileNotFoundError(f"mask file {path} does not exist")
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            first = stream.readline()
            if not first.startswith(MAGIC):
                raise DataFileError(path, f"not an mce-data mask file (first line should start with {MAGIC.strip()!r})")
            try:
                meta = json.loads(first[len(MAGIC) :])
            except json.JSONDecodeError as error:
                raise DataFileError(path, f"unreadable metadata line: {error}", line=1) from error
            if not isinstance(meta, dict) or meta.get("version") not in READABLE:
                version = meta.get("version") if isinstance(meta, dict) else None
                raise DataFileError(
                    path, f"mask format version {version!r}, this reader knows {list(READABLE)} (delete the file to "
                    f"draw it again)",
                )  # fmt: skip
            rows = list(csv.reader(stream))
    except UnicodeDecodeError as error:
        raise DataFileError(path, f"not UTF-8 text ({error})") from error
    if not rows:
        raise DataFileError(path, "no header row")
    header, body = rows[0], rows[1:]
    mods = tuple(meta.get("modalities") or ())
    if header != ["id", *mods]:
        raise DataFileError(path, f"header {header} does not match the metadata's modalities {list(mods)}", line=2)
    if modalities is not None and check_modalities(modalities) != mods:
        raise ValueError(f"{path}: mask is for modalities {list(mods)}, the dataset has {list(modalities)}")
    ids: list[str] = []
    values: list[list[bool]] = []
    for line, row in enumerate(body, start=3):
        if len(row) != len(header) or any(v not in ("0", "1") for v in row[1:]):
            raise DataFileError(path, f"expected an id and {len(mods)} values of 0/1, got {row}", line=line)
        ids.append(row[0])
        values.append([v == "1" for v in row[1:]])
    if not ids:
        raise DataFileError(path, "the mask has no rows")
    try:
        all_missing = meta["all_missing"]
        if meta["version"] == 2 and all_missing == "redraw":
            # mce-data 0.1 called today's "swap" "redraw" (module doc); full / subset / hand-made masks had it
            # as a placeholder and now have no rule (None).
            all_missing = "swap" if meta["style"] in STYLES else None
        style = "custom" if meta["version"] == 2 and meta["style"] == "full" and not all(map(all, values)) else None
        mask = MissingMask(
            sample_ids=ids,
            modalities=mods,
            present=torch.tensor(values, dtype=torch.bool),
            rates=None if meta["rates"] is None else tuple(float(r) for r in meta["rates"]),
            seed=meta["seed"],
            style=style or meta["style"],
            all_missing=all_missing,
            source_digest=meta["source_digest"],
            n_source=int(meta["n_source"]),
            available_digest=meta["available_digest"],
        )
        if ids_digest(ids) != meta["rows_sha256"]:
            raise ValueError("the rows' ids do not match the metadata's rows_sha256 (rows deleted or edited by hand?)")
        if present_digest(mask.present) != meta["present_sha256"]:
            raise ValueError("the 0/1 cells do not match the metadata's present_sha256 (cells edited by hand?)")
    except KeyError as error:
        raise DataFileError(path, f"the metadata line lacks {error}", line=1) from error
    except (ValueError, TypeError) as error:
        raise DataFileError(path, str(error)) from error
    if mask.all_missing != "exclude" and (mask.n_source != len(ids) or mask.source_digest != ids_digest(ids)):
        raise DataFileError(path, "rows do not match the metadata (ids edited by hand?)")
    if expected_ids is not None:
        expected = check_ids(expected_ids)
        if ids_digest(expected) != mask.source_digest:
            detail = f"{len(expected)} ids" if len(expected) != mask.n_source else "the same count but other ids/order"
            raise ValueError(
                f"{path}: mask was drawn for {mask.n_source} ids (digest {mask.source_digest[:12]}), the dataset has "
                f"{detail} (digest {ids_digest(expected)[:12]}); it belongs to another dataset or split"
            )
        if not set(ids) <= set(expected):
            raise ValueError(f"{path}: rows name ids the dataset does not have")
    return mask


def check_settings(
    mask: MissingMask,
    path: Path,
    rates: tuple[float, ...],
    seed: int,
    style: str,
    all_missing: str,
    available_digest: str | None = None,
) -> None:
    """Raise a ``ValueError`` naming ``path`` when a loaded mask was drawn with other settings."""
    wanted = {
        "rates": rates, "seed": seed, "style": style, "all_missing": all_missing, "availability": available_digest,
    }  # fmt: skip
    found = {
        "rates": mask.rates, "seed": mask.seed, "style": mask.style, "all_missing": mask.all_missing,
        "availability": mask.available_digest,
    }  # fmt: skip
    differ = {k: (found[k], v) for k, v in wanted.items() if found[k] != v}
    if differ:
        listing = ", ".join(f"{k}: file {a!r} vs requested {b!r}" for k, (a, b) in differ.items())
        raise ValueError(f"{path}: existing mask was drawn with other settings ({listing}); delete it or change path")
