"""The paper's analyses of a finished run (Sec. 4.5), and how they find what a run left on disk.

Three analyses, each a command of ``python -m mce_train.analysis``:

* :mod:`~mce_train.analysis.capability` (Fig. 9): each frozen encoder of each method with a new
  unimodal decoder, trained on that modality's training samples; test score per modality;
* :mod:`~mce_train.analysis.representation` (Table 7): intra-/inter-class distance ratio and
  intra-class cosine consistency of the fused test features;
* :mod:`~mce_train.analysis.traces` (Table 6, Fig. 8): per-epoch ``U``, ``phi`` and ``B`` of the MCE
  runs from their ``train_log.csv``, as CSV and PNG.

This module holds :class:`FinishedRun`: a run folder written by ``python apps/train/run.py --out DIR``
(``results.json``, ``masks/*.csv``, ``runs/<method>-seed<k>/{checkpoint.pt, train_log.csv}``) and
how to rebuild its benchmark, datasets and selected models from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_train import benchmarks, checkpoint
from mce_train.benchmarks.base import Benchmark, Splits
from mce_train.methods import MethodContext, get_method
from mce_train.network import MultiModalNet
from mce_train.recipe import Recipe
from mce_train.schedule import Schedule


@dataclass(frozen=True)
class RunData:
    """One seed's datasets as the run saw them: the masked training split, complete val and test."""

    splits: Splits
    mask: MissingMask
    train: IncompleteDataset
    val: IncompleteDataset
    test: IncompleteDataset


@dataclass(frozen=True)
class FinishedRun:
    """A run folder and its ``results.json``.

    Args:
        out: the folder given to ``--out``.
        record: the parsed ``results.json``.
    """

    out: Path
    record: dict[str, Any]

    @classmethod
    def load(cls, out: Path) -> FinishedRun:
        """Read ``out/results.json``, with a clear error when ``out`` is not a finished run."""
        results = out / "results.json"
        if not results.is_file():
            raise FileNotFoundError(
                f"{out} is not a finished run: expected {results} (written by python apps/train/run.py --out {out})"
            )
        record: dict[str, Any] = json.loads(results.read_text())
        return cls(out, record)

    @property
    def config(self) -> dict[str, Any]:
        """The run's settings (benchmark, rates, methods, seeds, size, ...)."""
        config: dict[str, Any] = self.record["config"]
        return config

    @property
    def bench(self) -> Benchmark:
        """The benchmark the run trained (from ``benchmarks.BENCHMARKS``)."""
        return benchmarks.get(str(self.config["benchmark"]))

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.config["methods"])

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.config["seeds"])

    @property
    def size(self) -> str:
        return str(self.config.get("size", "paper"))

    def run_dir(self, method: str, seed: int) -> Path:
        """``out/runs/<method>-seed<seed>``: the checkpoint and training log of one training run."""
        return self.out / "runs" / f"{method}-seed{seed}"

    def checkpoint(self, method: str, seed: int) -> dict[str, Any]:
        """The final checkpoint of one training run (``best_state``, ``schedule``, ...)."""
        return checkpoint.load(self.run_dir(method, seed) / "checkpoint.pt")

    def schedule(self, method: str, seed: int) -> Schedule:
        """The schedule the run trained with (saved in its checkpoint)."""
        return Schedule(**self.checkpoint(method, seed)["schedule"])

    def mask_file(self, seed: int) -> Path:
        """The training mask CSV of ``seed`` (the recorded path, else the same name under ``out/masks``)."""
        index = self.seeds.index(seed)
        recorded = Path(self.record["per_seed"][index]["mask_file"])
        return recorded if recorded.is_file() else self.out / "masks" / recorded.name

    def mask(self, seed: int) -> MissingMask:
        """The training mask of ``seed``; rows in training-set index order."""
        return MissingMask.load_csv(self.mask_file(seed), modalities=self.bench.modalities)

    def data(self, seed: int, data: Path) -> RunData:
        """Rebuild ``seed``'s splits as :func:`mce_train.experiment.run_seed` did (cache: ``out/../cache``)."""
        bench = self.bench
        cache = self.config.get("cache")
        splits = bench.splits(data, Path(cache) if cache else self.out.parent / "cache", seed, self.size)
        mask = MissingMask.load_csv(
            self.mask_file(seed), expected_ids=splits.train.sample_ids(), modalities=bench.modalities
        )
        full = MissingMask.full
        return RunData(
            splits,
            mask,
            IncompleteDataset(splits.train, mask),
            IncompleteDataset(splits.val, full(splits.val.sample_ids(), bench.modalities)),
            IncompleteDataset(splits.test, full(splits.test.sample_ids(), bench.modalities)),
        )

    @property
    def recipe(self) -> Recipe:
        """The recipe the run trained with (``results.json``'s ``config.recipe``)."""
        saved = self.config.get("recipe")
        if not saved:
            raise ValueError(f"{self.out}/results.json has no config.recipe: it was written by an older mce-train")
        return Recipe(saved["sections"], saved["sources"])

    def options(self, method: str) -> dict[str, Any]:
        """``method``'s options as the run used them (its section of the recipe)."""
        return self.recipe.section(method)

    def model(self, method: str, seed: int, data: RunData, device: torch.device) -> MultiModalNet:
        """The selected model of one training run (``best_state``: chosen on validation), in eval mode.

        Built by the method itself (:meth:`mce_train.methods.Method.build`), so a method with modules of
        its own (RedCore's cross-modal encoders) loads its weights.
        """
        state = self.checkpoint(method, seed)
        schedule = Schedule(**state["schedule"])
        context = MethodContext(
            bench=self.bench,
            splits=data.splits,
            size=self.size,
            seed=seed,
            mask=data.mask,
            mask_file=self.mask_file(seed),
            train=data.train,
            val=data.val,
            recipe=self.recipe,
            schedule=schedule,
            options=self.options(method),
            loader=lambda dataset: loader(dataset, schedule.batch_size),
            cache=Path(self.config["cache"]) if self.config.get("cache") else self.out.parent / "cache",
            run_dir=self.run_dir(method, seed),
            device=device,
        )
        model = get_method(method).create(context).build(context)
        model.load_state_dict(state["best_state"])
        return model.to(device).eval()


def loader(dataset: Any, batch_size: int) -> DataLoader[Any]:
    """An ordered, unshuffled loader of an incomplete dataset."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_incomplete)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table of string cells."""
    lines = [f"| {' | '.join(header)} |", "|" + " --- |" * len(header)]
    lines.extend(f"| {' | '.join(row)} |" for row in rows)
    return "\n".join(lines)
