"""The tables of ``docs/RESULTS.md``, each built from the ``results.json`` records of one table's runs.

Keyed as :func:`mce_train.evidence.collect` finds them (``"main/0.2-0.8"``, ``"ablation/a"``, ...); every cell is
mean ± std [95% CI] over seeds, and the "MCE - X (paired)" rows are the same statistics of the seed-by-seed
differences (every method of a seed saw the same masks and splits).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mce_losses import ABLATION_ROWS
from mce_train import plotting
from mce_train.analysis import markdown_table
from mce_train.statistics import summarize

Record = dict[str, Any]

METHOD_NAMES = {"baseline": "baseline", "redcore": "RedCore", "mce": "MCE"}
IEMOCAP_SETTINGS = {  # the paper's (A, L, V) missing rates; our column order is (A, V, L)
    "a": (0.2, 0.5, 0.8),
    "b": (0.2, 0.8, 0.5),
    "c": (0.5, 0.2, 0.8),
    "d": (0.5, 0.8, 0.2),
    "e": (0.8, 0.2, 0.5),
    "f": (0.8, 0.5, 0.2),
}


def load(path: Path) -> Record:
    """A ``results.json``, with a clear error when it is absent or not a finished run's record."""
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}: run scripts/evidence.sh for that table first")
    record: Record = json.loads(path.read_text())
    for key in ("config", "per_seed", "git_commit", "machine"):
        if key not in record:
            raise ValueError(f"{path} is not a results.json of apps/train/run.py: it has no {key!r}")
    return record


def per_seed_scores(record: Record, method: str) -> dict[str, list[float]]:
    """``{subset or "mean": [score per seed]}`` of ``method``'s test split, in the record's metric."""
    metric = record["metric"]
    tests = [seed["methods"][method]["test"] for seed in record["per_seed"]]
    subsets = list(tests[0])
    scores = {subset: [t[subset][metric] for t in tests] for subset in subsets}
    scores["mean"] = [sum(t[s][metric] for s in subsets) / len(subsets) for t in tests]
    return scores


def cell(values: Sequence[float], signed: bool = False) -> str:
    """``mean ± std [low, high]`` (95% CI over seeds; the mean alone for one seed); ``signed`` puts ``+``
    before positive numbers."""
    s = summarize(values)

    def number(x: float) -> str:
        text = f"{x:+.2f}" if signed else f"{x:.2f}"
        return text.replace("-0.00", "+0.00" if signed else "0.00")  # no negative zero from rounding

    if s.n == 1:  # no spread and no interval from one seed
        return number(s.mean)
    return f"{number(s.mean)} ± {s.std:.2f} [{number(s.low)}, {number(s.high)}]"


def method_table(record: Record, against: str = "baseline") -> str:
    """One row per method, one column per subset and the mean; then MCE's paired difference to each
    other method (seed by seed: every method of a seed saw the same masks and splits)."""
    methods = list(record["config"]["methods"])
    scores = {m: per_seed_scores(record, m) for m in methods}
    columns = list(scores[methods[0]])
    rows = [[METHOD_NAMES.get(m, m), *(cell(scores[m][c]) for c in columns)] for m in methods]
    if "mce" in methods:
        for other in [against] + [m for m in methods if m not in ("mce", against)]:
            if other not in methods:
                continue
            diffs = [cell(subset_diff(scores["mce"][c], scores[other][c]), signed=True) for c in columns]
            rows.append([f"MCE - {METHOD_NAMES.get(other, other)} (paired)", *diffs])
    return markdown_table(["method", *columns], rows)


def _setting(rates: Sequence[float], names: Sequence[str], digits: int | None = None) -> str:
    return ", ".join(
        f"{n} {r:g}" if digits is None else f"{n} {r:.{digits}f}" for n, r in zip(names, rates, strict=True)
    )


def main_tables(records: dict[str, Record]) -> str:
    """Per setting of ``main/``: the per-method table with the missing rates as its heading."""
    parts = []
    for name, record in records.items():
        if not name.startswith("main/"):
            continue
        subsets = per_seed_scores(record, record["config"]["methods"][0])
        modalities = [s for s in subsets if "+" not in s and s != "mean"]
        seeds = len(record["per_seed"])
        heading = f"Missing rates ({_setting(record['config']['rates'], modalities)}), {seeds} seeds"
        realised = record["config"].get("realised_missing_rates")
        if realised is not None:  # mce-train 0.2: the rates training saw, and the samples left out for them
            left_out = ", ".join(str(seed.get("n_excluded", 0)) for seed in record["per_seed"])
            heading += (
                f"; realised over the samples kept ({record['config'].get('all_missing')}):"
                f" {_setting(realised, modalities, digits=3)}; samples left out per seed: {left_out}"
            )
        parts.append(f"**{heading}**\n\n{method_table(record)}")
    return "\n\n".join(parts)


