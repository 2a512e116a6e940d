"""Representation quality of the fused features (paper Table 7) on the complete test split.

The paper evaluates "the fused features h_n" with the intra-/inter-class distance ratio and the
average intra-class cosine consistency, but prints no formulas; Table 7's own numbers fix the ratio
(``38.61 / 30.79 = 1.25``, ``11.96 / 14.15 = 0.85``). The definitions used here, for features
``h_n`` with labels ``y_n`` and class centroids ``mu_c`` (mean of the class's features):

* intra-class distance ``= mean_n ||h_n - mu_{y_n}||_2`` (every sample to its own class centroid);
* inter-class distance ``= mean_{c < c'} ||mu_c - mu_{c'}||_2`` (between the centroids of the
  classes present);
* intra-/inter-ratio ``= intra / inter`` (lower: tighter, better separated classes; scale-free);
* intra-class cosine consistency ``= mean_c mean_{i != j in c} cos(h_i, h_j)`` (pairwise, between
  distinct samples of a class, then averaged over the classes with at least two samples);
  ``cosine_to_centroid = mean_c mean_{i in c} cos(h_i, mu_c)`` is reported beside it.

Distances depend on the feature scale, so only the ratio and the cosines compare across models of
different scale; the paper's absolute distances are not reproducible targets.

Which features: by default ``fused`` = the output of the fusion, i.e. the completed per-modality
features ``h'`` (the completion module's output for the kept subset) concatenated over modalities,
the input of ``f_dec`` in Eq. 11 (the paper's ``h_n``). ``penultimate`` = the input of the head's last
``nn.Linear`` (the classifier layer), after the decoder's hidden layers. Either is computed on the
complete test split with each non-empty modality subset kept, so the "full" row is the
full-modality input and the others show how robust the features are to missing modalities.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional

from mce_train.analysis import FinishedRun, loader, markdown_table
from mce_train.network import MultiModalNet
from mce_train.statistics import summarize
from mce_train.subsets import named_subsets

FEATURE_KINDS = ("fused", "penultimate")


@dataclass(frozen=True)
class Quality:
    """Table 7's columns for one feature set (see the module docstring for the definitions)."""

    intra: float
    inter: float
    ratio: float
    cosine: float
    cosine_to_centroid: float
    n_samples: int
    n_classes: int


def representation_quality(features: Tensor, labels: Tensor) -> Quality:
    """Table 7's metrics of ``features: Float[N, D]`` with class ``labels: Long[N]``.

    >>> points = torch.tensor([[0.0, 1.0], [0.0, 3.0], [4.0, 1.0], [4.0, 3.0]])
    >>> q = representation_quality(points, torch.tensor([0, 0, 1, 1]))
    >>> (q.intra, q.inter, q.ratio)
    (1.0, 4.0, 0.25)
    """
    if features.dim() != 2:
        raise ValueError(f"features must be [N, D]; got shape {list(features.shape)}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must be [N] = [{features.shape[0]}]; got shape {list(labels.shape)}")
    x = features.detach().double()
    classes = torch.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"the inter-class distance needs at least two classes; got {classes.tolist()}")
    index = torch.searchsorted(classes, labels)
    counts = torch.bincount(index, minlength=len(classes)).double()
    centroids = torch.zeros(len(classes), x.shape[1], dtype=x.dtype).index_add_(0, index, x) / counts[:, None]
    intra = (x - centroids[index]).norm(dim=1).mean()
    pairs = torch.tensor(list(itertools.combinations(range(len(classes)), 2)))
    inter = (centroids[pairs[:, 0]] - centroids[pairs[:, 1]]).norm(dim=1).mean()
    unit = functional.normalize(x, dim=1)
    sums = torch.zeros_like(centroids).index_add_(0, index, unit)
    # sum_{i != j} u_i . u_j = ||sum_i u_i||^2 - sum_i ||u_i||^2 (unit rows: ||u_i|| = 1, or 0 for a zero row)
    self_terms = torch.zeros(len(classes), dtype=x.dtype).index_add_(0, index, (unit * unit).sum(1))
    several = counts >= 2
    pairwise = ((sums * sums).sum(1) - self_terms)[several] / (counts * (counts - 1))[several]
    to_centroid = (unit * functional.normalize(centroids, dim=1)[index]).sum(1)
    per_class_centroid = torch.zeros(len(classes), dtype=x.dtype).index_add_(0, index, to_centroid) / counts
    return Quality(
        intra=float(intra),
        inter=float(inter),
        ratio=float(intra / inter),
        cosine=float(pairwise.mean()) if bool(several.any()) else float("nan"),
        cosine_to_centroid=float(per_class_centroid.mean()),
        n_samples=int(x.shape[0]),
        n_classes=len(classes),
    )


