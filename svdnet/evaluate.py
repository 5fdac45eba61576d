"""Evaluate SVDNet as Schlueter & Grill (2015) did, next to a logistic-regression baseline.

Every frame of a file gets the prediction of the excerpt centred on it (the file is
padded with silence by half an excerpt at each end); the predictions are median
filtered over 56 frames; the threshold that gives the best accuracy on the valid split
is then applied to the test split. The baseline, logistic regression on single
standardised log-mel frames, shows how far one frame's spectrum alone gets.

For diagnosis, ``--threshold`` fixes SVDNet's threshold, and ``--tune-on SPLIT``
tunes the thresholds on another split: on a reported split itself, that split's best
accuracy, which tells a threshold that does not suit the split from a classifier that
ranks its frames badly.

Example
-------
    python -m svdnet.evaluate demo_augment.npz --dataset demo --json
"""

import argparse
import itertools
import logging
import math

import numpy as np
import torch
from scipy.ndimage import median_filter

from svdnet.audio import EXCERPT_FRAMES, LOG_FLOOR, N_MELS, standardise
from svdnet.cli import (
    add_classifier_argument,
    add_dataset_options,
    add_device_option,
    add_json_option,
    finite_float,
    print_results,
    run_cli,
)
from svdnet.dataset import (
    SPLITS,
    dataset_dir,
    ensure_demo_splits,
    frame_targets,
    label_path,
    read_filelist,
    read_labels,
    split_streams,
)
from svdnet.device import pick_device
from svdnet.errors import InputError
from svdnet.model import load_classifier
from svdnet.sampling import EvenSample
from svdnet.spectra import strips
from svdnet.training import default_meanstd, read_meanstd

logger = logging.getLogger(__name__)

MEDIAN_FRAMES = 56
# Training frames the baseline is fitted on, at most: 200,000 frames (48 min of audio)
# take 64 MB, and the demo corpus's 168,000 all fit.
BASELINE_FRAMES = 200_000
METRICS = ("accuracy", "precision", "recall", "specificity", "f1")
# Reported besides test where the dataset has them: the demo corpus's held-out splits.
REPORTED_SPLITS = ("test", "heldout", "speakers", "sampled")
# The reported demo splits that pip alone can make, synthesised on first use like valid and
# test (heldout and speakers need Debian packages: their songs are committed).
MADE_ON_USE = ("sampled",)


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m svdnet.evaluate",
        description="Frame-wise evaluation of an SVDNet classifier: threshold tuned on the "
        "valid split, metrics on the test split, and a logistic-regression baseline.",
    )
    add_classifier_argument(p)
    add_dataset_options(p)
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the logistic-regression baseline (default: fitted on the train split, "
        "skipped with a note where there is none)",
    )
    p.add_argument(
        "--per-song",
        action="store_true",
        help="also report each file's accuracy, recall and specificity, with the same "
        "threshold, and the spread of accuracy over files",
    )
    p.add_argument(
        "--splits",
        nargs="+",
        metavar="SPLIT",
        default=list(REPORTED_SPLITS),
        help="splits to report, each with the threshold tuned on valid; one that the dataset "
        "lacks is skipped with a note, except test (default: %(default)s)",
    )
    p.add_argument(
        "--tune-on",
        metavar="SPLIT",
        default="valid",
        help="split whose best-accuracy thresholds are used; a reported split itself gives "
        "its best accuracy, a bound that no threshold chosen beforehand reaches, not a score "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--threshold",
        type=finite_float,
        help="SVDNet's decision threshold on P(singing), given instead of tuned (the "
        "baseline's is still tuned; default: tuned on --tune-on)",
    )
    add_device_option(p)
    add_json_option(p)
    return p


def silence_frame(mean, std):
    """The standardised log-mel frame of digital silence (every band at the log floor)."""
    return standardise(np.full(N_MELS, math.log(LOG_FLOOR)), mean, std)


