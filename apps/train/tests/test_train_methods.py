"""The method registry: every registered method trains where it claims to, resumes exactly, and a method
registered from outside the package trains with its hooks called."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from torch import Tensor

from mce_train import benchmarks
from mce_train.cli import main
from mce_train.methods import METHODS, Method, MethodContext, get_method, method_table, register_method
from mce_train.network import MultiModalNet


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize("benchmark", list(benchmarks.BENCHMARKS))
def test_every_method_trains_on_every_benchmark_it_claims(benchmark: str, no_real_data: Path, runs: Path) -> None:
    claimed = [name for name, cls in METHODS.items() if cls.supports(benchmark)]
    assert {"baseline", "mce"} <= set(claimed)
    record = _run(runs / f"all-{benchmark}", "--benchmark", benchmark, "--methods", ",".join(claimed), "--steps", "2")
    scores = record["per_seed"][0]["methods"]
    assert list(scores) == claimed
    n_subsets = 2 ** len(benchmarks.get(benchmark).modalities) - 1
    for name in claimed:
        assert len(scores[name]["test"]) == n_subsets, name
        assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores[name]["test"].values()), name


def _first_benchmark(name: str) -> str:
    return next(b for b in benchmarks.BENCHMARKS if get_method(name).supports(b))


@pytest.mark.parametrize("method", list(METHODS))
def test_a_killed_run_of_every_method_resumes_to_the_same_numbers(
    method: str, no_real_data: Path, runs: Path, kill_at_step: Callable[[int | None], None]
) -> None:
    args = ["--benchmark", _first_benchmark(method), "--methods", method, "--steps", "6", "--checkpoint-every", "2"]
    reference = _run(runs / f"resume-ref-{method}", *args)
    kill_at_step(5)
    out = runs / f"resume-killed-{method}"
    with pytest.raises(KeyboardInterrupt):
        _run(out, *args)
    assert (out / "runs" / f"{method}-seed0" / "checkpoint.pt").is_file()  # written at step 4, before the kill
    kill_at_step(None)
    resumed = _run(out, *args, "--resume")
    assert resumed["per_seed"][0]["methods"] == reference["per_seed"][0]["methods"]
    log = Path("runs") / f"{method}-seed0" / "train_log.csv"  # every logged value of every step, too
    assert (out / log).read_text() == (runs / f"resume-ref-{method}" / log).read_text()


class _Toy(Method):
    """The baseline's loss plus a scaled L2 on the fused logits; counts its hook calls."""

    epochs: ClassVar[list[int]] = []
    backwards = 0

    def __init__(self, task_loss: Any) -> None:
        self.task_loss = task_loss

    @classmethod
    def create(cls, context: MethodContext) -> Method:
        return cls(context.bench.task_loss)

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        prediction = model(batch.inputs, batch.present, batch.lengths, batch.extras)
        penalty = 1e-3 * prediction.pow(2).mean()
        return self.task_loss(prediction, batch.target).mean() + penalty, {"penalty": float(penalty.detach())}

    def on_epoch_start(self, model: MultiModalNet, epoch: int) -> None:
        _Toy.epochs.append(epoch)

    def after_backward(self, model: MultiModalNet) -> None:
        assert any(p.grad is not None for p in model.parameters())
        _Toy.backwards += 1


def test_a_method_registered_from_a_test_trains_end_to_end(no_real_data: Path, runs: Path) -> None:
    register_method("toy", paper="this test", benchmarks=("avmnist",))(_Toy)
    try:
        assert "| toy | ✓ |" in method_table(benchmarks.BENCHMARKS)
        with pytest.raises(SystemExit, match=r"toy runs on .* not on iemocap"):
            _run(runs / "toy-iemocap", "--benchmark", "iemocap", "--methods", "toy")
        record = _run(runs / "toy", "--methods", "toy", "--steps", "20")
    finally:
        METHODS.pop("toy")
    assert set(record["per_seed"][0]["methods"]) == {"toy"}
    log = (runs / "toy" / "runs" / "toy-seed0" / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,penalty")
    assert _Toy.backwards == 20
    # quick AVMNIST: the training samples kept (those left with no modality are left out), batch 32
    per_epoch = record["per_seed"][0]["n_train"] // 32
    assert 0 < record["per_seed"][0]["n_train"] < 256 * 9 // 10
    assert _Toy.epochs == list(range(-(-20 // per_epoch)))


def test_unknown_and_duplicate_names_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown method 'nope'; expected one of baseline, mce"):
        get_method("nope")
    with pytest.raises(ValueError, match="'mce' is already registered"):
        register_method("mce", paper="", benchmarks=())(_Toy)
