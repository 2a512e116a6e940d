"""Factor B over training (paper Table 6, Fig. 8): per modality and epoch, as the run trains.

Each step adds its batch's (all-reduced) sums to the epoch's: ``U_m`` and ``phi_m`` summed over the samples
that have modality ``m``, their number ``n_m``, and the ``B_m`` the step trained with. An epoch's record holds
``B_m`` as Eq. 8 gives it for the whole epoch, ``max(U_m - phi_m, 0) / n_m``, and the mean of the steps'
``B_m``. The first step at which a modality's ``B_m`` falls below a threshold (0.01) is kept too: how soon
the incentive dies out.

>>> trace = FactorBTrace(("image", "audio"))
>>> trace.add(1, b=[0.5, 0.0], upper=[10.0, 4.0], phi=[5.0, 4.0], number=[10.0, 8.0])
>>> trace.close_epoch(0)
>>> trace.records[0]["B_image"], trace.records[0]["B_audio"], trace.first_below
(0.5, 0.0, {'image': None, 'audio': 1})
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

THRESHOLD = 0.01
"""``B_m`` below this counts as an incentive that has died out."""


class FactorBTrace:
    """Per-epoch aggregates of factor B and the first step each modality's ``B_m`` fell below :data:`THRESHOLD`."""

    def __init__(self, modalities: Sequence[str]) -> None:
        self.modalities = tuple(modalities)
        self.records: list[dict[str, float]] = []
        self.first_below: dict[str, int | None] = dict.fromkeys(self.modalities)
        self._sums: dict[str, float] = {}

    def add(
        self, step: int, *, b: Sequence[float], upper: Sequence[float], phi: Sequence[float], number: Sequence[float]
    ) -> None:
        """One step's (global) batch sums; ``step`` counts from 1."""
        self._sums["steps"] = self._sums.get("steps", 0.0) + 1
        self._sums["last_step"] = float(step)
        for m, name in enumerate(self.modalities):
            for key, values in (("b", b), ("upper", upper), ("phi", phi), ("number", number)):
                self._sums[f"{key}_{name}"] = self._sums.get(f"{key}_{name}", 0.0) + float(values[m])
            if self.first_below[name] is None and float(b[m]) < THRESHOLD:
                self.first_below[name] = step

    def close_epoch(self, epoch: int) -> None:
        """Turn the steps added since the last call into ``epoch``'s record (nothing when no step was added)."""
        steps = self._sums.get("steps", 0.0)
        if steps == 0:
            return
        record: dict[str, float] = {"epoch": float(epoch), "last_step": self._sums["last_step"]}
        for name in self.modalities:
            upper, phi, number = (self._sums[f"{key}_{name}"] for key in ("upper", "phi", "number"))
            record[f"B_{name}"] = max(upper - phi, 0.0) / number if number > 0 else 0.0
            record[f"batch_B_{name}"] = self._sums[f"b_{name}"] / steps
        self.records.append(record)
        self._sums = {}

    def write(self, path: Path) -> None:
        """The records as CSV (``epoch, last_step, B_<m>..., batch_B_<m>...``)."""
        if not self.records:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(self.records[0]))
            writer.writeheader()
            writer.writerows(self.records)

    def summary(self) -> dict[str, Any]:
        """What ``results.json`` keeps: the per-epoch records and the first step below the threshold."""
        return {"factor_b_per_epoch": list(self.records), "b_below_threshold_step": dict(self.first_below)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "modalities": list(self.modalities),
            "records": list(self.records),
            "first_below": dict(self.first_below),
            "sums": dict(self._sums),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records = list(state["records"])
        self.first_below = dict(state["first_below"])
        self._sums = dict(state["sums"])
