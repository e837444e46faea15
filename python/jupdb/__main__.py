"""``python -m jupdb``: the ``jupdb`` command (see :mod:`jupdb.cli`)."""

import sys

from .cli import main

sys.exit(main())
