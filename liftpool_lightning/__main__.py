"""``python -m liftpool_lightning``: the ``liftpool`` command."""

import sys

from liftpool_lightning.cli import main

if __name__ == "__main__":
    sys.exit(main())
