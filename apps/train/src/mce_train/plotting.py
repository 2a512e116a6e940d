"""PNG figures of the analyses and the evidence: matplotlib without a display, saved one way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def subplots(rows: int = 1, columns: int = 1, **options: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` on the headless ``Agg`` backend (matplotlib is imported only when plotting)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot.subplots(rows, columns, **options)


def save(figure: Figure, path: Path) -> Path:
    """Lay ``figure`` out, write it to ``path`` as a 120-dpi PNG (creating the folder) and close it."""
    from matplotlib import pyplot

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
