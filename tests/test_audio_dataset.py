"""Front end and dataset layout: decoding, frame counts, caching, labels, excerpts."""

from itertools import pairwise

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svdnet import audio, decode, spectra
from svdnet.dataset import excerpt_target, excerpts, frame_targets, read_labels
from svdnet.errors import InputError


@settings(max_examples=30, deadline=None)
@given(n_samples=st.integers(0, 5000))
def test_frame_count_follows_the_original_formula(n_samples):
    spect = audio.spectrogram(np.zeros(n_samples, np.float32))
    assert spect.shape == (max(0, (n_samples - 1024) // 315 + 1), 513)


def test_stereo_is_averaged_to_mono_and_other_rates_are_resampled(tmp_path):
    t = np.arange(44100) / 44100
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1).astype(np.float32), 44100)
    samples = decode.load_audio(tmp_path / "s.wav")
    assert samples.dtype == np.float32 and samples.shape == (22050,)
    peak_hz = np.argmax(np.abs(np.fft.rfft(samples))) * 22050 / len(samples)
    assert peak_hz == pytest.approx(440, abs=2)
    assert np.abs(samples).max() == pytest.approx(0.5, abs=0.02)


def test_spectrogram_cache_is_reused_and_keyed_by_content(tmp_path):
    noise = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    sf.write(tmp_path / "a.wav", noise, 22050)
    first = spectra.load_spectrogram(tmp_path / "a.wav", tmp_path / "cache")
    assert first.shape == (67, 372) and len(list((tmp_path / "cache").iterdir())) == 1
    np.testing.assert_array_equal(
        spectra.load_spectrogram(tmp_path / "a.wav", tmp_path / "cache"), first
    )
    sf.write(tmp_path / "a.wav", noise[:11025], 22050)  # same name, new content
    assert spectra.load_spectrogram(tmp_path / "a.wav", tmp_path / "cache").shape == (32, 372)
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_cache_serves_any_number_of_bins_and_the_cut_is_the_spectrogram(tmp_path):
    noise = np.random.default_rng(1).standard_normal(22050).astype(np.float32) * 0.1
    sf.write(tmp_path / "a.wav", noise, 22050)
    full = audio.spectrogram(decode.load_audio(tmp_path / "a.wav"))
    for n_bins in (372, 513, 372):
        spect = spectra.load_spectrogram(tmp_path / "a.wav", tmp_path / "cache", n_bins)
        np.testing.assert_array_equal(spect, full[:, :n_bins])
    (cached,) = (tmp_path / "cache").iterdir()
    np.save(cached, full[:, :372])  # as older versions cached it
    np.testing.assert_array_equal(
        spectra.load_spectrogram(tmp_path / "a.wav", cached.parent, 513), full
    )


def write_lab(path, segments):
    path.write_text(
        "".join(f"{a:.3f} {b:.3f} {'sing' if s else 'nosing'}\n" for a, b, s in segments)
    )


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(1, 10**6), min_size=1, max_size=20, unique=True))
def test_lab_files_read_back_what_was_written(tmp_path_factory, cuts):
    times = [0] + sorted(cuts)
    segments = [(a / 1000, b / 1000, i % 2 == 0) for i, (a, b) in enumerate(pairwise(times))]
    path = tmp_path_factory.mktemp("lab") / "song.lab"
    write_lab(path, segments)
    labels = read_labels(path)
    assert [sing for _, _, sing in labels] == [sing for _, _, sing in segments]
    starts_ends = [t for a, b, _ in labels for t in (a, b)]
    assert starts_ends == pytest.approx([t for a, b, _ in segments for t in (a, b)])


@pytest.mark.parametrize("line", ["0.0 1.0", "0.0 x sing", "0.0 1.0 shout", "2.0 1.0 sing"])
def test_malformed_lab_line_is_an_input_error_naming_the_line(tmp_path, line):
    (tmp_path / "bad.lab").write_text(f"0.0 0.5 nosing\n{line}\n")
    with pytest.raises(InputError, match=r"bad\.lab:2: expected 'start end sing\|nosing'"):
        read_labels(tmp_path / "bad.lab")


def test_frame_targets_use_frame_centres():
    # Frame i is centred at (315 i + 512) / 22050 s: 0.5 s <= centre < 1.0 s for i in 34..68.
    targets = frame_targets([(0.0, 0.5, False), (0.5, 1.0, True), (1.0, 2.0, False)], 100)
    assert np.flatnonzero(targets).tolist() == list(range(34, 69))


def test_excerpts_are_views_and_take_the_central_frames_label():
    frames = np.arange(200 * 80, dtype=np.float32).reshape(200, 80)
    views = excerpts(frames)
    assert views.shape == (86, 115, 80) and np.shares_memory(views, frames)
    np.testing.assert_array_equal(views[7], frames[7:122])
    assert excerpt_target(np.arange(200.0), 7) == 64
    assert excerpts(frames[:100]).shape == (0, 115, 80)


def test_demo_splits_are_synthesised_on_first_use_only(tmp_path, monkeypatch):
    from svdnet import democorpus
    from svdnet.dataset import ensure_demo_splits

    calls = []
    monkeypatch.setattr(democorpus, "write_corpus", lambda root, splits: calls.append(splits))
    (tmp_path / "datasets/demo/filelists").mkdir(parents=True)
    (tmp_path / "datasets/demo/filelists/test").write_text("a.ogg\n")
    ensure_demo_splits(tmp_path, "demo", ("train", "valid", "test"))
    ensure_demo_splits(tmp_path, "demo", ("test",))
    ensure_demo_splits(tmp_path, "jamendo", ("train", "test"))
    assert calls == [("train", "valid")]


def test_a_demo_split_shorter_than_the_default_is_used_with_a_note(tmp_path, monkeypatch, caplog):
    from svdnet import democorpus
    from svdnet.dataset import ensure_demo_splits

    monkeypatch.setattr(democorpus.writer, "DEFAULT_N_SONGS", {"valid": 2, "test": 3})
    monkeypatch.setattr(democorpus, "write_corpus", lambda root, splits: pytest.fail("wrote"))
    filelists = tmp_path / "datasets/demo/filelists"
    filelists.mkdir(parents=True)
    (filelists / "valid").write_text("a.ogg\nb.ogg\n")
    (filelists / "test").write_text("c.ogg\nd.ogg\n")
    ensure_demo_splits(tmp_path, "demo", ("valid", "test"))
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "lists 2 songs, the demo corpus now has 3" in notes[0]
    assert str(filelists / "test") in notes[0] and "--splits test" in notes[0]
