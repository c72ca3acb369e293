"""The frozen app's entry point: the same `sheetsync` command as the wheel's.

No arguments opens the window (``sheetsync`` alone means ``sheetsync gui``); any
argument goes to the command line (``--version``, ``--selftest``, ``sync``, ``demo``...).
"""

import multiprocessing
import sys

from sheetsync.cli import main

if __name__ == "__main__":
    # The results are written into the workbook by a second process during a sync
    # (core.writeahead); in the frozen app that process starts through this same binary.
    multiprocessing.freeze_support()
    sys.exit(main())
