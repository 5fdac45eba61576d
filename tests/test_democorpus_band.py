"""The demo corpus's soundfont band and expressive leads: lengths, levels, pitch, timing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from svdnet.democorpus import band, soundfont
from svdnet.democorpus.arrangement import MINOR_STEPS, Key, Note, _chord_schedule
from svdnet.democorpus.band import LeadStyle
from svdnet.democorpus.soundfont import FORBIDDEN_PROGRAMS, Part, render_parts

SR = 22050

FLUID_MISSING = not Path(soundfont.SOUNDFONTS["fluidr3"]).is_file()

STEADY = LeadStyle(
    vibrato_hz=5.0,
    vibrato_cents=0.0,
    vibrato_delay_s=0.3,
    scoop_prob=0.0,
    scoop_cents=50.0,
    glide_s=0.1,
    fall_prob=0.0,
    drift_cents=0.0,
)


def _f0_track(x: np.ndarray, hop: int = 256, fmin: float = 70.0) -> np.ndarray:
    """YIN f0 estimates (Hz) of 2048-sample frames; NaN where no period is clear."""
    n, max_lag = 2048, int(SR / fmin)
    width = n - max_lag
    f0s = []
    for start in range(0, len(x) - n, hop):
        frame = x[start : start + n]
        spectrum = np.fft.rfft(frame, 2 * n)
        corr = np.fft.irfft(np.conj(np.fft.rfft(frame[:width], 2 * n)) * spectrum)[: max_lag + 1]
        energy = np.concatenate([[0.0], np.cumsum(frame**2)])
        lags = np.arange(max_lag + 1)
        diff = energy[width] + energy[lags + width] - energy[lags] - 2 * corr
        cmnd = diff[1:] * np.arange(1, max_lag + 1) / np.maximum(np.cumsum(diff[1:]), 1e-12)
        below = np.nonzero(cmnd[20:] < 0.15)[0]
        if len(below) == 0:
            f0s.append(np.nan)
            continue
        lag = below[0] + 20
        while lag + 1 < max_lag and cmnd[lag + 1] < cmnd[lag]:
            lag += 1
        a, b, c = cmnd[lag - 1 : lag + 2]  # parabolic refinement, cmnd index = lag - 1
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c > 0 else 0.0
        f0s.append(SR / (lag + 1 + shift))
    return np.array(f0s)


def _cents(f0_hz: np.ndarray, midi: float) -> np.ndarray:
    return 1200 * np.log2(f0_hz / (440.0 * 2 ** ((midi - 69) / 12)))


def _onset_s(x: np.ndarray, around_s: float) -> float:
    """First sample within 50 ms before to 200 ms after ``around_s`` above 10 % of the peak."""
    start = int((around_s - 0.05) * SR)
    window = np.abs(x[start : int((around_s + 0.2) * SR)])
    return (start + np.nonzero(window > 0.1 * window.max())[0][0]) / SR


def _lead_part(notes: list[Note], program: int, style: LeadStyle):
    """The MIDI part of a lead phrase played with ``style``'s gestures (seed 0)."""
    rng = np.random.default_rng(0)
    pitch = band._lead_pitch(rng, notes, style, band.control_grid(notes))
    return band._lead_part(rng, notes, program, pitch)


def _render_lead_part(notes: list[Note], program: int, style: LeadStyle) -> np.ndarray:
    part = _lead_part(notes, program, style)
    n = round((notes[-1].end_ms - notes[0].onset_ms) * SR / 1000)
    return render_parts([part], n, SR, "timgm6mb").mean(axis=0)


def test_band_is_deterministic():
    stems = [
        band.render_band(np.random.default_rng(7), Key(2, MINOR_STEPS), 500.0, 3000, SR, "timgm6mb")
        for _ in range(2)
    ]
    assert stems[0].keys() == stems[1].keys()
    for name in stems[0]:
        np.testing.assert_array_equal(stems[0][name], stems[1][name])


@pytest.mark.parametrize("seed", range(6))
def test_band_stems_have_exact_length_and_unit_rms(seed):
    rng = np.random.default_rng(seed)
    stems = band.render_band(
        rng, Key(seed, MINOR_STEPS), rng.uniform(350, 900), 3500, SR, "timgm6mb"
    )
    assert 2 <= len(stems) <= 6
    for x in stems.values():
        assert x.dtype == np.float64 and x.shape == (round(3.5 * SR),)
        assert np.all(np.isfinite(x))
        rms = np.sqrt(np.mean(x**2))
        assert rms == pytest.approx(1.0) or rms == 0.0