def pad_with_silence(mels, silence, n_frames=EXCERPT_FRAMES):
    """Pad ``n_frames // 2`` silent frames at each end: excerpt ``i`` is centred on frame ``i``.

    With 115-frame excerpts that is 57 frames a side, just enough for the excerpts
    centred on the first and the last frame.

    Returns
    -------
    np.ndarray, shape (len(mels) + 2 * (n_frames // 2), n_mels)
    """
    pad = np.repeat(silence[None], n_frames // 2, axis=0).astype(mels.dtype)
    return np.concatenate([pad, mels, pad])


def stream_predictions(model, mel_blocks, silence, device, chunk_frames=4096):
    """P(singing) of the excerpt centred on each frame of a file given as a block stream.

    Parameters
    ----------
    model : SVDNet, in eval mode
    mel_blocks : iterable of np.ndarray, shape (n, 80), standardised
        The file's frames in order (:func:`svdnet.spectra.mel_blocks`).
    silence : np.ndarray, shape (80,)
        Padded ``EXCERPT_FRAMES // 2`` times at each end (see :func:`pad_with_silence`).
    chunk_frames : int
        Frames computed at once with :meth:`SVDNet.sliding_features`, which shares
        the convolutions between overlapping excerpts (bounds the memory).

    Returns
    -------
    np.ndarray, float32, shape (n_frames,)
    """
    pad = np.repeat(silence[None], EXCERPT_FRAMES // 2, axis=0).astype(np.float32)
    padded = itertools.chain([pad], mel_blocks, [pad])
    out = [np.zeros(0, np.float32)]
    with torch.no_grad():
        for strip in strips(padded, chunk_frames, EXCERPT_FRAMES - 1):
            fc9 = model.sliding_features(torch.from_numpy(strip).to(device), ["fc9"])["fc9"]
            out.append(fc9[:, 0].cpu().numpy())
    return np.concatenate(out)


def frame_predictions(model, mels, silence, device, chunk_frames=4096):
    """:func:`stream_predictions` of a file held in memory, ``mels`` (n_frames, 80)."""
    return stream_predictions(model, [mels], silence, device, chunk_frames)


def smooth(predictions, size=MEDIAN_FRAMES):
    """Median filter over ``size`` frames (edges repeat the first / last prediction)."""
    return median_filter(predictions, size=size, mode="nearest")


def song_streams(dataset_path, name, split, mean, std, cache_dir):
    """``(labels, mel block stream)`` of every file of a split, one file at a time."""
    folder = dataset_dir(dataset_path, name)
    for file_name, blocks in split_streams(dataset_path, name, split, mean, std, cache_dir):
        # Labels before the audio: a bad label file fails before its audio is decoded.
        yield read_labels(label_path(folder, file_name)), blocks


def _with_targets(blocks, labels):
    """Pair each mel block with the targets of its frames."""
    first = 0
    for block in blocks:
        yield block, frame_targets(labels, len(block), first)
        first += len(block)


def _tap(blocks, visit):
    """Pass a stream of blocks on unchanged, calling ``visit`` on each."""
    for block in blocks:
        visit(block)
        yield block


def split_predictions(model, songs, silence, device, baseline=None):
    """Median-filtered predictions and targets of every frame of a split, concatenated.

    Parameters
    ----------
    songs : iterable of (labels, mel block stream), as :func:`song_streams` yields
    baseline : (weights, bias), optional
        A fitted logistic regression whose frame predictions are returned as well.

    Returns
    -------
    dict
        ``svdnet`` and ``targets``, and ``baseline`` where one is given: float32 arrays;
        ``lengths``: the number of frames of each song, in order (int64).
    """
    out = {"svdnet": [], "targets": [], "baseline": []}
    lengths = []
    for labels, blocks in songs:
        if baseline is not None:  # the baseline sees each block on its way to SVDNet
            blocks = _tap(
                blocks, lambda b: out["baseline"].append(logistic_predictions(b, *baseline))
            )
        predictions = stream_predictions(model, blocks, silence, device)
        out["svdnet"].append(smooth(predictions))
        out["targets"].append(frame_targets(labels, len(predictions)))
        lengths.append(len(predictions))
    if baseline is None:
        del out["baseline"]
    joined = {key: np.concatenate([np.zeros(0, np.float32), *parts]) for key, parts in out.items()}
    return joined | {"lengths": np.array(lengths, dtype=np.int64)}


def best_threshold(predictions, targets):
    """The threshold of best accuracy when ``prediction >= threshold`` means singing.

    Candidates lie midway between consecutive distinct predictions, below the lowest
    and above the highest; the lowest threshold among equally good ones wins.
    """
    order = np.argsort(predictions, kind="stable")
    values, positives = predictions[order], targets[order] > 0.5
    # Threshold just above values[k-1]: frames k.. are called singing.
    cut = np.concatenate([[0], np.flatnonzero(np.diff(values)) + 1, [len(values)]])
    negatives_below = np.concatenate([[0], np.cumsum(~positives)])[cut]
    positives_above = positives.sum() - np.concatenate([[0], np.cumsum(positives)])[cut]
    k = cut[np.argmax(negatives_below + positives_above)]
    if k == 0:
        return float(values[0]) if len(values) else 0.5
    if k == len(values):
        return float(np.nextafter(values[-1], np.inf))
    return float((values[k - 1] + values[k]) / 2)


def binary_metrics(predictions, targets, threshold):
    """Accuracy, precision, recall, specificity and F-score (0 where undefined)."""
    called, truth = predictions >= threshold, targets > 0.5
    tp, tn = np.sum(called & truth), np.sum(~called & ~truth)
    fp, fn = np.sum(called & ~truth), np.sum(~called & truth)

    def ratio(a, b):
        return float(a / b) if b else 0.0

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {
        "accuracy": ratio(tp + tn, len(truth)),
        "precision": precision,
        "recall": recall,
        "specificity": ratio(tn, tn + fp),
        "f1": ratio(2 * precision * recall, precision + recall),
    }


def per_song_metrics(predictions, targets, lengths, names, threshold):
    """Accuracy, recall, specificity, singing fraction and frames of each song, by file name.

    ``predictions`` and ``targets`` are the songs' frames one after another, as
    :func:`split_predictions` returns them, ``lengths`` their frame counts.
    """
    bounds = np.cumsum([0, *lengths])
    songs = {}
    for name, start, end in zip(names, bounds[:-1], bounds[1:], strict=True):
        metrics = binary_metrics(predictions[start:end], targets[start:end], threshold)
        songs[name] = {key: metrics[key] for key in ("accuracy", "recall", "specificity")}
        songs[name]["singing"] = float(np.mean(targets[start:end] > 0.5)) if end > start else 0.0
        songs[name]["frames"] = int(end - start)
    return songs


def fit_logistic_regression(frames, targets, l2=1e-4, max_iter=100):
    """Weights and bias of a logistic regression, fitted by L-BFGS on all frames at once.

    Parameters
    ----------
    frames : np.ndarray, shape (n, n_features)
    targets : np.ndarray, shape (n,), 0 or 1
    l2 : float
        Weight of the squared-weight penalty (keeps separable data finite).

    Returns
    -------
    weights : torch.Tensor, shape (n_features,)
    bias : torch.Tensor, shape ()
    """
    x = torch.from_numpy(frames).double()
    y = torch.from_numpy(targets).double()
    weights = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weights + bias, y)
        loss = loss + l2 * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach(), bias.detach()


def logistic_predictions(frames, weights, bias):
    """P(singing) of each frame under a fitted logistic regression."""
    return torch.sigmoid(torch.from_numpy(frames).double() @ weights + bias).float().numpy()


def fit_baseline(songs):
    """Logistic regression on single frames of the training songs (at most
    :data:`BASELINE_FRAMES` of them, evenly spaced, so memory stays bounded)."""
    sample = EvenSample(BASELINE_FRAMES)
    for labels, blocks in songs:
        for frames, targets in _with_targets(blocks, labels):
            sample.add(np.concatenate([frames, targets[:, None]], axis=1))
    kept = sample.items().reshape(-1, N_MELS + 1)
    frames, targets = np.ascontiguousarray(kept[:, :-1]), kept[:, -1]
    if not len(frames):
        raise InputError("the train split holds no frames to fit the baseline on")
    return fit_logistic_regression(frames, targets)


def evaluate(args):
    """Results of the classifier and the baseline, as the JSON line holds them.

    The test split's metrics are the top level; every other reported split is a key of
    its own holding the same fields.
    """
    device = pick_device(args.device)
    model = load_classifier(args.classifier, device)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))
    # Only the splits it reads: a train split synthesised for a skipped baseline took
    # minutes for nothing.
    needed = ("valid", "test") if args.no_baseline else SPLITS
    needed += tuple(split for split in (*args.splits, args.tune_on) if split in MADE_ON_USE)
    ensure_demo_splits(args.dataset_path, args.dataset, tuple(dict.fromkeys(needed)))
    folder = dataset_dir(args.dataset_path, args.dataset)
    if not (folder / "filelists" / args.tune_on).is_file():
        raise InputError(f"--tune-on: {folder} has no {args.tune_on} split")

    def songs(split):
        return song_streams(args.dataset_path, args.dataset, split, mean, std, args.cache_spectra)

    baseline = None
    if not args.no_baseline:
        if (folder / "filelists" / "train").is_file():
            baseline = fit_baseline(songs("train"))
        else:
            logger.warning("note: %s has no train split: the baseline is skipped", folder)
    silence = silence_frame(mean, std)
    reported = [split for split in dict.fromkeys(["test", *args.splits]) if split != "valid"]
    for split in reported[1:]:
        if not (folder / "filelists" / split).is_file():
            logger.warning("note: %s has no %s split: it is not reported", folder, split)
    reported = reported[:1] + [s for s in reported[1:] if (folder / "filelists" / s).is_file()]
    predictions = {
        split: split_predictions(model, songs(split), silence, device, baseline)
        for split in dict.fromkeys((args.tune_on, *reported))
    }
    keys = ("svdnet", "baseline") if baseline is not None else ("svdnet",)
    tuning = predictions[args.tune_on]
    thresholds = {key: best_threshold(tuning[key], tuning["targets"]) for key in keys}
    if args.threshold is not None:
        thresholds["svdnet"] = args.threshold
    per_split = {split: _split_results(predictions[split], thresholds, keys) for split in reported}
    if args.per_song:
        for split in reported:
            per_split[split]["songs"] = per_song_metrics(
                predictions[split]["svdnet"],
                predictions[split]["targets"],
                predictions[split]["lengths"],
                read_filelist(folder, split),
                thresholds["svdnet"],
            )
    return per_split["test"] | {split: per_split[split] for split in reported[1:]}


