"""The speech voice family: recorded speakers, their syllables stretched onto the notes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from svdnet.democorpus import speech
from svdnet.democorpus.arrangement import Note
from svdnet.democorpus.dsp import _midi_to_hz
from svdnet.democorpus.melody import Expression
from svdnet.democorpus.singers import draw_voice
from svdnet.errors import InputError

SR = 22050
STRAIGHT = Expression(0.0, 5.0, 0.3, 0.2, 0.0, 0.0, 0.1, 0.08, 0.0, 0.0)
needs_festival = pytest.mark.skipif(
    bool(speech.missing_tools()), reason="festival, its voices or praat-parselmouth missing"
)

LISTING = """# 0.100000 0
k 0.200000 -
a 0.300000 +
t 0.400000 -
o 0.500000 +
pau 0.700000 -
"""


def phones(*spec):
    """Phones from ``(name, duration_s)`` pairs, back to back from 0; vowels are a e i o u."""
    out, start_s = [], 0.0
    for name, duration_s in spec:
        out.append(speech.Phone(name, start_s, start_s + duration_s, name in "aeiou"))
        start_s += duration_s
    return out


def test_festivals_listing_becomes_phones_without_the_silences_at_either_end():
    parsed = speech._parse_phones(LISTING)
    assert [(p.name, p.vowel) for p in parsed] == [
        ("k", False),
        ("a", True),
        ("t", False),
        ("o", True),
    ]
    np.testing.assert_allclose([p.start_s for p in parsed], [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose([p.end_s for p in parsed], [0.2, 0.3, 0.4, 0.5])


def test_a_listing_without_a_vowel_is_refused():
    with pytest.raises(RuntimeError, match="no vowel"):
        speech._parse_phones("# 0.1 0\nk 0.2 -\n")


def test_vowels_take_what_the_consonants_leave_of_each_note():
    # Two syllables of 0.1 s consonant + 0.1 s vowel on two notes of one second each:
    # consonants keep their length, vowels stretch to (1.0 - 0.1) / 0.1 = 9 times theirs.
    spoken = phones(("k", 0.1), ("a", 0.1), ("t", 0.1), ("o", 0.1))
    notes = [Note(0, 1000, 60, False), Note(1000, 2000, 62, False)]
    factors = speech.duration_factors(spoken, notes, SR)
    np.testing.assert_allclose([f for _, f in factors], [1.0, 9.0, 1.0, 9.0])


def test_long_consonants_shrink_to_their_share_of_a_short_note():
    # 0.4 s of consonants on a 0.5 s note: cut to 0.35 x 0.5 s, the vowel gets 0.325 s.
    spoken = phones(("s", 0.2), ("t", 0.2), ("a", 0.1))
    factors = speech.duration_factors(spoken, [Note(0, 500, 60, False)], SR)
    np.testing.assert_allclose([f for _, f in factors], [0.4375, 0.4375, 3.25])


@pytest.mark.parametrize("n_notes", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("legato", [False, True])
def test_the_stretched_syllables_last_exactly_as_long_as_the_phrase(n_notes, legato):
    spoken = phones(("m", 0.05), ("a", 0.12), ("l", 0.06), ("i", 0.09), ("n", 0.04), ("o", 0.1))
    spoken += phones(("s", 0.08))  # a trailing consonant
    spoken[-1] = replace(spoken[-1], start_s=0.46, end_s=0.54)
    notes = [
        Note(300 * i, 300 * i + 250 + 50 * (i % 2), 60 + i, legato and i % 2 == 1)
        for i in range(n_notes)
    ]
    factors = speech.duration_factors(spoken, notes, SR)
    assert [p for p, _ in factors] == spoken
    sung_s = sum((p.end_s - p.start_s) * f for p, f in factors)
    assert sung_s == pytest.approx((notes[-1].end_ms - notes[0].onset_ms) / 1000, abs=1e-3)
    assert all(f > 0 for _, f in factors)
    spoken_s, mapped_s = speech._time_map(factors, 0.005)
    assert np.all(np.diff(mapped_s) >= 0) and mapped_s[-1] == pytest.approx(sung_s)


@pytest.mark.parametrize("language", ["it", "cs", "fi", "ca", "ru"])
def test_lyrics_of_the_syllable_languages_have_one_vowel_per_syllable(language):
    vowels = speech.SYLLABLES[language][1]
    for seed in range(5):
        text = speech.draw_lyrics(np.random.default_rng(seed), language, 7)
        assert sum(ch in vowels for ch in text) == 7


def test_english_lyrics_are_one_word_per_syllable():
    text = speech.draw_lyrics(np.random.default_rng(0), "en", 6)
    assert len(text.split()) == 6 and set(text.split()) <= set(speech.ENGLISH_WORDS)


def test_held_out_speakers_speak_no_language_of_the_training_speakers():
    training, heldout = speech.SPEAKER_SETS["speech"], speech.SPEAKER_SETS["speech_heldout"]
    assert not set(training) & set(heldout)
    assert set(training) | set(heldout) == set(speech.SPEAKERS)
    languages = [{speech.SPEAKERS[name][0] for name in names} for names in (training, heldout)]
    assert not languages[0] & languages[1]


@pytest.mark.parametrize("family", ["speech", "speech_heldout"])
def test_each_singer_has_one_speaker_of_its_family_and_register(family):
    for seed in range(40):
        voice = draw_voice(np.random.default_rng(seed), (family,))
        assert voice.speaker in speech.SPEAKER_SETS[family]
        register = speech.SPEAKERS[voice.speaker][1]
        assert register == voice.register or (voice.register == "child" and register == "female")
        low, high = speech.FORMANT_RATIO[voice.register]
        assert low <= voice.speaker_formant_ratio <= high


def test_synthetic_singers_have_no_speaker():
    voice = draw_voice(np.random.default_rng(0), ("hnm",))
    assert voice.speaker is None and voice.speaker_formant_ratio == 1.0


def test_missing_tools_are_named_in_one_error(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    monkeypatch.setattr(speech, "VOICES_DIR", speech.Path("/nonexistent"))
    with pytest.raises(InputError, match="need festival festvox-suopuhe-mv") as err:
        speech.check_tools(("rosenberg", "speech_heldout"))
    assert "festvox-kallpc16k" not in str(err.value)  # a training speaker: not asked for
    speech.check_tools(("rosenberg", "hnm"))  # synthetic families need nothing


@needs_festival
def test_festival_speaks_the_lyrics_with_a_vowel_per_syllable():
    samples, rate, spoken = speech.speak("czech_dita", "ma li na")
    assert rate > 0 and np.all(np.isfinite(samples)) and np.std(samples) > 0
    assert [p.name for p in spoken if p.vowel] == ["a", "i", "a"]
    assert spoken[0].start_s == 0.0
    assert len(samples) == pytest.approx(spoken[-1].end_s * rate, abs=2)


def held_pitch_cents(speaker: str, midi: int, seed: int) -> float:
    """Cents between the note held from 0.3 to 1.8 s and its pitch as Praat tracks it."""
    import parselmouth

    voice = draw_voice(np.random.default_rng(3), ("speech",))
    register = speech.SPEAKERS[speaker][1]
    voice = replace(voice, speaker=speaker, register=register, expression=STRAIGHT, n_voices=1)
    notes = [Note(0, 300, midi - 2, False), Note(300, 1800, midi, False)]
    phrase, voiced = speech.sing_phrase(np.random.default_rng(seed), notes, voice, SR)
    assert len(phrase) == len(voiced) == round(1.8 * SR)
    pitch = parselmouth.Sound(phrase, SR).to_pitch(0.01, 60, 1200)
    f0, times = pitch.selected_array["frequency"], pitch.xs()
    held = f0[(times > 0.8) & (times < 1.5) & (f0 > 0)]
    return 1200 * np.log2(np.median(held) / _midi_to_hz(midi)) if len(held) > 30 else np.inf


@needs_festival
@pytest.mark.parametrize(
    ("speaker", "midi"),
    [("kal_diphone", 50), ("czech_dita", 69), ("msu_ru_nsh_clunits", 62), ("lp_diphone", 72)],
)
def test_a_held_note_is_sung_on_its_pitch_in_most_lines(speaker, midi):
    # A line now and then comes out with period doubling on its held vowel (measured: 1 in
    # 10 for lp_diphone): most, not all, lines must be on pitch.
    cents = [held_pitch_cents(speaker, midi, seed) for seed in range(6)]
    assert sum(abs(c) < 30 for c in cents) >= 5, cents
