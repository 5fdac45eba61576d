"""The demo corpus's singing voices.

The first generation (``_draw_singer``, ``_sing_section``) is one source-filter voice. The
second generation (``VOICE_FAMILIES``, ``draw_voice``, ``render_vocal_phrase``,
``render_breath``) draws voices of several synthesis families from wide random ranges; its
parts live in ``singers`` (the drawn settings), ``phonetics`` (lyrics), ``glottal``
(sources), ``tract`` (filters), ``hnm`` (harmonic-plus-noise), ``fof`` (formant grains) and
``vocals`` (rendering).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from svdnet.democorpus.arrangement import Note
from svdnet.democorpus.dsp import TABLE_SIZE, _add_at, _bandpass_sos, _db, _lookup, _rms, _samples
from svdnet.democorpus.melody import _articulation, _note_gains, _pitch_contour
from svdnet.democorpus.singers import VOICE_FAMILIES, Voice, draw_voice
from svdnet.democorpus.tract import _formant_filter
from svdnet.democorpus.vocals import render_breath, render_vocal_phrase

__all__ = [
    "VOICE_FAMILIES",
    "VOWEL_FORMANTS_HZ",
    "Voice",
    "draw_voice",
    "render_breath",
    "render_vocal_phrase",
]

VOWEL_FORMANTS_HZ = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
}


FRICATIVE_BANDS_HZ = {"s": (4500.0, 9000.0), "sh": (2000.0, 4000.0), "f": (1200.0, 7000.0)}


PLOSIVE_BANDS_HZ = {"p": (400.0, 1800.0), "t": (3000.0, 7000.0), "k": (1500.0, 3500.0)}


MALE_RANGE_MIDI = (40, 72)  # E2 .. C5


FEMALE_RANGE_MIDI = (57, 81)  # A3 .. A5


FORMANT_BLOCK_S = 0.005  # formant filters are updated every 5 ms


@dataclass(frozen=True)
class Syllable:
    """A sung note: optional consonant in [onset, vowel_onset), then the vowel."""

    note: Note
    vowel_onset_ms: int
    vowel: str
    consonant: str | None


@dataclass(frozen=True)
class Singer:
    """Per-song voice: range, vocal tract and source parameters."""

    low_midi: int
    high_midi: int
    formant_scale: float
    bandwidths_hz: tuple[float, ...]  # F1, F2, F3, F4 (and singer's formant)
    singers_formant_hz: float | None
    open_quotient: float
    jitter: float
    shimmer: float
    aspiration: float


def _draw_singer(rng: np.random.Generator) -> Singer:
    """A male or female singer with a tessitura of 12-17 semitones inside the sex's range."""
    female = rng.random() < 0.5
    range_low, range_high = FEMALE_RANGE_MIDI if female else MALE_RANGE_MIDI
    span = int(rng.integers(12, 18))
    low_midi = int(rng.integers(range_low, range_high - span + 1))
    scale = rng.uniform(1.15, 1.2) if female else rng.uniform(0.95, 1.05)
    singers_formant_hz = rng.uniform(2800, 3200) if rng.random() < 0.4 else None
    n_formants = 4 if singers_formant_hz is None else 5
    return Singer(
        low_midi=low_midi,
        high_midi=low_midi + span,
        formant_scale=scale,
        bandwidths_hz=tuple(rng.uniform(60, 120, n_formants)),
        singers_formant_hz=singers_formant_hz,
        open_quotient=rng.uniform(0.5, 0.7),
        jitter=rng.uniform(0.005, 0.01),
        shimmer=rng.uniform(0.03, 0.05),
        aspiration=rng.uniform(0.01, 0.04),
    )


