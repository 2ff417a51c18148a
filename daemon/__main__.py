"""``python -m daemon``: the same as the ``gatecam`` command."""

import sys

from daemon.cli.main import main

sys.exit(main())
