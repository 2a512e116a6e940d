"""The paper's analyses: Table 7's metrics, Table 6's per-epoch aggregation, Fig. 9's probe, the CLI."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from matplotlib import image

from mce_data import MissingMask
from mce_train.analysis import FinishedRun, capability, representation, traces
from mce_train.analysis.__main__ import main as analysis_main
from mce_train.cli import main as train_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- Table 7: representation quality against hand-computed values and brute force ---


def test_quality_of_a_hand_computed_example() -> None:
    features = torch.tensor([[0.0, 1.0], [0.0, 3.0], [4.0, 1.0], [4.0, 3.0]])
    q = representation.representation_quality(features, torch.tensor([0, 0, 1, 1]))
    # centroids (0, 2) and (4, 2): every sample is 1 from its own, the centroids 4 apart
    assert q.intra == pytest.approx(1.0)
    assert q.inter == pytest.approx(4.0)
    assert q.ratio == pytest.approx(0.25)
    # class 0: parallel vectors (cos 1); class 1: cos((4,1),(4,3)) = 19 / (sqrt(17) * 5)
    assert q.cosine == pytest.approx((1.0 + 19 / (math.sqrt(17) * 5)) / 2)
    to_centroid_1 = (18 / (math.sqrt(17) * math.sqrt(20)) + 22 / (5 * math.sqrt(20))) / 2
    assert q.cosine_to_centroid == pytest.approx((1.0 + to_centroid_1) / 2)
    assert (q.n_samples, q.n_classes) == (4, 2)


def _brute_force(features: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, float]:
    x = features.double()
    classes = sorted(set(labels.tolist()))
    centroid = {c: x[labels == c].mean(0) for c in classes}
    intra = sum(float((x[i] - centroid[int(labels[i])]).norm()) for i in range(len(x))) / len(x)
    gaps = [float((centroid[a] - centroid[b]).norm()) for a, b in itertools.combinations(classes, 2)]
    per_class = []
    for c in classes:
        rows = x[labels == c]
        sims = [
            float(torch.nn.functional.cosine_similarity(rows[i], rows[j], dim=0))
            for i in range(len(rows))
            for j in range(len(rows))
            if i != j
        ]
        if sims:
            per_class.append(sum(sims) / len(sims))
    return intra, sum(gaps) / len(gaps), sum(per_class) / len(per_class)


def test_quality_matches_brute_force_on_unequal_classes() -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(23, 5, generator=generator)
    labels = torch.tensor([0] * 10 + [3] * 12 + [7])  # a singleton class: no pairs, still a centroid
    q = representation.representation_quality(features, labels)
    intra, inter, cosine = _brute_force(features, labels)
    assert q.intra == pytest.approx(intra)
    assert q.inter == pytest.approx(inter)
    assert q.ratio == pytest.approx(intra / inter)
    assert q.cosine == pytest.approx(cosine)


def test_tight_separated_clusters_score_well_and_shuffled_labels_worse() -> None:
    generator = torch.Generator().manual_seed(1)
    centres = torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    labels = torch.arange(3).repeat_interleave(20)
    features = centres[labels] + 0.05 * torch.randn(60, 3, generator=generator)
    tight = representation.representation_quality(features, labels)
    assert tight.ratio < 0.02
    assert tight.cosine > 0.999
    shuffled = representation.representation_quality(features, labels[torch.randperm(60, generator=generator)])
    assert shuffled.ratio > 10 * tight.ratio
    assert shuffled.cosine < 0.9


def test_quality_rejects_a_single_class_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="at least two classes"):
        representation.representation_quality(torch.ones(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must be \[N\]"):
        representation.representation_quality(torch.ones(3, 2), torch.zeros(4, dtype=torch.long))


# --- Table 6: per-epoch aggregation of a hand-made train_log.csv ---


def _write_log(path: Path) -> None:
    rows = [  # step, U_a, U_b, phi_a, phi_b, B_a, B_b
        (1, 9, 4, 4, 1, 0.5, 0.3),
        (2, 8, 2, 6, 3, 0.2, 0.0),
        (3, 7, 1, 7, 0, 0.0, 0.1),
        (4, 10, 3, 2, 3, 0.8, 0.0),
        (5, 6, 2, 5, 1, 0.1, 0.25),
    ]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss", "B_a", "B_b", "U_a", "U_b", "phi_a", "phi_b", "val_score"])
        for step, ua, ub, pa, pb, ba, bb in rows:
            writer.writerow([step, 1.0, ba, bb, ua, ub, pa, pb, "" if step % 2 else 0.5])


def test_epoch_traces_of_a_hand_made_log(tmp_path: Path) -> None:
    _write_log(tmp_path / "train_log.csv")
    fields, rows = traces.read_log(tmp_path / "train_log.csv")
    modalities = traces.log_modalities(fields)
    assert modalities == ("a", "b")
    counts = torch.tensor([[10.0, 4.0], [10.0, 5.0], [9.0, 2.0], [10.0, 4.0], [8.0, 4.0]])
    result = traces.epoch_traces(rows, modalities, steps_per_epoch=2, counts=counts)
    assert [(t.epoch, t.modality, t.first_step, t.last_step, t.batches) for t in result] == [
        (1, "a", 1, 2, 2),
        (1, "b", 1, 2, 2),
        (2, "a", 3, 4, 2),
        (2, "b", 3, 4, 2),
        (3, "a", 5, 5, 1),  # a partial last epoch
        (3, "b", 5, 5, 1),
    ]
    first_a, first_b = result[0], result[1]
    assert (first_a.number, first_a.upper, first_a.phi) == (20.0, 17.0, 10.0)
    assert first_a.gap == pytest.approx(7 / 20)
    assert first_a.factor_b == pytest.approx(7 / 20)
    assert first_a.batch_b == pytest.approx(0.35)
    assert (first_b.number, first_b.upper, first_b.phi) == (9.0, 6.0, 4.0)
    second_b = result[3]  # U 4, phi 3 over 6 samples
    assert second_b.gap == pytest.approx(1 / 6)
    last_a = result[4]  # U 6, phi 5 over 8 samples
    assert last_a.gap == pytest.approx(1 / 8)
    second_a = result[2]  # U 17, phi 9 over 19 samples
    assert second_a.gap == pytest.approx(8 / 19)
    # a negative epoch gap is printed unmasked (Table 6) and masked in Eq. 8's factor
    flipped = traces.epoch_traces(
        [{**r, "phi_a": r["U_a"] + 1} for r in rows], modalities, steps_per_epoch=5, counts=counts
    )
    assert flipped[0].gap == pytest.approx(-5 / 47)
    assert flipped[0].factor_b == 0.0
    unknown = traces.epoch_traces(rows, modalities, steps_per_epoch=2)
    assert math.isnan(unknown[0].number)
    assert math.isnan(unknown[0].gap)
    assert unknown[0].upper == 17.0
    assert len(traces.table(result).splitlines()) == 2 + 4  # header, rule, first and last epoch x 2 modalities
    png = traces.plot(result, tmp_path / "t.png", "hand-made")
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_step_counts_cover_each_sample_once_per_epoch() -> None:
    generator = torch.Generator().manual_seed(2)
    present = torch.rand(12, 3, generator=generator) < 0.6
    counts = traces.step_counts(present, batch_size=4, steps=6, seed=3)  # two epochs of 3 steps
    assert counts.shape == (6, 3)
    assert torch.equal(counts[:3].sum(0), present.sum(0).double())
    assert torch.equal(counts[3:].sum(0), present.sum(0).double())
    assert bool((counts <= 4).all())


# --- Fig. 9 and the CLI on a tiny quick run ---


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A 4-step quick AVMNIST run (baseline and MCE) on synthetic files; (run folder, data folder)."""
    root = tmp_path_factory.mktemp("analysis")
    empty = root / "no-data"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MCE_DATA_DIR", str(empty))
        assert train_main(["--quick", "--steps", "4", "--no-progress", "--out", str(root / "out")]) == 0
        yield root / "out", empty


