"""Datasets in the Jamendo layout, per-frame targets and excerpts.

A dataset ``name`` lives in ``DATASET_PATH/datasets/<name>/`` with ``audio/`` (the
files), ``filelists/{train,valid,test}`` (one audio file name a line) and
``labels/<stem>.lab`` (``start_s end_s sing|nosing`` a line).
"""

import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from svdnet.audio import (
    EXCERPT_FRAMES,
    FRAME_LEN,
    HOP_LENGTH,
    N_BINS_USED,
    SAMPLE_RATE,
)
from svdnet.errors import InputError
from svdnet.spectra import allow_open_files, load_spectrogram, mel_blocks

SPLITS = ("train", "valid", "test")


def dataset_dir(dataset_path, name):
    """``DATASET_PATH/datasets/<name>``, checked to exist."""
    folder = Path(dataset_path) / "datasets" / name
    if not folder.is_dir():
        raise InputError(f"{folder}: dataset folder not found")
    return folder


def ensure_demo_splits(dataset_path, name, splits):
    """Synthesise the demo corpus's ``splits`` that have no filelist yet (``name == "demo"``).

    A demo split written before the splits grew is used as it is, with a note
    (:func:`svdnet.democorpus.note_short_splits`); a split the demo corpus does not have
    is an :class:`InputError`. Other datasets are left alone: they must be downloaded or
    made by their owner.
    """
    if name != "demo":
        return
    from svdnet.democorpus import SPLITS as DEMO_SPLITS  # synthesis needs more imports
    from svdnet.democorpus import note_short_splits, write_corpus

    unknown = [split for split in splits if split not in DEMO_SPLITS]
    if unknown:
        raise InputError(
            f"the demo corpus has no split {unknown[0]!r} (it has {', '.join(DEMO_SPLITS)})"
        )
    folder = Path(dataset_path) / "datasets" / name
    missing = [split for split in splits if not (folder / "filelists" / split).is_file()]
    if missing:
        write_corpus(dataset_path, splits=tuple(missing))
    note_short_splits(dataset_path, tuple(split for split in splits if split not in missing))


def read_filelist(folder, split):
    """Audio file names of one split, in file order."""
    path = Path(folder) / "filelists" / split
    if not path.is_file():
        raise InputError(f"{path}: filelist not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a filelist (not text: one audio file name a line)") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise InputError(f"{path}: filelist is empty")
    return names


def audio_path(folder, name):
    """Path of a listed audio file, checked to exist."""
    path = Path(folder) / "audio" / name
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    return path


