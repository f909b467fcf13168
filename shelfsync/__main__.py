"""python -m shelfsync → the `shelfsync` command."""

import sys

from shelfsync.cli import main

sys.exit(main())