def test_capability_probe_scores_every_modality_and_method(quick_run: tuple[Path, Path]) -> None:
    out, data = quick_run
    run = FinishedRun.load(out)
    rows = capability.capability(run, data, torch.device("cpu"), steps=12)
    assert {(r.method, r.modality) for r in rows} == {(m, n) for m in ("baseline", "mce") for n in ("image", "audio")}
    assert all(0.0 <= r.test <= 100.0 and 0.0 <= r.val <= 100.0 for r in rows)
    mask = MissingMask.load_csv(run.mask_file(0))
    present = dict(zip(mask.modalities, mask.present.sum(0).tolist(), strict=True))
    assert all(r.n_train == present[r.modality] for r in rows)  # only the samples that have the modality
    assert present["audio"] < present["image"]  # audio is missing at 0.8, image at 0.2
    assert "| mce |" in capability.table(rows, "accuracy")


def test_trace_counts_agree_with_the_logged_factor(quick_run: tuple[Path, Path]) -> None:
    out, _ = quick_run
    run = FinishedRun.load(out)
    _, rows = traces.read_log(run.run_dir("mce", 0) / "train_log.csv")
    mask = run.mask(0)
    counts = traces.step_counts(mask.present, run.schedule("mce", 0).batch_size, len(rows), seed=0)
    checked = 0
    for k, row in enumerate(rows):
        for m, name in enumerate(mask.modalities):
            if row[f"B_{name}"] > 0:  # B = (U - phi) / count on the batch the trainer drew
                assert float(counts[k, m]) == pytest.approx((row[f"U_{name}"] - row[f"phi_{name}"]) / row[f"B_{name}"])
                checked += 1
    assert checked > 0
    assert traces.run_traces(run, "baseline", 0) == []
    assert len(traces.run_traces(run, "mce", 0)) == len(mask.modalities)  # 4 steps: one (partial) epoch


def test_cli_writes_tables_csv_and_valid_pngs(quick_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out, data = quick_run
    assert analysis_main(["traces", "--run", str(out)]) == 0
    capability_args = ["capability", "--run", str(out), "--data", str(data), "--steps", "4", "--methods", "mce"]
    assert analysis_main(capability_args) == 0  # both methods: the test above
    assert analysis_main(["representation", "--run", str(out), "--data", str(data), "--subsets", "image+audio"]) == 0
    printed = capsys.readouterr().out
    assert "| epoch | modality | Number |" in printed
    assert "| baseline | image+audio |" in printed
    folder = out / "analysis"
    for name in ("traces-mce-seed0.png", "capability.png"):
        png = folder / name
        assert png.read_bytes()[:8] == PNG_MAGIC
        pixels = image.imread(png)
        assert pixels.ndim == 3
        assert pixels.shape[0] > 100
    with (folder / "representation-fused.csv").open() as f:
        written = list(csv.DictReader(f))
    assert {r["method"] for r in written} == {"baseline", "mce"}
    assert all(float(r["ratio"]) > 0 and -1 <= float(r["cosine"]) <= 1 for r in written)
    with pytest.raises(SystemExit, match="not a finished run"):
        analysis_main(["traces", "--run", str(out / "nowhere")])
