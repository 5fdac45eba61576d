"""Download the Jamendo singing-voice corpus and arrange it for this project.

The corpus (Ramona, Richard & David, ICASSP 2008) holds 93 songs, published as one
audio archive per split (61 train, 16 valid, 16 test) plus one archive of ``.lab``
annotations. The split is taken from the archive each song comes in, so no file
list has to be kept here. The result is::

    DEST/audio/<song>.ogg|.mp3
    DEST/labels/<song>.lab          (lines "start end sing|nosing", seconds)
    DEST/filelists/train|valid|test (audio file names, one a line, sorted)

Run ``python datasets/jamendo/download.py --help`` for the options. A split (or the
labels) whose files are all present already is not downloaded again.
"""

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

# Run as a script, so the repository root (which holds svdnet/) is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from svdnet.cli import run_cli
from svdnet.download import DownloadError, download, extract_archive
from svdnet.errors import InputError
from svdnet.files import atomic_output

logger = logging.getLogger(__name__)

# Where Schlueter's ismir2015 recreate scripts fetch the corpus from.
DEFAULT_BASE_URL = "http://www.mathieuramona.com/uploads/Main"
SPLITS = ("train", "valid", "test")
AUDIO_SUFFIXES = (".ogg", ".mp3")
LABELS_ARCHIVE = "jam_annote.tar.gz"


def audio_archive_name(split):
    """Return the published archive name of one split, e.g. ``jam_test_audio.tar.gz``."""
    return f"jam_{split}_audio.tar.gz"


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Download the Jamendo singing-voice corpus into the layout this "
        "project reads (audio/, labels/, filelists/)."
    )
    parser.add_argument(
        "dest",
        nargs="?",
        metavar="DEST",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to fill (default: the folder of this script, datasets/jamendo)",
    )
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"address of a folder holding {audio_archive_name('<split>')} and "
        f"{LABELS_ARCHIVE}, e.g. a mirror (default: {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="do not show progress bars (default: show them)",
    )
    return parser.parse_args(argv)


def is_payload(member_path, suffixes):
    """Tell whether an unpacked file is corpus data (not macOS metadata) with a wanted suffix.

    Parameters
    ----------
    member_path : Path
        Path of the unpacked file.
    suffixes : tuple of str
        Lower-case suffixes to accept, e.g. ``(".lab",)``.

    Returns
    -------
    bool
    """
    hidden = member_path.name.startswith("._") or "__MACOSX" in member_path.parts
    return not hidden and member_path.suffix.lower() in suffixes


def read_filelist(path):
    """Return the non-empty lines of a file list, or None when it does not exist."""
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split_is_complete(dest, split):
    """Tell whether ``filelists/<split>`` exists and every file it names is in ``audio/``."""
    names = read_filelist(dest / "filelists" / split)
    return bool(names) and all((dest / "audio" / name).is_file() for name in names)


def fetch_split(base_url, dest, split, work_dir, progress):
    """Download one split's audio archive, move its songs to ``audio/``, write its file list.

    Returns
    -------
    list of str
        The audio file names of the split, sorted.
    """
    url = f"{base_url}/{audio_archive_name(split)}"
    archive = download(url, work_dir / audio_archive_name(split), progress=progress)
    unpacked = extract_archive(archive, work_dir / split)
    songs = sorted((p for p in unpacked if is_payload(p, AUDIO_SUFFIXES)), key=lambda p: p.name)
    if not songs:
        raise DownloadError(f"{url}: archive holds no .ogg or .mp3 files")
    (dest / "audio").mkdir(parents=True, exist_ok=True)
    for song in songs:
        os.replace(song, dest / "audio" / song.name)
    names = [song.name for song in songs]
    # Atomically: a file list cut short would make a split look complete with fewer songs.
    with atomic_output(dest / "filelists" / split) as f:
        f.write("".join(f"{n}\n" for n in names).encode("utf-8"))
    archive.unlink()
    logger.info("%s: %d songs", split, len(names))
    return names


def missing_labels(dest, audio_names):
    """Return the audio file names that have no ``labels/<name>.lab`` yet."""
    return [n for n in audio_names if not (dest / "labels" / f"{Path(n).stem}.lab").is_file()]


def fetch_labels(base_url, dest, audio_names, work_dir, progress):
    """Download the annotation archive and move every ``.lab`` file to ``labels/``.

    Raises
    ------
    DownloadError
        If a song of the file lists is left without a label.
    """
    url = f"{base_url}/{LABELS_ARCHIVE}"
    archive = download(url, work_dir / LABELS_ARCHIVE, progress=progress)
    unpacked = extract_archive(archive, work_dir / "labels")
    (dest / "labels").mkdir(parents=True, exist_ok=True)
    for label in (p for p in unpacked if is_payload(p, (".lab",))):
        os.replace(label, dest / "labels" / label.name)
    missing = missing_labels(dest, audio_names)
    if missing:
        raise DownloadError(f"{url}: no .lab file for {len(missing)} songs, e.g. {missing[0]!r}")


def fetch_corpus(base_url, dest, progress=True):
    """Download whatever part of the corpus is not in ``dest`` yet.

    Parameters
    ----------
    base_url : str
        Folder address holding the split archives and the annotation archive.
    dest : Path
        Dataset folder to fill (``audio/``, ``labels/``, ``filelists/``).
    progress : bool
        Show progress bars.
    """
    base_url = base_url.rstrip("/")
    dest.mkdir(parents=True, exist_ok=True)
    # Archives go to a scratch folder inside dest (same file system, so moves are
    # renames) that disappears whatever happens.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest) as work:
        work_dir = Path(work)
        for split in SPLITS:
            if split_is_complete(dest, split):
                logger.info("%s: all songs present, not downloaded again", split)
            else:
                fetch_split(base_url, dest, split, work_dir, progress)
        audio_names = [n for s in SPLITS for n in read_filelist(dest / "filelists" / s)]
        if missing_labels(dest, audio_names):
            fetch_labels(base_url, dest, audio_names, work_dir, progress)
        else:
            logger.info("labels: all present, not downloaded again")


def fetch_or_fail(args):
    """:func:`fetch_corpus` as the arguments say; a file system error is bad input too."""
    try:
        fetch_corpus(args.base_url, args.dest, progress=not args.no_progress)
    except OSError as err:  # e.g. DEST not writable, or the disk full
        raise InputError(str(err)) from None
    logger.info("Jamendo corpus ready in %s", args.dest)


def main(argv=None):
    """Command-line entry point; exits with status 2 and a one-line message on failure."""
    run_cli(fetch_or_fail, parse_args(argv))


if __name__ == "__main__":
    main()
