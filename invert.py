#!/usr/bin/env python
"""Invert one SVDNet layer and plot input and inversion (see ``--help``)."""

from inverters.cli import main

if __name__ == "__main__":
    main()
