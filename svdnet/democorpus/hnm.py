"""Harmonic-plus-noise voices: harmonics sampled from a moving spectral envelope, plus noise.

No filter touches the harmonics: every 5-ms block gets one wavetable period whose harmonic
amplitudes are read off the envelope (formant resonances, source slope, random ripple), and
consecutive tables are cross-faded while a jittered phase reads them. The noise part is
white noise shaped frame by frame by the same envelope, strongest above the highest voiced
frequency and pulsing with the glottal cycle.
"""

from __future__ import annotations

import numpy as np

from svdnet.democorpus.dsp import _rms
from svdnet.democorpus.tract import bin_freqs_hz, frame_centres, frame_filter

HNM_TABLE_SIZE = 1024


def envelope(
    freqs_hz: np.ndarray,
    formants_hz: np.ndarray,
    bandwidths_hz: np.ndarray,
    ripple: tuple[np.ndarray, np.ndarray, np.ndarray],
    sr: int,
) -> np.ndarray:
    """Linear magnitude of the spectral envelope at ``freqs_hz``.

    Parameters
    ----------
    freqs_hz : numpy.ndarray
        Shape (n_times, n_freqs), or (n_freqs,) for the same frequencies at every time.
    formants_hz, bandwidths_hz : numpy.ndarray
        Shape (n_times, n_formants): each formant is a resonance curve (unity at 0 Hz).
    ripple : tuple of numpy.ndarray
        Depths in dB, cycles per octave and phases of a few cosines over log frequency.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        Shape (n_times, n_freqs).
    """
    w = 2 * np.pi * freqs_hz / sr
    cos_w, sin_w = np.cos(w), np.sin(w)
    gain, distance = 1.0, 1.0
    for j in range(formants_hz.shape[1]):
        radius = np.exp(-np.pi * bandwidths_hz[:, j : j + 1] / sr)
        theta = 2 * np.pi * formants_hz[:, j : j + 1] / sr
        # A pole pair's squared distances to the unit circle at w (near pole, far pole).
        common, cross = (
            1 + radius**2 - 2 * radius * np.cos(theta) * cos_w,
            2 * radius * np.sin(theta) * sin_w,
        )
        distance = distance * (common - cross) * (common + cross)
        gain = gain * (1 + radius**2 - 2 * radius * np.cos(theta))
    depths_db, cycles, phases = ripple
    octaves = np.log2(np.maximum(freqs_hz, 50.0) / 100.0)[..., None]
    ripple_db = np.sum(depths_db * np.cos(2 * np.pi * cycles * octaves + phases), axis=-1)
    magnitude = gain / np.sqrt(distance)
    return magnitude * 10 ** (ripple_db / 20)


def harmonics(
    f0_hz: np.ndarray,
    phase: np.ndarray,
    formants_hz: np.ndarray,
    bandwidths_hz: np.ndarray,
    block: int,
    shape: dict,
    sr: int,
) -> np.ndarray:
    """The harmonic part: block-wise wavetables cross-faded under a jittered phase.

    ``shape`` holds ``slope`` (harmonic amplitudes fall as k ** -slope), ``h1_gain``,
    ``max_voiced_hz``, ``ripple`` (see :func:`envelope`) and ``phases`` (one per harmonic).
    """
    n = len(phase)
    starts = np.minimum(np.arange(len(formants_hz) + 1) * block, n - 1)
    f0_blocks = f0_hz[starts][:, None]
    n_harmonics = int(min(0.45 * sr / max(float(f0_hz.min()), 20.0), HNM_TABLE_SIZE // 2 - 1))
    k = np.arange(1, n_harmonics + 1)
    freqs_hz = f0_blocks * k
    rows = np.minimum(np.arange(len(starts)), len(formants_hz) - 1)
    amps = envelope(freqs_hz, formants_hz[rows], bandwidths_hz[rows], shape["ripple"], sr)
    amps *= k ** -shape["slope"] * np.where(k == 1, shape["h1_gain"], 1.0)
    # Above the highest voiced frequency the harmonics give way to the noise part.
    amps /= 1 + (freqs_hz / shape["max_voiced_hz"]) ** 6
    amps *= freqs_hz < 0.45 * sr
    spectrum = np.zeros((len(starts), HNM_TABLE_SIZE // 2 + 1), complex)
    spectrum[:, 1 : n_harmonics + 1] = amps * np.exp(1j * shape["phases"][:n_harmonics])
    tables = np.fft.irfft(spectrum, HNM_TABLE_SIZE).ravel() * HNM_TABLE_SIZE / 2

    position = (phase % 1.0) * HNM_TABLE_SIZE
    index = position.astype(np.int64)
    frac = position - index
    following = (index + 1) % HNM_TABLE_SIZE
    block_index = np.arange(n) // block
    fade = (np.arange(n) % block) / block
    out = np.zeros(n)
    for offset, weight in ((0, 1 - fade), (1, fade)):
        base = (block_index + offset) * HNM_TABLE_SIZE
        out += weight * (tables[base + index] * (1 - frac) + tables[base + following] * frac)
    return out


def noise_part(
    rng: np.random.Generator,
    phase: np.ndarray,
    formants_hz: np.ndarray,
    bandwidths_hz: np.ndarray,
    block: int,
    shape: dict,
    sr: int,
) -> np.ndarray:
    """Unit-RMS noise under the spectral envelope, high-passed at the highest voiced frequency
    and pulsing once per glottal cycle."""
    n = len(phase)
    rows = np.clip(frame_centres(n) // block, 0, len(formants_hz) - 1)
    freqs_hz = bin_freqs_hz(sr)
    # Noise needs no fine spectral detail: the envelope at every 4th bin, held in between.
    coarse = envelope(freqs_hz[::4], formants_hz[rows], bandwidths_hz[rows], shape["ripple"], sr)
    gains = np.repeat(coarse, 4, axis=1)[:, : len(freqs_hz)]
    gains *= np.minimum(freqs_hz / 500.0, 1.0) * (1 + freqs_hz / 1000.0) ** (-shape["slope"])
    gains *= 0.3 + 1 / (1 + (shape["max_voiced_hz"] / np.maximum(freqs_hz, 1.0)) ** 4)
    noise = frame_filter(rng.standard_normal(n), gains)
    noise *= 0.5 + 0.5 * np.cos(2 * np.pi * phase) ** 2
    return noise / max(_rms(noise), 1e-12)


def draw_shape(
    rng: np.random.Generator, effort: float, head_voice: bool, tilt_db: float, voice_shape: dict
) -> dict:
    """Per-phrase harmonic settings: source slope, first-harmonic gain, ripple, phases."""
    breathy = 1 - effort
    ripple_db = voice_shape["ripple_db"]
    return {
        "slope": 0.7 + 0.9 * breathy + 0.5 * head_voice - tilt_db / 6 + rng.normal(0, 0.1),
        "h1_gain": 1 + 2.0 * breathy + 1.5 * head_voice,
        "max_voiced_hz": voice_shape["max_voiced_hz"],
        "ripple": (
            rng.uniform(0, ripple_db / 3, 3),
            rng.uniform(0.3, 2.0, 3),
            rng.uniform(0, 2 * np.pi, 3),
        ),
        "phases": rng.uniform(0, 2 * np.pi, HNM_TABLE_SIZE // 2) * rng.uniform(0, 1) - np.pi / 2,
    }
