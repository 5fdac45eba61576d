"""The paper's inversion run: excerpts of each test file, a layer's features, plots."""

import sys

import numpy as np
import torch
from tqdm import tqdm

from inverters.model import load_inverter
from inverters.plot import plot_inversion
from inverters.sonify import n_samples, sonify, write_wav
from svdnet.audio import (
    EXCERPT_FRAMES,
    HOP_LENGTH,
    SAMPLE_RATE,
    atomic_save_npz,
    load_meanstd,
    log_mel,
    standardise,
)
from svdnet.dataset import audio_path, dataset_dir, read_filelist
from svdnet.decode import audio_blocks
from svdnet.device import pick_device
from svdnet.errors import InputError
from svdnet.files import make_folder
from svdnet.model import HIDDEN_LAYERS, load_classifier
from svdnet.spectra import load_window

N_EXCERPTS = 32  # excerpts fed per file, as in the original run
RANDOM_START_S = (10, 19)  # the original drew integer start times from this range


def excerpt_index(time_index_s):
    """Index of the excerpt (= frame) starting at ``time_index_s`` seconds."""
    return int(round(time_index_s * SAMPLE_RATE / HOP_LENGTH))


def plot_name(file_idx, excerpt_idx, prediction, fmt="pdf"):
    """The original's file name for one plot."""
    return f"plot_fileid_{file_idx}_excerptid_{excerpt_idx}_pred_{prediction:.2f}.{fmt}"


def _start_times(n_files, time_index_s, seed):
    if time_index_s is not None:
        return [float(time_index_s)] * n_files
    rng = np.random.default_rng(seed)
    low, high = RANDOM_START_S
    return rng.integers(low, high + 1, size=n_files).astype(float).tolist()


def _file_strip(path, meanstd, excerpt_idx, cache_dir):
    """Standardised frames of the N_EXCERPTS excerpts from ``excerpt_idx`` on, or None.

    Only that part of the file is decoded (or read from its cache).
    """
    n_frames = N_EXCERPTS + EXCERPT_FRAMES - 1
    spect = load_window(path, excerpt_idx, n_frames, cache_dir)
    return standardise(log_mel(spect), *meanstd) if len(spect) == n_frames else None


def write_sounds(plot, path, excerpt_idx, excerpt, inversion, meanstd, phase):
    """Sound beside a plot: ``<stem>.wav`` (the inversion), ``<stem>_input.wav`` (the input
    through the same chain) and ``<stem>_original.wav`` (the excerpt's own audio)."""
    length = n_samples(EXCERPT_FRAMES)
    samples = np.concatenate([*audio_blocks(path, excerpt_idx * HOP_LENGTH, length)])
    for suffix, frames in (("", inversion), ("_input", excerpt)):
        write_wav(
            plot.with_name(f"{plot.stem}{suffix}.wav"), sonify(frames, *meanstd, phase, samples)
        )
    write_wav(plot.with_name(f"{plot.stem}_original.wav"), samples)


def run_inversion(
    classifier_path,
    inverter_path,
    dataset_path,
    results_dir,
    layer,
    meanstd_path,
    dataset="jamendo",
    filelist="test",
    cache_dir=None,
    n_conv_layers=None,
    n_conv_filters=None,
    time_index_s=None,
    seed=0,
    fmt="pdf",
    device="auto",
    save_arrays=False,
    phase=None,
):
    """Invert layer ``layer`` for an excerpt of every file of a filelist and plot it.

    Returns
    -------
    list of Path
        The plots written, one per file long enough for the chosen start.
    """
    if layer not in HIDDEN_LAYERS:
        raise InputError(f"unknown layer {layer!r}; choose from {', '.join(HIDDEN_LAYERS)}")
    device = pick_device(device)
    classifier = load_classifier(classifier_path, device)
    inverter = load_inverter(inverter_path, layer, n_conv_layers, n_conv_filters, device)
    meanstd = load_meanstd(meanstd_path)
    folder = dataset_dir(dataset_path, dataset)
    paths = [audio_path(folder, name) for name in read_filelist(folder, filelist)]
    results_dir = make_folder(results_dir, "results folder")

    written = []
    starts_s = _start_times(len(paths), time_index_s, seed)
    for file_idx, (path, start_s) in enumerate(
        tqdm(list(zip(paths, starts_s, strict=True)), desc=layer, unit="file")
    ):
        excerpt_idx = excerpt_index(start_s)
        strip = _file_strip(path, meanstd, excerpt_idx, cache_dir)
        if strip is None:
            msg = (
                f"warning: skipping {path}: too short for {N_EXCERPTS} excerpts from {start_s:g} s"
            )
            tqdm.write(msg, file=sys.stderr)
            continue
        with torch.no_grad():
            # The classifier sees all 32 excerpts, as in the original; we plot the first.
            feats = classifier.sliding_features(torch.from_numpy(strip).to(device), [layer, "fc9"])
            inversion = inverter(feats[layer][:1])[0].cpu().numpy()
        prediction = float(feats["fc9"][0, 0])
        out = results_dir / plot_name(file_idx, excerpt_idx, prediction, fmt)
        title = f"{path.name} at {excerpt_idx * HOP_LENGTH / SAMPLE_RATE:.2f} s, "
        title += f"{layer}, P(singing) = {prediction:.2f}"
        plot_inversion(out, strip[:EXCERPT_FRAMES], inversion, layer, title)
        if phase is not None:
            write_sounds(out, path, excerpt_idx, strip[:EXCERPT_FRAMES], inversion, meanstd, phase)
        if save_arrays:
            atomic_save_npz(
                out.with_suffix(".npz"),
                input=strip[:EXCERPT_FRAMES],
                inversion=inversion,
                prediction=np.float32(prediction),
                excerpt_idx=np.int64(excerpt_idx),
                layer=np.str_(layer),
                file_name=np.str_(path.name),
            )
        written.append(out)
    if not written:
        when = f"{time_index_s:g} s" if time_index_s is not None else "the chosen start times"
        raise InputError(
            f"{folder / 'filelists' / filelist}: no file is long enough for "
            f"{N_EXCERPTS} excerpts from {when}"
        )
    return written
