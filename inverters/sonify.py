"""Hearing an excerpt: standardised log-mel frames back to audio at 22050 Hz.

The chain undoes the front end step by step (SPEC §11): standardisation (``x * std +
mean``), the log (``exp``), then the mel filterbank, which is not invertible: each
frame's 372 linear bins below 8 kHz are estimated by the pseudo-inverse clipped at zero
(or non-negative least squares), the bins above stay silent. The phase is either the
original excerpt's (as Choi et al. 2016 auralised CNN features) or estimated from the
magnitudes alone by Griffin-Lim, with the front end's frame length, hop and window.
An input and its inversion sent through the same chain sound comparably.
"""

import numpy as np
import soundfile as sf
from scipy.optimize import nnls

from svdnet.audio import (
    FRAME_LEN,
    HOP_LENGTH,
    N_BINS,
    SAMPLE_RATE,
    log_mel,
    mel_filterbank,
    spectrogram,
    standardise,
)
from svdnet.errors import InputError
from svdnet.files import atomic_output

PHASES = ("original", "griffinlim")
MEL_INVERSIONS = ("pinv", "nnls")
GRIFFIN_LIM_ITERATIONS = 64


def n_samples(n_frames):
    """Samples covered by ``n_frames`` frames of the front end: ``(n - 1) * 315 + 1024``."""
    return (n_frames - 1) * HOP_LENGTH + FRAME_LEN


def mel_magnitudes(excerpt, mean, std):
    """Undo standardisation and log: mel magnitudes of a standardised log-mel excerpt."""
    return np.exp(np.asarray(excerpt, np.float64) * std + mean)


def linear_magnitudes(mels, method="pinv", filterbank=None):
    """Linear magnitudes (n_frames, 513) whose mel projection is closest to ``mels``.

    Parameters
    ----------
    mels : np.ndarray, shape (n_frames, 80)
        Mel magnitudes (:func:`mel_magnitudes`).
    method : {"pinv", "nnls"}
        The pseudo-inverse clipped at zero, or non-negative least squares per frame.
    """
    if filterbank is None:
        filterbank = mel_filterbank()
    fb = np.asarray(filterbank, np.float64)  # (372, 80)
    out = np.zeros((len(mels), N_BINS))
    if method == "pinv":
        out[:, : len(fb)] = np.maximum(mels @ np.linalg.pinv(fb), 0)
    elif method == "nnls":
        for i, frame in enumerate(mels):
            out[i, : len(fb)] = nnls(fb.T, frame)[0]
    else:
        raise ValueError(f"unknown mel inversion {method!r}; choose from {MEL_INVERSIONS}")
    return out


def original_phase(samples):
    """Phase (n_frames, 513) of the front end's frames of ``samples``."""
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(samples, np.float64), FRAME_LEN)
    return np.angle(np.fft.rfft(frames[::HOP_LENGTH] * np.hanning(FRAME_LEN), axis=1))


def window_weight(n_frames):
    """Sum of the squared windows over each sample of ``n_frames`` overlapping frames."""
    window = np.hanning(FRAME_LEN)
    weight = np.zeros(n_samples(n_frames))
    for i in range(n_frames):
        weight[i * HOP_LENGTH : i * HOP_LENGTH + FRAME_LEN] += window**2
    return weight


def _floored(weight):
    # Only the first and last few samples are covered by window tails alone: dividing
    # by their tiny weight would blow them up, so they fade in and out instead.
    return np.maximum(weight, 0.1 * weight.max())


def overlap_add(magnitudes, phase):
    """Inverse of the front end's STFT: window-weighted overlap-add of the frames."""
    frames = np.fft.irfft(magnitudes * np.exp(1j * phase), n=FRAME_LEN, axis=1)
    frames *= np.hanning(FRAME_LEN)
    out = np.zeros(n_samples(len(frames)))
    for i, frame in enumerate(frames):
        out[i * HOP_LENGTH : i * HOP_LENGTH + FRAME_LEN] += frame
    return out / _floored(window_weight(len(frames)))


def griffin_lim(magnitudes, seed=0):
    """Audio whose front-end STFT magnitudes approach ``magnitudes`` (librosa's Griffin-Lim)."""
    import librosa  # only this phase needs it

    audio = librosa.griffinlim(
        magnitudes.T,
        n_iter=GRIFFIN_LIM_ITERATIONS,
        hop_length=HOP_LENGTH,
        win_length=FRAME_LEN,
        n_fft=FRAME_LEN,
        window=np.hanning(FRAME_LEN),
        center=False,
        length=n_samples(len(magnitudes)),
        random_state=seed,
    )
    # librosa divides by the bare window weight; give the edges the same fade as above.
    weight = window_weight(len(magnitudes))
    return audio * weight / _floored(weight)


def sonify(excerpt, mean, std, phase="original", samples=None, method="pinv", seed=0):
    """Audio at 22050 Hz of a standardised log-mel excerpt (an input or an inversion).

    Parameters
    ----------
    excerpt : np.ndarray, shape (n_frames, 80)
    mean, std : np.ndarray, shape (80,)
        The standardisation the excerpt was made with.
    phase : {"original", "griffinlim"}
    samples : np.ndarray, optional
        The excerpt's original audio (at least ``n_samples(n_frames)`` samples from its
        first frame on); needed for ``phase="original"``.
    method : {"pinv", "nnls"}
        How the mel bands are spread back over the linear bins: the pseudo-inverse clipped
        at zero (fast; re-analysed, as close to the excerpt as NNLS) or non-negative least
        squares per frame (30 times slower).
    seed : int
        Griffin-Lim's random initial phase.

    Returns
    -------
    np.ndarray, float32, shape (n_samples(n_frames),)
        At the level of the original (write it as float WAV: it may pass 1).
    """
    magnitudes = linear_magnitudes(mel_magnitudes(excerpt, mean, std), method)
    if phase == "original":
        if samples is None or len(samples) < n_samples(len(excerpt)):
            raise InputError("the original phase needs the excerpt's audio")
        audio = overlap_add(magnitudes, original_phase(samples[: n_samples(len(excerpt))]))
    elif phase == "griffinlim":
        audio = griffin_lim(magnitudes, seed)
    else:
        raise InputError(f"unknown phase {phase!r}; choose from {', '.join(PHASES)}")
    return audio.astype(np.float32)


def reanalyse(audio, mean, std):
    """The standardised log-mel frames of sonified audio, to compare with its excerpt."""
    return standardise(log_mel(spectrogram(audio)), mean, std)


def write_wav(path, audio):
    """Write mono float audio at 22050 Hz as a 32-bit float WAV, atomically."""
    with atomic_output(path) as f:
        sf.write(f, np.asarray(audio, np.float32), SAMPLE_RATE, format="WAV", subtype="FLOAT")
