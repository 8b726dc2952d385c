"""``python -m nasplug``: the ``nasplug`` command."""

import sys

from nasplug.cli import main

sys.exit(main())
