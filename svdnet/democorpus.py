"""Synthetic singing-voice corpus in the Jamendo layout, for demos and tests.

Every song mixes a band (chords on several additive timbres, a bass line, drums) with
sections sung by a source-filter voice and instrumental sections carried by lead
instruments. The leads share the voice's pitch range, vibrato and glides but have fixed,
non-formant spectral envelopes, and voice and lead levels are drawn from the same range,
so a detector has to learn the voice itself (moving formants, consonants, breathy source)
rather than loudness or wiggly pitch. Labels are the exact synthesis timeline.

Layout written under ``ROOT/datasets/demo``::

    audio/demo_test_000.ogg       mono, 22050 Hz, OGG Vorbis
    labels/demo_test_000.lab      "start end sing|nosing" lines, seconds, 3 decimals
    filelists/test                one audio file name per line

Example
-------
    python -m svdnet.democorpus . --splits test
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal
from tqdm import tqdm

from svdnet.cli import positive_float, positive_int, random_seed, run_cli
from svdnet.files import make_folder

logger = logging.getLogger(__name__)

SR = 22050
DATASET = "demo"
SPLITS = ("train", "valid", "test")
DEFAULT_N_SONGS = {"train": 40, "valid": 8, "test": 8}
DEFAULT_DURATION_S = 60.0

# Adult male F1/F2/F3 in Hz (SPEC section 8); female voices scale them up by 15-20 %.
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
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
# Probabilities of melodic moves of -4 .. +4 scale steps: mostly steps, few leaps.
MELODY_STEP_WEIGHTS = np.array([1, 3, 8, 14, 8, 14, 8, 3, 1], dtype=float)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)

TABLE_SIZE = 2048  # samples in one wavetable period
FORMANT_BLOCK_S = 0.005  # formant filters are updated every 5 ms
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


# Accompaniment instruments: timbre and playing pattern.
CHORD_INSTRUMENTS = {
    "piano": (Timbre(1.4, 1.0, 24, 0.004, 0.8, 0.06), "beats"),
    "epiano": (Timbre(2.5, 1.0, 8, 0.003, 1.2, 0.08), "offbeats"),
    "organ": (Timbre(1.0, 0.7, 8, 0.015, np.inf, 0.04), "held"),
    "pad": (Timbre(1.1, 1.0, 16, 0.3, np.inf, 0.25), "held"),
    "pluck": (Timbre(1.2, 1.0, 30, 0.002, 0.2, 0.03), "arpeggio"),
}
BASS = Timbre(2.0, 1.0, 8, 0.005, 0.6, 0.04)
# Leads carry the melodies of instrumental sections; their spectral envelope never moves.
LEAD_TIMBRES = {
    "saw": Timbre(1.0, 1.0, 60, 0.01, np.inf, 0.04),
    "square": Timbre(1.0, 0.0, 60, 0.01, np.inf, 0.04),
    "flute": Timbre(3.0, 1.0, 6, 0.06, np.inf, 0.06),
    "violin": Timbre(1.0, 1.0, 40, 0.08, np.inf, 0.08),
    "clarinet": Timbre(1.5, 0.15, 30, 0.03, np.inf, 0.05),
}


@dataclass(frozen=True)
class Note:
    """One melody note; times in integer milliseconds from the song start."""

    onset_ms: int
    end_ms: int
    midi: float
    legato: bool  # glide from the previous note instead of re-articulating


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


@dataclass(frozen=True)
class Key:
    """Tonal centre of a song: root pitch class and scale steps."""

    root_pc: int
    steps: tuple[int, ...]

    def pitches(self, low_midi: int, high_midi: int) -> np.ndarray:
        """MIDI numbers of the scale between two limits, inclusive."""
        midis = np.arange(low_midi, high_midi + 1)
        return midis[np.isin((midis - self.root_pc) % 12, self.steps)]

    def triad(self, degree: int) -> list[int]:
        """Pitch classes of the diatonic triad on a scale degree (0-based)."""
        return [(self.root_pc + self.steps[(degree + 2 * j) % 7]) % 12 for j in range(3)]


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- planning


def _plan_sections(rng: np.random.Generator, duration_ms: int) -> list[tuple[int, int, bool]]:
    """Alternating vocal and instrumental sections of about 4-15 s: (start, end, vocal)."""
    # Breaths take ~10 % of vocal sections, so aim the vocal share a little higher.
    vocal_share = min(rng.uniform(0.35, 0.65) / 0.9, 0.8)
    mean_ms = {True: 19000 * vocal_share, False: 19000 * (1 - vocal_share)}
    vocal = rng.random() < 0.4  # most songs open with an instrumental intro
    sections, start_ms = [], 0
    while start_ms < duration_ms:
        length_ms = int(np.clip(mean_ms[vocal] * rng.uniform(0.6, 1.4), 4000, 15000))
        end_ms = start_ms + length_ms
        if duration_ms - end_ms < 3000:
            end_ms = duration_ms
        sections.append((start_ms, end_ms, vocal))
        start_ms, vocal = end_ms, not vocal
    return sections


def _plan_notes(
    rng: np.random.Generator, start_ms: int, limit_ms: int, key: Key, singer: Singer
) -> list[Note]:
    """Melody notes of one phrase: 2-6 notes per second, some held, ending by ``limit_ms``."""
    limit_ms = min(limit_ms, start_ms + 8000)
    target_ms = min(rng.uniform(2000, 8000), limit_ms - start_ms)
    rate_hz = rng.uniform(2.0, 6.0)
    durations_ms = []
    while sum(durations_ms) < target_ms:
        held = rng.random() < 0.2
        duration_ms = rng.uniform(600, 1600) if held else rng.uniform(0.6, 1.5) * 1000 / rate_hz
        durations_ms.append(max(120, int(round(duration_ms))))
    if rng.random() < 0.6:  # phrases tend to end on a held note
        durations_ms[-1] = max(durations_ms[-1], int(rng.uniform(600, 1600)))

    pitches = key.pitches(singer.low_midi, singer.high_midi)
    position = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4 + 1))
    notes, onset_ms = [], start_ms
    for duration_ms in durations_ms:
        if limit_ms - onset_ms < 150:
            break
        step = rng.choice(np.arange(-4, 5), p=MELODY_STEP_WEIGHTS / MELODY_STEP_WEIGHTS.sum())
        position = int(np.clip(position + step, 0, len(pitches) - 1))
        end_ms = min(onset_ms + duration_ms, limit_ms)
        legato = bool(notes) and rng.random() < 0.5
        notes.append(Note(onset_ms, end_ms, float(pitches[position]), legato))
        onset_ms = end_ms
    return notes


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


def _plan_phrases(
    rng: np.random.Generator, start_ms: int, end_ms: int, key: Key, singer: Singer
) -> list[list[Note]]:
    """Phrases of 2-8 s filling a section, separated by 0.3-1.2 s rests (breaths)."""
    phrases, onset_ms = [], start_ms
    while end_ms - onset_ms >= 1500:
        notes = _plan_notes(rng, onset_ms, end_ms, key, singer)
        phrases.append(notes)
        onset_ms = notes[-1].end_ms + int(rng.uniform(300, 1200))
    return phrases


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


# --------------------------------------------------------------------------- melody rendering


def _pitch_contour(rng: np.random.Generator, notes: list[Note], sr: int) -> np.ndarray:
    """Per-sample f0 in Hz of a phrase: notes, glides, delayed vibrato, slow drift."""
    start_ms = notes[0].onset_ms
    bounds = [_samples(note.onset_ms - start_ms, sr) for note in notes]
    bounds.append(_samples(notes[-1].end_ms - start_ms, sr))
    n = bounds[-1]
    midi = np.empty(n)
    for note, a, b in zip(notes, bounds[:-1], bounds[1:], strict=True):
        midi[a:b] = note.midi + rng.normal(0.0, 0.08)  # intonation error of a few cents
    for note, boundary in zip(notes[1:], bounds[1:-1], strict=True):
        if note.legato:
            half = int(rng.uniform(0.05, 0.15) * sr) // 2
            a, b = max(boundary - half, 1), min(boundary + half, n - 1)
            midi[a:b] = np.linspace(midi[a - 1], midi[b], b - a, endpoint=False)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        # Vibrato sets in 0.2-0.5 s into a note, so only held notes get it.
        delay, ramp_s = int(rng.uniform(0.2, 0.5) * sr), rng.uniform(0.15, 0.35)
        if b - a > delay + int(0.1 * sr):
            t_s = np.arange(b - a - delay) / sr
            extent = rng.uniform(30, 100) / 100 * np.minimum(t_s / ramp_s, 1.0)  # semitones
            midi[a + delay : b] += extent * np.sin(2 * np.pi * rng.uniform(5, 7) * t_s)
    knots = np.arange(0, n + sr // 4, sr // 4)
    midi += np.interp(np.arange(n), knots, rng.normal(0.0, 0.05, len(knots)))
    return _midi_to_hz(midi)


def _note_gains(rng: np.random.Generator, notes: list[Note], sr: int) -> np.ndarray:
    """Smooth per-sample gain with a random level (+-3 dB) per note."""
    start_ms = notes[0].onset_ms
    centres = [_samples((n.onset_ms + n.end_ms) / 2 - start_ms, sr) for n in notes]
    levels = _db(rng.uniform(-3, 3, len(notes)))
    n = _samples(notes[-1].end_ms - start_ms, sr)
    return np.interp(np.arange(n), centres, levels)


def _articulation(
    notes: list[Note], onsets_ms: list[int], attack_s: float, release_s: float, sr: int
) -> np.ndarray:
    """Per-sample amplitude gate of a phrase.

    A non-legato note stays silent until its entry in ``onsets_ms`` (after the consonant),
    then rises over ``attack_s``; the note before it, and the last note, fade over
    ``release_s``. Legato notes run on without a break.
    """
    start_ms = notes[0].onset_ms
    n = _samples(notes[-1].end_ms - start_ms, sr)
    gate = np.ones(n)
    n_attack, n_release = int(attack_s * sr), int(release_s * sr)
    for note, entry_ms in zip(notes, onsets_ms, strict=True):
        if note.legato:
            continue
        onset, entry = _samples(note.onset_ms - start_ms, sr), _samples(entry_ms - start_ms, sr)
        gate[onset:entry] = 0.0
        gate[entry : entry + n_attack] *= np.linspace(0.0, 1.0, len(gate[entry : entry + n_attack]))
        gate[max(onset - n_release, 0) : onset] *= np.linspace(1.0, 0.0, min(n_release, onset))
    gate[max(n - n_release, 0) :] *= np.linspace(1.0, 0.0, min(n_release, n))
    return gate


def _render_lead_phrase(
    rng: np.random.Generator, notes: list[Note], timbre: Timbre, lowpass: np.ndarray, sr: int
) -> np.ndarray:
    """A lead instrument playing a phrase with vibrato and glides, fixed spectral envelope."""
    f0_hz = _pitch_contour(rng, notes, sr)
    table = _harmonic_table(timbre, float(f0_hz.max()), sr)
    tone = _lookup(table, np.cumsum(f0_hz) / sr)
    onsets_ms = [note.onset_ms for note in notes]
    gate = _articulation(notes, onsets_ms, timbre.attack_s, timbre.release_s, sr)
    return signal.sosfilt(lowpass, tone * gate * _note_gains(rng, notes, sr))


# --------------------------------------------------------------------------- voice


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


def _formant_filter(
    source: np.ndarray, freqs_hz: np.ndarray, bandwidths_hz: np.ndarray, block: int, sr: int
) -> np.ndarray:
    """Cascade of unity-DC-gain resonators whose frequencies change every ``block`` samples.

    ``freqs_hz`` has one row per block; the filter state carries over between blocks.
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


