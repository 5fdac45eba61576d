"""Explanations by inversion masks, tested against random masks of the same area.

For every instance (an excerpt of the split, every ``--step`` frames, streamed file by
file as in ``inverters.analyse``), the ``--layer`` inverter's output is min-max scaled
to [0, 1]. For each threshold ``t`` of :data:`THRESHOLDS`, the mask keeps the bins
whose scaled value is ``>= t``; the explanation is mask x standardised input, so a
removed bin holds the dataset mean. The classifier decides on the explanation again
(singing where ``P >= threshold``, the threshold ``inverters.analyse`` uses), and the
instance fails where that decision differs from the one on the whole excerpt:

- ``loss_pct``: explanation loss, failed instances / instances x 100;
- ``area``: mean fraction of the excerpt's bins the masks keep.

Two controls get the same test with random masks, drawn per instance and threshold:

- ``random_bins``: exactly as many bins as the inversion mask keeps, drawn uniformly
  without replacement;
- ``random_blocks``: one axis-aligned rectangle of frames x mel bands, placed
  uniformly inside the excerpt; of the compact rectangles (aspect ratio within a factor
  of 2 of the excerpt's), the one whose number of bins is closest to the inversion
  mask's (:func:`block_shape`).

The random masks of instance ``i`` come from a generator seeded with ``(--seed, i)``,
so they depend neither on batching nor on the instances before ``i``.

Example
-------
    python -m inverters.explain demo_augment.npz --dataset demo --json
"""

import argparse
import csv
import functools
import io
from pathlib import Path

import numpy as np
import torch

from inverters import metrics
from inverters.analyse import add_excerpt_options, decision_threshold
from inverters.evaluate import file_excerpts, inverter_path
from inverters.model import load_inverter
from svdnet.audio import EXCERPT_FRAMES, N_MELS
from svdnet.cli import (
    add_classifier_argument,
    add_dataset_options,
    add_device_option,
    add_json_option,
    add_models_option,
    non_negative_int,
    print_results,
    random_seed,
    run_cli,
)
from svdnet.dataset import split_streams
from svdnet.device import on_device, pick_device
from svdnet.errors import InputError
from svdnet.files import check_output_file, write_json, write_text
from svdnet.model import HIDDEN_LAYERS, load_classifier
from svdnet.training import default_meanstd, read_meanstd

# Mask thresholds on the scaled inversion: 0.0, 0.1, ..., 1.0, as in the paper.
THRESHOLDS = np.arange(11) / 10
N_THRESHOLDS = len(THRESHOLDS)
# A random block's frames / bands ratio lies within this factor of the excerpt's.
MAX_ASPECT_FACTOR = 2
MASKS = ("inversion", "random_bins", "random_blocks")
# Thresholds drawn in the --save-masked figures.
SAVED_THRESHOLDS = (0.3, 0.5, 0.7)
OUTPUT_FILES = ("explanation.csv", "explanation.json", "explanation.png")
# Masked excerpts classified at once: bounds the memory of the first conv layers.
CLASSIFY_BATCH = 64


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m inverters.explain",
        description="Explanation loss and area of inversion masks at thresholds 0 to 1, "
        "beside random masks of the same area (random bins, random blocks).",
    )
    add_classifier_argument(p)
    add_dataset_options(p)
    add_models_option(p)
    p.add_argument(
        "--layer",
        choices=HIDDEN_LAYERS,
        default="fc8",
        help="layer whose inverter makes the masks (default: fc8)",
    )
    add_excerpt_options(p, step=50)
    p.add_argument(
        "--seed", type=random_seed, default=0, help="seed of the random masks (default: 0)"
    )
    p.add_argument(
        "--save-masked",
        type=non_negative_int,
        nargs="+",
        default=[],
        metavar="INDEX",
        help="instances (numbered from 0 in split order) whose masked excerpts are drawn "
        "into masked_<INDEX>.png (default: none)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/explain"),
        help="folder for explanation.csv, .json and .png (default: results/explain)",
    )
    add_device_option(p)
    add_json_option(p)
    return p