def test_drum_hits_sound_on_the_beat_grid():
    groove = band.Groove(0.5, 0.5, 0.0, 4.0)
    hits = [(b, 0.25, 37, 110) for b in range(8)]
    part = Part(
        0,
        is_drum=True,
        notes=band._notes(np.random.default_rng(0), hits, groove, 100, np.ones(2, bool)),
    )
    x = render_parts([part], 4 * SR, SR, "timgm6mb").mean(axis=0)
    for beat in range(1, 8):
        assert abs(_onset_s(x, 0.5 * beat) - 0.5 * beat) < 0.005


def test_note_onset_is_aligned_with_its_midi_time():
    # Sharp attacks only: a flute takes 20 ms to speak, as a real one does.
    for program, midi in ((115, 72), (13, 76)):  # woodblock, xylophone
        part = Part(program, notes=[(1.0, 1.4, midi, 110)])
        x = render_parts([part], 2 * SR, SR, "timgm6mb").mean(axis=0)
        assert abs(_onset_s(x, 1.0) - 1.0) < 0.005


@pytest.mark.parametrize("program", [73, 71, 40, 56, 65])
def test_lead_note_pitch_matches_midi(program):
    x = _render_lead_part([Note(0, 1500, 67.0, False)], program, STEADY)
    f0 = _f0_track(x[int(0.3 * SR) : int(1.3 * SR)])
    assert abs(np.nanmedian(_cents(f0, 67))) < 20


def test_legato_note_reached_by_pitch_bend_has_its_pitch():
    # The second note is legato within the bend span: no new MIDI note, only a bend.
    notes = [Note(0, 1000, 64.0, False), Note(1000, 2200, 68.0, True)]
    part = _lead_part(notes, 73, STEADY)
    assert [note[2] for note in part.notes] == [64]
    x = render_parts([part], round(2.2 * SR), SR, "timgm6mb").mean(axis=0)
    f0 = _f0_track(x[int(1.5 * SR) : int(2.1 * SR)])
    assert abs(np.nanmedian(_cents(f0, 68))) < 20


def test_pitch_bend_range_is_set_by_rpn():
    part = Part(79, bend_range=12, notes=[(0.0, 2.0, 60, 100)], bends=[(1.0, 7.0)])
    x = render_parts([part], 2 * SR, SR, "timgm6mb").mean(axis=0)
    before = np.nanmedian(_cents(_f0_track(x[int(0.3 * SR) : int(0.9 * SR)]), 60))
    after = np.nanmedian(_cents(_f0_track(x[int(1.2 * SR) : int(1.9 * SR)]), 67))
    assert abs(before) < 20 and abs(after) < 20


def test_vibrato_extent_and_rate_are_measured_as_drawn():
    style = LeadStyle(6.0, 60.0, 0.3, 0.0, 50.0, 0.1, 0.0, 0.0)
    x = _render_lead_part([Note(0, 3000, 69.0, False)], 73, style)
    hop = 128
    cents = _cents(_f0_track(x[int(0.9 * SR) : int(2.8 * SR)], hop=hop), 69)
    assert not np.any(np.isnan(cents))
    extent = (np.percentile(cents, 97) - np.percentile(cents, 3)) / 2
    assert 40 < extent < 80
    crossings = np.sum(np.diff(np.sign(cents - np.median(cents))) > 0)
    rate_hz = crossings / (len(cents) * hop / SR)
    assert 5.0 < rate_hz < 7.0


def test_drawn_lead_styles_stay_in_range():
    rng = np.random.default_rng(3)
    styles = [band._draw_lead_style(rng, 73) for _ in range(500)]
    vibratos = [s.vibrato_cents for s in styles if s.vibrato_cents > 0]
    assert 10 <= min(vibratos) and max(vibratos) <= 120
    assert 0 < len(styles) - len(vibratos) < 250  # some phrases without vibrato
    assert all(4 <= s.vibrato_hz <= 8 and 0.05 <= s.glide_s <= 0.3 for s in styles)


def test_render_lead_has_phrase_length_unit_rms_and_is_deterministic():
    notes = [
        Note(5000, 5400, 62.0, False),
        Note(5400, 6100, 65.0, True),
        Note(6200, 7000, 69.0, False),
    ]
    leads = [
        band.render_lead(np.random.default_rng(1), notes, SR, "timgm6mb", 66) for _ in range(2)
    ]
    np.testing.assert_array_equal(leads[0], leads[1])
    assert leads[0].shape == (round(2.0 * SR),)
    assert np.sqrt(np.mean(leads[0] ** 2)) == pytest.approx(1.0)


