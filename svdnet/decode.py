"""Decoding audio files block by block, to mono float32 at the front end's sample rate.

Memory stays bounded by the block size, whatever the length of the file: a whole file is
read as consecutive blocks, and a part of it by seeking where the format allows (WAV,
FLAC and OGG through libsndfile do so sample-exactly; MP3 to about 1e-6, as its decoder
restarts after a seek). Files at other rates are
resampled with soxr's streaming resampler, which gives the same samples as resampling
the whole file at once; a part of such a file is resampled from half a second before it,
which matches the whole-file result to about 1e-7. Files libsndfile cannot open are
decoded by ffmpeg, streamed through a pipe.
"""

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from svdnet.audio import SAMPLE_RATE
from svdnet.errors import InputError

BLOCK_SAMPLES = 1 << 20  # about 48 s at 22050 Hz: 4 MB of float32 per block
RESAMPLE_MARGIN_S = 0.5  # decoded before a part of a resampled file, for the filter


def _check_finite(path, block):
    if not np.all(np.isfinite(block)):
        raise InputError(f"{path}: audio file holds NaN or infinite samples")
    return block


def _open(path):
    """A SoundFile, or None where libsndfile cannot read the file."""
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None


def _soundfile_blocks(f, start, block):
    """Mono blocks of an open file at its own rate, from sample ``start`` on."""
    if start:
        if f.seekable():
            f.seek(min(start, f.frames))
        else:  # read and drop what lies before ``start``
            while start > 0 and len(f.read(min(start, block), dtype="float32")):
                start -= block
    while True:
        samples = f.read(block, dtype="float32", always_2d=True)
        if not len(samples):
            return
        yield samples.mean(axis=1, dtype=np.float32)


def _resampled(blocks, in_rate, out_rate):
    """Resample a stream of blocks; the same samples as resampling them joined."""
    import soxr  # a librosa dependency; only needed off the native rate

    stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")
    for samples in blocks:
        out = stream.resample_chunk(samples)
        if len(out):
            yield out
    yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def _aligned_source_start(start, in_rate, out_rate):
    """A source sample at or before ``start`` (an output index) minus the filter margin,
    on the grid where source and output samples coincide; returns (source, output) index."""
    grid = in_rate // math.gcd(in_rate, out_rate)
    wanted = start * in_rate / out_rate - RESAMPLE_MARGIN_S * in_rate
    source = max(0, math.floor(wanted / grid)) * grid
    return source, source * out_rate // in_rate


def _ffmpeg_blocks(path, block, sr):
    """Mono float32 blocks at ``sr`` decoded by ffmpeg, read from its pipe."""
    if shutil.which("ffmpeg") is None:
        raise InputError(f"{path}: cannot decode (libsndfile failed and ffmpeg is not installed)")
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(sr), "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    total = 0
    try:
        while chunk := proc.stdout.read(4 * block):
            total += len(chunk) // 4
            yield np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype=np.float32).copy()
        reason = proc.stderr.read().decode(errors="replace").strip().splitlines()
        if proc.wait() != 0:
            raise InputError(f"{path}: cannot decode ({reason[-1] if reason else 'ffmpeg failed'})")
        if total == 0:
            raise InputError(f"{path}: audio file holds no samples")
    finally:
        proc.kill()
        proc.wait()


def _skip(blocks, n):
    """Drop the first ``n`` samples of a stream of blocks."""
    for samples in blocks:
        if n >= len(samples):
            n -= len(samples)
            continue
        yield samples[n:]
        n = 0


def _limit(blocks, n):
    """Stop a stream of blocks after ``n`` samples (``None``: no limit)."""
    for samples in blocks:
        if n is not None and n <= len(samples):
            if n:
                yield samples[:n]
            return
        if n is not None:
            n -= len(samples)
        yield samples


def _raw_blocks(path, start, block, sr):
    """Blocks at ``sr`` from output sample ``start`` on, before any check."""
    f = _open(path)
    if f is None:
        yield from _skip(_ffmpeg_blocks(path, block, sr), start)
        return
    with f:
        if f.frames == 0:
            raise InputError(f"{path}: audio file holds no samples")
        if f.samplerate == sr:
            yield from _soundfile_blocks(f, start, block)
            return
        source, first = _aligned_source_start(start, f.samplerate, sr)
        resampled = _resampled(_soundfile_blocks(f, source, block), f.samplerate, sr)
        yield from _skip(resampled, start - first)


def audio_blocks(path, start=0, n_samples=None, block=BLOCK_SAMPLES, sr=SAMPLE_RATE):
    """Decode an audio file in blocks: mono (channels averaged), float32, at ``sr``.

    Parameters
    ----------
    path : str or Path
        A .wav, .flac, .ogg or .mp3 file (anything libsndfile or ffmpeg reads).
    start : int
        First sample to yield, counted at ``sr``.
    n_samples : int, optional
        Stop after this many samples (default: the end of the file).
    block : int
        Samples read from the file at a time (blocks may come out shorter or longer
        where resampled).
    sr : int
        Target sample rate in Hz.

    Yields
    ------
    np.ndarray, float32, shape (n,)

    Raises
    ------
    InputError
        If the file is missing, cannot be decoded or holds NaN or infinite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    try:
        for samples in _limit(_raw_blocks(path, start, block, sr), n_samples):
            yield _check_finite(path, samples)
    except (sf.LibsndfileError, RuntimeError) as err:  # a damaged file, found mid-stream
        raise InputError(f"{path}: cannot decode ({err})") from None


def load_audio(path, sr=SAMPLE_RATE):
    """Decode a whole audio file to one mono float32 signal at ``sr`` Hz.

    Returns
    -------
    samples : np.ndarray, float32, shape (n_samples,)
    """
    return np.concatenate([np.zeros(0, np.float32), *audio_blocks(path, sr=sr)])