def inversion_masks(inversions, thresholds=THRESHOLDS):
    """The masks of each inversion: bins whose value, min-max scaled per inversion, is >= t.

    Parameters
    ----------
    inversions : np.ndarray, shape (n, n_frames, n_mels)
    thresholds : sequence of float

    Returns
    -------
    np.ndarray, bool, shape (n, len(thresholds), n_frames, n_mels)
        At t = 0 every bin is kept; at t = 1 the bins of the maximum (a constant
        inversion scales to all zeros, so none at t > 0).
    """
    scaled = metrics.min_max_scale(inversions, axis=(1, 2))
    return scaled[:, None] >= np.asarray(thresholds)[None, :, None, None]


def apply_masks(excerpts, masks):
    """The explanations: each standardised excerpt times each of its masks.

    A removed bin becomes 0, the dataset mean of its mel band in the standardised space.

    Parameters
    ----------
    excerpts : np.ndarray, float32, shape (n, n_frames, n_mels)
    masks : np.ndarray, bool, shape (n, n_masks, n_frames, n_mels)

    Returns
    -------
    np.ndarray, float32, shape (n, n_masks, n_frames, n_mels)
    """
    return np.where(masks, excerpts[:, None], np.float32(0))


def mask_area(masks):
    """Fraction of the bins each mask keeps: the mean over its last two axes."""
    return np.asarray(masks).mean(axis=(-2, -1))


def random_bin_mask(rng, n_kept, shape):
    """A mask keeping exactly ``n_kept`` bins of ``shape``, drawn uniformly without replacement."""
    order = rng.permutation(shape[0] * shape[1])
    mask = np.zeros(shape[0] * shape[1], bool)
    mask[order[:n_kept]] = True
    return mask.reshape(shape)


@functools.cache
def block_shapes(n_frames, n_mels):
    """:func:`block_shape` of every count from 0 to ``n_frames x n_mels``, as an array.

    Returns
    -------
    np.ndarray, int, shape (n_frames * n_mels + 1, 2): (frames, mel bands) per count.
    """
    heights = np.arange(1, n_frames + 1)
    shapes = np.zeros((n_frames * n_mels + 1, 2), int)
    for n_kept in range(1, n_frames * n_mels + 1):
        # For each height, the width whose count is closest to n_kept.
        widths = np.clip(np.rint(n_kept / heights), 1, n_mels).astype(int)
        miss = np.abs(heights * widths - n_kept)
        aspect = np.abs(np.log(heights / widths) - np.log(n_frames / n_mels))
        miss = np.where(aspect <= np.log(MAX_ASPECT_FACTOR), miss, np.iinfo(int).max)
        best = np.lexsort((aspect, miss))[0]
        shapes[n_kept] = heights[best], widths[best]
    return shapes


def block_shape(n_kept, n_frames=EXCERPT_FRAMES, n_mels=N_MELS):
    """Frames x mel bands of the block of a random-block mask keeping about ``n_kept`` bins.

    Of the rectangles that fit an excerpt of ``n_frames x n_mels`` and whose aspect
    ratio (frames / bands) is within a factor :data:`MAX_ASPECT_FACTOR` of the
    excerpt's, the one whose number of bins is closest to ``n_kept``, and of those the
    one nearest the excerpt's aspect ratio; (0, 0) for ``n_kept == 0``. The limit keeps
    blocks compact (a prime count would otherwise give a one-bin-wide strip) at the
    cost of a small miss: on 115 x 80 bins, at most 2 % of ``n_kept`` from 100 bins on
    and 0.5 % from 1000 on.

    Examples
    --------
    >>> block_shape(115 * 80 // 4)
    (50, 46)
    >>> block_shape(101)  # a prime: 10 x 10, not a 101 x 1 strip
    (10, 10)
    """
    if not 0 <= n_kept <= n_frames * n_mels:
        raise ValueError(f"n_kept must be within 0 and {n_frames * n_mels}, got {n_kept}")
    height, width = block_shapes(n_frames, n_mels)[n_kept]
    return int(height), int(width)


def random_block_mask(rng, n_kept, shape):
    """A mask keeping one rectangle of :func:`block_shape` bins, placed uniformly in ``shape``."""
    height, width = block_shape(n_kept, *shape)
    mask = np.zeros(shape, bool)
    if height:
        top = rng.integers(shape[0] - height + 1)
        left = rng.integers(shape[1] - width + 1)
        mask[top : top + height, left : left + width] = True
    return mask


