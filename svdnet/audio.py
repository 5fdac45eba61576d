"""Signal front end: spectrogram, mel filterbank, log-mel, standardisation.

Decoding lives in :mod:`svdnet.decode`, whole files and their cache in :mod:`svdnet.spectra`.

Every constant here follows the original SVDNet front end (Schlueter & Grill, 2015);
the conformance tests compare each step with golden outputs of that implementation.
"""

from pathlib import Path

import numpy as np

from svdnet.errors import InputError
from svdnet.files import atomic_output, read_npz

SAMPLE_RATE = 22050
FRAME_LEN = 1024
HOP_LENGTH = SAMPLE_RATE // 70  # 315 samples: 70 frames per second
N_MELS = 80
FMIN_HZ = 27.5
FMAX_HZ = 8000.0
N_BINS = FRAME_LEN // 2 + 1  # 513
N_BINS_USED = N_BINS * 2 * int(FMAX_HZ) // SAMPLE_RATE  # 372: bins below 8 kHz
EXCERPT_FRAMES = 115  # about 1.6 s
LOG_FLOOR = 1e-7
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
BLOCK_FRAMES = 4096  # frames transformed at once: 32 MB of float64 work space
MEL_BLOCK_FRAMES = 1 << 16  # frames projected on the mel filterbank at once