def test_recorded_voices_play_only_when_allowed_and_other_forbidden_programs_never():
    from svdnet.democorpus.soundfont import VOICE_PROGRAMS

    notes = [(0.0, 0.4, 60, 100)]
    for program in VOICE_PROGRAMS:
        with pytest.raises(ValueError, match="voice, choir"):
            render_parts([Part(program, notes=notes)], SR // 2, SR, "timgm6mb")
        x = render_parts([Part(program, notes=notes)], SR // 2, SR, "timgm6mb", voices=True)
        assert np.sqrt(np.mean(x**2)) > 1e-3
    for program in sorted(FORBIDDEN_PROGRAMS - set(VOICE_PROGRAMS)):
        with pytest.raises(ValueError, match="voice, choir"):
            render_parts([Part(program, notes=notes)], SR // 2, SR, "timgm6mb", voices=True)


def test_forbidden_programs_are_never_drawn():
    rng = np.random.default_rng(0)
    assert not FORBIDDEN_PROGRAMS & {band.draw_lead_program(rng) for _ in range(3000)}
    assert not FORBIDDEN_PROGRAMS & set(band.BAND_PROGRAMS)
    key = Key(0, MINOR_STEPS)
    for seed in range(200):
        rng = np.random.default_rng(seed)
        chords = [(o / 500, n / 500, pcs) for o, n, pcs in _chord_schedule(rng, key, 500.0, 8000)]
        style = str(rng.choice(list(band.STYLES)))
        parts = band._role_parts(rng, style, key, chords, band.Groove(0.5, 0.5, 0.01, 8.0))
        programs = {p.program for ps in parts.values() for p in ps if not p.is_drum}
        assert not programs & FORBIDDEN_PROGRAMS


def test_rendering_a_forbidden_program_is_refused():
    with pytest.raises(ValueError, match="52"):
        render_parts([Part(52, notes=[(0.0, 0.5, 60, 100)])], SR, SR, "timgm6mb")


def test_missing_soundfont_names_it_and_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setitem(soundfont.SOUNDFONTS, "fluidr3", str(tmp_path / "absent.sf2"))
    soundfont.soundfont_bytes.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="fluidr3.*fluid-soundfont-gm"):
            soundfont.soundfont_bytes("fluidr3")
    finally:
        soundfont.soundfont_bytes.cache_clear()


@pytest.mark.skipif(FLUID_MISSING, reason="FluidR3_GM.sf2 (fluid-soundfont-gm) not installed")
def test_fluidr3_lead_note_pitch_and_onset():
    part = _lead_part([Note(500, 2000, 67.0, False)], 73, STEADY)
    x = render_parts([part], 2 * SR, SR, "fluidr3").mean(axis=0)
    f0 = _f0_track(x[int(0.3 * SR) : int(1.3 * SR)])
    assert abs(np.nanmedian(_cents(f0, 67))) < 20
    woodblock = Part(115, notes=[(1.0, 1.3, 72, 110)])
    x = render_parts([woodblock], 2 * SR, SR, "fluidr3").mean(axis=0)
    assert abs(_onset_s(x, 1.0) - 1.0) < 0.005


def test_soundfont_releases_are_capped():
    data = bytearray(soundfont.soundfont_bytes("timgm6mb"))
    pdta_start, pdta_size = soundfont._riff_chunks(data, 12, len(data))[b"pdta"]
    offset, size = soundfont._riff_chunks(data, pdta_start, pdta_start + pdta_size)[b"igen"]
    records = np.frombuffer(data, soundfont.GENERATOR_RECORD, size // 4, offset)
    releases_s = 2.0 ** (records["amount"][records["oper"] == 38] / 1200)
    assert len(releases_s) > 100 and releases_s.max() <= soundfont.RELEASE_MAX_S * 1.001


@pytest.mark.parametrize("program", [78, 67])
def test_lead_above_an_instruments_range_still_sounds(program):
    notes = [Note(0, 500, 79.0, False), Note(500, 1000, 81.0, False)]
    x = band.render_lead(np.random.default_rng(0), notes, SR, "timgm6mb", program)
    second_note = x[int(0.6 * SR) : int(0.9 * SR)]
    assert np.sqrt(np.mean(second_note**2)) > 0.3
