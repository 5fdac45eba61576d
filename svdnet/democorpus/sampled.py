"""The "sampled" voice family, for held-out checks only: a soundfont's recorded voices sing.

General-MIDI soundfonts hold recordings of human voices: choirs singing "aah" (program 52)
and voices singing "ooh" (53). Played on the melody with the singer's expressive pitch
contour (as pitch bends) they make a human voice that none of our synthesisers made. No
training song may sing with them, or the detector would learn that a soundfont voice is
singing: the family is only drawn for the held-out ``sampled`` split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from svdnet.democorpus.band import control_grid, render_phrase
from svdnet.democorpus.dsp import _rms
from svdnet.democorpus.melody import expressive_contour
from svdnet.democorpus.soundfont import VOICE_PROGRAMS

if TYPE_CHECKING:
    from svdnet.democorpus.arrangement import Note
    from svdnet.democorpus.singers import Voice

SOUNDFONT = "timgm6mb"  # the one pip installs
SOUNDING_WINDOW_S = 0.02


def draw_program(rng: np.random.Generator) -> int:
    """The GM program a sampled singer sings with, one of :data:`VOICE_PROGRAMS`."""
    return int(rng.choice(VOICE_PROGRAMS))


def sing_phrase(
    rng: np.random.Generator, notes: list[Note], voice: Voice, sr: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sing one phrase on the voice's soundfont program (see ``render_vocal_phrase``).

    Returns
    -------
    phrase : numpy.ndarray
        float64, ``samples(notes[-1].end_ms - notes[0].onset_ms)`` samples, unit RMS.
    voiced : numpy.ndarray
        Boolean mask of the samples whose 20-ms RMS exceeds a third of the phrase's.
    """
    contour = expressive_contour(rng, notes, voice.expression, sr)
    t_s = control_grid(notes)
    pitch = contour[np.minimum(np.round(t_s * sr).astype(int), len(contour) - 1)]
    phrase = render_phrase(rng, notes, voice.program, pitch, sr, SOUNDFONT, voices=True)
    window = max(1, int(SOUNDING_WINDOW_S * sr))
    power = np.convolve(phrase**2, np.full(window, 1 / window), mode="same")
    return phrase, np.sqrt(power) > _rms(phrase) / 3
