"""The demo corpus's recorded-instrument band and expressive leads, from GM soundfonts.

Everything is drawn at random over a wide range (domain randomisation): style, programs,
patterns, groove, swing, velocities, timing, dynamics. Leads play melodies in the voice's
range with vibrato, scoops, bends and glides, so that pitch motion alone never means
singing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from svdnet.democorpus.arrangement import Key, Note, _chord_schedule
from svdnet.democorpus.dsp import _rms, _samples
from svdnet.democorpus.patterns import Chord, Hit, _drum_hits, _pitched_hits
from svdnet.democorpus.soundfont import DRUM_KITS, Part, render_parts
from svdnet.democorpus.styles import (
    BAND_PROGRAMS,
    GUITARS,
    LEAD_PROGRAMS,
    LEAD_TOP_MIDI,
    PIANOS,
    ROLES,
    SOLO_STYLES,
    STYLES,
)

BEND_RANGE = 12  # semitones, set by RPN 0 for the leads


CONTROL_S = 0.005  # pitch-bend update interval of the leads


@dataclass(frozen=True)
class Groove:
    """How beats become seconds: tempo, swing ratio and timing spread."""

    beat_s: float
    swing: float  # position of the off-beat eighth within the beat; 0.5 is straight
    jitter_s: float
    duration_s: float


@dataclass(frozen=True)
class LeadStyle:
    """Expressive gestures of one lead phrase; cents are peak deviations."""

    vibrato_hz: float
    vibrato_cents: float  # 0: no vibrato
    vibrato_delay_s: float
    scoop_prob: float
    scoop_cents: float
    glide_s: float
    fall_prob: float
    drift_cents: float


def _vel(level: float, rng: np.random.Generator) -> int:
    return int(np.clip(round(level * rng.uniform(0.9, 1.05)), 1, 127))


# --- from beats to parts -------------------------------------------------------------------


def _seconds(beats: np.ndarray, groove: Groove) -> np.ndarray:
    """Swung time in seconds: the off-beat eighth moves to ``groove.swing`` of the beat."""
    whole, frac = np.divmod(beats, 1.0)
    swung = np.where(
        frac < 0.5, frac * 2 * groove.swing, groove.swing + (frac - 0.5) * 2 * (1 - groove.swing)
    )
    return (whole + swung) * groove.beat_s


def _notes(
    rng: np.random.Generator, hits: list[Hit], groove: Groove, level: float, active: np.ndarray
) -> list[tuple[float, float, int, int]]:
    """Humanised notes in seconds; bars where the part rests (``active`` False) dropped."""
    if not hits:
        return []
    onset_b, length_b, midi, vel = (np.array(column) for column in zip(*hits, strict=True))
    keep = active[np.minimum((onset_b // 4).astype(int), len(active) - 1)]
    onset_s = _seconds(onset_b, groove) + rng.normal(0, groove.jitter_s, len(onset_b))
    end_s = onset_s + np.maximum(length_b * groove.beat_s, 0.03)
    keep &= (onset_s >= 0) & (onset_s < groove.duration_s) & (midi >= 0) & (midi <= 127)
    vel = np.clip(np.round(vel * level / 100 * rng.uniform(0.85, 1.1, len(vel))), 1, 127)
    end_s = np.minimum(end_s, groove.duration_s)
    return [
        (float(a), float(b), int(m), int(v))
        for a, b, m, v, k in zip(onset_s, end_s, midi, vel, keep, strict=True)
        if k
    ]


def _swells(rng: np.random.Generator, groove: Groove) -> list[tuple[float, int, int]]:
    """Slow expression (CC 11) changes, one random level per bar, smoothed per eighth."""
    n_bars = int(groove.duration_s / (4 * groove.beat_s)) + 2
    levels = rng.uniform(70, 127, n_bars)
    beats = np.arange(0, 4 * (n_bars - 1), 0.5)
    values = np.interp(beats, np.arange(n_bars) * 4, levels)
    return [(float(t), 11, int(v)) for t, v in zip(beats * groove.beat_s, values, strict=True)]


def _pedal(chords: list[Chord], groove: Groove) -> list[tuple[float, int, int]]:
    """Sustain pedal lifted at each chord change and pressed again just after."""
    events = []
    for onset, _, _ in chords:
        t_s = onset * groove.beat_s
        events += [(max(t_s - 0.03, 0.0), 64, 0), (t_s + 0.05, 64, 127)]
    return events


def _active_bars(rng: np.random.Generator, n_bars: int, role: str) -> np.ndarray:
    """Per bar, whether a role plays: rests in blocks of 4 bars, a sparser intro."""
    block = rng.random(n_bars // 4 + 1) >= rng.uniform(0.0, 0.3)
    if role != "keys" and rng.random() < 0.5:
        block[0] = False  # the intro leaves some instruments out
    if not block.any():
        block[rng.integers(len(block))] = True
    return np.repeat(block, 4)[:n_bars]


def _draw_program(rng: np.random.Generator, pool: tuple[int, ...]) -> int:
    """A program from the role's pool, or now and then any band program."""
    return int(rng.choice(BAND_PROGRAMS if rng.random() < 0.15 else pool))


