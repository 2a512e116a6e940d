"""docs/RESULTS.md's table builder on hand-made records: the numbers, the paired differences, the blocks."""

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from mce_train import evidence

SUBSETS = ("image", "audio", "image+audio")


def _record(
    path: Path, methods: dict[str, list[tuple[float, float, float]]], rates: tuple[float, ...], ablation: str = "m"
) -> None:
    """A results.json with, per method, one (image, audio, image+audio) accuracy triple per seed."""
    n_seeds = len(next(iter(methods.values())))
    per_seed = [
        {
            "data": "real data in /somewhere",
            "methods": {
                name: {"test": {s: {"accuracy": v[seed][i]} for i, s in enumerate(SUBSETS)}}
                for name, v in methods.items()
            },
        }
        for seed in range(n_seeds)
    ]
    record = {
        "config": {
            "methods": list(methods),
            "rates": list(rates),
            "seeds": list(range(n_seeds)),
            "size": "paper",
            "ablation": ablation,
        },
        "git_commit": "0123456789abcdef",
        "machine": {"platform": "Linux-test", "torch": "2.13.0", "threads": 1},
        "metric": "accuracy",
        "per_seed": per_seed,
    }
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(record))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    _record(
        runs / "main" / "0.2-0.8",
        {"baseline": [(90.0, 60.0, 92.0), (92.0, 62.0, 94.0)], "mce": [(91.0, 63.0, 93.0), (95.0, 65.0, 96.0)]},
        (0.2, 0.8),
    )
    _record(runs / "ablation" / "a", {"mce": [(80.0, 50.0, 85.0), (82.0, 52.0, 87.0)]}, (0.2, 0.8), ablation="a")
    for percent, shift in ((10, 0.0), (100, 5.0)):
        _record(
            runs / "fig7" / f"audio{percent:03d}",
            {"baseline": [(97.0, 40.0 + shift, 97.0)] * 2, "mce": [(98.0, 41.0 + shift, 99.0), (98.0, 41.0, 98.0)]},
            (0.0, 1 - percent / 100),
        )
    analysis = runs / "main" / "0.2-0.8" / "analysis"
    analysis.mkdir()
    for seed, stop in ((0, 3), (1, 5)):  # B falls below 0.01 at epoch `stop` (each epoch 7 steps long)
        lines = ["epoch,last_step,modality,batch_b"]
        lines += [f"{e},{7 * e},audio,{0.0 if e >= stop else 1.0 / e}" for e in range(1, 25)]
        (analysis / f"traces-mce-seed{seed}.csv").write_text("\n".join(lines) + "\n")
    (runs / "text").mkdir()
    (runs / "text" / "overhead-cpu.md").write_text("| method | ratio |\n| --- | --- |\n| mce | 1.10x |\n")
    return runs


DOC = """# Results

<!-- table:main -->
old
<!-- /table:main -->

Ablation:
<!-- table:ablation -->
<!-- /table:ablation -->
<!-- table:fig7 -->
<!-- /table:fig7 -->
<!-- table:overhead-cpu -->
<!-- /table:overhead-cpu -->
<!-- table:provenance -->
<!-- /table:provenance -->
<!-- table:traces -->
<!-- /table:traces -->
The end.
"""


