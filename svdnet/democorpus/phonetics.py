"""Lyrics for the second-generation voices: phonemes of several languages, syllables, a score.

The score is what every synthesis family sings from: formant targets and a nasal amount at
block rate, a per-sample voicing amplitude and the unit-level noise of the consonants.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import signal

from svdnet.democorpus.arrangement import Note
from svdnet.democorpus.dsp import _bandpass_sos, _db, _samples

# F1/F2/F3 of an adult male, Hz; X-SAMPA-like names ("E" open e, "O" open o, "V" as in
# "cup", "@" schwa, "M" Japanese u, "1" Russian y, "ue"/"oe" German and French front rounded).
VOWELS_HZ = {
    "i": (270, 2290, 3010),
    "I": (390, 1990, 2550),
    "e": (400, 2100, 2700),
    "E": (530, 1840, 2480),
    "ae": (660, 1720, 2410),
    "a": (730, 1090, 2440),
    "A": (750, 940, 2540),
    "O": (570, 840, 2410),
    "o": (420, 760, 2500),
    "U": (440, 1020, 2240),
    "u": (300, 870, 2240),
    "V": (640, 1190, 2390),
    "@": (500, 1500, 2500),
    "ue": (250, 1750, 2150),
    "oe": (370, 1500, 2350),
    "M": (330, 1300, 2400),
    "1": (340, 1600, 2450),
}


DIPHTHONGS = {
    "ai": ("a", "i"),
    "au": ("a", "u"),
    "ei": ("e", "i"),
    "oi": ("O", "i"),
    "ou": ("o", "u"),
}


# Vowel inventory, diphthongs and how often vowels are nasalised, per language.
LANGUAGES = {
    "english": ("i I E ae A V O U u @", "ai au ei oi ou", 0.05),
    "italian": ("i e E a O o u", "ai au ei oi", 0.0),
    "spanish": ("i e a o u", "ai au ei oi", 0.0),
    "german": ("i I e E a o O u U ue oe @", "ai au oi", 0.0),
    "french": ("i e E a O o u ue oe @", "", 0.25),
    "portuguese": ("i e E a O o u @", "ai au ei oi ou", 0.25),
    "japanese": ("i e a o M", "ai", 0.0),
    "russian": ("i 1 e a o u", "", 0.0),
}


@dataclass(frozen=True)
class Consonant:
    """How a consonant sounds: noise band and level, and the voiced murmur it keeps."""

    kind: str  # fricative, plosive, nasal, liquid, semivowel
    duration_ms: tuple[float, float]
    noise_hz: tuple[float, float] | None
    noise_db: float
    voicing: float  # amplitude of the voiced source during the consonant
    formants_hz: tuple[float, float, float] | None  # None: keeps the vowel's
    nasal: float = 0.0


CONSONANTS = {
    "s": Consonant("fricative", (60, 140), (4000, 9000), -10, 0.0, None),
    "sh": Consonant("fricative", (60, 140), (1800, 4500), -8, 0.0, None),
    "f": Consonant("fricative", (50, 120), (1000, 8000), -20, 0.0, None),
    "th": Consonant("fricative", (50, 120), (1500, 8000), -22, 0.0, None),
    "h": Consonant("fricative", (40, 100), (400, 6000), -14, 0.0, None),
    "z": Consonant("fricative", (50, 120), (4000, 9000), -16, 0.4, (250, 1700, 2600)),
    "v": Consonant("fricative", (40, 100), (1000, 8000), -24, 0.5, (250, 1100, 2300)),
    "p": Consonant("plosive", (50, 100), (400, 1800), -6, 0.0, None),
    "t": Consonant("plosive", (50, 100), (3000, 7000), -6, 0.0, None),
    "k": Consonant("plosive", (50, 100), (1500, 3500), -6, 0.0, None),
    "b": Consonant("plosive", (40, 90), (400, 1800), -14, 0.15, (200, 900, 2200)),
    "d": Consonant("plosive", (40, 90), (3000, 7000), -14, 0.15, (200, 1700, 2600)),
    "g": Consonant("plosive", (40, 90), (1500, 3500), -14, 0.15, (200, 2000, 2500)),
    "m": Consonant("nasal", (50, 110), None, 0, 0.5, (280, 1000, 2200), 1.0),
    "n": Consonant("nasal", (50, 110), None, 0, 0.5, (280, 1600, 2600), 1.0),
    "ng": Consonant("nasal", (50, 110), None, 0, 0.5, (280, 2100, 2700), 1.0),
    "l": Consonant("liquid", (40, 90), None, 0, 0.7, (360, 1300, 2700)),
    "r": Consonant("liquid", (40, 90), None, 0, 0.7, (420, 1300, 1600)),
    "w": Consonant("semivowel", (40, 80), None, 0, 0.8, (300, 610, 2200)),
    "y": Consonant("semivowel", (40, 80), None, 0, 0.8, (260, 2070, 3020)),
}


CODAS = ("m", "n", "ng", "l", "r", "s", "t", "k", "z")


BLOCK_S = 0.005  # formant targets are updated every 5 ms


@dataclass(frozen=True)
class Diction:
    """How a singer pronounces: language, syllable rate and the consonants used."""

    language: str
    syllable_rate_hz: float  # target syllables per second on long notes
    melisma_prob: float  # chance that a legato note carries on the previous syllable
    onset_prob: float  # chance that a syllable starts with a consonant
    coda_prob: float  # chance that a syllable ends with one
    transition_ms: float  # formant movement between phonemes
    attack_s: float
    release_s: float
    vowels: tuple[str, ...] = ()  # a vocalise's vowels (no consonants); () the language's


# What a vocalise is sung on: "ooh", "oh", "aah" and the neutral vowel, as backing singers
# and choirs sing; no consonant, no diphthong.
VOCALISE_VOWELS = ("u", "U", "o", "O", "a", "A", "@")


@dataclass(frozen=True)
class Score:
    """What a voice sings: articulation tracks of one phrase."""

    block: int  # samples per formant block
    formants_hz: np.ndarray  # (n_blocks, 3), adult male values before the singer's scaling
    nasal: np.ndarray  # (n_blocks,), 0 oral .. 1 nasal
    voicing: np.ndarray  # (n,), amplitude of the voiced source
    noise: np.ndarray  # (n,), consonant noise relative to the voiced level


def draw_diction(rng: np.random.Generator) -> Diction:
    """A random language and delivery, from slow legato lines to fast syllabic patter.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.

    Returns
    -------
    Diction
    """
    return Diction(
        language=str(rng.choice(list(LANGUAGES))),
        syllable_rate_hz=rng.uniform(2.0, 8.0),
        melisma_prob=rng.uniform(0.0, 0.8),
        onset_prob=rng.uniform(0.4, 0.9),
        coda_prob=rng.uniform(0.0, 0.4),
        transition_ms=rng.uniform(30, 80),
        attack_s=rng.uniform(0.015, 0.06),
        release_s=rng.uniform(0.03, 0.15),
    )


def vocalise(rng: np.random.Generator, diction: Diction) -> Diction:
    """The same singer's delivery sung on one or two open vowels alone (a vocalise).

    Backing vocals, choirs and wordless melodies carry no consonants, so a detector that
    listens for articulation misses them; the voice's timbre has to mark it.
    """
    vowels = rng.choice(VOCALISE_VOWELS, size=int(rng.integers(1, 3)), replace=False)
    return replace(
        diction,
        vowels=tuple(str(v) for v in vowels),
        onset_prob=0.0,
        coda_prob=0.0,
        melisma_prob=rng.uniform(0.5, 1.0),
    )


def _syllable_spans(
    rng: np.random.Generator, notes: list[Note], diction: Diction
) -> list[tuple[int, int]]:
    """Syllable spans in ms from the phrase start: several per long note, melismas over legato."""
    start_ms = notes[0].onset_ms
    onsets = []
    for i, note in enumerate(notes):
        if i > 0 and note.legato and rng.random() < diction.melisma_prob:
            continue
        length_ms = note.end_ms - note.onset_ms
        expected = length_ms / 1000 * diction.syllable_rate_hz * rng.uniform(0.6, 1.4)
        n_syllables = int(np.clip(round(expected), 1, max(length_ms // 120, 1)))
        cuts = np.sort(rng.uniform(0.3, 1.7, n_syllables))
        cuts = np.concatenate(([0.0], np.cumsum(cuts)[:-1] / np.sum(cuts)))
        onsets += [int(note.onset_ms - start_ms + c * length_ms) for c in cuts]
    bounds = onsets + [notes[-1].end_ms - start_ms]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _phonemes(
    rng: np.random.Generator, span_ms: tuple[int, int], diction: Diction, vowels: list[str]
) -> list[tuple[int, int, str]]:
    """Phoneme segments (start_ms, end_ms, name) of one syllable: [consonant] vowel [coda]."""
    a, b = span_ms
    # A vocalise keeps its vowels pure.
    diphthongs = "" if diction.vowels else LANGUAGES[diction.language][1]
    segments = []
    if rng.random() < diction.onset_prob:
        name = str(rng.choice(list(CONSONANTS)))
        length = min(rng.uniform(*CONSONANTS[name].duration_ms), 0.3 * (b - a))
        segments.append((a, a + int(length), name))
        a += int(length)
    coda = None
    if rng.random() < diction.coda_prob:
        coda = str(rng.choice(CODAS))
        length = int(min(rng.uniform(*CONSONANTS[coda].duration_ms), 0.2 * (b - a)))
        b, coda = b - length, (b - length, b, coda)
    if diphthongs and rng.random() < 0.25:
        first, second = DIPHTHONGS[str(rng.choice(diphthongs.split()))]
        middle = a + int(rng.uniform(0.5, 0.75) * (b - a))
        segments += [(a, middle, first), (middle, b, second)]
    else:
        segments.append((a, b, vowels[int(rng.integers(len(vowels)))]))
    if coda is not None:
        segments.append(coda)
    return segments


def plan_score(rng: np.random.Generator, notes: list[Note], diction: Diction, sr: int) -> Score:
    """The articulation of a phrase: syllables laid on the notes, then phonemes on syllables.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    notes : list of Note
        The phrase's notes.
    diction : Diction
        Language and delivery.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    Score
        Tracks of ``samples(notes[-1].end_ms - notes[0].onset_ms)`` samples.
    """
    vowels = list(diction.vowels) or LANGUAGES[diction.language][0].split()
    segments = []
    for span_ms in _syllable_spans(rng, notes, diction):
        segments += _phonemes(rng, span_ms, diction, vowels)
    n = _samples(notes[-1].end_ms - notes[0].onset_ms, sr)
    block = max(int(BLOCK_S * sr), 1)
    block_ms = (np.arange(0, n, block) + block / 2) * 1000 / sr
    formants, nasal = _formant_tracks(rng, segments, diction, block_ms)
    voicing = _voicing(segments, diction, n, sr)
    return Score(block, formants, nasal, voicing, _consonant_noise(rng, segments, n, sr))


def _targets(rng: np.random.Generator, segments: list, diction: Diction) -> np.ndarray:
    """Targets (F1, F2, F3, nasal) per segment; oral consonants keep the nearby vowel's."""
    nasal_prob = LANGUAGES[diction.language][2]
    names = [name for _, _, name in segments]
    last = next((VOWELS_HZ[name] for name in names if name in VOWELS_HZ), VOWELS_HZ["@"])
    rows = []
    for name in names:
        if name in VOWELS_HZ:
            last = VOWELS_HZ[name]
            nasal = rng.uniform(0.3, 0.7) if rng.random() < nasal_prob else 0.0
            rows.append((*last, nasal))
        else:
            consonant = CONSONANTS[name]
            rows.append((*(consonant.formants_hz or last), consonant.nasal))
    return np.array(rows, dtype=float)


