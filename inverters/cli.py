"""Command line of the inversion run; ``invert.py`` and ``svdnet-invert`` call :func:`main`."""

import argparse
from pathlib import Path

from inverters.inversion import run_inversion
from inverters.sonify import PHASES
from svdnet.cli import non_negative_float, positive_int, random_seed, run_cli
from svdnet.model import HIDDEN_LAYERS

# The folder holding invert.py and the <dataset>_meanstd.npz files.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def build_parser():
    """The original ``invert.py`` options, plus the new ones (all optional)."""
    p = argparse.ArgumentParser(
        description="Invert one SVDNet layer for an excerpt of every file of a filelist "
        "and plot input and inversion."
    )
    p.add_argument("classifier", help="SVDNet weights, Lasagne format (param0..param13 .npz)")
    p.add_argument("inverter", help="inverter weights for --layer, Lasagne format")
    p.add_argument("dataset_path", help="folder holding datasets/<dataset>/")
    p.add_argument("results_dir", help="folder for the plots (created if missing)")
    p.add_argument("--dataset", default="jamendo", help="dataset name (default: jamendo)")
    p.add_argument(
        "--cache-spectra",
        metavar="DIR",
        help="read spectrograms from this cache where it has them, as svdnet.train and "
        "svdnet.evaluate write it (default: decode only the part of each file needed)",
    )
    p.add_argument(
        "--layer", default="fc8", help=f"layer to invert: {', '.join(HIDDEN_LAYERS)} (default: fc8)"
    )
    p.add_argument(
        "--n_conv_layers",
        type=positive_int,
        help="conv layers of the inverter (default: from the file)",
    )
    p.add_argument(
        "--n_conv_filters",
        type=positive_int,
        help="filters per conv layer (default: from the file)",
    )
    for flag in ("--augment", "--no-augment", "--featloss"):
        p.add_argument(flag, action="store_true", help="accepted for compatibility; no effect")
    p.add_argument(
        "--time-index",
        type=non_negative_float,
        metavar="SECONDS",
        help="start of the plotted excerpt (default: a random integer of 10..19 s per file)",
    )
    p.add_argument(
        "--seed", type=random_seed, default=0, help="seed of the random start times (default: 0)"
    )
    p.add_argument("--filelist", default="test", help="filelist to run over (default: test)")
    p.add_argument(
        "--meanstd",
        metavar="FILE",
        help="standardisation file (default: <dataset>_meanstd.npz beside invert.py)",
    )
    p.add_argument(
        "--format", choices=("pdf", "png", "svg"), default="pdf", help="plot format (default: pdf)"
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    p.add_argument(
        "--audio",
        action="store_true",
        help="also write <plot>.wav (the inversion), <plot>_input.wav (the input through the "
        "same chain) and <plot>_original.wav (the excerpt's audio)",
    )
    p.add_argument(
        "--phase",
        choices=PHASES,
        default="original",
        help="phase of the sonified excerpts: the original excerpt's, or Griffin-Lim's "
        "estimate (default: original)",
    )
    p.add_argument(
        "--save-arrays",
        action="store_true",
        help="also write input, inversion and prediction to an .npz beside each plot",
    )
    return p


def main(argv=None):
    """Parse ``argv``, run the inversion, and exit 2 with one line on bad input."""
    args = build_parser().parse_args(argv)
    meanstd = args.meanstd or PROJECT_DIR / f"{args.dataset}_meanstd.npz"
    run_cli(
        run_inversion,
        args.classifier,
        args.inverter,
        args.dataset_path,
        args.results_dir,
        layer=args.layer,
        meanstd_path=meanstd,
        dataset=args.dataset,
        filelist=args.filelist,
        cache_dir=args.cache_spectra,
        n_conv_layers=args.n_conv_layers,
        n_conv_filters=args.n_conv_filters,
        time_index_s=args.time_index,
        seed=args.seed,
        fmt=args.format,
        device=args.device,
        save_arrays=args.save_arrays,
        phase=args.phase if args.audio else None,
    )
