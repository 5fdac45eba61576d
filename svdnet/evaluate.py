"""Evaluate SVDNet as Schlueter & Grill (2015) did, next to a logistic-regression baseline.

Every frame of a file gets the prediction of the excerpt centred on it (the file is
padded with silence by half an excerpt at each end); the predictions are median
filtered over 56 frames; the threshold that gives the best accuracy on the valid split
is then applied to the test split. The baseline, logistic regression on single
standardised log-mel frames, shows how far one frame's spectrum alone gets.

Example
-------
    python -m svdnet.evaluate demo_augment.npz --dataset demo --json
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import median_filter
from tqdm import tqdm

from svdnet.audio import EXCERPT_FRAMES, LOG_FLOOR, N_MELS, standardise
from svdnet.cli import add_dataset_options, add_device_option, add_json_option, run_cli
from svdnet.device import pick_device
from svdnet.model import load_classifier
from svdnet.training import default_meanstd, read_meanstd, standardised_split

MEDIAN_FRAMES = 56
METRICS = ("accuracy", "precision", "recall", "specificity", "f1")


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m svdnet.evaluate",
        description="Frame-wise evaluation of an SVDNet classifier: threshold tuned on the "
        "valid split, metrics on the test split, and a logistic-regression baseline.",
    )
    p.add_argument("classifier", type=Path, help="SVDNet weights, Lasagne format (.npz)")
    add_dataset_options(p)
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


def frame_predictions(model, mels, silence, device, chunk_frames=4096, progress=None):
    """P(singing) of the excerpt centred on each frame of one file.

    Parameters
    ----------
    model : SVDNet, in eval mode
    mels : np.ndarray, shape (n_frames, 80), standardised
    silence : np.ndarray, shape (80,)
    chunk_frames : int
        Frames computed at once with :meth:`SVDNet.sliding_features`, which shares
        the convolutions between overlapping excerpts (bounds the memory).
    progress : tqdm, optional
        Advanced by the number of frames done.

    Returns
    -------
    np.ndarray, float32, shape (n_frames,)
    """
    padded = torch.from_numpy(pad_with_silence(mels, silence))
    out = np.empty(len(mels), np.float32)
    with torch.no_grad():
        for first in range(0, len(mels), chunk_frames):
            n = min(chunk_frames, len(mels) - first)
            strip = padded[first : first + n + EXCERPT_FRAMES - 1].to(device)
            out[first : first + n] = model.sliding_features(strip, ["fc9"])["fc9"][:, 0].cpu()
            if progress is not None:
                progress.update(n)
    return out


def smooth(predictions, size=MEDIAN_FRAMES):
    """Median filter over ``size`` frames (edges repeat the first / last prediction)."""
    return median_filter(predictions, size=size, mode="nearest")


def split_predictions(model, songs, silence, device, desc):
    """Median-filtered predictions and targets of every frame of a split, concatenated."""
    total = sum(len(mels) for _, mels, _ in songs)
    with tqdm(total=total, desc=desc, unit="frame") as progress:
        predictions = [
            smooth(frame_predictions(model, mels, silence, device, progress=progress))
            for _, mels, _ in songs
        ]
    return np.concatenate(predictions), np.concatenate([t for _, _, t in songs])


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


def baseline_results(splits):
    """Logistic regression on single frames: fit on train, threshold on valid, test metrics."""
    frames = {name: np.concatenate([m for _, m, _ in songs]) for name, songs in splits.items()}
    targets = {name: np.concatenate([t for _, _, t in songs]) for name, songs in splits.items()}
    weights, bias = fit_logistic_regression(frames["train"], targets["train"])
    predictions = {
        name: logistic_predictions(frames[name], weights, bias) for name in ("valid", "test")
    }
    threshold = best_threshold(predictions["valid"], targets["valid"])
    return binary_metrics(predictions["test"], targets["test"], threshold) | {
        "threshold": threshold
    }


def evaluate(args):
    """Results of the classifier and the baseline, as the JSON line holds them."""
    device = pick_device(args.device)
    model = load_classifier(args.classifier, device)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))
    splits = {
        split: standardised_split(
            args.dataset_path, args.dataset, split, mean, std, args.cache_spectra
        )
        for split in ("train", "valid", "test")
    }
    silence = silence_frame(mean, std)
    predictions = {
        split: split_predictions(model, splits[split], silence, device, split)
        for split in ("valid", "test")
    }
    threshold = best_threshold(*predictions["valid"])
    results = binary_metrics(*predictions["test"], threshold) | {"threshold": threshold}
    return results | {"baseline": baseline_results(splits)}


def format_table(results):
    """The results as a small text table: one row per metric."""
    lines = [f"{'':12s} {'SVDNet':>8s} {'baseline':>9s}"]
    for key in (*METRICS, "threshold"):
        lines.append(f"{key:12s} {results[key]:8.4f} {results['baseline'][key]:9.4f}")
    return "\n".join(lines)


def run(args):
    results = evaluate(args)
    print(json.dumps(results) if args.json else format_table(results))
    return results


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    run_cli(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
