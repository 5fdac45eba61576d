"""Tests of the demo corpus's randomised recording chain: stems, rooms and mastering."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import signal

from svdnet.democorpus import chain

SR = 22050
SEEDS = range(6)


def noise(seconds=2.0, seed=0):
    return np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.1


def click_train(seconds=2.0, seed=0):
    """Clicks at irregular times, so no lag but zero lines them all up again."""
    x = np.zeros(int(seconds * SR))
    gaps = np.random.default_rng(seed).integers(1500, 4000, 40)
    x[np.cumsum(gaps)[np.cumsum(gaps) < len(x)]] = 1.0
    return x


def band_db(x, low_hz, high_hz):
    """Mean power in dB of ``x`` between two frequencies (Welch estimate)."""
    freqs, power = signal.welch(x, SR, nperseg=2048)
    return 10 * np.log10(np.mean(power[(freqs >= low_hz) & (freqs < high_hz)]))


FLAT_EQ = chain.Eq(0.0, (100.0, 0.0), (4000.0, 0.0), (), None)
TRANSPARENT_MASTER = chain.MasterSettings(None, FLAT_EQ, None, (0.5, 0.5), None, -1.0)


@pytest.mark.parametrize("role", chain.ROLES)
def test_process_stem_is_deterministic_and_stereo(role):
    x = noise()
    first = chain.process_stem(np.random.default_rng(7), x, SR, role)
    again = chain.process_stem(np.random.default_rng(7), x, SR, role)
    other = chain.process_stem(np.random.default_rng(8), x, SR, role)
    assert first.shape == (2, len(x)) and first.dtype == np.float64
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_process_stem_output_is_finite_and_unclipped():
    x = noise() * 50.0  # far too loud: the chain works at its own level
    for seed in SEEDS:
        y = chain.process_stem(np.random.default_rng(seed), x, SR, "band")
        assert np.all(np.isfinite(y))
        assert 0.0 < np.max(np.abs(y)) <= 0.99


def test_silent_stem_stays_silent():
    y = chain.process_stem(np.random.default_rng(0), np.zeros(SR), SR, "lead")
    assert np.array_equal(y, np.zeros((2, SR)))


def test_unknown_role_is_refused():
    with pytest.raises(ValueError, match="role"):
        chain.process_stem(np.random.default_rng(0), noise(), SR, "drums")


def test_stem_chain_keeps_clicks_aligned_without_reverb():
    x = click_train()
    for seed in range(12):
        settings = chain.draw_stem_settings(np.random.default_rng(seed), "lead", SR)
        # Every other chain through a telephone band, the steepest filter it draws.
        band_hz = (300.0, 3400.0) if seed % 2 else settings.eq.band_hz
        settings = dataclasses.replace(
            settings,
            eq=dataclasses.replace(settings.eq, band_hz=band_hz),
            room=dataclasses.replace(settings.room, wet_gain=0.0),
        )
        y = chain.apply_stem(settings, x, SR)
        assert abs(chain.measure_lag(x, y.sum(axis=0), max_lag=500)) <= 1, settings


def test_reverb_adds_a_tail_after_the_direct_sound():
    x = np.zeros(SR)
    x[1000] = 1.0
    room = chain.ConvolutionRoom(1.0, 0.01, 0.5, 6, 0.5, 0.3, seed=1)
    settings = chain.StemSettings(FLAT_EQ, None, None, None, 0.0, room)
    y = chain.apply_stem(settings, x, SR)
    assert np.argmax(np.abs(y[0])) == 1000  # the direct sound stays first and strongest
    assert np.max(np.abs(y[:, :1000])) < 1e-6  # nothing before it (FFT rounding aside)
    tail = y[:, 1000 + int(0.02 * SR) :]
    assert np.sqrt(np.sum(tail**2)) > 0.1 * np.max(np.abs(y))


def decay_time_s(response, sr=SR):
    """RT60 from the -5 to -25 dB part of the Schroeder energy decay curve."""
    energy = np.cumsum(response[::-1] ** 2)[::-1]
    curve_db = 10 * np.log10(energy / energy[0])
    t5, t25 = np.argmax(curve_db < -5), np.argmax(curve_db < -25)
    return 3.0 * (t25 - t5) / sr


def test_room_response_decays_with_its_rt60_and_faster_in_the_highs():
    room = chain.ConvolutionRoom(1.2, 0.0, 0.3, 4, 0.2, 1.0, seed=3)
    response = chain._room_response(room, SR).astype(np.float64)
    assert response.shape[0] == 2
    assert np.allclose(np.sum(response**2, axis=1), 1.0, rtol=1e-3)
    assert not np.allclose(response[0], response[1])  # a wide, decorrelated room
    low = signal.sosfilt(signal.butter(4, 300, fs=SR, output="sos"), response[0])
    high = signal.sosfilt(signal.butter(4, 5000, "highpass", fs=SR, output="sos"), response[0])
    assert 0.8 * 1.2 < decay_time_s(low) < 1.2 * 1.2
    assert decay_time_s(high) < 0.6 * decay_time_s(low)


def test_telephone_band_removes_lows_and_highs():
    x = noise(3.0)
    eq = dataclasses.replace(FLAT_EQ, band_hz=(300.0, 3400.0))
    y = chain.apply_eq(eq, x.astype(np.float32)[None], SR)[0]
    in_band = band_db(y, 800, 2000) - band_db(x, 800, 2000)
    assert abs(in_band) < 1.0
    assert band_db(y, 6000, 10000) - band_db(x, 6000, 10000) < in_band - 20
    assert band_db(y, 20, 80) - band_db(x, 20, 80) < in_band - 20


def test_peak_and_shelf_gains_land_where_drawn():
    x = noise(3.0)
    eq = chain.Eq(0.0, (150.0, -12.0), (6000.0, 9.0), ((1000.0, 12.0, 2.0),), None)
    y = chain.apply_eq(eq, x.astype(np.float32)[None], SR)[0]
    assert band_db(y, 950, 1050) - band_db(x, 950, 1050) == pytest.approx(12.0, abs=1.5)
    assert band_db(y, 20, 50) - band_db(x, 20, 50) == pytest.approx(-12.0, abs=1.5)
    assert band_db(y, 9000, 10500) - band_db(x, 9000, 10500) == pytest.approx(9.0, abs=1.5)
    assert abs(band_db(y, 300, 400) - band_db(x, 300, 400)) < 3.0


def test_compression_narrows_the_gap_between_loud_and_quiet():
    x = noise(2.0)
    x[SR:] *= 0.1  # a loud second and a quiet one, 20 dB apart
    dynamics = chain.Dynamics(-25.0, 8.0, 1.0, 50.0, 0.0)
    dry_room = chain.AlgorithmicRoom(0.5, 0.5, 1.0, 0.0)
    settings = chain.StemSettings(FLAT_EQ, dynamics, None, None, 0.0, dry_room)
    y = chain.apply_stem(settings, x, SR).sum(axis=0)
    gap_db = 10 * np.log10(np.mean(y[SR // 4 : SR] ** 2) / np.mean(y[SR + SR // 4 :] ** 2))
    assert gap_db < 12.0


@pytest.mark.parametrize("kind", ["tanh", "cubic", "tape"])
def test_saturation_adds_harmonics_and_keeps_silence(kind):
    t_s = np.arange(SR) / SR
    sine = 4 * chain._db(chain.REFERENCE_DB) * np.sin(2 * np.pi * 441.0 * t_s)  # well driven
    saturation = chain.Saturation(kind, 18.0, 0.2, 1.0)
    y = chain.apply_saturation(saturation, sine)
    spectrum = np.abs(np.fft.rfft(y))  # 1 s: bin k is k Hz
    harmonics = spectrum[882] + spectrum[1323]
    assert harmonics > 0.05 * spectrum[441]
    assert np.array_equal(chain.apply_saturation(saturation, np.zeros(8)), np.zeros(8))


def test_voice_stays_near_the_centre_and_instruments_spread():
    def pans(role):
        return [
            chain.draw_stem_settings(np.random.default_rng(s), role, SR).pan for s in range(200)
        ]

    voice, band = pans("voice"), pans("band")
    assert max(np.abs(voice)) <= 0.4
    assert max(np.abs(band)) > 0.7


@pytest.mark.parametrize("role", chain.ROLES)
def test_stem_settings_take_valid_ranges(role):
    for seed in range(50):
        s = chain.draw_stem_settings(np.random.default_rng(seed), role, SR)
        gains = [s.eq.low_shelf[1], s.eq.high_shelf[1]] + [g for _, g, _ in s.eq.peaks]
        assert all(abs(g) <= 12.0 for g in gains) and 1 <= len(s.eq.peaks) <= 3
        assert s.dynamics is None or 1.5 <= s.dynamics.ratio <= 8.0
        if isinstance(s.room, chain.ConvolutionRoom):
            assert 0.1 <= s.room.rt60_s <= 2.5


def test_master_is_deterministic_with_level_in_range():
    stereo = np.stack([noise(seed=1), noise(seed=2)])
    for seed in SEEDS:
        first = chain.master(np.random.default_rng(seed), stereo, SR)
        again = chain.master(np.random.default_rng(seed), stereo, SR)
        drawn = chain.draw_master_settings(np.random.default_rng(seed), SR)
        assert first.shape == (stereo.shape[1],) and np.array_equal(first, again)
        assert np.all(np.isfinite(first))
        peak_db = 20 * np.log10(np.max(np.abs(first)))
        assert -12.0 <= peak_db <= -0.5 and np.max(np.abs(first)) <= 0.99
        assert peak_db == pytest.approx(drawn.peak_dbfs, abs=1e-6)


@pytest.mark.parametrize("quality", [0, 5, 9])
def test_master_with_mp3_keeps_clicks_aligned(quality):
    x = click_train()
    settings = dataclasses.replace(TRANSPARENT_MASTER, codec=quality, limiter_db=3.0)
    y = chain.apply_master(settings, np.stack([x, x]), SR)
    assert not np.allclose(y / np.max(np.abs(y)), x)  # the codec did something
    assert abs(chain.measure_lag(x, y, max_lag=2000)) <= 1


def test_codec_band_limit_cuts_above_its_cutoff_without_delay():
    x = noise(3.0)
    y = chain.apply_codec(6000.0, x, SR)
    assert band_db(y, 7000, 10000) - band_db(x, 7000, 10000) < -40
    assert abs(band_db(y, 1000, 4000) - band_db(x, 1000, 4000)) < 0.5
    assert chain.measure_lag(x, y, max_lag=100) == 0


def test_one_channel_downmix_keeps_only_that_channel():
    left = noise(seed=4)
    stereo = np.stack([left, np.zeros_like(left)])
    only_left = dataclasses.replace(TRANSPARENT_MASTER, downmix=(1.0, 0.0))
    only_right = dataclasses.replace(TRANSPARENT_MASTER, downmix=(0.0, 1.0))
    y = chain.apply_master(only_left, stereo, SR)
    assert np.allclose(y, left * (chain._db(-1.0) / np.max(np.abs(left))), atol=1e-6)
    assert np.array_equal(chain.apply_master(only_right, stereo, SR), np.zeros(len(left)))


def test_master_draws_every_downmix_and_codec():
    drawn = [chain.draw_master_settings(np.random.default_rng(s), SR) for s in range(200)]
    downmixes = {d.downmix for d in drawn}
    assert {(0.5, 0.5), (1.0, 0.0), (0.0, 1.0)} <= downmixes and len(downmixes) > 10
    assert all(abs(sum(d.downmix) - 1.0) < 1e-12 for d in drawn)
    codecs = [d.codec for d in drawn]
    assert any(isinstance(c, int) for c in codecs) and None in codecs
    cutoffs = [c for c in codecs if isinstance(c, float)]
    assert cutoffs and all(0.45 * SR / 2 <= c <= 0.9 * SR / 2 for c in cutoffs)
