"""Time-aligned filtering for the demo corpus's recording chain.

Second-order Butterworth bands and steep low-passes (designed once per setting and
cached), zero-phase filtering, and measuring and removing the latency of a processor
such as pedalboard's MP3 round trip.
"""

from __future__ import annotations

import functools

import numpy as np
import pedalboard
from scipy import signal


@functools.lru_cache(maxsize=64)
def _band_sos(low_hz: float, high_hz: float, sr: int) -> np.ndarray:
    """Second-order Butterworth band: high-pass, low-pass or band-pass as the edges allow."""
    nyquist = sr / 2
    if low_hz <= 0:
        return signal.butter(2, min(high_hz, 0.99 * nyquist), "lowpass", fs=sr, output="sos")
    if high_hz >= 0.99 * nyquist:
        return signal.butter(2, low_hz, "highpass", fs=sr, output="sos")
    return signal.butter(2, (low_hz, high_hz), "bandpass", fs=sr, output="sos")


@functools.lru_cache(maxsize=64)
def _lowpass_sos(cutoff_hz: float, sr: int) -> np.ndarray:
    return signal.butter(8, min(cutoff_hz, 0.99 * sr / 2), "lowpass", fs=sr, output="sos")


def _zero_phase(sos: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Forward-backward filtering along the last axis: no delay at any frequency."""
    padlen = min(3 * (2 * len(sos) + 1), y.shape[-1] - 1)
    return signal.sosfiltfilt(sos, y, axis=-1, padlen=max(padlen, 0))


@functools.lru_cache(maxsize=32)
def _mp3_latency(quality: int, sr: int) -> int:
    """Samples by which pedalboard's MP3 round trip delays a signal (measured once)."""
    probe = np.random.default_rng(0).standard_normal(sr) * 0.1
    coded = pedalboard.MP3Compressor(float(quality))(probe.astype(np.float32)[None], sr)[0]
    return measure_lag(probe, coded.astype(np.float64), max_lag=4096)


def measure_lag(reference: np.ndarray, y: np.ndarray, max_lag: int) -> int:
    """Delay of ``y`` behind ``reference`` in samples, by cross-correlation.

    Parameters
    ----------
    reference, y : numpy.ndarray
        Signals of equal length, shape ``(n,)``.
    max_lag : int
        Largest delay, either sign, to consider.

    Returns
    -------
    int
        Positive when ``y`` comes late.
    """
    correlation = signal.correlate(y, reference, mode="full", method="fft")
    lags = np.arange(-len(reference) + 1, len(y))
    window = np.abs(lags) <= max_lag
    return int(lags[window][np.argmax(correlation[window])])


def _advance(y: np.ndarray, lag: int) -> np.ndarray:
    """Shift ``y`` earlier by ``lag`` samples (later when negative), keeping its length."""
    if lag == 0:
        return y
    out = np.zeros_like(y)
    if lag > 0:
        out[: len(y) - lag] = y[lag:]
    else:
        out[-lag:] = y[: len(y) + lag]
    return out