def read_labels(path):
    """Segments of a .lab file as a list of ``(start_s, end_s, is_singing)``.

    Each line is ``start_s end_s sing|nosing``; times are finite, non-negative, and the
    segments come in time order without overlapping (a segment starts at or after the
    end of the one before).

    Raises
    ------
    InputError
        Naming ``file:line`` for the first line that breaks these rules.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: label file not found")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: label file is not text") from None
    segments = []
    for line_no, line in enumerate(lines, 1):
        if not line.split():
            continue
        segment, problem = _parse_segment(line.split())
        if problem is None and segments and segment[0] < segments[-1][1]:
            problem = f"starts at {segment[0]:g} s, before the previous one ends at "
            problem += f"{segments[-1][1]:g} s"
        if problem is not None:
            raise InputError(f"{path}:{line_no}: expected 'start end sing|nosing' ({problem})")
        segments.append(segment)
    return segments


def _parse_segment(fields):
    """``((start_s, end_s, is_singing), None)`` for a good line, else ``(None, problem)``."""
    if len(fields) != 3:
        return None, f"{len(fields)} fields"
    try:
        start_s, end_s = float(fields[0]), float(fields[1])
    except ValueError:
        return None, "times must be numbers"
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        return None, "times must be finite"
    if start_s < 0:
        return None, "negative start"
    if end_s < start_s:
        return None, "ends before it starts"
    if fields[2] not in ("sing", "nosing"):
        return None, f"unknown label {fields[2]!r}"
    return (start_s, end_s, fields[2] == "sing"), None


def label_path(folder, name):
    """The .lab file belonging to an audio file name."""
    return Path(folder) / "labels" / (Path(name).stem + ".lab")


def frame_targets(segments, n_frames, first_frame=0):
    """1.0 for frames whose centre lies in a singing segment, else 0.0.

    Returns
    -------
    targets : np.ndarray, float32, shape (n_frames,)
        Of frames ``first_frame .. first_frame + n_frames - 1``.
    """
    frames = np.arange(first_frame, first_frame + n_frames)
    centres_s = (frames * HOP_LENGTH + FRAME_LEN / 2) / SAMPLE_RATE
    targets = np.zeros(n_frames, np.float32)
    for start_s, end_s, is_singing in segments:
        if is_singing:
            targets[(centres_s >= start_s) & (centres_s < end_s)] = 1.0
    return targets


def excerpts(frames, n_frames=EXCERPT_FRAMES):
    """Every excerpt of ``n_frames`` consecutive frames, as a view (no copy).

    Parameters
    ----------
    frames : np.ndarray, shape (n_total, n_bands)

    Returns
    -------
    np.ndarray, shape (n_total - n_frames + 1, n_frames, n_bands); excerpt ``i``
    starts at frame ``i``.
    """
    if len(frames) < n_frames:
        return np.zeros((0, n_frames, frames.shape[1]), frames.dtype)
    return np.lib.stride_tricks.sliding_window_view(frames, n_frames, axis=0).transpose(0, 2, 1)


def excerpt_target(targets, excerpt_idx, n_frames=EXCERPT_FRAMES):
    """An excerpt's label: that of its central frame."""
    return targets[excerpt_idx + n_frames // 2]


class Song:
    """One audio file of a split: its name, linear spectrogram and frame targets."""

    def __init__(self, name, spect, targets):
        self.name = name
        self.spect = spect  # (n_frames, n_bins) float32 magnitudes, n_bins >= 372
        self.targets = targets  # (n_frames,) float32, 1.0 = singing

    def __repr__(self):
        return f"Song({self.name!r}, {len(self.spect)} frames)"


def load_split(dataset_path, name, split, cache_dir=None, progress=True, n_bins=N_BINS_USED):
    """Spectrograms and targets of every file of a split.

    Parameters
    ----------
    dataset_path : str or Path
        The folder holding ``datasets/<name>/``.
    name : str
        The dataset, e.g. ``demo`` or ``jamendo``.
    split : str
        ``train``, ``valid`` or ``test``.
    cache_dir : str or Path, optional
        Spectrogram cache (see :func:`svdnet.spectra.load_spectrogram`); the
        spectrograms are then memory-mapped from it, not held in memory.
    progress : bool
        Show a progress bar.
    n_bins : int
        Frequency bins kept: the 372 the mel filterbank reads, or more for pitch shifts.

    Returns
    -------
    list of :class:`Song`
    """
    folder = dataset_dir(dataset_path, name)
    names = read_filelist(folder, split)
    if cache_dir is not None:
        allow_open_files(len(names))
    songs = []
    for file_name in tqdm(names, desc=f"{split} spectra", disable=not progress):
        spect = load_spectrogram(audio_path(folder, file_name), cache_dir, n_bins)
        targets = frame_targets(read_labels(label_path(folder, file_name)), len(spect))
        songs.append(Song(file_name, spect, targets))
    return songs


def split_streams(dataset_path, name, split, mean, std, cache_dir=None):
    """``(file name, standardised log-mel block stream)`` of every file of a split.

    One file is decoded at a time, block by block (:func:`svdnet.spectra.mel_blocks`),
    with a progress bar over the files: memory does not grow with their length.
    """
    folder = dataset_dir(dataset_path, name)
    for file_name in tqdm(read_filelist(folder, split), desc=split, unit="file"):
        yield file_name, mel_blocks(audio_path(folder, file_name), mean, std, cache_dir)
