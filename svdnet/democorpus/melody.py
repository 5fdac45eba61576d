"""Expressive melody rendering shared by voices and lead instruments: pitch, level, gates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svdnet.democorpus.arrangement import Note
from svdnet.democorpus.dsp import _db, _midi_to_hz, _samples


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


@dataclass(frozen=True)
class Expression:
    """How a performer shapes pitch: vibrato, scoops, glides, intonation.

    Shared by voices and lead instruments, so that pitch motion alone never tells them apart.
    """

    vibrato_cents: float  # peak deviation; 0 is a straight tone
    vibrato_rate_hz: float
    vibrato_delay_s: float  # from the note onset
    vibrato_ramp_s: float
    scoop_prob: float  # chance that a note starts from below
    scoop_cents: float
    scoop_s: float
    glide_s: float  # portamento into legato notes
    intonation_cents: float  # standard deviation of each note's tuning error
    drift_cents: float  # slow wander within a phrase


def draw_expression(rng: np.random.Generator) -> Expression:
    """A random performance style, from a straight pop tone to a wide operatic vibrato.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.

    Returns
    -------
    Expression
        Vibrato, scoop, glide and intonation settings.
    """
    style = rng.choice(4, p=[0.2, 0.25, 0.4, 0.15])  # straight, light, usual, operatic
    vibrato_cents = (0.0, rng.uniform(8, 30), rng.uniform(30, 80), rng.uniform(80, 150))[style]
    return Expression(
        vibrato_cents=float(vibrato_cents),
        vibrato_rate_hz=rng.uniform(4.0, 8.0),
        vibrato_delay_s=rng.uniform(0.0, 0.6),
        vibrato_ramp_s=rng.uniform(0.05, 0.4),
        scoop_prob=rng.uniform(0.0, 0.6),
        scoop_cents=rng.uniform(50, 300),
        scoop_s=rng.uniform(0.04, 0.15),
        glide_s=rng.uniform(0.04, 0.25),
        intonation_cents=rng.uniform(3, 25),
        drift_cents=rng.uniform(0, 15),
    )


def expressive_contour(
    rng: np.random.Generator, notes: list[Note], expression: Expression, sr: int
) -> np.ndarray:
    """Per-sample pitch of a phrase in fractional MIDI numbers.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the per-note tuning errors, scoops, vibrato phases and drift.
    notes : list of Note
        Consecutive notes of the phrase.
    expression : Expression
        The performance style.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        ``samples(notes[-1].end_ms - notes[0].onset_ms)`` values in MIDI units.
    """
    bounds = _note_bounds(notes, sr)
    n = bounds[-1]
    midi = np.empty(n)
    for note, a, b in zip(notes, bounds[:-1], bounds[1:], strict=True):
        midi[a:b] = note.midi + rng.normal(0.0, expression.intonation_cents / 100)
    for note, a, b in zip(notes, bounds[:-1], bounds[1:], strict=True):
        if not note.legato and rng.random() < expression.scoop_prob:
            m = min(int(expression.scoop_s * rng.uniform(0.7, 1.3) * sr), (b - a) // 2)
            depth = expression.scoop_cents * rng.uniform(0.5, 1.0) / 100
            midi[a : a + m] -= depth * (1 - np.linspace(0, 1, m)) ** 2
    for note, boundary in zip(notes[1:], bounds[1:-1], strict=True):
        if note.legato:
            half = max(int(expression.glide_s * rng.uniform(0.7, 1.3) * sr) // 2, 1)
            a, b = max(boundary - half, 1), min(boundary + half, n - 1)
            ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, b - a, endpoint=False))
            midi[a:b] = midi[a - 1] + (midi[b] - midi[a - 1]) * ramp
    midi += _vibrato(rng, bounds, expression, sr)
    knots = np.arange(0, n + sr // 4, sr // 4)
    drift = rng.normal(0.0, expression.drift_cents / 100, len(knots))
    return midi + np.interp(np.arange(n), knots, drift)


def _note_bounds(notes: list[Note], sr: int) -> list[int]:
    """Sample index of each note onset from the phrase start, and of the phrase end."""
    start_ms = notes[0].onset_ms
    return [_samples(note.onset_ms - start_ms, sr) for note in notes] + [
        _samples(notes[-1].end_ms - start_ms, sr)
    ]


def _vibrato(
    rng: np.random.Generator, bounds: list[int], expression: Expression, sr: int
) -> np.ndarray:
    """Vibrato in semitones on every note long enough for it; rate and depth wander a little."""
    out = np.zeros(bounds[-1])
    if expression.vibrato_cents <= 0:
        return out
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        delay = int(expression.vibrato_delay_s * rng.uniform(0.7, 1.3) * sr)
        if b - a < delay + int(0.1 * sr):
            continue
        t_s = np.arange(b - a - delay) / sr
        rate_hz = expression.vibrato_rate_hz * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t_s))
        phase = 2 * np.pi * np.cumsum(rate_hz) / sr + rng.uniform(0, 2 * np.pi)
        ramp = np.minimum(t_s / max(expression.vibrato_ramp_s, 1e-3), 1.0)
        depth = expression.vibrato_cents * rng.uniform(0.8, 1.2) / 100
        out[a + delay : b] = depth * ramp * np.sin(phase)
    return out
