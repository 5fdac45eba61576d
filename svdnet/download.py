"""Fetching files over HTTP(S) and unpacking archives, for the download scripts.

Downloads stream to a temporary file next to the destination and are moved into
place only once complete (and verified, when a SHA-256 digest is given), so an
interrupted or failed download never leaves a partial file under the final name.
"""

import hashlib
import http.client
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from svdnet.errors import InputError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 60


class DownloadError(InputError):
    """A file cannot be fetched, verified or unpacked (the message names it).

    An :class:`InputError`: the address, mirror or archive given cannot be used.
    """


def sha256_of(path):
    """Return the SHA-256 hex digest of a file.

    Parameters
    ----------
    path : str or Path
        File to hash.

    Returns
    -------
    str
        Lower-case hexadecimal digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, dest_path, sha256=None, progress=True):
    """Download ``url`` to ``dest_path`` unless a good copy is already there.

    An existing file is kept when no digest is given or when its digest matches;
    one that does not match is replaced.

    Parameters
    ----------
    url : str
        Address to fetch (anything ``urllib`` opens: http, https, file).
    dest_path : str or Path
        Where the file ends up; missing parent folders are created.
    sha256 : str, optional
        Expected SHA-256 hex digest of the file; not checked when None.
    progress : bool
        Show a progress bar (in bytes) on stderr.

    Returns
    -------
    Path
        ``dest_path``.

    Raises
    ------
    DownloadError
        If the server answers with an error, cannot be reached, the transfer is
        cut short, or the digest does not match (then no file is left behind).

    Examples
    --------
    >>> download("https://example.org/weights.npz", "models/weights.npz")  # doctest: +SKIP
    """
    dest_path = Path(dest_path)
    expected = sha256.lower() if sha256 else None
    if dest_path.is_file():
        if expected is None or sha256_of(dest_path) == expected:
            logger.info("%s: present, not downloaded again", dest_path)
            return dest_path
        logger.info("%s: checksum differs from the expected one, downloading again", dest_path)
        dest_path.unlink()
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest_path.name}.", suffix=".part", dir=dest_path.parent
    )
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            found = _fetch(url, tmp_file, dest_path.name, progress)
        if expected is not None and found != expected:
            raise DownloadError(
                f"{dest_path}: checksum mismatch for {url}: "
                f"expected sha256 {expected}, found {found}"
            )
        os.replace(tmp_name, dest_path)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return dest_path


def _fetch(url, out_file, label, progress):
    """Stream ``url`` into the open binary file ``out_file``; return its SHA-256 digest."""
    digest = hashlib.sha256()
    n_bytes = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            n_expected = int(length) if length and length.isdigit() else None
            with tqdm(
                total=n_expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                disable=not progress,
            ) as bar:
                for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                    out_file.write(chunk)
                    digest.update(chunk)
                    n_bytes += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: server answered HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DownloadError(f"{url}: cannot be reached ({err.reason})") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
        raise DownloadError(f"{url}: transfer failed ({err!r})") from None
    if n_expected is not None and n_bytes != n_expected:
        raise DownloadError(f"{url}: transfer cut short ({n_bytes} of {n_expected} bytes)")
    return digest.hexdigest()


def _check_member_name(archive, name):
    """Raise a DownloadError if an archive member would land outside the target folder."""
    parts = name.replace("\\", "/").split("/")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor or ".." in parts:
        raise DownloadError(
            f"{archive}: refusing to unpack member {name!r} (absolute path or '..')"
        )


def extract_archive(path, dest_dir):
    """Unpack a .zip, .tar.gz/.tgz or .tar archive into ``dest_dir``.

    Every member is checked before anything is written: absolute paths, ``..``
    components and (in tar archives) links and special files are refused.

    Parameters
    ----------
    path : str or Path
        The archive.
    dest_dir : str or Path
        Folder to unpack into; created if missing.

    Returns
    -------
    list of Path
        The regular files written, in archive order.

    Raises
    ------
    DownloadError
        If the archive is unreadable, of an unknown kind, or holds an unsafe member.
    """
    path, dest_dir = Path(path), Path(dest_dir)
    name = path.name.lower()
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        if name.endswith(".zip"):
            return _extract_zip(path, dest_dir)
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            return _extract_tar(path, dest_dir)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise DownloadError(f"{path}: not a readable archive ({err})") from None
    raise DownloadError(f"{path}: unknown archive type (expected .zip, .tar.gz, .tgz or .tar)")


def _extract_zip(path, dest_dir):
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        for member in members:
            _check_member_name(path, member.filename)
        archive.extractall(dest_dir)
    return [dest_dir / m.filename for m in members if not m.is_dir()]


def _extract_tar(path, dest_dir):
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        for member in members:
            _check_member_name(path, member.name)
            if not (member.isfile() or member.isdir()):
                raise DownloadError(
                    f"{path}: refusing to unpack member {member.name!r} (link or special file)"
                )
        # The "data" filter (Python >= 3.11.4) re-checks what we checked above.
        safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(dest_dir, members=members, **safety)
    return [dest_dir / m.name for m in members if m.isfile()]
