"""The demo corpus's band and lead instruments, by additive synthesis."""

from __future__ import annotations

import numpy as np
from scipy import signal

from svdnet.democorpus.arrangement import Key, Note, _chord_part, _chord_schedule, _voicing
from svdnet.democorpus.dsp import (
    Timbre,
    _add_at,
    _bandpass_sos,
    _db,
    _envelope,
    _harmonic_table,
    _lookup,
    _midi_to_hz,
    _rms,
    _samples,
)
from svdnet.democorpus.melody import _articulation, _note_gains, _pitch_contour

CHORD_INSTRUMENTS = {
    "piano": (Timbre(1.4, 1.0, 24, 0.004, 0.8, 0.06), "beats"),
    "epiano": (Timbre(2.5, 1.0, 8, 0.003, 1.2, 0.08), "offbeats"),
    "organ": (Timbre(1.0, 0.7, 8, 0.015, np.inf, 0.04), "held"),
    "pad": (Timbre(1.1, 1.0, 16, 0.3, np.inf, 0.25), "held"),
    "pluck": (Timbre(1.2, 1.0, 30, 0.002, 0.2, 0.03), "arpeggio"),
}


BASS = Timbre(2.0, 1.0, 8, 0.005, 0.6, 0.04)


LEAD_TIMBRES = {
    "saw": Timbre(1.0, 1.0, 60, 0.01, np.inf, 0.04),
    "square": Timbre(1.0, 0.0, 60, 0.01, np.inf, 0.04),
    "flute": Timbre(3.0, 1.0, 6, 0.06, np.inf, 0.06),
    "violin": Timbre(1.0, 1.0, 40, 0.08, np.inf, 0.08),
    "clarinet": Timbre(1.5, 0.15, 30, 0.03, np.inf, 0.05),
}


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
