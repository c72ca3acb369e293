"""The frozen app's entry point: the same `sheetsync` command as the wheel's.

No arguments opens the window (``sheetsync`` alone means ``sheetsync gui``); any
argument goes to the command line (``--version``, ``--selftest``, ``sync``, ``demo``...).
"""

import sys

from sheetsync.cli import main

if __name__ == "__main__":
    sys.exit(main())
