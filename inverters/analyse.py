"""What each layer keeps: inversion metrics of all eight layers on one split.

For every layer whose inverter ``<models>/<dataset>_augment_gen_<layer>.npz`` exists,
the split's excerpts (every ``--step`` frames, the ones ``inverters.evaluate`` uses) are
inverted and compared with their inputs (see :mod:`inverters.metrics`):

- ``mse``: mean squared error, as ``inverters.evaluate`` reports it;
- ``time_corr`` / ``freq_corr``: correlation along time (per mel band) / along the mel
  axis (per frame), averaged over bands / frames and then over excerpts;
- ``agreement``: fraction of excerpts the classifier decides the same on the inversion
  as on the input (singing where ``P >= threshold``); ``delta_p``: mean ``|P(inversion)
  - P(input)|``;
- ``class_corr``: mean pairwise correlation of the inversions within each class the
  classifier predicts for the input, pooled over classes; ``class_collapse``: the same
  minus that of the inputs (``input_class_corr``), 0 where the layer keeps what tells
  the excerpts of a class apart as well as the inputs do.

The threshold is the one ``svdnet.evaluate`` picks on the valid split (best accuracy of
median-filtered frame predictions) unless ``--threshold`` gives it; here it is applied
to each excerpt's own prediction. Every metric is also reported per predicted class.

With ``--method optimise`` the inversions are found by optimisation on the input
(:mod:`inverters.optimise`) instead of by the learned inverters, for all eight layers
and no inverter files; as that costs ``--opt-steps`` forward and backward passes per
layer, only ``--max-excerpts`` of the split's excerpts are analysed, evenly spaced.

The split is streamed file by file; only the class-collapse sample is held, at most
:data:`COLLAPSE_EXCERPTS` evenly spaced excerpts per class with their inversions (about
330 MB with all eight layers), so memory does not grow with the split.

Examples
--------
    python -m inverters.analyse demo_augment.npz --dataset demo --json
    python -m inverters.analyse demo_augment.npz --dataset demo --method optimise
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from inverters import metrics, optimise
from inverters.evaluate import file_excerpts, load_inverters
from svdnet.audio import EXCERPT_FRAMES
from svdnet.cli import (
    add_classifier_argument,
    add_dataset_options,
    add_device_option,
    add_json_option,
    add_models_option,
    finite_float,
    non_negative_int,
    positive_int,
    print_results,
    run_cli,
)
from svdnet.dataset import ensure_demo_splits, split_streams
from svdnet.device import on_device, pick_device
from svdnet.errors import InputError
from svdnet.evaluate import best_threshold, silence_frame, song_streams, split_predictions
from svdnet.files import check_output_file, write_json, write_text
from svdnet.model import HIDDEN_LAYERS, load_classifier
from svdnet.training import default_meanstd, read_meanstd

# Excerpts per predicted class kept for class_corr: enough for 124,750 pairs, few
# enough that the sample with eight layers' inversions stays near 330 MB.
COLLAPSE_EXCERPTS = 500
CLASSES = ("sing", "nosing")
# The per-excerpt metrics, each averaged over the excerpts of a layer (or of a class).
EXCERPT_METRICS = ("mse", "time_corr", "freq_corr", "agreement", "delta_p")
METRICS = (*EXCERPT_METRICS, "class_corr", "class_collapse")
OUTPUT_FILES = ("analysis.json", "analysis.md", "analysis.png")
METHODS = ("learned", "optimise")
# Excerpts optimised together (the batch size of inverters.evaluate's excerpts).
OPTIMISE_BATCH = 64


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m inverters.analyse",
        description="What each layer keeps: error, time and frequency correlation, "
        "classifier agreement and class collapse of the inversions of all eight layers.",
    )
    add_classifier_argument(p)
    add_dataset_options(p)
    add_models_option(p)
    add_excerpt_options(p, step=10)
    p.add_argument(
        "--method",
        choices=METHODS,
        default="learned",
        help="learned: the inverters in --models; optimise: optimisation on the input, "
        "which needs no inverters but is slow (default: learned)",
    )
    p.add_argument(
        "--max-excerpts",
        type=positive_int,
        default=64,
        help="--method optimise: excerpts analysed, evenly spaced over the split's (default: 64)",
    )
    p.add_argument(
        "--opt-steps",
        type=non_negative_int,
        default=optimise.STEPS,
        help=f"--method optimise: gradient steps per layer (default: {optimise.STEPS})",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/analysis"),
        help="folder for analysis.json, .md and .png (default: results/analysis)",
    )
    add_device_option(p)
    add_json_option(p)
    return p


def add_excerpt_options(p, step):
    """``--split``, ``--step`` and ``--threshold``: which excerpts, and how they are decided."""
    p.add_argument(
        "--split",
        metavar="SPLIT",
        default="test",
        help="split analysed: any the dataset lists, such as the demo corpus's held-out "
        "heldout, speakers and sampled (default: test)",
    )
    p.add_argument(
        "--step", type=positive_int, default=step, help=f"frames between excerpts (default: {step})"
    )
    p.add_argument(
        "--threshold",
        type=finite_float,
        help="decision threshold on P(singing) (default: best accuracy on the valid split, "
        "as svdnet.evaluate picks it)",
    )


def decision_threshold(classifier, args, mean, std, device):
    """``--threshold`` if given, else :func:`valid_threshold`; demo splits are made first.

    Synthesises the demo corpus's analysed split, and its valid split where the
    threshold is to be chosen on it.
    """
    needed = (args.split,) if args.threshold is not None else ("valid", args.split)
    ensure_demo_splits(args.dataset_path, args.dataset, tuple(dict.fromkeys(needed)))
    if args.threshold is not None:
        return args.threshold
    return valid_threshold(classifier, args, mean, std, device)


def valid_threshold(classifier, args, mean, std, device):
    """The threshold ``svdnet.evaluate`` picks: best frame accuracy on the valid split."""
    songs = song_streams(args.dataset_path, args.dataset, "valid", mean, std, args.cache_spectra)
    predictions = split_predictions(classifier, songs, silence_frame(mean, std), device)
    if not len(predictions["targets"]):
        raise InputError("the valid split holds no frames to choose the threshold on")
    return best_threshold(predictions["svdnet"], predictions["targets"])


def inversion_methods(args, classifier, device):
    """``{layer: function from the layer's features to inversions}`` for ``--method``.

    The learned inverters found in ``--models``, or for ``optimise`` one optimisation
    per layer (all eight) with ``--opt-steps`` steps and the module's default priors.
    """
    if args.method == "learned":
        return load_inverters(args.models, args.dataset, device)
    return {
        layer: optimise.OptimisedInverter(classifier, layer, steps=args.opt_steps)
        for layer in HIDDEN_LAYERS
    }


def split_excerpts(args, mean, std):
    """Batches of the excerpts analysed: every ``--step`` frames of the split's files.

    For ``--method optimise``, at most ``--max-excerpts`` of them, evenly spaced from
    the first to the last: the split is streamed once to count its excerpts and once
    to pick them.
    """

    def every_excerpt():
        streams = split_streams(
            args.dataset_path, args.dataset, args.split, mean, std, args.cache_spectra
        )
        for _, blocks in streams:
            yield from file_excerpts(blocks, args.step)

    if args.method == "learned":
        yield from every_excerpt()
        return
    n_total = sum(len(batch) for batch in every_excerpt())
    if not n_total:
        return
    # At most one pick per excerpt: the spacing is at least 1 before rounding.
    picked = np.linspace(0, n_total - 1, min(args.max_excerpts, n_total)).round().astype(int)
    kept, seen = [], 0
    for batch in every_excerpt():
        members = picked[(picked >= seen) & (picked < seen + len(batch))]
        kept.append(batch[members - seen])
        seen += len(batch)
    kept = np.concatenate(kept)
    for first in range(0, len(kept), OPTIMISE_BATCH):
        yield kept[first : first + OPTIMISE_BATCH]


def invert_batch(classifier, inverters, batch, device):
    """P(singing) of a batch and, per layer, its inversions and their P(singing).

    Returns
    -------
    p_inputs : np.ndarray, shape (n,)
    inversions : dict, layer -> np.ndarray, float32, shape (n, 115, 80)
    p_inversions : dict, layer -> np.ndarray, shape (n,)
    """
    inputs = on_device(torch.from_numpy(batch)[:, None], device)
    inversions, p_inversions = {}, {}
    with torch.no_grad():
        feats = classifier.features(inputs, [*inverters, "fc9"])
        for layer, inverter in inverters.items():
            inversion = inverter(feats[layer])
            p = classifier.features(inversion[:, None], ["fc9"])["fc9"]
            inversions[layer], p_inversions[layer] = inversion.cpu().numpy(), p[:, 0].cpu().numpy()
    return feats["fc9"][:, 0].cpu().numpy(), inversions, p_inversions


class LayerTotals:
    """Sums of the per-excerpt metrics of one layer, per predicted class."""

    def __init__(self):
        self.sums = {cls: dict.fromkeys(EXCERPT_METRICS, 0.0) for cls in CLASSES}
        self.counts = dict.fromkeys(CLASSES, 0)

    def add(self, inputs, inversions, p_inputs, p_inversions, threshold):
        """Add a batch's excerpts, each to the class predicted for its input."""
        values = {
            "mse": metrics.mean_squared_error(inputs, inversions),
            "time_corr": metrics.time_correlation(inputs, inversions),
            "freq_corr": metrics.freq_correlation(inputs, inversions),
            "agreement": metrics.decision_agreement(p_inputs, p_inversions, threshold),
            "delta_p": metrics.probability_change(p_inputs, p_inversions),
        }
        sing = p_inputs >= threshold
        for cls, members in zip(CLASSES, (sing, ~sing), strict=True):
            self.counts[cls] += int(members.sum())
            for key, per_excerpt in values.items():
                self.sums[cls][key] += float(per_excerpt[members].sum())

    def means(self, classes=CLASSES):
        """Mean of each metric over the excerpts of ``classes`` (None where there are none)."""
        n = sum(self.counts[cls] for cls in classes)
        return {
            key: sum(self.sums[cls][key] for cls in classes) / n if n else None
            for key in EXCERPT_METRICS
        } | {"n_excerpts": n}


def class_metrics(inputs, inversions):
    """``class_corr`` and ``class_collapse`` of inversions grouped by predicted class."""
    return {
        "class_corr": metrics.within_class_correlation(inversions),
        "class_collapse": metrics.class_collapse(inputs, inversions),
    }


def layer_results(layer_totals, inputs, inversions):
    """One layer's metrics and, under ``by_class``, the same per predicted class.

    ``inputs`` and ``inversions`` hold the class-collapse sample of each class, in
    :data:`CLASSES` order.
    """
    by_class = {
        cls: layer_totals.means((cls,)) | class_metrics(inputs[c : c + 1], inversions[c : c + 1])
        for c, cls in enumerate(CLASSES)
    }
    return layer_totals.means() | class_metrics(inputs, inversions) | {"by_class": by_class}


def analyse(args):
    """The analysis as :func:`write_outputs` writes it: threshold, counts and per-layer metrics."""
    for name in OUTPUT_FILES:
        check_output_file(args.out / name)
    device = pick_device(args.device)
    classifier = load_classifier(args.classifier, device)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))
    inverters = inversion_methods(args, classifier, device)
    threshold = decision_threshold(classifier, args, mean, std, device)
    totals = {layer: LayerTotals() for layer in inverters}
    # Each kept item is an input excerpt stacked on its inversions, layers in order.
    samples = {cls: metrics.EvenSample(COLLAPSE_EXCERPTS) for cls in CLASSES}
    n_excerpts = 0
    for batch in split_excerpts(args, mean, std):
        p_inputs, inversions, p_inversions = invert_batch(classifier, inverters, batch, device)
        for layer, layer_totals in totals.items():
            layer_totals.add(batch, inversions[layer], p_inputs, p_inversions[layer], threshold)
        stacked = np.stack([batch, *inversions.values()], axis=1)
        sing = p_inputs >= threshold
        samples["sing"].add(stacked[sing])
        samples["nosing"].add(stacked[~sing])
        n_excerpts += len(batch)
    if not n_excerpts:
        raise InputError(
            f"no {args.split} file is long enough for an excerpt of {EXCERPT_FRAMES} frames"
        )
    kept = {cls: sample.items() for cls, sample in samples.items()}
    inputs = [kept[cls][:, 0] for cls in CLASSES]
    layers = {
        layer: layer_results(layer_totals, inputs, [kept[cls][:, i] for cls in CLASSES])
        for i, (layer, layer_totals) in enumerate(totals.items(), start=1)
    }
    method = {"method": args.method}
    if args.method == "optimise":
        method["opt_steps"] = args.opt_steps
    return {
        **method,
        "split": args.split,
        "step": args.step,
        "threshold": threshold,
        "n_excerpts": n_excerpts,
        "collapse_excerpts": {cls: len(kept[cls]) for cls in CLASSES},
        "input_class_corr": metrics.within_class_correlation(inputs),
        "layers": layers,
    }


