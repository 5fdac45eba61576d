"""Train-time augmentation (SPEC section 6)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import map_coordinates

from svdnet import augment
from svdnet.audio import EXCERPT_FRAMES, N_BINS, N_BINS_USED, log_mel, mel_filterbank, standardise
from svdnet.dataset import Song

FILTERBANK = mel_filterbank()


def random_spects(n, n_frames=augment.WIDE_FRAMES, seed=0):
    return np.random.default_rng(seed).random((n, n_frames, N_BINS_USED)).astype(np.float32)


def test_wide_excerpts_allow_the_strongest_stretch():
    assert augment.WIDE_FRAMES == int(115 / 0.7) == 164


def test_unit_factors_and_flat_filter_equal_the_plain_front_end_on_the_central_frames():
    spects = random_spects(3)
    mean, std = np.linspace(-3, 3, 80), np.linspace(1, 2, 80)
    mels = augment.mel_log(augment.stretch_shift(spects, [1.0] * 3, [1.0] * 3), FILTERBANK)
    augmented = standardise(augment.apply_gains(mels, np.zeros((3, 80))), mean, std)
    for spect, out in zip(spects, augmented, strict=True):
        plain = standardise(log_mel(spect[25 : 25 + EXCERPT_FRAMES], FILTERBANK), mean, std)
        np.testing.assert_allclose(out, plain, rtol=1e-5, atol=1e-5)


def test_centre_crop_keeps_the_frames_an_unstretched_excerpt_keeps():
    spects = random_spects(2)
    np.testing.assert_array_equal(augment.centre_crop(spects), spects[:, 25:140])


def test_pitch_shift_moves_a_spectral_peak_by_the_factor():
    spects = np.zeros((1, augment.WIDE_FRAMES, N_BINS_USED), np.float32)
    spects[:, :, 100] = 1.0
    out = augment.stretch_shift(spects, [1.0], [1.2])
    assert np.argmax(out[0, 57]) == 120


def test_time_stretch_moves_an_onset_away_from_the_centre_by_the_factor():
    spects = np.zeros((1, augment.WIDE_FRAMES, N_BINS_USED), np.float32)
    spects[:, 82 + 10] = 1.0  # ten frames after the centre
    out = augment.stretch_shift(spects, [1.2], [1.0])
    assert np.argmax(out[0, :, 50]) == 57 + 12


def test_shifting_down_leaves_the_bins_read_from_above_the_input_silent():
    spects = np.ones((1, augment.WIDE_FRAMES, N_BINS_USED), np.float32)
    out = augment.stretch_shift(spects, [1.0], [0.8])
    assert np.all(out[0, :, int(N_BINS_USED * 0.8) + 2 :] == 0)
    np.testing.assert_allclose(out[0, :, :250], 1.0, atol=1e-5)


def test_shifting_all_513_bins_down_by_the_strongest_factor_fills_every_kept_bin():
    spects = np.ones((1, augment.WIDE_FRAMES, N_BINS), np.float32)
    out = augment.stretch_shift(spects, [1.0], [1 - augment.MAX_SHIFT])
    assert out.shape == (1, EXCERPT_FRAMES, N_BINS_USED)
    np.testing.assert_allclose(out[0, :, :356], 1.0, atol=1e-5)  # reads bins < 509
    assert np.all(out[0, :, 365:] < 0.5)  # reads past bin 512: the original's zeros


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_gain_curves_stay_within_10_db_and_are_smooth(seed):
    curves = augment.random_gain_curves_db(8, 80, np.random.default_rng(seed))
    assert curves.shape == (8, 80)
    assert np.abs(curves).max() <= augment.MAX_FILTER_DB
    # Raised-cosine steps between control points 20 bands apart change slowly.
    assert np.abs(np.diff(curves, axis=1)).max() <= 2 * augment.MAX_FILTER_DB * np.pi / 2 / 19.75


def test_frequency_filter_changes_log_mel_by_at_most_10_db_in_natural_log_units():
    rng = np.random.default_rng(1)
    mels = augment.mel_log(random_spects(16)[:, :EXCERPT_FRAMES], FILTERBANK)
    filtered = augment.apply_gains(mels, augment.random_gain_curves_db(16, 80, rng))
    assert np.abs(filtered - mels).max() <= 10 / 20 * np.log(10) + 1e-6
    assert np.abs(filtered - mels).max() > 0.5


def test_db_to_log_is_the_natural_log_of_the_amplitude_ratio():
    np.testing.assert_allclose(augment.db_to_log(20.0), np.log(10))
    np.testing.assert_allclose(augment.db_to_log(-6.0), np.log(10 ** (-6 / 20)))


def test_excerpt_starts_cover_every_position_at_the_step_and_skip_short_songs():
    starts = augment.excerpt_starts([3, 10], 5, step=2)
    np.testing.assert_array_equal(starts, [[1, 0], [1, 2], [1, 4]])


def test_excerpt_starts_without_a_long_enough_song_is_an_input_error():
    from svdnet.errors import InputError

    with pytest.raises(InputError, match="long enough"):
        augment.excerpt_starts([3, 4], 5)


def songs_with_frame_numbers(n_songs=2, n_frames=300):
    rng = np.random.default_rng(0)
    return [
        Song(f"s{i}", rng.random((n_frames, N_BINS_USED)).astype(np.float32),
             np.arange(n_frames, dtype=np.float32) + 1000 * i)
        for i in range(n_songs)
    ]  # fmt: skip


def test_random_excerpts_are_labelled_by_their_central_frame():
    songs = songs_with_frame_numbers()
    starts = augment.excerpt_starts([300, 300], 164)
    rng = np.random.default_rng(0)
    spects, targets = augment.random_excerpts(songs, starts, 16, 164, rng)
    for spect, target in zip(spects, targets, strict=True):
        song = songs[int(target) // 1000]
        start = int(target) % 1000 - 82
        np.testing.assert_array_equal(spect, song.spect[start : start + 164])


@pytest.mark.parametrize("augment_on", [True, False])
def test_a_batch_is_a_function_of_the_generator_state(augment_on):
    songs = songs_with_frame_numbers()
    n_frames = augment.WIDE_FRAMES if augment_on else EXCERPT_FRAMES
    starts = augment.excerpt_starts([300, 300], n_frames)
    mean, std = np.zeros(80), np.ones(80)

    def batch(seed):
        rng = np.random.default_rng(seed)
        return augment.augmented_batch(songs, starts, 8, rng, FILTERBANK, mean, std, augment_on)

    (a, ya), (b, yb), (c, _) = batch(5), batch(5), batch(6)
    assert a.shape == (8, EXCERPT_FRAMES, 80) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)


def test_stretch_and_shift_take_their_own_ranges(monkeypatch):
    drawn = {}
    monkeypatch.setattr(augment, "stretch_shift", lambda s, a, b: drawn.update(a=a, b=b))
    augment.random_stretch_shift(np.zeros((3000, 1, 1)), np.random.default_rng(0), 0.1, 0.4)
    assert 0.9 <= drawn["a"].min() < 0.91 and 1.09 < drawn["a"].max() <= 1.1
    assert 0.6 <= drawn["b"].min() < 0.61 and 1.39 < drawn["b"].max() <= 1.4


@pytest.mark.parametrize("n_frames", [164, 165])
def test_stretch_shift_reads_the_frames_and_bins_its_docstring_names_by_a_quadratic_spline(
    n_frames,
):
    # Output frame j reads c_in + (j - c_out) / stretch, bin k reads k / shift, c = n // 2.
    spect = np.random.default_rng(0).random((n_frames, 400)).astype(np.float32)
    stretch, shift = 1.2, 0.9
    out = augment.stretch_shift(spect[None], [stretch], [shift])
    assert out.dtype == np.float32 and out.shape == (1, 115, 372)
    frames = n_frames // 2 + (np.arange(115) - 115 // 2) / stretch
    bins = np.arange(372) / shift
    grid = np.meshgrid(frames, bins, indexing="ij")
    expected = map_coordinates(spect, grid, order=2, mode="constant", cval=0.0)
    np.testing.assert_allclose(out[0], expected, atol=1e-5)


def test_filter_gains_add_their_log_amplitude_to_every_frame():
    log_mels = np.zeros((2, 3, 4), np.float32)
    gains_db = np.array([[20.0, 0, -20, 6], [0, 0, 0, 40]])
    out = augment.apply_gains(log_mels, gains_db)
    assert out.dtype == np.float32
    # +20 dB is a factor of 10 in amplitude: log(10) = 2.3026 in the natural-log magnitude.
    np.testing.assert_allclose(out[0, 1], [2.302585, 0, -2.302585, 0.690776], atol=1e-6)
    np.testing.assert_allclose(out[1], np.tile([0, 0, 0, 4.60517], (3, 1)), atol=1e-5)


def test_augmentation_stretches_a_wide_excerpt_so_no_frame_reads_past_its_edges():
    # A spectrum constant in time stays constant only if every stretch (0.7 to 1.3) reads
    # inside the 164 frames cut for it; a 115-frame cut would fade the edges to silence.
    rng = np.random.default_rng(0)
    spect = np.tile(rng.random(N_BINS_USED) + 0.1, (400, 1)).astype(np.float32)
    song = Song("s", spect, np.zeros(400, np.float32))
    starts = augment.excerpt_starts([400], augment.WIDE_FRAMES)
    inputs, _ = augment.augmented_batch(
        [song], starts, 64, rng, mel_filterbank(), np.zeros(80), np.ones(80)
    )
    np.testing.assert_array_equal(inputs, np.broadcast_to(inputs[:, 57:58], inputs.shape))


def test_excerpt_starts_default_to_every_frame():
    np.testing.assert_array_equal(
        augment.excerpt_starts([117, 100, 115], 115),
        [[0, 0], [0, 1], [0, 2], [2, 0]],
    )
