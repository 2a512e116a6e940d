"""Per-epoch traces of U, phi and B (paper Table 6 and Fig. 8) from an MCE run's ``train_log.csv``.

Each MCE step logs, per modality ``m``, the batch sums ``U_m`` (the frozen unimodal models' scores,
Eq. 6) and ``phi_m`` (the Shapley values, Eq. 5) over the batch's samples that have ``m``, and the
factor ``B_m`` it trained with (Eq. 8, negative gaps masked to 0). Table 6 prints exactly these
batch quantities: ``Number`` (samples with ``m``), ``U_m`` and ``phi_m`` as sums over the samples,
and ``B_m = (U_m - phi_m) / Number`` *unmasked* (its late-epoch IEMOCAP column is negative).

An epoch aggregates its batches the same way, as one large batch:

* ``number``: samples with ``m`` seen in the epoch (the batches' counts, rebuilt from the run's
  mask file and its deterministic batch order, :class:`~mce_train.batches.StepBatches`);
* ``upper`` and ``phi``: sums over the epoch's samples (sums of the batch sums);
* ``gap = (upper - phi) / number``: Table 6's B column (unmasked), and ``factor_b = max(gap, 0)``:
  Eq. 8 applied to the epoch;
* ``batch_b``: the mean over the epoch's batches of the logged ``B_m`` (what training actually used).

An epoch is ``n_train // batch_size`` steps (the sampler drops the incomplete last batch); a run
that stops mid-epoch gives a last, partial epoch. The plot (Fig. 8's dynamics from the training
side) shows ``upper / number`` and ``phi / number`` per epoch and modality (the capability gap
closes as ``phi`` reaches ``U``) beside ``factor_b`` and ``batch_b``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from mce_train import plotting
from mce_train.analysis import FinishedRun, markdown_table
from mce_train.batches import StepBatches


@dataclass(frozen=True)
class EpochTrace:
    """One (epoch, modality) aggregate; see the module docstring. ``number`` is NaN when unknown."""

    epoch: int
    first_step: int
    last_step: int
    batches: int
    modality: str
    number: float
    upper: float
    phi: float
    gap: float
    factor_b: float
    batch_b: float


def read_log(path: Path) -> tuple[list[str], list[dict[str, float]]]:
    """The header and rows of a ``train_log.csv`` (empty cells, e.g. ``val_score`` off eval steps, are NaN)."""
    with path.open() as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = [{k: float(v) if v not in ("", None) else math.nan for k, v in row.items()} for row in reader]
    return fields, rows


def log_modalities(fields: Sequence[str]) -> tuple[str, ...]:
    """The modalities with ``U_``, ``phi_`` and ``B_`` columns, in column order (empty for a baseline log)."""
    names = [f[2:] for f in fields if f.startswith("U_")]
    return tuple(n for n in names if f"phi_{n}" in fields and f"B_{n}" in fields)


def step_counts(present: Tensor, batch_size: int, steps: int, seed: int) -> Tensor:
    """``Float[steps, M]``: how many samples of each step's batch have each modality.

    ``present: Bool[N_train, M]`` in training-set index order (the mask file's row order); the
    batches are the trainer's (:class:`~mce_train.batches.StepBatches` with the run's seed).
    """
    batches = StepBatches(present.shape[0], batch_size, steps=steps, seed=seed)
    return torch.stack([present[torch.tensor(rows)].sum(0) for rows in batches]).double()


def epoch_traces(
    rows: Sequence[dict[str, float]],
    modalities: Sequence[str],
    steps_per_epoch: int,
    counts: Tensor | None = None,
) -> list[EpochTrace]:
    """Aggregate a log's per-step ``U_m``, ``phi_m``, ``B_m`` per epoch (rows ordered by epoch, then modality).

    Args:
        rows: the log rows (``step`` counts from 1).
        modalities: the modalities to aggregate (:func:`log_modalities`).
        steps_per_epoch: ``n_train // batch_size``.
        counts: ``Float[steps, M]`` from :func:`step_counts` (row ``k`` is step ``k + 1``), or ``None``.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1; got {steps_per_epoch}")
    if counts is not None and counts.shape[1] != len(modalities):
        raise ValueError(f"counts needs one column per modality ({len(modalities)}); got {counts.shape[1]}")
    epochs: dict[int, list[dict[str, float]]] = {}
    for row in rows:
        epochs.setdefault((int(row["step"]) - 1) // steps_per_epoch, []).append(row)
    traces = []
    for epoch, group in sorted(epochs.items()):
        steps = [int(r["step"]) for r in group]
        for m, name in enumerate(modalities):
            upper = math.fsum(r[f"U_{name}"] for r in group)
            phi = math.fsum(r[f"phi_{name}"] for r in group)
            number = math.nan
            if counts is not None and max(steps) <= counts.shape[0]:
                number = float(sum(float(counts[s - 1, m]) for s in steps))
            gap = (upper - phi) / number if number > 0 else math.nan
            traces.append(
                EpochTrace(
                    epoch=epoch + 1,
                    first_step=min(steps),
                    last_step=max(steps),
                    batches=len(group),
                    modality=name,
                    number=number,
                    upper=upper,
                    phi=phi,
                    gap=gap,
                    factor_b=max(gap, 0.0) if not math.isnan(gap) else math.nan,
                    batch_b=math.fsum(r[f"B_{name}"] for r in group) / len(group),
                )
            )
    return traces


def run_traces(run: FinishedRun, method: str, seed: int) -> list[EpochTrace]:
    """The per-epoch traces of one training run of ``run`` (empty when its log has no U/phi/B columns)."""
    fields, rows = read_log(run.run_dir(method, seed) / "train_log.csv")
    modalities = log_modalities(fields)
    if not modalities or not rows:
        return []
    schedule = run.schedule(method, seed)
    mask = run.mask(seed)
    order = [mask.modalities.index(name) for name in modalities]
    steps = max(int(r["step"]) for r in rows)
    counts = step_counts(mask.present[:, order], schedule.batch_size, steps, seed)
    return epoch_traces(rows, modalities, len(mask) // schedule.batch_size, counts)


def table(traces: Sequence[EpochTrace]) -> str:
    """Markdown in Table 6's layout for the first and last epoch: Number, U, phi, B per modality."""
    first, last = min(t.epoch for t in traces), max(t.epoch for t in traces)
    cells = []
    for epoch in dict.fromkeys((first, last)):
        for t in (t for t in traces if t.epoch == epoch):
            numbers = (t.upper, t.phi, t.gap, t.factor_b, t.batch_b)
            cells.append([str(epoch), t.modality, f"{t.number:g}", *(f"{v:.4f}" for v in numbers)])
    header = ["epoch", "modality", "Number", "U (sum)", "phi (sum)", "B unmasked", "B (Eq. 8)", "mean batch B"]
    return markdown_table(header, cells)


def write_csv(traces: Sequence[EpochTrace], path: Path) -> Path:
    """One CSV line per (epoch, modality)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(EpochTrace.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(t) for t in traces)
    return path


def plot(traces: Sequence[EpochTrace], path: Path, title: str) -> Path:
    """Two panels over epochs: ``U/number`` (solid) and ``phi/number`` (dashed) per modality; B per modality."""
    from matplotlib.ticker import MaxNLocator

    figure, (left, right) = plotting.subplots(1, 2, figsize=(10, 3.8))
    for k, name in enumerate(dict.fromkeys(t.modality for t in traces)):
        color = f"C{k}"
        mine = [t for t in traces if t.modality == name]
        epochs = [t.epoch for t in mine]
        known = all(t.number > 0 for t in mine)
        scale = [t.number if known else 1.0 for t in mine]
        left.plot(epochs, [t.upper / s for t, s in zip(mine, scale, strict=True)], "-o", color=color, label=f"U {name}")
        left.plot(
            epochs, [t.phi / s for t, s in zip(mine, scale, strict=True)], "--s", color=color, label=f"phi {name}"
        )
        right.plot(epochs, [t.factor_b for t in mine], "-o", color=color, label=f"B {name} (Eq. 8, epoch)")
        right.plot(epochs, [t.batch_b for t in mine], ":", color=color, label=f"B {name} (mean of batches)")
    known_all = all(t.number > 0 for t in traces)
    left.set_ylabel("per sample with the modality" if known_all else "sum over the epoch")
    left.set_title("unimodal upper bound U vs Shapley value phi")
    right.set_title("learning-state factor B")
    for axes in (left, right):
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize=7)
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    return plotting.save(figure, path)
