"""Second-generation demo voices: every family sings the notes, the vowels and the ensembles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import signal

from svdnet.democorpus import fof, speech, vocals
from svdnet.democorpus.arrangement import Note
from svdnet.democorpus.dsp import _midi_to_hz
from svdnet.democorpus.melody import Expression, expressive_contour
from svdnet.democorpus.phonetics import VOCALISE_VOWELS, VOWELS_HZ, Score, plan_score, vocalise
from svdnet.democorpus.singers import SPEECH_FAMILIES, SYNTHETIC_FAMILIES
from svdnet.democorpus.tract import bin_freqs_hz, parallel_response
from svdnet.democorpus.voice import (
    VOICE_FAMILIES,
    draw_voice,
    render_breath,
    render_vocal_phrase,
)

SR = 22050

# The speech families need festival and its voices (Debian); without them they skip.
FAMILIES = [
    pytest.param(
        family,
        marks=pytest.mark.skipif(
            family in SPEECH_FAMILIES and bool(speech.missing_tools((family,))),
            reason="festival, its voices or praat-parselmouth missing",
        ),
    )
    for family in VOICE_FAMILIES
]

STRAIGHT = Expression(0.0, 5.0, 0.3, 0.2, 0.0, 0.0, 0.1, 0.08, 0.0, 0.0)


def plain_voice(family: str, seed: int = 0, **changes) -> object:
    """A solo voice of ``family`` with a straight tone and nothing that moves its pitch."""
    voice = draw_voice(np.random.default_rng(seed), (family,))
    settings = dict(
        expression=STRAIGHT,
        jitter=0.002,
        growl=0.0,
        fry_prob=0.0,
        flutter_cents=0.0,
        n_voices=1,
        harmony_semitones=0,
    )
    return replace(voice, **{**settings, **changes})


def sustained_vowel(vowel: str, n: int) -> Score:
    """A score holding one vowel, no consonants, with 20-ms ramps at both ends."""
    block = int(0.005 * SR)
    n_blocks = -(-n // block)
    voicing = np.minimum(np.minimum(np.arange(n), n - np.arange(n)) / (0.02 * SR), 1.0)
    formants = np.tile(np.array(VOWELS_HZ[vowel], dtype=float), (n_blocks, 1))
    return Score(block, formants, np.zeros(n_blocks), voicing, np.zeros(n))


def harmonic_sum_f0(x: np.ndarray, guess_hz: float) -> float:
    """f0 within a semitone of ``guess_hz`` that maximises the summed first 8 harmonics."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 1 << 17))
    bin_hz = SR / (1 << 17)
    candidates = guess_hz * 2 ** (np.arange(-100, 101) / 1200)
    k = np.arange(1, 9)[:, None]
    score = spectrum[np.round(k * candidates / bin_hz).astype(int)].sum(axis=0)
    return float(candidates[np.argmax(score)])


