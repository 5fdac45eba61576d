"""Train-time data augmentation of SVDNet (Schlueter & Grill, 2015).

A batch goes through a chain of small steps, each doing one thing: random excerpts of
linear spectrograms, long enough for the strongest time stretch
(:data:`WIDE_FRAMES` = int(115 / 0.7) = 164 frames); random time stretch and pitch
shift with a spline of order 2, cut to 115 frames and the 372 bins below 8 kHz; mel
filterbank and log; random frequency filters (a smooth gain curve over the mel bands);
standardisation. :func:`augmented_batch` chains them. Every random draw comes from the
numpy ``Generator`` passed in, so a batch is a function of that generator's state; a
``part`` of a batch is made from the draws of the whole batch, so the parts that the
processes of a distributed run make are exactly the rows of that batch.
"""

import numpy as np
from scipy import ndimage

from svdnet.audio import EXCERPT_FRAMES, N_BINS_USED, log_mel, standardise
from svdnet.errors import InputError

MAX_STRETCH = 0.3  # time stretch factors are drawn from [0.7, 1.3]
MAX_SHIFT = 0.3  # pitch shift factors are drawn from [0.7, 1.3]
MAX_FILTER_DB = 10.0
WIDE_FRAMES = int(EXCERPT_FRAMES / (1 - MAX_STRETCH))  # 164: enough for a 0.7 stretch
SPLINE_ORDER = 2
N_FILTER_POINTS = 5  # control points of a random gain curve, spread over the mel bands


def excerpt_starts(lengths, n_frames, step=1):
    """``(song index, start frame)`` of every ``n_frames`` excerpt at ``step`` frames.

    Parameters
    ----------
    lengths : iterable of int
        Frames per song; songs shorter than ``n_frames`` contribute none.

    Returns
    -------
    np.ndarray, int64, shape (n_excerpts, 2)
    """
    pairs = [
        np.stack([np.full(len(s), i), s], axis=1)
        for i, length in enumerate(lengths)
        if len(s := np.arange(0, length - n_frames + 1, step))
    ]
    if not pairs:
        raise InputError(f"no file is long enough for an excerpt of {n_frames} frames")
    return np.concatenate(pairs).astype(np.int64)


