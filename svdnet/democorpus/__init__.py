"""Synthetic singing-voice corpus in the Jamendo layout, for demos and tests.

Every song mixes a band (chords on several additive timbres, a bass line, drums) with
sections sung by a source-filter voice and instrumental sections carried by lead
instruments. The leads share the voice's pitch range, vibrato and glides but have fixed,
non-formant spectral envelopes, and voice and lead levels are drawn from the same range,
so a detector has to learn the voice itself (moving formants, consonants, breathy source)
rather than loudness or wiggly pitch. Labels are the exact synthesis timeline.

One module per concern: ``dsp`` (signal helpers), ``arrangement`` (keys, sections,
melodies, chords, labels), ``melody`` (pitch contours and gates), ``voice``,
``instruments``, ``song`` (stems and mix) and ``writer`` (files and command line).

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
    ensure_demo_corpus,
    format_labels,
    main,
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
    "ensure_demo_corpus",
    "format_labels",
    "generate_song",
    "main",
    "render_stems",
    "song_name",
    "song_seed",
    "write_corpus",
]
