"""``python -m vta``: the same command line as the ``vta`` console script."""

import sys

from .cli import main

sys.exit(main())
