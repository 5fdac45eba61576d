"""Reading and writing Lasagne parameter files (``param0 ... paramN`` in an .npz).

The arrays are in Lasagne's ``get_all_param_values`` order, so files written here
load in the original Theano code and the published files load here.
"""

import re

import numpy as np

from svdnet.audio import atomic_save_npz
from svdnet.errors import InputError
from svdnet.files import read_npz

_PARAM_KEY = re.compile(r"param(\d+)")


def read_params(path, what="weight file"):
    """Read a Lasagne parameter file into a list of arrays, in file order.

    Raises
    ------
    InputError
        If the file is missing, unreadable, holds anything but ``param0..paramN``, or
        an array that is not real numbers or holds NaN or infinite values.
    """
    arrays = read_npz(path, what)
    indices = sorted(int(m.group(1)) for k in arrays if (m := _PARAM_KEY.fullmatch(k)))
    if not arrays or len(indices) != len(arrays) or indices != list(range(len(arrays))):
        keys = ", ".join(sorted(arrays)[:5]) or "nothing"
        raise InputError(
            f"{path}: not a Lasagne parameter file (expected keys param0..paramN, found {keys})"
        )
    params = [arrays[f"param{i}"] for i in range(len(arrays))]
    for i, array in enumerate(params):
        if array.dtype.kind not in "fiu":
            raise InputError(f"{path}: {what} param{i} holds {array.dtype} values, not numbers")
        if not np.all(np.isfinite(array)):
            raise InputError(f"{path}: {what} param{i} holds NaN or infinite values")
    return params


def write_params(path, arrays):
    """Write arrays as ``param0 ... paramN`` (float32), atomically."""
    arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    atomic_save_npz(path, **{f"param{i}": a for i, a in enumerate(arrays)})


def check_shapes(path, arrays, expected_shapes, what="weight file"):
    """Raise an :class:`InputError` naming expected and found shapes on any mismatch."""
    found = [tuple(a.shape) for a in arrays]
    expected = [tuple(s) for s in expected_shapes]
    if found == expected:
        return
    if len(found) != len(expected):
        # The shapes of 50 arrays make an unreadable line; the counts tell the kinds apart.
        raise InputError(
            f"{path}: {what} holds {len(found)} arrays, expected {len(expected)} "
            "(a file of another kind or for another network?)"
        )
    i = next(i for i, (e, f) in enumerate(zip(expected, found, strict=True)) if e != f)
    raise InputError(f"{path}: {what} param{i} has shape {found[i]}, expected {expected[i]}")