def random_masks(masks, seed, first_instance):
    """Random-bin and random-block masks of the areas of ``masks``, per instance and threshold.

    Parameters
    ----------
    masks : np.ndarray, bool, shape (n, n_thresholds, n_frames, n_mels)
        The inversion masks of instances ``first_instance``, ``first_instance + 1``, ...
    seed : int
    first_instance : int
        Instance ``i`` draws from ``np.random.default_rng([seed, i])``.

    Returns
    -------
    dict, ``"random_bins"`` and ``"random_blocks"`` -> np.ndarray, the shape of ``masks``.
    """
    bins, blocks = np.zeros_like(masks), np.zeros_like(masks)
    shape = masks.shape[2:]
    for i, instance_masks in enumerate(masks):
        rng = np.random.default_rng([seed, first_instance + i])
        for k, mask in enumerate(instance_masks):
            n_kept = int(mask.sum())
            bins[i, k] = random_bin_mask(rng, n_kept, shape)
            blocks[i, k] = random_block_mask(rng, n_kept, shape)
    return {"random_bins": bins, "random_blocks": blocks}


def decision_changes(p_inputs, p_masked, threshold):
    """1 where the decision on a masked excerpt differs from the one on its input, else 0.

    Parameters
    ----------
    p_inputs : np.ndarray, shape (n,)
    p_masked : np.ndarray, shape (n, n_thresholds)
    threshold : float
        Singing where ``P(singing) >= threshold``.

    Returns
    -------
    np.ndarray, int, shape (n, n_thresholds)
    """
    p_inputs = np.asarray(p_inputs)[:, None]
    return 1 - metrics.decision_agreement(p_inputs, p_masked, threshold).astype(int)


def explanation_loss(fails, n_instances):
    """Explanation loss in %: failed instances over instances, x 100 (None without instances)."""
    return 100 * fails / n_instances if n_instances else None


def singing_probability(classifier, excerpts, device):
    """P(singing) of excerpts of shape (..., n_frames, n_mels), of the leading shape."""
    flat = excerpts.reshape(-1, *excerpts.shape[-2:])
    p = []
    with torch.no_grad():
        for first in range(0, len(flat), CLASSIFY_BATCH):
            chunk = torch.from_numpy(flat[first : first + CLASSIFY_BATCH])[:, None]
            p.append(classifier.features(on_device(chunk, device), ["fc9"])["fc9"][:, 0].cpu())
    return torch.cat(p).numpy().reshape(excerpts.shape[:-2])


class MaskTotals:
    """Failed instances and summed kept areas per threshold, for each kind of mask."""

    def __init__(self, n_thresholds=N_THRESHOLDS):
        self.n_instances = 0
        self.fails = {kind: np.zeros(n_thresholds, int) for kind in MASKS}
        self.areas = {kind: np.zeros(n_thresholds) for kind in MASKS}

    def add(self, kind, changes, areas):
        """Add a batch's decision changes and areas, both of shape (n, n_thresholds)."""
        self.fails[kind] += np.asarray(changes).sum(axis=0)
        self.areas[kind] += np.asarray(areas).sum(axis=0)

    def results(self):
        """Per kind: ``fails``, ``loss_pct`` and ``area`` lists, one value per threshold."""
        n = self.n_instances
        return {
            kind: {
                "fails": self.fails[kind].tolist(),
                "loss_pct": [explanation_loss(int(f), n) for f in self.fails[kind]],
                "area": [a / n if n else None for a in self.areas[kind]],
            }
            for kind in MASKS
        }