def test_tables_hold_hand_computed_means_intervals_and_paired_differences(runs: Path, tmp_path: Path) -> None:
    doc = evidence.render(runs, DOC, tmp_path / "raw")
    assert "old" not in doc
    assert doc.startswith("# Results")
    assert doc.endswith("The end.\n")
    main = doc.split("<!-- table:main -->")[1].split("<!-- /table:main -->")[0]
    assert "Missing rates (image 0.2, audio 0.8), 2 seeds" in main
    half = 12.706 * math.sqrt(2) / math.sqrt(2)  # t_{0.975, 1} * std / sqrt(n), std of (90, 92) = sqrt(2)
    assert f"| baseline | 91.00 ± 1.41 [{91 - half:.2f}, {91 + half:.2f}] |" in main
    # MCE - baseline seed by seed: image (1, 3) -> +2.00 ± 1.41; mean over subsets (5/3, 8/3) -> +2.17 ± 0.71
    paired = next(line for line in main.splitlines() if line.startswith("| MCE - baseline (paired)"))
    assert "+2.00 ± 1.41" in paired.split("|")[2]
    assert "+2.17 ± 0.71" in paired.split("|")[5]
    ablation = doc.split("<!-- table:ablation -->")[1]
    assert "| a |  |  |  |  |  | 81.00 ± 1.41" in ablation  # row a: every switch off
    assert "| m | ✓ | ✓ | ✓ | ✓ | ✓ | 93.00 ± 2.83" in ablation  # row m: main/0.2-0.8's MCE
    # m - a seed by seed, means over subsets: 247/3 - 215/3 and 256/3 - 221/3 -> +11.17 ± 0.71
    assert "| +11.17 ± 0.71 [" in ablation.split("| m |")[1].splitlines()[0]
    # a full-MCE run of the ablation's own (its protocol and commit) is row m in place of main/0.2-0.8's
    _record(runs / "ablation" / "m", {"mce": [(70.0, 40.0, 75.0), (72.0, 42.0, 77.0)]}, (0.2, 0.8))
    own = evidence.render(runs, DOC, tmp_path / "raw-m").split("<!-- table:ablation -->")[1]
    assert "| m | ✓ | ✓ | ✓ | ✓ | ✓ | 71.00 ± 1.41" in own
    shutil.rmtree(runs / "ablation" / "m")
    fig7 = doc.split("<!-- table:fig7 -->")[1].split("<!-- /table:fig7 -->")[0]
    assert fig7.index("| 10% |") < fig7.index("| 100% |")
    assert "+1.50 ± 0.71" in fig7.splitlines()[3]  # image+audio at 10%: (99 - 97, 98 - 97)
    assert "| mce | 1.10x |" in doc
    # B at epochs 1, 2, 5, 10, 20: (1, 1), (1/2, 1/2), then 0 (from epochs 3 and 5: steps 21 and 35)
    assert "| audio | 1.00 | 0.50 | 0.00 | 0.00 | 0.00 | 28.00 ± 9.90 [" in doc
    assert "`main/0.2-0.8` | `0123456789ab` | Linux-test, torch 2.13.0, 1 thread(s)" in doc
    copied = json.loads((tmp_path / "raw" / "main" / "0.2-0.8.json").read_text())
    assert copied["git_commit"] == "0123456789abcdef"
    assert (tmp_path / "raw" / "fig7.png").stat().st_size > 0


def test_a_table_without_runs_keeps_its_block(runs: Path, tmp_path: Path) -> None:
    block = "<!-- table:iemocap -->\nkept\n<!-- /table:iemocap -->\n"
    doc = DOC.replace("<!-- table:main -->", block + "<!-- table:main -->")
    assert "\nkept\n" in evidence.render(runs, doc, tmp_path / "raw")


def test_an_extra_run_gets_its_method_table(runs: Path, tmp_path: Path) -> None:
    _record(runs / "extra" / "longer", {"baseline": [(1.0, 2.0, 3.0)]}, (0.2, 0.8))
    doc = evidence.render(runs, "<!-- table:extra/longer -->\n<!-- /table:extra/longer -->\n", tmp_path / "raw")
    assert "| baseline | 1.00 | 2.00 | 3.00 | 2.00 |" in doc


def test_cells_never_print_a_negative_zero() -> None:
    assert evidence.cell([-0.001, 0.001], signed=True).startswith("+0.00 ± ")
    assert evidence.cell([-0.004, 0.004], signed=False).startswith("0.00 ± ")


def test_one_seed_shows_the_mean_alone_and_a_sweep_without_baseline_has_no_paired_column(tmp_path: Path) -> None:
    assert evidence.cell([91.234]) == "91.23"
    runs = tmp_path / "runs"
    _record(runs / "fig7" / "audio050", {"mce": [(98.0, 41.0, 99.0)]}, (0.0, 0.5))
    doc = evidence.render(runs, "<!-- table:fig7 -->\n<!-- /table:fig7 -->\n", tmp_path / "raw")
    assert "| 50% | 98.00 | 99.00 |" in doc
    assert "paired" not in doc


