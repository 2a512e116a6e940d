"""mce-recon: the transformer reconstruction (completion) module of MCE (paper Eq. 15).

This release is the installable, versioned skeleton; the content arrives with issue #3.

>>> import mce_recon
>>> isinstance(mce_recon.__version__, str)
True
"""

from mce_recon.__about__ import __version__

__all__ = ["__version__"]