# --------------------------------------------------------------------------- band


def _chord_schedule(
    rng: np.random.Generator, key: Key, beat_ms: float, duration_ms: int
) -> list[tuple[float, float, list[int]]]:
    """Looping four-chord progression: (onset_ms, length_ms, pitch classes) per chord."""
    degrees = [0]
    while len(degrees) < 4:
        degree = int(rng.choice([1, 2, 3, 4, 5]))
        if degree != degrees[-1]:
            degrees.append(degree)
    chord_ms = beat_ms * 4 * int(rng.choice([1, 2]))
    n_chords = int(np.ceil(duration_ms / chord_ms))
    return [(i * chord_ms, chord_ms, key.triad(degrees[i % 4])) for i in range(n_chords)]


def _voicing(pcs: list[int], low_midi: int) -> list[int]:
    """Place pitch classes in the octave starting at ``low_midi``."""
    return [low_midi + (pc - low_midi) % 12 for pc in pcs]


def _chord_part(
    pattern: str, chord_pcs: list[int], onset_ms: float, length_ms: float, beat_ms: float
) -> list[tuple[float, float, int]]:
    """Notes (onset_ms, length_ms, midi) that one instrument plays over one chord."""
    midis = _voicing(chord_pcs, 52)
    n_beats = int(round(length_ms / beat_ms))
    if pattern == "held":
        return [(onset_ms, length_ms, m) for m in midis + [midis[0] + 12]]
    if pattern == "beats":
        return [(onset_ms + b * beat_ms, beat_ms, m) for b in range(n_beats) for m in midis]
    if pattern == "offbeats":
        return [
            (onset_ms + (b + 0.5) * beat_ms, beat_ms / 2, m) for b in range(n_beats) for m in midis
        ]
    arpeggio = midis + [midis[0] + 12, midis[1] + 12, midis[2]]
    return [
        (onset_ms + i * beat_ms / 2, beat_ms, arpeggio[i % len(arpeggio)])
        for i in range(2 * n_beats)
    ]


