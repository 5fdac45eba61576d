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

import numpy as np
import torch

from inverters.model import load_inverter
from svdnet.audio import EXCERPT_FRAMES, N_MELS
from svdnet.cli import (
    add_classifier_argument,
    add_dataset_options,
    add_device_option,
    add_json_option,
    add_models_option,
    positive_int,
    run_cli,
)
from svdnet.dataset import ensure_demo_splits, split_streams
from svdnet.device import on_device, pick_device
from svdnet.errors import InputError
from svdnet.model import HIDDEN_LAYERS, load_classifier
from svdnet.spectra import strips
from svdnet.training import default_meanstd, read_meanstd

logger = logging.getLogger(__name__)

STRIP_FRAMES = 4096  # frames of a file held at a time


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m inverters.evaluate",
        description="Test-split mean squared error of the inverters of all eight layers.",
    )
    add_classifier_argument(p)
    add_dataset_options(p)
    add_models_option(p)
    p.add_argument(
        "--step", type=positive_int, default=10, help="frames between test excerpts (default: 10)"
    )
    add_device_option(p)
    add_json_option(p)
    return p


def inverter_path(models, dataset, layer):
    """Where the inverter of ``layer`` trained on ``dataset`` is expected."""
    return Path(models) / f"{dataset}_augment_gen_{layer}.npz"


def load_inverters(models, dataset, device):
    """``{layer: inverter}`` of every layer whose file exists (the rest are warned about)."""
    inverters = {}
    for layer in HIDDEN_LAYERS:
        path = inverter_path(models, dataset, layer)
        if not path.is_file():
            logger.warning("warning: skipping %s: %s not found", layer, path)
            continue
        inverters[layer] = load_inverter(path, layer, device=device)
    if not inverters:
        raise InputError(f"{models}: no {dataset}_augment_gen_<layer>.npz inverter found")
    return inverters


def file_excerpts(blocks, step, batchsize=64):
    """Batches of a file's excerpts starting every ``step`` frames, from a block stream.

    The same excerpts as :func:`svdnet.augment.excerpt_starts` picks from the whole file,
    while only a strip of a few thousand frames is held at a time.

    Yields
    ------
    np.ndarray, float32, shape (<= batchsize, 115, 80)
    """
    chunk = step * -(-STRIP_FRAMES // step)  # a multiple of step: starts stay on the grid
    for strip in strips(blocks, chunk, EXCERPT_FRAMES - 1):
        starts = range(0, min(chunk, len(strip) - EXCERPT_FRAMES + 1), step)
        for first in range(0, len(starts), batchsize):
            yield np.stack(
                [strip[t : t + EXCERPT_FRAMES] for t in starts[first : first + batchsize]]
            )


def squared_errors(classifier, inverters, batch, device):
    """Summed squared inversion error of each layer on one batch of excerpts."""
    inputs = on_device(torch.from_numpy(batch)[:, None], device)
    with torch.no_grad():
        feats = classifier.features(inputs, list(inverters))
        return {
            layer: float(torch.sum((inverter(feats[layer]) - inputs[:, 0]) ** 2))
            for layer, inverter in inverters.items()
        }


def evaluate(args):
    """``{layer: {"mse": ...}}`` for every layer whose inverter file exists.

    The test files are streamed one at a time, so memory does not grow with their length.
    """
    device = pick_device(args.device)
    classifier = load_classifier(args.classifier, device)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))
    ensure_demo_splits(args.dataset_path, args.dataset, ("test",))
    inverters = load_inverters(args.models, args.dataset, device)
    totals, n_excerpts = dict.fromkeys(inverters, 0.0), 0
    streams = split_streams(args.dataset_path, args.dataset, "test", mean, std, args.cache_spectra)
    for _, blocks in streams:
        for batch in file_excerpts(blocks, args.step):
            for layer, error in squared_errors(classifier, inverters, batch, device).items():
                totals[layer] += error
            n_excerpts += len(batch)
    if not n_excerpts:
        raise InputError(f"no test file is long enough for an excerpt of {EXCERPT_FRAMES} frames")
    # The error per bin, as in training: excerpts x frames x mel bands.
    return {
        layer: {"mse": total / (n_excerpts * EXCERPT_FRAMES * N_MELS)}
        for layer, total in totals.items()
    }


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