def explain(args):
    """The explanation test as :func:`write_outputs` writes it, and the saved instances.

    Returns
    -------
    results : dict
        Settings, ``n_instances`` and, under ``masks``, :meth:`MaskTotals.results`.
    saved : dict
        Instance index -> (excerpt, inversion, inversion masks) of ``--save-masked``.
    """
    for name in OUTPUT_FILES:
        check_output_file(args.out / name)
    for index in args.save_masked:
        check_output_file(args.out / f"masked_{index}.png")
    device = pick_device(args.device)
    classifier = load_classifier(args.classifier, device)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))
    inverter = load_inverter(
        inverter_path(args.models, args.dataset, args.layer), args.layer, device=device
    )
    threshold = decision_threshold(classifier, args, mean, std, device)
    totals, saved = MaskTotals(), {}
    streams = split_streams(
        args.dataset_path, args.dataset, args.split, mean, std, args.cache_spectra
    )
    for _, blocks in streams:
        for batch in file_excerpts(blocks, args.step):
            with torch.no_grad():
                inputs = on_device(torch.from_numpy(batch)[:, None], device)
                feats = classifier.features(inputs, [args.layer, "fc9"])
                inversions = inverter(feats[args.layer]).cpu().numpy()
            p_inputs = feats["fc9"][:, 0].cpu().numpy()
            masks = {"inversion": inversion_masks(inversions)}
            masks |= random_masks(masks["inversion"], args.seed, totals.n_instances)
            for kind, kind_masks in masks.items():
                explanations = apply_masks(batch, kind_masks)
                p_masked = singing_probability(classifier, explanations, device)
                changes = decision_changes(p_inputs, p_masked, threshold)
                totals.add(kind, changes, mask_area(kind_masks))
            for index in args.save_masked:
                if 0 <= index - totals.n_instances < len(batch):
                    i = index - totals.n_instances
                    saved[index] = batch[i], inversions[i], masks["inversion"][i]
            totals.n_instances += len(batch)
    if not totals.n_instances:
        raise InputError(
            f"no {args.split} file is long enough for an excerpt of {EXCERPT_FRAMES} frames"
        )
    missing = sorted(set(args.save_masked) - set(saved))
    if missing:
        raise InputError(
            f"--save-masked {missing[0]}: there are only {totals.n_instances} instances"
        )
    results = {
        "layer": args.layer,
        "split": args.split,
        "step": args.step,
        "seed": args.seed,
        "threshold": threshold,
        "n_instances": totals.n_instances,
        "thresholds": THRESHOLDS.tolist(),
        "masks": totals.results(),
    }
    return results, saved


def table_rows(results):
    """One row per mask threshold: the columns of ``explanation.csv``, in order."""
    masks = results["masks"]
    header = ["t", "instances", "fails", "loss_pct", "area"]
    header += [f"{kind}_{key}" for kind in MASKS[1:] for key in ("loss_pct", "area")]
    rows = [header]
    for k, t in enumerate(results["thresholds"]):
        row = [t, results["n_instances"], masks["inversion"]["fails"][k]]
        row += [masks["inversion"]["loss_pct"][k], masks["inversion"]["area"][k]]
        row += [masks[kind][key][k] for kind in MASKS[1:] for key in ("loss_pct", "area")]
        rows.append(row)
    return rows


def markdown_table(results):
    """Loss % and area per threshold for the inversion masks and both random controls."""
    lines = [
        f"{results['layer']} inversion masks, {results['split']} split, "
        f"{results['n_instances']} instances every {results['step']} frames, "
        f"threshold {results['threshold']:.3f}",
        "",
        "| t | " + " | ".join(f"{kind} loss % | {kind} area" for kind in MASKS) + " |",
        "|---" * (1 + 2 * len(MASKS)) + "|",
    ]
    masks = results["masks"]
    for k, t in enumerate(results["thresholds"]):
        cells = [
            f"{masks[kind]['loss_pct'][k]:.2f} | {masks[kind]['area'][k]:.3f}" for kind in MASKS
        ]
        lines.append(f"| {t:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(results, saved, out):
    """Write ``explanation.csv``, ``.json``, ``.png`` and the masked figures, each atomically."""
    from inverters.plot import plot_explanation_loss, plot_masked  # matplotlib is slow to import

    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(table_rows(results))
    write_text(out / "explanation.csv", text.getvalue())
    write_json(out / "explanation.json", results)
    plot_explanation_loss(out / "explanation.png", results)
    for index, (excerpt, inversion, masks) in saved.items():
        shown = [results["thresholds"].index(t) for t in SAVED_THRESHOLDS]
        plot_masked(
            out / f"masked_{index}.png",
            excerpt,
            inversion,
            {results["thresholds"][k]: masks[k] for k in shown},
            results["layer"],
        )


def run(args):
    results, saved = explain(args)
    write_outputs(results, saved, args.out)
    print_results(results, args.json, markdown_table(results))
    return results


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    run_cli(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
