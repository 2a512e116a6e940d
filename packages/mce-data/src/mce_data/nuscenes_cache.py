"""An HDF5 cache of rasterised nuScenes samples, so training does not re-rasterise every epoch.

File layout (one group per sample token, written by :func:`convert_to_hdf5`)::

    /<sample_token>/camera          uint8   [6, 3, H, W]
    /<sample_token>/intrinsics      float32 [6, 3, 3]
    /<sample_token>/cam_to_ego      float32 [6, 4, 4]
    /<sample_token>/camera_present  bool    [6]
    /<sample_token>/lidar           uint8   [8, 200, 200]   (occupancy, 0 / 1)
    /<sample_token>/radar           float32 [1 + F, 200, 200]
    /<sample_token>/vehicle         bool    [200, 200]
    /<sample_token>/valid           bool    [200, 200]
    /<sample_token>/available       bool    [3]             (camera, lidar, radar)
    attrs: format, tokens (in order), modalities, grid bounds, cell, z_bins, image_size, radar_fields
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mce_data._h5 import PerProcessFiles
from mce_data._optional import require
from mce_data.errors import DataFileError
from mce_data.nuscenes import MODALITIES, BEVConfig, NuScenesLike, rasterise_sample, sample_tokens, to_sample
from mce_data.sample import Sample

FORMAT = "mce-data nuscenes-bev 1"
_FIELDS = ("camera", "intrinsics", "cam_to_ego", "camera_present", "lidar", "radar", "vehicle", "valid", "available")


def convert_to_hdf5(
    nusc: NuScenesLike,
    out_path: str | os.PathLike[str],
    tokens: Sequence[str] | None = None,
    config: BEVConfig | None = None,
    *,
    compression: str | None = "lzf",
) -> Path:
    """Rasterise ``tokens`` (default every sample) once and write them to ``out_path``.

    Args:
        nusc: a devkit ``NuScenes`` instance (or a compatible object).
        out_path: the ``.h5`` file to create (overwritten).
        tokens: sample tokens; default all, sorted by scene and time.
        config: what to rasterise (:class:`~mce_data.nuscenes.BEVConfig`).
        compression: h5py compression of the BEV grids (``"lzf"`` shrinks the sparse grids about 10x
            at little cost; ``None`` for none). Camera images are stored uncompressed: they barely
            compress and decompressing them would cut the read rate about fourfold.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.
    """
    h5py = require("h5py")
    config = config or BEVConfig()
    tokens = list(tokens) if tokens is not None else sample_tokens(nusc)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with h5py.File(partial, "w") as file:
        file.attrs["format"] = FORMAT
        file.attrs["modalities"] = json.dumps(list(MODALITIES))
        file.attrs["tokens"] = json.dumps(tokens)
        file.attrs["config"] = json.dumps(asdict(config))
        for token in tokens:
            arrays = rasterise_sample(nusc, token, config)
            arrays["lidar"] = arrays["lidar"].astype(np.uint8)
            group = file.create_group(token)
            for name in _FIELDS:
                packed = compression if arrays[name].ndim >= 2 and name != "camera" else None
                group.create_dataset(name, data=arrays[name], compression=packed)
    partial.replace(out)  # a crash mid-conversion never leaves a half-written cache under the real name
    return out


class NuScenesBEV:
    """Samples from a cache written by :func:`convert_to_hdf5` (see :mod:`mce_data.nuscenes` for the tensors).

    Args:
        h5_path: the cache file.
        tokens: a subset (e.g. one split) of the cached sample tokens; default all, in file order.

    >>> import tempfile
    >>> from mce_data.synthetic_nuscenes import write_synthetic_nuscenes_hdf5
    >>> path = write_synthetic_nuscenes_hdf5(tempfile.mkdtemp(), n_samples=2, image_size=(8, 16), seed=0)
    >>> sample = NuScenesBEV(path)[0]
    >>> tuple(sample.inputs["camera"].shape), tuple(sample.inputs["lidar"].shape), tuple(sample.target.shape)
    ((6, 3, 8, 16), (8, 200, 200), (200, 200))
    """

    modalities: tuple[str, ...] = MODALITIES

    def __init__(self, h5_path: str | os.PathLike[str], tokens: Sequence[str] | None = None) -> None:
        h5py = require("h5py")
        self.path = Path(h5_path)
        if not self.path.is_file():
            from mce_data.nuscenes import LAYOUT_HELP

            raise FileNotFoundError(f"{self.path}: no such nuScenes BEV cache.\n{LAYOUT_HELP}")
        try:
            with h5py.File(self.path, "r") as file:
                if file.attrs.get("format") != FORMAT:
                    raise DataFileError(
                        self.path,
                        f"not a nuScenes BEV cache (format {file.attrs.get('format')!r}, expected {FORMAT!r})",
                    )
                cached = json.loads(file.attrs["tokens"])
                self.config = json.loads(file.attrs["config"])
        except OSError as error:
            raise DataFileError(self.path, f"not a readable HDF5 file ({error})") from error
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise DataFileError(
                self.path, f"the cache's 'tokens' / 'config' attributes are unreadable ({error})"
            ) from error
        unknown = sorted(set(tokens or ()) - set(cached))
        if unknown:
            raise ValueError(f"{self.path}: tokens not in the cache: {unknown[:5]} ({len(unknown)} in total)")
        self.tokens = list(tokens) if tokens is not None else cached
        self._files = PerProcessFiles()

    def __len__(self) -> int:
        return len(self.tokens)

    def sample_ids(self) -> list[str]:
        """The sample tokens."""
        return list(self.tokens)

    def _file(self) -> Any:
        return self._files.get("cache", lambda: require("h5py").File(self.path, "r"))

    def available_matrix(self) -> torch.Tensor:
        """``Bool[N, 3]``: each sample's cached ``available`` flags (camera, lidar, radar)."""
        try:
            rows = [np.asarray(self._file()[token]["available"][()], dtype=bool) for token in self.tokens]
        except Exception as error:
            raise DataFileError(
                self.path, f"cannot read the availability flags ({type(error).__name__}: {error})"
            ) from error
        if any(row.shape != (len(MODALITIES),) for row in rows):
            raise DataFileError(self.path, f"every 'available' must have shape [{len(MODALITIES)}]")
        return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, len(MODALITIES), dtype=torch.bool)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        token = self.tokens[index]
        try:
            group = self._file()[token]
            arrays = {name: group[name][()] for name in _FIELDS}
        except Exception as error:
            raise DataFileError(
                self.path, f"sample {token} cannot be read ({type(error).__name__}: {error})"
            ) from error
        expected = (len(MODALITIES),)
        if (
            arrays["available"].shape != expected
            or arrays["camera"].ndim != 4
            or arrays["vehicle"].shape != arrays["valid"].shape
        ):
            raise DataFileError(
                self.path, f"sample {token} has inconsistent shapes: { {k: v.shape for k, v in arrays.items()} }"
            )
        return to_sample(token, arrays)
