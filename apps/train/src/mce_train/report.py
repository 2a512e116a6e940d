"""Results over seeds: the JSON record and the markdown table (per subset and mean, mean ± std [95% CI])."""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mce_train.statistics import summarize


def git_commit(repo: Path | None) -> str:
    """The checkout's commit (with ``-dirty`` when it has changes), or ``"unknown"`` (no checkout, no git)."""
    if repo is None:
        return "unknown"
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def table(per_seed: Sequence[dict[str, Any]], methods: Sequence[str], metric: str) -> str:
    """A markdown table: one row per method, one column per subset and the mean over subsets."""
    subsets = list(per_seed[0]["methods"][methods[0]]["test"])
    lines = [
        f"| method | {' | '.join(subsets)} | mean |",
        "| --- |" + " --- |" * (len(subsets) + 1),
    ]
    for method in methods:
        cells = []
        for subset in subsets:
            cells.append(str(summarize([r["methods"][method]["test"][subset][metric] for r in per_seed])))
        means = [sum(r["methods"][method]["test"][s][metric] for s in subsets) / len(subsets) for r in per_seed]
        cells.append(str(summarize(means)))
        lines.append(f"| {method} | {' | '.join(cells)} |")
    return "\n".join(lines)


def mask_line(modalities: Sequence[str], config: dict[str, Any], per_seed: Sequence[dict[str, Any]]) -> str:
    """One line on the training masks actually used: realised missing rates (over the samples kept, mean over
    seeds) beside those asked for, and how many samples each seed left out."""
    realised = ", ".join(
        f"{m} {got:.3f} (asked {asked:g})"
        for m, got, asked in zip(modalities, config["realised_missing_rates"], config["rates"], strict=True)
    )
    left_out = ", ".join(str(r["n_excluded"]) for r in per_seed)
    first = per_seed[0]
    return (
        f"training masks ({first['mask_style']}, all-missing {first['all_missing']}): realised missing rates "
        f"{realised}; samples left out per seed: {left_out}"
    )


def summary(per_seed: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """``{method: {subset or "mean": {metric: {mean, std, low, high, n}}}}`` over seeds (95% CI)."""
    out: dict[str, Any] = {}
    for method in methods:
        tests = [r["methods"][method]["test"] for r in per_seed]
        subsets = list(tests[0])
        metrics = list(tests[0][subsets[0]])
        rows: dict[str, Any] = {}
        for subset in subsets:
            rows[subset] = {m: asdict(summarize([t[subset][m] for t in tests])) for m in metrics}
        rows["mean"] = {
            m: asdict(summarize([sum(t[s][m] for s in subsets) / len(subsets) for t in tests])) for m in metrics
        }
        out[method] = rows
    return out


def write(
    out: Path,
    config: dict[str, Any],
    per_seed: Sequence[dict[str, Any]],
    methods: Sequence[str],
    metric: str,
    commit: str,
) -> str:
    """Write ``results.json`` and ``results.md`` (a table per metric) under ``out``; return ``metric``'s table.

    ``commit`` is the :func:`git_commit` the run started from (taken before training: a checkout that moves
    during a long run must not be recorded as the code that ran)."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = table(per_seed, methods, metric)
    first = per_seed[0]["methods"][methods[0]]["test"]
    names = [metric] + [m for m in next(iter(first.values())) if m != metric]
    record = {
        "summary": summary(per_seed, methods),
        "config": config,
        "git_commit": commit,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "metric": metric,
        "per_seed": list(per_seed),
        "table": markdown,
    }
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str))
    seeds = ", ".join(str(s) for s in config.get("seeds", []))
    sections = [f"## {name} (%)\n\n{table(per_seed, methods, name)}\n" for name in names]
    header = f"# {config.get('benchmark')}: test split, every modality subset; mean ± std [95% CI] over seeds {seeds}\n"
    (out / "results.md").write_text(header + "\n" + "\n".join(sections))
    return markdown