def ablation_table(records: dict[str, Record]) -> str:
    """Table 2 on AudiovisionMNIST: the switches of each row, MCE's test accuracy per subset and mean,
    and each row's paired difference to row a (every row of a seed trains on that seed's one mask)."""
    rows = []
    base = per_seed_scores(records["ablation/a"], "mce")["mean"] if "ablation/a" in records else None
    for row, switches in ABLATION_ROWS.items():
        name = f"ablation/{row}"
        if row == "m" and name not in records:  # full MCE: main/0.2-0.8's, unless a run of its own is there
            name = "main/0.2-0.8"
        if name not in records:
            continue
        config = records[name]["config"]
        if config.get("ablation", "m") != row or tuple(config["rates"]) != (0.2, 0.8):
            raise ValueError(
                f"{name} ran row {config.get('ablation')} at rates {config['rates']}; want row {row} at (0.2, 0.8)"
            )
        scores = per_seed_scores(records[name], "mce")
        marks = ["✓" if getattr(switches, s) else "" for s in ("a", "b", "single", "sub", "aux")]
        paired = [] if base is None else [cell(subset_diff(scores["mean"], base), signed=True)]
        rows.append([row, *marks, *(cell(v) for v in scores.values()), *paired])
    first = next(r for n, r in records.items() if n.startswith("ablation/"))
    subsets = list(per_seed_scores(first, "mce"))
    extra = [] if base is None else ["mean - row a (paired)"]
    return markdown_table(["row", "A", "B", "L_single", "L_sub", "L_aux", *subsets, *extra], rows)


def fig7_rows(records: dict[str, Record]) -> list[tuple[int, Record]]:
    """``(audio present %, record)`` of the Fig. 7 sweep, in order."""
    found = []
    for name, record in records.items():
        match = re.fullmatch(r"fig7/audio(\d+)", name)
        if match:
            found.append((int(match.group(1)), record))
    return sorted(found, key=lambda item: item[0])


def fig7_table(records: dict[str, Record]) -> str:
    """Fig. 7 as a table: image-only and image+audio test accuracy per method at each audio rate."""
    sweep = fig7_rows(records)
    methods = list(sweep[0][1]["config"]["methods"])
    header = ["audio present"]
    for subset in ("image", "image+audio"):
        header += [f"{METHOD_NAMES.get(m, m)}: {subset}" for m in methods]
    paired = {"mce", "baseline"} <= set(methods)
    if paired:
        header.append("MCE - baseline: image+audio (paired)")
    rows = []
    for percent, record in sweep:
        scores = {m: per_seed_scores(record, m) for m in methods}
        row = [f"{percent}%"]
        for subset in ("image", "image+audio"):
            row += [cell(scores[m][subset]) for m in methods]
        if paired:
            row.append(cell(subset_diff(scores["mce"]["image+audio"], scores["baseline"]["image+audio"]), signed=True))
        rows.append(row)
    return markdown_table(header, rows)


