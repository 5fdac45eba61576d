"""Files the tools read and write: .npz archives read safely, outputs written atomically.

Reading checks what user-given files hold before anything is computed from them; an
atomic writer leaves the old file or the complete new one, never a part, even on Ctrl-C.
"""

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from svdnet.errors import InputError


def _default_mode():
    # mkstemp creates owner-only files; give results the mode the umask asks for.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path):
    """Open a temporary file beside ``path`` for binary writing; replace ``path`` on success.

    If the block raises, the temporary file is removed and ``path`` is left untouched.

    Examples
    --------
    >>> with atomic_output("weights.npz") as f:  # doctest: +SKIP
    ...     np.savez(f, param0=w)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_npz(path, what):
    """Every array of an .npz archive, read without unpickling anything.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file should be, for the messages (e.g. ``"classifier file"``).

    Returns
    -------
    dict mapping each key to its np.ndarray.

    Raises
    ------
    InputError
        Naming ``path`` if it is missing, a folder, not an .npz archive (an .npy, audio
        or text file), damaged, or holds pickled objects or anything but arrays.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: {what} is a folder, expected an .npz file")
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a readable .npz {what} (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    # numpy raises ValueError for pickled objects and malformed array headers.
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise InputError(f"{path}: not a readable .npz {what} ({err})") from None
    for key, value in arrays.items():
        # np.load returns the raw bytes of archive members that are not .npy arrays.
        if not isinstance(value, np.ndarray):
            raise InputError(f"{path}: {what} member {key!r} is not a numpy array")
    return arrays


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_output(path) as f:
        f.write(text.encode())


def write_json(path, data):
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def make_folder(path, what="folder"):
    """Create ``path`` and its parents if missing; an :class:`InputError` if impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{path}: cannot create {what} ({err.strerror})") from None
    return path


def check_output_file(path, what="output file"):
    """Raise an :class:`InputError` now, not after hours of work, if ``path`` cannot be written.

    ``path`` must not be a folder, and its nearest existing parent must be a writable folder.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: {what} is a folder, expected a file name")
    parent = next(p for p in path.absolute().parents if p.exists())
    if not parent.is_dir():
        raise InputError(f"{path}: cannot write {what} ({parent} is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot write {what} ({parent} is not writable)")
    return path
