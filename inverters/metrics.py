"""What an inversion keeps of its input: plain functions of input and inversion arrays.

Every per-excerpt metric takes ``inputs`` and ``inversions`` of shape
(n_excerpts, n_frames, n_mels) and returns one value per excerpt, so a split's metric is
the mean over its excerpts, however they are batched.

Pearson correlation follows its usual definition, with one convention: the correlation
of a constant vector (all entries equal) with anything is 0, not NaN. A constant
inversion keeps no structure, and 0 says so without poisoning the means.
"""

import numpy as np

from svdnet.sampling import EvenSample  # noqa: F401  (part of this module's interface)


def pearson(x, y, axis=-1):
    """Pearson correlation of ``x`` and ``y`` along ``axis``; 0 where either is constant.

    Parameters
    ----------
    x, y : np.ndarray, same shape
    axis : int
        The axis the vectors run along.

    Returns
    -------
    np.ndarray, float64, the shape of ``x`` without ``axis``.

    Examples
    --------
    >>> float(pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0])))  # doctest: +ELLIPSIS
    0.99...
    >>> float(pearson(np.array([1.0, 2.0, 3.0]), np.full(3, 5.0)))
    0.0
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    numerator = np.sum(xc * yc, axis=axis)
    denominator = np.sqrt(np.sum(xc**2, axis=axis) * np.sum(yc**2, axis=axis))
    # Tested on the values, not the centred ones: rounding in the mean can leave a
    # constant vector with a tiny spread that would give an arbitrary correlation.
    constant = (np.ptp(x, axis=axis) == 0) | (np.ptp(y, axis=axis) == 0)
    safe = np.where(constant, 1.0, denominator)
    return np.where(constant, 0.0, numerator / safe)


def min_max_scale(x, axis=None):
    """Scale ``x`` linearly to [0, 1] over ``axis``; a constant part becomes all zeros.

    Parameters
    ----------
    x : np.ndarray
    axis : int or tuple of int, optional
        The axes scaled together (default: all, one range for the whole array).

    Returns
    -------
    np.ndarray, float64, the shape of ``x``; the maximum of each part is exactly 1.

    Examples
    --------
    >>> min_max_scale(np.array([[1.0, 3.0], [5.0, 5.0]]), axis=1).tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    x = np.asarray(x, np.float64)
    low = x.min(axis=axis, keepdims=True)
    span = x.max(axis=axis, keepdims=True) - low
    return np.where(span > 0, (x - low) / np.where(span > 0, span, 1.0), 0.0)


def mean_squared_error(inputs, inversions):
    """Mean squared error of each excerpt over its frames and mel bands.

    Averaged over excerpts, this is the error ``inverters.evaluate`` reports: the summed
    squared error divided by excerpts x frames x mel bands.

    Returns
    -------
    np.ndarray, float64, shape (n_excerpts,)
    """
    diff = np.asarray(inversions, np.float64) - np.asarray(inputs, np.float64)
    return np.mean(diff**2, axis=(1, 2))


def time_correlation(inputs, inversions):
    """Per excerpt, the mean over mel bands of the correlation along time.

    High where the inversion keeps how each band rises and falls over the excerpt
    (onsets, note changes, vibrato), whatever its level or scale.

    Returns
    -------
    np.ndarray, float64, shape (n_excerpts,)
    """
    return pearson(inputs, inversions, axis=1).mean(axis=1)


def freq_correlation(inputs, inversions):
    """Per excerpt, the mean over frames of the correlation along the mel axis.

    High where the inversion keeps the shape of each frame's spectrum (harmonics,
    formants, spectral envelope), whatever its loudness.

    Returns
    -------
    np.ndarray, float64, shape (n_excerpts,)
    """
    return pearson(inputs, inversions, axis=2).mean(axis=1)


def decision_agreement(p_inputs, p_inversions, threshold):
    """1.0 where the classifier decides the same on the inversion as on the input, else 0.0.

    The decision is singing where ``P(singing) >= threshold``, as in ``svdnet.evaluate``.

    Returns
    -------
    np.ndarray, float64, shape (n_excerpts,)
    """
    same = (np.asarray(p_inputs) >= threshold) == (np.asarray(p_inversions) >= threshold)
    return same.astype(np.float64)


def probability_change(p_inputs, p_inversions):
    """``|P(singing | inversion) - P(singing | input)|`` of each excerpt."""
    return np.abs(np.asarray(p_inversions, np.float64) - np.asarray(p_inputs, np.float64))


def pairwise_correlation_sum(excerpts):
    """Sum and number of the Pearson correlations of all pairs of flattened excerpts.

    Parameters
    ----------
    excerpts : np.ndarray, shape (n_excerpts, ...)

    Returns
    -------
    total : float
        Sum over pairs ``i < j`` (a constant excerpt correlates 0 with any other).
    n_pairs : int
    """
    n = len(excerpts)
    if n < 2:
        return 0.0, 0
    flat = np.asarray(excerpts, np.float64).reshape(n, -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    constant = np.ptp(flat, axis=1) == 0
    unit = np.where(constant[:, None], 0.0, centred / np.where(constant, 1.0, norms)[:, None])
    gram = unit @ unit.T
    return float(gram[np.triu_indices(n, k=1)].sum()), n * (n - 1) // 2


def within_class_correlation(excerpts_by_class):
    """Mean pairwise correlation of the excerpts within each class, pooled over classes.

    Each class weighs by its number of pairs, so this is the mean over every pair of
    excerpts that share a class.

    Parameters
    ----------
    excerpts_by_class : sequence of np.ndarray, (n_excerpts, ...)
        The excerpts of each class.

    Returns
    -------
    float or None
        None where no class has two excerpts.
    """
    sums = [pairwise_correlation_sum(excerpts) for excerpts in excerpts_by_class]
    n_pairs = sum(n for _, n in sums)
    return sum(total for total, _ in sums) / n_pairs if n_pairs else None


def class_collapse(inputs_by_class, inversions_by_class):
    """How much more alike the inversions of a class are than its inputs.

    The within-class correlation (:func:`within_class_correlation`) of the inversions
    minus that of their inputs, over the same pairs. 0 is no collapse; above 0, the
    inversions of a class are more alike than their inputs: the layer keeps less of
    what tells the excerpts of a class apart. A difference, not a ratio, because the
    inputs' correlation is near 0 on a varied split and a ratio would grow without
    bound as it falls.

    Parameters
    ----------
    inputs_by_class, inversions_by_class : sequence of np.ndarray, (n_excerpts, ...)
        The excerpts of each class and their inversions, in the same order.

    Returns
    -------
    float or None
        Between -2 and 2; None where no class has two excerpts.
    """
    if len(inputs_by_class) != len(inversions_by_class):
        raise ValueError("inputs and inversions must have the same classes")
    inputs = within_class_correlation(inputs_by_class)
    if inputs is None:
        return None
    return within_class_correlation(inversions_by_class) - inputs