def spectrogram(samples, block_frames=BLOCK_FRAMES):
    """Magnitude spectrogram, computed in float64 like the original.

    Frames of 1024 samples every 315 samples, symmetric Hann window, first frame at
    sample 0, no padding: ``(len(samples) - 1024) // 315 + 1`` frames. They are
    transformed ``block_frames`` at a time, so the float64 work space stays small.

    Returns
    -------
    spect : np.ndarray, float32, shape (n_frames, 513)
    """
    samples = np.asarray(samples)
    n_frames = max(0, (len(samples) - FRAME_LEN) // HOP_LENGTH + 1)
    spect = np.empty((n_frames, N_BINS), dtype=np.float32)
    if n_frames == 0:
        return spect
    frames = np.lib.stride_tricks.sliding_window_view(samples, FRAME_LEN)[::HOP_LENGTH]
    window = np.hanning(FRAME_LEN)  # float64: each block is windowed in float64
    for first in range(0, n_frames, block_frames):
        block = frames[first : min(first + block_frames, n_frames)] * window
        spect[first : first + len(block)] = np.abs(np.fft.rfft(block, axis=1))
    return spect


def spectrogram_blocks(sample_blocks):
    """The spectrogram of a stream of sample blocks, as a stream of frame blocks.

    The frames are those of :func:`spectrogram` on all the samples joined: each block
    keeps the samples of the frames it could not finish for the next.

    Parameters
    ----------
    sample_blocks : iterable of np.ndarray, shape (n,)

    Yields
    ------
    np.ndarray, float32, shape (n_frames, 513)
    """
    tail = np.zeros(0, np.float32)
    for samples in sample_blocks:
        joined = np.concatenate([tail, samples])
        n_frames = max(0, (len(joined) - FRAME_LEN) // HOP_LENGTH + 1)
        if n_frames:
            yield spectrogram(joined[: (n_frames - 1) * HOP_LENGTH + FRAME_LEN])
        tail = joined[n_frames * HOP_LENGTH :]


def _hz_to_mel(f_hz):
    return 1127.0 * np.log1p(np.asarray(f_hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * np.expm1(np.asarray(mel) / 1127.0)


def mel_filterbank(n_mels=N_MELS, fmin_hz=FMIN_HZ, fmax_hz=FMAX_HZ, sr=SAMPLE_RATE):
    """Triangular mel filterbank, cut to the FFT bins below ``fmax_hz``.

    Peaks are equally spaced on the mel scale; each triangle is built on the FFT bin
    grid (peaks snapped to the next bin) and normalised to unit sum.

    Returns
    -------
    filterbank : np.ndarray, float32, shape (372, n_mels)
    """
    bin_hz = np.linspace(0, sr / 2, N_BINS)
    peaks_hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin_hz), _hz_to_mel(fmax_hz), n_mels + 2))
    peaks_bin = np.searchsorted(bin_hz, peaks_hz)
    filterbank = np.zeros((N_BINS, n_mels))
    for band in range(n_mels):
        left_hz, _, right_hz = peaks_hz[band : band + 3]
        left, top, right = peaks_bin[band : band + 3]
        filterbank[left:top, band] = (bin_hz[left:top] - left_hz) / (top - left)
        filterbank[top:right, band] = (right_hz - bin_hz[top:right]) / (right - top)
        filterbank[left:right, band] /= filterbank[left:right, band].sum()
    n_used = N_BINS * 2 * int(fmax_hz) // sr
    return filterbank[:n_used].astype(np.float32)


def log_mel(spect, filterbank=None):
    """Natural log of the mel spectrogram, floored at 1e-7.

    Parameters
    ----------
    spect : np.ndarray, shape (n_frames, >= 372)
        Magnitude spectrogram; bins past the filterbank are ignored.
    filterbank : np.ndarray, shape (372, n_mels), optional
        Defaults to :func:`mel_filterbank`.
    """
    if filterbank is None:
        filterbank = mel_filterbank()
    out = np.empty((len(spect), filterbank.shape[1]), np.float32)
    # In blocks, so a memory-mapped spectrogram is never copied whole.
    for first in range(0, len(spect), MEL_BLOCK_FRAMES):
        block = np.asarray(spect[first : first + MEL_BLOCK_FRAMES, : len(filterbank)], np.float32)
        out[first : first + len(block)] = np.log(np.maximum(block @ filterbank, LOG_FLOOR))
    return out


def load_meanstd(path, n_mels=N_MELS):
    """Read per-band standardisation statistics (keys ``mean`` and ``std``).

    Raises
    ------
    InputError
        If the file is missing or unreadable, lacks a key, holds other than ``n_mels``
        finite numbers per key, or a standard deviation that is not positive (the
        excerpts are divided by it).
    """
    path = Path(path)
    arrays = read_npz(path, "meanstd file")
    if "mean" not in arrays or "std" not in arrays:
        found = ", ".join(sorted(arrays)[:5]) or "nothing"
        raise InputError(f"{path}: meanstd file needs keys 'mean' and 'std' (found {found})")
    mean, std = arrays["mean"], arrays["std"]
    if mean.shape != (n_mels,) or std.shape != (n_mels,):
        raise InputError(
            f"{path}: meanstd holds {mean.shape} / {std.shape} values, expected ({n_mels},)"
        )
    for key, values in (("mean", mean), ("std", std)):
        if values.dtype.kind not in "fiu":
            raise InputError(
                f"{path}: meanstd file: {key} holds {values.dtype} values, not numbers"
            )
        if not np.all(np.isfinite(values)):
            band = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(f"{path}: meanstd file: {key} of band {band} is {values[band]}")
    if np.any(std <= 0):
        band = int(np.flatnonzero(std <= 0)[0])
        raise InputError(
            f"{path}: meanstd file: std must be positive (band {band} is {std[band]:g})"
        )
    return mean, std


def save_meanstd(path, mean, std):
    """Write standardisation statistics atomically (keys ``mean`` and ``std``)."""
    atomic_save_npz(path, mean=np.asarray(mean, np.float64), std=np.asarray(std, np.float64))


def standardise(mel, mean, std):
    """Per-band standardisation ``(mel - mean) / std``, in float32."""
    return ((mel - mean) / std).astype(np.float32)


def atomic_save_npz(path, **arrays):
    """Save arrays as an .npz so that ``path`` is either absent or complete."""
    with atomic_output(path) as f:
        np.savez(f, **arrays)
