"""The demo band's patterns on the beat grid: bass lines, chord rhythms, arpeggios, drums.

Each pattern turns the chord schedule of a song into hits in beats, ``(onset, length,
midi, velocity)``; ``band`` humanises them into timed notes and renders them.
"""

from __future__ import annotations

import numpy as np

from svdnet.democorpus.arrangement import Key, _voicing
from svdnet.democorpus.styles import DRUM_GROOVES, HIT_LEVELS, TOMS

Hit = tuple[float, float, int, int]  # (onset_beats, length_beats, midi, velocity)

Chord = tuple[float, float, list[int]]  # (onset_beats, length_beats, pitch classes)


def _with_seventh(key: Key, pcs: list[int]) -> list[int]:
    """Add the diatonic seventh above a triad's root."""
    degree = key.steps.index((pcs[0] - key.root_pc) % 12)
    return pcs + [(key.root_pc + key.steps[(degree + 6) % 7]) % 12]


def _bass_line(rng: np.random.Generator, chords: list[Chord], kind: str, low: int) -> list[Hit]:
    """Bass notes under the chords: roots, fifths, pulses, walking lines or a riff."""
    riff = rng.random(16) < 0.35
    riff[0] = True
    hits = []
    for i, (onset, length, pcs) in enumerate(chords):
        root = _voicing(pcs[:1], low)[0]
        fifth = _voicing(pcs[2:3], root)[0]
        nxt = _voicing(chords[(i + 1) % len(chords)][2][:1], low)[0]
        if kind == "held":
            hits.append((onset, length * 0.98, root, 90))
        elif kind in ("roots", "pulse", "eighths"):
            step = {"roots": 2.0, "pulse": 1.0, "eighths": 0.5}[kind]
            hits += [(onset + b, step * 0.9, root, 100) for b in np.arange(0, length, step)]
        elif kind == "root_fifth":
            hits += [
                (onset + b, 1.9, (root, fifth)[int(b / 2) % 2], 100)
                for b in range(0, int(length), 2)
            ]
        elif kind == "walking":
            hits += _walk(rng, root, nxt, onset, length)
        else:  # a per-song riff on a 16th grid: root, octave or fifth
            for s in np.nonzero(np.tile(riff, int(length / 4)))[0]:
                midi = int(rng.choice([root, root, root + 12, fifth]))
                hits.append((onset + s / 4, 0.45, midi, 100 if s % 4 == 0 else 80))
    return hits


def _walk(
    rng: np.random.Generator, root: int, target: int, onset: float, length: float
) -> list[Hit]:
    """Quarter notes that leave the root and approach the next root by a semitone."""
    n = int(length)
    pitches = root + np.cumsum(np.concatenate([[0], rng.choice([-2, -1, 1, 2, 3, 4], n - 1)]))
    pitches[-1] = target + rng.choice([-1, 1])
    return [(onset + b, 0.95, int(p), 95) for b, p in enumerate(pitches)]


def _chord_hits(
    rng: np.random.Generator,
    chords: list[Chord],
    kind: str,
    low: int,
    key: Key,
    jazz: bool,
    beat_s: float,
) -> list[Hit]:
    """Chord notes of one accompaniment pattern, voiced in the octave above ``low``."""
    eighth_rhythm = rng.random(8) < 0.45
    eighth_rhythm[0] = True
    direction = rng.choice(["up", "updown", "random"])
    # Sixteenth arpeggios only at slow tempi: more than ~8 notes a second of a ringing
    # instrument piles up synth voices and doubles the render time.
    rate = 0.25 if beat_s >= 0.5 and rng.random() < 0.5 else 0.5
    strum_beats = rng.uniform(0.02, 0.08)
    hits = []
    for onset, length, pcs in chords:
        pcs = _with_seventh(key, pcs) if jazz else pcs
        midis = _voicing(pcs, low)
        if kind in ("strum", "power"):
            midis = _guitar_voicing(pcs, low, power=kind == "power")
        if kind == "held":
            hits += [(onset, length * 0.98, m, 80) for m in midis + [midis[0] + 12]]
        elif kind in ("beats", "halves", "offbeats"):
            step, shift = {"beats": (1, 0), "halves": (2, 0), "offbeats": (1, 0.5)}[kind]
            span = 0.4 if kind == "offbeats" else step * 0.9
            hits += [
                (onset + b + shift, span, m, 90) for b in np.arange(0, length, step) for m in midis
            ]
        elif kind == "arpeggio":
            hits += _arpeggio(rng, midis, onset, length, rate, direction)
        elif kind in ("strum", "power", "stabs", "comp"):
            hits += _rhythm_chords(rng, midis, onset, length, kind, eighth_rhythm, strum_beats)
    return hits


