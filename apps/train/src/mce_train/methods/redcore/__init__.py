"""RedCore (Sun et al., AAAI 2024) as a comparison method: ``--methods redcore``.

* :mod:`~mce_train.methods.redcore.network`: :class:`RedCoreNet` (on a benchmark's own network) and
  :func:`build_redcore`;
* :mod:`~mce_train.methods.redcore.modules` and :mod:`~mce_train.methods.redcore.completion`: the variational
  encoders, the residual cross-modal encoders and the completion module they form;
* :mod:`~mce_train.methods.redcore.maps`: the per-location KL and squared error on feature maps;
* :mod:`~mce_train.methods.redcore.method`: :class:`RedCore`, the VIB + regulated-imputation objective;
* :mod:`~mce_train.methods.redcore.trace`: per-epoch ``η`` and relative advantages
  (``python -m mce_train.methods.redcore.trace``).
"""

from __future__ import annotations

from mce_train.methods.redcore.method import OFFICIAL_REGULATION, PAPER_REGULATION, RedCore
from mce_train.methods.redcore.network import RedCoreNet, build_redcore

__all__ = ["OFFICIAL_REGULATION", "PAPER_REGULATION", "RedCore", "RedCoreNet", "build_redcore"]