def _render_notes(
    events: list[tuple[float, float, int]], timbre: Timbre, n: int, sr: int
) -> np.ndarray:
    """Constant-pitch notes of one instrument; repeated notes reuse one rendering."""
    out = np.zeros(n)
    cache = {}
    for onset_ms, length_ms, midi in events:
        n_note = _samples(length_ms, sr)
        if (midi, n_note) not in cache:
            f0_hz = float(_midi_to_hz(midi))
            table = _harmonic_table(timbre, f0_hz, sr)
            tone = _lookup(table, f0_hz * np.arange(n_note) / sr)
            cache[midi, n_note] = tone * _envelope(timbre, n_note, sr)
        _add_at(out, cache[midi, n_note], _samples(onset_ms, sr))
    return out


def _drum_sounds(rng: np.random.Generator, sr: int) -> dict[str, np.ndarray]:
    """Kick (decaying sine sweep), snare and hi-hat (filtered noise bursts)."""
    t_s = np.arange(int(0.35 * sr)) / sr
    sweep_hz = 45 + rng.uniform(80, 140) * np.exp(-t_s / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(sweep_hz) / sr) * np.exp(-t_s / rng.uniform(0.1, 0.2))
    t_s = t_s[: int(0.25 * sr)]
    snare_noise = signal.sosfilt(_bandpass_sos(1000.0, 6000.0, sr), rng.standard_normal(len(t_s)))
    snare = (snare_noise * 3 + np.sin(2 * np.pi * 190 * t_s)) * np.exp(-t_s / 0.06)
    t_s = t_s[: int(0.08 * sr)]
    hat_noise = signal.sosfilt(_bandpass_sos(6000.0, 10000.0, sr), rng.standard_normal(len(t_s)))
    hat = hat_noise * np.exp(-t_s / rng.uniform(0.01, 0.03))
    sounds = {"kick": kick, "snare": snare, "hat": hat}
    return {name: sound / np.max(np.abs(sound)) for name, sound in sounds.items()}


