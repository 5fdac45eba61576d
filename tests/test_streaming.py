"""Block-wise decoding and spectrograms give the numbers of the whole-file computation."""

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svdnet import audio, decode, spectra
from svdnet.errors import InputError
from tests.conftest import needs_mp3


def noise(n_samples, seed=0):
    return (np.random.default_rng(seed).standard_normal(n_samples) * 0.1).astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 20000), max_size=6), n_samples=st.integers(0, 20000))
def test_spectrogram_of_a_stream_of_blocks_is_that_of_the_joined_samples(cuts, n_samples):
    samples = noise(n_samples)
    edges = sorted({0, n_samples, *(c for c in cuts if c < n_samples)})
    blocks = [samples[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    streamed = list(audio.spectrogram_blocks(blocks))
    joined = np.concatenate([np.zeros((0, audio.N_BINS), np.float32), *streamed])
    np.testing.assert_array_equal(joined, audio.spectrogram(samples))


def test_block_size_of_the_transform_does_not_change_a_bit():
    samples = noise(315 * 300)
    np.testing.assert_array_equal(
        audio.spectrogram(samples, block_frames=7), audio.spectrogram(samples, block_frames=4096)
    )


def test_log_mel_in_blocks_matches_one_product(monkeypatch):
    spect = np.abs(noise(500 * audio.N_BINS)).reshape(500, audio.N_BINS)
    whole = audio.log_mel(spect)
    monkeypatch.setattr(audio, "MEL_BLOCK_FRAMES", 64)
    np.testing.assert_allclose(audio.log_mel(spect), whole, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("fmt", "rate"), [("WAV", 22050), ("OGG", 22050), ("FLAC", 44100)])
def test_small_blocks_decode_the_same_samples_as_the_whole_file(tmp_path, fmt, rate):
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, noise(rate * 3), rate, format=fmt)
    whole = decode.load_audio(path)
    blocks = list(decode.audio_blocks(path, block=10007))
    assert len(blocks) > 2
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


@pytest.mark.parametrize(
    ("fmt", "atol"),
    [("WAV", 0), ("OGG", 0), ("FLAC", 0), pytest.param("MP3", 1e-5, marks=needs_mp3)],
)
def test_a_window_decodes_by_seeking_to_the_whole_files_frames(tmp_path, fmt, atol):
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, noise(22050 * 6), 22050, format=fmt)
    full = audio.spectrogram(decode.load_audio(path))
    # MP3 decoders restart their synthesis filter after a seek: close, not identical.
    np.testing.assert_allclose(spectra.load_window(path, 200, 146), full[200:346], 0, atol)
    assert len(spectra.load_window(path, len(full) - 10, 146)) == 10  # the end of the file
    assert len(spectra.load_window(path, len(full) + 50, 146)) == 0


def test_a_window_of_a_resampled_file_matches_the_whole_file_closely(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, noise(44100 * 6), 44100)
    full = audio.spectrogram(decode.load_audio(path))
    window = spectra.load_window(path, 201, 146)
    np.testing.assert_allclose(window, full[201:347], rtol=1e-4, atol=1e-5)


def test_cache_is_written_block_by_block_and_read_memory_mapped(tmp_path, monkeypatch):
    monkeypatch.setattr(decode, "BLOCK_SAMPLES", 5000)
    path = tmp_path / "a.wav"
    sf.write(path, noise(22050 * 2), 22050)
    full = audio.spectrogram(decode.load_audio(path))
    cached = spectra.load_spectrogram(path, tmp_path / "cache", audio.N_BINS)
    assert isinstance(cached.base, np.memmap) or isinstance(cached, np.memmap)
    np.testing.assert_array_equal(cached, full)
    (npy,) = (tmp_path / "cache").iterdir()
    np.testing.assert_array_equal(np.load(npy), full)  # an ordinary .npy
    np.testing.assert_array_equal(spectra.load_window(path, 10, 5, tmp_path / "cache"), full[10:15])


def test_mel_blocks_join_to_the_standardised_log_mel_of_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "MEL_BLOCK_FRAMES", 50)
    path = tmp_path / "a.wav"
    sf.write(path, noise(22050 * 3), 22050)
    mean, std = np.full(80, -3.0), np.full(80, 2.0)
    expected = audio.standardise(
        audio.log_mel(audio.spectrogram(decode.load_audio(path))), mean, std
    )
    for cache in (None, tmp_path / "cache"):
        joined = np.concatenate(list(spectra.mel_blocks(path, mean, std, cache)))
        np.testing.assert_allclose(joined, expected, rtol=1e-6, atol=1e-6)


def test_damaged_and_empty_files_are_input_errors(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wave file")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 22050)
    for name in ("bad.wav", "empty.wav"):
        with pytest.raises(InputError, match=name):
            spectra.load_window(tmp_path / name, 100, 10)
