"""FOF voices: the formant-wave-function synthesis of the CHANT singing synthesiser.

Every glottal period starts one grain per formant: a sinusoid at the formant's frequency
with a smooth attack and an exponential decay set by the formant's bandwidth. The spectrum
of one grain is one formant, so a train of grains at the pulse rate is a harmonic spectrum
under that formant; the voice is the sum over formants, with no source waveform and no
filter. The attack time shapes the formant's skirts (longer attacks: less high-frequency
energy), which no other family of the corpus controls this way.
"""

from __future__ import annotations

import numpy as np

MAX_GRAIN_S = 0.03  # longest grain: a 40 Hz bandwidth has decayed by 33 dB
DECAY_40_DB = np.log(100.0)  # decay exponent (pi * bandwidth * t) of a 40 dB fall
CHUNK = 1024  # grains summed at once, to bound memory for high, long phrases


def pulse_onsets(phase: np.ndarray) -> np.ndarray:
    """Sample indices where a cycle starts: the first sample, then every whole-number crossing.

    Examples
    --------
    >>> pulse_onsets(np.array([0.2, 0.7, 1.2, 1.7, 2.2])).tolist()
    [0, 2, 4]
    """
    cycle = np.floor(phase)
    return np.flatnonzero(np.diff(cycle, prepend=cycle[0] - 1) > 0)


def grains(
    onsets: np.ndarray,
    freqs_hz: np.ndarray,
    bandwidths_hz: np.ndarray,
    amplitudes: np.ndarray,
    attack_s: float,
    n: int,
    sr: int,
) -> np.ndarray:
    """Sum one grain per onset and formant.

    Parameters
    ----------
    onsets : numpy.ndarray
        Start sample of each grain, (m,).
    freqs_hz, bandwidths_hz, amplitudes : numpy.ndarray
        Per grain and formant, (m, k): centre frequency, bandwidth (the decay rate is
        ``pi * bandwidth``) and peak amplitude.
    attack_s : float
        Duration of the raised-cosine attack.
    n : int
        Length of the output in samples; grains running past it are cut.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        float64, ``n`` samples.
    """
    max_length = int(MAX_GRAIN_S * sr)
    attack_s = max(attack_s, 1.0 / sr)
    out = np.zeros(n + max_length)
    for k in range(freqs_hz.shape[1]):
        # Cut each formant's grains once they have decayed by 40 dB; float32 halves the cost.
        length = int(min(max_length, sr * DECAY_40_DB / (np.pi * np.min(bandwidths_hz[:, k]))))
        t = (np.arange(length) / sr).astype(np.float32)
        attack = np.where(t < attack_s, 0.5 * (1 - np.cos(np.pi * t / attack_s)), 1.0)
        for start in range(0, len(onsets), CHUNK):
            part = slice(start, start + CHUNK)
            bandwidth = bandwidths_hz[part, k, None].astype(np.float32)
            freq = freqs_hz[part, k, None].astype(np.float32)
            wave = np.sin(2 * np.pi * freq * t) * np.exp(-np.pi * bandwidth * t) * attack
            wave *= amplitudes[part, k, None].astype(np.float32)
            index = (onsets[part, None] + np.arange(length)).ravel()
            out += np.bincount(index, wave.ravel(), minlength=len(out))
    return out[:n]


def formant_levels_db(
    freqs_hz: np.ndarray, slope_db_per_octave: float, offsets_db: np.ndarray, nasal: np.ndarray
) -> np.ndarray:
    """Peak level of each formant: a source slope over octaves above F1, per-voice offsets,
    and the damping of the upper formants in nasal sounds.

    Parameters
    ----------
    freqs_hz : numpy.ndarray
        (m, k) formant frequencies, F1 first.
    slope_db_per_octave : float
        Fall of the formant peaks per octave above F1 (steeper for breathy voices).
    offsets_db : numpy.ndarray
        (k,) per-formant level offsets of this voice.
    nasal : numpy.ndarray
        (m,) nasal coupling, 0 oral .. 1 nasal.

    Returns
    -------
    numpy.ndarray
        (m, k) levels in dB, 0 at F1 of an oral sound without offsets.
    """
    octaves = np.log2(freqs_hz / freqs_hz[:, :1])
    levels = -slope_db_per_octave * octaves + offsets_db
    levels[:, 1:] -= 10.0 * nasal[:, None]
    return levels
