"""Expressive melody rendering shared by voices and lead instruments: pitch, level, gates."""

from __future__ import annotations

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