def _plan_syllables(rng: np.random.Generator, notes: list[Note]) -> list[Syllable]:
    """Give each note a vowel and, unless it is sung legato, an onset consonant."""
    consonants = list(FRICATIVE_BANDS_HZ) + list(PLOSIVE_BANDS_HZ)
    syllables, vowel = [], str(rng.choice(list(VOWEL_FORMANTS_HZ)))
    for note in notes:
        consonant = None if note.legato else str(rng.choice(consonants))
        consonant_ms = 0
        if consonant is not None:
            span_ms = (60, 140) if consonant in FRICATIVE_BANDS_HZ else (40, 90)
            consonant_ms = int(min(rng.uniform(*span_ms), 0.4 * (note.end_ms - note.onset_ms)))
        if rng.random() < 0.8:  # mostly a new vowel per syllable
            vowel = str(rng.choice(list(VOWEL_FORMANTS_HZ)))
        syllables.append(Syllable(note, note.onset_ms + consonant_ms, vowel, consonant))
    return syllables


def _glottal_table(open_quotient: float, max_f0_hz: float, sr: int) -> np.ndarray:
    """One period of the radiated Rosenberg pulse, band-limited for ``max_f0_hz``.

    The Rosenberg flow falls at about -12 dB/octave; lip radiation (a derivative, +6 dB
    per octave) turns it into the flow derivative that a microphone picks up.
    """
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    rise, fall = open_quotient * 2 / 3, open_quotient / 3
    flow = np.where(
        phase < rise,
        0.5 * (1 - np.cos(np.pi * phase / rise)),
        np.where(phase < rise + fall, np.cos(0.5 * np.pi * (phase - rise) / fall), 0.0),
    )
    spectrum = np.fft.rfft(flow)
    k = np.arange(len(spectrum))
    spectrum *= 1j * k * (k <= 0.45 * sr / max_f0_hz)
    table = np.fft.irfft(spectrum, TABLE_SIZE)
    return table / np.max(np.abs(table))


def _glottal_source(
    rng: np.random.Generator, f0_hz: np.ndarray, singer: Singer, sr: int
) -> np.ndarray:
    """Pulse train with per-cycle jitter and shimmer plus aspiration noise in open phases."""
    cycle = np.floor(np.cumsum(f0_hz) / sr).astype(np.int64)
    f0_hz = f0_hz * (1 + singer.jitter * rng.standard_normal(cycle[-1] + 1))[cycle]
    phase = np.cumsum(f0_hz) / sr
    cycle = np.floor(phase).astype(np.int64)
    shimmer = 1 + singer.shimmer * rng.standard_normal(cycle[-1] + 1)
    pulses = _lookup(_glottal_table(singer.open_quotient, float(f0_hz.max()), sr), phase)
    open_phase = (phase % 1.0) < singer.open_quotient
    aspiration = singer.aspiration * rng.standard_normal(len(phase)) * (0.3 + open_phase)
    return pulses * shimmer[cycle] + aspiration


def _formant_tracks_hz(
    rng: np.random.Generator, syllables: list[Syllable], singer: Singer, times_ms: np.ndarray
) -> np.ndarray:
    """Formant frequencies at ``times_ms``, shape (n_times, n_formants).

    Each vowel holds its formants; the move to the next vowel takes 30-80 ms around its
    onset. F4 and the optional singer's formant stay put.
    """
    knots_ms, targets = [], []
    previous_onset_ms = -np.inf
    for syllable in syllables:
        target = np.array(VOWEL_FORMANTS_HZ[syllable.vowel]) * singer.formant_scale
        # Keep the knots increasing even for the shortest syllables.
        gap_ms = syllable.vowel_onset_ms - previous_onset_ms
        half_ms = min(rng.uniform(30, 80) / 2, gap_ms / 3)
        if targets:
            knots_ms.append(syllable.vowel_onset_ms - half_ms)
            targets.append(targets[-1])
        knots_ms.append(syllable.vowel_onset_ms + half_ms)
        targets.append(target)
        previous_onset_ms = syllable.vowel_onset_ms
    targets = np.array(targets)
    tracks = [np.interp(times_ms, knots_ms, targets[:, j]) for j in range(3)]
    tracks.append(np.full(len(times_ms), 3500.0 * singer.formant_scale))
    if singer.singers_formant_hz is not None:
        tracks.append(np.full(len(times_ms), singer.singers_formant_hz))
    return np.stack(tracks, axis=1)


