"""RedCore (Sun et al., AAAI 2024) as a baseline method of the trainer: ``--methods redcore``.

* :mod:`~mce_train.redcore.network`: :class:`RedCoreNet` and :func:`build_redcore` (AVMNIST, IEMOCAP);
* :mod:`~mce_train.redcore.method`: :class:`RedCore`, the VIB + regulated-imputation objective;
* :mod:`~mce_train.redcore.trace`: per-epoch ``η`` and relative advantages (``python -m mce_train.redcore.trace``).
"""

from __future__ import annotations

from mce_train.redcore.method import PAPER_REGULATION, RedCore
from mce_train.redcore.network import SUPPORTED, RedCoreNet, build_redcore

__all__ = ["PAPER_REGULATION", "SUPPORTED", "RedCore", "RedCoreNet", "build_redcore"]