def _render_drums(rng: np.random.Generator, beat_ms: float, n: int, sr: int) -> np.ndarray:
    """Kick on beats 1 and 3, snare on 2 and 4, hi-hats on eighths, velocities varied."""
    sounds = _drum_sounds(rng, sr)
    levels = {"kick": 1.0, "snare": 0.7, "hat": _db(rng.uniform(-16, -8))}
    out = np.zeros(n)
    n_eighths = int(n / sr * 1000 / (beat_ms / 2)) + 1
    for i in range(n_eighths):
        hits = ["hat"]
        if i % 8 in (0, 4) or (i % 8 == 3 and rng.random() < 0.3):
            hits.append("kick")
        if i % 8 in (2, 6):
            hits.append("snare")
        for name in hits:
            velocity = levels[name] * rng.uniform(0.7, 1.0)
            _add_at(out, velocity * sounds[name], _samples(i * beat_ms / 2, sr))
    return out


def _render_band(rng: np.random.Generator, key: Key, duration_ms: int, sr: int) -> np.ndarray:
    """Accompaniment for the whole song: two chord instruments, bass, drums; unit RMS."""
    n = _samples(duration_ms, sr)
    beat_ms = 60000 / rng.uniform(70, 150)
    chords = _chord_schedule(rng, key, beat_ms, duration_ms)
    band = np.zeros(n)
    for name in rng.choice(list(CHORD_INSTRUMENTS), size=2, replace=False):
        timbre, pattern = CHORD_INSTRUMENTS[name]
        events = []
        for onset_ms, length_ms, pcs in chords:
            events += _chord_part(pattern, pcs, onset_ms, length_ms, beat_ms)
        part = _render_notes(events, timbre, n, sr)
        band += _db(rng.uniform(-6, 0)) * part / max(_rms(part), 1e-12)
    bass_events = [
        (onset_ms + b * beat_ms, beat_ms * 0.9, _voicing(pcs[:1], 31)[0])
        for onset_ms, length_ms, pcs in chords
        for b in range(int(round(length_ms / beat_ms)))
    ]
    bass = _render_notes(bass_events, BASS, n, sr)
    band += _db(rng.uniform(-4, 0)) * bass / max(_rms(bass), 1e-12)
    drums = _render_drums(rng, beat_ms, n, sr)
    band += _db(rng.uniform(-8, -1)) * drums / max(_rms(drums), 1e-12)
    return band / _rms(band)


