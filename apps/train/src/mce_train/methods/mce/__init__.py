"""MCE, the method of this project (``--methods mce``).

* :mod:`~mce_train.methods.mce.method`: :class:`MCE`, the training step of Eq. 14 and its options;
* :mod:`~mce_train.methods.mce.shapley`: the per-sample Shapley values of Eq. 5 for one batch;
* :mod:`~mce_train.methods.mce.upper_bounds`: the frozen unimodal models behind U (Eq. 6).
"""

from __future__ import annotations

from mce_train.methods.mce.method import MCE

__all__ = ["MCE"]
