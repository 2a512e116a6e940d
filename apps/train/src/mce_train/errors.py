"""The app's own error: a setting that cannot work, found before training starts."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A setting that cannot work (a mask file drawn for another dataset, a checkpoint made with
    other settings, ...); the command line turns it into a one-line error and exit status 1."""
