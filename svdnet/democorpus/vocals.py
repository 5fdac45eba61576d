"""Rendering second-generation voices: one score, sung by one to six voices of one family.

Every phrase gets a score (phonemes laid on the notes); each voice of a doubled or ensemble
part sings it with its own pitch contour, detune, timing and source noise; the family then
turns the sources into sound: "rosenberg" through a resonator cascade, "lf" through a
parallel formant bank with a nasal pole-zero pair, "hnm" by additive harmonics plus noise,
"fof" as a sum of formant grains started at every glottal period. The speech families
sing with recorded speakers instead (:mod:`svdnet.democorpus.speech`), the held-out sampled
family with a soundfont's recorded voices (:mod:`svdnet.democorpus.sampled`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from svdnet.democorpus import fof, glottal, hnm, sampled, speech
from svdnet.democorpus.arrangement import Note
from svdnet.democorpus.dsp import _db, _midi_to_hz, _rms, _samples
from svdnet.democorpus.melody import expressive_contour
from svdnet.democorpus.phonetics import Score, plan_score
from svdnet.democorpus.singers import SAMPLED_FAMILIES, SPEECH_FAMILIES, Voice
from svdnet.democorpus.tract import _formant_filter, frame_centres, frame_filter, parallel_response

BANDWIDTHS_HZ = (60.0, 70.0, 100.0, 150.0, 200.0, 150.0)  # F1..F5 and the singer's formant


@dataclass(frozen=True)
class Chorus:
    """The voices of one part, ready for a family's synthesis."""

    f0s_hz: list[np.ndarray]  # per voice, per sample
    gates: list[np.ndarray]  # per voice: voicing amplitude times the voice's level
    jitter: np.ndarray | float
    score: Score
    formants_hz: np.ndarray  # (n_blocks, n_formants)
    bandwidths_hz: np.ndarray