def subset_diff(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Seed-by-seed differences ``a - b``."""
    return [x - y for x, y in zip(a, b, strict=True)]


def fig7_plot(records: dict[str, Record], path: Path) -> Path:
    """Fig. 7 (left and middle): image-only and image+audio accuracy against the audio rate, with 95% CIs."""
    sweep = fig7_rows(records)
    methods = list(sweep[0][1]["config"]["methods"])
    x = [p for p, _ in sweep]
    figure, axes = plotting.subplots(1, 2, figsize=(10, 4), sharex=True)
    for axis, subset in zip(axes, ("image", "image+audio"), strict=True):
        for method in methods:
            stats = [summarize(per_seed_scores(r, method)[subset]) for _, r in sweep]
            axis.errorbar(x, [s.mean for s in stats], yerr=[s.high - s.mean for s in stats], capsize=3, marker="o")
            axis.lines[-1].set_label(METHOD_NAMES.get(method, method))
        axis.set_title(f"evaluated on {subset}")
        axis.set_xlabel("audio present in training (%)")
        axis.set_ylabel("test accuracy (%)")
        axis.legend()
    return plotting.save(figure, path)


def iemocap_tables(records: dict[str, Record]) -> str:
    """Per setting a to f: the per-method table over the seven subsets."""
    parts = []
    for setting, paper in IEMOCAP_SETTINGS.items():
        record = records.get(f"iemocap/{setting}")
        if record is None:
            continue
        acoustic, lexical, visual = paper  # the runs' rates are in the loader's order (A, V, L)
        if tuple(record["config"]["rates"]) != (acoustic, visual, lexical):
            raise ValueError(
                f"iemocap/{setting} ran at rates {record['config']['rates']} (acoustic, visual, lexical); setting "
                f"{setting} is {(acoustic, visual, lexical)} in that order"
            )
        seeds = len(record["per_seed"])
        heading = f"**Setting {setting}: missing rates (acoustic, lexical, visual) = {paper}, {seeds} seeds**"
        parts.append(f"**{heading}**\n\n{method_table(record)}")
    return "\n\n".join(parts)


TRACE_EPOCHS = (1, 2, 5, 10, 20)


def trace_table(runs: Path) -> str | None:
    """Factor B over training, from ``main/0.2-0.8``'s ``traces-mce-seed<k>.csv`` (the traces analysis):
    per modality, the mean batch B at a few epochs and the first step at which it falls below 0.01."""
    files = sorted((runs / "main" / "0.2-0.8" / "analysis").glob("traces-mce-seed*.csv"))
    if not files:
        return None
    per_seed = [list(csv.DictReader(f.open())) for f in files]
    rows = []
    for modality in dict.fromkeys(r["modality"] for r in per_seed[0]):
        traces = [[r for r in seed if r["modality"] == modality] for seed in per_seed]
        cells = [modality]
        for epoch in TRACE_EPOCHS:
            values = [float(t[epoch - 1]["batch_b"]) for t in traces if len(t) >= epoch]
            cells.append(f"{summarize(values).mean:.2f}" if values else "-")  # a run shorter than that
        ends = [next((int(r["last_step"]) for r in t if float(r["batch_b"]) < 0.01), None) for t in traces]
        found = [float(e) for e in ends if e is not None]
        if not found:
            cells.append(f"never (0 of {len(ends)} seeds)")
        else:
            cells.append(cell(found) + (f" ({len(found)} of {len(ends)} seeds)" if len(found) < len(ends) else ""))
        rows.append(cells)
    header = ["modality", *(f"B, epoch {e}" for e in TRACE_EPOCHS), "first step with B < 0.01"]
    return markdown_table(header, rows)


def iemocap_summary(records: dict[str, Record]) -> str:
    """One row per setting: each method's mean over the seven subsets, and MCE's paired differences."""
    rows, methods = [], None
    for setting, paper in IEMOCAP_SETTINGS.items():
        record = records.get(f"iemocap/{setting}")
        if record is None:
            continue
        methods = methods or list(record["config"]["methods"])
        means = {m: per_seed_scores(record, m)["mean"] for m in methods}
        others = [m for m in methods if m != "mce"] if "mce" in methods else []
        rows.append(
            [
                f"{setting} {paper}",
                *(cell(means[m]) for m in methods),
                *(cell(subset_diff(means["mce"], means[m]), signed=True) for m in others),
            ]
        )
    assert methods is not None
    others = [m for m in methods if m != "mce"] if "mce" in methods else []
    header = [
        "setting (A, L, V)",
        *(METHOD_NAMES.get(m, m) for m in methods),
        *(f"MCE - {METHOD_NAMES.get(m, m)} (paired)" for m in others),
    ]
    return markdown_table(header, rows)


def provenance_table(records: dict[str, Record]) -> str:
    """Where each record came from: the commit, the machine, the data, the settings that differ."""
    rows = []
    for name, record in records.items():
        config, machine = record["config"], record["machine"]
        rows.append(
            [
                f"`{name}`",
                f"`{record['git_commit'][:12]}`",
                f"{machine['platform']}, torch {machine['torch']}, {machine['threads']} thread(s)",
                config.get("size", "?") + (f", {config['steps']} steps" if config.get("steps") else ""),
                ", ".join(str(s) for s in config["seeds"]),
                masks_of(record),
                record["per_seed"][0]["data"].split(" in ")[0],
            ]
        )
    return markdown_table(["record", "commit", "machine", "size", "seeds", "masks", "data"], rows)


def masks_of(record: Record) -> str:
    """How a record's training masks were drawn: the style and the all-missing mode, or the protocol.

    Records of mce-train 0.1 name no style (they drew exact counts) and call today's ``swap`` ``redraw``.
    """
    config, seed = record["config"], record["per_seed"][0]
    if config.get("protocol", "rates") != "rates":
        return f"{config['protocol']} protocol"
    mode = config.get("all_missing", "redraw")
    if "mask_style" not in seed:  # mce-train 0.1: its "redraw" is today's "swap"
        return f"counts, {'swap' if mode == 'redraw' else mode}"
    return f"{seed['mask_style']}, {mode}"
