"""Entry point: ``python apps/train/run.py [options]`` (see ``--help``)."""

import sys

from mce_train.cli import main

if __name__ == "__main__":
    sys.exit(main())
