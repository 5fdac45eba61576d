"""Song structure of the demo corpus: keys, sections, melodies, chords and labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # a type only: voice.py imports this module
    from svdnet.democorpus.voice import Singer

MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)


MELODY_STEP_WEIGHTS = np.array([1, 3, 8, 14, 8, 14, 8, 3, 1], dtype=float)


MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class Note:
    """One melody note; times in integer milliseconds from the song start."""

    onset_ms: int
    end_ms: int
    midi: float
    legato: bool  # glide from the previous note instead of re-articulating


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
