"""Fixtures shared by the app's end-to-end tests."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from mce_train import trainer
from mce_train.schedule import Schedule, make_optimizer


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every run of a test module: they share the synthetic files and the caches."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture
def no_real_data(runs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$MCE_DATA_DIR`` set to an empty folder: the runs use synthetic files in the real layouts."""
    empty = runs / "no-data"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("MCE_DATA_DIR", str(empty))
    return empty


@pytest.fixture
def kill_at_step(monkeypatch: pytest.MonkeyPatch) -> Callable[[int | None], None]:
    """``kill_at_step(n)``: every optimiser the trainer builds from now on raises ``KeyboardInterrupt`` at its
    ``n``-th step, as a killed run would stop; ``kill_at_step(None)`` builds normal optimisers again."""
    original = make_optimizer

    def kill(n: int | None) -> None:
        if n is None:
            monkeypatch.setattr(trainer, "make_optimizer", original)
            return

        def dies(model: torch.nn.Module, schedule: Schedule) -> torch.optim.Optimizer:
            optimizer = original(model, schedule)
            step, calls = optimizer.step, {"n": 0}

            def step_or_die(*args: Any, **kwargs: Any) -> Any:
                calls["n"] += 1
                if calls["n"] == n:
                    raise KeyboardInterrupt("killed")
                return step(*args, **kwargs)

            optimizer.step = step_or_die  # type: ignore[method-assign]
            return optimizer

        monkeypatch.setattr(trainer, "make_optimizer", dies)

    return kill
