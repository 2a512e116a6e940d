"""End to end: the CLI trains on synthetic AVMNIST files, writes its outputs, and resumes exactly."""

import json
from pathlib import Path
from typing import Any

import pytest

import mce_data
from mce_train import experiment, report, resources, trainer
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


def test_excluding_all_missing_samples_is_the_default_and_keeps_samples_with_both_modalities(
    no_real_data: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At (0.2, 0.8) swap leaves every sample exactly one modality (present cells = samples); exclude, the
    default, drops the samples drawn with none and keeps those drawn with both (Sec. 3.1)."""
    from mce_data import MissingMask

    swapped = _run(runs / "swap", "--methods", "baseline", "--all-missing", "swap", "--keep-denormals")
    assert swapped["config"]["flush_denormals"] is False
    swap = MissingMask.load_csv(Path(swapped["per_seed"][0]["mask_file"]))
    assert bool((swap.present.sum(dim=1) == 1).all())
    assert swapped["per_seed"][0]["n_excluded"] == 0
    excluded = _run(runs / "exclude", "--methods", "mce", "--lambdas", "1,1,1")
    said = capsys.readouterr().out
    mask = MissingMask.load_csv(Path(excluded["per_seed"][0]["mask_file"]))
    assert mask.all_missing == "exclude"
    assert len(mask) < len(swap)
    assert bool(mask.present.any(dim=1).all())
    assert int(mask.present.all(dim=1).sum()) > 0
    config, seed = excluded["config"], excluded["per_seed"][0]
    assert (config["all_missing"], config["mask_style"], config["lambdas"]) == ("exclude", "counts", [1, 1, 1])
    assert config["flush_denormals"] is resources.flush_denormals(True)  # the default, where the CPU has the mode
    assert seed["n_excluded"] == len(swap) - len(mask) > 0
    assert seed["realised_missing_rates"] == pytest.approx(mask.realised_missing_rates(), abs=1e-6)
    assert config["realised_missing_rates"] == seed["realised_missing_rates"]  # one seed: its own
    n, left_out = len(swap), seed["n_excluded"]  # the rows left out missed both: each count loses them
    expected = [(round(rate * n) - left_out) / (n - left_out) for rate in (0.2, 0.8)]
    assert config["realised_missing_rates"] == pytest.approx(expected, abs=1e-6)
    assert "realised missing rates image 0." in said
    assert f"samples left out per seed: {seed['n_excluded']}" in said


def test_the_fig7_protocol_keeps_every_image_and_audio_per_class(no_real_data: Path, runs: Path) -> None:
    from mce_data import MissingMask

    record = _run(runs / "fig7", "--methods", "baseline", "--protocol", "fig7", "--audio-present", "0.3")
    mask = MissingMask.load_csv(Path(record["per_seed"][0]["mask_file"]))
    assert mask.style == "per-class"
    assert bool(mask.present[:, 0].all())
    assert record["config"]["protocol"] == "fig7"
    assert record["per_seed"][0]["realised_missing_rates"][0] == 0.0
    assert 0.5 < record["per_seed"][0]["realised_missing_rates"][1] < 0.8  # 33 of 105 per class keep audio


def test_a_corrupt_data_file_ends_the_run_with_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mce_data import write_synthetic_avmnist

    root = write_synthetic_avmnist(tmp_path / "data", n_per_digit=20, seed=0)
    wav = sorted((root / "fsdd" / "recordings").glob("*.wav"))[0]
    wav.write_bytes(b"not a wav file at all")
    args = ["--quick", "--no-progress", "--data", str(root), "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {wav}: ")
    assert "Traceback" not in err[0]
    with pytest.raises(mce_data.DataFileError):
        main([*args, "--debug"])


def test_results_record_the_commit_the_run_started_from(
    no_real_data: Path, runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout that moves during a long run (a commit while it trains) must not be recorded as the code that ran."""
    checkout = {"commit": "start"}
    fit = trainer.fit  # what experiment.fit names

    def fit_then_commit(*args: Any, **kwargs: Any) -> Any:
        result = fit(*args, **kwargs)
        checkout["commit"] = "moved"  # somebody commits while the run trains
        return result

    monkeypatch.setattr(report, "git_commit", lambda repo: checkout["commit"])
    monkeypatch.setattr(experiment, "fit", fit_then_commit)
    out = runs / "commit"
    assert main(["--quick", "--no-progress", "--methods", "baseline", "--out", str(out)]) == 0
    assert checkout["commit"] == "moved"
    assert json.loads((out / "results.json").read_text())["git_commit"] == "start"
