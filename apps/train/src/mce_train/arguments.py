"""The flags of ``python apps/train/run.py``: the parser, the argparse types that check each value, and the
recipe overrides the flags carry (:func:`overrides`). :mod:`mce_train.cli` checks them together and runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mce_data.masks import ALL_MISSING, STYLES
from mce_train import __version__, benchmarks
from mce_train.methods import METHODS
from mce_train.paths import DATA_ENV

DESCRIPTION = (
    "Train a benchmark with MCE and the methods it is compared against, under imbalanced missing rates, and "
    "evaluate every modality subset (no arguments: AVMNIST, baseline and MCE, rates 0.2/0.8, seed 0)."
)


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"rates must be comma-separated numbers like 0.2,0.8; got {text!r}") from None
    bad = [r for r in rates if not 0.0 <= r < 1.0]
    if bad:
        raise argparse.ArgumentTypeError(f"missing rates must be in [0, 1); got {bad} in {text!r}")
    return rates


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1] like 0.1; got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1] like 0.1; got {text!r}")
    return value


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers like 0,1,2; got {text!r}") from None


def _at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer ``>= minimum`` (``what`` names it in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, an integer >= {minimum}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, an integer >= {minimum}; got {text!r}")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python apps/train/run.py", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"mce-train {__version__}")
    parser.add_argument("--benchmark", default="avmnist", help=f"one of {sorted(benchmarks.BENCHMARKS)}")
    parser.add_argument("--methods", default="baseline,mce", help=f"comma-separated, among: {', '.join(METHODS)}")
    parser.add_argument(
        "--list-methods", action="store_true", help="print which method runs on which benchmark, and exit"
    )
    parser.add_argument("--rates", type=_rates, default=None, help="missing rate per modality, e.g. 0.2,0.8")
    parser.add_argument("--seeds", type=_seeds, default=(0,), help="comma-separated seeds")
    parser.add_argument(
        "--quick",
        dest="size",
        action="store_const",
        const="quick",
        default="paper",
        help="the smoke-run size (seconds on a CPU) instead of the paper's Table 1 settings",
    )
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's schedule.steps")
    parser.add_argument("--checkpoint-every", type=int, default=None, help="override schedule.checkpoint_every")
    parser.add_argument(
        "--config", type=Path, default=None, help="a TOML file overriding the recipe ([schedule], [model], [mce], ...)"
    )
    parser.add_argument(
        "--show-recipe", action="store_true", help="print the resolved recipe, each value with its source, and exit"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", type=Path, default=None, help=f"data folder (default ${DATA_ENV} or ../shared/data)")
    parser.add_argument("--out", type=Path, default=None, help="where results go (default runs/default)")
    parser.add_argument("--no-amp", action="store_true", help="no bfloat16 autocast on CUDA")
    parser.add_argument(
        "--keep-denormals",
        action="store_true",
        help="keep subnormal floats on the CPU (default: flushed to zero, a faster step once a model fits)",
    )
    parser.add_argument(
        "--workers",
        type=_at_least(0, "a number of loader workers"),
        default=None,
        help="DataLoader worker processes of the training loader (default: the recipe's, at most (CPUs - 1) // 2)",
    )
    parser.add_argument(
        "--threads",
        type=_at_least(1, "a number of threads"),
        default=None,
        help="torch's intra-op threads (default: the CPUs this process may use, less the loader workers)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache of synthetic files, MFCCs and unimodal models (default: beside --out)",
    )
    parser.add_argument(
        "--masks",
        type=Path,
        default=None,
        help="a training-mask file to use instead of drawing one: ours, PASSION's Brats2020_imb_split_mr*.csv or "
        "MCE's nuScenes_imb_*.csv (told apart by their header)",
    )
    parser.add_argument(
        "--mask-style",
        choices=STYLES,
        default=None,
        help="how masks are drawn from the rates: exact per-modality counts, independent Bernoulli cells or exact "
        "per-pattern counts (default: the benchmark's official code's; see --show-recipe)",
    )
    parser.add_argument(
        "--all-missing",
        choices=ALL_MISSING,
        default="exclude",
        help="a sample drawn with no modality: left out (the paper, Sec. 3.1), given another sample's modality "
        "(swap) or drawn again until it has one (redraw, PASSION)",
    )
    parser.add_argument(
        "--protocol",
        choices=("rates", "fig7"),
        default="rates",
        help="masks from --rates, or AVMNIST's Fig. 7: every image, audio for --audio-present of each class",
    )
    parser.add_argument(
        "--audio-present", type=_fraction, default=None, help="with --protocol fig7: the fraction with audio, e.g. 0.1"
    )
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of a data-file error")
    parser.add_argument("--resume", action="store_true", help="continue each run from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for cls in METHODS.values():
        if cls.options:
            group = parser.add_argument_group(f"options of {cls.name} ({cls.paper})")
            for option in cls.options:
                group.add_argument(
                    option.flag,
                    type=_parser(option.type),
                    default=argparse.SUPPRESS,  # absent unless given: the recipe resolves the rest
                    choices=option.choices,
                    help=f"{option.help} (default {option.default!r})",
                )
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace, methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The recipe values given on the command line: ``--steps``, ``--checkpoint-every`` and the selected methods'
    options; an option of an unselected method is an error (it would silently do nothing)."""
    given: dict[str, dict[str, Any]] = {"schedule": {}}
    for name in ("steps", "checkpoint_every"):
        if getattr(args, name) is not None:
            given["schedule"][name] = getattr(args, name)
    for name, cls in METHODS.items():
        values = {option.dest: getattr(args, option.dest) for option in cls.options if hasattr(args, option.dest)}
        if values and name not in methods:
            flags = [option.flag for option in cls.options if option.dest in values]
            raise SystemExit(f"error: {', '.join(flags)} configure {name}; add {name} to --methods")
        if values:
            given[name] = values
    return given


def _parser(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` with its ``ValueError`` message shown by argparse (which otherwise prints a generic one)."""

    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return checked
