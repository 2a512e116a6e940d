"""Two processes with gloo (torchrun) train exactly like one process with the same global batch."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    from mce_data import MissingMask, IncompleteDataset, TensorMultiModalDataset, collate_incomplete
    from mce_losses import MCEObjective, classification_score, factor_a
    from mce_train.benchmarks import cross_entropy
    from mce_train.distributed import setup
    from mce_train.methods import MCE, Baseline
    from mce_train.benchmarks.avmnist import models as avmnist
    from mce_train.network import MultiModalNet
    from mce_train.schedule import Schedule
    from mce_train.trainer import fit

    out = Path(sys.argv[1])
    distributed, device = setup("cpu")
    torch.manual_seed(0)
    n = 48
    ids = [f"s{i:03d}" for i in range(n)]
    target = torch.arange(n) % 10
    inputs = {"image": torch.rand(n, 1, 28, 28) + target.view(n, 1, 1, 1) / 10, "audio": torch.randn(n, 1, 20, 20)}
    base = TensorMultiModalDataset(ids, inputs, target)
    mask = MissingMask.generate(ids, avmnist.MODALITIES, (0.3, 0.5), seed=0)
    train = IncompleteDataset(base, mask)
    schedule = Schedule(steps=3, batch_size=16, lr=1e-3, eval_every=100, checkpoint_every=100)

    def net():
        torch.manual_seed(1)
        parts = avmnist.encoders(8), avmnist.head(8, 16), avmnist.unimodal_heads(8, 16)
        return MultiModalNet(avmnist.MODALITIES, *parts)

    report = {}
    for name in ("baseline", "mce"):
        model = net()
        if name == "baseline":
            method = Baseline(cross_entropy)
        else:
            upper = torch.rand(n, 2, generator=torch.Generator().manual_seed(2)).round()
            method = MCE(MCEObjective(factor_a(mask.present)), upper, ids, task_loss=cross_entropy,
                         score=classification_score, reduce=distributed.all_reduce_sum, world=distributed.world)
        result = fit(model, method, train, lambda m: 0.0, schedule, collate=collate_incomplete, seed=0,
                     run_dir=out / name, device=device, progress=False, distributed=distributed)
        report[name] = {
            "params": {k: v.tolist() for k, v in model.state_dict().items()},
            "log": (out / name / "train_log.csv").read_text() if distributed.main else "",
        }
    if distributed.main:
        (out / "report.json").write_text(json.dumps(report))
    """
)


def _run(script: Path, out: Path, processes: int) -> dict[str, dict[str, object]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    if processes == 1:
        command = [sys.executable, str(script), str(out)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        command += [str(script), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, dict[str, object]] = json.loads((out / "report.json").read_text())
    return report


def _columns(log: str, prefix: str) -> list[list[float]]:
    lines = log.strip().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name.startswith(prefix)]
    return [[float(line.split(",")[i]) for i in keep] for line in lines[1:]]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, object]], ...]:
    work = tmp_path_factory.mktemp("ddp")
    script = work / "worker.py"
    script.write_text(WORKER)
    return _run(script, work / "one", 1), _run(script, work / "two", 2)


@pytest.mark.parametrize("method", ["baseline", "mce"])
def test_two_gloo_ranks_train_like_one_process(reports: tuple[dict[str, dict[str, object]], ...], method: str) -> None:
    import torch

    one, two = reports
    params_one, params_two = one[method]["params"], two[method]["params"]
    assert isinstance(params_one, dict)
    assert isinstance(params_two, dict)
    for key, value in params_one.items():
        torch.testing.assert_close(
            torch.tensor(params_two[key]), torch.tensor(value), rtol=1e-4, atol=1e-5
        )  # float32 sums in another order, through Adam


def test_factor_b_and_shapley_sums_are_reduced_across_ranks(
    reports: tuple[dict[str, dict[str, object]], ...],
) -> None:
    one, two = reports
    for prefix in ("B_", "U_", "phi_"):
        single = _columns(str(one["mce"]["log"]), prefix)
        ranks = _columns(str(two["mce"]["log"]), prefix)
        assert len(single) == 3
        assert [v for row in ranks for v in row] == pytest.approx([v for row in single for v in row], abs=1e-6)