def _split_results(predictions, thresholds, keys):
    """Metrics of one split for SVDNet (top level) and the baseline (``"baseline"`` key)."""
    results = {
        key: binary_metrics(predictions[key], predictions["targets"], thresholds[key])
        | {"threshold": thresholds[key]}
        for key in keys
    }
    return results["svdnet"] | ({"baseline": results["baseline"]} if "baseline" in keys else {})


def format_table(results):
    """The results as a small text table: one row per metric, a column per split and model.

    Where the results hold each song's metrics (``--per-song``), a table per split follows.
    """
    others = {key: value for key, value in results.items() if key not in ("baseline", "songs")}
    splits = {"test": results} | {k: v for k, v in others.items() if isinstance(v, dict)}
    columns = []
    for split, values in splits.items():
        columns.append((f"{split}", values))
        if "baseline" in values:
            columns.append((f"{split} base", values["baseline"]))
    lines = [f"{'':12s}" + "".join(f" {name:>13s}" for name, _ in columns)]
    for key in (*METRICS, "threshold"):
        lines.append(f"{key:12s}" + "".join(f" {values[key]:13.4f}" for _, values in columns))
    for split, values in splits.items():
        if "songs" in values:
            lines += ["", *format_songs(split, values["songs"])]
    return "\n".join(lines)


def format_songs(split, songs):
    """Lines of a per-song table of one split, ending with the spread of accuracy."""
    width = max(len(name) for name in [split, *songs])
    lines = [f"{split:{width}s}  accuracy  recall  specificity  singing"]
    for name, m in songs.items():
        lines.append(
            f"{name:{width}s}  {m['accuracy']:8.4f}  {m['recall']:6.4f}  "
            f"{m['specificity']:11.4f}  {m['singing']:7.3f}"
        )
    accuracy = np.array([m["accuracy"] for m in songs.values()])  # filelists are never empty
    lines.append(
        f"accuracy over {len(accuracy)} files: mean {accuracy.mean():.4f}, "
        f"standard deviation {accuracy.std():.4f}, lowest {accuracy.min():.4f}"
    )
    return lines


def run(args):
    results = evaluate(args)
    print_results(results, args.json, format_table(results))
    return results


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    run_cli(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
