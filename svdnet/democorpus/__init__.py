"""Synthetic singing-voice corpus in the Jamendo layout, for demos and tests.

Every song mixes a band (chords on several additive timbres, a bass line, drums) with
sections sung by a source-filter voice and instrumental sections carried by lead
instruments. The leads share the voice's pitch range, vibrato and glides but have fixed,
non-formant spectral envelopes, and voice and lead levels are drawn from the same range,
so a detector has to learn the voice itself (moving formants, consonants, breathy source)
rather than loudness or wiggly pitch. Labels are the exact synthesis timeline.

One module per concern:

- ``dsp``: signal helpers shared by voices, instruments and mix
- ``arrangement``: keys, sections, melodies, chords and labels
- ``melody``: expressive pitch contours, levels and gates for voices and leads
- ``voice``: the singing voices (first generation and dispatch to the second)
- ``singers``: second-generation singers drawn from wide random ranges
- ``phonetics``: lyrics as phonemes of several languages, syllables and a score
- ``glottal``: glottal sources (Rosenberg and Liljencrants-Fant pulses)
- ``tract``: vocal-tract filters (resonator cascade, parallel formant bank)
- ``hnm``: harmonic-plus-noise voices
- ``fof``: formant-wave-function (grain) voices
- ``vocals``: one score sung by one to six voices of one family
- ``speech``: recorded speakers (festival's voices) made to sing by Praat's overlap-add
- ``instruments``: additive-synthesis band and lead instruments
- ``soundfont``: General-MIDI rendering on sampled instruments
- ``styles``: the soundfont band's program families, styles and drum grooves, as data
- ``patterns``: bass lines, chord rhythms, arpeggios and drum grooves on the beat grid
- ``band``: the soundfont band's arrangement and render, and expressive leads
- ``filters``: zero-phase filters and latency removal for the recording chain
- ``rooms``: synthetic impulse responses and reverbs
- ``chain``: the randomised recording chain per stem and the mastering
- ``song``: one song's stems, mix and labels
- ``writer``: files on disk and the command line

Layout written under ``ROOT/datasets/demo``::

    audio/demo_test_000.ogg       mono, 22050 Hz, OGG Vorbis
    labels/demo_test_000.lab      "start end sing|nosing" lines, seconds, 3 decimals
    filelists/test                one audio file name per line

Example
-------
    python -m svdnet.democorpus . --splits test
"""

from svdnet.democorpus.dsp import SR
from svdnet.democorpus.song import DEFAULT_DURATION_S, generate_song, render_stems
from svdnet.democorpus.voice import VOWEL_FORMANTS_HZ
from svdnet.democorpus.writer import (
    DATASET,
    DEFAULT_N_SONGS,
    SPLITS,
    dataset_dir,
    encode_ogg,
    format_labels,
    main,
    note_short_splits,
    song_name,
    song_seed,
    write_corpus,
)

__all__ = [
    "DATASET",
    "DEFAULT_DURATION_S",
    "DEFAULT_N_SONGS",
    "SPLITS",
    "SR",
    "VOWEL_FORMANTS_HZ",
    "dataset_dir",
    "encode_ogg",
    "note_short_splits",
    "format_labels",
    "generate_song",
    "main",
    "render_stems",
    "song_name",
    "song_seed",
    "write_corpus",
]
