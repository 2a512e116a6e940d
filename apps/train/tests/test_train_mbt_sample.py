"""MBT-Sample: the valuation against hand-worked and brute-force Shapley values, the official re-sampling
bins, the copies' loss against literally duplicated rows, and end-to-end runs with valuations and a resume."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from mce_losses import classification_score
from mce_train.benchmarks.base import cross_entropy
from mce_train.cli import main
from mce_train.methods.mbt_sample import MBTSample, copy_counts, resampled_loss, sample_values
from mce_train.network import MultiModalNet


class _Sum(nn.Module):
    """The toy fusion: logits are the sum of the modalities' slots, ``Float[N, M, K] -> Float[N, K]``."""

    def forward(self, h: Tensor) -> Tensor:
        return h.sum(1)


def _toy(m: int) -> MultiModalNet:
    """Encoders are identities: modality ``j`` of a sample *is* its vote for each class."""
    names = tuple(f"m{j}" for j in range(m))
    return MultiModalNet(names, {n: nn.Identity() for n in names}, _Sum(), {n: nn.Identity() for n in names})


@dataclass
class _Batch:
    inputs: dict[str, Tensor]
    present: Tensor
    target: Tensor
    ids: list[str] = field(default_factory=list)
    lengths: Any = None
    extras: Any = None

    def __len__(self) -> int:
        return int(self.present.shape[0])


def _batch(votes: Tensor, present: Tensor, target: Tensor) -> _Batch:
    """``votes: Float[N, M, K]``."""
    inputs = {f"m{j}": votes[:, j] for j in range(votes.shape[1])}
    return _Batch(inputs, present, target, [str(i) for i in range(len(target))])


def test_the_two_modality_valuation_is_the_official_formula() -> None:
    # sample 0: m0 votes right (class 1), m1 wrong but weaker: v(m0) = 1, v(m1) = 0, v(both) = 2
    # sample 1: each wrong alone (classes 0 and 2), right together: v = 0, 0, 2
    votes = torch.tensor([[[0.0, 1.0, 0.0], [0.6, 0.0, 0.0]], [[0.5, 0.4, 0.0], [0.0, 0.4, 0.5]]])
    batch = _batch(votes, torch.ones(2, 2, dtype=torch.bool), torch.tensor([1, 1]))
    phi = sample_values(_toy(2), batch, classification_score)
    # official: contrib_a = (value_a + value_all - value_v) / 2 with value_all = 2.0 when right
    assert phi.tolist() == [[1.5, 0.5], [1.0, 1.0]]
    assert copy_counts(phi, batch.present).tolist() == [[0, 1], [0, 0]]


def _brute_force(model: MultiModalNet, batch: _Batch) -> Tensor:
    n, m = batch.present.shape
    phi = torch.zeros(n, m, dtype=torch.float64)
    for row in range(n):
        players = [j for j in range(m) if batch.present[row, j]]

        def value(coalition: tuple[int, ...], row: int = row) -> float:
            if not coalition:
                return 0.0
            keep = torch.zeros(1, m, dtype=torch.bool)
            keep[0, list(coalition)] = True
            h = model.encode({k: v[row : row + 1] for k, v in batch.inputs.items()}, batch.present[row : row + 1])
            correct = float(classification_score(model.predict(h, keep), batch.target[row : row + 1])[0])
            return len(coalition) * correct  # v(S) = |S| if right

        for player in players:
            others = [p for p in players if p != player]
            for size in range(len(players)):
                for coalition in itertools.combinations(others, size):
                    weight = (
                        math.factorial(size) * math.factorial(len(players) - size - 1) / math.factorial(len(players))
                    )
                    phi[row, player] += weight * (value(tuple(sorted((*coalition, player)))) - value(coalition))
    return phi


def test_the_valuation_of_three_modalities_with_missing_ones_is_the_textbook_shapley_value() -> None:
    generator = torch.Generator().manual_seed(3)
    n = 40
    votes = torch.randn(n, 3, 4, generator=generator)
    present = torch.rand(n, 3, generator=generator) < 0.7
    present[~present.any(1), 1] = True
    batch = _batch(votes, present, torch.randint(0, 4, (n,), generator=generator))
    model = _toy(3)
    phi = sample_values(model, batch, classification_score)
    assert torch.allclose(phi, _brute_force(model, batch), atol=1e-12)
    assert (phi[~present] == 0).all()  # a missing modality has no value
    assert len({round(v, 6) for v in phi[present].tolist()}) > 3  # a game with some variety


