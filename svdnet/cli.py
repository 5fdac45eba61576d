"""What the command-line tools share: their common options and the bad-input exit.

Option values are checked by the ``type=`` helpers below, so a bad one ends in
argparse's usage message and status 2 before any work starts; bad files found later
end in one ``error: ...`` line and status 2 through :func:`run_cli`.
"""

import argparse
import json
import logging
import math
import signal
import sys
from pathlib import Path

from tqdm import tqdm

from svdnet.allocator import keep_freed_memory
from svdnet.errors import InputError, TrainingDiverged

# Exit status of a run stopped by Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED_STATUS = 130
# torch.manual_seed takes seeds below 2**64; numpy takes any non-negative integer.
SEED_LIMIT = 2**64


def _number(text, convert):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def finite_float(text):
    """argparse ``type``: a float that is neither NaN nor infinite."""
    value = _number(text, float)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text):
    """argparse ``type``: a finite float above 0 (learning rates, durations)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def non_negative_float(text):
    """argparse ``type``: a finite float of at least 0 (times in seconds, loss weights)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text!r}")
    return value


def probability(text):
    """argparse ``type``: a finite float from 0 to 1 (chances)."""
    value = finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text!r}")
    return value


def non_negative_int(text):
    """argparse ``type``: an integer of at least 0 (epochs, workers, indices)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text!r}")
    return value


def positive_int(text):
    """argparse ``type``: an integer of at least 1 (sizes, counts, steps)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def random_seed(text):
    """argparse ``type``: a random seed both numpy and torch accept (0 to 2**64 - 1)."""
    value = non_negative_int(text)
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be below 2**64, got {text!r}")
    return value


def add_classifier_argument(p):
    """The positional ``classifier``: SVDNet weights in the Lasagne format."""
    p.add_argument("classifier", type=Path, help="SVDNet weights, Lasagne format (.npz)")


def add_models_option(p):
    """``--models``: the folder of the ``<dataset>_augment_gen_<layer>.npz`` inverters."""
    p.add_argument(
        "--models",
        type=Path,
        default=Path("models"),
        help="folder of the <dataset>_augment_gen_<layer>.npz inverters (default: models)",
    )


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


def add_bf16_option(p):
    """``--bf16``: bfloat16 autocast in training."""
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16 autocast: 1.3 to 2.3 times as fast per step on CPUs with AVX512-BF16 "
        "or AMX (measured), and on recent GPUs; far slower on CPUs without them; weights "
        "stay float32 (default: float32 throughout)",
    )


def add_device_option(p, default="auto"):
    """``--device cpu|cuda|auto``."""
    # Imported here: torch is slow to import, and tools without a device need none.
    from svdnet.device import DEVICE_CHOICES

    p.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=default,
        help=f"cpu, cuda or auto, which takes cuda when available (default: {default})",
    )


def add_training_options(p, epochs):
    """``--epochs``, ``--batchsize``, ``--seed`` and ``--resume``, shared by both trainers."""
    p.add_argument(
        "--epochs", type=non_negative_int, default=epochs, help=f"epochs (default: {epochs})"
    )
    p.add_argument(
        "--batchsize", type=positive_int, default=32, help="excerpts per batch (default: 32)"
    )
    p.add_argument("--seed", type=random_seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--resume", action="store_true", help="continue from OUT.ckpt (default: start afresh)"
    )


def add_json_option(p):
    """``--json``: the results as one JSON line at the end."""
    p.add_argument(
        "--json", action="store_true", help="print the results as one JSON line (default: table)"
    )


def print_results(results, as_json, table):
    """Print ``results`` as one JSON line (``as_json``) or as the text ``table``."""
    print(json.dumps(results) if as_json else table)


def run_cli(run, *args, **kwargs):
    """Call ``run``; bad input or a diverged run ends with one line on stderr and status 2.

    Ctrl-C ends with ``interrupted`` on stderr and status 130; files being written are
    removed by their atomic writers on the way out. Freed memory is kept for reuse
    (:func:`svdnet.allocator.keep_freed_memory`), which makes the networks' CPU passes
    up to twice as fast.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: KeyboardInterrupt
    try:
        return run(*args, **kwargs)
    except (InputError, TrainingDiverged) as err:
        _fail(f"error: {err}", 2)
    except KeyboardInterrupt:
        _fail("interrupted", INTERRUPTED_STATUS)


def _fail(message, status):
    # A progress bar cut short by the exception is still open on the last line: close
    # it first, which ends its line, so the message stands on a line of its own.
    for bar in list(tqdm._instances):
        bar.close()
    # One write of the whole line: the processes of a distributed run share stderr, and
    # print's separate write of the newline let their lines run together.
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()
    sys.exit(status)
