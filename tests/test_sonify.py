"""Sonification: standardised log-mel excerpts back to audio, and invert.py --audio."""

import numpy as np
import pytest
import soundfile as sf

from inverters import sonify
from svdnet import audio
from tests.test_invert import run, setup  # noqa: F401  (fixture)

MEAN, STD = np.full(80, -3.0), np.full(80, 2.5)
LENGTH = (115 - 1) * 315 + 1024  # samples under 115 frames


def tone(freq_hz, amplitude=0.3):
    t = np.arange(LENGTH) / audio.SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def excerpt_of(samples):
    return audio.standardise(audio.log_mel(audio.spectrogram(samples)), MEAN, STD)


def peak_hz(samples):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * audio.SAMPLE_RATE / len(samples)


@pytest.mark.parametrize("method", sonify.MEL_INVERSIONS)
@pytest.mark.parametrize("freq_hz", [440.0, 1000.0, 3000.0])
def test_a_tone_comes_back_with_its_frequency_and_length(freq_hz, method):
    samples = tone(freq_hz)
    out = sonify.sonify(excerpt_of(samples), MEAN, STD, "original", samples, method)
    assert out.shape == (LENGTH,) and out.dtype == np.float32
    bin_hz = audio.SAMPLE_RATE / audio.FRAME_LEN  # one bin of the front end's FFT
    assert abs(peak_hz(out) - freq_hz) <= bin_hz
    # Level is kept to within a factor of two (the mel bands blur the partial's energy).
    assert 0.5 < np.std(out) / np.std(samples) < 2


def test_griffin_lim_gives_finite_audio_of_the_excerpt_length_near_the_tone():
    out = sonify.sonify(excerpt_of(tone(1000.0)), MEAN, STD, "griffinlim")
    assert out.shape == (LENGTH,) and np.isfinite(out).all()
    assert abs(peak_hz(out) - 1000.0) <= audio.SAMPLE_RATE / audio.FRAME_LEN
    assert np.abs(out).max() < 3  # no blown-up edges


def test_the_input_through_the_chain_reanalyses_close_to_itself():
    rng = np.random.default_rng(0)
    t = np.arange(LENGTH) / audio.SAMPLE_RATE
    voice = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 12))
    samples = (0.2 * voice + 0.01 * rng.standard_normal(LENGTH)).astype(np.float32)
    excerpt = excerpt_of(samples)
    again = sonify.reanalyse(sonify.sonify(excerpt, MEAN, STD, "original", samples), MEAN, STD)
    # Mean absolute error in standardised units (1 = one std of a band): 0.095 measured
    # (0.12 with NNLS, 0.10 and 0.16 with Griffin-Lim's phase).
    error = float(np.mean(np.abs(again[5:-5] - excerpt[5:-5])))
    assert error < 0.2


def test_the_original_phase_needs_the_audio():
    from svdnet.errors import InputError

    with pytest.raises(InputError, match="needs the excerpt's audio"):
        sonify.sonify(np.zeros((115, 80)), MEAN, STD, "original")


def test_invert_py_audio_writes_three_sounds_beside_each_plot(setup):  # noqa: F811
    run(setup, "fc8", "--time-index", "0", "--audio", "--format", "svg")
    plots = sorted((setup / "results").glob("*.svg"))
    assert plots
    for plot in plots:
        for suffix in ("", "_input", "_original"):
            sound, sr = sf.read(plot.with_name(f"{plot.stem}{suffix}.wav"))
            assert sr == audio.SAMPLE_RATE and sound.shape == (LENGTH,)
            assert np.isfinite(sound).all()
