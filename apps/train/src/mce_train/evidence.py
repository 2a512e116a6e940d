"""``docs/RESULTS.md``'s tables, rebuilt from the raw results that ``bash scripts/evidence.sh`` writes.

``python -m mce_train.evidence --runs runs/evidence --doc docs/RESULTS.md --raw docs/results``

It reads this layout under ``--runs``:

* ``main/<image>-<audio>/results.json``: AudiovisionMNIST, baseline, RedCore and MCE at one setting;
* ``ablation/<row>/results.json``: AudiovisionMNIST at (0.2, 0.8), MCE with Table 2's row ``<row>``
  (row m, full MCE, is ``ablation/m`` when present, else the ``mce`` of ``main/0.2-0.8``: the same seeds,
  masks and settings; keep the rows of one table from one protocol and one commit);
* ``fig7/audio<percent>/results.json``: AudiovisionMNIST with every image and ``<percent>``% of the audio;
* ``iemocap/<setting>/results.json``: the synthetic IEMOCAP at the paper's settings a to f;
* ``extra/<name>/results.json``: any other run, as its per-method table in the block ``extra/<name>``;
* ``text/<name>.md``: printed tables (the analyses, the step-overhead benchmark), embedded as they are.

Each table replaces the text between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` in ``--doc``;
the prose around the markers stays. Every ``results.json`` is copied under ``--raw`` (as
``<table>/<run>.json``), so the numbers in the document sit next to the records they came from.
"""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from mce_train.evidence_tables import (
    Record,
    ablation_table,
    cell,
    fig7_plot,
    fig7_table,
    iemocap_summary,
    iemocap_tables,
    load,
    main_tables,
    method_table,
    provenance_table,
    trace_table,
)

__all__ = ["cell", "collect", "main", "render", "replace_block"]


def collect(runs: Path) -> dict[str, Record]:
    """Every ``<table>/<run>/results.json`` under ``runs``, keyed ``"<table>/<run>"``, in sorted order."""
    found = sorted(runs.glob("*/*/results.json"))
    if not found and not list((runs / "text").glob("*.md")):
        raise FileNotFoundError(f"no */*/results.json nor text/*.md under {runs}: run scripts/evidence.sh first")
    return {f"{p.parent.parent.name}/{p.parent.name}": load(p) for p in found}


def replace_block(doc: str, name: str, body: str) -> str:
    """``doc`` with the text between ``<!-- table:name -->`` and ``<!-- /table:name -->`` set to ``body``."""
    start, end = f"<!-- table:{name} -->", f"<!-- /table:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(doc):
        raise ValueError(f"the document has no {start} ... {end} block for the {name!r} table")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", doc)


def _reader(path: Path) -> Callable[[], str]:
    return lambda: path.read_text().strip()


def render(runs: Path, doc: str, raw: Path) -> str:
    """``doc`` with every block it has filled from ``runs``; copies the raw records under ``raw``."""
    records = collect(runs)
    for name in records:
        target = raw / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(runs / name / "results.json", target)
    builders: dict[str, Callable[[], str]] = {}
    if records:
        builders["provenance"] = lambda: provenance_table(records)
    tables: dict[str, tuple[str, Callable[[dict[str, Record]], str]]] = {
        "main": ("main/", main_tables),
        "ablation": ("ablation/", ablation_table),
        "fig7": ("fig7/", fig7_table),
        "iemocap": ("iemocap/", iemocap_tables),
        "iemocap-summary": ("iemocap/", iemocap_summary),
    }
    for table, (prefix, build) in tables.items():
        if any(n.startswith(prefix) for n in records):  # a table not rerun keeps its block as it is
            builders[table] = partial(build, records)
    if "fig7" in builders:
        fig7_plot(records, raw / "fig7.png")
    for name, record in records.items():  # any other run: its per-method table, in a block of its name
        if name.startswith("extra/"):
            builders[name] = partial(method_table, record)
    traces = trace_table(runs)
    if traces is not None:
        builders["traces"] = lambda: traces
    for path in sorted((runs / "text").glob("*.md")):
        builders[path.stem] = _reader(path)
    for name, build_block in builders.items():
        if f"<!-- table:{name} -->" in doc:
            doc = replace_block(doc, name, build_block())
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mce_train.evidence", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, required=True, help="the folder scripts/evidence.sh wrote")
    parser.add_argument("--doc", type=Path, required=True, help="the markdown file whose table blocks are rebuilt")
    parser.add_argument("--raw", type=Path, required=True, help="where the results.json files are copied")
    args = parser.parse_args(argv)
    try:
        doc = render(args.runs, args.doc.read_text(), args.raw)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    args.doc.write_text(doc)
    print(f"wrote {args.doc} and the raw records under {args.raw}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