# --------------------------------------------------------------------------- song


def _segments(
    phrases_ms: list[tuple[int, int]], duration_ms: int
) -> list[tuple[float, float, bool]]:
    """Contiguous, alternating label segments in seconds from the sung phrase spans."""
    spans, cursor_ms = [], 0
    for start_ms, end_ms in phrases_ms:
        if start_ms > cursor_ms:
            spans.append([cursor_ms, start_ms, False])
        spans.append([start_ms, end_ms, True])
        cursor_ms = end_ms
    if cursor_ms < duration_ms:
        spans.append([cursor_ms, duration_ms, False])
    merged = [spans[0]]
    for span in spans[1:]:
        if span[2] == merged[-1][2]:
            merged[-1][1] = span[1]
        else:
            merged.append(span)
    return [(start_ms / 1000, end_ms / 1000, sing) for start_ms, end_ms, sing in merged]


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


# --------------------------------------------------------------------------- corpus files


def song_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """Seed of one song, independent of which other songs or splits are generated."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(split.encode()), index))


def song_name(split: str, index: int) -> str:
    """Base name (no extension) of a demo song, e.g. ``demo_test_007``."""
    return f"{DATASET}_{split}_{index:03d}"


def format_labels(segments: list[tuple[float, float, bool]]) -> str:
    """Segments as .lab text: one ``start end sing|nosing`` line each, 3 decimals."""
    return "".join(f"{a:.3f} {b:.3f} {'sing' if sing else 'nosing'}\n" for a, b, sing in segments)


_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _ogg_crc(page: bytes) -> int:
    """Ogg page checksum (CRC-32, polynomial 0x04C11DB7, MSB first, no init or xor).

    zlib's CRC-32 is the bit-reflected variant with init and final xor; reflecting the
    input bytes and the result, and cancelling the init by the CRC of as many zero bytes,
    gives the Ogg one at C speed.
    """
    reflected = zlib.crc32(page.translate(_BIT_REVERSED)) ^ zlib.crc32(bytes(len(page)))
    return int(f"{reflected:032b}"[::-1], 2)


def _set_ogg_serial(data: bytes, serial: int) -> bytes:
    """Replace the stream serial number on every Ogg page and fix the checksums.

    libsndfile picks a random serial, which would make equal songs give unequal files.
    """
    out, position = bytearray(data), 0
    while position < len(out):
        if out[position : position + 4] != b"OggS":
            raise ValueError(f"no Ogg page at byte {position}")
        n_segments = out[position + 26]
        table_end = position + 27 + n_segments
        page_end = table_end + sum(out[position + 27 : table_end])
        out[position + 14 : position + 18] = struct.pack("<I", serial)
        out[position + 22 : position + 26] = bytes(4)
        crc = _ogg_crc(bytes(out[position:page_end]))
        out[position + 22 : position + 26] = struct.pack("<I", crc)
        position = page_end
    return bytes(out)


def encode_ogg(samples: np.ndarray, sr: int, serial: int) -> bytes:
    """OGG Vorbis bytes of a mono signal, reproducible for a given stream serial."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, sr, format="OGG", subtype="VORBIS")
    return _set_ogg_serial(buffer.getvalue(), serial)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, so ``path`` is never half written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def dataset_dir(root: str | os.PathLike) -> Path:
    """Folder of the demo dataset under a project root."""
    return Path(root) / "datasets" / DATASET


