"""Signal front end: decoding, spectrogram, mel filterbank, log-mel, standardisation.

Every constant here follows the original SVDNet front end (Schlueter & Grill, 2015);
the conformance tests compare each step with golden outputs of that implementation.
"""

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

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


def _decode_soundfile(path):
    samples, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return samples.mean(axis=1, dtype=np.float32), sr


def _decode_ffmpeg(path):
    """Decode with ffmpeg (mono, float32, our rate); used when libsndfile cannot."""
    if shutil.which("ffmpeg") is None:
        raise InputError(f"{path}: cannot decode (libsndfile failed and ffmpeg is not installed)")
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1"]
    cmd += ["-ar", str(SAMPLE_RATE), "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"{path}: cannot decode ({reason[-1] if reason else 'ffmpeg failed'})")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), SAMPLE_RATE


def load_audio(path, sr=SAMPLE_RATE):
    """Decode an audio file to a mono float32 signal.

    Parameters
    ----------
    path : str or Path
        A .wav, .flac, .ogg or .mp3 file (anything libsndfile or ffmpeg reads).
    sr : int
        Target sample rate in Hz; other rates are resampled with soxr.

    Returns
    -------
    samples : np.ndarray, float32, shape (n_samples,)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    try:
        samples, file_sr = _decode_soundfile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        samples, file_sr = _decode_ffmpeg(path)
    if samples.size == 0:
        raise InputError(f"{path}: audio file holds no samples")
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{path}: audio file holds NaN or infinite samples")
    if file_sr != sr:
        import soxr  # a librosa dependency; only needed off the native rate

        samples = soxr.resample(samples, file_sr, sr, quality="HQ").astype(np.float32)
    return samples


def spectrogram(samples):
    """Magnitude spectrogram, computed in float64 like the original.

    Frames of 1024 samples every 315 samples, symmetric Hann window, first frame at
    sample 0, no padding: ``(len(samples) - 1024) // 315 + 1`` frames.

    Returns
    -------
    spect : np.ndarray, float32, shape (n_frames, 513)
    """
    samples = np.asarray(samples, dtype=np.float64)
    n_frames = max(0, (len(samples) - FRAME_LEN) // HOP_LENGTH + 1)
    if n_frames == 0:
        return np.zeros((0, N_BINS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, FRAME_LEN)[::HOP_LENGTH]
    frames = frames[:n_frames] * np.hanning(FRAME_LEN)
    return np.abs(np.fft.rfft(frames, axis=1)).astype(np.float32)


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
    mel = np.asarray(spect[:, : len(filterbank)], np.float32) @ filterbank
    return np.log(np.maximum(mel, LOG_FLOOR))


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


def _cache_path(cache_dir, path):
    # Keyed by content, so an edited or replaced file is recomputed.
    digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]
    return Path(cache_dir) / f"{Path(path).stem}-{digest}.npy"


def load_spectrogram(path, cache_dir=None, n_bins=N_BINS_USED):
    """Linear magnitude spectrogram of an audio file, cut to its lowest ``n_bins`` bins.

    Parameters
    ----------
    path : str or Path
        The audio file.
    cache_dir : str or Path, optional
        Folder for one .npy per file, keyed by the file's content; it holds all 513
        bins, so one cache serves every ``n_bins``.
    n_bins : int
        372 (below 8 kHz, what the mel filterbank reads) by default; training with
        pitch shifts reads up to all 513.

    Returns
    -------
    spect : np.ndarray, float32, shape (n_frames, n_bins)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    cached = _cache_path(cache_dir, path) if cache_dir is not None else None
    if cached is not None and cached.is_file():
        spect = np.load(cached)
        if spect.shape[1] == N_BINS:  # older caches kept 372 bins only
            return np.ascontiguousarray(spect[:, :n_bins])
    spect = spectrogram(load_audio(path))
    if cached is not None:
        with atomic_output(cached) as f:
            np.save(f, spect)
    return np.ascontiguousarray(spect[:, :n_bins])
