"""End to end: the CLI trains on synthetic AVMNIST files, writes its outputs, and resumes exactly."""

import json
from pathlib import Path
from typing import Any

import pytest

from mce_train.cli import main


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--steps", "4", "--no-progress", "--out", str(out), *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


def test_quick_run_trains_both_methods_on_synthetic_files(
    no_real_data: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = _run(runs / "out")
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out
    assert "| baseline |" in out
    assert "| mce |" in out
    methods = record["per_seed"][0]["methods"]
    assert set(methods) == {"baseline", "mce"}
    summary = record["summary"]["mce"]
    assert set(summary) == {"image", "audio", "image+audio", "mean"}
    mean = summary["mean"]["accuracy"]
    assert mean["n"] == 1
    assert mean["mean"] == pytest.approx(
        sum(methods["mce"]["test"][s]["accuracy"] for s in ("image", "audio", "image+audio")) / 3
    )
    assert set(methods["mce"]["test"]) == {"image", "audio", "image+audio"}
    assert (runs / "out" / "results.md").read_text().count("|") > 10
    mask_file = Path(record["per_seed"][0]["mask_file"])
    assert mask_file.is_file()
    assert mask_file.suffix == ".csv"
    log = (runs / "out" / "runs" / "mce-seed0" / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss")
    assert len(log) == 5
    assert "B_image" in log[0]
    assert "sub" in log[0]
    trace = methods["mce"]["factor_b_per_epoch"]  # factor B per modality and epoch (Table 6 / Fig. 8)
    assert [row["epoch"] for row in trace] == list(range(len(trace)))
    assert all(0.0 <= row["B_image"] <= 1.0 and 0.0 <= row["B_audio"] <= 1.0 for row in trace)
    assert set(methods["mce"]["b_below_threshold_step"]) == {"image", "audio"}
    assert (runs / "out" / "runs" / "mce-seed0" / "factor_b.csv").read_text().startswith("epoch,last_step,B_image")


def test_same_seed_same_numbers(no_real_data: Path, runs: Path) -> None:
    first = _run(runs / "a", "--methods", "baseline")
    second = _run(runs / "b", "--methods", "baseline")
    assert first["per_seed"][0]["methods"] == second["per_seed"][0]["methods"]


def test_a_mask_file_from_another_dataset_is_an_error_before_training(
    no_real_data: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mce_data import MissingMask

    foreign = runs / "foreign.csv"
    MissingMask.generate([f"other-{i}" for i in range(30)], ("image", "audio"), (0.2, 0.8), seed=0).save_csv(foreign)
    with pytest.raises(SystemExit, match=r"--masks .*foreign\.csv"):
        main(["--quick", "--no-progress", "--out", str(runs / "foreign-run"), "--masks", str(foreign)])
    assert not (runs / "foreign-run" / "runs").exists()


def test_resuming_with_other_settings_is_refused(no_real_data: Path, runs: Path) -> None:
    out = runs / "settings-changed"
    _run(out, "--methods", "mce", "--steps", "2")
    with pytest.raises(SystemExit, match=r"cannot resume from .*made with other settings"):
        _run(out, "--methods", "mce", "--steps", "2", "--ablation", "i", "--resume")
    with pytest.raises(SystemExit, match=r"cannot resume from .*made with other settings"):
        _run(out, "--methods", "mce", "--steps", "3", "--resume")
    _run(out, "--methods", "mce", "--steps", "2", "--resume", "--checkpoint-every", "1")  # may change


def test_cache_goes_where_asked(no_real_data: Path, runs: Path) -> None:
    elsewhere = runs / "elsewhere-cache"
    _run(runs / "cache-run", "--methods", "mce", "--steps", "2", "--cache", str(elsewhere))
    assert (elsewhere / "synthetic-avmnist" / "fsdd").is_dir()
    assert list((elsewhere / "unimodal").glob("avmnist-*.pt"))


def test_excluding_all_missing_samples_trains_on_fewer_samples_with_both_modalities_in_some(
    no_real_data: Path, runs: Path
) -> None:
    """At (0.2, 0.8) redraw leaves every sample exactly one modality (present cells = samples); exclude
    drops the samples drawn with none and keeps those drawn with both (Sec. 3.1)."""
    from mce_data import MissingMask

    redraw = MissingMask.load_csv(Path(_run(runs / "redraw", "--methods", "baseline")["per_seed"][0]["mask_file"]))
    assert bool((redraw.present.sum(dim=1) == 1).all())
    excluded = _run(runs / "exclude", "--methods", "mce", "--all-missing", "exclude")
    mask = MissingMask.load_csv(Path(excluded["per_seed"][0]["mask_file"]))
    assert mask.all_missing == "exclude"
    assert len(mask) < len(redraw)
    assert bool(mask.present.any(dim=1).all())
    assert int(mask.present.all(dim=1).sum()) > 0
    assert excluded["config"]["all_missing"] == "exclude"
