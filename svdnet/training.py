"""What the classifier and inverter trainers share: checkpoints, the epoch loop with
its NaN guard, standardised splits, and the command-line error handling.

A checkpoint is written after every epoch with ``torch.save`` to a temporary file that
then replaces ``OUT.ckpt``, so an interrupted run leaves the previous one intact.
"""

import contextlib
import logging
import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from svdnet.audio import EXCERPT_FRAMES, load_meanstd, log_mel, mel_filterbank, standardise
from svdnet.dataset import load_split
from svdnet.errors import InputError, TrainingDiverged
from svdnet.files import atomic_output

logger = logging.getLogger(__name__)


# What :func:`save_epoch` writes and a resumed run reads.
CHECKPOINT_KEYS = {"model", "optimizer", "epoch", "rng", "config"}


def checkpoint_path(out):
    """``OUT.ckpt`` beside the final weight file ``OUT.npz``."""
    return Path(out).with_suffix(".ckpt")


def save_checkpoint(path, state):
    """``torch.save`` to a temporary file, then atomically replace ``path``."""
    with atomic_output(path) as f:
        torch.save(state, f)


def save_epoch(path, model, optimizer, epoch, config, **extra):
    """Checkpoint after ``epoch`` epochs: weights, optimizer, RNG states and settings."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
    save_checkpoint(path, {**state, "rng": rng_states(), "config": config, **extra})


def load_checkpoint(path, config):
    """Read a checkpoint written by :func:`save_checkpoint` for the same configuration.

    Parameters
    ----------
    path : Path
    config : dict
        The settings the checkpoint must have been trained with.

    Raises
    ------
    InputError
        If the file is missing or unreadable, or was made with other settings.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise InputError(f"{path}: not a readable checkpoint ({err})") from None
    is_checkpoint = isinstance(state, dict) and CHECKPOINT_KEYS <= state.keys()
    if not (is_checkpoint and isinstance(state["config"], dict)):
        raise InputError(f"{path}: not a checkpoint of this trainer (lacks its settings)")
    differing = {k: (state["config"].get(k), v) for k, v in config.items()}
    differing = {k: (old, new) for k, (old, new) in differing.items() if old != new}
    if differing:
        what = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in differing.items())
        raise InputError(f"{path}: checkpoint made with other settings ({what})")
    return state


def rng_states():
    """The torch random states (CPU and every CUDA device) for a checkpoint."""
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states):
    """Undo :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def run_epoch(batches, step, n_batches, desc):
    """Apply ``step`` to every batch, with a progress bar of the running loss.

    Parameters
    ----------
    batches : iterable
        The epoch's batches.
    step : callable
        Takes a batch, returns the loss as a 0-d tensor *before* updating the model, or
        updates the model only when the loss is finite (so a diverged run keeps its
        last good state).
    n_batches : int
        For the progress bar.
    desc : str

    Returns
    -------
    float
        The mean loss of the epoch.

    Raises
    ------
    TrainingDiverged
        On the first loss that is NaN or infinite.
    """
    total, count = 0.0, 0
    progress = tqdm(batches, total=n_batches, desc=desc, unit="batch", leave=False)
    for batch_idx, batch in enumerate(progress):
        loss = float(step(batch))
        if not math.isfinite(loss):
            progress.close()
            raise TrainingDiverged(f"{desc}, batch {batch_idx + 1}: the loss became {loss}")
        total, count = total + loss, count + 1
        progress.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


@contextlib.contextmanager
def stop_on_divergence(ckpt):
    """Add to a :class:`TrainingDiverged` message what the checkpoint ``ckpt`` still holds."""
    try:
        yield
    except TrainingDiverged as err:
        kept = (
            f"{ckpt} keeps the last completed epoch"
            if Path(ckpt).exists()
            else "no epoch completed"
        )
        raise TrainingDiverged(f"{err}; training stopped ({kept})") from None


def finite_step(loss, optimizer):
    """Backpropagate and step, unless ``loss`` is NaN/inf; returns the detached loss."""
    loss_value = loss.detach()
    if torch.isfinite(loss_value):
        loss.backward()
        optimizer.step()
    return loss_value


class LazyMels:
    """Standardised log-mel frames of a (memory-mapped) spectrogram, made when sliced.

    Stands in for the array of all frames where a split's spectra stay on disk: only the
    rows asked for are read and transformed.
    """

    def __init__(self, spect, filterbank, mean, std):
        self.spect, self.filterbank, self.mean, self.std = spect, filterbank, mean, std

    def __len__(self):
        return len(self.spect)

    def __getitem__(self, rows):
        return standardise(log_mel(self.spect[rows], self.filterbank), self.mean, self.std)


def standardised_split(dataset_path, name, split, mean, std, cache_dir=None):
    """Standardised log-mel spectrograms and frame targets of every file of a split.

    With ``cache_dir`` the spectra stay memory-mapped from the cache and ``mels`` is a
    :class:`LazyMels`, so a split larger than memory can be used.

    Returns
    -------
    list of (name, mels, targets)
        ``mels``: float32 (n_frames, 80), sliced by rows; ``targets``: float32 (n_frames,).
    """
    filterbank = mel_filterbank()
    songs = load_split(dataset_path, name, split, cache_dir)
    if cache_dir is not None:
        return [(s.name, LazyMels(s.spect, filterbank, mean, std), s.targets) for s in songs]
    return [
        (s.name, standardise(log_mel(s.spect, filterbank), mean, std), s.targets) for s in songs
    ]


def default_meanstd(classifier, dataset):
    """``<dataset>_meanstd.npz`` beside the classifier file, where svdnet.train puts it."""
    return Path(classifier).with_name(f"{dataset}_meanstd.npz")


def read_meanstd(path):
    """Mean and std of a meanstd file, with a hint at how to make one if it is missing."""
    if not Path(path).exists():
        raise InputError(
            f"{path}: meanstd file not found (svdnet.train writes it; or pass --meanstd)"
        )
    return load_meanstd(path)


def excerpt_batches(mels_list, starts, batchsize, n_frames=EXCERPT_FRAMES):
    """Batches of excerpts gathered from ``(song index, start)`` pairs.

    Parameters
    ----------
    mels_list : list of np.ndarray, shape (n_frames_i, n_mels)
    starts : np.ndarray, shape (n, 2)
    batchsize, n_frames : int

    Yields
    ------
    np.ndarray, float32, shape (<= batchsize, n_frames, n_mels)
    """
    for first in range(0, len(starts), batchsize):
        picks = starts[first : first + batchsize]
        yield np.stack([mels_list[i][t : t + n_frames] for i, t in picks])