def _role_parts(
    rng: np.random.Generator, style: str, key: Key, chords: list[Chord], groove: Groove
) -> dict[str, list[Part]]:
    """The parts each role of a drawn style plays, at least two roles."""
    grooves, _, roles = STYLES[style]
    chosen = [role for role, (p, _, _) in roles.items() if rng.random() < p]
    for role in sorted(roles, key=lambda r: -roles[r][0]):
        if len(chosen) < 2 and role not in chosen:
            chosen.append(role)
    n_bars = int(np.ceil(groove.duration_s / (4 * groove.beat_s)))
    jazz = style in ("jazz", "organ_trio") or rng.random() < 0.1
    solo_program = _draw_program(rng, roles["bass"][1]) if style in SOLO_STYLES else None
    parts = {}
    for role in ROLES:
        if role not in chosen:
            continue
        active = _active_bars(rng, n_bars, role)
        level = rng.uniform(70, 115)
        if role == "drums":
            hits = _drum_hits(rng, n_bars, str(rng.choice(grooves)))
            part = Part(int(rng.choice(DRUM_KITS)), is_drum=True)
        else:
            _, pool, kinds = roles[role]
            kind = str(rng.choice(kinds))
            part = Part(solo_program if solo_program is not None else _draw_program(rng, pool))
            solo = solo_program is not None
            hits = _pitched_hits(rng, role, kind, chords, key, jazz, solo, groove.beat_s)
            if kind == "held":
                part.controls += _swells(rng, groove)
            if part.program in PIANOS and kind != "held" and rng.random() < 0.5:
                part.controls += _pedal(chords, groove)
        part.notes = _notes(rng, hits, groove, level, active)
        parts[role] = [part]
    if "guitar" in parts and style in ("rock", "pop") and rng.random() < 0.6:
        double = _pitched_hits(rng, "guitar", "power", chords, key, False, False, groove.beat_s)
        second = Part(_draw_program(rng, (29, 30, 27, 26)))
        second.notes = _notes(rng, double, groove, rng.uniform(60, 100), np.ones(n_bars, bool))
        parts["guitar"].append(second)
    return parts


