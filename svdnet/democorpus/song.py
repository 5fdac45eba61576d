"""One demo song: the stems of voice, leads and band, mixed, with their labels."""

from __future__ import annotations

import numpy as np
from scipy import signal

from svdnet.democorpus.arrangement import (
    MAJOR_STEPS,
    MINOR_STEPS,
    Key,
    _plan_phrases,
    _plan_sections,
    _segments,
)
from svdnet.democorpus.dsp import PEAK_MAX, SR, _add_at, _db, _rms, _samples
from svdnet.democorpus.instruments import LEAD_TIMBRES, _render_band, _render_lead_phrase
from svdnet.democorpus.voice import _draw_singer, _sing_section

DEFAULT_DURATION_S = 60.0


def render_stems(
    rng: np.random.Generator, duration_s: float = DEFAULT_DURATION_S, sr: int = SR
) -> tuple[dict[str, np.ndarray], list[tuple[float, float, bool]]]:
    """Synthesise the dry parts of one song and its label segments.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    duration_s : float
        Song length in seconds; the timeline uses whole milliseconds.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    stems : dict of str to numpy.ndarray
        ``"band"``, ``"voice"`` (phrases and breaths) and ``"lead"``, float64, equal length.
    segments : list of (float, float, bool)
        ``(start_s, end_s, is_singing)``, contiguous from 0 to ``duration_s``.
    """
    duration_ms = int(round(duration_s * 1000))
    n = _samples(duration_ms, sr)
    key = Key(int(rng.integers(12)), MAJOR_STEPS if rng.random() < 0.5 else MINOR_STEPS)
    singer = _draw_singer(rng)
    band = _render_band(rng, key, duration_ms, sr)
    band *= np.interp(  # section-independent swells of the band, +-3 dB
        np.arange(n), np.linspace(0, n, 8), _db(rng.uniform(-3, 3, 8))
    )
    voice, lead = np.zeros(n), np.zeros(n)
    lead_names = rng.choice(list(LEAD_TIMBRES), size=2, replace=False)
    lowpass = signal.butter(2, rng.uniform(2500, 6000), fs=sr, output="sos")
    sung_ms = []
    for start_ms, end_ms, vocal in _plan_sections(rng, duration_ms):
        phrases = _plan_phrases(rng, start_ms, end_ms, key, singer)
        if vocal:
            _sing_section(rng, phrases, singer, voice, sr)
            sung_ms += [(notes[0].onset_ms, notes[-1].end_ms) for notes in phrases]
        elif rng.random() < 0.85:  # most instrumental sections have a lead melody
            timbre = LEAD_TIMBRES[str(rng.choice(lead_names))]
            for notes in phrases:
                phrase = _render_lead_phrase(rng, notes, timbre, lowpass, sr)
                phrase *= _db(rng.uniform(-10, 6)) / max(_rms(phrase), 1e-12)
                _add_at(lead, phrase, _samples(notes[0].onset_ms, sr))
    return {"band": band, "voice": voice, "lead": lead}, _segments(sung_ms, duration_ms)


def _reverb(rng: np.random.Generator, x: np.ndarray, sr: int) -> np.ndarray:
    """Add a short room: exponentially decaying noise impulse response, mixed in lightly."""
    rt60_s = rng.uniform(0.3, 1.2)
    t_s = np.arange(int(rt60_s * sr)) / sr
    impulse = rng.standard_normal(len(t_s)) * np.exp(-6.9 * t_s / rt60_s)
    impulse *= _db(rng.uniform(-20, -10)) / np.sqrt(np.sum(impulse**2))
    return x + signal.oaconvolve(x, impulse)[: len(x)]


def generate_song(
    rng_or_seed: np.random.Generator | np.random.SeedSequence | int,
    duration_s: float = DEFAULT_DURATION_S,
    sr: int = SR,
) -> tuple[np.ndarray, list[tuple[float, float, bool]]]:
    """Synthesise one song and its singing-voice segments.

    Parameters
    ----------
    rng_or_seed : numpy.random.Generator, numpy.random.SeedSequence or int
        Randomness; equal seeds give equal songs.
    duration_s : float
        Song length in seconds.
    sr : int
        Sampling rate in Hz (at least 16000).

    Returns
    -------
    samples : numpy.ndarray
        Mono float32 signal of ``duration_s * sr`` samples (the duration rounded to whole
        milliseconds), peak at most 0.99.
    segments : list of (float, float, bool)
        ``(start_s, end_s, is_singing)`` on a millisecond grid, contiguous from 0 to
        ``duration_s``, alternating between singing and not.

    Examples
    --------
    >>> samples, segments = generate_song(0, duration_s=10.0)
    >>> segments[0][0], segments[-1][1]
    (0.0, 10.0)
    """
    if round(duration_s * 1000) < 1:
        raise ValueError(f"duration_s must be at least 1 ms, got {duration_s}")
    if sr < 16000:
        raise ValueError(f"sr must be at least 16000 Hz for the consonant bands, got {sr}")
    rng = np.random.default_rng(rng_or_seed)
    stems, segments = render_stems(rng, duration_s, sr)
    mix = _reverb(rng, stems["band"] + stems["voice"] + stems["lead"], sr)
    # The overall level varies by song, so loudness says nothing about the corpus labels.
    peak = PEAK_MAX * _db(rng.uniform(-12, 0))
    return (mix * (peak / np.max(np.abs(mix)))).astype(np.float32), segments
