"""Recipes: flags beat the file, the file beats the defaults; unknown keys are clear errors; U stops early."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from mce_train import benchmarks
from mce_train.cli import main
from mce_train.experiment import Settings, resolve_recipe
from mce_train.methods import Method
from mce_train.network import MultiModalNet
from mce_train.recipe import From, Recipe
from mce_train.schedule import Schedule, fused_supported, lr_at, make_optimizer
from mce_train.trainer import fit


def _settings(**kw: Any) -> Settings:
    return Settings(rates=(0.2, 0.8), methods=("baseline", "mce"), size="quick", **kw)


def test_flags_beat_the_file_and_the_file_beats_the_defaults() -> None:
    bench = benchmarks.get("iemocap")
    default = resolve_recipe(bench, _settings(), n_train=100)
    assert default.section("mce")["lambdas"] == (1.0, 2.0, 1.0)  # the benchmark's own, not the option's
    assert "Fig. 4-6" in default.source("mce.lambdas")
    config = {"schedule": {"lr": 0.5, "steps": 7}, "mce": {"lambdas": [1, 1, 1]}}
    from_file = resolve_recipe(bench, _settings(config=config, config_file=Path("x.toml")), n_train=100)
    assert from_file.section("schedule")["lr"] == 0.5
    assert from_file.section("mce")["lambdas"] == (1, 1, 1)
    assert from_file.source("schedule.lr") == "--config x.toml"
    both = resolve_recipe(
        bench,
        _settings(config=config, overrides={"schedule": {"steps": 3}, "mce": {"lambdas": (0.0, 2.0, 0.5)}}),
        n_train=100,
    )
    assert both.section("schedule")["steps"] == 3
    assert both.section("schedule")["lr"] == 0.5
    assert both.section("mce")["lambdas"] == (0.0, 2.0, 0.5)
    assert both.source("schedule.steps") == "command line"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"schedule": {"learning_rate": 1.0}}, r"unknown key schedule\.learning_rate; \[schedule\] has"),
        ({"optimiser": {"lr": 1.0}}, r"unknown section \[optimiser\]"),
        ({"redcore": {"redcore_encoders": "paper"}}, r"unknown section \[redcore\]"),  # not among --methods
        ({"schedule": {"lr": "fast"}}, r"schedule\.lr must be like"),
        ({"mce": {"ablation": "z"}}, r"mce\.ablation must be one of"),
        ({"mce": {"lambdas": [1, -1, 1]}}, r"mce\.lambdas must be three non-negative numbers"),
    ],
)
def test_a_bad_config_is_a_clear_error_before_training(config: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_recipe(benchmarks.get("avmnist"), _settings(config=config), n_train=100)


def test_the_cli_reads_a_toml_file_and_records_the_resolved_recipe(
    no_real_data: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = runs / "recipe.toml"
    config.write_text("[schedule]\nsteps = 3\nlr = 0.002\n\n[mce]\nlambdas = [1.0, 0.5, 1.0]\n")
    out = runs / "from-toml"
    assert main(["--quick", "--no-progress", "--out", str(out), "--config", str(config), "--steps", "2"]) == 0
    recipe = json.loads((out / "results.json").read_text())["config"]["recipe"]
    assert recipe["sections"]["schedule"]["steps"] == 2  # the flag beats the file
    assert recipe["sections"]["schedule"]["lr"] == 0.002
    assert recipe["sections"]["mce"]["lambdas"] == [1.0, 0.5, 1.0]
    assert recipe["sources"]["schedule.lr"] == f"--config {config}"
    assert (out / "runs" / "mce-seed0" / "unimodal" / "image.csv").read_text().startswith("step,val_score")
    config.write_text("[schedule]\nstepz = 3\n")
    with pytest.raises(SystemExit, match=r"unknown key schedule\.stepz"):
        main(["--quick", "--no-progress", "--out", str(runs / "bad-toml"), "--config", str(config)])
    config.write_text("[schedule\n")
    with pytest.raises(SystemExit, match="not valid TOML"):
        main(["--quick", "--no-progress", "--out", str(runs / "bad-toml"), "--config", str(config)])
    assert not (runs / "bad-toml").exists()


def test_show_recipe_prints_every_value_with_its_source(no_real_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--show-recipe", "--benchmark", "iemocap", "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "[schedule]" in printed
    assert "lambdas          = (1.0, 2.0, 1.0)  # MCE paper, Fig. 4-6" in printed.replace(
        "lambdas         ", "lambdas          "
    )
    assert all("  # " in line for line in printed.splitlines() if " = " in line)


def test_recipe_of_records_sources_and_overrides_keep_types() -> None:
    recipe = Recipe.of({"schedule": {"lr": From(1e-3, "Table 1"), "betas": (0.9, 0.99)}})
    assert recipe.source("schedule.lr") == "Table 1"
    assert recipe.source("schedule.betas") == "ours"
    assert recipe.override({"schedule": {"lr": 2}}, "x").section("schedule")["lr"] == 2  # an int for a float
    with pytest.raises(ValueError, match="must be like"):
        recipe.override({"schedule": {"betas": [0.9]}}, "x")  # a pair needs two values


class _Constant(Method):
    """A loss that never changes the model: validation never improves after the first check."""

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        return sum((p * 0).sum() for p in model.parameters()) + torch.zeros(()), {}


def test_early_stopping_stops_after_patience_validations_without_improvement(tmp_path: Path) -> None:
    bench = benchmarks.get("avmnist")
    splits = bench.splits(tmp_path / "no-data", tmp_path / "cache", 0, "quick")
    from mce_data import IncompleteDataset, MissingMask, collate_incomplete

    train = IncompleteDataset(splits.train, MissingMask.full(splits.train.sample_ids(), bench.modalities))
    model = bench.build(bench.recipe("quick", len(train)).section("model"), splits)
    scores = iter([0.5, 0.7, 0.6, 0.6, 0.6, 0.9, 0.9])
    schedule = Schedule(steps=100, batch_size=8, lr=1e-3, eval_every=5, checkpoint_every=5)
    result = fit(
        model,
        _Constant(),
        train,
        lambda _: next(scores),
        schedule,
        collate=collate_incomplete,
        seed=0,
        run_dir=tmp_path / "run",
        device=torch.device("cpu"),
        progress=False,
        patience=3,
    )
    assert (result.best_step, result.best_score) == (10, 0.7)  # validations at 5, 10, then 3 without a better one
    log = (tmp_path / "run" / "train_log.csv").read_text().splitlines()
    assert len(log) - 1 == 25  # stopped at step 25, not 100


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Schedule(steps=10, batch_size=1, lr=1.0, scheduler="step", decay_every=4, decay_gamma=0.5), [1, 1, 0.5, 0.25]),
        (Schedule(steps=10, batch_size=1, lr=1.0, scheduler="linear", decay_start=4), [1, 1, 5 / 6, 1 / 6]),
        (Schedule(steps=10, batch_size=1, lr=1.0, scheduler="poly", poly_power=1.0), [1, 0.8, 0.5, 0.1]),
    ],
)
def test_learning_rate_schedules(schedule: Schedule, expected: list[float]) -> None:
    assert [lr_at(schedule, step) for step in (0, 2, 5, 9)] == pytest.approx(expected)


def test_fused_optimisers_only_where_torch_has_them() -> None:
    cpu = [torch.zeros(3), torch.zeros(2, 2)]
    assert fused_supported(cpu, "2.4.0+cpu")
    assert fused_supported(cpu, "2.13.0")
    assert not fused_supported(cpu, "2.3.1")  # no fused CPU kernels before 2.4
    assert not fused_supported([torch.zeros(3, dtype=torch.long)], "2.13.0")  # integer tensors: none
    assert not fused_supported([torch.zeros(3, device="meta")], "2.13.0")  # only CPU and CUDA


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_the_optimiser_is_fused_and_steps_as_the_unfused_one(optimizer: str) -> None:
    schedule = Schedule(steps=10, batch_size=1, lr=1e-2, optimizer=optimizer, weight_decay=1e-4)
    models = [torch.nn.Linear(4, 3) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    fused = make_optimizer(models[0], schedule)
    assert fused.defaults.get("fused") is fused_supported(list(models[0].parameters()))
    kwargs = {"lr": 1e-2, "weight_decay": 1e-4}
    reference = (
        torch.optim.SGD(models[1].parameters(), momentum=schedule.betas[0], nesterov=True, **kwargs)  # type: ignore[arg-type]
        if optimizer == "sgd"
        else (torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam)(models[1].parameters(), **kwargs)  # type: ignore[arg-type]
    )
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        for model, opt in zip(models, (fused, reference), strict=True):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