def _last_linear(head: nn.Module) -> nn.Linear:
    linears = [module for module in head.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"the head {type(head).__name__} has no nn.Linear: use features='fused'")
    return linears[-1]


@torch.no_grad()
def split_features(
    model: MultiModalNet, dataset: Any, subset: Tensor, kind: str, batch_size: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """``(Float[N, D], Long[N])``: the ``kind`` features of every sample with ``subset`` (``Bool[M]``) kept."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"features must be one of {FEATURE_KINDS}; got {kind!r}")
    model.eval()
    captured: list[Tensor] = []
    hook = None
    if kind == "penultimate":
        hook = _last_linear(model.head).register_forward_pre_hook(lambda _, args: captured.append(args[0].cpu()))
    labels: list[Tensor] = []
    try:
        for batch in loader(dataset, batch_size):
            batch = batch.to(device)
            if batch.target.dim() != 1 or batch.target.dtype != torch.long:
                raise ValueError(f"representation quality needs class labels Long[N]; got {batch.target.dtype}")
            keep = batch.present & subset.to(device)
            h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
            completed = model.complete(h, keep)
            if kind == "fused":
                captured.append(rearrange(completed, "batch modality ... -> batch (modality ...)").cpu())
            else:
                model.head(completed)
            labels.append(batch.target.cpu())
    finally:
        if hook is not None:
            hook.remove()
    return torch.cat(captured).flatten(1), torch.cat(labels)


@dataclass(frozen=True)
class RepresentationRow:
    """One (method, seed, subset) result."""

    method: str
    seed: int
    subset: str
    features: str
    intra: float
    inter: float
    ratio: float
    cosine: float
    cosine_to_centroid: float
    n_samples: int


def representation(
    run: FinishedRun,
    data: Path,
    device: torch.device,
    *,
    features: str = "fused",
    subsets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
) -> list[RepresentationRow]:
    """Table 7 for every method and seed of ``run`` on its test split, per kept modality subset.

    Args:
        subsets: subset names like ``"image+audio"`` (default: every non-empty subset; the last is
            the full-modality input).
    """
    named = named_subsets(run.bench.modalities)
    wanted = list(subsets) if subsets is not None else [name for name, _ in named]
    unknown = [s for s in wanted if s not in dict(named)]
    if unknown:
        raise ValueError(f"unknown subset(s) {unknown}; expected some of {[name for name, _ in named]}")
    rows: list[RepresentationRow] = []
    for seed in run.seeds:
        split = run.data(seed, data)
        for method in methods or run.methods:
            model = run.model(method, seed, split, device)
            batch_size = run.schedule(method, seed).batch_size
            for name in wanted:
                x, y = split_features(model, split.test, dict(named)[name], features, batch_size, device)
                q = representation_quality(x, y)
                rows.append(
                    RepresentationRow(
                        method, seed, name, features, q.intra, q.inter, q.ratio, q.cosine, q.cosine_to_centroid, len(y)
                    )
                )
    return rows


def table(rows: Sequence[RepresentationRow]) -> str:
    """Markdown: Table 7's columns per (method, subset), mean ± std [95% CI] over seeds."""
    keys = list(dict.fromkeys((r.method, r.subset) for r in rows))
    cells = []
    for method, subset in keys:
        group = [r for r in rows if (r.method, r.subset) == (method, subset)]
        cells.append(
            [method, subset]
            + [
                str(summarize([getattr(r, column) for r in group]))
                for column in ("intra", "inter", "ratio", "cosine", "cosine_to_centroid")
            ]
        )
    header = ["method", "subset", "intra ↓", "inter ↑", "intra/inter ↓", "cosine consistency ↑", "cosine to centroid ↑"]
    return markdown_table(header, cells)


def write_csv(rows: Sequence[RepresentationRow], path: Path) -> Path:
    """One CSV line per (method, seed, subset)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(RepresentationRow.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    return path
