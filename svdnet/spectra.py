"""Spectrograms of whole files and of parts of them, with a memory-mapped cache.

Everything here streams: a file is decoded and transformed block by block
(:mod:`svdnet.decode`, :func:`svdnet.audio.spectrogram_blocks`), so memory does not grow
with the length of a recording beyond what the caller keeps. The cache holds one .npy
of all 513 bins per file, keyed by the file's content, written while it is computed and
read back memory-mapped, so a training set larger than memory can be used.
"""

import hashlib
import resource
from pathlib import Path

import numpy as np

from svdnet.audio import (
    FRAME_LEN,
    HOP_LENGTH,
    MEL_BLOCK_FRAMES,
    N_BINS,
    N_BINS_USED,
    log_mel,
    spectrogram_blocks,
    standardise,
)
from svdnet.decode import audio_blocks
from svdnet.errors import InputError
from svdnet.files import atomic_output

_HASH_CHUNK = 1 << 20


def file_digest(path):
    """SHA-1 of a file's content, read a megabyte at a time."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path(cache_dir, path):
    """The cache file of an audio file: keyed by content, so an edited file is recomputed."""
    return Path(cache_dir) / f"{Path(path).stem}-{file_digest(path)[:16]}.npy"


def stream(path, start_frame=0, n_frames=None):
    """Spectrogram frames of an audio file, decoded block by block.

    Parameters
    ----------
    path : str or Path
    start_frame : int
        First frame; only the samples from its first sample on are decoded (by seeking
        where the format allows).
    n_frames : int, optional
        Stop after this many frames (default: to the end of the file).

    Yields
    ------
    np.ndarray, float32, shape (n, 513)
    """
    n_samples = None if n_frames is None else max(0, n_frames - 1) * HOP_LENGTH + FRAME_LEN
    if n_frames == 0:
        return
    yield from spectrogram_blocks(audio_blocks(path, start_frame * HOP_LENGTH, n_samples))


def _npy_header(f, n_rows):
    # 128 bytes for any row count below 10**12, so it can be rewritten in place.
    header = {"descr": "<f4", "fortran_order": False, "shape": (n_rows, N_BINS)}
    np.lib.format.write_array_header_1_0(f, header)


def _write_cache(path, cached):
    """Compute the spectrogram of ``path`` into the .npy ``cached``, block by block."""
    with atomic_output(cached) as f:
        _npy_header(f, 0)
        data_start, n_rows = f.tell(), 0
        for block in stream(path):
            f.write(np.ascontiguousarray(block, "<f4").tobytes())
            n_rows += len(block)
        f.seek(0)
        _npy_header(f, n_rows)
        if f.tell() != data_start:
            raise AssertionError(f"{cached}: .npy header changed length")


def _read_cache(cached):
    """The cached 513-bin spectrogram, memory-mapped, or None if it is stale or unreadable."""
    if not cached.is_file():
        return None
    try:
        spect = np.load(cached, mmap_mode="r")
    except (OSError, ValueError):
        return None
    # Older versions cached 372 bins only; pitch shifts need all 513.
    return spect if spect.ndim == 2 and spect.shape[1] == N_BINS else None


def cached_spectrogram(path, cache_dir):
    """All 513 bins of ``path``, memory-mapped from the cache (computed there if missing)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    cached = cache_path(cache_dir, path)
    spect = _read_cache(cached)
    if spect is None:
        _write_cache(path, cached)
        spect = _read_cache(cached)
    return spect


def load_spectrogram(path, cache_dir=None, n_bins=N_BINS_USED):
    """Linear magnitude spectrogram of an audio file, cut to its lowest ``n_bins`` bins.

    Parameters
    ----------
    path : str or Path
        The audio file.
    cache_dir : str or Path, optional
        Folder for one .npy per file (see :func:`cached_spectrogram`); the result is then
        a read-only memory-mapped view.
    n_bins : int
        372 (below 8 kHz, what the mel filterbank reads) by default; training with
        pitch shifts reads up to all 513.

    Returns
    -------
    spect : np.ndarray, float32, shape (n_frames, n_bins)
    """
    if cache_dir is not None:
        return cached_spectrogram(path, cache_dir)[:, :n_bins]
    blocks = [block[:, :n_bins] for block in stream(path)]
    return np.concatenate([np.zeros((0, n_bins), np.float32), *blocks])


def load_window(path, start_frame, n_frames, cache_dir=None):
    """Frames ``start_frame .. start_frame + n_frames - 1`` (fewer at the end of the file).

    Reads them from the cache where the file has one, else decodes only that part of
    the file: a short excerpt of a long recording costs no more than of a short one.

    Returns
    -------
    np.ndarray, float32, shape (<= n_frames, 513)
    """
    if start_frame < 0:
        raise InputError(f"{path}: no frame starts before the file (asked for frame {start_frame})")
    if cache_dir is not None:
        spect = _read_cache(cache_path(cache_dir, path))
        if spect is not None:
            return np.array(spect[start_frame : start_frame + n_frames])
    blocks = list(stream(path, start_frame, n_frames))
    return np.concatenate([np.zeros((0, N_BINS), np.float32), *blocks])


def mel_blocks(path, mean, std, cache_dir=None, filterbank=None):
    """Standardised log-mel frames of a whole file, as a stream of blocks.

    With ``cache_dir`` the file's cache is used (and made if missing); without, the file
    is decoded block by block. Either way only a block is held at a time.

    Yields
    ------
    np.ndarray, float32, shape (n, 80)
    """
    if cache_dir is not None:
        spect = cached_spectrogram(path, cache_dir)
        blocks = (spect[i : i + MEL_BLOCK_FRAMES] for i in range(0, len(spect), MEL_BLOCK_FRAMES))
    else:
        blocks = stream(path)
    for block in blocks:
        yield standardise(log_mel(block, filterbank), mean, std)


def strips(blocks, n_new, overlap):
    """Re-cut a stream of frame blocks into strips of ``n_new + overlap`` frames.

    Each strip starts ``n_new`` frames after the previous one, so consecutive strips
    share ``overlap`` frames; the last one may be shorter (but holds a new frame).

    Yields
    ------
    np.ndarray, shape (<= n_new + overlap, n_bands), C-contiguous
    """
    held = None
    for block in blocks:
        held = block if held is None else np.concatenate([held, block])
        while len(held) >= n_new + overlap:
            yield np.ascontiguousarray(held[: n_new + overlap])
            held = held[n_new:]
    if held is not None and len(held) > overlap:
        yield np.ascontiguousarray(held)


def allow_open_files(n_files):
    """Raise the soft limit of open files if ``n_files`` memory maps would pass it.

    Each memory-mapped cache file keeps a file descriptor open for as long as it is used.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = n_files + 256  # for everything else the process opens
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