def _guitar_voicing(pcs: list[int], low: int, power: bool) -> list[int]:
    """Open-position-like spread: root, fifth, octave, third, fifth (power: no third)."""
    root = _voicing(pcs[:1], low - 12)[0]
    fifth = root + (pcs[2] - pcs[0]) % 12
    third = root + 12 + (pcs[1] - pcs[0]) % 12
    return [root, fifth, root + 12] if power else [root, fifth, root + 12, third, fifth + 12]


def _arpeggio(
    rng: np.random.Generator, midis: list[int], onset: float, length: float, rate: float, how: str
) -> list[Hit]:
    """Broken chord over two octaves at eighths or sixteenths."""
    tones = midis + [m + 12 for m in midis]
    if how == "updown":
        tones = tones + tones[-2:0:-1]
    n = int(length / rate)
    order = rng.integers(len(tones), size=n) if how == "random" else np.arange(n) % len(tones)
    return [
        (onset + i * rate, rate * 1.8, tones[j], 85 if i % 2 else 95) for i, j in enumerate(order)
    ]


def _rhythm_chords(
    rng: np.random.Generator,
    midis: list[int],
    onset: float,
    length: float,
    kind: str,
    eighth_rhythm: np.ndarray,
    strum_beats: float,
) -> list[Hit]:
    """Chords on a per-song eighth-note rhythm: strums (spread strings), stabs or comping."""
    if kind == "comp":  # jazz comping changes its rhythm every chord
        eighth_rhythm = rng.random(8) < 0.3
    span = {"strum": 0.9, "power": 0.45, "stabs": 0.3, "comp": 0.6}[kind]
    hits = []
    for e in np.nonzero(np.tile(eighth_rhythm, int(length / 4)))[0]:
        down = e % 2 == 0
        order = midis if down or kind != "strum" else midis[::-1]
        spread = strum_beats if kind == "strum" else 0.0
        for j, m in enumerate(order):
            hits.append((onset + e / 2 + j * spread, span, m, 100 if down else 80))
    return hits


def _drum_hits(rng: np.random.Generator, n_bars: int, groove: str) -> list[Hit]:
    """A drum groove with ghost-note variation, fills before phrase ends, crashes after."""
    grid = DRUM_GROOVES[groove]
    phrase = int(rng.choice([4, 8]))
    fill_prob, variation = rng.uniform(0.3, 1.0), rng.uniform(0.0, 0.08)
    hits = []
    for bar in range(n_bars):
        fill = bar % phrase == phrase - 1 and rng.random() < fill_prob
        n_steps = 16 - 4 * int(rng.integers(1, 3)) if fill else 16
        for note, pattern in grid.items():
            for s, c in enumerate(pattern[:n_steps]):
                if c != "-" or rng.random() < variation:
                    level = HIT_LEVELS.get(c, 0.4)
                    hits.append((bar * 4 + s / 4, 0.25, note, int(110 * level)))
        if fill:
            hits += _fill(rng, bar * 4 + n_steps / 4, (16 - n_steps) // 2)
        if bar % phrase == 0 and bar > 0:
            hits.append((bar * 4, 1.0, int(rng.choice([49, 57])), 110))
    return hits


def _fill(rng: np.random.Generator, start: float, n: int) -> list[Hit]:
    """Eighth or sixteenth notes down the toms (or the snare) to the next bar."""
    step = 0.25 if rng.random() < 0.5 else 0.5
    n_hits = int(n / 2 / step)
    drums = np.array(TOMS) if rng.random() < 0.7 else np.full(len(TOMS), 38)
    idx = np.minimum(np.arange(n_hits) * len(drums) // max(n_hits, 1), len(drums) - 1)
    return [(start + i * step, step, int(drums[j]), 100) for i, j in enumerate(idx)]


def _pitched_hits(
    rng: np.random.Generator,
    role: str,
    kind: str,
    chords: list[Chord],
    key: Key,
    jazz: bool,
    solo: bool,
    beat_s: float,
) -> list[Hit]:
    """The notes of one pitched role, in a register drawn around the role's usual one."""
    if role == "bass":
        low = int(rng.integers(36, 44)) if solo else int(rng.integers(26, 34))
        return _bass_line(rng, chords, kind, low)
    low = {"keys": 52, "guitar": 50, "strings": 55, "arp": 60}[role] + int(rng.integers(-5, 6))
    return _chord_hits(rng, chords, kind, low, key, jazz, beat_s)
