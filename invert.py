#!/usr/bin/env python
"""Invert one SVDNet layer and plot input and inversion (see ``--help``)."""

import sys

try:  # importing PyTorch takes a second or two: a Ctrl-C then ends quietly as well
    from inverters.cli import main
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    main()
