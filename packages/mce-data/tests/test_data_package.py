"""The package is installed with metadata that matches its single version source."""

from importlib.metadata import version

import mce_data


def test_installed_version_matches_version_source() -> None:
    assert version("mce-data") == mce_data.__version__
