"""mce-losses: the MCE objective and RedCore's supervision regulation.

LCE factors A and B; RCE losses L_single, L_sub and L_aux.

This release is the installable, versioned skeleton; the content arrives with issue #3.

>>> import mce_losses
>>> isinstance(mce_losses.__version__, str)
True
"""

from mce_losses.__about__ import __version__

__all__ = ["__version__"]
