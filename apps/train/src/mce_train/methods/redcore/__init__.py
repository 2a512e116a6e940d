"""RedCore (Sun et al., AAAI 2024) as a comparison method: ``--methods redcore``.

* :mod:`~mce_train.methods.redcore.network`: :class:`RedCoreNet` and :func:`build_redcore`;
* :mod:`~mce_train.methods.redcore.method`: :class:`RedCore`, the VIB + regulated-imputation objective;
* :mod:`~mce_train.methods.redcore.trace`: per-epoch ``η`` and relative advantages
  (``python -m mce_train.methods.redcore.trace``).
"""

from __future__ import annotations

from mce_train.methods.redcore.method import PAPER_REGULATION, RedCore
from mce_train.methods.redcore.network import RedCoreNet, build_redcore

__all__ = ["PAPER_REGULATION", "RedCore", "RedCoreNet", "build_redcore"]
