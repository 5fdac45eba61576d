"""Mean squared error of each layer's inverter on the test split.

For each of the eight layers, ``<models>/<dataset>_augment_gen_<layer>.npz`` inverts
the test excerpts (every ``--step`` frames); the error is taken in the standardised
log-mel space, where the inverters were trained.

Example
-------
    python -m inverters.evaluate demo_augment.npz --dataset demo --json
"""

import argparse
import json
import logging
from pathlib import Path

from inverters.model import load_inverter
from inverters.train import inversion_mse
from svdnet.audio import EXCERPT_FRAMES
from svdnet.augment import excerpt_starts
from svdnet.cli import (
    add_dataset_options,
    add_device_option,
    add_json_option,
    positive_int,
    run_cli,
)
from svdnet.device import pick_device
from svdnet.errors import InputError
from svdnet.model import HIDDEN_LAYERS, load_classifier
from svdnet.training import (
    default_meanstd,
    read_meanstd,
    standardised_split,
)

logger = logging.getLogger(__name__)


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m inverters.evaluate",
        description="Test-split mean squared error of the inverters of all eight layers.",
    )
    p.add_argument("classifier", type=Path, help="SVDNet weights, Lasagne format (.npz)")
    add_dataset_options(p)
    p.add_argument(
        "--models",
        type=Path,
        default=Path("models"),
        help="folder of the <dataset>_augment_gen_<layer>.npz inverters (default: models)",
    )
    p.add_argument(
        "--step", type=positive_int, default=10, help="frames between test excerpts (default: 10)"
    )
    add_device_option(p)
    add_json_option(p)
    return p


def inverter_path(models, dataset, layer):
    """Where the inverter of ``layer`` trained on ``dataset`` is expected."""
    return Path(models) / f"{dataset}_augment_gen_{layer}.npz"


def evaluate(args):
    """``{layer: {"mse": ...}}`` for every layer whose inverter file exists."""
    device = pick_device(args.device)
    classifier = load_classifier(args.classifier, device)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))
    songs = standardised_split(
        args.dataset_path, args.dataset, "test", mean, std, args.cache_spectra
    )
    mels_list = [mels for _, mels, _ in songs]
    starts = excerpt_starts([len(m) for m in mels_list], EXCERPT_FRAMES, args.step)
    results = {}
    for layer in HIDDEN_LAYERS:
        path = inverter_path(args.models, args.dataset, layer)
        if not path.is_file():
            logger.warning("warning: skipping %s: %s not found", layer, path)
            continue
        inverter = load_inverter(path, layer, device=device)
        mse = inversion_mse(classifier, inverter, mels_list, starts, layer, device)
        results[layer] = {"mse": mse}
    if not results:
        raise InputError(f"{args.models}: no {args.dataset}_augment_gen_<layer>.npz inverter found")
    return results


def run(args):
    results = evaluate(args)
    if args.json:
        print(json.dumps(results))
    else:
        print("\n".join(f"{layer:6s} mse {r['mse']:.4f}" for layer, r in results.items()))
    return results


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    run_cli(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