def random_excerpts(songs, starts, batchsize, n_frames, rng, part=slice(None)):
    """Draw a batch of excerpts, uniformly over all excerpt positions of all songs.

    Parameters
    ----------
    songs : list of :class:`svdnet.dataset.Song`
    starts : np.ndarray, shape (n_excerpts, 2)
        :func:`excerpt_starts` of the songs with the same ``n_frames``.
    batchsize, n_frames : int
    rng : np.random.Generator
    part : slice
        The rows of the batch to return (all by default); ``batchsize`` are drawn.

    Returns
    -------
    spects : np.ndarray, float32, shape (batchsize, n_frames, n_bins)
    targets : np.ndarray, float32, shape (batchsize,)
        The label of each excerpt's central frame.
    """
    picks = starts[rng.integers(len(starts), size=batchsize)][part]
    spects = np.stack([songs[i].spect[t : t + n_frames] for i, t in picks])
    targets = np.array([songs[i].targets[t + n_frames // 2] for i, t in picks], np.float32)
    return spects, targets


def stretch_shift(spects, stretches, shifts, keep_frames=EXCERPT_FRAMES, keep_bins=N_BINS_USED):
    """Stretch each excerpt in time and shift it in pitch, keeping the central frames.

    Output frame ``j`` reads input frame ``c_in + (j - c_out) / stretch`` (``c`` the
    central frames, ``n // 2``), output bin ``k`` reads input bin ``k / shift``; a spline
    of order 2 interpolates, and bins read from above the input's last bin are zero.
    With both factors 1 this is the crop ``spects[:, c_in - c_out :][:, :keep_frames]``.

    Parameters
    ----------
    spects : np.ndarray, shape (batch, n_frames, n_bins)
    stretches, shifts : array-like, shape (batch,)
        Factors > 1 slow down (stretch) or raise the pitch (shift).

    Returns
    -------
    np.ndarray, float32, shape (batch, keep_frames, keep_bins)
    """
    out = np.empty((len(spects), keep_frames, keep_bins), np.float32)
    centre_in, centre_out = spects.shape[1] // 2, keep_frames // 2
    for spect, stretch, shift, target in zip(spects, stretches, shifts, out, strict=True):
        ndimage.affine_transform(
            spect,
            (1 / stretch, 1 / shift),  # a diagonal matrix: scipy's fast zoom path
            offset=(centre_in - centre_out / stretch, 0),
            output_shape=(keep_frames, keep_bins),
            output=target,
            order=SPLINE_ORDER,
            mode="constant",
            cval=0.0,
        )
    return out


def random_factors(n, rng, max_stretch=MAX_STRETCH, max_shift=MAX_SHIFT):
    """``n`` time stretch and ``n`` pitch shift factors, uniform in ``1 ± max_*``."""
    stretches = 1 + rng.uniform(-max_stretch, max_stretch, size=n)
    shifts = 1 + rng.uniform(-max_shift, max_shift, size=n)
    return stretches, shifts


def random_stretch_shift(spects, rng, max_stretch=MAX_STRETCH, max_shift=MAX_SHIFT):
    """:func:`stretch_shift` with factors drawn uniformly from ``1 ± max_*``."""
    return stretch_shift(spects, *random_factors(len(spects), rng, max_stretch, max_shift))


def centre_crop(spects, keep_frames=EXCERPT_FRAMES):
    """The ``keep_frames`` central frames, as :func:`stretch_shift` keeps them unstretched."""
    start = spects.shape[1] // 2 - keep_frames // 2
    return spects[:, start : start + keep_frames]


def mel_log(spects, filterbank):
    """Log-mel spectrogram of a batch (see :func:`svdnet.audio.log_mel`).

    Returns
    -------
    np.ndarray, float32, shape (batch, n_frames, n_mels)
    """
    batch, n_frames, n_bins = spects.shape
    flat = log_mel(spects.reshape(batch * n_frames, n_bins), filterbank)
    return flat.reshape(batch, n_frames, -1)


def db_to_log(gain_db):
    """An amplitude gain in dB as an offset of the natural-log magnitude."""
    return np.asarray(gain_db) * np.log(10) / 20


def random_gain_curves_db(n_curves, n_bands, rng, max_db=MAX_FILTER_DB):
    """Smooth random gain curves over the mel bands, within ``±max_db``.

    Each curve has :data:`N_FILTER_POINTS` control points spread evenly over the bands,
    with gains drawn uniformly from ``±max_db``; raised-cosine interpolation between
    them keeps the curve smooth and inside the range of its control points.

    Returns
    -------
    np.ndarray, float32, shape (n_curves, n_bands)
    """
    points_db = rng.uniform(-max_db, max_db, size=(n_curves, N_FILTER_POINTS))
    position = np.linspace(0, N_FILTER_POINTS - 1, n_bands)
    left = np.minimum(position.astype(int), N_FILTER_POINTS - 2)
    weight = (1 - np.cos(np.pi * (position - left))) / 2
    curves = points_db[:, left] * (1 - weight) + points_db[:, left + 1] * weight
    return curves.astype(np.float32)


def apply_gains(log_mels, gains_db):
    """Filter log-mel excerpts by per-band gains (one curve per excerpt)."""
    return log_mels + db_to_log(gains_db)[:, None, :].astype(np.float32)


def augmented_batch(
    songs, starts, batchsize, rng, filterbank, mean, std, augment=True, part=slice(None)
):
    """One training batch: excerpts, (augmentation), log-mel, standardisation.

    Parameters
    ----------
    songs : list of :class:`svdnet.dataset.Song`
    starts : np.ndarray
        :func:`excerpt_starts` of ``songs`` for :data:`WIDE_FRAMES` frames if
        ``augment`` else for 115 frames.
    batchsize : int
    rng : np.random.Generator
    filterbank : np.ndarray, shape (372, n_mels)
    mean, std : np.ndarray, shape (n_mels,)
    augment : bool
        Without augmentation, plain 115-frame excerpts go through the front end.
    part : slice
        The rows of the batch to make (all by default). Every random number is drawn
        for the whole batch, so a part is exactly those rows of the whole batch.

    Returns
    -------
    inputs : np.ndarray, float32, shape (batchsize, 115, n_mels)
    targets : np.ndarray, float32, shape (batchsize,)
        Both with only the rows of ``part``.
    """
    n_frames = WIDE_FRAMES if augment else EXCERPT_FRAMES
    spects, targets = random_excerpts(songs, starts, batchsize, n_frames, rng, part)
    if not augment:
        return standardise(mel_log(spects, filterbank), mean, std), targets
    stretches, shifts = random_factors(batchsize, rng)
    mels = mel_log(stretch_shift(spects, stretches[part], shifts[part]), filterbank)
    gains_db = random_gain_curves_db(batchsize, mels.shape[2], rng)[part]
    return standardise(apply_gains(mels, gains_db), mean, std), targets
