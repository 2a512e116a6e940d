"""The package is installed with metadata that matches its single version source."""

from importlib.metadata import version

import mce_recon


def test_installed_version_matches_version_source() -> None:
    assert version("mce-recon") == mce_recon.__version__