def _formant_tracks(
    rng: np.random.Generator, segments: list, diction: Diction, times_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant targets joined by transitions of about ``diction.transition_ms``."""
    targets = _targets(rng, segments, diction)
    knots_ms, values = [], []
    for (a, b, _), target in zip(segments, targets, strict=True):
        half = min(diction.transition_ms * rng.uniform(0.35, 0.65), (b - a) / 3)
        knots_ms += [a + half, b - half]
        values += [target, target]
    values = np.array(values)
    knots_ms = np.maximum.accumulate(np.array(knots_ms, dtype=float))
    tracks = np.stack([np.interp(times_ms, knots_ms, values[:, j]) for j in range(4)], axis=1)
    return tracks[:, :3], tracks[:, 3]


def _voicing(segments: list, diction: Diction, n: int, sr: int) -> np.ndarray:
    """Per-sample voiced amplitude: full on vowels, reduced or off on consonants, fast ramps."""
    knots, levels = [], []
    for a, b, name in segments:
        level = 1.0 if name in VOWELS_HZ else CONSONANTS[name].voicing
        ramp = min(8.0, (b - a) / 4)
        knots += [a + ramp, b - ramp]
        levels += [level, level]
    times_ms = np.arange(n) * 1000 / sr
    voicing = np.interp(times_ms, np.maximum.accumulate(knots), levels)
    t_s = np.arange(n) / sr
    voicing *= np.clip(t_s / diction.attack_s, 0, 1) * np.clip(
        (n / sr - t_s) / diction.release_s, 0, 1
    )
    return voicing


def _consonant_noise(rng: np.random.Generator, segments: list, n: int, sr: int) -> np.ndarray:
    """Fricatives fill their segment; plosives end in a burst, voiceless ones aspirated."""
    out = np.zeros(n)
    for a_ms, b_ms, name in segments:
        consonant = CONSONANTS.get(name)
        if consonant is None or consonant.noise_hz is None:
            continue
        a, b = _samples(a_ms, sr), min(_samples(b_ms, sr), n)
        if b - a < 8:
            continue
        if consonant.kind == "fricative":
            env = np.hanning(b - a) ** 0.7
        else:  # closure, then a burst that decays into the vowel
            burst = int(rng.uniform(0.01, 0.025) * sr) + (
                0 if consonant.voicing else int(0.02 * sr)
            )
            a = max(a, b - burst)
            env = np.exp(-np.arange(b - a) / (rng.uniform(0.004, 0.012) * sr))
        noise = signal.sosfilt(_bandpass_sos(*consonant.noise_hz, sr), rng.standard_normal(b - a))
        noise /= max(float(np.sqrt(np.mean(noise**2))), 1e-12)
        out[a:b] += _db(consonant.noise_db + rng.uniform(-4, 4)) * env * noise
    return out
