"""Signal helpers shared by the demo corpus's voices, instruments and mix."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import signal

SR = 22050


TABLE_SIZE = 2048  # samples in one wavetable period


PEAK_MAX = 0.99


@dataclass(frozen=True)
class Timbre:
    """Additive timbre: harmonic k has amplitude ``k ** -rolloff`` (even ones scaled)."""

    rolloff: float
    even_gain: float  # 0 gives a hollow, square-like spectrum
    max_harmonics: int
    attack_s: float
    decay_s: float  # exponential decay time constant; inf for sustained tones
    release_s: float


def _samples(ms: float, sr: int) -> int:
    """Sample index of a time in milliseconds."""
    return int(round(ms * sr / 1000))


def _midi_to_hz(midi: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def _db(gain_db: float) -> float:
    return 10.0 ** (gain_db / 20.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def _add_at(out: np.ndarray, x: np.ndarray, start: int) -> None:
    """Add ``x`` into ``out`` from sample ``start`` on, cutting what falls outside."""
    stop = min(len(out), start + len(x))
    if stop > start >= 0:
        out[start:stop] += x[: stop - start]


@functools.lru_cache(maxsize=64)
def _bandpass_sos(low_hz: float, high_hz: float, sr: int) -> np.ndarray:
    """Second-order Butterworth band-pass, kept below Nyquist."""
    high_hz = min(high_hz, 0.45 * sr)
    return signal.butter(2, (low_hz, high_hz), "bandpass", fs=sr, output="sos")


def _harmonic_table(timbre: Timbre, max_f0_hz: float, sr: int) -> np.ndarray:
    """One wavetable period of a timbre, band-limited for pitches up to ``max_f0_hz``."""
    n_harmonics = int(min(timbre.max_harmonics, 0.45 * sr / max_f0_hz, TABLE_SIZE // 2 - 1))
    k = np.arange(1, max(n_harmonics, 1) + 1)
    amps = k**-timbre.rolloff * np.where(k % 2 == 0, timbre.even_gain, 1.0)
    spectrum = np.zeros(TABLE_SIZE // 2 + 1, complex)
    spectrum[k] = -1j * amps * TABLE_SIZE / 2  # sine phases
    table = np.fft.irfft(spectrum, TABLE_SIZE)
    return table / np.max(np.abs(table))


def _lookup(table: np.ndarray, phase_cycles: np.ndarray) -> np.ndarray:
    """Read a periodic wavetable at fractional phases (in cycles), linear interpolation."""
    position = (phase_cycles % 1.0) * len(table)
    index = position.astype(np.int64)
    frac = position - index
    wrapped = np.append(table, table[0])
    return wrapped[index] * (1.0 - frac) + wrapped[index + 1] * frac


def _envelope(timbre: Timbre, n: int, sr: int) -> np.ndarray:
    """Attack ramp, exponential decay and release ramp of one tone of ``n`` samples."""
    t_s = np.arange(n) / sr
    env = np.minimum(t_s / timbre.attack_s, 1.0) * np.exp(-t_s / timbre.decay_s)
    n_release = min(n, max(1, int(timbre.release_s * sr)))
    env[n - n_release :] *= np.linspace(1.0, 0.0, n_release)
    return env
