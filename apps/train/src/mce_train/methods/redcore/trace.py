"""Per-epoch trace of RedCore's supervision ``η`` and relative advantages (the paper's Fig. 5).

Reads the ``eta_<m>`` and ``advantage_<m>`` columns the redcore method writes to ``train_log.csv``
and writes, per epoch, the mean over the epoch's steps and the value at its last step, as CSV and
as a two-panel PNG::

    python -m mce_train.methods.redcore.trace --run runs/default/runs/redcore-seed0

Epochs come from the log's ``epoch`` column (logged by the method), or from ``--steps-per-epoch``.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from mce_train import plotting


def _modalities(fields: Sequence[str]) -> list[str]:
    names = [f[len("eta_") :] for f in fields if f.startswith("eta_")]
    missing = [f"advantage_{n}" for n in names if f"advantage_{n}" not in fields]
    if not names or missing:
        raise ValueError(f"the log needs eta_<m> and advantage_<m> columns (a redcore run); got columns {list(fields)}")
    return names


def epoch_trace(log: Path, steps_per_epoch: int | None = None) -> list[dict[str, float]]:
    """One row per epoch: ``epoch``, ``steps``, and per modality ``eta_<m>``/``advantage_<m>`` (epoch means)
    and ``eta_<m>_last``/``advantage_<m>_last`` (at the epoch's last step).

    Args:
        log: a redcore run's ``train_log.csv``.
        steps_per_epoch: group steps ``1..k`` as epoch 0, ... (the log's ``epoch`` column when None).

    Raises:
        ValueError: no eta/advantage columns, or no way to tell the epochs.
    """
    with log.open(newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    names = _modalities(fields)
    if steps_per_epoch is None and "epoch" not in fields:
        raise ValueError(f"{log} has no epoch column: give steps_per_epoch")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1; got {steps_per_epoch}")
    keys = [f"{kind}_{n}" for kind in ("eta", "advantage") for n in names]
    groups: dict[int, list[dict[str, float]]] = {}
    for row in rows:
        if any(row.get(k, "") in ("", None) for k in keys):
            continue
        step = int(float(row["step"]))
        epoch = (step - 1) // steps_per_epoch if steps_per_epoch is not None else int(float(row["epoch"]))
        groups.setdefault(epoch, []).append({"step": float(step), **{k: float(row[k]) for k in keys}})
    trace = []
    for epoch in sorted(groups):
        steps = sorted(groups[epoch], key=lambda r: r["step"])
        out: dict[str, float] = {"epoch": float(epoch), "steps": float(len(steps))}
        for key in keys:
            out[key] = sum(r[key] for r in steps) / len(steps)
        for key in keys:
            out[f"{key}_last"] = steps[-1][key]
        trace.append(out)
    return trace


def write_trace(
    run: Path, out: Path | None = None, steps_per_epoch: int | None = None, plot: bool = True
) -> tuple[Path, Path | None]:
    """Write ``redcore_trace.csv`` and ``redcore_trace.png`` for the run folder ``run`` into ``out`` (default ``run``).

    ``run`` is the folder holding ``train_log.csv`` (e.g. ``<out>/runs/redcore-seed0``) or the log itself.
    Returns the CSV path and the PNG path (None without ``plot``).
    """
    log = run if run.is_file() else run / "train_log.csv"
    if not log.is_file():
        raise FileNotFoundError(f"no train_log.csv at {run}")
    trace = epoch_trace(log, steps_per_epoch)
    if not trace:
        raise ValueError(f"{log} has no logged step with eta/advantage values")
    folder = out or log.parent
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "redcore_trace.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(trace[0]))
        writer.writeheader()
        for row in trace:
            writer.writerow({k: (int(v) if k in ("epoch", "steps") else f"{v:.8g}") for k, v in row.items()})
    if not plot:
        return csv_path, None
    png_path = folder / "redcore_trace.png"
    with log.open(newline="") as f:
        names = _modalities(next(csv.reader(f), []))
    _plot(trace, names, png_path)
    return csv_path, png_path


def _plot(trace: list[dict[str, float]], names: list[str], path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in trace]
    figure, (top, bottom) = plotting.subplots(2, 1, figsize=(6.0, 6.0), sharex=True)
    for name in names:
        top.plot(epochs, [r[f"eta_{name}_last"] for r in trace], marker="o", label=name)
        bottom.plot(epochs, [r[f"advantage_{name}"] for r in trace], marker="o", label=name)
    bottom.axhline(0.0, color="grey", linewidth=0.8)
    top.set_ylabel("supervision η (end of epoch)")
    bottom.set_ylabel("relative advantage (epoch mean)")
    bottom.set_xlabel("epoch")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.legend()
    top.set_title("RedCore supervision regulation")
    plotting.save(figure, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mce_train.methods.redcore.trace", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--run", type=Path, required=True, help="a redcore run folder (holding train_log.csv)")
    parser.add_argument("--out", type=Path, default=None, help="where the CSV and PNG go (default: the run folder)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="when the log has no epoch column")
    parser.add_argument("--no-plot", action="store_true", help="the CSV only")
    args = parser.parse_args(argv)
    try:
        csv_path, png_path = write_trace(args.run, args.out, args.steps_per_epoch, plot=not args.no_plot)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"trace: {csv_path}" + (f" and {png_path}" if png_path else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
