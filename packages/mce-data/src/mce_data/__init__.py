"""mce-data: imbalanced missing-rate masks, incomplete-data wrappers and loaders for the MCE benchmarks.

Benchmarks: AudiovisionMNIST, IEMOCAP, BraTS2020 and nuScenes.

>>> import mce_data
>>> mask = mce_data.MissingMask.generate(["a", "b", "c", "d"], ("image", "audio"), (0.5, 0.25), seed=0)
>>> mask.missing_counts()
[2, 1]
"""

from mce_data.__about__ import __version__
from mce_data._optional import require
from mce_data.avmnist import AVMNIST, SMIL_SPEAKERS
from mce_data.brats import BRATS20, BRATS2015_DEEPMEDIC, TCGA_BRAINLES, BraTS, BraTSLayout
from mce_data.brats_npy import BraTSNpy, write_brats_npy
from mce_data.brats_preprocess import regions
from mce_data.collate import Batch, collate_incomplete
from mce_data.download import download
from mce_data.errors import DataFileError
from mce_data.iemocap import IEMOCAP
from mce_data.incomplete import IncompleteDataset, IncompleteSample
from mce_data.mask_official import read_nuscenes_csv, read_passion_csv, write_nuscenes_csv, write_passion_csv
from mce_data.mask_per_class import per_class_mask
from mce_data.masks import MissingMask
from mce_data.nuscenes import BEVConfig, NuScenesBEVLive, rasterise_sample
from mce_data.nuscenes_cache import NuScenesBEV, convert_to_hdf5
from mce_data.nuscenes_grid import BEVGrid
from mce_data.paths import data_dir
from mce_data.sample import MultiModalDataset, Sample
from mce_data.sliding_window import sliding_window_inference
from mce_data.synthetic_avmnist import write_synthetic_avmnist
from mce_data.synthetic_brats import write_synthetic_brats
from mce_data.synthetic_iemocap import write_synthetic_iemocap
from mce_data.synthetic_nuscenes import write_synthetic_nuscenes, write_synthetic_nuscenes_hdf5
from mce_data.tensor_dataset import TensorMultiModalDataset

__all__ = [
    "AVMNIST",
    "BRATS20",
    "BRATS2015_DEEPMEDIC",
    "IEMOCAP",
    "SMIL_SPEAKERS",
    "TCGA_BRAINLES",
    "BEVConfig",
    "BEVGrid",
    "Batch",
    "BraTS",
    "BraTSLayout",
    "BraTSNpy",
    "DataFileError",
    "IncompleteDataset",
    "IncompleteSample",
    "MissingMask",
    "MultiModalDataset",
    "NuScenesBEV",
    "NuScenesBEVLive",
    "Sample",
    "TensorMultiModalDataset",
    "__version__",
    "collate_incomplete",
    "convert_to_hdf5",
    "data_dir",
    "download",
    "per_class_mask",
    "rasterise_sample",
    "read_nuscenes_csv",
    "read_passion_csv",
    "regions",
    "require",
    "sliding_window_inference",
    "write_brats_npy",
    "write_nuscenes_csv",
    "write_passion_csv",
    "write_synthetic_avmnist",
    "write_synthetic_brats",
    "write_synthetic_iemocap",
    "write_synthetic_nuscenes",
    "write_synthetic_nuscenes_hdf5",
]
