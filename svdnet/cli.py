"""What the command-line tools share: their common options and the bad-input exit."""

import logging
import sys
from pathlib import Path

from svdnet.allocator import keep_freed_memory
from svdnet.device import DEVICE_CHOICES
from svdnet.errors import InputError, TrainingDiverged


def add_dataset_options(p, meanstd_default="<dataset>_meanstd.npz beside CLASSIFIER"):
    """``--dataset``, ``--dataset-path``, ``--meanstd`` and ``--cache-spectra``."""
    p.add_argument("--dataset", default="jamendo", help="dataset name (default: jamendo)")
    p.add_argument(
        "--dataset-path", default=".", help="folder holding datasets/<dataset>/ (default: .)"
    )
    p.add_argument(
        "--meanstd",
        type=Path,
        metavar="FILE",
        help=f"standardisation file (default: {meanstd_default})",
    )
    p.add_argument("--cache-spectra", metavar="DIR", help="cache spectrograms here (default: off)")


def add_device_option(p, default="auto"):
    """``--device cpu|cuda|auto``."""
    p.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=default,
        help=f"cpu, cuda or auto, which takes cuda when available (default: {default})",
    )


def add_training_options(p, epochs):
    """``--epochs``, ``--batchsize``, ``--seed`` and ``--resume``, shared by both trainers."""
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default: {epochs})")
    p.add_argument("--batchsize", type=int, default=32, help="excerpts per batch (default: 32)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--resume", action="store_true", help="continue from OUT.ckpt (default: start afresh)"
    )


def add_json_option(p):
    """``--json``: the results as one JSON line at the end."""
    p.add_argument(
        "--json", action="store_true", help="print the results as one JSON line (default: table)"
    )


def check_minimums(parser, args, minimums):
    """Exit through ``parser.error`` (status 2) if an option is below its minimum.

    ``minimums`` maps attribute names to the least allowed value; ``None`` passes.
    """
    for name, minimum in minimums.items():
        value = getattr(args, name)
        if value is not None and value < minimum:
            parser.error(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


def run_cli(run, *args, **kwargs):
    """Call ``run``; bad input or a diverged run ends with one line on stderr and status 2.

    Freed memory is kept for reuse (:func:`svdnet.allocator.keep_freed_memory`), which
    makes the networks' CPU passes up to twice as fast.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()
    try:
        return run(*args, **kwargs)
    except (InputError, TrainingDiverged) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
