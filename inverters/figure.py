"""The README's example figure: one excerpt inverted from every layer.

Example
-------
    python -m inverters.figure demo_augment.npz docs/demo_inversions.png --dataset demo \\
        --mse results/inversion_mse.json
"""

import argparse
import json
import math
from pathlib import Path

import torch
from tqdm import tqdm

from inverters.evaluate import inverter_path
from inverters.inversion import excerpt_index
from inverters.model import load_inverter
from inverters.optimise import STEPS, optimise_inversion
from inverters.plot import check_figure_path, plot_all_layers
from svdnet.audio import EXCERPT_FRAMES, log_mel, standardise
from svdnet.cli import (
    add_classifier_argument,
    add_dataset_options,
    add_models_option,
    non_negative_float,
    non_negative_int,
    positive_int,
    run_cli,
)
from svdnet.dataset import audio_path, dataset_dir, ensure_demo_splits, read_filelist
from svdnet.errors import InputError
from svdnet.model import HIDDEN_LAYERS, load_classifier
from svdnet.spectra import load_window
from svdnet.training import default_meanstd, read_meanstd


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m inverters.figure",
        description="Plot one test excerpt and its inversion from each of the eight layers.",
    )
    add_classifier_argument(p)
    p.add_argument("out", type=Path, help="figure to write (.png or .pdf)")
    add_dataset_options(p)
    add_models_option(p)
    p.add_argument(
        "--file-index", type=non_negative_int, default=0, help="test file to use (default: 0)"
    )
    p.add_argument(
        "--time-index", type=non_negative_float, default=20.0, help="start, s (default: 20)"
    )
    p.add_argument("--mse", type=Path, help="JSON of `python -m inverters.evaluate --json`")
    p.add_argument(
        "--optimise",
        action="store_true",
        help="add a row of optimisation-based inversions (inverters.optimise) under the "
        "learned ones (default: learned only)",
    )
    p.add_argument(
        "--opt-steps",
        type=positive_int,
        default=STEPS,
        help=f"steps of the optimisation with --optimise (default: {STEPS})",
    )
    return p


def read_test_mse(path):
    """``{layer: mse}`` from the JSON line of ``python -m inverters.evaluate --json``.

    Raises
    ------
    InputError
        If the file is missing, not JSON, or gives a layer's ``mse`` as anything but a
        finite number.
    """
    try:
        results = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable JSON results file ({err})") from None
    if not isinstance(results, dict):
        raise InputError(
            f"{path}: expected a JSON object of layers, found {type(results).__name__}"
        )
    test_mse = {}
    for layer in (layer for layer in HIDDEN_LAYERS if layer in results):
        mse = results[layer].get("mse") if isinstance(results[layer], dict) else None
        if isinstance(mse, bool) or not isinstance(mse, (int, float)) or not math.isfinite(mse):
            raise InputError(f'{path}: {layer} needs a finite number as "mse", found {mse!r}')
        test_mse[layer] = mse
    return test_mse


def make_figure(args):
    """Invert one excerpt with every layer's inverter and plot them together."""
    check_figure_path(args.out)
    test_mse = read_test_mse(args.mse) if args.mse else None
    classifier = load_classifier(args.classifier)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))
    ensure_demo_splits(args.dataset_path, args.dataset, ("test",))
    folder = dataset_dir(args.dataset_path, args.dataset)
    names = read_filelist(folder, "test")
    if not 0 <= args.file_index < len(names):
        raise InputError(f"--file-index {args.file_index}: the test split has {len(names)} files")
    path = audio_path(folder, names[args.file_index])
    start = excerpt_index(args.time_index)
    spect = load_window(path, start, EXCERPT_FRAMES, args.cache_spectra)
    excerpt = standardise(log_mel(spect), mean, std)
    if len(excerpt) < EXCERPT_FRAMES:
        raise InputError(f"{path}: too short for an excerpt at {args.time_index:g} s")
    with torch.no_grad():
        feats = classifier.features(torch.from_numpy(excerpt)[None, None], [*HIDDEN_LAYERS, "fc9"])
        inversions = {
            layer: load_inverter(inverter_path(args.models, args.dataset, layer), layer)(
                feats[layer]
            )[0].numpy()
            for layer in HIDDEN_LAYERS
        }
    optimised = None
    if args.optimise:
        optimised = {
            layer: optimise_inversion(
                classifier, feats[layer], layer, steps=args.opt_steps
            ).excerpts[0]
            for layer in tqdm(HIDDEN_LAYERS, desc="optimising", unit="layer")
        }
    title = f"{path.name} at {args.time_index:g} s, P(singing) = {float(feats['fc9'][0, 0]):.2f}"
    plot_all_layers(args.out, excerpt, inversions, test_mse, title, optimised)


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    run_cli(make_figure, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
