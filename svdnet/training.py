"""What the classifier and inverter trainers share: checkpoints, the epoch loop with
its NaN guard, the batch loader, standardised splits, and the command-line error
handling.

A checkpoint is written after every epoch with ``torch.save`` to a temporary file that
then replaces ``OUT.ckpt``, so an interrupted run leaves the previous one intact. In a
distributed run (:mod:`svdnet.distributed`) rank 0 writes it, with every process's
random state, and shows the progress bars; the losses are those of the global batch.
"""

import contextlib
import logging
import math
import multiprocessing
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from svdnet import distributed
from svdnet.audio import EXCERPT_FRAMES, load_meanstd, log_mel, mel_filterbank, standardise
from svdnet.dataset import load_split
from svdnet.errors import InputError, TrainingDiverged
from svdnet.files import atomic_output, check_output_file

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
    """Checkpoint after ``epoch`` epochs: weights, optimizer, RNG states and settings.

    In a distributed run every process calls this and rank 0 writes the file; ``rng``
    then also holds every process's random state under ``ranks``.
    """
    rng = rng_states()
    ranks = distributed.gather(rng)
    if not distributed.is_main():
        return
    if distributed.is_distributed():
        rng = {**rng, "ranks": ranks}
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
    save_checkpoint(path, {**state, "rng": rng, "config": config, **extra})


def start_checkpoint(out, what, config, resume, defaults=None):
    """The checkpoint beside ``out`` and, with ``resume``, the state to continue from.

    Parameters
    ----------
    out : Path
        The final weight file.
    what : str
        What ``out`` is, for the error when it cannot be written.
    config : dict
        The settings of this run, which a resumed checkpoint must share.
    resume : bool
        Whether to continue from the checkpoint (:func:`load_checkpoint`).
    defaults : dict, optional
        Settings that older checkpoints do not record, with the value they then had.

    Returns
    -------
    ckpt : Path
        ``OUT.ckpt``; a fresh run over an existing one warns that it will be overwritten.
    state : dict or None
        The checkpoint's contents when resuming, else None.
    """
    ckpt = checkpoint_path(out)
    for path, kind in ((out, what), (ckpt, "checkpoint")):
        check_output_file(path, kind)
    state = load_checkpoint(ckpt, config, defaults) if resume else None
    if state is None and ckpt.exists():
        logger.warning("starting afresh: %s will be overwritten (--resume continues it)", ckpt)
    return ckpt, state


def load_checkpoint(path, config, defaults=None):
    """Read a checkpoint written by :func:`save_checkpoint` for the same configuration.

    Parameters
    ----------
    path : Path
    config : dict
        The settings the checkpoint must have been trained with.
    defaults : dict, optional
        The value of each setting that the checkpoint does not record.

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
    recorded = {**(defaults or {}), **state["config"]}
    differing = {k: (recorded.get(k), v) for k, v in config.items()}
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
    """Undo :func:`rng_states`; each process of a distributed run takes its own state.

    A checkpoint made by another number of processes has no state for each of them:
    every process then continues from rank 0's, reseeded by its rank.
    """
    ranks = states.get("ranks")
    own = ranks is not None and len(ranks) == distributed.world_size()
    states = ranks[distributed.rank()] if own else states
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    if distributed.is_distributed() and not own:
        distributed.seed_rank_streams(int(torch.randint(2**62, ())))


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
    progress = tqdm(
        batches,
        total=n_batches,
        desc=desc,
        unit="batch",
        leave=False,
        disable=not distributed.is_main(),
    )
    for batch_idx, batch in enumerate(progress):
        loss = float(step(batch))
        if not math.isfinite(loss):
            progress.close()
            raise TrainingDiverged(f"{desc}, batch {batch_idx + 1}: the loss became {loss}")
        total, count = total + loss, count + 1
        progress.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


def batch_loader(batches, workers, device):
    """Iterate over a dataset of batches in order, prepared by ``workers`` processes.

    On a GPU the batches come in pinned memory, so that copying them to the device
    does not hold up the training step.

    numpy's BLAS runs single-threaded meanwhile: its idle threads spin for a while after
    each small matrix product of the front end and slowed the training step beside
    them by a sixth on two cores.
    """
    # Forked workers share the spectrograms with the trainer instead of copying them.
    fork = workers > 0 and "fork" in multiprocessing.get_all_start_methods()
    loader = torch.utils.data.DataLoader(
        batches,
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        multiprocessing_context="fork" if fork else None,
        generator=torch.Generator(),  # leaves the global RNG (dropout) untouched
    )
    with threadpool_limits(1, user_api="blas"):
        yield from loader


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
    """Backpropagate and step, unless the loss is NaN/inf; returns the detached loss.

    In a distributed run the loss decided on and returned is the mean over the
    processes, so all of them step, or stop, together.
    """
    loss_value = distributed.mean_over_ranks(loss.detach())
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
    songs = load_split(dataset_path, name, split, cache_dir, progress=distributed.is_main())
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