def _consonants(rng: np.random.Generator, syllables: list[Syllable], n: int, sr: int) -> np.ndarray:
    """Unit-level noise of the consonants: fricatives fill their slot, plosives end in a burst."""
    start_ms = syllables[0].note.onset_ms
    out = np.zeros(n)
    for syllable in syllables:
        if syllable.consonant is None:
            continue
        a = _samples(syllable.note.onset_ms - start_ms, sr)
        b = _samples(syllable.vowel_onset_ms - start_ms, sr)
        if syllable.consonant in FRICATIVE_BANDS_HZ:
            band_hz, level = FRICATIVE_BANDS_HZ[syllable.consonant], _db(-12)
            env = np.hanning(b - a)
        else:  # plosive: closure silence, then a 10-25 ms burst released into the vowel
            band_hz, level = PLOSIVE_BANDS_HZ[syllable.consonant], _db(-6)
            a = max(a, b - int(rng.uniform(0.01, 0.025) * sr))
            env = np.exp(-np.arange(b - a) / (0.006 * sr))
        noise = signal.sosfilt(_bandpass_sos(*band_hz, sr), rng.standard_normal(b - a))
        out[a:b] += level * env * noise / max(_rms(noise), 1e-12)
    return out


def _render_voice_phrase(
    rng: np.random.Generator, syllables: list[Syllable], singer: Singer, sr: int
) -> tuple[np.ndarray, np.ndarray]:
    """A sung phrase and the mask of its voiced samples."""
    notes = [syllable.note for syllable in syllables]
    start_ms = notes[0].onset_ms
    f0_hz = _pitch_contour(rng, notes, sr)
    n = len(f0_hz)
    attack_s, release_s = rng.uniform(0.015, 0.04), rng.uniform(0.02, 0.05)
    gate = _articulation(notes, [s.vowel_onset_ms for s in syllables], attack_s, release_s, sr)
    source = _glottal_source(rng, f0_hz, singer, sr) * gate * _note_gains(rng, notes, sr)

    block = int(FORMANT_BLOCK_S * sr)
    block_times_ms = start_ms + (np.arange(0, n, block) + block / 2) * 1000 / sr
    freqs_hz = _formant_tracks_hz(rng, syllables, singer, block_times_ms)
    voiced = _formant_filter(source, freqs_hz, np.array(singer.bandwidths_hz), block, sr)
    voiced_mask = gate > 0.5
    voiced_rms = _rms(voiced[voiced_mask])
    return voiced + voiced_rms * _consonants(rng, syllables, n, sr), voiced_mask


def _breath(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """An inhalation: soft, band-passed noise with a smooth envelope (unit RMS)."""
    noise = signal.sosfilt(_bandpass_sos(600.0, 5000.0, sr), rng.standard_normal(n))
    breath = noise * np.hanning(n) ** 0.5
    return breath / max(_rms(breath), 1e-12)


def _sing_section(
    rng: np.random.Generator, phrases: list[list[Note]], singer: Singer, voice: np.ndarray, sr: int
) -> None:
    """Add the sung phrases of one section, and breaths in most rests, to ``voice``."""
    previous_end_ms = None
    for notes in phrases:
        syllables = _plan_syllables(rng, notes)
        phrase, voiced = _render_voice_phrase(rng, syllables, singer, sr)
        # Relative to the unit-RMS band: the voice is sometimes buried, sometimes on top.
        gain_db = rng.uniform(-10, 6)
        phrase *= _db(gain_db) / max(_rms(phrase[voiced]), 1e-12)
        _add_at(voice, phrase, _samples(notes[0].onset_ms, sr))
        if previous_end_ms is not None and rng.random() < 0.8:
            n_breath = _samples(notes[0].onset_ms - previous_end_ms, sr) - int(0.1 * sr)
            breath = _breath(rng, n_breath, sr) * _db(gain_db + rng.uniform(-30, -20))
            _add_at(voice, breath, _samples(previous_end_ms, sr) + int(0.05 * sr))
        previous_end_ms = notes[-1].end_ms