def markdown_table(results, digits=3):
    """The per-layer metrics as a Markdown table, one row per layer, one column per metric."""

    def cell(value):
        return "–" if value is None else f"{value:.{digits}f}"

    excerpts = f"{results['n_excerpts']} excerpts every {results['step']} frames"
    if results["method"] == "optimise":
        excerpts = (
            f"{results['n_excerpts']} excerpts evenly spaced over those every "
            f"{results['step']} frames, inverted by optimisation ({results['opt_steps']} steps)"
        )
    lines = [
        f"{results['split']} split, {excerpts}, threshold {results['threshold']:.{digits}f}",
        f"inputs' class_corr {cell(results['input_class_corr'])}",
        "",
        "| layer | " + " | ".join(METRICS) + " |",
        "|---" * (len(METRICS) + 1) + "|",
    ]
    for layer, row in results["layers"].items():
        lines.append(f"| {layer} | " + " | ".join(cell(row[key]) for key in METRICS) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(results, out):
    """Write ``analysis.json``, ``.md`` and ``.png`` into ``out``, each atomically."""
    from inverters.plot import plot_layer_metrics  # matplotlib is slow to import

    write_json(out / "analysis.json", results)
    write_text(out / "analysis.md", markdown_table(results))
    plot_layer_metrics(out / "analysis.png", results["layers"], METRICS, CLASSES)


def run(args):
    results = analyse(args)
    write_outputs(results, args.out)
    print_results(results, args.json, markdown_table(results))
    return results


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    run_cli(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
