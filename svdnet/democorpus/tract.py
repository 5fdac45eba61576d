"""Vocal-tract models: a time-varying resonator cascade and a frame-wise parallel formant bank.

The cascade runs as second-order sections updated block by block; the parallel bank
multiplies short-time spectra by its frequency response (windowed overlap-add), which makes
a sum of resonators with per-formant gains and a nasal pole-zero pair as cheap as one FFT
per frame.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

FRAME = 512  # analysis frame of the frame-wise filters, samples


HOP = 256  # periodic Hann windows at half overlap sum to one


N_FFT = 2048  # room for the resonators' ringing after a frame, against circular wrap


def _formant_filter(
    source: np.ndarray, freqs_hz: np.ndarray, bandwidths_hz: np.ndarray, block: int, sr: int
) -> np.ndarray:
    """Cascade of unity-DC-gain resonators whose frequencies change every ``block`` samples.

    ``freqs_hz`` has one row per block; the filter state carries over between blocks.
    ``bandwidths_hz`` has one value per formant, or one row per block.
    """
    radius = np.exp(-np.pi * np.asarray(bandwidths_hz) / sr)
    a1 = -2 * radius * np.cos(2 * np.pi * freqs_hz / sr)
    a2 = np.broadcast_to(radius**2, a1.shape)
    sos = np.zeros(a1.shape + (6,))
    sos[..., 0], sos[..., 3], sos[..., 4], sos[..., 5] = 1 + a1 + a2, 1.0, a1, a2
    state = np.zeros((a1.shape[1], 2))
    out = np.empty_like(source)
    for i in range(len(sos)):
        part = slice(i * block, (i + 1) * block)
        out[part], state = signal.sosfilt(sos[i], source[part], zi=state)
    return out


def frame_centres(n: int) -> np.ndarray:
    """Sample positions of the frame centres that :func:`frame_filter` uses for ``n`` samples."""
    n_frames = (n + FRAME) // HOP + 1
    return np.arange(n_frames) * HOP - FRAME // 2


def bin_freqs_hz(sr: int) -> np.ndarray:
    """Frequencies of the frame-wise filters' FFT bins."""
    return np.fft.rfftfreq(N_FFT, 1.0 / sr)


def frame_filter(x: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Filter ``x`` by a response that changes from frame to frame.

    Parameters
    ----------
    x : numpy.ndarray
        Signal of ``n`` samples.
    responses : numpy.ndarray
        Complex or real gains, shape ``(len(frame_centres(n)), N_FFT // 2 + 1)``.

    Returns
    -------
    numpy.ndarray
        ``n`` filtered samples.
    """
    n = len(x)
    n_frames = len(responses)
    padded = np.zeros(n_frames * HOP + N_FFT)
    padded[FRAME : FRAME + n] = x
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME)[::HOP][:n_frames]
    filtered = np.fft.irfft(np.fft.rfft(frames * window, N_FFT) * responses, N_FFT)
    out = np.zeros(n_frames * HOP + N_FFT)
    for j in range(N_FFT // HOP):
        out[j * HOP : j * HOP + n_frames * HOP] += filtered[:, j * HOP : (j + 1) * HOP].ravel()
    return out[FRAME : FRAME + n]


def resonator(
    freqs_hz: np.ndarray, bandwidths_hz: np.ndarray, z_inv: np.ndarray, sr: int
) -> np.ndarray:
    """Response of unity-DC-gain two-pole resonators, one per row of ``freqs_hz``, at ``z_inv``.

    ``freqs_hz`` and ``bandwidths_hz`` have shape (n_frames, 1); ``z_inv`` is ``exp(-j w)``
    of the evaluation frequencies.
    """
    radius = np.exp(-np.pi * bandwidths_hz / sr)
    a1 = -2 * radius * np.cos(2 * np.pi * freqs_hz / sr)
    a2 = radius**2
    return (1 + a1 + a2) / (1 + a1 * z_inv + a2 * z_inv**2)


def parallel_response(
    formants_hz: np.ndarray,
    bandwidths_hz: np.ndarray,
    gains: np.ndarray,
    nasal: np.ndarray,
    sr: int,
) -> np.ndarray:
    """Frequency response of a parallel formant bank behind a nasal pole-zero pair.

    Parameters
    ----------
    formants_hz, bandwidths_hz : numpy.ndarray
        Shape (n_frames, n_formants).
    gains : numpy.ndarray
        Linear gain of each formant branch, (n_formants,); branches alternate in sign so
        that the skirts between formants add rather than cancel.
    nasal : numpy.ndarray
        Nasal coupling per frame, 0..1: the zero moves up from the nasal pole at 270 Hz
        and the higher branches lose energy.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        Complex response, (n_frames, N_FFT // 2 + 1).
    """
    z_inv = np.exp(-2j * np.pi * bin_freqs_hz(sr) / sr)[None, :]
    nasal = nasal[:, None]
    # The cascade's level at each formant sets the branch gains, as in formant synthesisers
    # that copy a cascade's spectrum with a parallel bank.
    at_formants = np.exp(-2j * np.pi * formants_hz / sr)
    columns = [
        (formants_hz[:, j : j + 1], bandwidths_hz[:, j : j + 1])
        for j in range(formants_hz.shape[1])
    ]
    level = np.ones(formants_hz.shape)
    for freq_hz, bandwidth_hz in columns:
        level *= np.abs(resonator(freq_hz, bandwidth_hz, at_formants, sr))
    total = np.zeros((len(formants_hz), z_inv.shape[1]), complex)
    for j, (freq_hz, bandwidth_hz) in enumerate(columns):
        peak = np.abs(resonator(freq_hz, bandwidth_hz, at_formants[:, j : j + 1], sr))
        damping = 1.0 if j == 0 else 1.0 - 0.7 * nasal
        branch = resonator(freq_hz, bandwidth_hz, z_inv, sr)
        total += (-1) ** j * gains[j] * damping * (level[:, j : j + 1] / peak) * branch
    pole_hz = np.full_like(nasal, 270.0)
    zero = resonator(pole_hz + 250.0 * nasal, np.full_like(nasal, 80.0), z_inv, sr)
    pole = resonator(pole_hz, np.full_like(nasal, 80.0), z_inv, sr)
    return total * pole / zero
