"""The front door's argument handling: defaults, and errors before any training starts."""

import os
import re
from pathlib import Path

import pytest
import torch

from mce_train import resources
from mce_train.arguments import parse_args
from mce_train.cli import main


def test_defaults_are_avmnist_at_our_imbalanced_setting_under_the_papers_protocol() -> None:
    args = parse_args([])
    assert (args.benchmark, args.methods, args.rates, args.seeds, args.size) == (
        "avmnist",
        "baseline,mce",
        None,  # the benchmark's own default, image 0.2 and audio 0.8: beyond the paper (its AVMNIST result is Fig. 7)
        (0,),
        "paper",
    )
    assert (args.all_missing, args.mask_style, args.protocol) == ("exclude", None, "rates")  # Sec. 3.1; the bench's
    assert parse_args(["--quick"]).size == "quick"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "mnist3d"], "unknown benchmark 'mnist3d'"),
        (["--ablation", "z"], "argument --ablation: invalid choice: 'z'"),
        (["--rates", "0.2"], "give 2 rates"),
        (["--methods", "mce,foo"], "unknown method"),
        (["--methods", "mce,mce"], "lists a method twice"),
        (["--methods", "baseline", "--redcore-encoders", "paper"], "configure redcore; add redcore to --methods"),
        (["--lambdas", "1,2"], "--lambdas must be three non-negative numbers"),
        (["--methods", "baseline", "--ablation", "j"], "add mce to --methods"),
        (["--rates", "0.9,0.9", "--all-missing", "swap"], "fewer present cells than samples"),
        (
            ["--all-missing", "keep"],
            r"--all-missing: invalid choice: 'keep' \(choose from '?exclude'?, '?swap'?, '?redraw'?\)",
        ),
        (["--mask-style", "uniform"], r"--mask-style: invalid choice: 'uniform' \(choose from '?counts'?, '?bernoulli"),
        (["--protocol", "fig7"], "use --benchmark avmnist --audio-present F"),
        (["--benchmark", "iemocap", "--protocol", "fig7", "--audio-present", "0.1"], "fig7 is AVMNIST's"),
        (["--audio-present", "0.5"], "--audio-present goes with --protocol fig7"),
        (["--protocol", "fig7", "--audio-present", "0"], r"expected a fraction in \(0, 1\]"),
        (["--seeds", "0,0"], "distinct non-negative"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1"),
        (["--shapley", "permutation", "--permutations", "3"], "must be even"),
        (["--masks", "/nonexistent/masks.csv"], "does not exist"),
        (["--workers", "-1"], r"--workers: expected a number of loader workers, an integer >= 0; got '-1'"),
        (["--workers", "two"], r"--workers: expected a number of loader workers, an integer >= 0; got 'two'"),
        (["--threads", "0"], r"--threads: expected a number of threads, an integer >= 1; got '0'"),
    ],
)
def test_bad_configuration_fails_before_training(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--quick", "--out", str(tmp_path / "o"), *args])
    said = f"{stopped.value.code}\n{capsys.readouterr().err}"  # our checks exit with the message, argparse's with 2
    assert re.search(message, said), said
    assert stopped.value.code != 0
    assert not (tmp_path / "o").exists()


def test_rates_outside_the_unit_interval_and_a_missing_data_dir_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--rates", "0.2,1.0"])
    assert "missing rates must be in [0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--data", str(tmp_path / "nowhere")])


def test_a_data_variable_naming_no_directory_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MCE_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match=r"MCE_DATA_DIR is .*nowhere, which is not a directory"):
        main(["--quick", "--out", str(tmp_path / "o")])


@pytest.mark.parametrize("flag", ["--workers", "--threads"])
def test_a_bad_worker_or_thread_count_exits_with_status_2(flag: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--quick", "--out", str(tmp_path / "o"), flag, "-3"])
    assert stopped.value.code == 2


def test_cpus_are_the_affinity_shared_among_torchrun_s_local_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert resources.available_cpus() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    assert resources.available_cpus() == 2
    assert resources.plan(4, cpus=2) == resources.CPUPlan(cpus=2, workers=0, threads=2)  # no oversubscription
    assert resources.plan(4, cpus=2, threads=1).threads == 1
    assert resources.plan(0, cpus=64) == resources.CPUPlan(cpus=64, workers=0, threads=64)  # in-memory benchmarks
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # jobs side by side, one thread each, keep their setting
    assert resources.environment_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    assert resources.environment_threads() is None


def _flushing() -> bool:
    tiny = torch.tensor([1e-20])
    return (tiny * tiny).item() == 0.0  # 1e-40 is subnormal in float32


def test_flush_denormals_zeroes_subnormal_results_and_can_be_undone() -> None:
    before = _flushing()
    try:
        if not resources.flush_denormals(True):
            pytest.skip("this CPU has no flush-to-zero mode")
        assert _flushing()
        assert resources.flush_denormals(False) is False
        assert not _flushing()
        assert torch.tensor([1e-30]).item() > 0  # normal numbers are untouched either way
    finally:
        torch.set_flush_denormal(before)