def test_the_copies_follow_the_official_bins_and_skip_missing_modalities() -> None:
    phi = torch.tensor([[1.5, 1.0, 0.5], [0.0, -0.5, 0.7], [0.39, -0.1, 0.2], [2.0, 0.0, 0.0]])
    present = torch.tensor([[True, True, True], [True, True, False], [True, True, True], [False, True, False]])
    # phi >= 1: 0 copies; 0.4 < phi < 1: 1; -0.1 < phi <= 0.4: 2; phi <= -0.1: 3; absent or alone: 0
    assert copy_counts(phi, present).tolist() == [[0, 0, 1], [2, 3, 0], [2, 3, 2], [0, 0, 0]]


def test_a_lower_valued_modality_gets_more_copies() -> None:
    phi = torch.tensor([[1.5, 0.5], [0.5, -0.5], [1.0, 0.0]])
    counts = copy_counts(phi, torch.ones(3, 2, dtype=torch.bool))
    assert ((phi[:, 0] > phi[:, 1]) == (counts[:, 0] < counts[:, 1])).all()


def test_the_copies_loss_is_the_mean_over_literally_duplicated_rows() -> None:
    generator = torch.Generator().manual_seed(5)
    votes = torch.randn(3, 3, 4, generator=generator, requires_grad=True)
    present = torch.tensor([[True, True, True], [True, False, True], [True, True, False]])
    target = torch.tensor([0, 2, 3])
    copies = torch.tensor([[0, 2, 1], [3, 0, 0], [0, 1, 0]])
    batch = _batch(votes, present, target)
    loss, extra = resampled_loss(_toy(3), batch, copies, cross_entropy)
    # the official dataset: each sample once, plus k copies with every other modality zeroed
    rows, keeps = [0, 1, 2], [present[0], present[1], present[2]]
    for (i, j), k in zip(itertools.product(range(3), range(3)), copies.flatten().tolist(), strict=True):
        for _ in range(k):
            rows.append(i)
            keeps.append(torch.nn.functional.one_hot(torch.tensor(j), 3).bool())
    keep = torch.stack(keeps)
    logits = (votes[rows] * keep[..., None]).sum(1)
    expected = torch.nn.functional.cross_entropy(logits, target[rows])
    assert int(extra) == 7
    assert torch.allclose(loss, expected, atol=1e-6)
    (grad,) = torch.autograd.grad(loss, votes)
    (grad_expected,) = torch.autograd.grad(expected, votes)
    assert torch.allclose(grad, grad_expected, atol=1e-6)


def test_set_copies_records_the_official_mean_contributions() -> None:
    method = MBTSample(["a", "b"], ("image", "audio"), task_loss=cross_entropy, warmup_steps=0, per_epoch=1)
    method.set_copies(torch.tensor([[1.5, 0.5], [0.5, 0.0]]), torch.tensor([[True, True], [True, False]]), 3)
    assert method.copies.tolist() == [[0, 1], [0, 0]]
    assert method.trace == [
        {"epoch": 3.0, "copies": 1.0, "phi_image": 1.0, "copies_image": 0.0, "phi_audio": 0.5, "copies_audio": 1.0}
    ]


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), "--methods", "mbt-sample", *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize("benchmark", ["avmnist", "iemocap", "brats", "nuscenes"])
def test_mbt_sample_values_and_resamples_on_every_benchmark(benchmark: str, no_real_data: Path, runs: Path) -> None:
    steps = "12" if benchmark in ("avmnist", "iemocap") else "2"
    record = _run(runs / f"mbt-{benchmark}", "--benchmark", benchmark, "--mbt-warmup", "0", "--steps", steps)
    log = (runs / f"mbt-{benchmark}" / "runs" / "mbt-sample-seed0" / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,copies")
    scores = record["per_seed"][0]["methods"]["mbt-sample"]["test"]
    assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores.values())


def test_a_killed_mbt_sample_run_resumes_across_valuations(
    no_real_data: Path, runs: Path, kill_at_step: Callable[[int | None], None]
) -> None:
    args = ["--mbt-warmup", "0", "--steps", "14", "--checkpoint-every", "4"]
    reference = _run(runs / "mbt-ref", *args)
    kill_at_step(11)
    with pytest.raises(KeyboardInterrupt):
        _run(runs / "mbt-killed", *args)
    kill_at_step(None)
    resumed = _run(runs / "mbt-killed", *args, "--resume")
    assert resumed["per_seed"][0]["methods"] == reference["per_seed"][0]["methods"]
    log = Path("runs") / "mbt-sample-seed0" / "train_log.csv"
    assert (runs / "mbt-killed" / log).read_text() == (runs / "mbt-ref" / log).read_text()
    copies = [float(row.split(",")[2]) for row in (runs / "mbt-ref" / log).read_text().splitlines()[1:]]
    assert any(c > 0 for c in copies)  # the valuations did draw copies