def render_vocal_phrase(
    rng: np.random.Generator, notes: list[Note], voice: Voice, sr: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sing one phrase.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    notes : list of Note
        Consecutive notes of the phrase.
    voice : Voice
        The singer, doubled singer or ensemble (see ``draw_voice``).
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    phrase : numpy.ndarray
        float64, ``samples(notes[-1].end_ms - notes[0].onset_ms)`` samples.
    voiced : numpy.ndarray
        Boolean mask of the samples where the voiced source is at more than half level.
    """
    if not notes:
        raise ValueError("a phrase needs at least one note")
    if voice.family in SPEECH_FAMILIES:
        return speech.sing_phrase(rng, notes, voice, sr)
    if voice.family in SAMPLED_FAMILIES:
        return sampled.sing_phrase(rng, notes, voice, sr)
    score = plan_score(rng, notes, voice.diction, sr)
    fry = _fry(rng, voice, len(score.voicing), sr)
    out = _render_part(rng, notes, score, voice, voice.n_voices, fry, sr)
    voiced = score.voicing > 0.5
    level = _rms(out[voiced])
    if voice.harmony_semitones and rng.random() < voice.harmony_prob:
        part = _harmony(rng, notes, score, voice, sr)
        out += part * level * _db(rng.uniform(-9, -2)) / max(_rms(part[voiced]), 1e-12)
    return out + level * score.noise, voiced


def _render_part(
    rng: np.random.Generator,
    notes: list[Note],
    score: Score,
    voice: Voice,
    n_voices: int,
    fry: tuple[np.ndarray, float] | None,
    sr: int,
) -> np.ndarray:
    """All voices of one part singing ``score`` on ``notes``, summed."""
    f0s, gates = [], []
    for member in range(n_voices):
        detune, shift = 0.0, 0
        if member:
            detune = rng.normal(0.0, voice.detune_cents)
            shift = int(np.clip(rng.normal(0.0, voice.spread_ms), -60, 60) * sr / 1000)
        expression = voice.expression
        if member:  # each singer of a group has a vibrato of their own
            rate_hz = expression.vibrato_rate_hz * rng.uniform(0.85, 1.15)
            expression = replace(expression, vibrato_rate_hz=rate_hz)
        midi = expressive_contour(rng, notes, expression, sr) + detune / 100
        if voice.family == "lf":  # slow irregular wander, the sum of a few slow sines
            t_s = np.arange(len(midi)) / sr
            rates = rng.uniform(3.0, 13.0, 3)
            wander = np.sin(2 * np.pi * rates[:, None] * t_s + rng.uniform(0, 6.3, (3, 1)))
            midi += voice.flutter_cents / 100 * wander.mean(axis=0)
        f0_hz = _midi_to_hz(midi)
        if fry is not None:
            f0_hz = f0_hz ** (1 - fry[0]) * fry[1] ** fry[0]
        gain = 1.0 if n_voices == 1 else rng.uniform(0.7, 1.0)
        f0s.append(_shift(f0_hz, shift))
        gates.append(gain * _shift(score.voicing, shift))
    jitter = voice.jitter + (0.0 if fry is None else 0.15 * fry[0])
    chorus = Chorus(f0s, gates, jitter, score, *_tract_tracks(score, voice, f0s[0]))
    render = {"rosenberg": _rosenberg, "lf": _lf, "hnm": _hnm, "fof": _fof}[voice.family]
    return render(rng, chorus, voice, sr)


def _shift(x: np.ndarray, shift: int) -> np.ndarray:
    """Delay (positive) or advance ``x`` by whole samples, holding the edge values."""
    if shift > 0:
        return np.concatenate((np.full(min(shift, len(x)), x[0]), x[: len(x) - shift]))
    if shift < 0:
        return np.concatenate((x[-shift:], np.full(min(-shift, len(x)), x[-1])))[: len(x)]
    return x


def _fry(
    rng: np.random.Generator, voice: Voice, n: int, sr: int
) -> tuple[np.ndarray, float] | None:
    """Weight (0..1 per sample) and f0 of vocal fry at the phrase end, or None."""
    if rng.random() >= voice.fry_prob:
        return None
    length = int(min(rng.uniform(0.15, 0.35) * sr, 0.4 * n))
    weight = np.zeros(n)
    weight[n - length :] = np.minimum(np.linspace(0, 2.5, length), 1.0) ** 2
    return weight, rng.uniform(35, 75)


def _tract_tracks(score: Score, voice: Voice, f0_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Formant frequencies and bandwidths per block, (n_blocks, n_formants)."""
    n_blocks = len(score.formants_hz)
    low = score.formants_hz * np.array(voice.formant_scales)
    # High voices raise F1 to stay above f0, as sopranos do (formant tuning).
    f0_blocks = f0_hz[np.minimum(np.arange(n_blocks) * score.block, len(f0_hz) - 1)]
    low[:, 0] = np.maximum(low[:, 0], 1.1 * f0_blocks)
    low[:, 1] = np.maximum(low[:, 1], low[:, 0] + 200)
    high = [np.full(n_blocks, f) for f in voice.high_formants_hz]
    if voice.singers_formant_hz is not None:
        high.append(np.full(n_blocks, voice.singers_formant_hz))
    formants_hz = np.column_stack([low, *high])
    n_formants = formants_hz.shape[1]
    bandwidths_hz = np.tile(np.array(BANDWIDTHS_HZ[:n_formants]), (n_blocks, 1))
    bandwidths_hz *= voice.bandwidth_scale
    bandwidths_hz[:, 0] *= 1 + (1 - voice.effort) + score.nasal  # glottal and nasal losses
    return formants_hz, np.minimum(bandwidths_hz, 0.2 * formants_hz + 40)


def _rosenberg(rng: np.random.Generator, chorus: Chorus, voice: Voice, sr: int) -> np.ndarray:
    """Rosenberg pulses with open-phase aspiration through a cascade of resonators."""
    max_f0_hz = max(float(np.max(chorus.f0s_hz)), 60.0)
    table = glottal.rosenberg_table(voice.open_quotient, voice.speed_quotient, max_f0_hz, sr)
    source = np.zeros(len(chorus.gates[0]))
    for f0_hz, gate in zip(chorus.f0s_hz, chorus.gates, strict=True):
        pulses, phase = glottal.pulse_train(
            rng, f0_hz, table, chorus.jitter, voice.shimmer, voice.growl, sr
        )
        noise = glottal.open_phase_noise(rng, phase, voice.open_quotient)
        source += gate * (pulses + voice.aspiration * noise)
    source = glottal.tilt(source, voice.tilt_db_per_octave)
    score = chorus.score
    source *= 1 - 0.5 * np.repeat(score.nasal, score.block)[: len(source)]  # quieter murmur
    return _formant_filter(source, chorus.formants_hz, chorus.bandwidths_hz, score.block, sr)


def _lf(rng: np.random.Generator, chorus: Chorus, voice: Voice, sr: int) -> np.ndarray:
    """Liljencrants-Fant pulses with closure-timed turbulence through a parallel bank."""
    rd = float(np.clip(voice.rd + rng.normal(0, 0.1), 0.3, 2.7))
    table = glottal.lf_table(rd, max(float(np.max(chorus.f0s_hz)), 60.0), sr)
    te = glottal.lf_timing(rd)[1]
    source = np.zeros(len(chorus.gates[0]))
    for f0_hz, gate in zip(chorus.f0s_hz, chorus.gates, strict=True):
        pulses, phase = glottal.pulse_train(
            rng, f0_hz, table, chorus.jitter, voice.shimmer, voice.growl, sr
        )
        noise = glottal.pulsed_turbulence(rng, phase, te)
        source += gate * (pulses + 1.5 * voice.aspiration * noise)
    score, formants_hz = chorus.score, chorus.formants_hz
    rows = np.clip(frame_centres(len(source)) // score.block, 0, len(formants_hz) - 1)
    nasal = np.clip(score.nasal[rows] + voice.nasality, 0.0, 1.0)
    gains = _db(np.array(voice.branch_gains_db[: formants_hz.shape[1]]))
    bandwidths_hz = chorus.bandwidths_hz[rows]
    return frame_filter(
        source, parallel_response(formants_hz[rows], bandwidths_hz, gains, nasal, sr)
    )


def _hnm(rng: np.random.Generator, chorus: Chorus, voice: Voice, sr: int) -> np.ndarray:
    """Additive harmonics under a moving envelope, plus a shaped, pulsing noise part."""
    settings = {"ripple_db": voice.ripple_db, "max_voiced_hz": voice.max_voiced_hz}
    shape = hnm.draw_shape(rng, voice.effort, voice.head_voice, voice.tilt_db_per_octave, settings)
    tracks = (chorus.formants_hz, chorus.bandwidths_hz, chorus.score.block)
    out = np.zeros(len(chorus.gates[0]))
    for f0_hz, gate in zip(chorus.f0s_hz, chorus.gates, strict=True):
        phase = glottal.jittered_phase(rng, f0_hz, chorus.jitter, sr)
        gains = glottal.cycle_gains(rng, phase, voice.shimmer, voice.growl)
        out += gate * gains * hnm.harmonics(f0_hz, phase, *tracks, shape, sr)
    noise = hnm.noise_part(rng, phase, *tracks, shape, sr)
    level = (0.05 + 1.5 * voice.aspiration) * _rms(out)
    return out + level * noise * np.mean(chorus.gates, axis=0)


def _fof(rng: np.random.Generator, chorus: Chorus, voice: Voice, sr: int) -> np.ndarray:
    """Formant grains at every glottal period, plus open-phase aspiration through a cascade."""
    breathy = 1.0 - voice.effort
    # Breathy and dark voices lose their upper formants faster and start each grain softly.
    slope_db_per_octave = 6.0 + 6.0 * breathy - voice.tilt_db_per_octave
    attack_s = (0.6 + 3.0 * breathy + 1.5 * voice.head_voice) / 1000
    score, n = chorus.score, len(chorus.gates[0])
    n_formants = chorus.formants_hz.shape[1]
    offsets_db = 0.5 * np.array(voice.branch_gains_db[:n_formants])
    out = np.zeros(n)
    for f0_hz, gate in zip(chorus.f0s_hz, chorus.gates, strict=True):
        phase = glottal.jittered_phase(rng, f0_hz, chorus.jitter, sr)
        onsets = fof.pulse_onsets(phase)
        rows = np.minimum(onsets // score.block, len(chorus.formants_hz) - 1)
        freqs_hz, bandwidths_hz = chorus.formants_hz[rows], chorus.bandwidths_hz[rows]
        levels_db = fof.formant_levels_db(
            freqs_hz, slope_db_per_octave, offsets_db, score.nasal[rows]
        )
        gains = glottal.cycle_gains(rng, phase, voice.shimmer, voice.growl)[onsets] * gate[onsets]
        # A grain's spectral peak grows with its amplitude over its bandwidth.
        amplitudes = _db(levels_db) * bandwidths_hz * gains[:, None]
        out += fof.grains(onsets, freqs_hz, bandwidths_hz, amplitudes, attack_s, n, sr)
    noise = glottal.open_phase_noise(rng, phase, voice.open_quotient)
    noise = _formant_filter(noise, chorus.formants_hz, chorus.bandwidths_hz, score.block, sr)
    level = (0.05 + 1.5 * voice.aspiration) * _rms(out) / max(_rms(noise), 1e-12)
    return out + level * noise * np.mean(chorus.gates, axis=0)


def _harmony(
    rng: np.random.Generator, notes: list[Note], score: Score, voice: Voice, sr: int
) -> np.ndarray:
    """A second part a fixed interval away on a stretch of the phrase, on the same words."""
    first = int(rng.integers(len(notes)))
    last = int(rng.integers(first, len(notes))) + 1
    interval = voice.harmony_semitones
    if max(note.midi for note in notes) + interval > voice.high_midi + 5:
        interval -= 12  # too high for the singer: the same chord tone an octave down
    part_notes = [
        Note(note.onset_ms, note.end_ms, note.midi + interval, note.legato)
        for note in notes[first:last]
    ]
    start = _samples(part_notes[0].onset_ms - notes[0].onset_ms, sr)
    length = _samples(part_notes[-1].end_ms - part_notes[0].onset_ms, sr)
    rows = slice(start // score.block, start // score.block + -(-length // score.block))
    part_score = Score(
        score.block,
        _fit(score.formants_hz[rows], -(-length // score.block)),
        _fit(score.nasal[rows], -(-length // score.block)),
        _fit(score.voicing[start : start + length], length),
        np.zeros(length),
    )
    part = _render_part(rng, part_notes, part_score, voice, max(voice.n_voices // 2, 1), None, sr)
    ramp = min(int(0.03 * sr), length // 2)
    part[:ramp] *= np.linspace(0, 1, ramp)
    part[length - ramp :] *= np.linspace(1, 0, ramp)
    out = np.zeros(len(score.voicing))
    out[start : start + length] = part[: len(out) - start]
    return out


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or padded (repeating its last row) to ``n`` rows."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate((x, np.repeat(x[-1:], n - len(x), axis=0)))


def render_breath(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """An inhalation: noise through a few random broad resonances, smooth envelope, unit RMS.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    n : int
        Length in samples.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        ``n`` samples, RMS 1 (zeros if ``n`` is 0).
    """
    if n <= 0:
        return np.zeros(max(n, 0))
    freqs_hz = np.array([rng.uniform(500, 1200), rng.uniform(1200, 2500), rng.uniform(2500, 5000)])
    rows = len(frame_centres(n))
    formants = np.tile(freqs_hz, (rows, 1))
    bandwidths = np.tile(rng.uniform(200, 800, 3), (rows, 1))
    response = np.abs(parallel_response(formants, bandwidths, np.ones(3), np.zeros(rows), sr))
    breath = frame_filter(rng.standard_normal(n), response)
    peak_at = rng.uniform(0.3, 0.7)
    t = np.linspace(0, 1, n)
    breath *= np.where(t < peak_at, t / peak_at, (1 - t) / (1 - peak_at)) ** rng.uniform(0.5, 1.5)
    return breath / max(_rms(breath), 1e-12)
