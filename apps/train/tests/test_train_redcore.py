"""RedCore as a trainer method: regulation through the method, IDT, state, network interface, trace, end to end."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from mce_data.collate import Batch
from mce_train.benchmarks.heads import ConcatHead, mlp_decoder
from mce_train.cli import main
from mce_train.methods.redcore import PAPER_REGULATION, RedCore, RedCoreNet
from mce_train.methods.redcore.modules import ResidualCrossEncoder, SequenceTransformer, VariationalEncoder
from mce_train.methods.redcore.trace import epoch_trace
from mce_train.methods.redcore.trace import main as trace_main
from mce_train.network import MultiModalNet

XI_1, XI_2, BETA = 0.015, 0.15, 0.7
ALPHA_1 = 0.1 * 0.15 * 1.5  # the official step 0.1 on a unit-norm eta (x 0.15 here), grown x1.5 at iteration 0
FEATURES, DIM, CLASSES = 5, 8, 3


def _net(names: tuple[str, ...], sequence: str | None = None, seed: int = 0) -> RedCoreNet:
    """A small RedCore network on vector inputs (``sequence``: that modality is a padded sequence)."""
    torch.manual_seed(seed)
    encoders: dict[str, nn.Module] = {}
    backbones: dict[str, nn.Module] = {}
    for name in names:
        backbone: nn.Module = SequenceTransformer(FEATURES, DIM, 1, 2) if name == sequence else nn.Linear(FEATURES, DIM)
        encoders[name], backbones[name] = VariationalEncoder(backbone, DIM, DIM), backbone
    cross = {name: ResidualCrossEncoder((len(names) - 1) * DIM, DIM, (8, 4), 2) for name in names}
    heads = {name: mlp_decoder(DIM, 8, CLASSES) for name in names}
    network = MultiModalNet(names, backbones, ConcatHead(len(names), DIM, 8, CLASSES), heads)
    return RedCoreNet(network, encoders, cross, DIM)


def _batch(present: torch.Tensor, seed: int, names: tuple[str, ...], sequence: str | None = None) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    n = present.shape[0]
    inputs, lengths = {}, {}
    for m, name in enumerate(names):
        if name == sequence:
            length = torch.randint(1, 5, (n,), generator=generator) * present[:, m].long()
            x = torch.randn(n, 4, FEATURES, generator=generator)
            x = x * (torch.arange(4)[None, :, None] < length[:, None, None])  # zero padding, as the collate does
        else:
            length = present[:, m].long()
            x = torch.randn(n, FEATURES, generator=generator)
        inputs[name] = x * present[:, m].reshape(n, *([1] * (x.dim() - 1)))
        lengths[name] = length
    target = torch.randint(0, CLASSES, (n,), generator=generator)
    return Batch([f"s{i}" for i in range(n)], inputs, lengths, present, target, {})


def _ce(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(prediction, target, reduction="none")


def _project_two(y: list[float]) -> list[float]:
    """Hand projection onto {x >= ξ1, ||x||_2 = ξ2} for two entries (independent of mce-losses)."""
    norm = math.hypot(*y)
    if min(y) > 0 and min(y) * XI_2 / norm >= XI_1:
        return [XI_2 * v / norm for v in y]
    big = math.sqrt(XI_2**2 - XI_1**2)
    return [XI_1, big] if y[1] >= y[0] else [big, XI_1]


def test_eta_moves_toward_the_weaker_modality() -> None:
    names = ("a", "b")
    model = _net(names)
    transition = model.cross_encoders["b"].transition
    assert isinstance(transition, nn.Sequential)
    last = transition[-1]
    assert isinstance(last, nn.Linear)
    with torch.no_grad():  # modality b's imputation is far off: a constructed, lasting loss imbalance
        last.bias.fill_(20.0)
    method = RedCore(_ce, names)
    present = torch.ones(16, 2, dtype=torch.bool)
    present[:5, 0] = False
    present[5:9, 1] = False
    _, logs = method.loss(model, _batch(present, 0, names))
    assert logs["mse_b"] > 10 * logs["mse_a"]
    losses = [logs["mse_a"], logs["mse_b"]]
    mean = sum(losses) / 2
    advantage = [(mean - v) / mean for v in losses]
    assert logs["advantage_a"] == pytest.approx(advantage[0], rel=1e-9)
    start = XI_2 / math.sqrt(2)
    expected = _project_two([start - ALPHA_1 * r for r in advantage])
    assert [logs["eta_a"], logs["eta_b"]] == pytest.approx(expected, abs=1e-9)
    trace = [(logs["eta_a"], logs["eta_b"])]
    for step in range(1, 7):
        _, logs = method.loss(model, _batch(present, step, names))
        trace.append((logs["eta_a"], logs["eta_b"]))
    assert trace[-1][1] > start > trace[-1][0]  # the weaker modality gained supervision, the stronger lost it
    assert all(later[1] >= earlier[1] - 1e-12 for earlier, later in itertools.pairwise(trace))
    assert all(math.hypot(*eta) == pytest.approx(XI_2) and min(eta) >= XI_1 - 1e-12 for eta in trace)
    assert trace[1] == trace[2] == trace[0]  # η is updated every K = 3 steps only
    assert trace[4] == trace[5] == trace[3]


def test_relative_advantages_sum_to_zero_and_follow_the_moving_average() -> None:
    names = ("a", "b", "c")
    model = _net(names, sequence="c")
    method = RedCore(_ce, names)
    generator = torch.Generator().manual_seed(1)
    moving: list[float | None] = [None, None, None]
    for step in range(7):
        present = torch.rand(12, 3, generator=generator) < 0.6
        present[:, 0] = present[:, 0] | ~present.any(1)
        if step == 4:
            present[:, 2] = False  # c absent from the whole batch: no loss, its average stays
        _, logs = method.loss(model, _batch(present, step, names, sequence="c"))
        advantages = [logs[f"advantage_{n}"] for n in names]
        assert abs(sum(advantages)) < 1e-9
        for m, name in enumerate(names):
            if bool(present[:, m].any()):
                value = logs[f"mse_{name}"]
                previous = moving[m]
                moving[m] = value if previous is None else (1 - BETA) * previous + BETA * value
            else:
                assert logs[f"mse_{name}"] == 0.0
        assert None not in moving
        averages = [float(v) for v in moving if v is not None]
        mean = sum(averages) / 3
        assert advantages == pytest.approx([(mean - v) / mean for v in averages], rel=1e-9, abs=1e-12)


def test_absent_inputs_are_never_read() -> None:
    """IDT: NaN in absent modalities (and in padded frames) changes neither the loss nor any gradient."""
    names = ("a", "b", "c")
    present = torch.tensor([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1], [1, 0, 0]], dtype=torch.bool)
    clean = _batch(present, 3, names, sequence="c")
    dirty_inputs = {k: v.clone() for k, v in clean.inputs.items()}
    for m, name in enumerate(names):
        dirty_inputs[name][~present[:, m]] = float("nan")
    frames = torch.arange(4)[None, :] >= clean.lengths["c"][:, None]
    dirty_inputs["c"][frames] = float("nan")  # padding of present rows too
    dirty = Batch(clean.ids, dirty_inputs, clean.lengths, clean.present, clean.target, {})

    def run(batch: Batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model = _net(names, sequence="c")
        torch.manual_seed(7)
        loss, _ = RedCore(_ce, names).loss(model, batch)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss.detach(), [p.grad.clone() if p.grad is not None else torch.zeros(0) for p in model.parameters()]

    loss_clean, grads_clean = run(clean)
    loss_dirty, grads_dirty = run(dirty)
    assert torch.isfinite(loss_clean)
    assert torch.equal(loss_clean, loss_dirty)
    assert all(torch.equal(g, h) for g, h in zip(grads_clean, grads_dirty, strict=True))
    assert all(bool(torch.isfinite(g).all()) for g in grads_dirty)


def test_state_dict_round_trip_continues_identically() -> None:
    names = ("a", "b")
    model = _net(names)
    present = torch.ones(10, 2, dtype=torch.bool)
    present[:4, 1] = False
    first = RedCore(_ce, names)
    for step in range(4):
        first.loss(model, _batch(present, step, names))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second, fresh = RedCore(_ce, names), RedCore(_ce, names)
    second.load_state_dict(torch.load(buffer, weights_only=True))
    keys = ("eta_a", "eta_b", "advantage_a", "advantage_b")
    for step in range(4, 8):
        batch = _batch(present, step, names)
        torch.manual_seed(step)
        _, a = first.loss(model, batch)
        torch.manual_seed(step)
        _, b = second.loss(model, batch)
        torch.manual_seed(step)
        _, c = fresh.loss(model, batch)
        assert [a[k] for k in keys] == [b[k] for k in keys]
    assert [a[k] for k in keys] != [c[k] for k in keys]  # the state is what made them agree
    assert int(second.regulator.step) == 8


def test_network_interface_for_evaluation() -> None:
    names = ("a", "b", "c")
    model = _net(names)
    present = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0]], dtype=torch.bool)
    batch = _batch(present, 0, names)
    model.eval()
    h = model.encode(batch.inputs, present, batch.lengths)
    mu, _, rest = model.encode_gaussian(batch.inputs, present, batch.lengths)
    assert rest.shape == (3, 3, 0)  # vectors: nothing beside the latent
    assert torch.equal(h, mu)
    assert torch.equal(h[~present], torch.zeros(int((~present).sum()), DIM))
    keep = torch.tensor([[1, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=torch.bool)
    completed = model.complete(h, keep)
    assert torch.equal(completed[keep], h[keep])
    poisoned = h.clone()
    poisoned[~keep] = float("nan")
    assert torch.equal(model.complete(poisoned, keep), completed)  # dropped slots are never read
    # the imputed slot of sample 0, modality b, comes from a and c only, through b's cross-modal encoder
    reference = model.cross_encoders["b"](torch.cat([h[0, 0], h[0, 2]])[None])[0]
    assert torch.allclose(completed[0, 1], reference)
    assert model.predict(h, keep).shape == (3, CLASSES)
    model.train()
    torch.manual_seed(0)
    drawn = model.encode(batch.inputs, present, batch.lengths)
    assert not torch.equal(drawn[present], mu[present])
    assert torch.equal(drawn[~present], h[~present])


def test_trace_aggregates_per_epoch(tmp_path: Path) -> None:
    log = tmp_path / "train_log.csv"
    rows = [
        {"step": 1, "loss": 1.0, "eta_a": 0.1, "eta_b": 0.2, "advantage_a": 0.5, "advantage_b": -0.5, "epoch": 0},
        {"step": 2, "loss": 1.0, "eta_a": 0.3, "eta_b": 0.2, "advantage_a": 0.1, "advantage_b": -0.1, "epoch": 0},
        {"step": 3, "loss": 1.0, "eta_a": 0.05, "eta_b": 0.4, "advantage_a": -0.2, "advantage_b": 0.2, "epoch": 1},
    ]
    with log.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    trace = epoch_trace(log)
    assert [r["epoch"] for r in trace] == [0.0, 1.0]
    assert trace[0]["eta_a"] == pytest.approx(0.2)
    assert trace[0]["eta_a_last"] == pytest.approx(0.3)
    assert trace[0]["advantage_b"] == pytest.approx(-0.3)
    assert trace[1]["steps"] == 1.0
    assert epoch_trace(log, steps_per_epoch=3)[0]["eta_b"] == pytest.approx(0.8 / 3)
    assert trace_main(["--run", str(tmp_path)]) == 0
    written = list(csv.DictReader((tmp_path / "redcore_trace.csv").open()))
    assert float(written[1]["eta_b_last"]) == pytest.approx(0.4)
    assert (tmp_path / "redcore_trace.png").read_bytes()[:4] == b"\x89PNG"


# ---- end to end through the CLI (synthetic data) ----


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


def _log(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "train_log.csv").open()))


def test_quick_run_prints_baseline_redcore_and_mce_side_by_side(
    no_real_data: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = runs / "avmnist"
    record = _run(out, "--steps", "6", "--methods", "baseline,redcore,mce")
    printed = capsys.readouterr().out
    for method in ("baseline", "redcore", "mce"):
        assert f"| {method} |" in printed
    seed = record["per_seed"][0]
    assert list(seed["methods"]) == ["baseline", "redcore", "mce"]
    assert Path(seed["mask_file"]).is_file()
    subsets = {"image", "audio", "image+audio"}
    assert all(set(result["test"]) == subsets for result in seed["methods"].values())
    log = _log(out / "runs" / "redcore-seed0")
    assert len(log) == 6
    for row in log:
        assert abs(float(row["advantage_image"]) + float(row["advantage_audio"])) < 1e-9
        assert math.hypot(float(row["eta_image"]), float(row["eta_audio"])) == pytest.approx(PAPER_REGULATION["xi_2"])
    assert trace_main(["--run", str(out / "runs" / "redcore-seed0")]) == 0
    assert (out / "runs" / "redcore-seed0" / "redcore_trace.png").is_file()


def test_iemocap_quick_run_with_redcore(no_real_data: Path, runs: Path) -> None:
    record = _run(runs / "iemocap", "--benchmark", "iemocap", "--steps", "4", "--methods", "redcore")
    scores = record["per_seed"][0]["methods"]["redcore"]["test"]
    assert len(scores) == 7
    assert all(0.0 <= s["accuracy"] <= 100.0 for s in scores.values())
    header = list(_log(runs / "iemocap" / "runs" / "redcore-seed0")[0])
    assert {"eta_acoustic", "eta_visual", "eta_lexical", "advantage_lexical", "epoch"} <= set(header)
