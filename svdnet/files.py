"""Writing files atomically: a reader sees the old file or the complete new one."""

import contextlib
import os
import tempfile
from pathlib import Path


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
