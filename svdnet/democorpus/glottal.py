"""Glottal sources of the second-generation voices: Rosenberg and Liljencrants-Fant pulses.

A source is a wavetable period read at a jittered phase, scaled by a per-cycle shimmer
(and, for growling voices, a period-doubling alternation), plus aspiration noise.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, signal

from svdnet.democorpus.dsp import TABLE_SIZE, _lookup


def _band_limit(period: np.ndarray, max_f0_hz: float, sr: int, derivative: bool) -> np.ndarray:
    """Keep the harmonics below 0.45 ``sr`` at ``max_f0_hz``; optionally differentiate."""
    spectrum = np.fft.rfft(period)
    k = np.arange(len(spectrum))
    spectrum *= (1j * k if derivative else 1.0) * (k <= 0.45 * sr / max_f0_hz)
    spectrum[0] = 0.0
    table = np.fft.irfft(spectrum, TABLE_SIZE)
    return table / np.max(np.abs(table))


def rosenberg_table(
    open_quotient: float, speed_quotient: float, max_f0_hz: float, sr: int
) -> np.ndarray:
    """One period of the radiated Rosenberg pulse (flow derivative).

    ``speed_quotient`` is the opening time over the closing time (2 in the first
    generation); lip radiation is the derivative of the flow.
    """
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    rise = open_quotient * speed_quotient / (1 + speed_quotient)
    fall = open_quotient - rise
    flow = np.where(
        phase < rise,
        0.5 * (1 - np.cos(np.pi * phase / rise)),
        np.where(phase < rise + fall, np.cos(0.5 * np.pi * (phase - rise) / fall), 0.0),
    )
    return _band_limit(flow, max_f0_hz, sr, derivative=True)


def lf_timing(rd: float) -> tuple[float, float, float]:
    """Peak-flow, excitation and return times (tp, te, ta) of a unit period from Fant's Rd.

    Rd runs from about 0.3 (pressed) to 2.7 (breathy); the regression is Fant (1995).
    """
    ra = (-1 + 4.8 * rd) / 100
    rk = (22.4 + 11.8 * rd) / 100
    rg = 0.25 * rk / (0.11 * rd / (0.5 + 1.2 * rk) - ra)
    tp = 1 / (2 * rg)
    return tp, tp * (1 + rk), ra


def lf_table(rd: float, max_f0_hz: float, sr: int) -> np.ndarray:
    """One period of the Liljencrants-Fant glottal flow derivative, band-limited.

    The open phase is a growing sinusoid up to the main excitation at ``te``, the return
    phase an exponential recovery of time constant ``ta``; the growth rate is solved so that
    the flow returns to its starting value (no net flow over a period).
    """
    tp, te, ta = lf_timing(float(np.clip(rd, 0.3, 2.7)))
    omega = np.pi / tp
    epsilon = 1 / ta
    for _ in range(20):  # fixed point of epsilon * ta = 1 - exp(-epsilon (1 - te))
        epsilon = (1 - np.exp(-epsilon * (1 - te))) / ta

    def net_flow(alpha: float) -> float:
        e_te = np.exp(alpha * te)
        opening = (e_te * (alpha * np.sin(omega * te) - omega * np.cos(omega * te)) + omega) / (
            alpha**2 + omega**2
        )
        ee = -e_te * np.sin(omega * te)  # magnitude of the negative peak
        tail = np.exp(-epsilon * (1 - te))
        closing = -(ee / (epsilon * ta)) * ((1 - tail) / epsilon - (1 - te) * tail)
        return opening + closing

    alpha = optimize.brentq(net_flow, -5.0 / te, 60.0 / te)
    t = np.arange(TABLE_SIZE) / TABLE_SIZE
    ee = -np.exp(alpha * te) * np.sin(omega * te)
    opening = np.exp(alpha * t) * np.sin(omega * t)
    closing = -(ee / (epsilon * ta)) * (np.exp(-epsilon * (t - te)) - np.exp(-epsilon * (1 - te)))
    return _band_limit(np.where(t <= te, opening, closing), max_f0_hz, sr, derivative=False)


def jittered_phase(
    rng: np.random.Generator, f0_hz: np.ndarray, jitter: np.ndarray | float, sr: int
) -> np.ndarray:
    """Phase in cycles of a voice whose every period deviates by ``jitter`` (relative std).

    ``jitter`` is one value, or one per sample (read at each cycle's samples).
    """
    cycle = np.floor(np.cumsum(f0_hz) / sr).astype(np.int64)
    f0_hz = f0_hz * (1 + jitter * rng.standard_normal(cycle[-1] + 1)[cycle])
    return np.cumsum(f0_hz) / sr


def cycle_gains(
    rng: np.random.Generator, phase: np.ndarray, shimmer: float, growl: float
) -> np.ndarray:
    """Per-sample gain that changes once a cycle: shimmer, and an alternation of depth
    ``growl`` that doubles the period (subharmonics at f0 / 2)."""
    cycle = np.floor(phase).astype(np.int64)
    gains = 1 + shimmer * rng.standard_normal(cycle[-1] + 1)
    gains *= 1 + growl * (-1.0) ** np.arange(cycle[-1] + 1)
    return gains[cycle]


def pulse_train(
    rng: np.random.Generator,
    f0_hz: np.ndarray,
    table: np.ndarray,
    jitter: np.ndarray | float,
    shimmer: float,
    growl: float,
    sr: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a glottal period at a jittered phase, with shimmer and period doubling.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the per-cycle jitter and shimmer.
    f0_hz : numpy.ndarray
        Per-sample fundamental frequency.
    table : numpy.ndarray
        One period of the pulse.
    jitter : numpy.ndarray or float
        Relative standard deviation of each cycle's period (per sample, or constant).
    shimmer : float
        Relative standard deviation of each cycle's amplitude.
    growl : float
        Depth of the alternation of cycle amplitudes.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    pulses : numpy.ndarray
        The source.
    phase : numpy.ndarray
        Its phase in cycles, for pitch-synchronous aspiration.
    """
    phase = jittered_phase(rng, f0_hz, jitter, sr)
    return _lookup(table, phase) * cycle_gains(rng, phase, shimmer, growl), phase


def tilt(x: np.ndarray, db_per_octave: float) -> np.ndarray:
    """Tilt a spectrum by about ``db_per_octave`` over the voice band with one pole or zero.

    Negative values darken (a one-pole low-pass), positive ones brighten (pre-emphasis).
    """
    amount = min(abs(db_per_octave) / 6.0, 1.0) * 0.9
    if db_per_octave < 0:
        return signal.lfilter([1 - amount], [1, -amount], x)
    return signal.lfilter([1, -amount], [1 - amount], x)


def open_phase_noise(
    rng: np.random.Generator, phase: np.ndarray, open_quotient: float
) -> np.ndarray:
    """White aspiration gated to the open phase of each cycle (Rosenberg family)."""
    return rng.standard_normal(len(phase)) * (0.3 + ((phase % 1.0) < open_quotient))


def pulsed_turbulence(rng: np.random.Generator, phase: np.ndarray, te: float) -> np.ndarray:
    """High-passed noise whose bursts peak at the glottal closure (Liljencrants-Fant family)."""
    noise = np.diff(rng.standard_normal(len(phase) + 1))
    distance = (phase - te + 0.5) % 1.0 - 0.5
    return noise * (0.2 + np.exp(-0.5 * (distance / 0.12) ** 2))
