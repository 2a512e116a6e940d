"""``python -m mce_train.analysis {capability,representation,traces} --run DIR``: the paper's analyses.

Each command reads a finished run (``python apps/train/run.py --out DIR``), prints a markdown table
and writes CSV (and PNG) files under ``DIR/analysis`` (or ``--out``):

* ``capability`` (Fig. 9): ``capability.csv``, ``capability.png``;
* ``representation`` (Table 7): ``representation-<features>.csv``;
* ``traces`` (Table 6, Fig. 8): ``traces-<method>-seed<k>.csv`` and ``.png`` per MCE run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from mce_train.analysis import FinishedRun, capability, representation, traces
from mce_train.paths import DATA_ENV, benchmark_data


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mce_train.analysis", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("capability", "Fig. 9: each frozen encoder with a new decoder, test score per modality and method"),
        ("representation", "Table 7: intra/inter-class distance ratio and cosine consistency of fused features"),
        ("traces", "Table 6 / Fig. 8: per-epoch U, phi and B of the MCE runs, CSV and PNG"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--run", type=Path, required=True, help="the --out folder of a finished run")
        command.add_argument("--out", type=Path, default=None, help="where files go (default RUN/analysis)")
        command.add_argument("--methods", default=None, help="comma-separated subset of the run's methods")
        if name != "traces":
            command.add_argument("--data", type=Path, default=None, help=f"data folder (default ${DATA_ENV})")
            command.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        if name == "capability":
            command.add_argument("--steps", type=int, default=None, help="decoder steps (default: half the run's)")
        if name == "representation":
            command.add_argument("--features", choices=representation.FEATURE_KINDS, default="fused")
            command.add_argument("--subsets", default=None, help="comma-separated subsets (default: all)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run = FinishedRun.load(args.run)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
    out: Path = args.out or args.run / "analysis"
    methods = tuple(m.strip() for m in args.methods.split(",")) if args.methods else run.methods
    unknown = [m for m in methods if m not in run.methods]
    if unknown:
        raise SystemExit(f"error: the run has methods {list(run.methods)}; got {unknown}")
    bench = run.bench
    if args.command == "capability":
        rows = capability.capability(
            run, args.data or benchmark_data(), torch.device(args.device), steps=args.steps, methods=methods
        )
        print(f"{bench.name}: capability of each frozen encoder with a new decoder (Fig. 9)\n")
        print(capability.table(rows, bench.selection))
        files = [
            capability.write_csv(rows, out / "capability.csv"),
            capability.plot(rows, out / "capability.png", bench.selection, f"{bench.name}: encoder capability"),
        ]
    elif args.command == "representation":
        subsets = [s.strip() for s in args.subsets.split(",")] if args.subsets else None
        try:
            quality = representation.representation(
                run,
                args.data or benchmark_data(),
                torch.device(args.device),
                features=args.features,
                subsets=subsets,
                methods=methods,
            )
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        print(f"{bench.name}: representation quality of the {args.features} test features (Table 7)\n")
        print(representation.table(quality))
        files = [representation.write_csv(quality, out / f"representation-{args.features}.csv")]
    else:
        files = []
        for method in methods:
            for seed in run.seeds:
                trace = traces.run_traces(run, method, seed)
                if not trace:
                    print(f"{method}-seed{seed}: no U/phi/B columns in its train_log.csv (only MCE logs them)")
                    continue
                print(f"{bench.name} {method}-seed{seed}: U, phi, B per epoch (Table 6 layout; first and last)\n")
                print(traces.table(trace) + "\n")
                stem = f"traces-{method}-seed{seed}"
                files.append(traces.write_csv(trace, out / f"{stem}.csv"))
                files.append(traces.plot(trace, out / f"{stem}.png", f"{bench.name} {method} seed {seed}"))
    print("\nwrote " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
