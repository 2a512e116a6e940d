"""Time a training run with subnormal floats flushed to zero (the default) against one that keeps them.

What :func:`mce_train.resources.flush_denormals` gains: once a model fits its training set, Adam's second
moments and the backward pass fill with subnormal numbers, which x86 CPUs handle by a slow path. Each
round runs ``python apps/train/run.py`` twice on the same cached data, once with ``--keep-denormals``, the
order alternating between rounds; the training time of each is read from its run folder (from the mask
file's writing to the last checkpoint's), so the interpreter start and the data loading are left out.
Medians over ``--repeats`` rounds, their ratio and each run's test accuracies are printed.

    python apps/train/perf/denormals.py [--methods baseline] [--steps 2500] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "run.py"


def train_seconds(out: Path) -> float:
    """Seconds from the training mask's writing to the last checkpoint's (every method of the run)."""
    start = min(p.stat().st_mtime for p in (out / "masks").iterdir())
    end = max(p.stat().st_mtime for p in (out / "runs").rglob("checkpoint.pt"))
    return end - start


def run(arguments: list[str], out: Path, cache: Path, keep: bool) -> tuple[float, dict[str, dict[str, float]]]:
    """One run's training seconds and its test scores per method and subset."""
    command = [sys.executable, str(RUN), *arguments, "--out", str(out), "--cache", str(cache), "--no-progress"]
    subprocess.run(command + (["--keep-denormals"] if keep else []), check=True, stdout=subprocess.DEVNULL)
    results = json.loads((out / "results.json").read_text())
    scores = {  # each subset's first metric (accuracy on the classification benchmarks)
        method: {subset: round(next(iter(metrics.values())), 2) for subset, metrics in record["test"].items()}
        for method, record in results["per_seed"][0]["methods"].items()
    }
    return train_seconds(out), scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="avmnist")
    parser.add_argument("--methods", default="baseline")
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--threads", type=int, default=None, help="default: run.py's")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    arguments = ["--benchmark", args.benchmark, "--methods", args.methods]
    arguments += ["--steps", str(args.steps)] if args.steps else []
    arguments += ["--threads", str(args.threads)] if args.threads else []
    seconds: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for round_ in range(args.repeats):
            for keep in (False, True) if round_ % 2 == 0 else (True, False):
                out = root / f"round{round_}-{'keep' if keep else 'flush'}"
                took, accuracy = run(arguments, out, root / "cache", keep)
                seconds[keep].append(took)
                print(f"round {round_} {'kept   ' if keep else 'flushed'}: {took:6.1f} s  test {accuracy}", flush=True)
    kept, flushed = statistics.median(seconds[True]), statistics.median(seconds[False])
    print(
        f"\n{args.benchmark} {args.methods}: training {kept:.1f} s with subnormals, {flushed:.1f} s flushed "
        f"(medians of {args.repeats}); {kept / flushed:.2f}x"
    )


if __name__ == "__main__":
    main()
