"""Download the published weights of the ISMIR 2018 feature-inversion paper.

Files and where they come from:

- ``models/jamendo_augment_gen_<layer>_a<N>.npz``: the eight feature inverters,
  from the paper's code repository, github.com/saum25/ISMIR-2018 (folder
  ``models/``), pinned to the commit that holds them and checked by SHA-256.
- ``jamendo_meanstd.npz``: the Jamendo normalisation statistics (keys ``mean`` and
  ``std``). The ISMIR-2018 repository does not hold it; the copy fetched here is the
  one the same author published with SoundLIME (github.com/saum25/SoundLIME), which
  uses the same Schlueter & Grill classifier. Its content is checked, not its bytes.
- ``jamendo_augment.npz``: the SVDNet classifier the inverters were trained against.
  We know of no public copy: the ISMIR-2018 README names it as an input but the
  repository does not hold it. Without ``--base-url`` it is skipped with a warning;
  train one with this project's training script, or fetch it from a folder that has
  it with ``--base-url``.

With ``--base-url URL`` every file is fetched from ``URL/<name>`` (e.g.
``URL/models/jamendo_augment_gen_fc8_a26.npz``), the layout of ``--dest``, so a
mirror is a copy of that folder; the inverters must still match their checksums.
Every file is checked after download: Lasagne weight files must hold exactly the
keys ``param0 ... paramK``; a file that fails is removed.
"""

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

# Run as a script, so the repository root (which holds svdnet/) is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svdnet.audio import load_meanstd  # noqa: E402
from svdnet.cli import run_cli  # noqa: E402
from svdnet.download import download  # noqa: E402
from svdnet.errors import InputError  # noqa: E402
from svdnet.params import read_params  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger(__name__)

INVERTERS_URL = (
    "https://github.com/saum25/ISMIR-2018/raw/2d711110b06d86660e78c088228620a4b7946e91/models"
)
MEANSTD_URL = (
    "https://github.com/saum25/SoundLIME/raw/45ec7c1da9427fb62d7aa2763c4bdee8f8ecba53/"
    "time-frequency%20explanations/mean_std/jamendo_meanstd.npz"
)


@dataclass(frozen=True)
class WeightFile:
    """One file to fetch.

    Attributes
    ----------
    name : str
        Path relative to ``--dest`` (and to ``--base-url``).
    url : str or None
        Published address; None when no public copy is known.
    sha256 : str or None
        Expected SHA-256 digest; None when not known.
    kind : str
        ``"lasagne"`` (keys ``param0 ... paramK``) or ``"meanstd"`` (keys ``mean``, ``std``).
    """

    name: str
    url: str | None
    sha256: str | None
    kind: str


def _inverter(layer_and_epoch, sha256):
    """Describe one published inverter, e.g. ``_inverter("fc8_a26", digest)``."""
    name = f"jamendo_augment_gen_{layer_and_epoch}.npz"
    return WeightFile(f"models/{name}", f"{INVERTERS_URL}/{name}", sha256, "lasagne")


WEIGHT_FILES = (
    WeightFile("jamendo_augment.npz", None, None, "lasagne"),
    WeightFile("jamendo_meanstd.npz", MEANSTD_URL, None, "meanstd"),
    _inverter("fc8_a26", "975f3f22788eef9ead68052f61a927c98567b51b4cee8429653ee5bbf697175b"),
    _inverter("fc7_a3", "207f1269e06a845129e75e58ad7e34deb1d2efb1d0845badf2e6dd212a12d26a"),
    _inverter("mp6_a3", "65649a9496ec38c5a521831836f8a0a3c35a679b09eab71746edd285d74d4fb4"),
    _inverter("conv5_a7", "09c97df7d272d2facc33c6dc52e31e565bf662774aeb23ae4b15853ebf1a97d3"),
    _inverter("conv4_a25", "506c7ffbfd825c8ad5b39f5abd6c87584213b61cb2be538bd444c32e4250f355"),
    _inverter("mp3_a16", "663d55801858ac44b25173a693fd277170ceb75bbbfc487b0b9efe239e6a7ff9"),
    _inverter("conv2_a15", "c56f9756a53d835478490c7db1a1b2e3bd5508978967dc50710689d19c40124f"),
    _inverter("conv1_a1", "def68a9c21aa30ad76a39ad886b563fc74b674c1658f670321c09702e7744e9d"),
)


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Download the published classifier statistics and feature inverters "
        "of Mishra, Sturm & Dixon (ISMIR 2018) to the names the inversion commands use."
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=REPO_ROOT,
        help="folder to fill: NAME.npz and models/NAME.npz (default: the repository root)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="fetch every file from BASE_URL/<path under --dest> instead of the published "
        "addresses (default: the published addresses; the classifier has none)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="do not show progress bars (default: show them)",
    )
    return parser.parse_args(argv)


def check_contents(path, kind):
    """Raise an InputError unless ``path`` holds what its kind requires.

    ``"lasagne"``: exactly ``param0 ... paramK``; ``"meanstd"``: 80-band ``mean`` and ``std``.
    """
    if kind == "lasagne":
        read_params(path)
    else:
        load_meanstd(path)


def fetch_weights(dest, base_url=None, progress=True):
    """Download and check every file of :data:`WEIGHT_FILES` that has an address.

    Parameters
    ----------
    dest : Path
        Folder the relative names land in.
    base_url : str, optional
        Mirror folder replacing the published addresses.
    progress : bool
        Show progress bars.

    Returns
    -------
    list of str
        Names skipped because no address is known for them.
    """
    skipped = []
    for entry in WEIGHT_FILES:
        url = f"{base_url.rstrip('/')}/{entry.name}" if base_url else entry.url
        if url is None:
            skipped.append(entry.name)
            continue
        path = download(url, dest / entry.name, sha256=entry.sha256, progress=progress)
        try:
            check_contents(path, entry.kind)
        except BaseException:  # Ctrl-C included: an unchecked file must not stay
            path.unlink(missing_ok=True)
            raise
    return skipped


def fetch_or_fail(args):
    """:func:`fetch_weights` as the arguments say; a file system error is bad input too."""
    try:
        skipped = fetch_weights(args.dest, args.base_url, progress=not args.no_progress)
    except OSError as err:  # e.g. --dest not writable, or the disk full
        raise InputError(str(err)) from None
    for name in skipped:
        logger.warning(
            "%s: no published copy is known; train it with this project's training "
            "script or fetch it from a copy with --base-url",
            args.dest / name,
        )


def main(argv=None):
    """Command-line entry point; exits with status 2 and a one-line message on failure."""
    run_cli(fetch_or_fail, parse_args(argv))


if __name__ == "__main__":
    main()