def write_corpus(
    root: str | os.PathLike,
    seed: int = 0,
    splits: tuple[str, ...] = SPLITS,
    n_songs: dict[str, int] | None = None,
    duration_s: float = DEFAULT_DURATION_S,
    progress: bool = True,
) -> Path:
    """Generate the demo corpus (audio, labels, file lists) under ``root/datasets/demo``.

    Songs whose .ogg and .lab both exist are skipped. Each file is written atomically and
    the file lists come last, so an interrupted run leaves no complete-looking split.

    Parameters
    ----------
    root : path-like
        Project root.
    seed : int
        Corpus seed; song ``i`` of a split depends only on (seed, split, i).
    splits : tuple of str
        Splits to generate.
    n_songs : dict of str to int, optional
        Songs per split; defaults to ``DEFAULT_N_SONGS`` (40 / 8 / 8).
    duration_s : float
        Length of each song in seconds.
    progress : bool
        Show a tqdm progress bar over the songs.

    Returns
    -------
    pathlib.Path
        The dataset folder ``root/datasets/demo``.
    """
    n_songs = DEFAULT_N_SONGS if n_songs is None else n_songs
    missing = [split for split in splits if split not in n_songs]
    if missing:
        raise ValueError(f"no song count for split(s) {missing}; n_songs has {list(n_songs)}")
    base = dataset_dir(root)
    folders = {kind: make_folder(base / kind) for kind in ("audio", "labels", "filelists")}

    todo = [
        (split, index)
        for split in splits
        for index in range(n_songs[split])
        if not (
            (folders["audio"] / f"{song_name(split, index)}.ogg").exists()
            and (folders["labels"] / f"{song_name(split, index)}.lab").exists()
        )
    ]
    for split, index in tqdm(todo, desc="demo corpus", unit="song", disable=not progress):
        name = song_name(split, index)
        samples, segments = generate_song(song_seed(seed, split, index), duration_s, SR)
        serial = zlib.crc32(f"{seed}/{name}".encode())
        _write_atomic(folders["audio"] / f"{name}.ogg", encode_ogg(samples, SR, serial))
        _write_atomic(folders["labels"] / f"{name}.lab", format_labels(segments).encode())

    for split in splits:
        names = "".join(f"{song_name(split, i)}.ogg\n" for i in range(n_songs[split]))
        _write_atomic(folders["filelists"] / split, names.encode())
    return base


def _split_complete(base: Path, split: str) -> bool:
    """Whether a split's file list exists and all its songs have audio and labels."""
    filelist = base / "filelists" / split
    if not filelist.exists():
        return False
    names = filelist.read_text().split()
    return all(
        (base / "audio" / name).exists() and (base / "labels" / f"{Path(name).stem}.lab").exists()
        for name in names
    )


def ensure_demo_corpus(
    root: str | os.PathLike, splits: tuple[str, ...] = ("test",), seed: int = 0
) -> Path:
    """Make sure the demo splits exist under ``root``; generate only what is missing.

    Returns quietly when every split is complete, so a fresh clone can call it every run.

    Returns
    -------
    pathlib.Path
        The dataset folder ``root/datasets/demo``.
    """
    base = dataset_dir(root)
    incomplete = tuple(split for split in splits if not _split_complete(base, split))
    if incomplete:
        logger.info("generating demo corpus split(s) %s under %s", ", ".join(incomplete), base)
        write_corpus(root, seed, incomplete, DEFAULT_N_SONGS, DEFAULT_DURATION_S)
    return base


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: ``python -m svdnet.democorpus ROOT [options]``."""
    parser = argparse.ArgumentParser(
        description="Write a synthetic singing-voice corpus to ROOT/datasets/demo "
        "(Jamendo layout: audio/*.ogg, labels/*.lab, filelists/<split>)."
    )
    parser.add_argument("root", help="project root that receives datasets/demo")
    parser.add_argument(
        "--seed", type=random_seed, default=0, help="corpus seed (default: %(default)s)"
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=list(SPLITS),
        help="splits to generate (default: %(default)s)",
    )
    for split in SPLITS:
        parser.add_argument(
            f"--n-{split}",
            type=positive_int,
            default=DEFAULT_N_SONGS[split],
            help=f"songs in the {split} split (default: %(default)s)",
        )
    parser.add_argument(
        "--duration-s",
        type=_duration_s,
        default=DEFAULT_DURATION_S,
        help="length of each song in seconds (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    n_songs = {split: getattr(args, f"n_{split}") for split in SPLITS}
    base = run_cli(write_corpus, args.root, args.seed, tuple(args.splits), n_songs, args.duration_s)
    logger.info("demo corpus ready in %s", base)


def _duration_s(text: str) -> float:
    """argparse ``type`` of ``--duration-s``: the 1 ms that :func:`generate_song` needs."""
    value = positive_float(text)
    if round(value * 1000) < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0.001 (1 ms), got {text!r}")
    return value


if __name__ == "__main__":
    main()
