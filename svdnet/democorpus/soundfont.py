"""General-MIDI soundfont rendering: MIDI built in memory, sampled instruments, sr-aligned audio."""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import midirenderer
import numpy as np
import pretty_midi
import soundfile
from scipy import signal

SOUNDFONTS = {
    "timgm6mb": str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"),
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
}


_HOW_TO_GET = {
    "timgm6mb": "it ships inside the pretty_midi package (pip install pretty_midi)",
    "fluidr3": "install the Debian package fluid-soundfont-gm (apt-get install fluid-soundfont-gm)",
}


# Sampled voices and choirs would teach the detector that a soundfont voice is singing;
# breath noise and sound effects are not music.
FORBIDDEN_PROGRAMS = frozenset({52, 53, 54, 85, 91, 121, 123, 124, 125, 126})
# The recorded human voices among them (Choir Aahs, Voice Oohs): kept for held-out checks,
# where the "sampled" voice family sings with them.
VOICE_PROGRAMS = (52, 53)


DRUM_KITS = (0, 8, 16, 24, 25, 32, 40)  # GM2 kits present in both soundfonts


RENDER_SR = 48000  # midirenderer's fixed output rate


RESOLUTION = 1920  # ticks per quarter note at 120 bpm: 0.26 ms per tick


TICK_S = 0.5 / RESOLUTION


LEAD_IN_S = 0.02  # room before the music for the channel set-up messages; cut afterwards


# The sequencer applies events at the next 64-sample block boundary (0-1.33 ms late);
# dropping half a block centres that error on zero.
SEQUENCER_DELAY = 32


@dataclass
class Part:
    """The music of one MIDI channel.

    ``notes`` hold ``(onset_s, end_s, midi, velocity)``, ``bends`` ``(time_s, semitones)``
    within ``+-bend_range`` and ``controls`` ``(time_s, controller, value)``. ``program`` is
    the drum kit when ``is_drum``. ``pan`` 0 is hard left, 127 hard right.
    """

    program: int
    is_drum: bool = False
    pan: int = 64
    bend_range: int = 2
    notes: list[tuple[float, float, int, int]] = field(default_factory=list)
    bends: list[tuple[float, float]] = field(default_factory=list)
    controls: list[tuple[float, int, int]] = field(default_factory=list)


RELEASE_MAX_S = 2.5  # longest volume-envelope release (time to -100 dB) left in a soundfont


RELEASE_GENERATOR = 38  # SoundFont 2 generator releaseVolEnv, in timecents


GENERATOR_RECORD = np.dtype([("oper", "<u2"), ("amount", "<i2")])  # igen and pgen entries


@functools.cache
def soundfont_bytes(name: str) -> bytes:
    """The contents of a named soundfont, read once per process, releases shortened.

    A voice lives in the synth until its release has faded by 100 dB, and both soundfonts
    have releases of 5 to 100 s: a few bells or pads would keep dozens of voices alive and
    double the render time. Releases are capped at ``RELEASE_MAX_S`` (-60 dB after 1.5 s),
    which leaves the audible decay of damped and sustained instruments as it was.

    Parameters
    ----------
    name : str
        A key of ``SOUNDFONTS``.

    Returns
    -------
    bytes
        The .sf2 file with capped release times.

    Raises
    ------
    FileNotFoundError
        When the soundfont is not installed; the message says how to get it.
    """
    if name not in SOUNDFONTS:
        raise ValueError(f"unknown soundfont {name!r}; choose one of {sorted(SOUNDFONTS)}")
    path = Path(SOUNDFONTS[name])
    if not path.is_file():
        raise FileNotFoundError(f"soundfont {name!r} not found at {path}: {_HOW_TO_GET[name]}")
    data = bytearray(path.read_bytes())
    _cap_releases(data, RELEASE_MAX_S)
    return bytes(data)