def render_band(
    rng: np.random.Generator, key: Key, beat_ms: float, duration_ms: int, sr: int, soundfont: str
) -> dict[str, np.ndarray]:
    """Render the accompaniment of a whole song as named stems of sampled instruments.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices (style, programs, patterns, groove, dynamics).
    key : Key
        Key of the song; chords are its diatonic triads (sevenths in jazz styles).
    beat_ms : float
        Length of one beat in milliseconds.
    duration_ms : int
        Song length in milliseconds.
    sr : int
        Sampling rate in Hz.
    soundfont : str
        A key of ``soundfont.SOUNDFONTS``.

    Returns
    -------
    dict of str to numpy.ndarray
        Two stems, each named by the ``ROLES`` it holds joined with "+" (for example
        "drums+bass" and "keys+strings"), float64 of ``samples(duration_ms)`` each, unit
        RMS (or all zeros). They come from the two channels of one stereo render, so
        stereo-sampled instruments bleed from one into the other, like microphones in one
        room; their sum is always the whole band.
    """
    style = str(rng.choice(list(STYLES)))
    swing = rng.uniform(0.58, 0.68) if rng.random() < STYLES[style][1] else 0.5
    groove = Groove(beat_ms / 1000, swing, rng.uniform(0.002, 0.015), duration_ms / 1000)
    chords = [
        (onset_ms / beat_ms, length_ms / beat_ms, pcs)
        for onset_ms, length_ms, pcs in _chord_schedule(rng, key, beat_ms, duration_ms)
    ]
    parts = _role_parts(rng, style, key, chords, groove)
    sides = _stereo_sides([role for role in ROLES if role in parts])
    for side, roles in enumerate(sides):
        for part in (part for role in roles for part in parts[role]):
            part.pan = 127 * side
    everything = [part for roles in sides for role in roles for part in parts[role]]
    stereo = render_parts(everything, _samples(duration_ms, sr), sr, soundfont)
    return {"+".join(roles): _unit_rms(stereo[side]) for side, roles in enumerate(sides)}


