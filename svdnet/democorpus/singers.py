"""Who sings in a second-generation song: a voice drawn from wide random ranges.

Every setting is drawn independently and widely (domain randomisation), so a detector trained
on these voices meets men, women and children, chest and head voice, breathy and pressed
phonation, straight tones and operatic vibrato, solo singers, doubled takes and small choirs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from svdnet.democorpus import sampled, speech
from svdnet.democorpus.melody import Expression, draw_expression
from svdnet.democorpus.phonetics import Diction, draw_diction, vocalise

SYNTHETIC_FAMILIES = ("rosenberg", "lf", "hnm", "fof")
# Recorded speakers made to sing (svdnet.democorpus.speech): one set of speakers for
# training, another, of other speakers and languages, held out.
SPEECH_FAMILIES = ("speech", "speech_heldout")
# A soundfont's recorded voices (svdnet.democorpus.sampled): never in a training song.
SAMPLED_FAMILIES = ("sampled",)
VOICE_FAMILIES = SYNTHETIC_FAMILIES + SPEECH_FAMILIES + SAMPLED_FAMILIES
# What corpus ablations may train on (writer's --voices).
TRAINABLE_FAMILIES = SYNTHETIC_FAMILIES + SPEECH_FAMILIES


# Sung ranges (MIDI) and formant scale relative to an adult male, per register.
REGISTERS = {
    "male": ((38, 74), (0.92, 1.06)),  # D2 .. D5, falsetto included
    "female": ((55, 84), (1.10, 1.22)),  # G3 .. C6
    "child": ((60, 88), (1.25, 1.35)),  # C4 .. E6
}


HARMONY_SEMITONES = (-12, -5, -4, -3, 3, 4, 5, 7, 12)


@dataclass(frozen=True)
class Voice:
    """All settings of one singing voice (or doubled voice, or small ensemble)."""

    family: str  # synthesis family, one of VOICE_FAMILIES
    register: str  # male, female or child
    head_voice: bool  # falsetto / head register: thinner, more sinusoidal source
    low_midi: int
    high_midi: int
    formant_scales: tuple[float, float, float]  # F1, F2, F3 relative to an adult male
    high_formants_hz: tuple[float, float]  # F4, F5
    bandwidth_scale: float
    singers_formant_hz: float | None  # a cluster near 3 kHz of trained singers
    effort: float  # 0 breathy .. 1 pressed
    open_quotient: float  # Rosenberg pulse
    speed_quotient: float  # Rosenberg pulse: opening over closing time
    rd: float  # Liljencrants-Fant shape, 0.3 pressed .. 2.7 breathy
    tilt_db_per_octave: float  # extra source tilt
    jitter: float
    shimmer: float
    aspiration: float  # noise level relative to the voiced source
    growl: float  # period-doubling depth, 0 for most voices
    fry_prob: float  # chance of vocal fry at a phrase end
    nasality: float  # lf: nasal coupling throughout
    branch_gains_db: tuple[float, ...]  # lf, fof: per-formant gains (fof: at half depth)
    flutter_cents: float  # lf: slow irregular pitch wander
    ripple_db: float  # hnm: random ripple of the spectral envelope
    max_voiced_hz: float  # hnm: above this the noise part takes over from the harmonics
    expression: Expression
    diction: Diction
    n_voices: int  # 1 solo, 2 doubled, 3-6 ensemble
    detune_cents: float  # spread of tuning between the voices
    spread_ms: float  # spread of timing between the voices
    harmony_semitones: int  # interval of a second part, 0 for none
    harmony_prob: float  # chance that a phrase has the second part
    speaker: str | None = None  # speech families: the festival voice that sings
    speaker_formant_ratio: float = 1.0  # speech families: formants moved by this factor
    program: int = 0  # sampled family: the GM program (a recorded voice) that sings


def draw_voice(
    rng: np.random.Generator, families: tuple[str, ...], vocalise_prob: float = 0.0
) -> Voice:
    """Draw a singer (or doubled singer or ensemble) of one of ``families``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    families : tuple of str
        Synthesis families to choose from, a subset of ``VOICE_FAMILIES``; the held-out
        family "lf" is drawn only when it is listed.
    vocalise_prob : float
        Chance that a singer of a synthetic family sings on vowels alone
        (:func:`phonetics.vocalise`); the speech families sing their lyrics.

    Returns
    -------
    Voice
        The drawn settings.

    Examples
    --------
    >>> voice = draw_voice(np.random.default_rng(0), ("rosenberg", "hnm"))
    >>> voice.family in ("rosenberg", "hnm") and voice.low_midi < voice.high_midi
    True
    """
    if not families or any(f not in VOICE_FAMILIES for f in families):
        raise ValueError(f"families must be a non-empty subset of {VOICE_FAMILIES}, got {families}")
    family = str(families[int(rng.integers(len(families)))])
    register = str(rng.choice(list(REGISTERS), p=[0.45, 0.4, 0.15]))
    (range_low, range_high), scale_range = REGISTERS[register]
    head_voice = bool(rng.random() < 0.2)
    span = int(rng.integers(10, 20))
    low_midi = int(rng.integers(range_low, range_high - span + 1))
    if head_voice:  # the upper part of the range
        low_midi = min(low_midi + int(rng.integers(3, 10)), range_high - span)
    scale = rng.uniform(*scale_range)
    effort = rng.uniform(0.0, 1.0)
    breathy = 1.0 - effort
    n_voices = int(rng.choice([1, 2, int(rng.integers(3, 7))], p=[0.6, 0.2, 0.2]))
    harmony = rng.random() < 0.25
    voice = Voice(
        family=family,
        register=register,
        head_voice=head_voice,
        low_midi=low_midi,
        high_midi=low_midi + span,
        formant_scales=tuple(scale * rng.uniform(0.93, 1.07, 3)),
        high_formants_hz=(scale * rng.uniform(3200, 3800), scale * rng.uniform(4300, 5000)),
        bandwidth_scale=rng.uniform(0.7, 1.6),
        singers_formant_hz=rng.uniform(2700, 3300) if rng.random() < 0.3 else None,
        effort=effort,
        open_quotient=float(np.clip(0.4 + 0.4 * breathy + 0.15 * head_voice, 0.3, 0.9)),
        speed_quotient=rng.uniform(1.2, 4.0),
        rd=float(np.clip(0.4 + 2.0 * breathy + 0.4 * head_voice + rng.normal(0, 0.2), 0.3, 2.7)),
        tilt_db_per_octave=rng.uniform(-4.0, 2.0) - 3.0 * head_voice,
        jitter=rng.uniform(0.002, 0.02),
        shimmer=rng.uniform(0.01, 0.08),
        aspiration=(0.01 + 0.15 * breathy**2) * rng.uniform(0.5, 1.5),
        growl=rng.uniform(0.1, 0.5) if rng.random() < 0.08 else 0.0,
        fry_prob=rng.uniform(0.2, 0.8) if rng.random() < 0.3 else 0.0,
        nasality=rng.uniform(0.0, 0.35),
        branch_gains_db=tuple(rng.uniform(-6, 6, 6)),
        flutter_cents=rng.uniform(0, 15),
        ripple_db=rng.uniform(0, 8),
        max_voiced_hz=rng.uniform(2500, 7000),
        expression=draw_expression(rng),
        diction=draw_diction(rng),
        n_voices=n_voices,
        detune_cents=rng.uniform(3, 12) if n_voices == 2 else rng.uniform(5, 25),
        spread_ms=rng.uniform(5, 30) if n_voices == 2 else rng.uniform(10, 50),
        harmony_semitones=int(rng.choice(HARMONY_SEMITONES)) if harmony else 0,
        harmony_prob=rng.uniform(0.3, 1.0),
    )
    if family in SPEECH_FAMILIES:  # drawn last, so that the other families draw as before
        speaker, ratio = speech.draw_speaker(rng, family, register)
        voice = replace(voice, speaker=speaker, speaker_formant_ratio=ratio)
    if family in SAMPLED_FAMILIES:
        voice = replace(voice, program=sampled.draw_program(rng))
    # Drawn only where asked for, so that the songs of the other profiles stay as they were.
    if family in SYNTHETIC_FAMILIES and vocalise_prob > 0 and rng.random() < vocalise_prob:
        voice = replace(voice, diction=vocalise(rng, voice.diction))
    return voice