def _riff_chunks(data: bytearray, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """Offset and size of each chunk between two offsets; a LIST is keyed by its type."""
    chunks = {}
    while start + 8 <= end:
        chunk_id = bytes(data[start : start + 4])
        size = int.from_bytes(data[start + 4 : start + 8], "little")
        if chunk_id == b"LIST":
            chunk_id = bytes(data[start + 8 : start + 12])
            chunks[chunk_id] = (start + 12, size - 4)
        else:
            chunks[chunk_id] = (start + 8, size)
        start += 8 + size + (size & 1)
    return chunks


def _cap_releases(data: bytearray, max_s: float) -> None:
    """Cap instrument release generators and drop positive preset offsets, in place."""
    pdta_start, pdta_size = _riff_chunks(data, 12, len(data))[b"pdta"]
    chunks = _riff_chunks(data, pdta_start, pdta_start + pdta_size)
    limits = {b"igen": round(1200 * np.log2(max_s)), b"pgen": 0}  # pgen values add to igen
    for chunk, limit in limits.items():
        offset, size = chunks[chunk]
        records = np.frombuffer(data, GENERATOR_RECORD, size // 4, offset)
        release = records["oper"] == RELEASE_GENERATOR
        records["amount"][release] = np.minimum(records["amount"][release], limit)


def _instrument(part: Part, voices: bool = False) -> pretty_midi.Instrument:
    """One pretty_midi instrument: channel set-up in the lead-in, then the part's events.

    A forbidden program is refused, unless ``voices`` and it is one of ``VOICE_PROGRAMS``.
    """
    allowed = voices and part.program in VOICE_PROGRAMS
    if not part.is_drum and part.program in FORBIDDEN_PROGRAMS and not allowed:
        raise ValueError(f"GM program {part.program} is a voice, choir or effect; not rendered")
    inst = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum)
    setup = [(10, part.pan), (91, 0), (93, 0), (7, 100), (11, 127)]
    setup += [(101, 0), (100, 0), (6, part.bend_range), (38, 0), (101, 127), (100, 127)]
    # pretty_midi sorts events of one tick by controller number, so the RPN messages,
    # whose order matters, each get their own tick.
    inst.control_changes = [
        pretty_midi.ControlChange(cc, value, i * TICK_S) for i, (cc, value) in enumerate(setup)
    ]
    inst.control_changes += [
        pretty_midi.ControlChange(cc, int(value), LEAD_IN_S + t_s)
        for t_s, cc, value in part.controls
    ]
    scale = 8192 / part.bend_range
    inst.pitch_bends = [
        pretty_midi.PitchBend(int(np.clip(round(semis * scale), -8192, 8191)), LEAD_IN_S + t_s)
        for t_s, semis in part.bends
    ]
    inst.notes = [
        pretty_midi.Note(int(velocity), int(midi), LEAD_IN_S + onset_s, LEAD_IN_S + end_s)
        for onset_s, end_s, midi, velocity in part.notes
    ]
    return inst


def _midi_bytes(parts: list[Part], length_s: float, voices: bool = False) -> bytes:
    """A type-1 MIDI file of the parts, at least ``length_s`` after the lead-in long."""
    pm = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=120.0)
    pm.instruments = [_instrument(part, voices) for part in parts]
    # An unassigned controller (CC 3) marks the end so that the synth renders to there.
    pm.instruments[0].control_changes.append(
        pretty_midi.ControlChange(3, 0, LEAD_IN_S + length_s + 0.05)
    )
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


def render_parts(
    parts: list[Part], n: int, sr: int, soundfont: str, voices: bool = False
) -> np.ndarray:
    """Render parts with a soundfont, dry, time-aligned with their MIDI timeline.

    Parameters
    ----------
    parts : list of Part
        At most 15 melodic parts and one drum part.
    n : int
        Number of output samples; time 0 of the parts is sample 0.
    sr : int
        Output sampling rate in Hz.
    soundfont : str
        A key of ``SOUNDFONTS``.
    voices : bool
        Allow ``VOICE_PROGRAMS`` (held-out checks only); other forbidden programs stay refused.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(2, n)``: left and right channel.
    """
    midi = _midi_bytes(parts, n / sr, voices)
    wav = midirenderer.render_wave_from(soundfont_bytes(soundfont), midi)
    stereo, file_sr = soundfile.read(io.BytesIO(wav), dtype="float64", always_2d=True)
    stereo = stereo[int(round(LEAD_IN_S * file_sr)) + SEQUENCER_DELAY :].T
    g = math.gcd(sr, file_sr)
    out = signal.resample_poly(stereo, sr // g, file_sr // g, axis=1)[:, :n]
    return np.pad(out, ((0, 0), (0, n - out.shape[1])))
