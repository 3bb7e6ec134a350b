"""``python -m poselift.cli ...`` runs the ``poselift`` command."""

import sys

from poselift.cli import main

sys.exit(main())