def test_traces_that_never_reach_zero_and_records_that_do_not_match_their_table(runs: Path, tmp_path: Path) -> None:
    for seed in range(2):
        (runs / "main" / "0.2-0.8" / "analysis" / f"traces-mce-seed{seed}.csv").write_text(
            "epoch,last_step,modality,batch_b\n1,7,audio,0.9\n2,14,audio,0.5\n"
        )
    doc = evidence.render(runs, "<!-- table:traces -->\n<!-- /table:traces -->\n", tmp_path / "raw")
    assert "| audio | 0.90 | 0.50 | - | - | - | never (0 of 2 seeds) |" in doc
    scores = {"baseline": [(1.0, 2.0, 3.0)] * 2, "mce": [(2.0, 2.0, 5.0), (4.0, 5.0, 6.0)]}
    _record(runs / "iemocap" / "b", scores, (0.2, 0.5, 0.8))
    block = "<!-- table:iemocap-summary -->\n<!-- /table:iemocap-summary -->\n"
    summary = evidence.render(runs, block, tmp_path / "r")
    # means over the subsets: baseline 2 and 2, MCE 3 and 5; MCE - baseline seed by seed: 1 and 3
    assert "| b (0.2, 0.8, 0.5) | 2.00 ± 0.00 [2.00, 2.00] | 4.00 ± 1.41 [" in summary
    assert "| +2.00 ± 1.41 [" in summary
    _record(runs / "iemocap" / "a", {"mce": [(1.0, 2.0, 3.0)]}, (0.2, 0.5, 0.8))  # setting a in (A, L, V) order
    with pytest.raises(ValueError, match="iemocap/a ran at rates"):
        evidence.render(runs, "<!-- table:iemocap -->\n<!-- /table:iemocap -->\n", tmp_path / "raw")
    _record(runs / "ablation" / "b", {"mce": [(1.0, 2.0, 3.0)]}, (0.2, 0.8), ablation="c")
    with pytest.raises(ValueError, match="ablation/b ran row c"):
        evidence.render(runs, "<!-- table:ablation -->\n<!-- /table:ablation -->\n", tmp_path / "raw")


def test_missing_block_and_missing_runs_are_clear_errors(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("no <!-- table:main --> ... <!-- /table:main --> block")):
        evidence.replace_block("no markers", "main", "body")
    with pytest.raises(FileNotFoundError, match=re.escape("nor text/*.md under")):
        evidence.render(tmp_path / "empty", DOC, tmp_path / "raw")
    (runs / "main" / "0.2-0.8" / "results.json").write_text("{}")
    with pytest.raises(ValueError, match=re.escape("not a results.json of apps/train/run.py")):
        evidence.render(runs, DOC, tmp_path / "raw")


def test_provenance_names_how_the_masks_were_drawn(runs: Path, tmp_path: Path) -> None:
    new = json.loads((runs / "main" / "0.2-0.8" / "results.json").read_text())
    new["config"]["all_missing"] = "exclude"
    for seed in new["per_seed"]:
        seed["mask_style"] = "counts"
    (runs / "main" / "0.2-0.8" / "results.json").write_text(json.dumps(new))
    fig7 = json.loads((runs / "fig7" / "audio010" / "results.json").read_text())
    fig7["config"]["protocol"] = "fig7"
    (runs / "fig7" / "audio010" / "results.json").write_text(json.dumps(fig7))
    doc = evidence.render(runs, "<!-- table:provenance -->\n<!-- /table:provenance -->\n", tmp_path / "raw")
    rows = {line.split(" | ")[0].strip("| `"): line for line in doc.splitlines() if line.startswith("| `")}
    assert "| counts, exclude |" in rows["main/0.2-0.8"]
    assert "| counts, swap |" in rows["ablation/a"]  # a 0.1 record: no style, all-missing "redraw" (today's swap)
    assert "| fig7 protocol |" in rows["fig7/audio010"]


def test_main_heading_quotes_the_realised_rates(runs: Path, tmp_path: Path) -> None:
    path = runs / "main" / "0.2-0.8" / "results.json"
    record = json.loads(path.read_text())
    record["config"].update(all_missing="exclude", realised_missing_rates=[0.0427, 0.7612])
    for seed, left_out in zip(record["per_seed"], (150, 160), strict=True):
        seed["n_excluded"] = left_out
    path.write_text(json.dumps(record))
    doc = evidence.render(runs, "<!-- table:main -->\n<!-- /table:main -->\n", tmp_path / "raw")
    assert (
        "**Missing rates (image 0.2, audio 0.8), 2 seeds; realised over the samples kept (exclude):"
        " image 0.043, audio 0.761; samples left out per seed: 150, 160**"
    ) in doc