def _stereo_sides(roles: list[str]) -> tuple[list[str], list[str]]:
    """Two groups of roles, one per stereo channel: the rhythm section against the rest."""
    rhythm = [role for role in roles if role in ("drums", "bass")]
    rest = [role for role in roles if role not in rhythm]
    if not rhythm or not rest:
        return roles[: len(roles) // 2], roles[len(roles) // 2 :]
    return rhythm, rest


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = _rms(x)
    return x / rms if rms > 1e-9 else np.zeros_like(x)


# --- expressive leads ----------------------------------------------------------------------


def draw_lead_program(rng: np.random.Generator) -> int:
    """Draw a GM program for an expressive non-vocal lead.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the choice.

    Returns
    -------
    int
        One of ``LEAD_PROGRAMS``.
    """
    return int(rng.choice(LEAD_PROGRAMS))


def _draw_lead_style(rng: np.random.Generator, program: int) -> LeadStyle:
    """Gestures of a phrase: vibrato 4-8 Hz of 10-120 cents (sometimes none), scoops, glides."""
    bends = program in GUITARS or program == 104  # guitarists and sitarists bend strings
    return LeadStyle(
        vibrato_hz=rng.uniform(4.0, 8.0),
        vibrato_cents=rng.uniform(10.0, 120.0) if rng.random() < 0.8 else 0.0,
        vibrato_delay_s=rng.uniform(0.05, 0.5),
        scoop_prob=rng.uniform(0.0, 0.8 if bends else 0.5),
        scoop_cents=rng.uniform(30.0, 200.0 if bends else 120.0),
        glide_s=rng.uniform(0.05, 0.3),
        fall_prob=rng.uniform(0.0, 0.5),
        drift_cents=rng.uniform(0.0, 15.0),
    )


def _lead_pitch(
    rng: np.random.Generator, notes: list[Note], style: LeadStyle, t_s: np.ndarray
) -> np.ndarray:
    """Pitch in MIDI units on the control grid ``t_s``: notes, glides, scoops, vibrato."""
    start_s = notes[0].onset_ms / 1000
    onsets = np.array([n.onset_ms / 1000 - start_s for n in notes])
    ends = np.array([n.end_ms / 1000 - start_s for n in notes])
    index = np.clip(np.searchsorted(onsets, t_s, side="right") - 1, 0, len(notes) - 1)
    pitch = np.array([n.midi for n in notes], dtype=float)[index]
    for i, note in enumerate(notes):
        into = t_s - onsets[i]
        in_note = (index == i) & (into >= 0)
        if i and note.legato:  # glide from the previous pitch
            glide = np.clip(into / style.glide_s, 0.0, 1.0)
            pitch[in_note] += ((notes[i - 1].midi - note.midi) * (1 - glide) * (1 - glide))[in_note]
        elif rng.random() < style.scoop_prob:  # scoop or bend up into the note
            scoop_s = rng.uniform(0.04, 0.25)
            depth = style.scoop_cents / 100 * rng.uniform(0.5, 1.0)
            pitch[in_note] -= (depth * np.clip(1 - into / scoop_s, 0.0, 1.0))[in_note]
        pitch[in_note] += _vibrato(rng, style, into[in_note], ends[i] - onsets[i])
    if rng.random() < style.fall_prob:
        fall_s = rng.uniform(0.1, 0.3)
        pitch -= (
            rng.uniform(1.0, 5.0) * np.clip((t_s - (ends[-1] - fall_s)) / fall_s, 0.0, 1.0) ** 2
        )
    knots = np.arange(0.0, t_s[-1] + 0.5, 0.25)
    drift = rng.normal(0.0, style.drift_cents / 100, len(knots))
    return pitch + np.interp(t_s, knots, drift)


def _vibrato(
    rng: np.random.Generator, style: LeadStyle, into_s: np.ndarray, length_s: float
) -> np.ndarray | float:
    """Sinusoidal vibrato that fades in after the delay on notes long enough to hold it."""
    if style.vibrato_cents == 0.0 or length_s < style.vibrato_delay_s + 0.15:
        return 0.0
    ramp = np.clip((into_s - style.vibrato_delay_s) / rng.uniform(0.1, 0.3), 0.0, 1.0)
    phase = 2 * np.pi * style.vibrato_hz * np.maximum(into_s - style.vibrato_delay_s, 0.0)
    return style.vibrato_cents / 100 * ramp * np.sin(phase)


def control_grid(notes: list[Note]) -> np.ndarray:
    """Times in seconds from the phrase's first onset at which its pitch bends are set."""
    # Seconds subtracted, not milliseconds: the grid's last point is as it always was.
    return np.arange(0.0, notes[-1].end_ms / 1000 - notes[0].onset_ms / 1000, CONTROL_S)


def _lead_part(
    rng: np.random.Generator, notes: list[Note], program: int, pitch: np.ndarray
) -> Part:
    """The MIDI of a phrase: a note per articulated note, pitch bends for all of ``pitch``
    (MIDI units on :func:`control_grid`)."""
    start_s = notes[0].onset_ms / 1000
    length_s = notes[-1].end_ms / 1000 - start_s
    t_s = control_grid(notes)
    part = Part(program, bend_range=BEND_RANGE)
    anchors = np.zeros(len(t_s))
    base = rng.uniform(60, 115)
    anchor, note_on, vel = None, 0.0, 0
    for note in notes:
        onset = note.onset_ms / 1000 - start_s
        target = int(round(note.midi))
        if anchor is None or not note.legato or abs(target - anchor) > 5:
            if anchor is not None:  # detached notes leave a short gap
                gap = 0.0 if note.legato else rng.uniform(0.01, 0.06)
                part.notes.append((note_on, max(onset - gap, note_on + 0.02), anchor, vel))
            anchor, note_on, vel = target, onset, _vel(base, rng)
        anchors[t_s >= onset] = anchor
    end = max(length_s - rng.uniform(0.02, 0.08), note_on + 0.02)
    part.notes.append((note_on, end, anchor, vel))
    bend = np.clip(np.round((pitch - anchors) * 8192 / BEND_RANGE), -8192, 8191)
    changed = np.concatenate([[True], np.diff(bend) != 0])
    part.bends = [
        (float(t), float(b) * BEND_RANGE / 8192)
        for t, b in zip(t_s[changed], bend[changed], strict=True)
    ]
    part.controls = _lead_expression(rng, notes, t_s)
    return part


def _lead_expression(
    rng: np.random.Generator, notes: list[Note], t_s: np.ndarray
) -> list[tuple[float, int, int]]:
    """Expression (CC 11): a swell or fade on every note over a phrase-wide arc."""
    start_ms = notes[0].onset_ms
    knots = [(n.onset_ms - start_ms) / 1000 for n in notes] + [t_s[-1] + CONTROL_S]
    mids = [(a + b) / 2 for a, b in zip(knots[:-1], knots[1:], strict=True)]
    times = np.sort(np.concatenate([knots, mids]))
    values = rng.uniform(60, 127, len(times))
    grid = t_s[::4]  # 20 ms
    level = np.interp(grid, times, values)
    changed = np.concatenate([[True], np.diff(level.astype(int)) != 0])
    return [(float(t), 11, int(v)) for t, v in zip(grid[changed], level[changed], strict=True)]


def render_lead(
    rng: np.random.Generator, notes: list[Note], sr: int, soundfont: str, program: int
) -> np.ndarray:
    """Render one melodic phrase on a sampled, expressive, non-vocal lead instrument.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the gestures (vibrato, scoops, glides, falls, expression, velocities).
    notes : list of Note
        The phrase, ordered in time; legato notes glide from the previous one. A phrase
        that reaches above an instrument's highest note (``LEAD_TOP_MIDI``) is played
        octaves lower.
    sr : int
        Sampling rate in Hz.
    soundfont : str
        A key of ``soundfont.SOUNDFONTS``.
    program : int
        GM program, usually from ``draw_lead_program``.

    Returns
    -------
    numpy.ndarray
        Float64, ``samples(notes[-1].end_ms - notes[0].onset_ms)`` samples from the first
        onset on, unit RMS (all zeros if the instrument stays silent).
    """
    top = max(note.midi for note in notes) + 1  # room for vibrato and scoops
    octaves = max(0, int(np.ceil((top - LEAD_TOP_MIDI.get(program, 127)) / 12)))
    notes = [replace(note, midi=note.midi - 12 * octaves) for note in notes]
    pitch = _lead_pitch(rng, notes, _draw_lead_style(rng, program), control_grid(notes))
    return render_phrase(rng, notes, program, pitch, sr, soundfont)


def render_phrase(
    rng: np.random.Generator,
    notes: list[Note],
    program: int,
    pitch: np.ndarray,
    sr: int,
    soundfont: str,
    voices: bool = False,
) -> np.ndarray:
    """Play one phrase on a GM program, its pitch moving as ``pitch`` says.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the velocities and the expression (CC 11).
    notes : list of Note
        The phrase, ordered in time; legato notes within 5 semitones are bent to.
    program : int
        GM program.
    pitch : numpy.ndarray
        Pitch in MIDI units at every time of :func:`control_grid`.
    sr : int
        Sampling rate in Hz.
    soundfont : str
        A key of ``soundfont.SOUNDFONTS``.
    voices : bool
        Allow the soundfont's recorded voices (``soundfont.VOICE_PROGRAMS``), which only
        the held-out "sampled" family may sing with.

    Returns
    -------
    numpy.ndarray
        Float64, ``samples(notes[-1].end_ms - notes[0].onset_ms)`` samples from the first
        onset on, unit RMS (all zeros if the instrument stays silent).
    """
    part = _lead_part(rng, notes, program, pitch)
    n = _samples(notes[-1].end_ms - notes[0].onset_ms, sr)
    mono = render_parts([part], n, sr, soundfont, voices).mean(axis=0)
    fade = min(n, int(0.005 * sr))
    mono[n - fade :] *= np.linspace(1.0, 0.0, fade)
    return _unit_rms(mono)