def harmonic_levels_db(x: np.ndarray, f0_hz: float, top_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and levels of the harmonics of a steady tone up to ``top_hz``."""
    freqs, power = signal.welch(x, SR, nperseg=8192)
    harmonics_hz = f0_hz * np.arange(1, int(top_hz / f0_hz) + 1)
    levels = [power[np.abs(freqs - h) < 0.4 * f0_hz].max() for h in harmonics_hz]
    return harmonics_hz, 10 * np.log10(np.array(levels))


@pytest.mark.parametrize("family", FAMILIES)
def test_same_rng_state_gives_the_same_phrase_bit_for_bit(family):
    voice = draw_voice(np.random.default_rng(1), (family,))
    voice = replace(voice, n_voices=3, harmony_semitones=7, harmony_prob=1.0, fry_prob=1.0)
    notes = [Note(0, 600, voice.low_midi + 4, False), Note(600, 1500, voice.low_midi + 7, True)]
    first = render_vocal_phrase(np.random.default_rng(7), notes, voice, SR)
    second = render_vocal_phrase(np.random.default_rng(7), notes, voice, SR)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


@pytest.mark.parametrize("family", FAMILIES)
def test_phrase_fills_its_span_with_finite_mostly_voiced_sound(family):
    voice = draw_voice(np.random.default_rng(2), (family,))
    notes = [
        Note(1000 + 250 * i, 1250 + 250 * i, voice.low_midi + i % 5, i % 3 == 1) for i in range(9)
    ]
    phrase, voiced = render_vocal_phrase(np.random.default_rng(3), notes, voice, SR)
    assert phrase.dtype == np.float64 and voiced.dtype == bool
    assert len(phrase) == len(voiced) == round(2250 * SR / 1000)
    assert np.all(np.isfinite(phrase)) and np.std(phrase) > 0
    assert voiced.mean() > 0.5


@pytest.mark.parametrize("family", FAMILIES)
def test_straight_tone_is_sung_within_30_cents_of_each_note(family):
    voice = plain_voice(family)
    midis = (voice.low_midi + 2, voice.low_midi + 9)
    notes = [Note(0, 1200, midis[0], False), Note(1200, 2400, midis[1], False)]
    phrase, _ = render_vocal_phrase(np.random.default_rng(4), notes, voice, SR)
    for i, midi in enumerate(midis):
        middle = phrase[int((0.4 + 1.2 * i) * SR) : int((0.9 + 1.2 * i) * SR)]
        f0_hz = harmonic_sum_f0(middle, _midi_to_hz(midi))
        assert abs(1200 * np.log2(f0_hz / _midi_to_hz(midi))) < 30


@pytest.mark.parametrize("family", SYNTHETIC_FAMILIES)
@pytest.mark.parametrize(("vowel", "formant"), [("a", 0), ("i", 1)])
def test_spectral_envelope_peaks_at_the_singers_scaled_vowel_formants(family, vowel, formant):
    # Pressed phonation keeps F1 narrow; without ripple the envelope is the formants alone.
    voice = plain_voice(
        family, effort=1.0, bandwidth_scale=1.0, singers_formant_hz=None, ripple_db=0.0
    )
    notes = [Note(0, 1500, 40, False)]  # E2: harmonics every 82 Hz sample the envelope densely
    score = sustained_vowel(vowel, round(1.5 * SR))
    sung = vocals._render_part(np.random.default_rng(5), notes, score, voice, 1, None, SR)
    formants_hz = np.array(VOWELS_HZ[vowel]) * voice.formant_scales
    harmonics_hz, levels_db = harmonic_levels_db(sung[SR // 4 : -SR // 4], _midi_to_hz(40), 4000)
    edges = np.concatenate(([0.5 * formants_hz[0]], (formants_hz[1:] + formants_hz[:-1]) / 2))
    band = (harmonics_hz > edges[formant]) & (harmonics_hz < edges[formant + 1])
    peak_hz = harmonics_hz[band][np.argmax(levels_db[band])]
    assert abs(peak_hz - formants_hz[formant]) < 0.1 * formants_hz[formant] + 82


def test_families_sound_different_on_the_same_notes():
    notes = [Note(0, 800, 50, False), Note(800, 1600, 55, True)]
    spectra = []
    for family in SYNTHETIC_FAMILIES:
        voice = replace(plain_voice("rosenberg", seed=6), family=family)
        phrase, _ = render_vocal_phrase(np.random.default_rng(8), notes, voice, SR)
        _, power = signal.welch(phrase, SR, nperseg=1024)
        spectra.append(10 * np.log10(power / power.sum() + 1e-20))
    for i in range(len(spectra)):
        for j in range(i + 1, len(spectra)):
            assert np.mean(np.abs(spectra[i] - spectra[j])) > 1.0


def test_child_voices_sing_higher_with_higher_formants_than_male_voices():
    voices = [draw_voice(np.random.default_rng(seed), VOICE_FAMILIES) for seed in range(300)]
    child = [v for v in voices if v.register == "child"]
    male = [v for v in voices if v.register == "male"]
    assert child and male
    assert all(60 <= v.low_midi and v.high_midi <= 88 for v in child)
    assert (
        np.mean([v.low_midi + v.high_midi for v in child]) / 2
        > 12 + np.mean([v.low_midi + v.high_midi for v in male]) / 2
    )
    ratio = np.mean([v.formant_scales for v in child]) / np.mean([v.formant_scales for v in male])
    assert 1.22 < ratio < 1.4  # children's formants lie 25-35 % above men's


def test_ensemble_widens_the_harmonics_around_the_note():
    notes = [Note(0, 3000, 57, False)]
    width = {}
    for n_voices in (1, 5):
        voice = plain_voice("hnm", seed=9, n_voices=n_voices, detune_cents=20.0, spread_ms=20.0)
        phrase, _ = render_vocal_phrase(np.random.default_rng(10), notes, voice, SR)
        freqs, power = signal.welch(phrase[SR // 2 : -SR // 2], SR, nperseg=16384)
        target = 4 * _midi_to_hz(57)  # the 4th harmonic, 880 Hz
        cents = 1200 * np.log2(np.maximum(freqs, 1.0) / target)
        near, around = power[np.abs(cents) < 6].sum(), power[np.abs(cents) < 80].sum()
        width[n_voices] = 1 - near / around
    assert width[1] < 0.3 and width[5] > width[1] + 0.2


def test_held_out_family_is_drawn_only_when_asked_for():
    without = {
        draw_voice(np.random.default_rng(s), ("rosenberg", "hnm")).family for s in range(200)
    }
    with_lf = {draw_voice(np.random.default_rng(s), VOICE_FAMILIES).family for s in range(200)}
    assert without == {"rosenberg", "hnm"} and with_lf == set(VOICE_FAMILIES)
    assert draw_voice(np.random.default_rng(0), ("lf",)).family == "lf"
    with pytest.raises(ValueError, match="families"):
        draw_voice(np.random.default_rng(0), ("choir",))


def test_vibrato_swings_the_pitch_by_its_extent_and_a_straight_tone_holds_it():
    notes = [Note(0, 2000, 60, False)]
    wide = replace(STRAIGHT, vibrato_cents=100.0, vibrato_delay_s=0.2, vibrato_ramp_s=0.1)
    straight = expressive_contour(np.random.default_rng(0), notes, STRAIGHT, SR)
    operatic = expressive_contour(np.random.default_rng(0), notes, wide, SR)
    assert np.allclose(straight, 60.0)
    held = operatic[SR : 2 * SR] - 60.0
    assert 0.7 < held.max() < 1.3 and -1.3 < held.min() < -0.7
    crossings = np.sum(np.diff(np.sign(held)) > 0)
    assert 4 <= crossings <= 8  # 4-8 Hz for this 1-s stretch


def test_nasal_coupling_puts_a_dip_between_nasal_pole_and_first_formant():
    formants = np.array([[700.0, 1200.0, 2500.0]] * 2)
    bandwidths = np.full((2, 3), 80.0)
    response = np.abs(parallel_response(formants, bandwidths, np.ones(3), np.array([0.0, 1.0]), SR))
    freqs = bin_freqs_hz(SR)
    at_zero = np.argmin(np.abs(freqs - 520.0))
    assert response[1, at_zero] < 0.5 * response[0, at_zero]


def test_breath_has_unit_rms_and_the_asked_length():
    breath = render_breath(np.random.default_rng(0), 9000, SR)
    assert len(breath) == 9000 and abs(np.sqrt(np.mean(breath**2)) - 1) < 1e-9


def test_a_fof_grain_is_one_formant_at_its_frequency_with_its_bandwidth():
    # exp(-pi B t) sin(2 pi F t) has a resonance at F whose half-power width is B.
    f_hz, b_hz, n = 1000.0, 80.0, 8192
    grain = fof.grains(
        np.array([0]), np.array([[f_hz]]), np.array([[b_hz]]), np.ones((1, 1)), 0.0, n, SR
    )
    power = np.abs(np.fft.rfft(grain, 1 << 16)) ** 2
    freqs = np.fft.rfftfreq(1 << 16, 1 / SR)
    above = freqs[power >= power.max() / 2]
    assert abs(freqs[np.argmax(power)] - f_hz) < 5
    assert abs((above.max() - above.min()) - b_hz) < 0.15 * b_hz


def test_fof_grains_start_at_every_cycle_and_add_up():
    phase = np.cumsum(np.full(SR, 200.0)) / SR  # 200 Hz for 1 s: the start and 200 crossings
    onsets = fof.pulse_onsets(phase)
    assert len(onsets) == 201 and onsets[0] == 0 and set(np.diff(onsets)) <= {110, 111}
    m = len(onsets)
    freqs, bandwidths = np.full((m, 2), [600.0, 1800.0]), np.full((m, 2), 90.0)
    both = fof.grains(onsets, freqs, bandwidths, np.ones((m, 2)), 0.002, SR, SR)
    first = fof.grains(onsets, freqs[:, :1], bandwidths[:, :1], np.ones((m, 1)), 0.002, SR, SR)
    second = fof.grains(onsets, freqs[:, 1:], bandwidths[:, 1:], np.ones((m, 1)), 0.002, SR, SR)
    assert np.allclose(both, first + second, atol=1e-5)
    spectrum = np.abs(np.fft.rfft(both[SR // 4 : 3 * SR // 4]))  # 0.5 s: bins of 2 Hz
    loudest_hz = np.argsort(spectrum)[-4:] * 2.0
    assert set(np.round(loudest_hz / 200.0) * 200.0) <= {
        600.0,
        1800.0,
        400.0,
        800.0,
        1600.0,
        2000.0,
    }
    assert np.all(np.abs(loudest_hz / 200.0 - np.round(loudest_hz / 200.0)) < 0.02)


def test_fof_formant_levels_fall_by_the_slope_per_octave_and_damp_when_nasal():
    freqs = np.array([[500.0, 1000.0, 2000.0], [500.0, 1000.0, 2000.0]])
    levels = fof.formant_levels_db(freqs, 6.0, np.array([0.0, 1.0, -2.0]), np.array([0.0, 1.0]))
    assert np.allclose(levels, [[0.0, -5.0, -14.0], [0.0, -15.0, -24.0]])


@pytest.mark.parametrize("family", SYNTHETIC_FAMILIES)
def test_a_vocalise_is_sung_on_its_open_vowels_without_a_consonant(family):
    notes = [Note(300 * i, 300 * i + 300, 60 + i % 4, i % 2 == 1) for i in range(8)]
    lyric = draw_voice(np.random.default_rng(4), (family,)).diction
    sung = vocalise(np.random.default_rng(5), lyric)
    assert set(sung.vowels) <= set(VOCALISE_VOWELS) and 1 <= len(sung.vowels) <= 2
    assert lyric.vowels == () and sung.language == lyric.language
    # The lyric delivery has consonants on these notes; the vocalise none.
    assert np.any(plan_score(np.random.default_rng(6), notes, lyric, SR).noise)
    score = plan_score(np.random.default_rng(6), notes, sung, SR)
    assert not np.any(score.noise)
    n = len(score.voicing)
    attack, release = int((sung.attack_s + 0.01) * SR), int(sung.release_s * SR)
    assert np.all(score.voicing[attack : n - release] == 1.0)  # no consonant dips the voice
    # Every formant target lies between those of the vowels it moves between.
    targets = np.array([VOWELS_HZ[v] for v in sung.vowels])
    assert np.all(score.formants_hz >= targets.min(axis=0) - 1e-9)
    assert np.all(score.formants_hz <= targets.max(axis=0) + 1e-9)
    voice = replace(draw_voice(np.random.default_rng(4), (family,)), diction=sung)
    phrase, voiced = render_vocal_phrase(np.random.default_rng(3), notes, voice, SR)
    assert np.all(np.isfinite(phrase)) and voiced.mean() > 0.8


def test_vocalise_chance_holds_for_synthetic_singers_and_spares_the_speakers():
    families = ("rosenberg", "hnm", "speech")
    voices = [draw_voice(np.random.default_rng(seed), families, 0.3) for seed in range(400)]
    synthetic = [v for v in voices if v.family in SYNTHETIC_FAMILIES]
    share = np.mean([bool(v.diction.vowels) for v in synthetic])
    assert 0.22 < share < 0.38  # 0.3 within about three standard deviations (n ~ 270)
    assert not any(v.diction.vowels for v in voices if v.family == "speech")
    always = [draw_voice(np.random.default_rng(seed), ("hnm",), 1.0) for seed in range(20)]
    assert all(v.diction.vowels and v.diction.onset_prob == 0 for v in always)
    never = [draw_voice(np.random.default_rng(seed), ("hnm",)) for seed in range(20)]
    assert not any(v.diction.vowels for v in never)
